"""How the network default's curvature options were chosen: each lever on the digits and spirals tasks.

(The table chose ``block=16``: whole neurons of up to 16 inputs per request.)

Every configuration is the network default (``qiml.training.NETWORK_OPTIONS``) with one option
changed, run like ``nn_tasks``' QiML rows (same data, same wall-clock budget per run, one
single-threaded process per run), median test error over ``--seeds`` seeds. Runs are cached in
``<out>/runs.jsonl`` (resumable). Writes ``levers.md``, ``levers.csv`` and ``levers.png``.

    python -m qiml.studies.nn_levers                 # full run (about 8 min on 2 cores; qiml reproduce nn-levers)
    python -m qiml.studies.nn_levers --smoke         # 1 seed, 0.5 s per run
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..files import atomic_write, atomic_write_csv, atomic_write_text
from ..nn import MLP
from ..training import NETWORK_OPTIONS, fit_network
from . import nn_tasks
from .args import int_in, positive_float, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "nn-levers"
LEVERS: dict[str, dict[str, Any]] = {
    "block 8, nx 3, restart best (the first default)": {"block": 8},
    "block 4": {"block": 4},
    "block 16": {"block": 16},
    "nx 5": {"nx": 5},
    "restart ipop": {"restart": "ipop"},
    "grow_max 4": {"grow_max": 4.0},
}
TASKS = ("digits", "spirals")
#: the options the levers change one at a time (the default before this table chose block 16)
FIRST: dict[str, Any] = {**NETWORK_OPTIONS, "block": 8}
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both)
DEFAULTS: dict[str, Any] = {"seeds": 5, "budget": 15.0}
SMOKE: dict[str, Any] = {"seeds": 1, "budget": 0.5}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One (task, lever, seed) fit; a JSON-able record (the smoke run shortens the budget, not the data)."""
    task = nn_tasks.TASKS[job["task"]]
    net = MLP(task.sizes, task.activation)
    Xtr, ytr, Xte, yte = nn_tasks.load(task.name, False)
    t0 = time.perf_counter()
    res = fit_network(net, Xtr, ytr, task.loss, batch_size=task.float_batch, seed=job["seed"],
                      max_time=job["budget"], max_evals=10**12, **{**FIRST, **LEVERS[job["lever"]]})
    return {**job, "elapsed": time.perf_counter() - t0, "nfev": int(res.nfev), "train_loss": float(res.fun),
            "test": nn_tasks.test_metric(task, net, res.x, Xte, yte)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = study_parser(NAME, __doc__, smoke_help=f"{SMOKE['seeds']} seed, {SMOKE['budget']:g} s per run")
    ap.add_argument("--seeds", type=int_in(1), default=None,
                    help=f"seeds per lever and task (default {DEFAULTS['seeds']})")
    ap.add_argument("--budget", type=positive_float, default=None,
                    help=f"seconds per run (default {DEFAULTS['budget']:g})")
    a = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    a.out.mkdir(parents=True, exist_ok=True)
    meta = run_metadata(None if argv is None else ["python", "-m", "qiml.studies.nn_levers", *argv])
    jobs = [{"task": t, "lever": lv, "seed": s, "budget": a.budget} for t in TASKS for lv in LEVERS
            for s in range(a.seeds)]
    runner: JobRunner[dict[str, Any]] = JobRunner(a.out / "runs.jsonl", a.workers)
    with runner:
        recs = runner.run(jobs, run_job, label="levers")
    rows = []
    for lv in LEVERS:
        row: dict[str, Any] = {"lever": lv}
        for task in TASKS:
            row[task] = float(np.median([r["test"] for j, r in zip(jobs, recs, strict=True)
                                         if j["lever"] == lv and j["task"] == task]))
        rows.append(row)
    md = ["# Network default: the curvature levers on digits and spirals", "",
          f"`python -m qiml.studies.nn_levers{' --smoke' if a.smoke else ''} --seeds {a.seeds} --budget {a.budget:g}` "
          f"(or `qiml reproduce {NAME}`) — median test error over {a.seeds} seeds, {a.budget:g} s per run on one core "
          "(as `nn-tasks`), full batch; each row changes one option of the first curvature default "
          f"(`NETWORK_OPTIONS` with block 8); the default now: block {NETWORK_OPTIONS['block']}. "
          f"{environment_line(meta)}", "",
          "| lever | " + " | ".join(TASKS) + " |", "|---|" + "---|" * len(TASKS)]
    md += [f"| {r['lever']} | " + " | ".join(f"{100 * r[t]:.1f}%" for t in TASKS) + " |" for r in rows]
    atomic_write_text(a.out / "levers.md", "\n".join(md) + "\n")
    atomic_write_csv(a.out / "levers.csv", rows, ["lever", *TASKS])
    plt = pyplot()
    fig, axes = plt.subplots(1, len(TASKS), figsize=(5 * len(TASKS), 3.2))
    for ax, task in zip(axes, TASKS, strict=True):
        ax.barh(range(len(rows)), [100 * r[task] for r in rows])
        ax.set_yticks(range(len(rows)), [r["lever"] for r in rows], fontsize=7)
        ax.set_xlabel("test error (%)")
        ax.set_title(task)
    fig.tight_layout()
    atomic_write(a.out / "levers.png", lambda fh: fig.savefig(fh, format="png", dpi=120))
    plt.close(fig)
    print("\n".join(md))
    return {"rows": rows, "meta": meta}


if __name__ == "__main__":
    main()
