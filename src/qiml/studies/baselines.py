"""Equal evaluation budgets for comparisons: a counting wrapper and the baselines run through it.

Every method in a comparison sees the objective only through :class:`Budgeted`, which counts
evaluations, evaluates only the rows that still fit in the budget and then stops the method with
:class:`BudgetExhausted`, and records the best value seen, so figures compare best-of-budget for
every method, whatever each method reports about itself.

Baselines (all seeded with the run's seed; settings in :data:`SETTINGS`):

- ``qiml``: ``qiml.minimize(f, bounds, vectorized=True, max_evals=budget, seed=s)``, default options;
- ``dual_annealing``: SciPy, default temperatures and L-BFGS-B local search (its finite-difference
  evaluations count), ``maxiter`` past the budget so the budget binds;
- ``differential_evolution``: SciPy best1bin, population :data:`DE_POPSIZE` x D, dithered mutation,
  Latin-hypercube start, no polish, vectorised;
- ``cma_ipop``: pycma with IPOP restarts (9 restarts, population doubling), box bounds,
  ``sigma0 = 0.3 x range``, a fresh uniform start per restart (needs the ``bench`` extra);
- ``random``: uniform random search.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Budgeted", "BudgetExhausted", "run_method", "METHODS", "LABELS", "SETTINGS", "checkpoints"]

N_CHECKPOINTS = 50
DE_POPSIZE = 5   # tuned for the baseline: best of {5, 10, 15} over the 10-D and 30-D problems
CMA_RESTARTS, CMA_INCPOPSIZE, CMA_SIGMA_FRAC = 9, 2, 0.3
RANDOM_BATCH = 1024


class BudgetExhausted(Exception):
    """Raised inside a method when its evaluation budget is spent."""


def checkpoints(budget: int, n: int = N_CHECKPOINTS) -> NDArray[np.int64]:
    """About ``n`` log-spaced evaluation counts in ``[1, budget]`` (distinct integers, ``budget`` last)."""
    return np.unique(np.round(np.geomspace(1, budget, n)).astype(np.int64))


class Budgeted:
    """Vectorised objective ``f(X: (n, d)) -> (n,)`` with a hard budget and a best-so-far trace.

    ``trace[i]`` is the best value among the first ``evals[i]`` evaluations (log-spaced
    checkpoints); ``f_seconds`` the time spent inside ``f``; ``exhausted`` whether the budget ran out.
    With a ``target``, the method is also stopped (``reached``) as soon as a value ``<= target`` is
    seen, as COCO stops a run at its final target: the rest of the budget could only repeat a success.
    """

    def __init__(self, fun: Callable[[NDArray[np.float64]], NDArray[np.float64]], budget: int,
                 target: float | None = None) -> None:
        self.fun, self.budget, self.target = fun, int(budget), target
        self.nfev, self.best, self.exhausted, self.reached, self.f_seconds = 0, np.inf, False, False, 0.0
        self.evals = checkpoints(self.budget)
        self.trace = np.full(self.evals.size, np.nan)
        self._next = 0

    def __call__(self, X: Any) -> NDArray[np.float64]:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        remaining = self.budget - self.nfev
        if remaining <= 0:
            self.exhausted = True
            raise BudgetExhausted
        cut = X.shape[0] > remaining
        if cut:
            X = X[:remaining]
        t0 = time.perf_counter()
        F = np.asarray(self.fun(X), dtype=float).reshape(-1)
        self.f_seconds += time.perf_counter() - t0
        self._record(F)
        if cut:
            self.exhausted = True
            raise BudgetExhausted
        if self.target is not None and self.best <= self.target:
            self.reached = True
            raise BudgetExhausted
        return F

    def scalar(self, x: Any) -> float:
        """One-point form for optimisers that call ``f(x) -> float``."""
        return float(self(np.asarray(x, dtype=float).reshape(1, -1))[0])

    def _record(self, F: NDArray[np.float64]) -> None:
        if F.size == 0:
            return
        run = np.minimum(np.minimum.accumulate(np.where(np.isnan(F), np.inf, F)), self.best)
        start, self.nfev = self.nfev, self.nfev + F.size
        while self._next < self.evals.size and self.evals[self._next] <= self.nfev:
            self.trace[self._next] = run[self.evals[self._next] - start - 1]
            self._next += 1
        self.best = float(run[-1])

    def finish(self) -> None:
        """A method that stopped before the budget keeps its best value to the end of the trace."""
        self.trace[self._next:] = self.best


Runner = Callable[[Budgeted, NDArray[np.float64], NDArray[np.float64], int], None]


def _qiml(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    from ..engine import minimize
    minimize(f, list(zip(lo.tolist(), hi.tolist())), vectorized=True, max_evals=f.budget, seed=seed)


def _dual_annealing(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    from scipy.optimize import dual_annealing
    dual_annealing(f.scalar, list(zip(lo, hi)), maxfun=f.budget, maxiter=10**9, rng=seed)


def _differential_evolution(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    from scipy.optimize import differential_evolution

    def fun(x: NDArray[np.float64]) -> Any:  # vectorized DE passes x as (d, S)
        x = np.asarray(x)
        return f(x.T) if x.ndim == 2 else f.scalar(x)

    maxiter = f.budget // (DE_POPSIZE * lo.size) + 2   # generations: more than the budget allows
    differential_evolution(fun, list(zip(lo, hi)), strategy="best1bin", popsize=DE_POPSIZE, maxiter=maxiter,
                           tol=0.0, atol=0.0, mutation=(0.5, 1.0), recombination=0.7, init="latinhypercube",
                           polish=False, updating="deferred", vectorized=True, rng=seed)


def _cma_ipop(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    import cma
    rng = np.random.default_rng(seed)

    def x0() -> NDArray[np.float64]:  # called once per (re)start: a fresh uniform point in the box
        return rng.uniform(lo, hi)

    sigma0 = CMA_SIGMA_FRAC * float(np.max(hi - lo))
    opts = {"bounds": [lo.tolist(), hi.tolist()], "maxfevals": f.budget, "seed": seed + 1, "verbose": -9}
    cma.fmin2(None, x0, sigma0, opts, restarts=CMA_RESTARTS, incpopsize=CMA_INCPOPSIZE,
              parallel_objective=lambda X, *args: f(np.asarray(X)).tolist())


def _random(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    rng = np.random.default_rng(seed)
    while f.nfev < f.budget:
        f(rng.uniform(lo, hi, size=(min(RANDOM_BATCH, f.budget - f.nfev), lo.size)))


METHODS: dict[str, Runner] = {
    "qiml": _qiml, "dual_annealing": _dual_annealing, "differential_evolution": _differential_evolution,
    "cma_ipop": _cma_ipop, "random": _random,
}
LABELS = {"qiml": "qiml", "dual_annealing": "SciPy dual annealing", "differential_evolution": "SciPy DE",
          "cma_ipop": "IPOP-CMA-ES", "random": "random search"}
SETTINGS = {
    "qiml": "`qiml.minimize(f, bounds, vectorized=True, max_evals=budget, seed=s)`, default options",
    "dual_annealing": "`dual_annealing(maxfun=budget, maxiter=1e9, rng=s)`, default temperatures and "
                      "L-BFGS-B local search (finite-difference gradients count as evaluations)",
    "differential_evolution": f"`differential_evolution(strategy='best1bin', popsize={DE_POPSIZE}, "
                              "mutation=(0.5, 1), recombination=0.7, init='latinhypercube', tol=0, atol=0, "
                              "polish=False, updating='deferred', vectorized=True, rng=s)`, maxiter past the budget",
    "cma_ipop": f"`cma.fmin2(restarts={CMA_RESTARTS}, incpopsize={CMA_INCPOPSIZE})` (IPOP), box bounds, "
                f"sigma0 = {CMA_SIGMA_FRAC} x range, uniform random x0 per restart, maxfevals=budget, seed=s+1",
    "random": "uniform random points in the box",
}


def run_method(method: str, fun: Callable[[NDArray[np.float64]], NDArray[np.float64]],
               bounds: Any, budget: int, seed: int, runner: Runner | None = None,
               target: float | None = None) -> Budgeted:
    """Run ``method`` (or the given ``runner``) on ``fun`` within ``budget`` evaluations; return the wrapper.

    Once the budget is spent (or ``target`` reached) the method is stopped; an exception raised
    after that (qiml wraps the stop in its ``ObjectiveError``) is part of stopping, any earlier one
    propagates.
    """
    f = Budgeted(fun, budget, target)
    lo, hi = (np.asarray(b, dtype=float) for b in zip(*bounds))
    try:
        (runner or METHODS[method])(f, lo, hi, seed)
    except Exception:
        if not (f.exhausted or f.reached):
            raise
    f.finish()
    return f
