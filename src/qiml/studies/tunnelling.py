"""Tunnelling, measured against thermal escape: does QiML favour high, thin barriers where thermal hopping fails?

The claim under test: a wave packet leaks through a barrier at a rate that falls with its width and the
square root of its height, a thermal walker hops over it at a rate ``exp(-H / T)`` that falls with its
height only, so QiML should win where barriers are high and thin. The script measures, per method and per
barrier (height H x width W), the probability that a run ends in the deep well of an asymmetric double
well, at an equal evaluation budget.

Landscape (:class:`DoubleWell`; box ``[-1/2, 1/2]^P``, width 1, so W is a fraction of the box width).
Along a unit direction ``v`` (``v = [1]`` for P = 1, else a uniform random direction drawn from
``numpy.random.default_rng([DIRECTION_SEED, P, seed])``: every seed is its own instance) with
``u = v . x``::

    f(x) = g(u) + KAPPA |x - u v|^2                       (a quadratic valley of curvature 2 KAPPA across v)

    g(u) = K_DEEP (u_d - u)^2 - DELTA                      u <  u_d          deep well's outer wall
         = (H + DELTA) cos^2(pi (u - c) / (2 a)) - DELTA   u_d <= u < c      barrier, deep flank, a = W / 4
         = H cos^2(pi (u - c) / (2 b))                     c <= u <= u_s     barrier, shallow flank, b = 3 W / 4
         = K_SHALLOW (u - u_s)^2                           u >  u_s          shallow well's outer wall

with the barrier top at ``c = U_PEAK = -0.35``, the deep minimum at ``u_d = c - W/4`` and the shallow one
at ``u_s = c + 3W/4``; ``DELTA = 1``, ``K_DEEP = 50``, ``K_SHALLOW = 4``, ``KAPPA = 20``. ``g`` is C^1
and has exactly two local minima: the deep well ``x_d = u_d v`` with ``f = -DELTA = -1`` (the unique global
minimum) and the shallow well ``x_s = u_s v`` with ``f = 0``; the depth difference is DELTA = 1.

* Barrier height: ``H`` above the shallow minimum (``H + DELTA`` above the deep one), at ``u = c``.
* Barrier width: ``W = u_s - u_d``, the distance between the minima (the barrier's base). The width of the
  classically forbidden region at the shallow minimum's level (where ``g > 0``) is
  ``3W/4 + (W / 2 pi) arccos(sqrt(DELTA / (H + DELTA)))``, from 0.848 W (H = 0.5) up to W.
* Basins: along ``v`` the deep basin is ``u < c`` and the shallow basin ``u > c`` (the valley across
  ``v`` is convex, so gradient descent never changes side). The shallow basin holds the box centre, 85 % of
  the box in 1-D and about 88 % in 10-D, and the deep well is the narrower one (K_DEEP > K_SHALLOW): a
  local optimiser from a uniform random start mostly ends in the shallow well (``tunnelling.md`` lists the
  measured share for L-BFGS-B).
* The grid: ``H in HEIGHTS = (0.5, 1, 2, 4, 8)`` (0.5 to 8 x DELTA) and ``W in WIDTHS = (0.025, 0.05,
  0.1, 0.2, 0.4)`` (of the box width): the thinnest barrier is about 1.5 grid steps of a 64-point slice
  across the box and half a Metropolis step, the widest spans 40 % of the box.

Success: the best point the run evaluated (the wrapper's best-of-budget, never the method's own report)
lies in the deep basin, ``v . x_best < c``. ``below_shallow`` (best value < 0, the shallow minimum's value)
is recorded as well; it implies success but not conversely.

Dimensions and budget (chosen on a 3 x 3 sub-grid with 10 seeds while designing the landscape): P = 1 and
P = 10 at ``BUDGET_PER_DIM x P = 100 x P`` evaluations for every method. In 1-D every method that samples the
whole box finds the deep well at this budget (the 1-D table is the control: only the Metropolis walk feels the
barrier); at P = 5 random search and dual annealing still succeeded in 80-100 % of the runs; at P = 10 every
method is below 100 % somewhere on the grid. All methods run through :func:`qiml.studies.baselines.run_method`,
which counts evaluations and stops a method at the budget:

* QiML modes (:data:`QIML_MODES`, keyword options of ``qiml.minimize``): ``qiml`` (defaults),
  ``qiml_slices`` (``search="slices"``), ``qiml_axes`` (``directions="axes"``), ``qiml_ensemble`` /
  ``qiml_hybrid`` (``search="walkers"`` / ``"hybrid"``);
* ``dual_annealing`` (SciPy, generalised simulated annealing: the thermal baseline with long jumps) and
  ``cma_ipop`` (pycma, IPOP restarts) with :mod:`qiml.studies.baselines`'s settings; pycma fails on 1-D boxes
  (its diagonal scaling treats a size-1 vector as uninitialised), so ``cma_ipop`` is not run in 1-D;
* ``metropolis``: textbook thermal escape, a random-walk Metropolis chain with Gaussian steps of
  ``METRO_STEP = 0.05`` x the box width per coordinate and a temperature annealed geometrically from
  ``METRO_T = (1, 0.01)`` (in units of DELTA) over the budget;
* ``random``: uniform random search, the floor.

Every start is random: each run draws its own uniform random start from its seed (qiml draws ``x0`` from
its seed, dual annealing its own uniform ``x0``, IPOP-CMA-ES a fresh uniform ``x0`` at every restart, the
Metropolis chain a uniform ``x0``), so no method is handed the box centre, which lies in the shallow basin.

Outputs under ``--out`` (default ``docs/results/tunnelling``; a scratch folder with ``--smoke``):
``tunnelling.md`` (per dimension: the success tables, width and height effects per method, a reading
generated from the numbers),
``tunnelling.csv`` (one row per dimension x method x H x W), ``tunnelling.png`` (heat maps of the success
probability over height x width, one panel per method, one row per dimension) and ``runs.jsonl`` (one line
per finished run; a rerun skips them, ``--fresh`` starts over: do that after an engine change).

    python -m qiml.studies.tunnelling             # full study: P = 1 and 10, 5 x 5 grid, 30 seeds
                                                  # (about 8 CPU minutes: 4-5 min with 2 free cores)
    qiml reproduce tunnelling                     # the same, with meta.json and log.txt
    python -m qiml.studies.tunnelling --smoke --workers 1          # 2 x 2 grid, about 5 s, into a scratch folder
    python -m qiml.studies.tunnelling --methods qiml qiml_axes dual_annealing cma_ipop --dims 10 --seeds 10
    python -m qiml.studies.tunnelling --dims 10 --heights 0.5 2 8 --widths 0.025 0.1 0.4 --seeds 10   # a sub-grid
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..files import atomic_write_csv, atomic_write_text
from . import baselines
from .args import check_run_budget, int_in, positive_float, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "tunnelling"
Array = NDArray[np.float64]

# -- the landscape -----------------------------------------------------------------------------------
LANDSCAPE_REV = "1"   # part of every run's cache key: bump it when the landscape below changes
U_PEAK = -0.35        # barrier top along v: the deep basin is the 15 % of the box (1-D) left of it
PEAK_FRAC = 0.25      # the top sits a quarter of the way from the deep to the shallow minimum
DELTA = 1.0           # depth of the deep well below the shallow one
K_DEEP = 50.0         # outer wall of the deep well: steep, so the deep well is the narrow one
K_SHALLOW = 4.0       # outer wall of the shallow well: gentle, a wide basin that catches local searches
KAPPA = 20.0          # valley across v: in 10-D its spread dominates DELTA, so random points do not find the side
DIRECTION_SEED = 8128
HALF = 0.5            # the box is [-HALF, HALF]^P
HEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0)
WIDTHS = (0.025, 0.05, 0.1, 0.2, 0.4)
BUDGET_PER_DIM = 100
#: the full run's options (local_starts: L-BFGS-B starts per cell for the "is the shallow well a trap" check)
DEFAULTS: dict[str, Any] = {"seeds": 30, "dims": [1, 10], "heights": list(HEIGHTS), "widths": list(WIDTHS),
                            "budget_per_dim": BUDGET_PER_DIM, "local_starts": 100}
#: a smoke run's, where an option is not given (P = 3 checks the P-D code path in seconds; the study's is 10)
SMOKE: dict[str, Any] = {"seeds": 2, "dims": [1, 3], "heights": [1.0, 8.0], "widths": [0.025, 0.4],
                         "local_starts": 10}


@dataclass(frozen=True)
class DoubleWell:
    """The asymmetric double well of the module docstring: ``f(X: (n, P)) -> (n,)``, barrier ``height``
    above the shallow minimum and ``width`` (distance between the minima) along a unit direction."""

    dim: int
    height: float
    width: float
    seed: int = 0
    direction: Array = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.dim < 1 or self.height <= 0:
            raise ValueError(f"need dim >= 1 and height > 0, got {self.dim}, {self.height}")
        if not 0 < self.width < (U_PEAK + HALF) / PEAK_FRAC:   # the deep minimum must stay inside the box
            raise ValueError(f"width must be in (0, {(U_PEAK + HALF) / PEAK_FRAC:g}), got {self.width}")
        if self.dim == 1:
            v = np.ones(1)
        else:
            v = np.random.default_rng([DIRECTION_SEED, self.dim, self.seed]).standard_normal(self.dim)
            v /= np.linalg.norm(v)
        object.__setattr__(self, "direction", v)

    @property
    def bounds(self) -> list[tuple[float, float]]:
        return [(-HALF, HALF)] * self.dim

    @property
    def u_deep(self) -> float:
        return U_PEAK - PEAK_FRAC * self.width

    @property
    def u_shallow(self) -> float:
        return U_PEAK + (1.0 - PEAK_FRAC) * self.width

    @property
    def x_deep(self) -> Array:
        return self.u_deep * self.direction

    @property
    def x_shallow(self) -> Array:
        return self.u_shallow * self.direction

    def profile(self, u: Array | float) -> Array:
        """``g(u)`` along the direction (piecewise, C^1)."""
        u = np.asarray(u, dtype=float)
        H, a, b, ud, us = self.height, PEAK_FRAC * self.width, (1 - PEAK_FRAC) * self.width, self.u_deep, self.u_shallow
        return np.select(
            [u < ud, u < U_PEAK, u <= us],
            [K_DEEP * (ud - u) ** 2 - DELTA,
             (H + DELTA) * np.cos(np.pi * (u - U_PEAK) / (2 * a)) ** 2 - DELTA,
             H * np.cos(np.pi * (u - U_PEAK) / (2 * b)) ** 2],
            K_SHALLOW * (u - us) ** 2)

    def dprofile(self, u: Array | float) -> Array:
        """``g'(u)``."""
        u = np.asarray(u, dtype=float)
        H, a, b, ud, us = self.height, PEAK_FRAC * self.width, (1 - PEAK_FRAC) * self.width, self.u_deep, self.u_shallow
        return np.select(
            [u < ud, u < U_PEAK, u <= us],
            [-2 * K_DEEP * (ud - u),
             -(H + DELTA) * np.pi / (2 * a) * np.sin(np.pi * (u - U_PEAK) / a),
             -H * np.pi / (2 * b) * np.sin(np.pi * (u - U_PEAK) / b)],
            2 * K_SHALLOW * (u - us))

    def __call__(self, X: Any) -> Array:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        u = X @ self.direction
        perp = X - np.outer(u, self.direction)
        return self.profile(u) + KAPPA * np.einsum("ij,ij->i", perp, perp)

    def gradient(self, x: Any) -> Array:
        x = np.asarray(x, dtype=float)
        u = float(x @ self.direction)
        return float(self.dprofile(u)) * self.direction + 2 * KAPPA * (x - u * self.direction)

    def in_deep_basin(self, x: Any) -> bool:
        return bool(np.asarray(x, dtype=float) @ self.direction < U_PEAK)

    def deep_share(self, X: Array) -> float:
        """Share of the rows of ``X`` that lie in the deep basin."""
        return float(np.mean(np.asarray(X, dtype=float) @ self.direction < U_PEAK))

    def forbidden_width(self) -> float:
        """Width of the region between the minima where ``g`` exceeds the shallow minimum's value."""
        return ((1 - PEAK_FRAC) * self.width
                + 2 * PEAK_FRAC * self.width / np.pi * math.acos(math.sqrt(DELTA / (self.height + DELTA))))


# -- the methods ---------------------------------------------------------------------------------------
QIML_MODES: dict[str, dict[str, Any]] = {
    "qiml": {},
    "qiml_slices": {"search": "slices"},
    "qiml_axes": {"directions": "axes", "search": "slices"},
    "qiml_ensemble": {"search": "walkers"},
    "qiml_hybrid": {"search": "hybrid"},
}
BASELINES = ("dual_annealing", "cma_ipop", "metropolis", "random")
METHODS = (*QIML_MODES, *BASELINES)
THERMAL = ("dual_annealing", "metropolis")   # what the claim compares tunnelling against
METRO_STEP = 0.05          # Gaussian step per coordinate, x the box width: along v it is 0.05 in any dimension
METRO_T = (1.0, 0.01)      # temperature, start and end of a geometric anneal, in units of DELTA
LABELS = {"qiml": "QiML (defaults)", "qiml_slices": "QiML slices", "qiml_axes": "QiML axes",
          "qiml_ensemble": "QiML ensemble",
          "qiml_hybrid": "QiML hybrid", "dual_annealing": "dual annealing", "cma_ipop": "IPOP-CMA-ES",
          "metropolis": "Metropolis walk", "random": "random search"}
SETTINGS = {
    **{m: f"`qiml.minimize(f, bounds, vectorized=True, max_evals=budget, seed=s, "
          f"{', '.join(f'{k}={v!r}' for k, v in o.items()) or 'default options'})`" for m, o in QIML_MODES.items()},
    "dual_annealing": baselines.SETTINGS["dual_annealing"],
    "cma_ipop": baselines.SETTINGS["cma_ipop"] + "; not run in 1-D (pycma cannot run a 1-D box)",
    "metropolis": f"random-walk Metropolis from a uniform start, Gaussian steps of {METRO_STEP} x box width per "
                  f"coordinate (clipped to the box), temperature {METRO_T[0]:g} -> {METRO_T[1]:g} x DELTA "
                  "(geometric over the budget), one evaluation per step",
    "random": baselines.SETTINGS["random"],
}


def _qiml_runner(options: dict[str, Any]) -> baselines.Runner:
    def run(f: baselines.Budgeted, lo: Array, hi: Array, seed: int) -> None:
        from ..engine import minimize
        minimize(f, list(zip(lo.tolist(), hi.tolist(), strict=True)), vectorized=True, max_evals=f.budget,
                 seed=seed, **options)
    return run


def _metropolis(f: baselines.Budgeted, lo: Array, hi: Array, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = f.budget
    x = rng.uniform(lo, hi)
    fx = float(f(x[None])[0])
    step = METRO_STEP * (hi - lo)
    for i in range(1, n):
        t = METRO_T[0] * (METRO_T[1] / METRO_T[0]) ** (i / max(n - 1, 1))
        y = np.clip(x + step * rng.standard_normal(lo.size), lo, hi)
        fy = float(f(y[None])[0])
        if fy <= fx or rng.random() < math.exp(-(fy - fx) / t):
            x, fx = y, fy


def runner_for(method: str) -> baselines.Runner | None:
    """The runner ``run_method`` gets (None: :mod:`qiml.studies.baselines`'s own)."""
    if method in QIML_MODES:
        return _qiml_runner(QIML_MODES[method])
    if method == "metropolis":
        return _metropolis
    if method in baselines.METHODS:
        return None
    raise KeyError(method)


def unsupported(method: str, dim: int) -> str | None:
    """Why ``method`` is not run in ``dim`` dimensions, or None."""
    if method == "cma_ipop" and dim == 1:
        return "pycma cannot run a 1-D box"
    return None


class Tracker:
    """The landscape, remembering the best point among the rows it evaluated (``Budgeted`` keeps the value only)."""

    def __init__(self, fun: Callable[[Array], Array]) -> None:
        self.fun, self.best = fun, np.inf
        self.x: Array | None = None

    def __call__(self, X: Array) -> Array:
        F = self.fun(X)
        i = int(np.argmin(F))
        if F[i] < self.best:
            self.best, self.x = float(F[i]), np.array(X[i], dtype=float)
        return F


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One (dim, H, W, seed, method) run in a worker; a JSON-able record."""
    well = DoubleWell(job["dim"], job["H"], job["W"], job["seed"])
    track = Tracker(well)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # SciPy and pycma warn about bounds and restarts; not our business
        f = baselines.run_method(job["method"], track, well.bounds, job["budget"], job["seed"],
                              runner=runner_for(job["method"]))
    seconds = time.perf_counter() - t0
    x = track.x if track.x is not None else np.full(job["dim"], np.nan)
    return {**job, "best": f.best, "nfev": f.nfev, "seconds": seconds, "u_best": float(x @ well.direction),
            "deep": well.in_deep_basin(x), "below_shallow": bool(f.best < 0.0),
            "dist_deep": float(np.linalg.norm(x - well.x_deep))}


def make_jobs(dim: int, method: str, heights: Sequence[float], widths: Sequence[float], seeds: Sequence[int],
              n_evals: int) -> list[dict[str, Any]]:
    base = {"dim": dim, "method": method, "budget": n_evals, "landscape": LANDSCAPE_REV,
            "options": QIML_MODES.get(method)}   # a changed mode's options make new runs
    return [{**base, "H": H, "W": W, "seed": s} for H in heights for W in widths for s in seeds]


# -- statistics ------------------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a success probability (k successes in n runs)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _var(c: dict[str, Any]) -> float:
    """Variance of a cell's success rate, with Laplace's (k+1)/(n+2) so 0 % and 100 % cells are not certain."""
    p = (c["k"] + 1) / (c["n"] + 2)
    return p * (1 - p) / c["n"]


def aggregate(recs: list[dict[str, Any]]) -> dict[tuple[int, str, float, float], dict[str, Any]]:
    """Cells (dim, method, H, W) -> counts and summaries over the seeds."""
    groups: dict[tuple[int, str, float, float], list[dict[str, Any]]] = {}
    for r in recs:
        groups.setdefault((r["dim"], r["method"], r["H"], r["W"]), []).append(r)
    cells = {}
    for key, rs in groups.items():
        n, k = len(rs), sum(bool(r["deep"]) for r in rs)
        lo, hi = wilson(k, n)
        cells[key] = {"dim": key[0], "method": key[1], "H": key[2], "W": key[3], "budget": rs[0]["budget"],
                      "n": n, "k": k, "success": k / n, "ci_lo": lo, "ci_hi": hi,
                      "below_shallow": float(np.mean([r["below_shallow"] for r in rs])),
                      "median_best": float(np.median([r["best"] for r in rs])),
                      "mean_nfev": float(np.mean([r["nfev"] for r in rs])),
                      "median_seconds": float(np.median([r["seconds"] for r in rs]))}
    return cells


def effects(cells: dict, dim: int, method: str, heights: Sequence[float], widths: Sequence[float]
            ) -> dict[str, float]:
    """Width effect: success at the thinnest minus the widest barrier (mean over heights); height effect:
    at the lowest minus the highest (mean over widths); each with its standard error."""
    c = lambda H, W: cells[(dim, method, H, W)]  # noqa: E731
    we = [c(H, widths[0])["success"] - c(H, widths[-1])["success"] for H in heights]
    wv = [_var(c(H, widths[0])) + _var(c(H, widths[-1])) for H in heights]
    he = [c(heights[0], W)["success"] - c(heights[-1], W)["success"] for W in widths]
    hv = [_var(c(heights[0], W)) + _var(c(heights[-1], W)) for W in widths]
    return {"width": float(np.mean(we)), "width_se": math.sqrt(sum(wv)) / len(wv),
            "height": float(np.mean(he)), "height_se": math.sqrt(sum(hv)) / len(hv),
            "mean": float(np.mean([c(H, W)["success"] for H in heights for W in widths]))}


def corner_levels(levels: Sequence[float]) -> tuple[list[float], list[float]]:
    """The lower and upper halves of a grid axis (the middle level of an odd count in neither)."""
    h = max(1, len(levels) // 2)
    return list(levels[:h]), list(levels[-h:])


def advantage(cells: dict, dim: int, a: str, b: str, Hs: Sequence[float], Ws: Sequence[float]
              ) -> tuple[float, float]:
    """Mean success of ``a`` minus ``b`` over the cells H x W, with its standard error."""
    d = [cells[(dim, a, H, W)]["success"] - cells[(dim, b, H, W)]["success"] for H in Hs for W in Ws]
    v = [_var(cells[(dim, a, H, W)]) + _var(cells[(dim, b, H, W)]) for H in Hs for W in Ws]
    return float(np.mean(d)), math.sqrt(sum(v)) / len(v)


def significant_cells(cells: dict, dim: int, a: str, b: str, heights: Sequence[float], widths: Sequence[float]
                      ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Cells where ``a`` beats ``b`` / ``b`` beats ``a`` by more than two standard errors."""
    win, lose = [], []
    for H in heights:
        for W in widths:
            ca, cb = cells[(dim, a, H, W)], cells[(dim, b, H, W)]
            d, se = ca["success"] - cb["success"], math.sqrt(_var(ca) + _var(cb))
            if d > 2 * se:
                win.append((H, W))
            elif d < -2 * se:
                lose.append((H, W))
    return win, lose


# -- the landscape's own checks ------------------------------------------------------------------------------
def landscape_checks(dims: Sequence[int], heights: Sequence[float], widths: Sequence[float], n_starts: int
                     ) -> dict[int, dict[str, float]]:
    """Per dimension: the deep basin's share of the box (Monte Carlo, first 8 instances) and the share of
    L-BFGS-B runs from uniform starts that end in the shallow well (per cell, instance 0)."""
    from scipy.optimize import minimize as local_minimize

    out = {}
    for dim in dims:
        rng = np.random.default_rng([DIRECTION_SEED, dim, 1])
        share = float(np.mean([DoubleWell(dim, 1.0, 0.1, s).deep_share(rng.uniform(-HALF, HALF, (20000, dim)))
                               for s in range(8)])) if dim > 1 else U_PEAK + HALF
        trapped = []
        for H in heights:
            for W in widths:
                well = DoubleWell(dim, H, W, 0)
                starts = np.random.default_rng([DIRECTION_SEED, dim, 2]).uniform(-HALF, HALF, (n_starts, dim))
                ends = [local_minimize(lambda x, well=well: float(well(x)[0]), x0, jac=well.gradient, method="L-BFGS-B",
                                       bounds=well.bounds).x for x0 in starts]
                trapped.append(float(np.mean([not well.in_deep_basin(x) for x in ends])))
        out[dim] = {"deep_share": share, "trapped_mean": float(np.mean(trapped)), "trapped_min": min(trapped),
                    "trapped_max": max(trapped), "starts": n_starts}
    return out


# -- reports -------------------------------------------------------------------------------------------------
def pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def spct(p: float) -> str:
    return f"{100 * p:+.0f}"


def cell_list(cs: list[tuple[float, float]], limit: int = 6) -> str:
    s = ", ".join(f"H {H:g} W {W:g}" for H, W in cs[:limit])
    return s + (f" and {len(cs) - limit} more" if len(cs) > limit else "")


def signature(e: dict[str, float]) -> str:
    """Which of width and height moves a method's success more, beyond two standard errors."""
    w, h, se = abs(e["width"]), abs(e["height"]), math.hypot(e["width_se"], e["height_se"])
    if w > h + 2 * se:
        return "width"
    if h > w + 2 * se:
        return "height"
    return "neither"


SIGNATURES = {"width": "width", "height": "height", "neither": "neither"}
VERDICTS = {"claim": "as claimed", "thin": "ahead on thin barriers, any height", "general": "ahead, any width",
            "level": "level", "fails": "claim fails"}


def verdict(ht: float, ht_se: float, dw: float, dw_se: float, dh: float, dh_se: float) -> str:
    """The claim: QiML is ahead of thermal escape on high, thin barriers, and its lead shrinks as the barrier
    widens (``dw``: lead on the thinner half minus the wider half) and grows as it rises (``dh``: higher half
    minus lower half)."""
    if ht < -2 * ht_se:
        return "fails"
    if ht <= 2 * ht_se:
        return "level"
    if dw <= 2 * dw_se:
        return "general"
    return "claim" if dh > 2 * dh_se else "thin"


def comparisons(cells: dict, dim: int, methods: list[str], heights: Sequence[float], widths: Sequence[float]
                ) -> list[dict[str, Any]]:
    """Every QiML mode against every thermal baseline run at this dimension."""
    run = [m for m in methods if (dim, m, heights[0], widths[0]) in cells]
    low_h, high_h = corner_levels(heights)
    thin_w, wide_w = corner_levels(widths)
    out = []
    for q in [m for m in run if m in QIML_MODES]:
        for b in [m for m in THERMAL if m in run]:
            adv = lambda Hs, Ws, q=q, b=b: advantage(cells, dim, q, b, Hs, Ws)  # noqa: E731
            ht, ht_se = adv(high_h, thin_w)
            (t, t_se), (w, w_se) = adv(heights, thin_w), adv(heights, wide_w)
            (hi, hi_se), (lo, lo_se) = adv(high_h, widths), adv(low_h, widths)
            dw, dw_se, dh, dh_se = t - w, math.hypot(t_se, w_se), hi - lo, math.hypot(hi_se, lo_se)
            win, lose = significant_cells(cells, dim, q, b, heights, widths)
            out.append({"q": q, "b": b, "ht": ht, "ht_se": ht_se, "dw": dw, "dw_se": dw_se, "dh": dh, "dh_se": dh_se,
                        "win": win, "lose": lose, "verdict": verdict(ht, ht_se, dw, dw_se, dh, dh_se)})
    return out


def reading(cells: dict, dim: int, methods: list[str], heights: Sequence[float], widths: Sequence[float]) -> str:
    """The paragraph that reads one dimension's tables, generated from the numbers (no conclusion is typed in)."""
    run = [m for m in methods if (dim, m, heights[0], widths[0]) in cells]
    if not run:
        return "No method ran at this P."
    eff = {m: effects(cells, dim, m, heights, widths) for m in run}
    comps = comparisons(cells, dim, methods, heights, widths)
    n_cells = len(heights) * len(widths)
    out: list[str] = []
    floor = min(c["success"] for k, c in cells.items() if k[0] == dim)
    if floor >= 0.95:
        out.append(f"Every method ends in the deep well in at least {pct(floor)} of the runs of every cell: at this "
                   "budget the landscape does not separate the methods.")
    for q in dict.fromkeys(c["q"] for c in comps):
        parts = []
        for c in (c for c in comps if c["q"] == q):
            part = f"ahead of {LABELS[c['b']]} in {len(c['win'])} of {n_cells} cells"
            part += f" ({cell_list(c['win'])})" if c["win"] else ""
            part += f" and behind in {len(c['lose'])}" + (f" ({cell_list(c['lose'])})" if c["lose"] else "")
            parts.append(part)
        out.append(f"{LABELS[q]}, {pct(eff[q]['mean'])} over the grid, is " + "; ".join(parts) + ".")
    if comps:
        by = {v: [f"{LABELS[c['q']]} against {LABELS[c['b']]}" for c in comps if c["verdict"] == v] for v in VERDICTS}
        low_h, high_h = corner_levels(heights)
        thin_w, wide_w = corner_levels(widths)
        text = {"claim": "QiML leads on high, thin barriers, and its lead shrinks with width and grows with height, "
                         "as the claim predicts, for ",
                "thin": "QiML leads on thin barriers but the lead does not grow with height (it passes thin barriers, "
                        "not specifically where thermal escape fails) for ",
                "general": "QiML leads on high, thin barriers but no less on wide ones (nothing specific to "
                           "tunnelling) for ",
                "level": "the two are level on high, thin barriers within the noise for ",
                "fails": "thermal escape does better on high, thin barriers, against the claim, for "}
        out.append(f"On the claim (high, thin: H >= {high_h[0]:g}, W <= {thin_w[-1]:g}): "
                   + "; ".join(text[v] + ", ".join(by[v]) for v in VERDICTS if by[v]) + ".")
    sig = {k: [LABELS[m] for m in run if signature(eff[m]) == k] for k in SIGNATURES}
    names = {"width": "width", "height": "height", "neither": "width and height alike"}
    out.append("A tunnelling rate falls with width, a thermal one with height; here success moves more with barrier "
               + "; ".join(f"{names[k]} for {', '.join(v)}" for k, v in sig.items() if v)
               + " (thinnest minus widest W against lowest minus highest H, beyond two standard errors).")
    if "metropolis" in run and signature(eff["metropolis"]) == "width" and eff["metropolis"]["width"] > 0:
        out.append(f"The Metropolis walk's success falls with width too: barriers thinner than its step ({METRO_STEP} "
                   "along v) are jumped, not climbed, so a width effect alone does not single out tunnelling.")
    return " ".join(out)


def write_report(a: argparse.Namespace, cells: dict, methods: list[str],
                 heights: Sequence[float], widths: Sequence[float], checks: dict[int, dict[str, float]],
                 recs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    grid = {**DEFAULTS, **(SMOKE if a.smoke else {})}   # the grid is named only where it is not the run's default
    cmd = "python -m qiml.studies.tunnelling" + (" --smoke" if a.smoke else "") + \
        f" --seeds {a.seeds} --dims {' '.join(map(str, a.dims))} --budget-per-dim {a.budget_per_dim}" + \
        (f" --methods {' '.join(a.methods)}" if a.methods else "") + \
        (f" --heights {' '.join(f'{H:g}' for H in heights)}" if list(heights) != sorted(grid["heights"]) else "") + \
        (f" --widths {' '.join(f'{W:g}' for W in widths)}" if list(widths) != sorted(grid["widths"]) else "")
    cpu = sum(r["seconds"] for r in recs)
    md = ["# Tunnelling, measured against thermal escape", "",
          f"`{cmd}` — {a.seeds} seeds per cell, budget {a.budget_per_dim} x P evaluations for every method, "
          f"workers {a.workers}; runs took {cpu:.0f} CPU seconds in all (cached runs included). "
          + environment_line(meta), "",
          "Landscape (`qiml.studies.tunnelling.DoubleWell`): box [-1/2, 1/2]^P; along a unit direction v "
          "(random per seed for P > 1), an asymmetric double well with the barrier top at u = v.x = "
          f"{U_PEAK}, the deep minimum (f = -{DELTA:g}, the global one) at u = {U_PEAK} - W/4, the shallow "
          f"minimum (f = 0) at u = {U_PEAK} + 3W/4; the barrier rises H above the shallow minimum (H + {DELTA:g} "
          f"above the deep one) and W is the distance between the minima (fraction of the box width); across v a "
          f"quadratic valley {KAPPA:g} |x - (v.x) v|^2. A run succeeds when its best evaluated point lies in the "
          f"deep basin, v.x < {U_PEAK}. Every run starts from its own uniform random point.", "",
          "| P | deep basin's share of the box | L-BFGS-B from uniform starts ending in the shallow well |",
          "|---|---|---|"]
    for dim, c in checks.items():
        md.append(f"| {dim} | {pct(c['deep_share'])} | {pct(c['trapped_mean'])} (min {pct(c['trapped_min'])}, max "
                  f"{pct(c['trapped_max'])} over the cells; {c['starts']} starts each) |")
    for dim in a.dims:
        run = [m for m in methods if (dim, m, heights[0], widths[0]) in cells]
        md += ["", f"## P = {dim}: probability of ending in the deep well ({a.budget_per_dim * dim} evaluations)", "",
               "| method | H \\ W | " + " | ".join(f"{W:g}" for W in widths) + " |",
               "|---|---|" + "---|" * len(widths)]
        for m in run:
            for H in heights:
                md.append(f"| {LABELS[m] if H == heights[0] else ''} | {H:g} | "
                          + " | ".join(pct(cells[(dim, m, H, W)]["success"]) for W in widths) + " |")
        na = [m for m in methods if m not in run and unsupported(m, dim)]
        if na:
            md += ["", "Not run at this P: " + "; ".join(f"{LABELS[m]} ({unsupported(m, dim)})" for m in na) + "."]
        md += ["", f"Width and height effects (percentage points, ± one standard error; {len(heights)} x "
               f"{len(widths)} cells):", "",
               "| method | over the grid | thinnest minus widest W | lowest minus highest H | moved more by |",
               "|---|---|---|---|---|"]
        for m in run:
            e = effects(cells, dim, m, heights, widths)
            md.append(f"| {LABELS[m]} | {pct(e['mean'])} | {spct(e['width'])} ± {100 * e['width_se']:.0f} | "
                      f"{spct(e['height'])} ± {100 * e['height_se']:.0f} | {SIGNATURES[signature(e)]} |")
        comps = comparisons(cells, dim, methods, heights, widths)
        if comps:
            low_h, high_h = corner_levels(heights)
            thin_w, wide_w = corner_levels(widths)
            md += ["", "QiML against thermal escape (lead: QiML's success minus the baseline's, percentage points "
                   "± one standard error, mean over the cells named; the claim predicts a positive lead on high, "
                   "thin barriers that shrinks with width and grows with height; cells: better / worse by more "
                   "than two standard errors):", "",
                   f"| QiML mode | against | lead on high, thin (H >= {high_h[0]:g}, W <= {thin_w[-1]:g}) | "
                   f"lead, W <= {thin_w[-1]:g} minus W >= {wide_w[0]:g} | lead, H >= {high_h[0]:g} minus "
                   f"H <= {low_h[-1]:g} | cells better / worse | verdict |",
                   "|---|---|---|---|---|---|---|"]
            for cmp in comps:
                md.append(f"| {LABELS[cmp['q']]} | {LABELS[cmp['b']]} | {spct(cmp['ht'])} ± {100 * cmp['ht_se']:.0f} | "
                          f"{spct(cmp['dw'])} ± {100 * cmp['dw_se']:.0f} | {spct(cmp['dh'])} ± "
                          f"{100 * cmp['dh_se']:.0f} | {len(cmp['win'])} / {len(cmp['lose'])} | "
                          f"{VERDICTS[cmp['verdict']]} |")
        md += ["", "**Reading.** " + reading(cells, dim, methods, heights, widths)]
    md += ["", "## Settings", ""] + [f"- {LABELS[m]}: {SETTINGS[m]}" for m in methods] + [
        "", "The table is success in the deep basin of the best point evaluated (Wilson 95 % intervals and the share "
        "of runs ending below the shallow minimum's value are in `tunnelling.csv`). The reading calls a difference "
        "real when it exceeds two standard errors (Laplace-smoothed binomial), for a cell or a mean over cells.", ""]
    text = "\n".join(md)
    atomic_write_text(a.out / "tunnelling.md", text)
    return text


CSV_FIELDS = ["dim", "method", "H", "W", "budget", "n", "k", "success", "ci_lo", "ci_hi", "below_shallow",
              "median_best", "mean_nfev", "median_seconds"]


def write_csv(out: Path, cells: dict) -> None:
    order = sorted(cells, key=lambda k: (k[0], METHODS.index(k[1]), k[2], k[3]))
    atomic_write_csv(out / "tunnelling.csv", [{k: cells[key][k] for k in CSV_FIELDS} for key in order], CSV_FIELDS)


def plot(out: Path, cells: dict, dims: Sequence[int], methods: list[str], heights: Sequence[float],
         widths: Sequence[float]) -> None:
    plt = pyplot()
    cols = [m for m in methods if any((d, m, heights[0], widths[0]) in cells for d in dims)]
    if not cols:
        return
    fig, axes = plt.subplots(len(dims), len(cols), figsize=(2.2 * len(cols) + 1.0, 2.3 * len(dims) + 0.4),
                             squeeze=False)
    im = None
    for i, dim in enumerate(dims):
        for j, m in enumerate(cols):
            ax = axes[i][j]
            if (dim, m, heights[0], widths[0]) not in cells:
                ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes, fontsize=8)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                Z = np.array([[cells[(dim, m, H, W)]["success"] for W in widths] for H in heights])
                im = ax.imshow(Z, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
                for (r, c), z in np.ndenumerate(Z):
                    ax.text(c, r, f"{100 * z:.0f}", ha="center", va="center", fontsize=6,
                            color="black" if z > 0.6 else "white")
                ax.set_xticks(range(len(widths)), [f"{W:g}" for W in widths], fontsize=6)
                ax.set_yticks(range(len(heights)), [f"{H:g}" for H in heights], fontsize=6)
            if i == 0:
                ax.set_title(LABELS[m], fontsize=8)
            if i == len(dims) - 1:
                ax.set_xlabel("barrier width W", fontsize=7)
            if j == 0:
                ax.set_ylabel(f"P = {dim}\nbarrier height H", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="P(deep well)")
    fig.suptitle("Probability of ending in the deep well (high, thin barriers: top left)", fontsize=9)
    fig.savefig(out / "tunnelling.png", dpi=130, bbox_inches="tight")
    plt.close(fig)


# -- orchestration ---------------------------------------------------------------------------------------------
def _show(values: Sequence[Any]) -> str:
    return " ".join(f"{v:g}" for v in values)


def choose_methods(asked: list[str] | None) -> list[str]:
    """The methods to run: those asked for (checked), or all."""
    chosen = list(asked) if asked else list(METHODS)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = study_parser(NAME, __doc__, smoke_help="2 x 2 grid, 2 seeds, P in {1, 3}")
    ap.add_argument("--seeds", type=int_in(1), default=None,
                    help=f"runs per cell, seeds 0 .. N-1 (default {DEFAULTS['seeds']}; smoke {SMOKE['seeds']})")
    ap.add_argument("--dims", type=int_in(1), nargs="+", default=None,
                    help=f"dimensions P (default {_show(DEFAULTS['dims'])}; smoke {_show(SMOKE['dims'])})")
    ap.add_argument("--methods", nargs="+", default=None, choices=list(METHODS), metavar="M",
                    help=f"subset of {list(METHODS)} (default: all)")
    ap.add_argument("--heights", type=positive_float, nargs="+", default=None,
                    help=f"barrier heights H (default {_show(DEFAULTS['heights'])}; smoke {_show(SMOKE['heights'])})")
    ap.add_argument("--widths", type=positive_float, nargs="+", default=None,
                    help=f"barrier widths W (default {_show(DEFAULTS['widths'])}; smoke {_show(SMOKE['widths'])})")
    ap.add_argument("--budget-per-dim", type=int_in(1), default=None,
                    help=f"evaluations per run = this x P (default {DEFAULTS['budget_per_dim']})")
    ap.add_argument("--local-starts", type=int_in(1), default=None,
                    help=f"L-BFGS-B starts per cell of the landscape check (default {DEFAULTS['local_starts']}; "
                         f"smoke {SMOKE['local_starts']})")
    ap.add_argument("--fresh", action="store_true", help="forget the cached runs in runs.jsonl")
    a = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    check_run_budget(ap, "--budget-per-dim", a.budget_per_dim, a.budget_per_dim * min(a.dims),
                     where=f" at P = {min(a.dims)}")
    a.heights, a.widths = sorted(a.heights), sorted(a.widths)
    heights, widths = a.heights, a.widths
    for H in heights:
        for W in widths:
            try:
                DoubleWell(1, H, W)   # a bad height or width fails here, not in a worker
            except ValueError as exc:
                ap.error(str(exc))
    methods = choose_methods(a.methods)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.fresh and (a.out / "runs.jsonl").exists():
        (a.out / "runs.jsonl").unlink()
    seeds = list(range(a.seeds))
    recs: list[dict[str, Any]] = []
    with JobRunner[dict[str, Any]](a.out / "runs.jsonl", a.workers) as runner:
        for dim in a.dims:
            for m in methods:
                if unsupported(m, dim):
                    continue
                recs += runner.run(make_jobs(dim, m, heights, widths, seeds, a.budget_per_dim * dim), run_job,
                                   label=f"P={dim} {m}")
    cells = aggregate(recs)
    checks = landscape_checks(a.dims, heights, widths, a.local_starts)
    meta = run_metadata(["python -m qiml.studies.tunnelling", *(sys.argv[1:] if argv is None else argv)],
                        seeds=seeds, dims=a.dims, heights=heights, widths=widths, budget_per_dim=a.budget_per_dim,
                        methods=methods, workers=a.workers, smoke=a.smoke)
    text = write_report(a, cells, methods, heights, widths, checks, recs, meta)
    write_csv(a.out, cells)
    plot(a.out, cells, a.dims, methods, heights, widths)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
