"""No dependence on the initial guess: the spread of the final loss over many starting points.

Every method starts from the same ``--starts`` (default 20) points, drawn once from a seeded,
method-independent distribution, while each method's own random seed stays fixed, so the spread
(median, 10th and 90th percentile over starts) measures the start, not the method's RNG. Problems:

* ``teacher``  teacher-student regression, the library's teacher (``nn_budget``'s ``teacher`` data: 2000 train
  / 2000 test, targets standardised on the training half as ``QiMLRegressor`` does), network 15-6-1 tanh;
  final loss = test MSE in the targets' units (train MSE on the standardised targets alongside);
* ``spirals``  two spirals (``nn_budget``'s data: 500 train / 500 test, inputs standardised), network
  2-8-8-2 tanh with softmax cross-entropy (``nn_tasks``' spirals task, hidden (8, 8)); final loss =
  test misclassification (train cross-entropy alongside);
* ``f15``, ``f21``  bbob f15 (rotated Rastrigin) and f21 (Gallagher 101 peaks), 5-D, instance 1
  (``cocoex.BareProblem``), box [-5, 5]^5; final loss = best f - f_opt within 10^4 x D evaluations
  (a run stops at COCO's final target f - f_opt <= 1e-8, as ``qiml.studies.bbob`` does).

Starting points. Networks: ``MLP.init`` (Glorot-uniform, as scikit-learn's MLPs start) with
``numpy.random.default_rng([0, i])`` for start i; bbob: uniform in [-5, 5]^5 from the same generators
(f15 and f21 share the starts). What "start" means per method:

* QiML (``qiml``, the engine's defaults, and the other ``QIML_MODES``, which add keywords such as
  ``search="walkers"``): networks ``fit_network(x0=start, seed=0, **mode)`` with the default network
  options (``network_options``: curvature directions); bbob ``qiml.minimize(f, box, x0=start,
  vectorized=True, max_evals=budget, seed=0, **mode)``. The engine's position starts at the start; its
  seed 0 is the same for every start. On ``teacher`` (MSE) the output layer is solved by least squares
  (``output="auto"`` -> ``"solve"``), so only the start's hidden layers matter there.
* Adam (PyTorch, the studies' one baseline :func:`qiml.studies.baselines.adam` with ``x0=start``,
  float64, full batch): the torch network's weights are set to the start; full batch makes the run
  otherwise deterministic (no seed in play). Learning rate and schedule (constant or cosine to 0, grid
  ``nn_tasks.LRS``) chosen once per problem: the best median test metric over 3 separate tuning starts
  (``default_rng([1, i])``), in Adam's favour as in ``nn_tasks``.
* IPOP-CMA-ES (pycma ``cma.fmin2``, 9 restarts, population doubling): the first run's mean is the
  start; each later restart starts from a fresh random point (networks: an ``MLP.init`` draw; bbob:
  uniform in the box) from a generator seeded 0, so the restart points are the same for every
  start; pycma's own seed is 1 (``baselines``' ``seed + 1``) for every start. Networks: sigma0 = 0.5,
  bounds [-3, 3] (``nn_tasks.run_cma``); bbob: sigma0 = 0.3 x range = 3, bounds [-5, 5]
  (``baselines``' ``cma_ipop``).

Budgets. bbob: 10^4 x D = 50 000 evaluations for every method. Networks follow ``nn_budget``: QiML's
default runs the estimators' default budget (``max_iter=1000``, deterministic, independent of machine
speed), and every other method (Adam, CMA-ES and the other QiML modes, whose "iteration" is different
work) gets the median wall time of those fits on that problem, in its own single-threaded process.
``--budget SECONDS`` switches to ``nn_tasks``' rule instead: every network method, QiML's default
included, gets that many seconds.

Runs are cached in ``<out>/runs.jsonl`` (resumable). Writes ``spread.md``, ``spread.csv``,
``spread.png``.

    python -m qiml.studies.initial_spread                      # full run (about 13 min on 2 cores)
    python -m qiml.studies.initial_spread --smoke --workers 2  # tiny data and budgets, 3 starts (seconds)
    python -m qiml.studies.initial_spread --problems f15 f21 --methods qiml cma_ipop
    qiml reproduce initial-spread
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import minimize
from ..files import atomic_write, atomic_write_csv, atomic_write_text
from ..nn import MLP, get_loss
from ..training import fit_network
from . import nn_budget as nnb  # the teacher and spirals data
from . import nn_tasks as nnx  # the tasks and the lr grid
from .args import int_in, positive_float, pyplot, resolve, study_parser
from .baselines import CMA_INCPOPSIZE, CMA_RESTARTS, CMA_SIGMA_FRAC, Budgeted, adam, run_method
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "initial-spread"

#: QiML variants: keyword options added to the defaults (networks: passed through ``fit_network``). ``qiml``
#: is whatever the engine's default is (``search="auto"`` once the search modes exist); ``qiml_slices`` pins
#: the 1-D slices alone, the local search whose start dependence the walkers are meant to remove
QIML_MODES: dict[str, dict[str, Any]] = {"qiml": {}, "qiml_slices": {"search": "slices"},
                                         "qiml_ensemble": {"search": "walkers"}, "qiml_hybrid": {"search": "hybrid"}}
BASELINES = ("adam", "cma_ipop")
METHODS = (*QIML_MODES, *BASELINES)
SHORT = {"qiml": "QiML", "qiml_slices": "slices", "qiml_ensemble": "ensemble", "qiml_hybrid": "hybrid", "adam": "Adam",
         "cma_ipop": "CMA-ES"}   # plot ticks
LABELS = {"qiml": "QiML", "qiml_slices": "QiML slices", "qiml_ensemble": "QiML ensemble", "qiml_hybrid": "QiML hybrid",
          "adam": "Adam (tuned)", "cma_ipop": "IPOP-CMA-ES"}

START_SEED, TUNE_SEED = 0, 1   # generators of the main and the Adam-tuning starts
METHOD_SEED = 0                # every method's own seed, the same for every start
TUNE_STARTS = 3
QIML_ITERS = 1000              # the scikit-learn estimators' default budget (nn_budget's 1x)
NET_BOUND = 3.0                # fit_network's default box; CMA-ES gets the same
CMA_SIGMA_NET = 0.5            # nn_tasks.run_cma's step size for networks
BBOB_DIM, BBOB_INSTANCE, BBOB_BOX = 5, 1, 5.0
BBOB_BUDGET = 10**4            # evaluations per dimension
BBOB_TARGET = 1e-8             # COCO's final target: the run stops there


@dataclass(frozen=True)
class Problem:
    name: str
    label: str
    kind: str                 # "net" or "bbob"
    metric: str               # what the final loss is
    log: bool                 # spread read as a ratio (log scale) rather than a width
    task: str = ""            # nn_tasks task (networks)
    function: int = 0         # bbob function number
    solved: float | None = None   # a final loss at or below this counts as solved (reading aid)


PROBLEMS: dict[str, Problem] = {
    "teacher": Problem("teacher", "teacher-student 15-6-1 tanh", "net", "test MSE", True, task="teacher",
                       solved=1e-12),   # the teacher is in the model class: an exact fit reaches round-off
    "spirals": Problem("spirals", "two spirals 2-8-8-2 tanh", "net", "test error", False, task="spirals"),
    "f15": Problem("f15", "bbob f15 rotated Rastrigin, 5-D, instance 1", "bbob", "f - f_opt", True, function=15,
                   solved=BBOB_TARGET),
    "f21": Problem("f21", "bbob f21 Gallagher 101 peaks, 5-D, instance 1", "bbob", "f - f_opt", True, function=21,
                   solved=BBOB_TARGET),
}
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both); a smoke run
#: also shrinks the data and the budgets (a twentieth of QiML's iterations, 100 x D bbob evaluations) and tunes
#: Adam on 1 start
DEFAULTS: dict[str, Any] = {"starts": 20, "problems": tuple(PROBLEMS)}
SMOKE: dict[str, Any] = {"starts": 3}


# -- starting points and data -------------------------------------------------------------------------
def network(problem: Problem) -> MLP:
    task = nnx.TASKS[problem.task]
    return MLP(task.sizes, task.activation)


def start_point(problem: Problem, index: int, which: str = "main") -> np.ndarray:
    """Start ``index`` of a problem: one generator per (set, index), so a start never depends on ``--starts``."""
    rng = np.random.default_rng([START_SEED if which == "main" else TUNE_SEED, index])
    if problem.kind == "bbob":
        return rng.uniform(-BBOB_BOX, BBOB_BOX, BBOB_DIM)
    return network(problem).init(rng)


def net_data(problem: Problem, smoke: bool) -> dict[str, Any]:
    """nn_budget's split; regression targets standardised on the training half (as QiMLRegressor does)."""
    Xtr, ytr, Xte, yte = nnb.load(problem.task, smoke)
    if nnx.TASKS[problem.task].metric != "mse":
        return {"Xtr": Xtr, "ytr": ytr, "Xte": Xte, "yte": yte}
    mu, sd = float(ytr.mean()), float(ytr.std())
    return {"Xtr": Xtr, "ytr": (ytr - mu) / sd, "Xte": Xte, "yte": yte, "mu": mu, "sd": sd}


def evaluate(problem: Problem, net: MLP, theta: np.ndarray, d: dict[str, Any]) -> tuple[float, float]:
    """(test metric, train loss), by the same NumPy forward pass whatever trained the weights."""
    task = nnx.TASKS[problem.task]
    out_te, out_tr = net.forward(d["Xte"], theta), net.forward(d["Xtr"], theta)
    if task.metric == "mse":
        test = float(np.mean((out_te[:, 0] * d["sd"] + d["mu"] - d["yte"]) ** 2))
        return test, float(np.mean((out_tr[:, 0] - d["ytr"]) ** 2))
    return float(np.mean(out_te.argmax(axis=1) != d["yte"])), float(get_loss(task.loss)(out_tr, d["ytr"]).mean())


# -- methods ----------------------------------------------------------------------------------------
class _Stop(Exception):
    """Raised inside pycma when a wall-clock budget is spent."""


class _Timed:
    """Vectorised loss with a wall-clock deadline that keeps the best point seen (pycma's parallel_objective)."""

    def __init__(self, fun: Callable[[np.ndarray], np.ndarray], seconds: float) -> None:
        self.fun, self.deadline = fun, time.perf_counter() + seconds
        self.best_f, self.best_x, self.nfev = np.inf, None, 0

    def __call__(self, X: Any, *args: Any) -> list[float]:
        if time.perf_counter() >= self.deadline:
            raise _Stop
        X = np.asarray(X, dtype=float)
        F = np.asarray(self.fun(X), dtype=float)
        self.nfev += F.size
        i = int(np.argmin(F))
        if F[i] < self.best_f:
            self.best_f, self.best_x = float(F[i]), X[i].copy()
        return F.tolist()


def ipop(objective: Callable[..., list[float]], first: np.ndarray, restart: Callable[[], np.ndarray],
         sigma0: float, bounds: list[Any], maxfevals: int) -> None:
    """pycma IPOP (``baselines``' restarts and population doubling), the first run from ``first``."""
    import cma

    calls = itertools.count()

    def x0() -> np.ndarray:   # pycma calls it once per (re)start
        return first.copy() if next(calls) == 0 else restart()

    cma.fmin2(None, x0, sigma0, {"bounds": bounds, "maxfevals": maxfevals, "seed": METHOD_SEED + 1, "verbose": -9},
              restarts=CMA_RESTARTS, incpopsize=CMA_INCPOPSIZE, parallel_objective=objective)


def run_net(job: dict[str, Any], problem: Problem) -> dict[str, Any]:
    task, net = nnx.TASKS[problem.task], network(problem)
    d = net_data(problem, job["smoke"])
    theta0 = start_point(problem, job["start"], job["set"])
    if job["method"] == "adam":
        import torch  # noqa: F401  (imports before the clock starts: the first one takes seconds)
    elif job["method"] == "cma_ipop":
        import cma  # noqa: F401
    t0 = time.perf_counter()
    nfev, seconds = None, None
    if job["method"] in QIML_MODES:
        timed = job["budget"] is not None   # --budget: nn_tasks' equal wall clock
        res = fit_network(net, d["Xtr"], d["ytr"], task.loss, x0=theta0, seed=METHOD_SEED,
                          max_iter=None if timed else job["qiml_iters"], max_time=job["budget"],
                          max_evals=10**12 if timed else None, **job["options"])
        theta, nfev = res.x, int(res.nfev)
    elif job["method"] == "adam":
        res = adam(net, d["Xtr"], d["ytr"], loss=task.loss, lr=job["lr"], batch=task.adam_batch, seed=METHOD_SEED,
                   seconds=job["budget"], decay=job["schedule"] == "cosine", x0=theta0)
        theta, seconds = res.theta, res.seconds   # its own clock: torch's first-call setup is outside the budget
    elif job["method"] == "cma_ipop":
        lossf = get_loss(task.loss)
        y = d["ytr"][:, None] if task.metric == "mse" else d["ytr"]
        f = _Timed(lambda P: lossf(net.forward_rows(d["Xtr"], P), y).mean(axis=-1), job["budget"])
        rng = np.random.default_rng(METHOD_SEED)
        try:
            ipop(f, theta0, lambda: net.init(rng), CMA_SIGMA_NET, [-NET_BOUND, NET_BOUND], 10**12)
        except _Stop:
            pass
        # a budget spent before the first evaluation (pycma's set-up counts) leaves the start point
        theta, nfev = (theta0 if f.best_x is None else f.best_x), f.nfev
    else:
        raise KeyError(job["method"])
    seconds = time.perf_counter() - t0 if seconds is None else seconds
    test, train = evaluate(problem, net, theta, d)
    return {**job, "final": test, "train": train, "seconds": seconds, "nfev": nfev}


def run_bbob(job: dict[str, Any], problem: Problem) -> dict[str, Any]:
    import cocoex

    p = cocoex.BareProblem("bbob", problem.function, BBOB_DIM, BBOB_INSTANCE)
    f_opt = float(p.best_value())
    x0 = start_point(problem, job["start"], job["set"])
    box = [(-BBOB_BOX, BBOB_BOX)] * BBOB_DIM

    def fun(X: np.ndarray) -> np.ndarray:
        return np.array([p(x) for x in np.atleast_2d(X)])

    if job["method"] in QIML_MODES:
        def runner(f: Budgeted, lo: np.ndarray, hi: np.ndarray, seed: int) -> None:
            minimize(f, list(zip(lo.tolist(), hi.tolist(), strict=True)), x0=x0, vectorized=True,
                     max_evals=f.budget, seed=seed, **job["options"])
    elif job["method"] == "cma_ipop":
        def runner(f: Budgeted, lo: np.ndarray, hi: np.ndarray, seed: int) -> None:
            rng = np.random.default_rng(seed)
            ipop(lambda X, *args: f(np.asarray(X)).tolist(), x0, lambda: rng.uniform(lo, hi),
                 CMA_SIGMA_FRAC * float(np.max(hi - lo)), [lo.tolist(), hi.tolist()], f.budget)
    else:
        raise KeyError(f"{job['method']} does not run on bbob")
    t0 = time.perf_counter()
    b = run_method(job["method"], fun, box, job["evals"], METHOD_SEED, runner=runner, target=f_opt + BBOB_TARGET)
    return {**job, "final": b.best - f_opt, "train": None, "seconds": time.perf_counter() - t0, "nfev": b.nfev}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One (problem, method, start) run in a single-threaded worker; a JSON-able record."""
    problem = PROBLEMS[job["problem"]]
    return run_net(job, problem) if problem.kind == "net" else run_bbob(job, problem)


# -- the study --------------------------------------------------------------------------------------
def spread(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    p10, med, p90 = (float(x) for x in np.percentile(v, [10, 50, 90]))
    return {"median": med, "p10": p10, "p90": p90, "ratio": p90 / p10 if p10 > 0 else float("inf"),
            "width": p90 - p10, "min": float(v.min()), "max": float(v.max())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = study_parser(NAME, __doc__, smoke_help=f"tiny data and budgets, {SMOKE['starts']} starts, 1 tuning start")
    ap.add_argument("--starts", type=int_in(1), default=None,
                    help=f"starting points per problem (default {DEFAULTS['starts']})")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=None,
                    help="default: all")
    ap.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=None,
                    help=f"default: all ({' '.join(DEFAULTS['problems'])})")
    ap.add_argument("--budget", type=positive_float, default=None,
                    help="seconds per network run for every method (default: QiML max_iter=1000, the others "
                         "QiML's median time)")
    a = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    methods = list(a.methods or METHODS)
    a.out.mkdir(parents=True, exist_ok=True)
    meta = run_metadata(None if argv is None else ["python", "-m", "qiml.studies.initial_spread", *argv])
    # one BLAS thread, in this process too (--workers 1): with a threaded BLAS on shared cores pycma's
    # eigendecompositions run about 200x slower, and the network methods have wall-clock budgets
    runner: JobRunner[dict[str, Any]] = JobRunner(a.out / "runs.jsonl", a.workers)
    with runner:
        recs, settings = study(a, methods, runner)
    rows = summarise(a, methods, recs)
    write(a, rows, settings, meta)
    return {"rows": rows, "settings": settings, "meta": meta}


def study(a: argparse.Namespace, methods: list[str], runner: JobRunner[dict[str, Any]]
          ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Runs (or reads from the cache) every run; returns the main-start records and per-problem settings."""

    def run(jobs: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
        return runner.run(jobs, run_job, label=label)

    starts = range(a.starts)
    nets = [p for p in a.problems if PROBLEMS[p].kind == "net"]
    bbobs = [p for p in a.problems if PROBLEMS[p].kind == "bbob"]
    iters = QIML_ITERS // (20 if a.smoke else 1)         # smoke: a pipeline check (nn_budget's twentieth)
    evals = (100 if a.smoke else BBOB_BUDGET) * BBOB_DIM
    base = lambda p, m, s, which="main": {"problem": p, "method": m, "set": which, "start": s,  # noqa: E731
                                          "smoke": a.smoke}
    qiml_net = lambda p, m, s, seconds=None: {**base(p, m, s), "options": QIML_MODES[m],  # noqa: E731
                                              "qiml_iters": None if seconds else iters, "budget": seconds}
    # 1. what needs no measured budget: bbob, and on networks QiML's default at its iteration budget (whose
    #    wall time the other network methods get, so it runs even when "qiml" is not asked for) or, with
    #    --budget, every QiML mode at that many seconds
    first: list[dict[str, Any]] = []
    for p in nets:
        if a.budget:
            first += [qiml_net(p, m, s, a.budget) for m in QIML_MODES if m in methods for s in starts]
        else:
            first += [qiml_net(p, "qiml", s) for s in starts]
    for p in bbobs:
        for m in [m for m in methods if m != "adam"]:
            first += [{**base(p, m, s), "evals": evals, **({"options": QIML_MODES[m]} if m in QIML_MODES else {})}
                      for s in starts]
    recs = run(first, label="QiML (all problems), CMA-ES (bbob)")
    settings: dict[str, dict[str, Any]] = {p: {"evals": evals} for p in bbobs}
    # 2. the other network methods: the wall time of QiML's default fits (nn_budget's rule), unless --budget
    for p in nets:
        q = [r["seconds"] for r in recs if r["problem"] == p and r["method"] == "qiml"]
        seconds = a.budget or (max(round(float(np.median(q)), 3), 0.01) if q else None)   # run_adam needs one step
        settings[p] = {"seconds": seconds, "qiml_iters": None if a.budget else iters}
    tune = [{**base(p, "adam", s, "tune"), "lr": lr, "schedule": sched, "budget": settings[p]["seconds"]}
            for p in nets if "adam" in methods for sched in ("constant", "cosine") for lr in nnx.LRS
            for s in range(1 if a.smoke else TUNE_STARTS)]
    tuned = run(tune, label="Adam: lr and schedule on the tuning starts")
    for p in [p for p in nets if "adam" in methods]:
        grid: dict[tuple[float, str], list[float]] = {(r["lr"], r["schedule"]): [] for r in tuned
                                                      if r["problem"] == p}
        for r in tuned:
            if r["problem"] == p:
                grid[(r["lr"], r["schedule"])].append(r["final"])
        lr, sched = min(grid, key=lambda k: float(np.median(grid[k])))
        settings[p].update(lr=lr, schedule=sched)
    last: list[dict[str, Any]] = []
    for p in nets:
        if not a.budget:   # the other QiML modes: an "iteration" means different work in each
            last += [qiml_net(p, m, s, settings[p]["seconds"]) for m in QIML_MODES if m != "qiml" and m in methods
                     for s in starts]
        if "adam" in methods:
            last += [{**base(p, "adam", s), "lr": settings[p]["lr"], "schedule": settings[p]["schedule"],
                      "budget": settings[p]["seconds"]} for s in starts]
        if "cma_ipop" in methods:
            last += [{**base(p, "cma_ipop", s), "budget": settings[p]["seconds"]} for s in starts]
    recs += run(last, label="networks: QiML modes, Adam, CMA-ES at equal wall time")
    return [r for r in recs if r["method"] in methods], settings


def summarise(a: argparse.Namespace, methods: list[str], recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for p in a.problems:
        prob = PROBLEMS[p]
        for m in methods:
            r = [x for x in recs if x["problem"] == p and x["method"] == m]
            if not r:
                continue
            row = {"problem": p, "method": m, "metric": prob.metric, "starts": len(r),
                   **spread([x["final"] for x in r]),
                   "seconds": float(np.median([x["seconds"] for x in r])),
                   "solved": (sum(x["final"] <= prob.solved for x in r) if prob.solved is not None else None),
                   "values": [x["final"] for x in r]}
            if prob.kind == "net":
                tr = spread([x["train"] for x in r])
                row.update(train_median=tr["median"], train_p10=tr["p10"], train_p90=tr["p90"])
            rows.append(row)
    return rows


def fmt(v: float | None, prob: Problem) -> str:
    if v is None or not np.isfinite(v):
        return "-" if v is None else str(v)
    return f"{100 * v:.1f}%" if prob.metric == "test error" else f"{v:.3g}"


def reading(prob: Problem, rows: list[dict[str, Any]]) -> str:
    """A short, generated reading of one problem's table."""
    best = min(rows, key=lambda r: r["median"])
    if len(rows) == 1:
        r = rows[0]
        text = (f"{LABELS[r['method']]}: median {fmt(r['median'], prob)}, "
                + (f"p90/p10 = {r['ratio']:.3g}." if prob.log else f"p90 - p10 = {100 * r['width']:.1f} points."))
    elif prob.log:
        dec = {r["method"]: np.log10(r["ratio"]) if np.isfinite(r["ratio"]) else np.inf for r in rows}
        tight = min(rows, key=lambda r: dec[r["method"]])
        text = (f"Lowest median: {LABELS[best['method']]} ({fmt(best['median'], prob)}). Narrowest spread: "
                f"{LABELS[tight['method']]} (p90/p10 = {tight['ratio']:.3g}, {dec[tight['method']]:.2g} decades); "
                + ", ".join(f"{LABELS[r['method']]} {dec[r['method']]:.2g}" for r in rows if r is not tight)
                + " decades.")
    else:
        tight = min(rows, key=lambda r: r["width"])
        text = (f"Lowest median: {LABELS[best['method']]} ({fmt(best['median'], prob)}). Narrowest spread: "
                f"{LABELS[tight['method']]} (p90 - p10 = {100 * tight['width']:.1f} points); "
                + ", ".join(f"{LABELS[r['method']]} {100 * r['width']:.1f}" for r in rows if r is not tight)
                + " points.")
    same = [LABELS[r["method"]] for r in rows if r["min"] == r["max"] and r["starts"] > 1]
    if same:   # a method that ignores x0 has, with its seed fixed, no spread by construction
        text += (" Exactly the same final loss from every start: " + ", ".join(same)
                 + " (a result that does not depend on the start, its own seed being fixed"
                 + (", or a tie of error rates)." if prob.metric == "test error" else ")."))
    text += " Worst start: " + ", ".join(f"{LABELS[r['method']]} {fmt(r['max'], prob)}" for r in rows) + "."
    if prob.solved is not None:
        text += (f" At or below {prob.solved:g}: " + ", ".join(f"{LABELS[r['method']]} {r['solved']}/{r['starts']}"
                                                              for r in rows) + " starts.")
    return text


def write(a: argparse.Namespace, rows: list[dict[str, Any]], settings: dict[str, dict[str, Any]],
          meta: dict[str, Any]) -> None:
    cmd = "python -m qiml.studies.initial_spread" + (" --smoke" if a.smoke else "") + f" --starts {a.starts}" + (
        f" --budget {a.budget:g}" if a.budget else "") + " --problems " + " ".join(a.problems)
    md = ["# No dependence on the initial guess: final loss over starting points", "",
          f"`{cmd}` (or `qiml reproduce {NAME}`) — {a.starts} starts per problem, the same for every method; each "
          f"method's own seed fixed ({METHOD_SEED}); one single-threaded process per run, {a.workers} workers. "
          f"{environment_line(meta)}", ""]
    for p in a.problems:
        prob, r = PROBLEMS[p], [x for x in rows if x["problem"] == p]
        if not r:
            continue
        s = settings.get(p, {})
        if prob.kind == "net":
            if s.get("qiml_iters"):
                budget = (f"QiML (default) {s['qiml_iters']} iterations, every other method {s['seconds']:g} s "
                          "wall clock")
            else:
                budget = f"{s['seconds']:g} s wall clock for every method"
            budget += f"; Adam lr {s['lr']:g}, {s['schedule']}" if "lr" in s else ""
        else:
            budget = f"{s['evals']} evaluations ({s['evals'] // BBOB_DIM} x D), stop at f - f_opt <= {BBOB_TARGET:g}"
        md += [f"## {prob.label}", "", f"Final loss: {prob.metric}. Budget: {budget}.", "",
               f"| method | median | p10 | p90 | {'p90/p10' if prob.log else 'p90 - p10'} | worst |"
               + (" train loss median [p10, p90] |" if prob.kind == "net" else " solved |") + " s / run |",
               "|---|---|---|---|---|---|---|---|"]
        for x in r:
            sp = f"{x['ratio']:.3g}" if prob.log else f"{100 * x['width']:.1f} pts"
            extra = (f"{x['train_median']:.3g} [{x['train_p10']:.3g}, {x['train_p90']:.3g}]" if prob.kind == "net"
                     else f"{x['solved']}/{x['starts']}")
            md.append(f"| {LABELS[x['method']]} | {fmt(x['median'], prob)} | {fmt(x['p10'], prob)} | "
                      f"{fmt(x['p90'], prob)} | {sp} | {fmt(x['max'], prob)} | {extra} | {x['seconds']:.3g} |")
        md += ["", reading(prob, r), ""]
    md += ["## Settings", "",
           "Starts: networks `MLP.init` (Glorot-uniform) with `numpy.random.default_rng([0, i])`; bbob uniform in "
           "[-5, 5]^5 from the same generators. QiML: `fit_network(x0=start, seed=0, **mode)` / "
           "`minimize(x0=start, seed=0, **mode)`, default options plus the mode's: "
           + ", ".join(f"{LABELS[m]} `{QIML_MODES[m]}`" for m in QIML_MODES) + " (on teacher the output layer is "
           "solved by least squares, so only the start's hidden layers count). Adam: `qiml.studies.baselines.adam` "
           "from the start's weights, full batch, float64; lr and "
           f"schedule from the grid {list(nnx.LRS)} x (constant, cosine) by the best median test metric over "
           f"{1 if a.smoke else TUNE_STARTS} separate tuning starts (`default_rng([1, i])`). IPOP-CMA-ES: "
           f"`cma.fmin2(restarts={CMA_RESTARTS}, incpopsize={CMA_INCPOPSIZE})`, first run from the start, later "
           f"restarts from random points (generator seeded {METHOD_SEED}, the same for every start), pycma seed "
           f"{METHOD_SEED + 1}; networks sigma0 = {CMA_SIGMA_NET}, bounds [-{NET_BOUND:g}, {NET_BOUND:g}], the best "
           f"point seen is scored; bbob sigma0 = {CMA_SIGMA_FRAC} x range. Percentiles: NumPy's linear "
           "interpolation over the starts. Runs are cached in `runs.jsonl`; wall-clock budgets depend on the "
           "machine's speed at the time."]
    atomic_write_text(a.out / "spread.md", "\n".join(md) + "\n")
    keys = ["problem", "method", "metric", "starts", "median", "p10", "p90", "ratio", "width", "min", "max",
            "solved", "train_median", "train_p10", "train_p90", "seconds"]
    atomic_write_csv(a.out / "spread.csv", [{k: r[k] for k in keys if k in r} for r in rows], keys)
    plot(a, rows)
    print("\n".join(md))


def plot(a: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    plt = pyplot()
    probs = [p for p in a.problems if any(r["problem"] == p for r in rows)]
    fig, axes = plt.subplots(1, len(probs), figsize=(3.2 * len(probs), 3.4), squeeze=False)
    jitter = np.random.default_rng(0)
    for ax, p in zip(axes[0], probs, strict=True):
        prob, r = PROBLEMS[p], [x for x in rows if x["problem"] == p]
        vals = [np.asarray(x["values"], dtype=float) for x in r]
        if prob.log:   # an exact zero has no place on a log axis: draw it at the panel's smallest positive value
            pos = np.concatenate(vals)
            pos = pos[pos > 0]
            vals = [np.maximum(v, pos.min() if pos.size else 1.0) for v in vals]
        ax.boxplot(vals, positions=range(len(r)), widths=0.5, showfliers=False)
        for i, v in enumerate(vals):
            ax.plot(i + jitter.uniform(-0.15, 0.15, v.size), v, "o", ms=3, alpha=0.6, color=f"C{i}")
        ax.set_xticks(range(len(r)), [SHORT.get(x["method"], x["method"]) for x in r], fontsize=7, rotation=35)
        if prob.log:
            ax.set_yscale("log")
        ax.set_title(prob.label.replace(", instance 1", ""), fontsize=8)
        ax.set_ylabel(prob.metric)
    fig.suptitle(f"final loss over {a.starts} starts (the same for every method)", fontsize=9)
    fig.tight_layout()
    atomic_write(a.out / "spread.png", lambda fh: fig.savefig(fh, format="png", dpi=120))
    plt.close(fig)


if __name__ == "__main__":
    main()
