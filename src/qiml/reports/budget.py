"""Equal evaluation budgets for comparisons: a counting wrapper and the baselines run through it.

Every method in a comparison sees the objective only through :class:`Budgeted`, which counts
evaluations, refuses to go past the budget (the method is stopped by :class:`BudgetExhausted`)
and records the best value seen, so the figures compare best-of-budget for everyone, whatever
each method reports about itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Budgeted", "BudgetExhausted", "run_method", "METHODS"]


class BudgetExhausted(Exception):
    """Raised inside a baseline when its evaluation budget is spent."""


class Budgeted:
    """Vectorised objective wrapper with a hard budget and a best-so-far trace.

    ``trace`` holds (evaluations, best value) after every call, for convergence plots.
    """

    def __init__(self, fun: Callable[[NDArray[np.float64]], NDArray[np.float64]], budget: int) -> None:
        self.fun, self.budget = fun, int(budget)
        self.nfev = 0
        self.best = np.inf
        self.best_x: NDArray[np.float64] | None = None
        self.trace: list[tuple[int, float]] = []

    def __call__(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        left = self.budget - self.nfev
        if left <= 0:
            raise BudgetExhausted
        F = np.asarray(self.fun(X[:left]), dtype=float)
        self.nfev += F.size
        i = int(np.argmin(F))
        if F[i] < self.best:
            self.best, self.best_x = float(F[i]), X[i].copy()
        self.trace.append((self.nfev, self.best))
        if F.size < X.shape[0]:
            raise BudgetExhausted
        return F

    def scalar(self, x: NDArray[np.float64]) -> float:
        """One-point form for optimisers that call ``f(x) -> float``."""
        return float(self(np.asarray(x, dtype=float)[None, :])[0])


def _qiml(f: Budgeted, bounds: NDArray[np.float64], seed: int) -> None:
    from ..engine import minimize
    minimize(f, bounds, vectorized=True, max_evals=f.budget, seed=seed)


def _dual_annealing(f: Budgeted, bounds: NDArray[np.float64], seed: int) -> None:
    from scipy.optimize import dual_annealing
    dual_annealing(f.scalar, bounds, maxfun=f.budget, maxiter=10**9, seed=seed)


def _random_search(f: Budgeted, bounds: NDArray[np.float64], seed: int) -> None:
    rng = np.random.default_rng(seed)
    while f.nfev < f.budget:
        n = min(1000, f.budget - f.nfev)
        f(rng.uniform(bounds[:, 0], bounds[:, 1], size=(n, bounds.shape[0])))


METHODS: dict[str, Callable[[Budgeted, NDArray[np.float64], int], None]] = {
    "qiml": _qiml, "dual_annealing": _dual_annealing, "random_search": _random_search,
}


def run_method(method: str, fun: Callable[[NDArray[np.float64]], NDArray[np.float64]],
               bounds: object, budget: int, seed: int) -> Budgeted:
    """Run ``method`` on ``fun`` within ``budget`` evaluations; return the wrapper with its record."""
    f = Budgeted(fun, budget)
    try:
        METHODS[method](f, np.asarray(bounds, dtype=float), seed)
    except BudgetExhausted:
        pass
    return f
