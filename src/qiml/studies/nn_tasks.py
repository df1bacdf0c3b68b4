"""Tiny networks: QiML against Adam, Adam + post-training int8, the straight-through estimator and CMA-ES.

One study writes every table and plot of the tiny networks (``docs/results/nn-tasks/``):

* ``teacher``   teacher-student 15 -> 6 (tanh) -> 1, test MSE
* ``neurons``   smallest hidden size at which Adam matches QiML's 6-hidden test error (teacher, spirals)
* ``tasks``     two spirals, parity-8, digits 8x8, MNIST 14x14 (196-12-8-10): float and int8
* ``step``      a step-activation network on digits: QiML vs STE (Adam) vs CMA-ES
* ``speed``     time per epoch-equivalent (QiML: one sweep over all P parameters; Adam: one pass over the data)

Every run gets the same wall-clock budget (``--budget`` seconds, ``--mnist-budget`` for MNIST) in its own
single-threaded process; Adam (:func:`qiml.studies.baselines.adam`) has its learning rate tuned over a
grid (best median test metric per task, which favours Adam), and every number is a median over
``--seeds`` seeds. Runs are cached in ``<out>/runs.jsonl`` (:class:`~qiml.studies.runner.JobRunner`) so
an interrupted run resumes. All test metrics are computed by the same NumPy forward pass
(:class:`qiml.nn.MLP`) whatever trained the weights. Writes ``summary.md``, ``summary.json``, the
tables as ``tasks.csv``, ``neurons.csv`` and ``step.csv``, and ``tasks.png``, ``neurons_to_target.png``.

    python -m qiml.studies.nn_tasks                  # full run (about 45 min on 2 cores; needs MNIST: ./dev data)
    python -m qiml.studies.nn_tasks --smoke          # smoke run (tiny budgets, no MNIST)
    qiml reproduce nn-tasks
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from ..files import atomic_write, atomic_write_csv, atomic_write_text
from ..nn import MLP, get_loss, quantize
from ..training import AXIS_NETWORK_OPTIONS, fit_network, network_options
from .args import int_in, positive_float, pyplot, resolve, study_parser
from .baselines import adam
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "nn-tasks"
LRS = (1e-3, 3e-3, 1e-2, 3e-2)
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both)
DEFAULTS: dict[str, Any] = {"seeds": 5, "budget": 15.0, "mnist_budget": 45.0, "skip_mnist": False,
                            "ladder_max": 256, "ladder_seeds": 5}
SMOKE: dict[str, Any] = {"seeds": 1, "budget": 0.3, "mnist_budget": 0.3, "skip_mnist": True}


@dataclass(frozen=True)
class Task:
    name: str
    sizes: tuple[int, ...]
    activation: str = "tanh"
    loss: str = "cross_entropy"
    metric: str = "error"           # "error" (test misclassification) or "mse"
    qiml_batch: int | None = None   # mini-batch for QiML's axis slices (int8, step networks; None: all samples)
    float_batch: int | None = None  # mini-batch for QiML's float (curvature) slices: noise hurts them
    adam_batch: int | None = None   # mini-batch for Adam (None: full batch)
    budget_key: str = "budget"


TASKS = {
    "teacher": Task("teacher", (15, 6, 1), loss="mse", metric="mse"),
    "spirals": Task("spirals", (2, 8, 8, 2)),
    "spirals6": Task("spirals6", (2, 6, 2)),
    "parity8": Task("parity8", (8, 8, 2)),
    "digits": Task("digits", (64, 12, 8, 10), qiml_batch=256, adam_batch=128),
    "mnist": Task("mnist", (196, 12, 8, 10), qiml_batch=1000, float_batch=1000, adam_batch=128,
                  budget_key="mnist_budget"),
    "digits_step": Task("digits_step", (64, 16, 10), activation="step", qiml_batch=256, adam_batch=128),
}


def load(task: str, smoke: bool) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_test, y_test) of a task; fixed splits (the seed varies the training only)."""
    if task == "teacher":
        X, y, _ = datasets.make_teacher_student(1000 if smoke else 4000, seed=1)
        h = X.shape[0] // 2
        return X[:h], y[:h], X[h:], y[h:]
    if task.startswith("spirals"):
        X, y = datasets.make_spirals(400 if smoke else 1000, noise=0.02, seed=1)
        train = np.arange(X.shape[0]) % 4 < 2        # rows alternate classes: pairs in, pairs out
        return X[train], y[train], X[~train], y[~train]
    if task == "parity8":
        X, y = datasets.make_parity(8)
        return X, y, X, y                            # parity is a fitting problem: all 256 patterns
    if task.startswith("digits"):
        X, y = datasets.load_digits(seed=1)
        h = 1200
        return X[:h], y[:h], X[h:], y[h:]
    if task == "mnist":
        Xtr, ytr, Xte, yte = datasets.load_mnist(14, seed=1)
        if smoke:
            return Xtr[:2000], ytr[:2000], Xte[:1000], yte[:1000]
        return Xtr, ytr, Xte, yte
    raise KeyError(task)


def test_metric(task: Task, net: MLP, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    out = net.forward(X, theta)
    if task.metric == "mse":
        return float(np.mean((out[:, 0] - y) ** 2))
    return float(np.mean(out.argmax(axis=1) != y))


# -- methods ---------------------------------------------------------------------------------------
def run_qiml(task: Task, net: MLP, data: tuple, seed: int, budget: float, bits: int | None,
             axes: bool = False) -> dict[str, Any]:
    Xtr, ytr = data[:2]
    t0 = time.perf_counter()
    opts = {**AXIS_NETWORK_OPTIONS, "output": "params"} if axes else {}
    used = {**network_options(net, task.loss, bits), **opts}
    # axis slices (lattices, models without a derivative) take mini-batches; curvature slices do not
    batch = task.qiml_batch if used["directions"] == "axes" else task.float_batch
    res = fit_network(net, Xtr, ytr, task.loss, bits=bits, batch_size=batch, seed=seed,
                      max_time=budget, max_evals=10**12, **opts)
    elapsed = time.perf_counter() - t0
    nx = used.get("nx") or 3   # grid points per slice
    sweeps = res.nfev / (net.n_params * (nx + 1))   # epoch-equivalent: every parameter's slice once
    return {"theta": res.x, "elapsed": elapsed, "epochs": sweeps, "train_loss": float(res.fun)}


def run_cma(task: Task, net: MLP, data: tuple, seed: int, budget: float) -> dict[str, Any]:
    import cma

    Xtr, ytr, _, _ = data
    lossf = get_loss(task.loss)
    rng = np.random.default_rng(seed)
    es = cma.CMAEvolutionStrategy(net.init(rng), 0.5, {"seed": seed + 1, "verbose": -9, "bounds": [-3, 3],
                                                       "CMA_diagonal": net.n_params > 200})
    t0, evals = time.perf_counter(), 0
    while time.perf_counter() - t0 < budget and not es.stop():
        P = np.asarray(es.ask())
        F = lossf(net.forward_rows(Xtr, P), ytr).mean(axis=-1)
        es.tell(list(P), F.tolist())
        evals += len(P)
    return {"theta": np.asarray(es.result.xbest), "elapsed": time.perf_counter() - t0, "epochs": evals / net.n_params,
            "train_loss": float(es.result.fbest)}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One (task, method, seed, ...) run in a single-threaded worker; returns a JSON-able record."""
    task = TASKS[job["task"]]
    sizes = tuple(job.get("sizes") or task.sizes)
    net = MLP(sizes, task.activation)
    data = load(task.name, job["smoke"])
    m, seed, budget = job["method"], job["seed"], job["budget"]
    if m == "qiml":
        out = run_qiml(task, net, data, seed, budget, None)
    elif m == "qiml_axes":   # the engine's network default before issue 13: axis slices of 64 points
        out = run_qiml(task, net, data, seed, budget, None, axes=True)
    elif m == "qiml_int8":
        out = run_qiml(task, net, data, seed, budget, 8)
    elif m in ("adam", "ste", "adam_decay"):   # ste: Adam on a step network (the straight-through estimator)
        res = adam(net, data[0], data[1], loss=task.loss, lr=job["lr"], batch=task.adam_batch, seed=seed,
                   seconds=budget, decay=m == "adam_decay")
        out = {"theta": res.theta, "elapsed": res.seconds, "epochs": res.epochs, "train_loss": res.train_loss}
    elif m == "cma":
        out = run_cma(task, net, data, seed, budget)
    else:
        raise KeyError(m)
    theta = out.pop("theta")
    rec = {**{k: v for k, v in job.items() if k != "smoke"}, **out, "n_params": net.n_params,
           "test": test_metric(task, net, theta, data[2], data[3])}
    if m in ("adam", "adam_decay"):   # the same weights after post-training int8 quantization
        rec["test_ptq8"] = test_metric(task, net, quantize(net, theta, 8)[0], data[2], data[3])
    return rec


# -- orchestration -----------------------------------------------------------------------------------
def job_key(job: dict[str, Any]) -> str:
    """A run's name in ``runs.jsonl``: its settings, with the smoke flag under its earlier name ``quick``
    so that the committed runs of the full study (made before the rename) are still found."""
    fields = {k: job.get(k) for k in ("task", "method", "seed", "lr", "sizes", "budget")}
    return json.dumps({**fields, "quick": job.get("smoke")}, sort_keys=True)


def med(recs: list[dict[str, Any]], field: str = "test") -> float:
    return float(np.median([r[field] for r in recs])) if recs else float("nan")


def tuned_adam(runner: JobRunner[dict[str, Any]], base: dict[str, Any], seeds: list[int], label: str,
               method: str = "adam") -> tuple[float, list[dict[str, Any]]]:
    """Runs the learning-rate grid; returns the lr with the best median test metric and its runs."""
    jobs = [{**base, "method": method, "seed": s, "lr": lr} for lr in LRS for s in seeds]
    recs = runner.run(jobs, run_job, label=label)
    by_lr = {lr: [r for r in recs if r["lr"] == lr] for lr in LRS}
    best = min(LRS, key=lambda lr: med(by_lr[lr]))
    return best, by_lr[best]


def tuned_adam_schedule(runner: JobRunner[dict[str, Any]], base: dict[str, Any], seeds: list[int], label: str
                        ) -> tuple[str, float, list[dict[str, Any]]]:
    """The better of constant and cosine-decayed Adam, each over the lr grid: (method, lr, runs)."""
    best = [(m, *tuned_adam(runner, base, seeds, f"{label} ({m})", method=m)) for m in ("adam", "adam_decay")]
    return min(best, key=lambda b: med(b[2]))


def fmt(v: float, metric: str) -> str:
    return f"{v:.3g}" if metric == "mse" else f"{100 * v:.1f}%"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    d, sm = DEFAULTS, SMOKE
    ap = study_parser(NAME, __doc__, smoke_help=f"{sm['seeds']} seed, {sm['budget']:g} s per run, tiny data, no MNIST")
    ap.add_argument("--seeds", type=int_in(1), default=None, help=f"seeds per method (default {d['seeds']})")
    ap.add_argument("--budget", type=positive_float, default=None,
                    help=f"seconds per run, small tasks (default {d['budget']:g})")
    ap.add_argument("--mnist-budget", type=positive_float, default=None,
                    help=f"seconds per MNIST run (default {d['mnist_budget']:g})")
    ap.add_argument("--skip-mnist", action=argparse.BooleanOptionalAction, default=None,
                    help="leave MNIST out (default: no; with --smoke: yes)")
    ap.add_argument("--ladder-max", type=int_in(2), default=None,
                    help=f"largest Adam hidden size in the neuron ladders (default {d['ladder_max']})")
    ap.add_argument("--ladder-seeds", type=int_in(1), default=None,
                    help=f"seeds per Adam run of the neuron ladders (default {d['ladder_seeds']})")
    a = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    a.out.mkdir(parents=True, exist_ok=True)
    a.meta = run_metadata(None if argv is None else ["python", "-m", "qiml.studies.nn_tasks", *argv])
    runner: JobRunner[dict[str, Any]] = JobRunner(a.out / "runs.jsonl", a.workers, key=job_key)
    with runner:
        return report(a, runner)


def report(a: argparse.Namespace, runner: JobRunner[dict[str, Any]]) -> dict[str, Any]:
    """Runs (or reads from the cache) every experiment and writes the tables and plots."""

    def run(jobs: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
        return runner.run(jobs, run_job, label=label)

    seeds = list(range(a.seeds))
    budgets = {"budget": a.budget, "mnist_budget": a.mnist_budget}
    base = lambda t, **kw: {"task": t, "budget": budgets[TASKS[t].budget_key], "smoke": a.smoke, **kw}  # noqa: E731
    summary: dict[str, Any] = {"seeds": a.seeds, "budget_s": a.budget, "mnist_budget_s": a.mnist_budget,
                               "lr_grid": LRS, "smoke": a.smoke}
    md: list[str] = []

    # teacher-student and the tasks: QiML float / int8 against tuned Adam and Adam + PTQ int8
    tasks = ["teacher", "spirals", "parity8", "digits"] + ([] if a.skip_mnist else ["mnist"])
    rows = []
    for t in tasks:
        task = TASKS[t]
        q = run([{**base(t), "method": "qiml", "seed": s} for s in seeds], f"{t}: qiml")
        qa = run([{**base(t), "method": "qiml_axes", "seed": s} for s in seeds], f"{t}: qiml axes")
        q8 = run([{**base(t), "method": "qiml_int8", "seed": s} for s in seeds], f"{t}: qiml int8")
        sched, lr, ad = tuned_adam_schedule(runner, base(t), seeds, f"{t}: adam lr grid")
        rows.append({"task": t, "net": "-".join(map(str, task.sizes)), "P": q[0]["n_params"], "metric": task.metric,
                     "qiml": med(q), "qiml_axes": med(qa), "qiml_int8": med(q8), "adam": med(ad), "adam_lr": lr,
                     "adam_schedule": "cosine" if sched == "adam_decay" else "constant",
                     "adam_ptq8": med(ad, "test_ptq8"),
                     "qiml_epochs": med(q, "epochs"), "adam_epochs": med(ad, "epochs"),
                     "qiml_s_per_epoch": med([{"v": r["elapsed"] / max(r["epochs"], 1e-12)} for r in q], "v"),
                     "adam_s_per_epoch": med([{"v": r["elapsed"] / max(r["epochs"], 1e-12)} for r in ad], "v")})
    summary["tasks"] = rows
    md += ["## Tiny networks: test metric, median over seeds (lower is better)", "",
           "| task | network | P | QiML float | QiML axes (before) | Adam (tuned) | QiML int8 | Adam + PTQ int8 | "
           "Adam lr, schedule |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = [fmt(r[k], r["metric"]) for k in ("qiml", "qiml_axes", "adam", "qiml_int8", "adam_ptq8")]
        md.append(f"| {r['task']} | {r['net']} | {r['P']} | {' | '.join(f)} | {r['adam_lr']:g}, {r['adam_schedule']} |")
    md += ["", "Metric: test MSE for teacher (15-6-1), else test misclassification rate (parity-8: all 256 patterns,"
           " a fitting task). QiML float: the network default (`directions=\"curvature\"`: slices along each "
           "neuron's Gauss-Newton directions, which uses the activations' derivative; the output layer solved by "
           "least squares under MSE; full batch except MNIST, 1000). QiML axes: the default before issue 13 "
           "(axis slices of 64 points, mini-batches 256 on digits; derivative-free). QiML int8 searches the lattice "
           "with axis slices (derivative-free). The loss is never differentiated. Adam: best median over the lr grid "
           "with a constant rate and with a cosine decay to 0 over the budget. Finished runs are cached in "
           "`runs.jsonl` and reused by a rerun, so rows may come from different days on this shared machine, "
           "whose speed varies (see the README for which).", "",
           "## Time per epoch-equivalent", "",
           "| task | QiML s / sweep | sweeps in budget | Adam s / epoch | epochs in budget |", "|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['task']} | {r['qiml_s_per_epoch']:.3g} | {r['qiml_epochs']:.3g} | "
                  f"{r['adam_s_per_epoch']:.3g} | {r['adam_epochs']:.3g} |")
    md += ["", "A QiML sweep = one slice of every parameter (P x (nx + 1) loss evaluations, computed incrementally);"
           " an Adam epoch = one pass over the training set.", ""]

    # neurons to target: Adam's hidden size needed to match QiML with 6 hidden
    ladder = [h for h in (2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256) if h <= a.ladder_max]
    nrows: list[dict[str, Any]] = []
    for t, n_in, n_out in (("teacher", 15, 1), ("spirals6", 2, 2)):
        qref = med(run([{**base(t), "method": "qiml", "seed": s} for s in seeds], f"{t}: qiml (6 hidden)"))
        found, curve = None, []
        for h in ladder:
            lr, ad = tuned_adam(runner, base(t, sizes=[n_in, h, n_out]), seeds[:a.ladder_seeds], f"{t}: adam h={h}")
            curve.append({"hidden": h, "adam": med(ad), "lr": lr})
            if med(ad) <= qref:
                found = h
                break
        nrows.append({"task": t, "qiml_6": qref, "adam_hidden_needed": found, "curve": curve})
    summary["neurons"] = nrows
    md += ["## Neurons to target: smallest Adam hidden layer matching QiML's 6-hidden test metric", "",
           "| task | QiML, 6 hidden | Adam hidden size needed | Adam at that size |", "|---|---|---|---|"]
    for r in nrows:
        metric = TASKS[r["task"]].metric
        last = r["curve"][-1]
        need = r["adam_hidden_needed"] if r["adam_hidden_needed"] is not None else f"> {ladder[-1]}"
        md.append(f"| {r['task']} | {fmt(r['qiml_6'], metric)} | {need} | {fmt(last['adam'], metric)} |")
    curves = "; ".join(r["task"] + ": " + ", ".join(f"{c['hidden']} -> {fmt(c['adam'], TASKS[r['task']].metric)}"
                                                   for c in r["curve"]) for r in nrows)
    md += ["", "Hidden sizes are tried in the order " + ", ".join(map(str, ladder)) + "; the ladder stops at the "
           f"first size whose median (first {a.ladder_seeds} seeds, constant-rate Adam) meets QiML's. Curves: "
           + curves + ".", ""]

    # step activations: QiML vs straight-through estimator vs CMA-ES
    t = "digits_step"
    q = run([{**base(t), "method": "qiml", "seed": s} for s in seeds], "step: qiml")
    qa = run([{**base(t), "method": "qiml_axes", "seed": s} for s in seeds], "step: qiml axes")
    lr, st = tuned_adam(runner, base(t), seeds, "step: STE lr grid", method="ste")
    cm = run([{**base(t), "method": "cma", "seed": s} for s in seeds], "step: cma-es")
    summary["step"] = {"qiml": med(q), "qiml_axes": med(qa), "ste": med(st), "ste_lr": lr, "cma": med(cm),
                       "P": q[0]["n_params"]}
    md += ["## Step activations on digits (64-16 step-10), test error, median", "",
           "| QiML | QiML axes (before) | Adam + straight-through estimator (tuned lr) | CMA-ES |", "|---|---|---|---|",
           f"| {fmt(med(q), 'error')} | {fmt(med(qa), 'error')} | {fmt(med(st), 'error')} (lr {lr:g}) | "
           f"{fmt(med(cm), 'error')} |", "",
           "A step network has no derivative, so QiML's default there is axis slices (derivative-free), as before.",
           ""]

    summary["meta"] = a.meta
    mnist = {(True, False): " --skip-mnist", (False, True): " --no-skip-mnist"}.get((a.skip_mnist, a.smoke), "")
    cmd = (f"python -m qiml.studies.nn_tasks{' --smoke' if a.smoke else ''}{mnist} --seeds {a.seeds} "
           f"--budget {a.budget:g} --mnist-budget {a.mnist_budget:g} --ladder-max {a.ladder_max} "
           f"--ladder-seeds {a.ladder_seeds}")
    head = ["# Tiny networks: QiML against gradient training", "",
            f"`{cmd}` (or `qiml reproduce {NAME}`) — {a.seeds} seeds, "
            f"{a.budget:g} s per run ({a.mnist_budget:g} s on MNIST), Adam lr grid {list(LRS)} tuned on the test "
            f"metric (in Adam's favour), one process per run, {a.workers} workers. {environment_line(a.meta)}", ""]
    atomic_write_text(a.out / "summary.md", "\n".join(head + md) + "\n")
    atomic_write_text(a.out / "summary.json", json.dumps(summary, indent=1) + "\n")
    write_csv(summary, a.out)
    plot(summary, a.out)
    print("\n".join(head + md))
    return summary


def _savefig(fig: Any, path: Path) -> None:
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120))


def write_csv(summary: dict[str, Any], out: Path) -> None:
    """The Markdown tables as CSV: ``tasks.csv`` (tasks and time per epoch), ``neurons.csv`` (the Adam
    hidden-size ladder against QiML's 6 hidden) and ``step.csv`` (step activations)."""
    keys = ["task", "net", "P", "metric", "qiml", "qiml_axes", "adam", "qiml_int8", "adam_ptq8", "adam_lr",
            "adam_schedule", "qiml_epochs",
            "adam_epochs", "qiml_s_per_epoch", "adam_s_per_epoch"]
    atomic_write_csv(out / "tasks.csv", summary["tasks"], keys)
    ladder = [[r["task"], TASKS[r["task"]].metric, r["qiml_6"], c["hidden"], c["adam"], c["lr"],
               c["hidden"] == r["adam_hidden_needed"]] for r in summary["neurons"] for c in r["curve"]]
    keys = ["task", "metric", "qiml_6_hidden", "adam_hidden", "adam", "adam_lr", "matches_qiml"]
    atomic_write_csv(out / "neurons.csv", [dict(zip(keys, row, strict=True)) for row in ladder], keys)
    step = summary["step"]
    atomic_write_csv(out / "step.csv", [{"task": "digits_step", "metric": "error",
                                         **{k: step[k] for k in ("P", "qiml", "qiml_axes", "ste", "ste_lr", "cma")}}])


def plot(summary: dict[str, Any], out: Path) -> None:
    plt = pyplot()
    rows = summary["tasks"]
    fig, axes = plt.subplots(1, len(rows), figsize=(3 * len(rows), 3.2))
    for ax, r in zip(np.atleast_1d(axes), rows, strict=True):
        keys = ["qiml", "qiml_axes", "adam", "qiml_int8", "adam_ptq8"]
        ax.bar(range(5), [r[k] for k in keys], color=["C0", "C4", "C1", "C2", "C3"])
        ax.set_xticks(range(5), ["QiML", "QiML\naxes", "Adam", "QiML\nint8", "Adam\n+PTQ8"], fontsize=7)
        if r["metric"] == "mse":
            ax.set_yscale("log")
        ax.set_title(f"{r['task']} ({r['net']})", fontsize=9)
        ax.set_ylabel("test MSE" if r["metric"] == "mse" else "test error")
    fig.tight_layout()
    _savefig(fig, out / "tasks.png")
    plt.close(fig)
    fig, axes = plt.subplots(1, len(summary["neurons"]), figsize=(9, 3.4))
    for ax, r in zip(np.atleast_1d(axes), summary["neurons"], strict=True):
        c = r["curve"]
        ax.plot([p["hidden"] for p in c], [p["adam"] for p in c], "o-", color="C1", label="Adam (tuned lr)")
        ax.axhline(r["qiml_6"], color="C0", ls="--", label="QiML, 6 hidden")
        ax.set_xscale("log", base=2)
        ax.set_xticks([p["hidden"] for p in c], [str(p["hidden"]) for p in c])
        ax.set_yscale("log")
        ax.set_xlabel("hidden neurons")
        ax.set_title(r["task"])
        ax.legend(fontsize=8)
    fig.tight_layout()
    _savefig(fig, out / "neurons_to_target.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
