"""The solver interface: advance many independent 1-D wave packets under given potentials.

Solvers know physics only. Each packet lives on a uniform grid of ``n`` points spanning the
unit box ``[0, 1]`` (spacing ``dx = 1 / (n - 1)``) with hard walls just outside it; the engine
maps each parameter's window onto that box, so ``hbar`` is a relative quantity (a packet width
of ``~sqrt(hbar)`` box lengths in a unit-range harmonic well) and one setting fits parameters of
any scale. Wave functions are complex arrays ``psi`` of shape (k, n) normalised so that
``sum(|psi|**2) * dx == 1`` per row; potentials ``V`` are real arrays of the same shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError

__all__ = ["Solver", "unit_dx", "normalize", "density"]


def unit_dx(n: int) -> float:
    """Grid spacing of ``n`` points spanning the unit box."""
    return 1.0 / (n - 1)


def normalize(psi: NDArray[Any], dx: float) -> NDArray[Any]:
    """Scale each row so that ``sum(|psi|^2) * dx == 1``; an all-zero row becomes uniform."""
    norm2 = np.sum(np.abs(psi) ** 2, axis=-1, keepdims=True) * dx
    dead = norm2[..., 0] <= 1e-300
    if np.any(dead):
        psi = psi.copy()
        psi[dead] = 1.0
        norm2[dead] = psi.shape[-1] * dx
    return psi / np.sqrt(norm2)


def density(psi: NDArray[Any]) -> NDArray[np.float64]:
    """Probability per grid point, shape (k, n), each row summing to 1."""
    rho = np.abs(psi) ** 2
    return rho / np.sum(rho, axis=-1, keepdims=True)


class Solver(ABC):
    """Advances packets ``psi`` (k, n) under potentials ``V`` (k, n) for one engine iteration.

    Subclasses hold only their numerical settings; all state a run needs (the wave functions)
    is passed in and returned, so the engine can checkpoint it.
    """

    #: short name used by ``solver=`` arguments and in checkpoints
    name: str = ""
    #: whether :meth:`evolve` starts from the packets it is given (False: it ignores them, as a
    #: ground-state solver does, and the engine skips carrying packets between windows)
    stateful: bool = True
    #: whether :meth:`evolve` draws random numbers (the engine then cuts its packets into fixed
    #: chunks, each with its own generator, so results do not depend on how many workers run them)
    stochastic: bool = False

    def __init__(self, mass: float = 1.0) -> None:
        if not np.isfinite(mass) or mass <= 0:
            raise ConfigError(f"mass must be finite and > 0, got {mass!r}")
        self.mass = float(mass)

    @abstractmethod
    def evolve(self, psi: NDArray[np.complex128], V: NDArray[np.float64], hbar: float,
               rng: np.random.Generator) -> NDArray[np.complex128]:
        """Return the packets after this solver's evolution under ``V`` with Planck constant ``hbar``."""

    def settings(self) -> dict[str, Any]:
        """The constructor arguments, for checkpoints and reports."""
        return {"mass": self.mass}

    def __eq__(self, other: object) -> bool:
        """Solvers are equal when they are of the same class with the same settings."""
        return type(other) is type(self) and other.settings() == self.settings()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.settings().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"
