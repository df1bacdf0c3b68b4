"""The levers of the adapted directions on COCO's bbob suite: each engine option the defaults were chosen by.

    python benchmarks/bbob_levers.py --out docs/results/bbob_levers            # 5-D, instances 1-5 (tuning set)
    python benchmarks/bbob_levers.py --instances 1 --functions 1 10 --smoke --out /tmp/levers

Every variant is ``qiml.minimize`` with the engine's defaults plus the options named in :data:`VARIANTS`,
run on bbob functions 1-24 at ``10^4 x D`` evaluations (stopping at the final target ``f_opt + 1e-8``, as
COCO does), scored by the same ECDF area per function group as ``qiml bench bbob``
(:func:`qiml.reports.bbob.ecdf_area`). The problems are cocoex's ``BareProblem`` (no COCO logs, so a run
costs only its evaluations). Each finished run is appended to ``runs.jsonl`` (resumable); the script
writes ``levers.md``, ``levers.csv`` and ``levers.png`` (area per group for each variant).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

#: name -> engine options on top of the defaults (directions="auto", nx 3, ipop restarts, basis_rate 1.5)
VARIANTS: dict[str, dict[str, Any]] = {
    "default (auto, 3 points, ipop)": {},
    "axes only (the previous default)": {"directions": "axes"},
    "adapted from the start (no axis phase)": {"directions": "adapted"},
    "5 points per slice, 3 once simple": {"nx": 5},
    "9 points per slice, 3 once simple": {"nx": 9},
    "9 points per slice always": {"nx": 9, "nx_min": 9},
    "restart around the best point": {"restart": "best"},
    "basis rate 0.5 (ACiD's c1 = 0.5 / D)": {"basis_rate": 0.5},
    "basis rate 3": {"basis_rate": 3.0},
}
GROUP_NAMES = ("separable", "low/moderate conditioning", "high conditioning, unimodal",
               "multimodal, adequate structure", "multimodal, weak structure")


def run(variant: str, function: int, dim: int, instance: int, budget: int) -> dict[str, Any]:
    """One run of ``variant`` on bbob ``function`` (``dim``, ``instance``); its target hits."""
    import cocoex

    from qiml import minimize
    from qiml.reports.bbob import _Hits

    problem = cocoex.BareProblem("bbob", function, dim, instance)
    hits = _Hits(problem, float(problem.best_value()))
    t0 = time.perf_counter()
    minimize(hits, [(-5.0, 5.0)] * dim, vectorized=True, max_evals=budget * dim, seed=instance,
             target=float(hits.targets[-1]), **VARIANTS[variant])
    return {"variant": variant, "function": function, "dim": dim, "instance": instance, "budget": budget,
            "hit": hits.hit.tolist(), "nfev": hits.n, "seconds": time.perf_counter() - t0}


def summarise(records: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    from qiml.reports.bbob import GROUPS, ecdf_area

    rows = []
    for v in VARIANTS:
        rs = [r for r in records if r["variant"] == v]
        if rs:
            rows.append({"variant": v, "runs": len(rs), "all": ecdf_area(rs, budget),
                         **{g: ecdf_area([r for r in rs if r["function"] in GROUPS[g]], budget) for g in GROUP_NAMES}})
    return rows


def write(out: Path, rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    cols = ["all", *GROUP_NAMES]
    best = {c: max(r[c] for r in rows) for c in cols}
    md = ["# bbob levers of the adapted directions", "",
          f"ECDF area at {args.budget} x D evaluations (higher is better), {args.dim}-D, functions "
          f"{','.join(map(str, args.functions))}, instances {','.join(map(str, args.instances))}; each variant "
          "is the engine's defaults plus the options named (seed = instance). Command: `"
          + shlex.join(["python", "benchmarks/bbob_levers.py", *args.argv]) + "`.", "",
          "| variant | options |", "|---|---|", *(f"| {v} | `{VARIANTS[v] or 'defaults'}` |" for v in VARIANTS
                                                   if any(r['variant'] == v for r in rows)), "",
          "| variant | runs | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for r in rows:
        md.append(f"| {r['variant']} | {r['runs']} | " + " | ".join(
            f"**{r[c]:.3f}**" if r[c] == best[c] else f"{r[c]:.3f}" for c in cols) + " |")
    (out / "levers.md").write_text("\n".join(md) + "\n")
    with (out / "levers.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["variant", "runs", *cols])
        w.writeheader()
        w.writerows(rows)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        ax.bar(np.arange(len(cols)) + i * width, [r[c] for c in cols], width, label=r["variant"])
    ax.set_xticks(np.arange(len(cols)) + 0.4 - width / 2, [c.replace(", ", ",\n") for c in cols], fontsize=8)
    ax.set_ylabel("ECDF area")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"bbob {args.dim}-D: levers of the adapted directions")
    fig.tight_layout()
    fig.savefig(out / "levers.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=5)
    ap.add_argument("--functions", type=int, nargs="+", default=list(range(1, 25)))
    ap.add_argument("--instances", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--budget", type=int, default=10_000, help="evaluations per dimension")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="V")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--smoke", action="store_true", help="budget 100 x D, two variants")
    ap.add_argument("--out", type=Path, default=Path("docs/results/bbob_levers"))
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        args.budget, args.variants = 100, args.variants[:2]
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "runs.jsonl"
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            done[(r["variant"], r["function"], r["dim"], r["instance"], r["budget"])] = r
    jobs = [(v, f, args.dim, i, args.budget) for v in args.variants for f in args.functions for i in args.instances]
    todo = [j for j in jobs if j not in done]
    from rich.progress import Progress

    with Progress() as bar, ProcessPoolExecutor(max(1, args.workers)) as pool, log.open("a") as fh:
        task = bar.add_task("bbob levers", total=len(jobs), completed=len(jobs) - len(todo))
        for fut in as_completed([pool.submit(run, *j) for j in todo]):
            r = fut.result()
            done[(r["variant"], r["function"], r["dim"], r["instance"], r["budget"])] = r
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            bar.advance(task)
    rows = summarise([done[j] for j in jobs if j in done], args.budget)
    write(args.out, rows, args)
    print((args.out / "levers.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
