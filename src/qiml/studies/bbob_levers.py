"""The levers of the adapted directions on COCO's bbob suite: each engine option the defaults were chosen by.

    python -m qiml.studies.bbob_levers --instances 1 2 3         # 5-D, docs/results/bbob-levers
    python -m qiml.studies.bbob_levers --instances 1 --functions 1 10 --smoke     # into a scratch folder
    qiml reproduce bbob-levers                                    # the full run, with meta.json and log.txt

Every variant is ``qiml.minimize`` with the engine's defaults plus the options named in :data:`VARIANTS`,
run on bbob functions 1-24 at ``10^4 x D`` evaluations (stopping at the final target ``f_opt + 1e-8``, as
COCO does), scored by the same ECDF area per function group as ``qiml bench bbob``
(:func:`qiml.studies.bbob.ecdf_area`). The problems are cocoex's ``BareProblem`` (no COCO logs, so a run
costs only its evaluations). Each finished run is appended to ``runs.jsonl`` (resumable; records of
earlier versions, without a ``key``, are given theirs on the first rerun); the study writes ``levers.md``,
``levers.csv`` and ``levers.png`` (area per group for each variant).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from ..files import atomic_write_csv, atomic_write_text
from .args import check_run_budget, int_in, pyplot, resolve, study_parser
from .bbob import DIMS
from .meta import environment_line, run_metadata
from .runner import JobRunner, job_key

NAME = "bbob-levers"
JOB_FIELDS = ("variant", "function", "dim", "instance", "budget")

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
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both)
DEFAULTS: dict[str, Any] = {"dim": 5, "functions": list(range(1, 25)), "instances": [1, 2, 3, 4, 5],
                            "budget": 10_000, "variants": list(VARIANTS)}
SMOKE: dict[str, Any] = {"functions": [1, 10], "instances": [1], "budget": 100, "variants": list(VARIANTS)[:2]}
GROUP_NAMES = ("separable", "low/moderate conditioning", "high conditioning, unimodal",
               "multimodal, adequate structure", "multimodal, weak structure")


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One run of ``job["variant"]`` on bbob ``function`` (``dim``, ``instance``); its target hits."""
    import cocoex

    from ..engine import minimize
    from .bbob import _Hits

    variant, function, dim, instance, budget = (job[k] for k in JOB_FIELDS)
    problem = cocoex.BareProblem("bbob", function, dim, instance)
    hits = _Hits(problem, float(problem.best_value()))
    t0 = time.perf_counter()
    minimize(hits, [(-5.0, 5.0)] * dim, vectorized=True, max_evals=budget * dim, seed=instance,
             target=float(hits.targets[-1]), **VARIANTS[variant])
    return {"variant": variant, "function": function, "dim": dim, "instance": instance, "budget": budget,
            "hit": hits.hit.tolist(), "nfev": hits.n, "seconds": time.perf_counter() - t0}


def add_keys(path: Path) -> int:
    """Give the records of ``path`` written before :class:`~qiml.studies.runner.JobRunner` (no ``"key"``) the
    key of their job, so a rerun resumes from them; returns how many were given one."""
    if not path.exists():
        return 0
    lines, added = [], 0
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue                          # a line cut short: its job is redone
        if isinstance(rec, dict) and "key" not in rec and all(k in rec for k in JOB_FIELDS):
            rec["key"] = job_key({k: rec[k] for k in JOB_FIELDS})
            added += 1
        lines.append(json.dumps(rec))
    if added:
        atomic_write_text(path, "".join(line + "\n" for line in lines))
    return added


def summarise(records: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    from .bbob import GROUPS, ecdf_area

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
          + shlex.join(["python", "-m", "qiml.studies.bbob_levers", *args.argv]) + "`. "
          + environment_line(args.meta), "",
          "| variant | options |", "|---|---|", *(f"| {v} | `{VARIANTS[v] or 'defaults'}` |" for v in VARIANTS
                                                   if any(r['variant'] == v for r in rows)), "",
          "| variant | runs | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for r in rows:
        md.append(f"| {r['variant']} | {r['runs']} | " + " | ".join(
            f"**{r[c]:.3f}**" if r[c] == best[c] else f"{r[c]:.3f}" for c in cols) + " |")
    atomic_write_text(out / "levers.md", "\n".join(md) + "\n")
    atomic_write_csv(out / "levers.csv", rows, ["variant", "runs", *cols])
    import numpy as np

    plt = pyplot()

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
    ap = study_parser(NAME, __doc__.split("\n\n")[0],
                      smoke_help=f"budget {SMOKE['budget']} x D, the first {len(SMOKE['variants'])} variants")
    ap.add_argument("--dim", type=int, choices=DIMS, default=None, metavar="D",
                    help=f"dimension, one of {', '.join(map(str, DIMS))} (default {DEFAULTS['dim']})")
    ap.add_argument("--functions", type=int_in(1, 24), nargs="+", default=None, help="bbob functions (default 1-24)")
    ap.add_argument("--instances", type=int_in(1), nargs="+", default=None,
                    help=f"instances (default {' '.join(map(str, DEFAULTS['instances']))})")
    ap.add_argument("--budget", type=int_in(1), default=None,
                    help=f"evaluations per dimension (default {DEFAULTS['budget']}; smoke {SMOKE['budget']})")
    ap.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS), metavar="V",
                    help="variants (default all; smoke the first two)")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    check_run_budget(ap, "--budget", args.budget, args.budget * args.dim, where=f" at {args.dim}-D")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    add_keys(out / "runs.jsonl")
    jobs = [dict(zip(JOB_FIELDS, (v, f, args.dim, i, args.budget), strict=True))
            for v in args.variants for f in args.functions for i in args.instances]
    with JobRunner[dict[str, Any]](out / "runs.jsonl", args.workers) as runner:
        records = runner.run(jobs, run, label="bbob levers")
    args.meta = run_metadata(["python -m qiml.studies.bbob_levers", *args.argv], dim=args.dim,
                             functions=args.functions, instances=args.instances, budget=args.budget,
                             variants=args.variants, workers=args.workers, smoke=args.smoke)
    rows = summarise(records, args.budget)
    write(out, rows, args)
    print((out / "levers.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
