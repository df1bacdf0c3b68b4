"""Test functions for black-box optimisation, vectorised: ``f(X: (n, d)) -> (n,)``.

:class:`Benchmark` wraps a classic multimodal function with its domain, its optimum and a
*basin tolerance*: a run "finds the global basin" when ``f - f_opt < basin_tol``, which is half
the gap between the global minimum and the best other local minimum on the axis through the
optimum (found numerically from a fine 1-D scan). Optional transformations:

- ``rotated=True``: ``f(x) = f0(x0* + R (x - x*))`` with a random orthogonal ``R`` (about the
  optimum), which destroys separability;
- a random shift of the optimum for functions whose optimum is the centre of the box
  (Rastrigin, Ackley, Griewank), so no optimiser is helped by a centre bias.

Points mapped outside the base domain are clipped into it and pay a quadratic penalty
(as in BBOB), so rotation never opens a deceptive region beyond the box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["rastrigin", "schwefel", "ackley", "griewank", "styblinski_tang", "double_well",
           "BASE", "Benchmark", "DOUBLE_WELL_BOUNDS"]

Array = NDArray[np.float64]


def rastrigin(X: Array) -> Array:
    return 10.0 * X.shape[1] + np.sum(X * X - 10.0 * np.cos(2 * np.pi * X), axis=1)


def schwefel(X: Array) -> Array:
    return 418.9828872724339 * X.shape[1] - np.sum(X * np.sin(np.sqrt(np.abs(X))), axis=1)


def ackley(X: Array) -> Array:
    d = X.shape[1]
    return (-20.0 * np.exp(-0.2 * np.sqrt(np.sum(X * X, axis=1) / d))
            - np.exp(np.sum(np.cos(2 * np.pi * X), axis=1) / d) + 20.0 + np.e)


def griewank(X: Array) -> Array:
    i = np.sqrt(np.arange(1, X.shape[1] + 1))
    return 1.0 + np.sum(X * X, axis=1) / 4000.0 - np.prod(np.cos(X / i), axis=1)


def styblinski_tang(X: Array) -> Array:
    return 0.5 * np.sum(X ** 4 - 16.0 * X ** 2 + 5.0 * X, axis=1)


DOUBLE_WELL_BOUNDS = (-2.0, 2.0)


def double_well(X: Array) -> Array:
    """Asymmetric double well on [-2, 2]: shallow well near x = +0.96, deep well near x = -1.04."""
    x = X[:, 0]
    return (x * x - 1.0) ** 2 + 0.3 * x


@dataclass(frozen=True)
class _Base:
    fun: Callable[[Array], Array]
    half_width: float
    x_opt: float          # optimum coordinate (the same on every axis)
    shiftable: bool       # optimum at the centre of the box: shift it at random


BASE: dict[str, _Base] = {
    "rastrigin": _Base(rastrigin, 5.12, 0.0, True),
    "schwefel": _Base(schwefel, 500.0, 420.968746, False),
    "ackley": _Base(ackley, 32.768, 0.0, True),
    "griewank": _Base(griewank, 600.0, 0.0, True),
    "styblinski_tang": _Base(styblinski_tang, 5.0, -2.903534, False),
}


@dataclass
class Benchmark:
    """A benchmark problem ``name`` in ``dim`` dimensions, optionally rotated; seeded transform."""

    name: str
    dim: int
    rotated: bool = False
    seed: int = 0
    f_opt: float = field(init=False)
    x_opt: Array = field(init=False)
    basin_tol: float = field(init=False)

    def __post_init__(self) -> None:
        if self.name not in BASE:
            raise ValueError(f"unknown benchmark {self.name!r}; choose from {sorted(BASE)}")
        base = BASE[self.name]
        rng = np.random.default_rng([self.seed, self.dim, int(self.rotated)])
        self._base = base
        self._z_opt = np.full(self.dim, base.x_opt)
        shift = rng.uniform(-0.4, 0.4, self.dim) * base.half_width if base.shiftable else np.zeros(self.dim)
        self.x_opt = self._z_opt + shift
        self._R = _random_rotation(rng, self.dim) if self.rotated else None
        self.f_opt = float(base.fun(self._z_opt[None, :])[0])
        self.basin_tol = 0.5 * (_second_minimum(base, self.dim) - self.f_opt)

    @property
    def bounds(self) -> list[tuple[float, float]]:
        h = self._base.half_width
        return [(-h, h)] * self.dim

    def __call__(self, X: Array) -> Array:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        d = X - self.x_opt
        z = self._z_opt + (d @ self._R.T if self._R is not None else d)
        h = self._base.half_width
        zc = np.clip(z, -h, h)
        penalty = 1e4 * np.sum((z - zc) ** 2, axis=1)
        return self._base.fun(zc) + penalty

    def in_basin(self, f: float) -> bool:
        return bool(f - self.f_opt < self.basin_tol)


def _random_rotation(rng: np.random.Generator, d: int) -> Array:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _second_minimum(base: _Base, dim: int) -> float:
    """Best local minimum other than the global one along axis 0 through the optimum."""
    h = base.half_width
    t = np.linspace(-h, h, 200_001)
    Z = np.tile(np.full(dim, base.x_opt), (t.size, 1))
    Z[:, 0] = t
    f = base.fun(Z)
    interior = np.flatnonzero((f[1:-1] < f[:-2]) & (f[1:-1] <= f[2:])) + 1
    glob = interior[np.argmin(np.abs(t[interior] - base.x_opt))]
    others = interior[interior != glob]
    return float(f[others].min())
