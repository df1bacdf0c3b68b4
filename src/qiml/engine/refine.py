"""Genetic-algorithm refinement seeded from the packets (pure array functions).

After the quantum phase the engine hands the best point and the packets' spreads to a small
real-coded GA: (mu + lambda) survival, binary tournaments, BLX-0.5 blend crossover and
Gaussian mutation whose per-parameter scale starts at the packet spreads and adapts by the
one-fifth success rule. It polishes the answer; it never needs gradients.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..spaces import Space

__all__ = ["default_popsize", "initial_population", "offspring", "survivors", "adapt_sigma"]


def default_popsize(dim: int) -> int:
    """Population size: CMA-ES's ``4 + 3 ln P``, doubled, at least 10."""
    return max(10, 2 * (4 + int(3 * np.log(dim))))


def initial_population(rng: np.random.Generator, centre: NDArray[np.float64], sigma: NDArray[np.float64],
                       space: Space, n: int) -> NDArray[np.float64]:
    """``n`` points (n, P) around ``centre`` with per-parameter spread ``sigma``; row 0 is ``centre``."""
    pop = centre[None, :] + sigma[None, :] * rng.standard_normal((n, centre.size))
    pop[0] = centre
    return space.snap(pop)


def offspring(rng: np.random.Generator, pop: NDArray[np.float64], fit: NDArray[np.float64],
              sigma: NDArray[np.float64], space: Space) -> NDArray[np.float64]:
    """As many children as parents: tournament selection, BLX-0.5 crossover, Gaussian mutation."""
    n, d = pop.shape
    a, b = rng.integers(0, n, size=(2, 2, n))
    pa = np.where(fit[a[0]] <= fit[a[1]], a[0], a[1])
    pb = np.where(fit[b[0]] <= fit[b[1]], b[0], b[1])
    lo = np.minimum(pop[pa], pop[pb])
    hi = np.maximum(pop[pa], pop[pb])
    span = hi - lo
    child = rng.uniform(lo - 0.5 * span, hi + 0.5 * span)
    child += sigma[None, :] * rng.standard_normal((n, d))
    return space.snap(child)


def survivors(pop: NDArray[np.float64], fit: NDArray[np.float64], kids: NDArray[np.float64],
              kid_fit: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """(mu + lambda): the best ``len(pop)`` of parents and children (stable, parents first on ties).

    Returns the new population, its losses and how many children made it in.
    """
    allp = np.concatenate([pop, kids])
    allf = np.concatenate([fit, kid_fit])
    keep = np.argsort(allf, kind="stable")[: pop.shape[0]]
    return allp[keep], allf[keep], int(np.count_nonzero(keep >= pop.shape[0]))


def adapt_sigma(sigma: NDArray[np.float64], success_rate: float, floor: NDArray[np.float64]) -> NDArray[np.float64]:
    """One-fifth rule: widen when more than a fifth of the children survive, narrow otherwise."""
    factor = np.exp((success_rate - 0.2) / 0.8)
    return np.maximum(sigma * factor, floor)
