"""Measure engine configurations (update scheme, hbar schedule, solver time mode, window shrink)
on the multimodal benchmarks, to choose the engine's defaults from data.

    python benchmarks/update_schemes.py [--dim 10] [--seeds 5] [--budget-per-dim 2000]

Writes ``docs/update_schemes.md`` and ``docs/update_schemes.csv``: for every configuration,
the fraction of runs ending in the global basin and the median error, over the five functions,
axis-aligned and rotated, at equal evaluation budgets; ``update_schemes.png`` plots the rates.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import qiml
from qiml.functions import BASE, Benchmark

# name -> options; "default" is whatever the engine does with no options
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


def run(job: tuple[str, str, int, bool, int, int]) -> dict:
    config, fname, dim, rotated, seed, budget = job
    bench = Benchmark(fname, dim, rotated, seed=seed)
    t0 = time.perf_counter()
    res = qiml.minimize(bench, bench.bounds, vectorized=True, max_evals=budget, seed=seed, **CONFIGS[config])
    return {"config": config, "function": fname, "dim": dim, "rotated": rotated, "seed": seed,
            "error": res.fun - bench.f_opt, "in_basin": bench.in_basin(res.fun), "nfev": res.nfev,
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget-per-dim", type=int, default=2000)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--out", type=Path, default=Path("docs"))
    args = ap.parse_args(argv)
    jobs = [(c, f, args.dim, rot, s, args.budget_per_dim * args.dim)
            for c, f, rot, s in itertools.product(args.configs, BASE, (False, True), range(args.seeds))]
    with ProcessPoolExecutor() as pool:
        rows = list(pool.map(run, jobs, chunksize=4))
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "update_schemes.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"# Engine configurations on the multimodal benchmarks ({args.dim}-D)", "",
             f"Budget {args.budget_per_dim} x D evaluations, {args.seeds} seeds, functions {', '.join(BASE)}; "
             "cells: global-basin rate (median error). Command: "
             f"`python benchmarks/update_schemes.py --dim {args.dim} --seeds {args.seeds} "
             f"--budget-per-dim {args.budget_per_dim}`.", "",
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
    (args.out / "update_schemes.md").write_text("\n".join(lines) + "\n")
    plot(rows, args.configs, args.out / "update_schemes.png",
         f"{args.dim}-D, {args.budget_per_dim} x D evaluations, {args.seeds} seed(s), {len(BASE)} functions")
    print("\n".join(lines))


def plot(rows: list[dict], configs: list[str], path: Path, title: str) -> None:
    """Global-basin rate per configuration, axis-aligned and rotated (the main table's rates)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
