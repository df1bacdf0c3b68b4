"""Compare qiml with SciPy and pycma baselines on multimodal benchmarks at equal evaluation budgets.

    python benchmarks/compare_optimizers.py                      # full run (long)
    python benchmarks/compare_optimizers.py --dims 2 10 --seeds 3
    python benchmarks/compare_optimizers.py --smoke --out /tmp/smoke   # CI: < 30 s

Methods (``--methods``): qiml and the baselines of :mod:`qiml.reports.budget` (SciPy dual annealing and
differential evolution, pycma with IPOP restarts, random search), all seeded with the run's seed and
all run through its :class:`~qiml.reports.budget.Budgeted` wrapper, which counts evaluations, keeps the
best value seen and a best-so-far trace at log-spaced checkpoints, and stops a method once the budget is
spent, so no method gets more than the budget. The reported ``best_f`` is the wrapper's best value,
never the method's own result.

Problems: ``qiml.functions.Benchmark(function, dim, rotated, seed=s)``; a run succeeds when it ends
in the global basin (``Benchmark.in_basin``). Writes, under ``--out`` (default ``docs/benchmarks``):
``results.csv`` (one row per run; also the resume cache: finished runs are skipped on a rerun; qiml
rows are redone when the qiml source changes, every row when ``qiml/functions.py`` changes; ``--fresh``
starts over), ``traces.jsonl`` (best-so-far traces), ``summary.md``, ``summary.json``, ``success.png``
and ``convergence.png``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per worker process; parallelism is across runs

import argparse  # noqa: E402
import csv  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Iterable  # noqa: E402
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import qiml  # noqa: E402
from qiml.functions import BASE, Benchmark  # noqa: E402
from qiml.reports import budget  # noqa: E402

FUNCTIONS = tuple(BASE)
METHODS = tuple(budget.METHODS)
LABELS = budget.LABELS
DIMS = (2, 10, 30)
BASELINE_SETTINGS_REV = "2"   # bump when a baseline's settings change, so cached rows are redone
SMOKE = {"dims": [2], "seeds": 1, "budget_per_dim": 100}
COLUMNS = ["function", "dim", "rotated", "seed", "method", "budget", "best_f", "f_opt", "error", "in_basin",
           "seconds", "nfev", "f_seconds", "impl"]


# --------------------------------------------------------------------------------------------------
# one job = one (function, dim, rotated, seed, method, budget) run, in a worker process

Job = tuple[str, int, bool, int, str, int]


@lru_cache(maxsize=32)
def problem(function: str, dim: int, rotated: bool, seed: int) -> Benchmark:
    return Benchmark(function, dim, rotated, seed=seed)


def run_job(job: Job) -> dict[str, Any]:
    function, dim, rotated, seed, method, n_evals = job
    try:
        prob = problem(function, dim, rotated, seed)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cnt = budget.run_method(method, prob, prob.bounds, n_evals, seed)
        seconds = time.perf_counter() - t0
    except Exception:
        return {"job": job, "failed": traceback.format_exc()}
    row = {"function": function, "dim": dim, "rotated": rotated, "seed": seed, "method": method, "budget": n_evals,
           "best_f": cnt.best, "f_opt": prob.f_opt, "error": cnt.best - prob.f_opt,
           "in_basin": prob.in_basin(cnt.best), "seconds": seconds, "nfev": cnt.nfev, "f_seconds": cnt.f_seconds}
    return {"job": job, "row": row, "trace": {"evals": cnt.evals.tolist(), "best": cnt.trace.tolist()}}


# --------------------------------------------------------------------------------------------------
# versions, the resume cache


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except Exception:  # pragma: no cover - optional dependency missing
        return "missing"


def qiml_fingerprint() -> str:
    """qiml's version plus a hash of its source, so cached qiml rows are redone when the engine changes."""
    h = hashlib.sha1()
    root = Path(qiml.__file__).parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return f"{qiml.__version__}+{h.hexdigest()[:10]}"


def problems_fingerprint() -> str:
    """Hash of ``qiml/functions.py``: a change to the problems invalidates every cached run."""
    import qiml.functions
    return hashlib.sha1(Path(qiml.functions.__file__).read_bytes()).hexdigest()[:8]


def implementations() -> dict[str, str]:
    scipy_v, cma_v, np_v = _version("scipy"), _version("cma"), np.__version__
    tag = f"r{BASELINE_SETTINGS_REV}/p{problems_fingerprint()}"
    return {"qiml": qiml_fingerprint(), "dual_annealing": f"scipy-{scipy_v}/{tag}",
            "differential_evolution": f"scipy-{scipy_v}/{tag}", "cma_ipop": f"cma-{cma_v}/{tag}",
            "random": f"numpy-{np_v}/{tag}"}


def job_key(row: dict[str, Any]) -> Job:
    return (str(row["function"]), int(row["dim"]), _bool(row["rotated"]), int(row["seed"]), str(row["method"]),
            int(row["budget"]))


def _bool(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("true", "1", "yes")


def _parse_row(r: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(r)
    for k in ("dim", "seed", "budget", "nfev"):
        out[k] = int(r[k])
    for k in ("best_f", "f_opt", "error", "seconds", "f_seconds"):
        out[k] = float(r[k])
    out["rotated"], out["in_basin"] = _bool(r["rotated"]), _bool(r["in_basin"])
    return out


def load_cache(out: Path, impl: dict[str, str]) -> tuple[dict[Job, dict], dict[Job, dict]]:
    """Rows and traces of finished runs whose implementation is current; stale ones are dropped from disk."""
    rows: dict[Job, dict] = {}
    traces: dict[Job, dict] = {}
    res_path, tr_path = out / "results.csv", out / "traces.jsonl"
    stale = 0
    if res_path.exists():
        with open(res_path, newline="") as fh:
            for r in csv.DictReader(fh):
                try:
                    row = _parse_row(r)
                except (KeyError, ValueError, TypeError):
                    stale += 1
                    continue
                if impl.get(row["method"]) == row["impl"]:
                    rows[job_key(row)] = row
                else:
                    stale += 1
    if tr_path.exists():
        with open(tr_path) as fh:
            for line in fh:
                try:
                    t = json.loads(line)
                    key = job_key(t)
                except (ValueError, KeyError, TypeError):
                    continue
                if key in rows and t.get("impl") == rows[key]["impl"]:
                    traces[key] = t
    rows = {k: v for k, v in rows.items() if k in traces}   # a row without its trace is redone
    if stale or res_path.exists():  # rewrite without stale rows so the files stay consistent
        _rewrite(out, rows, traces)
    if stale:
        print(f"dropped {stale} cached run(s) from an older implementation or settings", flush=True)
    return rows, traces


def _rewrite(out: Path, rows: dict[Job, dict], traces: dict[Job, dict]) -> None:
    tmp = out / "results.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for k in sorted(rows):
            w.writerow({c: rows[k][c] for c in COLUMNS})
    tmp.replace(out / "results.csv")
    tmp = out / "traces.jsonl.tmp"
    with open(tmp, "w") as fh:
        for k in sorted(traces):
            fh.write(json.dumps(traces[k]) + "\n")
    tmp.replace(out / "traces.jsonl")


# --------------------------------------------------------------------------------------------------
# running the jobs with a progress display


class _Progress:
    """A Rich progress bar on a terminal; otherwise one plain line every few seconds (CI logs)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0, self.last = total, 0, time.perf_counter(), 0.0
        self.rich = None
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        console = Console(stderr=True)
        if console.is_terminal:
            self.rich = Progress(TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
                                 console=console)

    def __enter__(self) -> _Progress:
        if self.rich is not None:
            self.rich.start()
            self.task = self.rich.add_task("", total=self.total)
        return self

    def advance(self, text: str) -> None:
        self.done += 1
        if self.rich is not None:
            self.rich.update(self.task, advance=1, description=text)
            return
        now = time.perf_counter()
        if now - self.last >= 5.0 or self.done == self.total:
            self.last = now
            el = now - self.t0
            eta = el / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] {100 * self.done / self.total:5.1f}% elapsed {el:7.1f}s "
                  f"eta {eta:7.1f}s  last: {text}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self.rich is not None:
            self.rich.stop()


def run_jobs(jobs: list[Job], workers: int, out: Path, impl: dict[str, str], rows: dict[Job, dict],
             traces: dict[Job, dict]) -> list[dict]:
    """Run ``jobs`` in parallel, appending every finished run to the cache files as it arrives."""
    failures: list[dict] = []
    if not jobs:
        return failures
    res_path = out / "results.csv"
    new_file = not res_path.exists()
    # workers start on the first submit: before the progress bar's refresh thread (no fork with threads)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)))
    pending: set[Future] = {pool.submit(run_job, j) for j in jobs}
    with open(res_path, "a", newline="") as rfh, open(out / "traces.jsonl", "a") as tfh, _Progress(len(jobs)) as bar:
        w = csv.DictWriter(rfh, fieldnames=COLUMNS)
        if new_file:
            w.writeheader()
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    res = fut.result()
                    f, d, rot, s, m, _ = res["job"]
                    label = f"{m} {f} {d}-D {'rot' if rot else 'ali'} s{s}"
                    if "failed" in res:
                        failures.append(res)
                        print(f"\nFAILED {label}:\n{res['failed']}", file=sys.stderr, flush=True)
                        bar.advance(label + " FAILED")
                        continue
                    row = dict(res["row"], impl=impl[m])
                    key = job_key(row)
                    trace = {k: row[k] for k in ("function", "dim", "rotated", "seed", "method", "budget", "impl")}
                    trace.update(res["trace"])
                    tfh.write(json.dumps(trace) + "\n")   # trace first: a row without a trace is redone
                    tfh.flush()
                    w.writerow({c: row[c] for c in COLUMNS})
                    rfh.flush()
                    rows[key], traces[key] = row, trace
                    bar.advance(f"{label} {row['seconds']:.1f}s")
        except BaseException:  # Ctrl-C or a broken pool: keep what is written, drop the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return failures


# --------------------------------------------------------------------------------------------------
# summaries and plots


def _fmt_err(e: float) -> str:
    if not np.isfinite(e):
        return "inf"
    return "0" if e <= 0 else f"{e:.2g}"


def aggregate(rows: Iterable[dict], functions: list[str], dims: list[int], methods: list[str]) -> list[dict]:
    cells = []
    by: dict[tuple, list[dict]] = {}
    for r in rows:
        by.setdefault((r["dim"], r["function"], r["rotated"], r["method"]), []).append(r)
    for d in dims:
        for f in functions:
            for rot in (False, True):
                for m in methods:
                    sel = by.get((d, f, rot, m), [])
                    if not sel:
                        continue
                    err = np.array([r["error"] for r in sel])
                    cells.append({"dim": d, "function": f, "rotated": rot, "method": m, "runs": len(sel),
                                  "success_rate": float(np.mean([r["in_basin"] for r in sel])),
                                  "median_error": float(np.median(err)), "mean_error": float(np.mean(err)),
                                  "median_seconds": float(np.median([r["seconds"] for r in sel])),
                                  "mean_nfev": float(np.mean([r["nfev"] for r in sel]))})
    return cells


def timing_table(rows: list[dict], dims: list[int], methods: list[str]) -> list[dict]:
    out = []
    for d in dims:
        for m in methods:
            s = [r["seconds"] for r in rows if r["dim"] == d and r["method"] == m]
            fs = [r["f_seconds"] for r in rows if r["dim"] == d and r["method"] == m]
            if s:
                out.append({"dim": d, "method": m, "runs": len(s), "mean_seconds": float(np.mean(s)),
                            "median_seconds": float(np.median(s)), "max_seconds": float(np.max(s)),
                            "mean_objective_seconds": float(np.mean(fs))})
    return out


def evals_to_basin(traces: Iterable[dict]) -> dict[tuple, list[float]]:
    """Per (dim, function, rotated, method): for each run, the first checkpoint at which the best
    value is in the global basin (``inf`` if never), read from the log-spaced best-so-far traces."""
    out: dict[tuple, list[float]] = {}
    for t in traces:
        prob = problem(t["function"], t["dim"], t["rotated"], t["seed"])
        best = np.array(t["best"], dtype=float)
        hit = np.flatnonzero(best - prob.f_opt < prob.basin_tol)
        first = float(t["evals"][hit[0]]) if hit.size else np.inf
        out.setdefault((t["dim"], t["function"], t["rotated"], t["method"]), []).append(first)
    return out


def write_summary(out: Path, rows: list[dict], meta: dict, functions: list[str], dims: list[int],
                  methods: list[str], traces: list[dict]) -> None:
    cells = aggregate(rows, functions, dims, methods)
    timing = timing_table(rows, dims, methods)
    lookup = {(c["dim"], c["function"], c["rotated"], c["method"]): c for c in cells}
    v = meta["versions"]
    lines = ["# qiml versus baseline optimizers at equal evaluation budgets", "",
             f"- budget: {meta['budget_per_dim']} x D evaluations per run, the same for every method "
             "(enforced by a counting wrapper; best value seen within the budget)",
             f"- seeds: {meta['seeds']} per problem (seed s sets the problem's shift/rotation and the optimizer's RNG)",
             f"- functions: {', '.join(functions)}; dimensions: {', '.join(map(str, dims))}; axis-aligned and rotated",
             f"- versions: qiml {v['qiml']}, numpy {v['numpy']}, scipy {v['scipy']}, cma {v['cma']}, "
             f"Python {v['python']}",
             f"- machine: {meta['cpu_count']} CPUs ({meta['platform']}), {meta['workers']} worker processes; "
             f"date {meta['date']}",
             f"- command: `{meta['command']}`", "",
             "Cells: global-basin success rate over seeds (median final error f - f*). Bold: best success rate "
             "in the row. Success = the best value found lies in the global basin "
             "(`f - f* < basin_tol`, half the gap to the best other local minimum).", "",
             "Baselines: " + "; ".join(f"**{LABELS[m]}**: {meta['settings'][m]}" for m in methods), ""]
    for d in dims:
        if not any(c["dim"] == d for c in cells):
            continue
        lines += [f"## {d}-D (budget {meta['budget_per_dim'] * d} evaluations)", "",
                  "| function | " + " | ".join(LABELS[m] for m in methods) + " |",
                  "|---|" + "---|" * len(methods)]
        for f in functions:
            for rot in (False, True):
                row = [lookup.get((d, f, rot, m)) for m in methods]
                if not any(row):
                    continue
                best = max(c["success_rate"] for c in row if c)
                txt = []
                for c in row:
                    if c is None:
                        txt.append("-")
                        continue
                    sr = f"{c['success_rate']:.2f}"
                    if c["success_rate"] == best and best > 0:
                        sr = f"**{sr}**"
                    txt.append(f"{sr} ({_fmt_err(c['median_error'])})")
                lines.append(f"| {f} {'rotated' if rot else 'aligned'} | " + " | ".join(txt) + " |")
        means = []
        for m in methods:
            sel = [c["success_rate"] for c in cells if c["dim"] == d and c["method"] == m]
            means.append(f"{np.mean(sel):.2f}" if sel else "-")
        lines += ["| *mean success rate* | " + " | ".join(means) + " |", ""]
    hits = evals_to_basin(traces)
    lines += ["## Speed: median evaluations to reach the global basin", "",
              "Over all seeds, counting a run that never reaches the basin as infinitely slow, so a cell shows "
              "`-` when half the runs or more never reach it. Read from the best-so-far traces at "
              f"{meta['checkpoints']} log-spaced checkpoints (so within about 20 %). Bold: fastest in the row.", ""]
    for d in dims:
        lines += [f"### {d}-D", "", "| function | " + " | ".join(LABELS[m] for m in methods) + " |",
                  "|---|" + "---|" * len(methods)]
        for f in functions:
            for rot in (False, True):
                med = [float(np.median(hits[(d, f, rot, m)])) if (d, f, rot, m) in hits else np.inf
                       for m in methods]
                if not any((d, f, rot, m) in hits for m in methods):
                    continue
                fastest = min(med)
                txt = [("-" if not np.isfinite(v) else (f"**{v:.0f}**" if v == fastest else f"{v:.0f}"))
                       for v in med]
                lines.append(f"| {f} {'rotated' if rot else 'aligned'} | " + " | ".join(txt) + " |")
        lines.append("")
    lines += ["## Wall time per run (seconds; runs in parallel, one per worker process)", "",
              "| dim | " + " | ".join(LABELS[m] for m in methods) + " |", "|---|" + "---|" * len(methods)]
    tl = {(t["dim"], t["method"]): t for t in timing}
    for d in dims:
        if any((d, m) in tl for m in methods):
            lines.append(f"| {d} | " + " | ".join(
                f"{tl[(d, m)]['mean_seconds']:.2f}" if (d, m) in tl else "-" for m in methods) + " |")
    lines += ["", "Plots: `success.png` (success rate per function), `convergence.png` (median best error "
              "versus evaluations, with the interquartile range, on representative problems). "
              "Raw data: `results.csv`, `traces.jsonl`, `summary.json`.", ""]
    (out / "summary.md").write_text("\n".join(lines))
    (out / "summary.json").write_text(json.dumps({"meta": meta, "cells": cells, "timing": timing}, indent=1) + "\n")


def _colors(methods: list[str]) -> dict[str, Any]:
    import matplotlib.pyplot as plt
    cyc = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cyc[METHODS.index(m) % len(cyc)] for m in methods}


def plot_success(out: Path, rows: list[dict], functions: list[str], dims: list[int], methods: list[str]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cells = {(c["dim"], c["function"], c["rotated"], c["method"]): c["success_rate"]
             for c in aggregate(rows, functions, dims, methods)}
    dims = [d for d in dims if any(k[0] == d for k in cells)]
    if not dims:
        return
    colors = _colors(methods)
    fig, axes = plt.subplots(len(dims), 2, figsize=(12, 2.9 * len(dims) + 0.6), squeeze=False, sharey=True)
    x = np.arange(len(functions))
    w = 0.8 / len(methods)
    for i, d in enumerate(dims):
        for j, rot in enumerate((False, True)):
            ax = axes[i, j]
            for k, m in enumerate(methods):
                vals = [cells.get((d, f, rot, m), np.nan) for f in functions]
                ax.bar(x - 0.4 + w * (k + 0.5), vals, w, color=colors[m], label=LABELS[m])
            ax.set_xticks(x, [f.replace("_", "-") for f in functions], fontsize=8)
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{d}-D, {'rotated' if rot else 'axis-aligned'}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            if j == 0:
                ax.set_ylabel("success rate")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(methods), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    fig.savefig(out / "success.png", dpi=120)
    plt.close(fig)


REPRESENTATIVE = [("rastrigin", True), ("schwefel", False), ("ackley", True), ("griewank", True),
                  ("schwefel", True), ("styblinski_tang", True), ("rastrigin", False)]


def plot_convergence(out: Path, traces: list[dict], functions: list[str], dims: list[int],
                     methods: list[str], budget_per_dim: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if not traces:
        return
    d = max(dims)
    probs = [p for p in REPRESENTATIVE if p[0] in functions][:4]
    colors = _colors(methods)
    fig, axes = plt.subplots(1, len(probs), figsize=(4.2 * len(probs), 3.8), squeeze=False)
    for ax, (f, rot) in zip(axes[0], probs):
        sel = [t for t in traces if t["function"] == f and t["dim"] == d and t["rotated"] == rot]
        if not sel:
            ax.set_visible(False)
            continue
        fopt = problem(f, d, rot, 0).f_opt
        tol = problem(f, d, rot, 0).basin_tol
        top = 0.0
        for m in methods:
            tm = [t for t in sel if t["method"] == m]
            if not tm:
                continue
            ev = np.array(tm[0]["evals"])
            err = np.array([t["best"] for t in tm], dtype=float) - fopt
            err = np.maximum(err, 1e-10)
            med = np.median(err, axis=0)
            ax.plot(ev, med, color=colors[m], label=LABELS[m], lw=1.6)
            # y range from the first percent of the budget on: the first samples may pay the box penalty
            late = med[ev >= max(10, ev[-1] // 100)]
            top = max(top, float(late.max()) if late.size else float(med.max()))
            if len(tm) > 1:
                ax.fill_between(ev, *np.percentile(err, [25, 75], axis=0), color=colors[m], alpha=0.15, lw=0)
        ax.axhline(tol, color="k", ls=":", lw=1, label="basin tolerance")
        ax.set_xscale("log")
        ax.set_yscale("log")
        if top > 0:
            ax.set_ylim(top=3 * max(top, tol))
        ax.set_xlabel("evaluations")
        ax.set_title(f"{f} {d}-D {'rotated' if rot else 'aligned'} ({len(sel) // max(1, len(methods))} seeds)",
                     fontsize=10)
        ax.grid(alpha=0.3, which="both", lw=0.4)
    axes[0, 0].set_ylabel("best error f - f* (median, IQR)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(out / "convergence.png", dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:2]))
    ap.add_argument("--dims", type=int, nargs="+", default=None, help=f"dimensions (default {list(DIMS)})")
    ap.add_argument("--functions", nargs="+", choices=FUNCTIONS, default=list(FUNCTIONS), metavar="F",
                    help=f"functions (default all: {', '.join(FUNCTIONS)})")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds, 0..N-1 (default 10)")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="M",
                    help=f"methods (default all: {', '.join(METHODS)})")
    ap.add_argument("--budget-per-dim", type=int, default=None, help="evaluations per dimension (default 2000)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default docs/benchmarks, or docs/benchmarks/smoke with --smoke)")
    ap.add_argument("--smoke", action="store_true",
                    help=f"tiny CI run: {SMOKE['budget_per_dim']} x D evaluations, 1 seed, 2-D only (unless given)")
    ap.add_argument("--fresh", action="store_true", help="ignore and overwrite cached results in --out")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    defaults = SMOKE if args.smoke else {"dims": list(DIMS), "seeds": 10, "budget_per_dim": 2000}
    dims = sorted(set(args.dims if args.dims is not None else defaults["dims"]))
    n_seeds = args.seeds if args.seeds is not None else defaults["seeds"]
    bpd = args.budget_per_dim if args.budget_per_dim is not None else defaults["budget_per_dim"]
    out = args.out if args.out is not None else Path("docs/benchmarks/smoke" if args.smoke else "docs/benchmarks")
    if min(dims) < 1 or n_seeds < 1 or bpd < 1 or args.workers < 1:
        raise SystemExit("--dims, --seeds, --budget-per-dim and --workers must be positive")
    functions = [f for f in FUNCTIONS if f in args.functions]
    methods = [m for m in METHODS if m in args.methods]
    seeds = list(range(n_seeds))
    out.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for name in ("results.csv", "traces.jsonl"):
            (out / name).unlink(missing_ok=True)

    impl = implementations()
    rows, traces = load_cache(out, impl)
    # largest problems first (better load balance); a problem's methods together (problem cache hits)
    wanted: list[Job] = [(f, d, rot, s, m, bpd * d) for d in sorted(dims, reverse=True) for f in functions
                         for rot in (False, True) for s in seeds for m in methods]
    todo = [j for j in wanted if j not in rows]
    print(f"{len(wanted)} runs wanted, {len(wanted) - len(todo)} cached, {len(todo)} to run on "
          f"{min(args.workers, max(1, len(todo)))} worker(s); output in {out}", flush=True)
    t0 = time.perf_counter()
    failures = run_jobs(todo, args.workers, out, impl, rows, traces)
    wall = time.perf_counter() - t0

    sel_rows = [rows[j] for j in wanted if j in rows]
    sel_traces = [traces[j] for j in wanted if j in traces]
    meta = {
        "budget_per_dim": bpd, "seeds": n_seeds, "functions": functions, "dims": dims, "methods": methods,
        "runs": len(sel_rows), "runs_wanted": len(wanted), "failed": len(failures),
        "versions": {"qiml": impl["qiml"], "numpy": np.__version__, "scipy": _version("scipy"),
                     "cma": _version("cma"), "python": platform.python_version()},
        "cpu_count": os.cpu_count(), "workers": args.workers, "platform": f"{platform.system()} {platform.machine()}",
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "command": "python benchmarks/compare_optimizers.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "wall_seconds_this_invocation": wall, "settings": budget.SETTINGS, "checkpoints": budget.N_CHECKPOINTS,
    }
    write_summary(out, sel_rows, meta, functions, dims, methods, sel_traces)
    if not args.no_plots:
        plot_success(out, sel_rows, functions, dims, methods)
        plot_convergence(out, sel_traces, functions, dims, methods, bpd)

    timing = timing_table(sel_rows, dims, methods)
    print(f"\n{len(todo) - len(failures)} runs in {wall:.1f} s wall on {args.workers} worker(s); "
          f"summary in {out / 'summary.md'}")
    print("mean wall seconds per run: " + "; ".join(
        f"{t['dim']}-D {t['method']} {t['mean_seconds']:.2f}" for t in timing))
    if failures:
        print(f"{len(failures)} run(s) FAILED (not cached; rerun to retry)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
