"""Measure engine configurations (update scheme, hbar schedule, solver time mode, window shrink)
on the multimodal benchmarks, to choose the engine's defaults from data.

    python -m qiml.studies.update_schemes [--dim 10] [--seeds 5] [--budget-per-dim 2000] [--workers N]
    python -m qiml.studies.update_schemes --smoke         # 2-D, 1 seed, 2 configurations: a pipeline check
    qiml reproduce update-schemes                         # the full run, with meta.json and log.txt

Writes ``update_schemes.md`` and ``update_schemes.csv`` to ``--out`` (default ``docs/results/update-schemes``;
a scratch folder with ``--smoke``): for every configuration, the fraction of runs ending in the global basin
and the median error, over the five functions, axis-aligned and rotated, at equal evaluation budgets;
``update_schemes.png`` plots the rates. Finished runs are kept in ``runs.jsonl`` (resumable; a run's key
holds its configuration's options, so a changed configuration is rerun).
"""

from __future__ import annotations

import itertools
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import minimize
from ..files import atomic_write_csv, atomic_write_text
from ..functions import BASE, Benchmark
from .args import MIN_RUN_EVALS, check_run_budget, int_in, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "update-schemes"
CSV_FIELDS = ["config", "function", "dim", "rotated", "seed", "error", "in_basin", "nfev", "seconds"]

#: what every configuration runs on top of: ``slices`` is the axis-slice engine these options tune (the
#: default when they were chosen); ``default`` is the engine's current default search (``search="auto"``:
#: slices, then walkers after a stall), where most of these options matter much less
BASES: dict[str, dict[str, Any]] = {"slices": {"search": "slices", "directions": "axes"}, "default": {}}

# name -> options on top of the base; "default" is the base with no options
CONFIGS: dict[str, dict] = {
    "default": {},
    # hbar schedule (sequential sweeps, "auto" readout)
    "hbar .1-.001 auto": {"hbar": (0.1, 0.001), "readout": "auto"},
    "hbar .03-.0003 auto": {"hbar": (0.03, 0.0003), "readout": "auto"},
    "hbar .01-.0001 auto": {"hbar": (0.01, 0.0001), "readout": "auto"},
    "hbar .003-.00003 auto": {"hbar": (0.003, 0.00003), "readout": "auto"},
    # readout
    "hbar .03-.0003 mean": {"hbar": (0.03, 0.0003), "readout": "mean"},
    "hbar .05-.0005 mean": {"hbar": (0.05, 0.0005), "readout": "mean"},
    "hbar .03-.0001 mode": {"readout": "mode"},
    # solver time mode
    "imaginary time": {"time": "imaginary"},
    "real time": {"time": "real", "dt": 0.05, "steps": 20},
    # windows, grid, restarts, refinement
    "shrink .6": {"shrink": 0.6},
    "shrink .9": {"shrink": 0.9},
    "nx 32": {"nx": 32},
    "nx 128": {"nx": 128},
    "patience 1": {"patience": 1},
    "patience 4": {"patience": 4},
    "no reheat": {"reheat": False},
    "no stall lines": {"stall_lines": False},
    "no refine": {"refine": 0.0},
    "refine .2": {"refine": 0.2},
    # update schemes
    "random subsets of 1": {"update": "random", "block": 1},
    "sequential blocks of 4": {"block": 4},
    "jacobi mixing .5": {"update": "jacobi", "mixing": 0.5},
    "jacobi mixing 1": {"update": "jacobi", "mixing": 1.0},
}
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both)
DEFAULTS: dict[str, Any] = {"dim": 10, "seeds": 5, "budget_per_dim": 2000, "configs": list(CONFIGS), "base": "slices"}
SMOKE: dict[str, Any] = {"dim": 2, "seeds": 1, "budget_per_dim": 50, "configs": ["default", "nx 32"]}


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One run of configuration ``job["config"]`` on one benchmark problem."""
    bench = Benchmark(job["function"], job["dim"], job["rotated"], seed=job["seed"])
    t0 = time.perf_counter()
    res = minimize(bench, bench.bounds, vectorized=True, max_evals=job["budget"], seed=job["seed"],
                   **job["options"])
    return {**job, "error": res.fun - bench.f_opt, "in_basin": bench.in_basin(res.fun), "nfev": res.nfev,
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(NAME, __doc__.split("\n\n")[0],
                      smoke_help=f"{SMOKE['dim']}-D, {SMOKE['seeds']} seed, {SMOKE['budget_per_dim']} x D evaluations, "
                                 f"configurations {', '.join(SMOKE['configs'])}")
    ap.add_argument("--dim", type=int_in(1), default=None, help=f"dimension (default {DEFAULTS['dim']})")
    ap.add_argument("--seeds", type=int_in(1), default=None, help=f"seeds 0 .. N-1 (default {DEFAULTS['seeds']})")
    ap.add_argument("--budget-per-dim", type=int_in(1), default=None,
                    help=f"evaluations per dimension (default {DEFAULTS['budget_per_dim']})")
    ap.add_argument("--configs", nargs="+", default=None, choices=list(CONFIGS), metavar="CONFIG",
                    help="configurations (default all)")
    ap.add_argument("--base", choices=list(BASES), default=None,
                    help="what every configuration runs on: slices (axis slices, the engine these options tune; "
                         "default) or default (the engine's current default search)")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    check_run_budget(ap, "--budget-per-dim", args.budget_per_dim, args.budget_per_dim * args.dim,
                     need=max(CONFIGS[c].get("nx", MIN_RUN_EVALS - 1) for c in args.configs) + 1,
                     where=f" at {args.dim}-D")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    # the base is spelled out in each job's options, so runs on another base are other runs
    jobs = [{"config": c, "options": {**BASES[args.base], **CONFIGS[c]}, "function": f, "dim": args.dim,
             "rotated": rot, "seed": s, "budget": args.budget_per_dim * args.dim}
            for c, f, rot, s in itertools.product(args.configs, BASE, (False, True), range(args.seeds))]
    with JobRunner[dict[str, Any]](out / "runs.jsonl", args.workers) as runner:
        rows = runner.run(jobs, run, label="update schemes")
    meta = run_metadata(["python -m qiml.studies.update_schemes", *(sys.argv[1:] if argv is None else argv)],
                        dim=args.dim, seeds=args.seeds, budget_per_dim=args.budget_per_dim, configs=args.configs,
                        base=args.base, workers=args.workers, smoke=args.smoke)
    atomic_write_csv(out / "update_schemes.csv", [{k: r[k] for k in CSV_FIELDS} for r in rows], CSV_FIELDS)
    lines = [f"# Engine configurations on the multimodal benchmarks ({args.dim}-D)", "",
             f"Every configuration runs on `{BASES[args.base]}` (base `{args.base}`). "
             f"Budget {args.budget_per_dim} x D evaluations, {args.seeds} seeds, functions {', '.join(BASE)}; "
             "cells: global-basin rate (median error). Command: "
             f"`python -m qiml.studies.update_schemes --dim {args.dim} --seeds {args.seeds} "
             f"--budget-per-dim {args.budget_per_dim}" + (f" --base {args.base}" if args.base != "slices" else "")
             + (f" --configs {shlex.join(args.configs)}"
                if args.configs != list(CONFIGS) else "") + f"`. {environment_line(meta)}", "",
             "| configuration | options | aligned | rotated | all | median s/run |", "|---|---|---|---|---|---|"]
    for c in args.configs:
        sel = [r for r in rows if r["config"] == c]
        cells = []
        for part in ([r for r in sel if not r["rotated"]], [r for r in sel if r["rotated"]], sel):
            rate = np.mean([r["in_basin"] for r in part])
            cells.append(f"{rate:.2f} ({np.median([r['error'] for r in part]):.3g})")
        secs = np.median([r["seconds"] for r in sel])
        lines.append(f"| {c} | `{CONFIGS[c]}` | " + " | ".join(cells) + f" | {secs:.2f} |")
    lines += ["", "Per function (global-basin rate aligned / rotated):", "",
              "| configuration | " + " | ".join(BASE) + " |", "|---|" + "---|" * len(BASE)]
    for c in args.configs:
        cells = []
        for f in BASE:
            a = np.mean([r["in_basin"] for r in rows if r["config"] == c and r["function"] == f and not r["rotated"]])
            b = np.mean([r["in_basin"] for r in rows if r["config"] == c and r["function"] == f and r["rotated"]])
            cells.append(f"{a:.1f} / {b:.1f}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    atomic_write_text(out / "update_schemes.md", "\n".join(lines) + "\n")
    plot(rows, args.configs, out / "update_schemes.png",
         f"{args.dim}-D, {args.budget_per_dim} x D evaluations, {args.seeds} seed(s), {len(BASE)} functions")
    print("\n".join(lines))


def plot(rows: list[dict], configs: list[str], path: Path, title: str) -> None:
    """Global-basin rate per configuration, axis-aligned and rotated (the main table's rates)."""
    plt = pyplot()
    names = configs[::-1]                                   # first configuration on top
    ys = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 1.5))
    for off, rotated, label in ((0.2, False, "axis-aligned"), (-0.2, True, "rotated")):
        rates = [np.mean([r["in_basin"] for r in rows if r["config"] == c and r["rotated"] == rotated])
                 for c in names]
        ax.barh(ys + off, rates, 0.4, label=label)
    ax.set_yticks(ys, names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of runs in the global basin")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
