"""Schrödinger solvers (physics only): they take potentials V[k, n] and return wave packets.

``get_solver(name_or_instance, **settings)`` resolves the ``solver=`` argument of the engine.
A new solver is one new file plus one line in ``_REGISTRY``.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import ConfigError
from .base import Solver, density, normalize, unit_dx
from .finite_difference import FiniteDifference
from .mesoscopic import Mesoscopic
from .signed_particles import SignedParticles

__all__ = ["Solver", "FiniteDifference", "SignedParticles", "Mesoscopic", "get_solver", "setting_names",
           "density", "normalize", "unit_dx", "VARIANTS"]

_REGISTRY: dict[str, type[Solver]] = {
    "fd": FiniteDifference,
    "finite-differences": FiniteDifference,
    "signed-particles": SignedParticles,
    "mesoscopic": Mesoscopic,
}

#: every solver the engine offers, as the engine options that select it (one entry per distinct method:
#: the mesoscopic solver's lattice-kinetic scheme and its walkers); the studies compare these
VARIANTS: dict[str, dict[str, str]] = {
    "fd": {"solver": "fd"},
    "signed-particles": {"solver": "signed-particles"},
    "mesoscopic": {"solver": "mesoscopic"},
    "mesoscopic-walkers": {"solver": "mesoscopic", "method": "walkers"},
}


def setting_names(solver: str | Solver) -> tuple[str, ...]:
    """The settings (constructor keywords) a solver, given by name or instance, takes."""
    cls = type(solver) if isinstance(solver, Solver) else _solver_class(solver)
    params = inspect.signature(cls.__init__).parameters
    return tuple(name for name, p in params.items()
                 if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _solver_class(name: Any) -> type[Solver]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(f"unknown solver {name!r}; choose one of {sorted(_REGISTRY)} or pass a Solver")
    return _REGISTRY[name]


def get_solver(solver: str | Solver, **settings: Any) -> Solver:
    """Return a solver instance from a registered name (``"fd"``) or pass an instance through."""
    if isinstance(solver, Solver):
        if settings:
            raise ConfigError(f"solver settings {sorted(settings)} given with a solver instance; "
                              "set them on the instance instead")
        return solver
    cls = _solver_class(solver)
    try:
        return cls(**settings)
    except TypeError as exc:
        raise ConfigError(f"bad settings for solver {solver!r}: {exc}") from exc
