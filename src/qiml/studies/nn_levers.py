"""How the network default's curvature options were chosen: each lever on the digits and spirals tasks.

(The table chose ``block=16``: whole neurons of up to 16 inputs per request.)

Every configuration is the network default (``qiml.training.NETWORK_OPTIONS``) with one option
changed, run like ``nn_experiments.py``'s QiML rows (same data, same wall-clock budget per run,
one single-threaded process per run), median test error over ``--seeds`` seeds. Runs are cached
in ``<out>/runs.jsonl`` (resumable). Writes ``levers.md``, ``levers.csv`` and ``levers.png``.

    python benchmarks/nn_levers.py                 # full run (about 8 min on 2 cores)
    python benchmarks/nn_levers.py --smoke         # 1 seed, 0.5 s per run
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nn_experiments as nnx  # noqa: E402  (tasks, data and the test metric)

from qiml.nn import MLP  # noqa: E402
from qiml.training import NETWORK_OPTIONS, fit_network  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
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


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    task = nnx.TASKS[job["task"]]
    net = MLP(task.sizes, task.activation)
    Xtr, ytr, Xte, yte = nnx.load(task.name, False)
    t0 = time.perf_counter()
    res = fit_network(net, Xtr, ytr, task.loss, batch_size=task.float_batch, seed=job["seed"],
                      max_time=job["budget"], max_evals=10**12, **{**FIRST, **LEVERS[job["lever"]]})
    return {**job, "elapsed": time.perf_counter() - t0, "nfev": int(res.nfev), "train_loss": float(res.fun),
            "test": nnx.test_metric(task, net, res.x, Xte, yte)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "nn-levers")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=15.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args(argv)
    if a.smoke:
        a.seeds, a.budget = 1, 0.5
    a.out.mkdir(parents=True, exist_ok=True)
    jobs = [{"task": t, "lever": lv, "seed": s, "budget": a.budget} for t in TASKS for lv in LEVERS
            for s in range(a.seeds)]
    with ProcessPoolExecutor(a.workers) as pool:
        recs = nnx.Runner(a.out, pool, run=run_job, key=nnx.whole_key).run(jobs, "levers")
    rows = []
    for lv in LEVERS:
        row: dict[str, Any] = {"lever": lv}
        for task in TASKS:
            row[task] = float(np.median([r["test"] for j, r in zip(jobs, recs)
                                         if j["lever"] == lv and j["task"] == task]))
        rows.append(row)
    md = ["# Network default: the curvature levers on digits and spirals", "",
          f"`python benchmarks/nn_levers.py{' --smoke' if a.smoke else ''} --seeds {a.seeds} --budget {a.budget:g}` — "
          f"median test error over {a.seeds} seeds, {a.budget:g} s per run on one core (as `nn-tasks`), "
          "full batch; each row changes one option of the first curvature default (`NETWORK_OPTIONS` with "
          f"block 8); the default now: block {NETWORK_OPTIONS['block']}.", "",
          "| lever | " + " | ".join(TASKS) + " |", "|---|" + "---|" * len(TASKS)]
    md += [f"| {r['lever']} | " + " | ".join(f"{100 * r[t]:.1f}%" for t in TASKS) + " |" for r in rows]
    (a.out / "levers.md").write_text("\n".join(md) + "\n")
    with open(a.out / "levers.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["lever", *TASKS])
        w.writeheader()
        w.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TASKS), figsize=(5 * len(TASKS), 3.2))
    for ax, task in zip(axes, TASKS):
        ax.barh(range(len(rows)), [100 * r[task] for r in rows])
        ax.set_yticks(range(len(rows)), [r["lever"] for r in rows], fontsize=7)
        ax.set_xlabel("test error (%)")
        ax.set_title(task)
    fig.tight_layout()
    fig.savefig(a.out / "levers.png", dpi=120)
    plt.close(fig)
    print("\n".join(md))


if __name__ == "__main__":
    main()
