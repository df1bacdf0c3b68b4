"""Does more budget pay? The scikit-learn estimators at 1x, 4x and 16x their default budget, and the
default regressor against a tuned Adam MLP of the same size.

Tasks (fixed data, the seed varies the training only; inputs standardised as a pipeline would):

* ``teacher``   tanh teacher-student 15 -> 6 -> 1 (the library's teacher), ``QiMLRegressor((6,))``, test MSE
* ``teacher8``  tanh teacher 8 -> 5 -> 1 with N(0, 1) first-layer weights (gain sqrt(8)), ``QiMLRegressor((5,))``
* ``smooth``    ``y = sin(2 x1) + cos(x2) x3`` on 3 standard-normal inputs, ``QiMLRegressor((8,))``, test MSE
* ``spirals``   two spirals, ``QiMLClassifier((8, 8))``, test misclassification

Each estimator runs at ``max_iter`` = 1x, 4x and 16x its default, over ``--seeds`` seeds (medians).
On ``smooth`` a full-batch Adam MLP of the same size (:func:`qiml.studies.baselines.adam`, PyTorch,
float64, learning rate tuned over ``nn_tasks.LRS`` with a constant and a cosine-decayed rate, best
median test MSE, in Adam's favour) gets the median wall time of QiML's default fit. Runs are cached in
``<out>/runs.jsonl`` (resumable). Writes ``budget.md``, ``budget.csv``, ``budget.png``.

    python -m qiml.studies.nn_budget --seeds 3        # about 10 min on 2 cores (qiml reproduce nn-budget)
    python -m qiml.studies.nn_budget --smoke          # tiny data and budgets
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from .. import datasets
from ..files import atomic_write, atomic_write_csv, atomic_write_text
from ..nn import MLP
from ..sklearn import QiMLClassifier, QiMLRegressor
from .args import int_in, pyplot, resolve, study_parser
from .baselines import adam
from .meta import environment_line, run_metadata
from .nn_tasks import LRS
from .runner import JobRunner

NAME = "nn-budget"
MULTIPLES = (1, 4, 16)
TASKS = {"teacher": ("regressor", (6,)), "teacher8": ("regressor", (5,)), "smooth": ("regressor", (8,)),
         "spirals": ("classifier", (8, 8))}
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both); a smoke run
#: also shrinks the data and the estimators' budgets (1x and 4x of a twentieth of the default)
DEFAULTS: dict[str, Any] = {"seeds": 5}
SMOKE: dict[str, Any] = {"seeds": 1}


def load(task: str, smoke: bool) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_test, y_test), inputs standardised on the training half."""
    n = 400 if smoke else 4000
    if task == "teacher":
        X, y, _ = datasets.make_teacher_student(n, seed=1)
    elif task == "teacher8":
        X, y, _ = datasets.make_teacher_student(n, n_features=8, n_hidden=5, seed=2, gain=np.sqrt(8.0))
    elif task == "smooth":
        X = np.random.default_rng(3).standard_normal((n, 3))
        y = np.sin(2 * X[:, 0]) + np.cos(X[:, 1]) * X[:, 2]
    elif task == "spirals":
        X, y = datasets.make_spirals(n // 4, noise=0.02, seed=1)
    else:
        raise KeyError(task)
    train = np.arange(X.shape[0]) % 4 < 2
    mu, sd = X[train].mean(axis=0), X[train].std(axis=0)
    X = (X - mu) / sd
    return X[train], y[train], X[~train], y[~train]


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One fit in a fresh single-threaded worker; a JSON-able record."""
    kind, hidden = TASKS[job["task"]]
    Xtr, ytr, Xte, yte = load(job["task"], job["smoke"])
    if job["method"] == "qiml":
        est_cls = QiMLRegressor if kind == "regressor" else QiMLClassifier
        default = (est_cls().max_iter or 0) // (20 if job["smoke"] else 1)   # smoke: a pipeline check, not the claim
        est = est_cls(hidden_layer_sizes=hidden, max_iter=default * job["multiple"], random_state=job["seed"])
        t0 = time.perf_counter()
        est.fit(Xtr, ytr)
        elapsed = time.perf_counter() - t0
        pred = est.predict(Xte)
        test = float(np.mean((pred - yte) ** 2)) if kind == "regressor" else float(np.mean(pred != yte))
        return {**job, "elapsed": elapsed, "test": test, "nfev": int(est.result_.nfev), "max_iter": est.max_iter}
    # Adam on the same network, on the same standardised targets the regressor sees
    net = MLP((Xtr.shape[1], *hidden, 1), "tanh")
    mu, sd = ytr.mean(), ytr.std()
    res = adam(net, Xtr, (ytr - mu) / sd, loss="mse", lr=job["lr"], seed=job["seed"], seconds=job["budget"],
               decay=job["method"] == "adam_decay")
    pred = net.forward(Xte, res.theta)[:, 0] * sd + mu
    return {**job, "elapsed": res.seconds, "test": float(np.mean((pred - yte) ** 2))}


def med(recs: list[dict[str, Any]], field: str = "test") -> float:
    return float(np.median([r[field] for r in recs]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = study_parser(NAME, __doc__, smoke_help=f"tiny data, {SMOKE['seeds']} seed, 1x and 4x of a twentieth of the "
                                                "default budget")
    ap.add_argument("--seeds", type=int_in(1), default=None, help=f"seeds per fit (default {DEFAULTS['seeds']})")
    a = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    a.out.mkdir(parents=True, exist_ok=True)
    meta = run_metadata(None if argv is None else ["python", "-m", "qiml.studies.nn_budget", *argv])
    seeds = list(range(a.seeds))
    multiples = MULTIPLES[:2] if a.smoke else MULTIPLES
    rows, adam_rows = [], []
    runner: JobRunner[dict[str, Any]] = JobRunner(a.out / "runs.jsonl", a.workers)
    with runner:
        for task in TASKS:
            recs = runner.run([{"task": task, "method": "qiml", "multiple": m, "seed": s, "smoke": a.smoke}
                               for m in multiples for s in seeds], run_job, label=f"{task}: qiml")
            for m in multiples:
                r = [x for x in recs if x["multiple"] == m]
                rows.append({"task": task, "multiple": m, "max_iter": r[0]["max_iter"], "test": med(r),
                             "seconds": med(r, "elapsed"), "nfev": med(r, "nfev")})
        # the smooth function: Adam at QiML's default wall time
        base = next(r["seconds"] for r in rows if r["task"] == "smooth" and r["multiple"] == 1)
        for factor in (1,):
            budget = round(base * factor, 3)
            best: tuple[float, str, float] | None = None
            for method in ("adam", "adam_decay"):
                for lr in LRS:
                    r = runner.run([{"task": "smooth", "method": method, "lr": lr, "budget": budget, "seed": s,
                                     "smoke": a.smoke} for s in seeds], run_job, label=f"smooth: {method} lr {lr:g}")
                    if best is None or med(r) < best[0]:
                        best = (med(r), method, lr)
            assert best is not None
            adam_rows.append({"factor": factor, "budget_s": budget, "test": best[0],
                              "schedule": "cosine" if best[1] == "adam_decay" else "constant", "lr": best[2]})
    write(a, rows, adam_rows, meta)
    return {"rows": rows, "adam": adam_rows, "meta": meta}


def write(a: argparse.Namespace, rows: list[dict[str, Any]], adam_rows: list[dict[str, Any]],
          meta: dict[str, Any]) -> None:
    metric = lambda t, v: f"{100 * v:.1f}%" if t == "spirals" else f"{v:.3g}"  # noqa: E731
    md = ["# Does more budget pay? The scikit-learn estimators at 1x, 4x and 16x their default budget", "",
          f"`python -m qiml.studies.nn_budget{' --smoke' if a.smoke else ''}"
          f"{f' --seeds {a.seeds}' if not a.smoke or a.seeds != SMOKE['seeds'] else ''}` (or `qiml reproduce "
          f"{NAME}`) — medians over {a.seeds} seeds, one single-threaded process per fit, "
          f"{a.workers} workers. {environment_line(meta)}", "",
          "| task | estimator | " + " | ".join(f"{m}x ({r['max_iter']} it)" for m, r in
                                                zip(sorted({r['multiple'] for r in rows}),
                                                    [r for r in rows if r["task"] == "teacher"], strict=True)) +
          " | seconds at 1x / 16x |", "|---|---|" + "---|" * (len({r['multiple'] for r in rows}) + 1)]
    for task, (kind, hidden) in TASKS.items():
        r = [x for x in rows if x["task"] == task]
        md.append(f"| {task} | QiML{'Regressor' if kind == 'regressor' else 'Classifier'}({hidden}) | "
                  + " | ".join(metric(task, x["test"]) for x in r)
                  + f" | {r[0]['seconds']:.2g} / {r[-1]['seconds']:.2g} |")
    md += ["", "Test MSE (spirals: test misclassification). Defaults: the estimators' own (`directions=\"curvature\"`, "
           "the output layer solved by least squares for the regressor).", "",
           "## The smooth function against a tuned Adam MLP of the same size (3-8-1 tanh)", "",
           "| budget | QiMLRegressor | Adam (tuned) |", "|---|---|---|"]
    q = {r["multiple"]: r for r in rows if r["task"] == "smooth"}
    for ar in adam_rows:
        qr = q.get(ar["factor"])
        qiml = metric("smooth", qr["test"]) if qr else "-"
        md.append(f"| {ar['budget_s']:.3g} s (QiML {ar['factor']}x default) | {qiml} "
                  f"| {metric('smooth', ar['test'])} (lr {ar['lr']:g}, {ar['schedule']}) |")
    md += ["", "Adam: full batch, float64, the same wall time as QiML's median fit at that budget; the learning rate "
           "and schedule (constant or cosine to 0) with the best median test MSE are shown.", ""]
    atomic_write_text(a.out / "budget.md", "\n".join(md) + "\n")
    atomic_write_csv(a.out / "budget.csv", rows, ["task", "multiple", "max_iter", "test", "seconds", "nfev"])
    plt = pyplot()
    fig, axes = plt.subplots(1, len(TASKS), figsize=(3 * len(TASKS), 3))
    for ax, task in zip(axes, TASKS, strict=True):
        r = [x for x in rows if x["task"] == task]
        ax.plot([x["multiple"] for x in r], [x["test"] for x in r], "o-")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("x default budget")
        ax.set_title(task)
    axes[0].set_ylabel("test MSE / error")
    fig.tight_layout()
    atomic_write(a.out / "budget.png", lambda fh: fig.savefig(fh, format="png", dpi=120))
    plt.close(fig)
    print("\n".join(md))


if __name__ == "__main__":
    main()
