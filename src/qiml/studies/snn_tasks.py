"""Spiking networks trained by QiML on temporal pattern recognition, at two equal wall-clock budgets.

    python -m qiml.studies.snn_tasks [--tasks GunPoint ItalyPowerDemand ArrowHead BasicMotions timing]
                                     [--methods qiml qiml-no-delays snntorch] [--seeds 5] [--budgets 10 90]
                                     [--workers N]
    python -m qiml.studies.snn_tasks --smoke     # the timing task only, small, 1 seed, 2 s, into a scratch folder
    qiml reproduce snn-tasks                     # needs the aeon wheel: ./dev data

Tasks: the UCR/UEA problems aeon bundles (:func:`qiml.series.load_ucr`, the archive's own train/test
split) and the generated timing task (:func:`qiml.datasets.make_spike_timing`: the class is only the
interval between two spikes). Methods, each given the same wall seconds per fit on one core:

* ``qiml``: :class:`qiml.snn.SpikingClassifier`, ``hidden`` LIF neurons reading ``taps`` delayed taps
  of the standardised input current, trainable delays up to ``max_delay`` steps, spike-count readout
  solved by ridge logistic regression at every grid point;
* ``qiml-val``: the same, selected as the surrogate baseline is: a stratified quarter of the training
  data held out, and the snapshot best on it kept (``validation_fraction=0.25``);
* ``qiml-no-delays``: the same network with every delay fixed at 0;
* ``snntorch``: the same network (delays drawn as the QiML network starts, then frozen: no gradient
  reaches an integer delay) trained by snnTorch's surrogate gradient and Adam, the learning rate raced
  on a validation split and the best validation epoch kept
  (:class:`qiml.studies.snn_surrogate.SurrogateSpikingClassifier`);
* ``1nn-ed``: 1-nearest-neighbour with Euclidean distance, the archive's reference (no budget).

Several command lines can fill one folder (the registry's full run is three: every method at the
short budgets, QiML and snnTorch at the long one, the delay ablation of the timing task at the long
one); the tables cover every record in ``runs.jsonl``. Writes ``summary.md`` (one row per task,
method and budget, then the goal per task and budget), ``summary.csv``, ``accuracy.png`` and the
resumable ``runs.jsonl`` to ``--out``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import make_spike_timing
from ..files import atomic_write_csv, atomic_write_text
from .args import int_in, positive_float, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "snn-tasks"
TASKS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "timing")
METHODS = ("qiml", "qiml-val", "qiml-no-delays", "snntorch", "1nn-ed")
#: the methods each budget runs (1-NN has no budget)
TRAINED = ("qiml", "qiml-val", "qiml-no-delays", "snntorch")
DEFAULTS: dict[str, Any] = {"tasks": list(TASKS), "methods": list(TRAINED), "seeds": 5, "budgets": [10.0, 90.0],
                            "hidden": 16, "taps": 8, "max_delay": 30}
SMOKE: dict[str, Any] = {"tasks": ["timing"], "methods": list(TRAINED), "seeds": 1, "budgets": [2.0], "hidden": 3,
                         "taps": 1, "max_delay": 10}
#: the timing task's size (train, test, steps) in a full run and in a smoke run
TIMING = {"full": (200, 400, 60), "smoke": (60, 60, 30)}


def load_task(task: str, smoke: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)``; series (N, C, T)."""
    if task == "timing":
        n_train, n_test, steps = TIMING["smoke" if smoke else "full"]
        X, y = make_spike_timing(n_train + n_test, steps, gaps=(3, 9), distractors=1, seed=12345)
        return X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    from ..series import load_ucr
    X, y = load_ucr(task)
    Xt, yt = load_ucr(task, "test")
    return X, y, Xt, yt


def one_nn(X: np.ndarray, y: np.ndarray, Xt: np.ndarray) -> np.ndarray:
    """1-NN Euclidean predictions for ``Xt`` from the training series."""
    A, B = X.reshape(len(X), -1), Xt.reshape(len(Xt), -1)
    d = (B**2).sum(1)[:, None] - 2 * B @ A.T + (A**2).sum(1)[None, :]
    return np.asarray(y)[np.argmin(d, axis=1)]


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One fit: the test and training accuracy, wall seconds and evaluations."""
    X, y, Xt, yt = load_task(job["task"], job["smoke"])
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    T = X.shape[-1]
    if job["method"] == "1nn-ed":
        test, train, nfev = float(np.mean(one_nn(X, y, Xt) == yt)), 1.0, 0
    elif job["method"] == "snntorch":
        from .snn_surrogate import SurrogateSpikingClassifier
        sur = SurrogateSpikingClassifier(hidden=job["hidden"], taps=job["taps"], max_delay=min(job["max_delay"], T - 1),
                                         max_time=job["budget"], random_state=job["seed"])
        sur.fit(X, y)
        test, train, nfev = float(sur.score(Xt, yt)), float(sur.score(X, y)), int(sur.n_iter_)
        extra = {"lr": sur.lr_, "epochs": max(sur.epochs_), "best_epoch": sur.best_epoch_}
    else:
        from ..snn.estimators import SpikingClassifier
        clf = SpikingClassifier(hidden=job["hidden"], taps=job["taps"],
                                max_delay=0 if job["method"] == "qiml-no-delays" else min(job["max_delay"], T - 1),
                                random_state=job["seed"], max_iter=None, max_time=job["budget"],
                                validation_fraction=0.25 if job["method"] == "qiml-val" else None)
        clf.fit(X, y)
        test, train, nfev = float(clf.score(Xt, yt)), float(clf.score(X, y)), int(clf.result_.nfev)
    return {**job, "test": test, "train": train, "nfev": nfev, "seconds": time.perf_counter() - t0, **extra}


def jobs_of(args: Any) -> list[dict[str, Any]]:
    common = {"smoke": bool(args.smoke), "hidden": args.hidden, "taps": args.taps, "max_delay": args.max_delay}
    jobs = []
    for task in args.tasks:
        jobs.append({"task": task, "method": "1nn-ed", "seed": 0, "budget": 0.0, **common})
        for method in args.methods:
            for budget in args.budgets:
                for seed in range(args.seeds):
                    jobs.append({"task": task, "method": method, "seed": seed, "budget": float(budget), **common})
    return jobs


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median test accuracy (and spread, wall time) per task, method and budget."""
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    records = sorted(records, key=lambda r: r["seed"])
    for r in records:
        groups.setdefault((r["task"], r["method"], r["budget"]), []).append(r)
    rows = []
    for (task, method, budget), rs in groups.items():
        acc = np.array([r["test"] for r in rs])
        rows.append({"task": task, "method": method, "budget_s": budget, "runs": len(rs),
                     "median_test": float(np.median(acc)), "min_test": float(acc.min()), "max_test": float(acc.max()),
                     "median_train": float(np.median([r["train"] for r in rs])),
                     "median_seconds": float(np.median([r["seconds"] for r in rs])),
                     "median_nfev": float(np.median([r["nfev"] for r in rs])),
                     # snnTorch: epochs of the chosen learning rate, and its best validation epoch (convergence)
                     "median_epochs": float(np.median([r.get("epochs", np.nan) for r in rs])),
                     "median_best_epoch": float(np.median([r.get("best_epoch", np.nan) for r in rs]))})
    return sorted(rows, key=lambda r: (TASKS.index(r["task"]) if r["task"] in TASKS else 99,
                                       METHODS.index(r["method"]), r["budget_s"]))


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(NAME, __doc__.split("\n\n")[0], smoke_help="the timing task, 1 seed, 2 s, 3 neurons")
    ap.add_argument("--tasks", nargs="+", choices=TASKS, default=None, help="tasks (default: all)")
    ap.add_argument("--methods", nargs="+", choices=TRAINED, default=None,
                    help="trained methods to run at the budgets (default: all; 1-NN always runs)")
    ap.add_argument("--seeds", type=int_in(1), default=None, help=f"seeds per fit (default {DEFAULTS['seeds']})")
    ap.add_argument("--budgets", type=positive_float, nargs="+", default=None,
                    help=f"wall seconds per fit (default {DEFAULTS['budgets']})")
    ap.add_argument("--hidden", type=int_in(1), default=None, help=f"neurons (default {DEFAULTS['hidden']})")
    ap.add_argument("--taps", type=int_in(1), default=None, help=f"taps per input (default {DEFAULTS['taps']})")
    ap.add_argument("--max-delay", type=int_in(0), default=None,
                    help=f"largest delay in steps (default {DEFAULTS['max_delay']})")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    out: Path = args.out
    meta = run_metadata(["python -m qiml.studies.snn_tasks", *(sys.argv[1:] if argv is None else argv)],
                        seeds=args.seeds, budgets=args.budgets, smoke=args.smoke)
    runner: JobRunner[dict[str, Any]] = JobRunner(out / "runs.jsonl", args.workers)
    jobs = sorted(jobs_of(args), key=lambda j: -j["budget"])           # the costliest first
    with runner:
        runner.run(jobs, run_job, label="fits")
        # every record of the folder (earlier command lines too) of this kind of run and these settings
        same = {k: getattr(args, k) for k in ("hidden", "taps", "max_delay")}
        records = [r for r in runner.done.values() if r.get("smoke") == bool(args.smoke)
                   and all(r.get(k) == v for k, v in same.items())]
    rows = summarise(records)
    lines = ["# Spiking networks trained by QiML and by surrogate gradients: median test accuracy", "",
             f"Each fit gets the wall seconds in the budget column on one core. Evaluations: loss evaluations for "
             f"QiML, epochs summed over the learning rates for snnTorch; epochs (best): the chosen learning rate's "
             f"epochs and its best validation epoch. {environment_line(meta)}", "",
             "| task | method | budget (s) | runs | median test | min - max | median train | median s | "
             "median evaluations | epochs (best) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ep = "" if np.isnan(r["median_epochs"]) else f"{r['median_epochs']:.0f} ({r['median_best_epoch']:.0f})"
        lines.append(f"| {r['task']} | {r['method']} | {r['budget_s']:g} | {r['runs']} | {r['median_test']:.3f} | "
                     f"{r['min_test']:.3f} - {r['max_test']:.3f} | {r['median_train']:.3f} | "
                     f"{r['median_seconds']:.1f} | {r['median_nfev']:.0f} | {ep} |")
    lines += ["", "## The goal: QiML at or above snnTorch, and above 1-NN ED on the classification sets", "",
              "qiml-val is QiML selected as snnTorch is (the snapshot best on a held-out quarter).", "",
              "| task | budget (s) | qiml | qiml-val | snntorch | 1-NN ED | qiml >= snnTorch | qiml-val >= snnTorch "
              "| qiml > 1-NN ED |", "|---|---|---|---|---|---|---|---|---|"]
    med = {(r["task"], r["method"], r["budget_s"]): r["median_test"] for r in rows}

    def verdict(a: float, b: float, strict: bool = False) -> str:
        return "n/a" if np.isnan(a) or np.isnan(b) else ("yes" if (a > b if strict else a >= b) else "**no**")

    for task in dict.fromkeys(r["task"] for r in rows):
        ref = med.get((task, "1nn-ed", 0.0), np.nan)
        for budget in sorted({b for (t, m, b) in med if t == task and m != "1nn-ed"}):
            q, qv, g = (med.get((task, m, budget), np.nan) for m in ("qiml", "qiml-val", "snntorch"))
            lines.append(f"| {task} | {budget:g} | {q:.3f} | {qv:.3f} | {g:.3f} | {ref:.3f} | {verdict(q, g)} | "
                         f"{verdict(qv, g)} | {verdict(q, ref, strict=True)} |")
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    atomic_write_csv(out / "summary.csv", rows, float_format=".6g")
    plot(rows, out / "accuracy.png")
    print("\n".join(lines))


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Median test accuracy per task, one panel per budget: a bar per trained method, 1-NN ED as a black tick."""
    plt = pyplot()
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    budgets = sorted({r["budget_s"] for r in rows if r["method"] != "1nn-ed"})
    med = {(r["task"], r["method"], r["budget_s"]): r["median_test"] for r in rows}
    colours = dict(zip(TRAINED, ("tab:blue", "tab:cyan", "tab:green", "tab:orange"), strict=True))
    fig, axes = plt.subplots(1, len(budgets), figsize=(max(5.0, 1.3 * len(tasks)) * len(budgets) / 1.4, 3.4),
                             sharey=True, squeeze=False)
    width = 0.8 / len(TRAINED)
    for ax, budget in zip(axes[0], budgets, strict=True):
        for i, method in enumerate(TRAINED):
            vals = [med.get((t, method, budget), np.nan) for t in tasks]
            ax.bar(np.arange(len(tasks)) + (i - (len(TRAINED) - 1) / 2) * width, vals, width, color=colours[method],
                   label=method)
        ref = [med.get((t, "1nn-ed", 0.0), np.nan) for t in tasks]
        ax.scatter(np.arange(len(tasks)), ref, marker="_", s=900, color="k", label="1-NN ED", zorder=3)
        ax.set_xticks(range(len(tasks)), tasks, fontsize=7, rotation=15)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{budget:g} s per fit", fontsize=9)
    axes[0][0].set_ylabel("median test accuracy")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
