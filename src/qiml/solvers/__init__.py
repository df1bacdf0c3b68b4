"""Schrödinger solvers (physics only): they take potentials V[k, n] and return wave packets.

``get_solver(name_or_instance, **settings)`` resolves the ``solver=`` argument of the engine.
A new solver is one new file plus one line in ``_REGISTRY``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Solver, density, normalize, unit_dx
from .finite_difference import FiniteDifference

__all__ = ["Solver", "FiniteDifference", "get_solver", "density", "normalize", "unit_dx"]

_REGISTRY: dict[str, type[Solver]] = {
    "fd": FiniteDifference,
    "finite-differences": FiniteDifference,
}


def get_solver(solver: str | Solver, **settings: Any) -> Solver:
    """Return a solver instance from a registered name (``"fd"``) or pass an instance through."""
    if isinstance(solver, Solver):
        if settings:
            raise ConfigError(f"solver settings {sorted(settings)} given with a solver instance; "
                              "set them on the instance instead")
        return solver
    if not isinstance(solver, str) or solver not in _REGISTRY:
        raise ConfigError(f"unknown solver {solver!r}; choose one of {sorted(_REGISTRY)} or pass a Solver")
    try:
        return _REGISTRY[solver](**settings)
    except TypeError as exc:
        raise ConfigError(f"bad settings for solver {solver!r}: {exc}") from exc
