"""Which solver to choose: quality against evaluations and wall time for every solver.

    python -m qiml.studies.solvers                  # full run (about 20 min on 2 cores): docs/results/solvers
    python -m qiml.studies.solvers --smoke          # CI smoke run: tiny budgets, into a scratch folder
    qiml reproduce solvers                          # the full run, with meta.json and log.txt

Every solver (``--solvers``; default: finite differences, signed particles, mesoscopic lattice and
mesoscopic walkers, each with its default settings) runs inside the same engine with the same
options and seeds, on axis slices alone (``SLICES``: under the default search the walker ensemble,
which does no solver work, takes over after the first stall and the solvers look alike), on

- the black-box benchmarks of the engine issue (``qiml.functions.Benchmark``: Rastrigin, Schwefel,
  Ackley, Griewank, Styblinski–Tang, ``--functions``; 2-D and 10-D, ``--dims``; ``--budget-per-dim`` evaluations
  per dimension):
  the share of runs in the global basin and the median error after 10 %, 30 % and 100 % of the
  budget, the wall time per run and the engine + solver time per iteration (wall time minus the
  time inside the objective);
- the tiny-network tasks of the neural-network issue (teacher-student 15-6-1, two spirals
  2-8-8-2) at an equal wall-clock budget per run (``--net-budget`` seconds), via
  ``qiml.training.fit_network``: the median test metric and the sweeps done;
- one long run per solver (Rastrigin 10-D, ``--long-iters`` iterations) under ``tracemalloc``: the
  peak memory traced after 10 %, 50 % and 100 % of the iterations, to show it stays bounded.

Runs are single-threaded (BLAS pinned to one thread) and spread over ``--workers`` processes;
finished runs are cached in ``runs.jsonl`` under ``--out`` (default ``docs/results/solvers``; a scratch
folder with ``--smoke``), so an interrupted run resumes. Writes ``summary.md``, ``summary.json`` and
``solvers.png``, and the Markdown tables as CSV: ``summary.csv`` (black-box, per solver and dimension),
``per_function.csv``, ``nets.csv`` and ``memory.csv``.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from ..engine import minimize
from ..files import atomic_write_csv, atomic_write_text
from ..functions import Benchmark
from ..nn import MLP
from ..solvers import VARIANTS
from ..training import AXIS_NETWORK_OPTIONS, fit_network
from .args import check_run_budget, int_in, positive_float, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "solvers"
SOLVERS: dict[str, dict[str, Any]] = dict(VARIANTS)
#: the solvers are compared where they act, inside axis slices alone: the default search's walker
#: generations do no solver work, so under it every solver looks alike (the networks' options pin the same)
SLICES: dict[str, Any] = {"search": "slices", "directions": "axes"}
FUNCTIONS = ("rastrigin", "schwefel", "ackley", "griewank", "styblinski_tang")
FRACTIONS = (0.1, 0.3, 1.0)
NETS = {"teacher": ((15, 6, 1), "mse"), "spirals": ((2, 8, 8, 2), "cross_entropy")}
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both)
DEFAULTS: dict[str, Any] = {"solvers": list(SOLVERS), "seeds": 3, "budget_per_dim": 1000, "net_budget": 10.0,
                            "long_iters": 1500, "dims": [2, 10], "functions": list(FUNCTIONS)}
SMOKE: dict[str, Any] = {"seeds": 1, "budget_per_dim": 150, "net_budget": 0.5, "long_iters": 20, "dims": [2],
                         "functions": ["rastrigin", "ackley"]}


# -- one run -----------------------------------------------------------------------------------------
def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run in a worker process: the job's fields and its results (a JSON-able record)."""
    return {**job, **_run(job)}


def _run(job: dict[str, Any]) -> dict[str, Any]:
    settings = SOLVERS[job["solver"]]
    t0 = time.perf_counter()
    if job["kind"] == "function":
        prob = Benchmark(job["function"], job["dim"], seed=job["seed"])
        budget = job["budget"]
        res = minimize(prob, prob.bounds, vectorized=True, max_evals=budget, seed=job["seed"], **SLICES, **settings)
        wall = time.perf_counter() - t0
        hist = np.asarray(res.history, dtype=float).reshape(-1, 2)
        errors = []
        for frac in FRACTIONS:
            seen = hist[hist[:, 0] <= frac * budget, 1]
            errors.append(float(seen.min() - prob.f_opt) if seen.size else float("inf"))
        return {"errors": errors, "in_basin": [bool(e < prob.basin_tol) for e in errors], "seconds": wall,
                "overhead_ms_per_iter": 1e3 * (wall - res.objective_seconds) / max(1, res.nit), "nfev": res.nfev}
    if job["kind"] == "net":
        sizes, loss = NETS[job["task"]]
        Xtr, ytr, Xte, yte = load_net_task(job["task"])
        net = MLP(sizes, "tanh")
        # the axis options its table was made with (solver variants are compared on axis slices)
        res = fit_network(net, Xtr, ytr, loss, seed=job["seed"], max_time=job["budget"], max_evals=10**12,
                          output="params", **{**AXIS_NETWORK_OPTIONS, **settings})
        out = net.forward(Xte, res.x)
        metric = float(np.mean((out[:, 0] - yte) ** 2)) if loss == "mse" else float(np.mean(out.argmax(1) != yte))
        nx = {**AXIS_NETWORK_OPTIONS, **settings}.get("nx", 64)
        return {"test": metric, "sweeps": res.nfev / (net.n_params * (nx + 1)), "seconds": time.perf_counter() - t0}
    if job["kind"] == "memory":
        prob = Benchmark("rastrigin", 10, seed=0)
        iters = job["iters"]
        marks = {max(1, round(f * iters)) for f in (0.1, 0.5, 1.0)}
        peaks: list[float] = []
        done = 0

        def watch(_res: Any) -> None:
            nonlocal done
            done += 1
            if done in marks:
                peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)

        tracemalloc.start()
        minimize(prob, prob.bounds, vectorized=True, max_iter=iters, seed=0, refine=0.0, callback=watch,
                 **SLICES, **settings)
        tracemalloc.stop()
        return {"peak_mib": peaks, "seconds": time.perf_counter() - t0}
    raise KeyError(job["kind"])


def load_net_task(task: str) -> tuple[np.ndarray, ...]:
    """The same fixed splits as :mod:`qiml.studies.nn_tasks`."""
    if task == "teacher":
        X, y, _ = datasets.make_teacher_student(4000, seed=1)
        h = X.shape[0] // 2
        return X[:h], y[:h], X[h:], y[h:]
    X, y = datasets.make_spirals(1000, noise=0.02, seed=1)
    train = np.arange(X.shape[0]) % 4 < 2
    return X[train], y[train], X[~train], y[~train]


# -- orchestration ---------------------------------------------------------------------------------------
def _cost(job: dict[str, Any]) -> float:
    """The slowest runs first (memory, then networks, then the higher dimensions), so the pool is not left
    waiting on one long run at the end."""
    return {"memory": 1e6, "net": 1e3}.get(job["kind"], job.get("dim", 0))


def run_all(jobs: list[dict[str, Any]], out: Path, workers: int, progress: bool = True) -> list[dict[str, Any]]:
    """Run the jobs not in ``out/runs.jsonl`` yet (appending each as it finishes); return every record.

    A job is named by all its fields (:func:`qiml.studies.runner.job_key`), as in the runs of earlier versions."""
    with JobRunner[dict[str, Any]](out / "runs.jsonl", workers, progress=progress) as runner:
        return runner.run(jobs, run_job, label="solver runs", cost=_cost)


# -- report ------------------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.2g}" if abs(v) < 1e3 else f"{v:.1e}"


def summarise(recs: list[dict[str, Any]], solvers: list[str], functions: list[str], dims: list[int]
              ) -> dict[str, Any]:
    fun = [r for r in recs if r["kind"] == "function"]
    table, per_function = [], []
    for s in solvers:
        for d in dims:
            rs = [r for r in fun if r["solver"] == s and r["dim"] == d]
            if not rs:
                continue
            table.append({
                "solver": s, "dim": d, "runs": len(rs),
                "in_basin": [float(np.mean([r["in_basin"][i] for r in rs])) for i in range(len(FRACTIONS))],
                "median_seconds": float(np.median([r["seconds"] for r in rs])),
                "overhead_ms_per_iter": float(np.median([r["overhead_ms_per_iter"] for r in rs])),
            })
            for f in functions:
                fr = [r for r in rs if r["function"] == f]
                per_function.append({"solver": s, "dim": d, "function": f,
                                     "median_error": [float(np.median([r["errors"][i] for r in fr]))
                                                      for i in range(len(FRACTIONS))]})
    nets = []
    for task in NETS:
        for s in solvers:
            rs = [r for r in recs if r["kind"] == "net" and r["task"] == task and r["solver"] == s]
            if rs:
                nets.append({"task": task, "solver": s, "test": float(np.median([r["test"] for r in rs])),
                             "sweeps": float(np.median([r["sweeps"] for r in rs])), "runs": len(rs)})
    memory = [{"solver": r["solver"], "iters": r["iters"], "peak_mib": r["peak_mib"], "seconds": r["seconds"]}
              for r in recs if r["kind"] == "memory"]
    return {"functions": table, "per_function": per_function, "nets": nets, "memory": memory}


def write_markdown(out: Path, summary: dict[str, Any], meta: dict[str, Any]) -> None:
    pct = lambda v: f"{100 * v:.0f}%"  # noqa: E731
    md = ["# Solvers compared inside the engine", "",
          f"Command: `{meta['command']}`. {meta['seeds']} seeds, axis slices alone (`{SLICES}`; the networks: "
          f"`AXIS_NETWORK_OPTIONS`), otherwise default engine options, each solver with its "
          f"default settings; black-box budget {meta['budget_per_dim']} x D evaluations, network budget "
          f"{meta['net_budget']} s per run. {environment_line(meta)}", "",
          "## Black-box benchmarks: share of runs in the global basin after 10 % / 30 % / 100 % of the budget", "",
          "| solver | D | in basin @10% | @30% | @100% | median s per run | engine+solver ms per iteration |",
          "|---|---|---|---|---|---|---|"]
    for r in summary["functions"]:
        b = r["in_basin"]
        md.append(f"| {r['solver']} | {r['dim']} | {pct(b[0])} | {pct(b[1])} | {pct(b[2])} | "
                  f"{r['median_seconds']:.2f} | {r['overhead_ms_per_iter']:.2f} |")
    md += ["", "Median error f - f* after 10 % / 30 % / 100 % of the budget:", "",
           "| function | D | " + " | ".join(meta["solvers"]) + " |", "|---|---|" + "---|" * len(meta["solvers"])]
    keys = sorted({(r["function"], r["dim"]) for r in summary["per_function"]}, key=lambda k: (k[1], k[0]))
    for f, d in keys:
        cells = []
        for s in meta["solvers"]:
            m = [r for r in summary["per_function"] if (r["function"], r["dim"], r["solver"]) == (f, d, s)]
            cells.append(" / ".join(_fmt(e) for e in m[0]["median_error"]) if m else "")
        md.append(f"| {f} | {d} | " + " | ".join(cells) + " |")
    if summary["nets"]:
        md += ["", f"## Tiny networks at {meta['net_budget']} s per run (median test metric; sweeps done)", "",
               "| task | " + " | ".join(meta["solvers"]) + " |", "|---|" + "---|" * len(meta["solvers"])]
        for task in NETS:
            cells = []
            for s in meta["solvers"]:
                m = [r for r in summary["nets"] if (r["task"], r["solver"]) == (task, s)]
                metric = "test MSE" if NETS[task][1] == "mse" else "test error"
                cells.append(f"{_fmt(m[0]['test'])} ({m[0]['sweeps']:.1f} sweeps)" if m else "")
            md.append(f"| {task} ({metric}) | " + " | ".join(cells) + " |")
    if summary["memory"]:
        md += ["", "## Memory over a long run (Rastrigin 10-D, tracemalloc peak after 10 % / 50 % / 100 %)", "",
               "| solver | iterations | peak MiB | seconds |", "|---|---|---|---|"]
        for r in summary["memory"]:
            md.append(f"| {r['solver']} | {r['iters']} | {' / '.join(f'{p:.1f}' for p in r['peak_mib'])} | "
                      f"{r['seconds']:.1f} |")
    atomic_write_text(out / "summary.md", "\n".join(md) + "\n")


def write_csv(out: Path, summary: dict[str, Any]) -> None:
    """The Markdown tables as CSV, one file per table (fractions of the budget as columns)."""
    pcts = [f"{100 * f:.0f}" for f in FRACTIONS]
    tables = {
        "summary.csv": (["solver", "dim", "runs", *(f"in_basin_at_{p}pct" for p in pcts), "median_seconds",
                         "overhead_ms_per_iter"],
                        [[r["solver"], r["dim"], r["runs"], *r["in_basin"], r["median_seconds"],
                          r["overhead_ms_per_iter"]] for r in summary["functions"]]),
        "per_function.csv": (["solver", "dim", "function", *(f"median_error_at_{p}pct" for p in pcts)],
                             [[r["solver"], r["dim"], r["function"], *r["median_error"]]
                              for r in summary["per_function"]]),
        "nets.csv": (["task", "solver", "metric", "median_test", "median_sweeps", "runs"],
                     [[r["task"], r["solver"], "test_mse" if NETS[r["task"]][1] == "mse" else "test_error",
                       r["test"], r["sweeps"], r["runs"]] for r in summary["nets"]]),
        "memory.csv": (["solver", "iters", *(f"peak_mib_at_{p}pct" for p in ("10", "50", "100")), "seconds"],
                       [[r["solver"], r["iters"], *(list(r["peak_mib"]) + [""] * 3)[:3], r["seconds"]]
                        for r in summary["memory"]]),
    }
    for name, (header, rows) in tables.items():
        atomic_write_csv(out / name, [dict(zip(header, row, strict=True)) for row in rows], header)


def plot(out: Path, recs: list[dict[str, Any]], summary: dict[str, Any], solvers: list[str], dims: list[int]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(dims) + 1, figsize=(4.5 * (len(dims) + 1), 3.6))
    for ax, d in zip(axes, dims, strict=False):
        for s in solvers:
            m = [r for r in summary["functions"] if (r["solver"], r["dim"]) == (s, d)]
            if m:
                ax.plot([100 * f for f in FRACTIONS], [100 * v for v in m[0]["in_basin"]], marker="o", label=s)
        ax.set(title=f"black-box, {d}-D", xlabel="% of the evaluation budget", ylabel="% of runs in the global basin",
               ylim=(-5, 105))
        ax.legend(fontsize=7)
    ax = axes[-1]
    xs = np.arange(len(NETS))
    width = 0.8 / max(1, len(solvers))
    for i, s in enumerate(solvers):
        vals = []
        for task in NETS:
            m = [r for r in summary["nets"] if (r["task"], r["solver"]) == (task, s)]
            ref = [r["test"] for r in summary["nets"] if r["task"] == task and r["solver"] == solvers[0]]
            vals.append(m[0]["test"] / ref[0] if m and ref and ref[0] > 0 else np.nan)
        ax.bar(xs + i * width, vals, width, label=s)
    ax.set_xticks(xs + 0.4 - width / 2, list(NETS))
    ax.set(title=f"tiny networks: test metric / {solvers[0]}'s", ylabel="ratio (lower is better)", yscale="log")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "solvers.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = study_parser(NAME, __doc__, smoke_help=f"{SMOKE['seeds']} seed, {SMOKE['budget_per_dim']} x D evaluations, "
                      f"{SMOKE['net_budget']} s per network, {SMOKE['long_iters']} memory iterations, "
                      f"{', '.join(map(str, SMOKE['dims']))}-D {' and '.join(SMOKE['functions'])}")
    ap.add_argument("--solvers", nargs="+", default=None, choices=list(SOLVERS), help="solvers (default all)")
    ap.add_argument("--seeds", type=int_in(1), default=None, help=f"seeds 0 .. N-1 (default {DEFAULTS['seeds']})")
    ap.add_argument("--budget-per-dim", type=int_in(1), default=None,
                    help=f"black-box evaluations per dimension (default {DEFAULTS['budget_per_dim']})")
    ap.add_argument("--net-budget", type=positive_float, default=None,
                    help=f"seconds per network run (default {DEFAULTS['net_budget']:g})")
    ap.add_argument("--long-iters", type=int_in(1), default=None,
                    help=f"iterations of the memory run (default {DEFAULTS['long_iters']})")
    ap.add_argument("--dims", type=int_in(1), nargs="+", default=None,
                    help=f"black-box dimensions (default {' '.join(map(str, DEFAULTS['dims']))})")
    ap.add_argument("--functions", nargs="+", default=None, choices=FUNCTIONS, metavar="F",
                    help=f"black-box functions (default all: {', '.join(FUNCTIONS)})")
    a = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    out, dims, functions = a.out, a.dims, a.functions
    check_run_budget(ap, "--budget-per-dim", a.budget_per_dim, a.budget_per_dim * min(dims), where=f" at {min(dims)}-D")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [{"kind": "function", "solver": s, "function": f, "dim": d, "seed": seed, "budget": a.budget_per_dim * d}
            for s in a.solvers for f in functions for d in dims for seed in range(a.seeds)]
    jobs += [{"kind": "net", "solver": s, "task": t, "seed": seed, "budget": a.net_budget}
             for s in a.solvers for t in NETS for seed in range(a.seeds)]
    jobs += [{"kind": "memory", "solver": s, "iters": a.long_iters} for s in a.solvers]
    recs = run_all(jobs, out, a.workers)
    summary = summarise(recs, a.solvers, functions, dims)
    meta = run_metadata(["python -m qiml.studies.solvers", *(sys.argv[1:] if argv is None else argv)],
                        seeds=a.seeds, budget_per_dim=a.budget_per_dim, net_budget=a.net_budget,
                        long_iters=a.long_iters, solvers=a.solvers, workers=a.workers, smoke=a.smoke)
    write_markdown(out, summary, meta)
    write_csv(out, summary)
    atomic_write_text(out / "summary.json", json.dumps({"meta": meta, **summary}, indent=1))
    plot(out, recs, summary, a.solvers, dims)
    return {"meta": meta, **summary}


if __name__ == "__main__":
    main()
