"""Compare qiml with SciPy and pycma baselines on multimodal benchmarks at equal evaluation budgets.

    python -m qiml.studies.optimizers                      # full run (long): docs/results/optimizers
    python -m qiml.studies.optimizers --dims 2 10 --seeds 3
    python -m qiml.studies.optimizers --smoke              # CI: < 30 s, into a scratch folder
    qiml reproduce optimizers                              # the full run, with meta.json and log.txt

Methods (``--methods``): qiml and the baselines of :mod:`qiml.studies.baselines` (SciPy dual annealing and
differential evolution, pycma with IPOP restarts, random search), all seeded with the run's seed and
all run through its :class:`~qiml.studies.baselines.Budgeted` wrapper, which counts evaluations, keeps the
best value seen and a best-so-far trace at log-spaced checkpoints, and stops a method once the budget is
spent, so no method gets more than the budget. The reported ``best_f`` is the wrapper's best value,
never the method's own result.

Problems: ``qiml.functions.Benchmark(function, dim, rotated, seed=s)``; a run succeeds when it ends
in the global basin (``Benchmark.in_basin``). Writes, under ``--out`` (default ``docs/results/optimizers``,
a scratch folder with ``--smoke``): ``runs.jsonl`` (one record per finished run, the resume cache: a
rerun skips finished runs; a run's key holds its implementation, so qiml runs are redone when the engine's
source changes, every run when ``qiml/functions.py`` or the baselines' settings change; ``--fresh``
starts over), and, derived from the records after the run, ``results.csv`` (one row per run),
``traces.jsonl`` (best-so-far traces), ``summary.md``, ``summary.json``, ``success.png`` and
``convergence.png``. A folder from before ``runs.jsonl`` (``results.csv`` and ``traces.jsonl`` only) is
read once into ``runs.jsonl``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
import traceback
import warnings
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .. import __file__ as _qiml_init
from .._version import __version__
from ..files import atomic_write_csv, atomic_write_text
from ..functions import BASE, Benchmark
from . import baselines
from .args import check_run_budget, int_in, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata, versions
from .runner import JobRunner, job_key

NAME = "optimizers"
FUNCTIONS = tuple(BASE)
METHODS = tuple(baselines.METHODS)
LABELS = baselines.LABELS
BASELINE_SETTINGS_REV = "2"   # bump when a baseline's settings change, so cached runs are redone
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both)
DEFAULTS: dict[str, Any] = {"dims": [2, 10, 30], "seeds": 10, "budget_per_dim": 2000, "functions": list(FUNCTIONS),
                            "methods": list(METHODS)}
SMOKE: dict[str, Any] = {"dims": [2], "seeds": 1, "budget_per_dim": 100}
COLUMNS = ["function", "dim", "rotated", "seed", "method", "budget", "best_f", "f_opt", "error", "in_basin",
           "seconds", "nfev", "f_seconds", "impl"]
JOB_FIELDS = ("function", "dim", "rotated", "seed", "method", "budget", "impl")


# --------------------------------------------------------------------------------------------------
# one job = one (function, dim, rotated, seed, method, budget) run of one implementation, in a worker

Job = dict[str, Any]


@lru_cache(maxsize=32)
def problem(function: str, dim: int, rotated: bool, seed: int) -> Benchmark:
    return Benchmark(function, dim, rotated, seed=seed)


def run_job(job: Job) -> dict[str, Any]:
    """One run: the results row (``COLUMNS``) plus its best-so-far trace (``evals``, ``best``); a run that
    raised gives ``{"failed": traceback}`` (redone on the next invocation)."""
    function, dim, rotated, seed, method, n_evals = (job[k] for k in JOB_FIELDS[:-1])
    try:
        prob = problem(function, dim, rotated, seed)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cnt = baselines.run_method(method, prob, prob.bounds, n_evals, seed)
        seconds = time.perf_counter() - t0
    except Exception:
        return {**job, "failed": traceback.format_exc()}
    return {**job, "best_f": cnt.best, "f_opt": prob.f_opt, "error": cnt.best - prob.f_opt,
            "in_basin": prob.in_basin(cnt.best), "seconds": seconds, "nfev": cnt.nfev, "f_seconds": cnt.f_seconds,
            "evals": cnt.evals.tolist(), "best": cnt.trace.tolist()}


# --------------------------------------------------------------------------------------------------
# implementations (part of every job), the records and the files derived from them


def qiml_fingerprint() -> str:
    """qiml's version plus a hash of its source, so cached qiml runs are redone when the engine changes.

    The studies themselves (``qiml/studies/``) are left out, except the baselines' harness that runs qiml."""
    h = hashlib.sha1()
    root = Path(_qiml_init).parent
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if rel.parts[0] == "studies" and rel.name != "baselines.py":
            continue
        h.update(str(rel).encode())
        h.update(p.read_bytes())
    return f"{__version__}+{h.hexdigest()[:10]}"


def problems_fingerprint() -> str:
    """Hash of ``qiml/functions.py``: a change to the problems invalidates every cached run."""
    return hashlib.sha1((Path(_qiml_init).parent / "functions.py").read_bytes()).hexdigest()[:8]


def implementations() -> dict[str, str]:
    v = versions()
    tag = f"r{BASELINE_SETTINGS_REV}/p{problems_fingerprint()}"
    return {"qiml": qiml_fingerprint(), "dual_annealing": f"scipy-{v['scipy']}/{tag}",
            "differential_evolution": f"scipy-{v['scipy']}/{tag}", "cma_ipop": f"cma-{v['cma']}/{tag}",
            "random": f"numpy-{v['numpy']}/{tag}"}


def make_job(function: str, dim: int, rotated: bool, seed: int, method: str, n_evals: int,
             impl: dict[str, str]) -> Job:
    return {"function": function, "dim": dim, "rotated": rotated, "seed": seed, "method": method,
            "budget": n_evals, "impl": impl[method]}


def _order(rec: dict[str, Any]) -> tuple:
    return tuple(rec[k] for k in JOB_FIELDS[:-1])


def _bool(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("true", "1", "yes")


def import_legacy(out: Path) -> int:
    """Read a folder from before ``runs.jsonl`` (``results.csv`` + ``traces.jsonl``) into ``runs.jsonl``:
    one record per row that has its trace. Does nothing when ``runs.jsonl`` exists; returns the records written."""
    path, res_path, tr_path = out / "runs.jsonl", out / "results.csv", out / "traces.jsonl"
    if path.exists() or not (res_path.exists() and tr_path.exists()):
        return 0
    traces: dict[tuple, dict[str, Any]] = {}
    for line in tr_path.read_text().splitlines():
        try:
            t = json.loads(line)
            t["rotated"] = _bool(t["rotated"])
            traces[(*_order(t), t["impl"])] = t
        except (ValueError, KeyError, TypeError):
            continue
    recs = []
    with open(res_path, newline="") as fh:
        for r in csv.DictReader(fh):
            try:
                rec: dict[str, Any] = dict(r)
                for k in ("dim", "seed", "budget", "nfev"):
                    rec[k] = int(r[k])
                for k in ("best_f", "f_opt", "error", "seconds", "f_seconds"):
                    rec[k] = float(r[k])
                rec["rotated"], rec["in_basin"] = _bool(r["rotated"]), _bool(r["in_basin"])
                t = traces[(*_order(rec), rec["impl"])]
            except (KeyError, ValueError, TypeError):
                continue
            rec.update(evals=t["evals"], best=t["best"])
            rec["key"] = job_key({k: rec[k] for k in JOB_FIELDS})
            recs.append(rec)
    if recs:
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in recs))
        print(f"read {len(recs)} runs of {res_path} and {tr_path} into {path}", flush=True)
    return len(recs)


def current_records(done: Iterable[dict[str, Any]], impl: dict[str, str]) -> list[dict[str, Any]]:
    """The finished (not failed) runs whose implementation is current, in a fixed order."""
    recs = [r for r in done if "failed" not in r and impl.get(r.get("method", "")) == r.get("impl")]
    return sorted(recs, key=_order)


def write_runs(out: Path, recs: list[dict[str, Any]]) -> None:
    """``results.csv`` (one row per run) and ``traces.jsonl`` (its best-so-far trace), from the records."""
    atomic_write_csv(out / "results.csv", [{c: r[c] for c in COLUMNS} for r in recs], COLUMNS)
    atomic_write_text(out / "traces.jsonl", "".join(
        json.dumps({**{k: r[k] for k in JOB_FIELDS}, "evals": r["evals"], "best": r["best"]}) + "\n" for r in recs))


def run_jobs(jobs: list[Job], out: Path, workers: int, progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Run the jobs not yet in ``out/runs.jsonl`` (failed ones again) over ``workers`` processes; return
    (every finished record in the runner, the failures of the jobs)."""
    def shout(rec: dict[str, Any]) -> None:
        if "failed" in rec:
            label = (f"{rec['method']} {rec['function']} {rec['dim']}-D {'rot' if rec['rotated'] else 'ali'} "
                     f"s{rec['seed']}")
            print(f"\nFAILED {label}:\n{rec['failed']}", file=sys.stderr, flush=True)

    with JobRunner[Job](out / "runs.jsonl", workers, progress=progress) as runner:
        for k in [k for k, r in runner.done.items() if "failed" in r]:
            del runner.done[k]              # a failed run is retried
        recs = runner.run(jobs, run_job, label="runs", cost=lambda j: j["dim"], on_done=shout)
        return list(runner.done.values()), [r for r in recs if "failed" in r]


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
    lines = ["# qiml versus baseline optimizers at equal evaluation budgets", "",
             f"- budget: {meta['budget_per_dim']} x D evaluations per run, the same for every method "
             "(enforced by a counting wrapper; best value seen within the budget)",
             f"- seeds: {meta['seeds']} per problem (seed s sets the problem's shift/rotation and the optimizer's RNG)",
             f"- functions: {', '.join(functions)}; dimensions: {', '.join(map(str, dims))}; axis-aligned and rotated",
             f"- environment: {environment_line(meta)} {meta['workers']} worker processes; qiml source "
             f"{meta['implementations']['qiml']}",
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
    atomic_write_text(out / "summary.md", "\n".join(lines))
    atomic_write_text(out / "summary.json",
                      json.dumps({"meta": meta, "cells": cells, "timing": timing}, indent=1) + "\n")


def _colors(methods: list[str]) -> dict[str, Any]:
    cyc = pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cyc[METHODS.index(m) % len(cyc)] for m in methods}


def plot_success(out: Path, rows: list[dict], functions: list[str], dims: list[int], methods: list[str]) -> None:
    plt = pyplot()
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
    plt = pyplot()
    if not traces:
        return
    d = max(dims)
    probs = [p for p in REPRESENTATIVE if p[0] in functions][:4]
    colors = _colors(methods)
    fig, axes = plt.subplots(1, len(probs), figsize=(4.2 * len(probs), 3.8), squeeze=False)
    for ax, (f, rot) in zip(axes[0], probs, strict=True):
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
    ap = study_parser(NAME, __doc__.split("\n\n")[0], smoke_help=f"{SMOKE['budget_per_dim']} x D evaluations, "
                      f"{SMOKE['seeds']} seed, {', '.join(map(str, SMOKE['dims']))}-D only")
    ap.epilog = "\n\n".join(__doc__.split("\n\n")[1:2])
    ap.add_argument("--dims", type=int_in(1), nargs="+", default=None,
                    help=f"dimensions (default {' '.join(map(str, DEFAULTS['dims']))})")
    ap.add_argument("--functions", nargs="+", choices=FUNCTIONS, default=None, metavar="F",
                    help=f"functions (default all: {', '.join(FUNCTIONS)})")
    ap.add_argument("--seeds", type=int_in(1), default=None,
                    help=f"number of seeds, 0..N-1 (default {DEFAULTS['seeds']})")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=None, metavar="M",
                    help=f"methods (default all: {', '.join(METHODS)})")
    ap.add_argument("--budget-per-dim", type=int_in(1), default=None,
                    help=f"evaluations per dimension (default {DEFAULTS['budget_per_dim']})")
    ap.add_argument("--fresh", action="store_true", help="ignore and overwrite cached results in --out")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    dims, n_seeds, bpd, out = sorted(set(args.dims)), args.seeds, args.budget_per_dim, args.out
    check_run_budget(ap, "--budget-per-dim", bpd, bpd * dims[0], where=f" at {dims[0]}-D")
    functions = [f for f in FUNCTIONS if f in args.functions]
    methods = [m for m in METHODS if m in args.methods]
    seeds = list(range(n_seeds))
    out.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for name in ("runs.jsonl", "results.csv", "traces.jsonl"):
            (out / name).unlink(missing_ok=True)
    import_legacy(out)

    impl = implementations()
    # largest problems first (better load balance); a problem's methods together (problem cache hits)
    wanted = [make_job(f, d, rot, s, m, bpd * d, impl) for d in sorted(dims, reverse=True) for f in functions
              for rot in (False, True) for s in seeds for m in methods]
    print(f"{len(wanted)} runs wanted; output in {out}", flush=True)
    t0 = time.perf_counter()
    done, failures = run_jobs(wanted, out, args.workers)
    wall = time.perf_counter() - t0
    write_runs(out, current_records(done, impl))

    keys = {job_key(j) for j in wanted}
    sel = sorted((r for r in done if r["key"] in keys and "failed" not in r), key=_order)
    meta = run_metadata(["python -m qiml.studies.optimizers", *(sys.argv[1:] if argv is None else argv)],
                        budget_per_dim=bpd, seeds=n_seeds, functions=functions, dims=dims, methods=methods,
                        runs=len(sel), runs_wanted=len(wanted), failed=len(failures), workers=args.workers,
                        implementations=impl, wall_seconds_this_invocation=wall, settings=baselines.SETTINGS,
                        checkpoints=baselines.N_CHECKPOINTS, smoke=args.smoke)
    write_summary(out, sel, meta, functions, dims, methods, sel)
    if not args.no_plots:
        plot_success(out, sel, functions, dims, methods)
        plot_convergence(out, sel, functions, dims, methods, bpd)

    timing = timing_table(sel, dims, methods)
    print(f"\n{len(sel)} runs ({wall:.1f} s wall this invocation on {args.workers} worker(s)); "
          f"summary in {out / 'summary.md'}")
    print("mean wall seconds per run: " + "; ".join(
        f"{t['dim']}-D {t['method']} {t['mean_seconds']:.2f}" for t in timing))
    if failures:
        print(f"{len(failures)} run(s) FAILED (rerun to retry)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
