"""Anomaly detection by the forecast error of a spiking network trained by QiML, against a surrogate-gradient
spiking network of the same size and classical detectors, at two equal wall budgets.

    python -m qiml.studies.snn_anomaly [--series nab yahoo kdd-135 gutentag-ecg mitdb] [--seeds 5]
                                       [--budgets 5 20] [--methods ...] [--workers N]
    python -m qiml.studies.snn_anomaly --smoke     # a short generated series, 1 seed, 3 s, tiny networks
    qiml reproduce snn-anomaly                     # needs the aeon and sktime wheels: ./dev data

Series (:func:`qiml.anomaly.load_anomaly`): ``nab``, a generated NAB-style series (4000 steps, eight
anomalies: spikes, level shifts, noise bursts, frequency changes); ``yahoo`` (1000 steps, seven
one-step anomalies) and ``mitdb`` (7500 steps, one abnormal stretch of 352) from sktime; ``kdd-135``
(the UCR anomaly archive's InternalBleeding16, 7501 steps, one anomaly of 12) and ``gutentag-ecg``
(GutenTAG's ecg-diff-count-3, 10000 training and 10000 test steps, three anomalies) from aeon. aeon's
Daphnet excerpt has no labelled anomaly, so it is left out. Each detector learns from the anomaly-free
prefix ``train_end`` only (its last quarter held out to set the threshold) and is scored on the rest with
:func:`qiml.anomaly.event_scores` (event-level precision, recall, F1; true events widened by half a period).

Methods:

* ``qiml``: :class:`qiml.anomaly.ForecastDetector` with a :class:`qiml.snn.SpikingRegressor` of ``hidden``
  LIF neurons, ``taps`` delayed taps, no trainable delays, spike-count readout solved by ridge least squares,
  ``max_time`` = the budget (``max_iter=None``). It forecasts the next block from a window of ``window``
  blocks (a block is ``stride`` steps with ``stride`` = max(1, round(period / 4 / window)): 1 step on
  nab, yahoo and gutentag-ecg, 2 on kdd-135, 3 on mitdb), trained on at most 400 windows, evenly spaced
  over the prefix's fit part (yahoo 275, the others 400), so that one evaluation simulates 400 x 24 steps;
* ``snntorch``: the same detector and network, but the regressor is
  :class:`qiml.studies.snn_surrogate.SurrogateSpikingRegressor` (snnTorch surrogate gradients, Adam,
  learning rates tried on a validation split), ``max_time`` = the budget;
* ``zscore``: rolling z-score over the last period (deterministic: one run);
* ``iforest``: scikit-learn's IsolationForest on the same windows (seeded; no budget).

The window span (a quarter period rather than a whole one) and the spike-count readout were chosen on
generated development series (:func:`qiml.anomaly.make_nab_series` seeds 101 to 103, never the
evaluation series) and hold for both spiking networks and the isolation forest alike. The wall time of
each run (fit and scoring of the whole series) is recorded. Writes ``summary.md``, ``summary.csv``,
``f1.png``, ``example.png`` (one series with its labels, the QiML detector's score and detections) and
the resumable ``runs.jsonl`` to ``--out``.
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..anomaly import (
    AnomalySeries,
    Detector,
    ForecastDetector,
    IsolationForestDetector,
    ZScoreDetector,
    evaluate,
    load_anomaly,
    make_nab_series,
)
from ..files import atomic_write_csv, atomic_write_text
from .args import int_in, positive_float, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "snn-anomaly"
SERIES = ("nab", "yahoo", "kdd-135", "gutentag-ecg", "mitdb")
METHODS = ("qiml", "snntorch", "zscore", "iforest")
SNN_METHODS = ("qiml", "snntorch")
DEFAULTS: dict[str, Any] = {"series": list(SERIES), "methods": list(METHODS), "seeds": 5, "budgets": [5.0, 20.0],
                            "hidden": 16, "taps": 8, "window": 24}
SMOKE: dict[str, Any] = {"series": ["nab"], "seeds": 1, "budgets": [3.0], "hidden": 3, "taps": 1, "window": 12}
#: points of the example's score trace kept in its record (max-pooled)
TRACE_POINTS = 2000


def load_series(name: str, smoke: bool) -> AnomalySeries:
    """The series ``name``; in a smoke run the generated one is shorter (1600 steps, one anomaly per kind)."""
    if smoke and name == "nab":
        return make_nab_series(1600, per_kind=1)
    return load_anomaly(name)


def make_detector(job: dict[str, Any], period: int) -> Detector:
    """The detector of ``job`` (method, seed, budget and network size)."""
    method, seed = job["method"], int(job["seed"])
    if method == "zscore":
        return ZScoreDetector(period)
    if method == "iforest":
        return IsolationForestDetector(period, window=job["window"], random_state=seed)
    if method == "qiml":
        from ..snn.estimators import SpikingRegressor
        factory: Any = partial(SpikingRegressor, hidden=job["hidden"], taps=job["taps"], readout="counts",
                               max_iter=None, max_time=job["budget"], random_state=seed)
    elif method == "snntorch":
        from .snn_surrogate import SurrogateSpikingRegressor
        factory = partial(SurrogateSpikingRegressor, hidden=job["hidden"], taps=job["taps"], readout="counts",
                          max_time=job["budget"], random_state=seed)
    else:
        raise ValueError(f"unknown method {method!r}")
    return ForecastDetector(factory, period, window=job["window"])


def _pooled(x: np.ndarray, points: int) -> list[float]:
    """``x`` max-pooled to at most ``points`` values (for a plot of a long score trace)."""
    k = max(1, -(-len(x) // points))
    pad = np.concatenate([x, np.full(-len(x) % k, -np.inf)])
    return [round(float(v), 4) for v in pad.reshape(-1, k).max(axis=1)]


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One detector on one series: event-level scores, wall seconds, and the trainer's diagnostics."""
    s = load_series(job["series"], job["smoke"])
    det = make_detector(job, s.period)
    t0 = time.perf_counter()
    res = evaluate(det, s)
    seconds = time.perf_counter() - t0
    rec: dict[str, Any] = {**job, **res, "seconds": seconds}
    model = getattr(det, "model_", None)
    if model is not None:
        rec["nfev"] = int(model.result_.nfev) if hasattr(model, "result_") else 0
        rec["epochs"] = int(np.sum(getattr(model, "epochs_", 0)))        # the surrogate's, over its learning rates
        if hasattr(model, "lr_"):
            rec["lr"] = float(model.lr_)
    if job.get("trace"):
        rec["trace_every"] = max(1, -(-len(s.values) // TRACE_POINTS))
        rec["trace"] = _pooled(det.score(s.values), TRACE_POINTS)
    return rec


def jobs_of(args: Any) -> list[dict[str, Any]]:
    common = {"smoke": bool(args.smoke), "hidden": args.hidden, "taps": args.taps, "window": args.window}
    example = example_series(args.series)
    jobs = []
    for name in args.series:
        if "zscore" in args.methods:
            jobs.append({"series": name, "method": "zscore", "seed": 0, "budget": 0.0, **common})
        for seed in range(args.seeds) if "iforest" in args.methods else ():
            jobs.append({"series": name, "method": "iforest", "seed": seed, "budget": 0.0, **common})
        for method in (m for m in SNN_METHODS if m in args.methods):
            for budget in args.budgets:
                for seed in range(args.seeds):
                    job = {"series": name, "method": method, "seed": seed, "budget": float(budget), **common}
                    if method == "qiml" and name == example and seed == 0 and budget == min(args.budgets):
                        job["trace"] = True
                    jobs.append(job)
    return jobs


def example_series(series: list[str]) -> str:
    """The series of ``example.png``: the generated one when it is run, else the first."""
    return "nab" if "nab" in series else series[0]


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median precision, recall and F1 (and the F1 range, wall time) per series, method and budget."""
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["series"], r["method"], r["budget"]), []).append(r)
    rows = []
    for (name, method, budget), rs in groups.items():
        f1 = np.array([r["f1"] for r in rs], dtype=float)
        rows.append({"series": name, "method": method, "budget_s": budget, "runs": len(rs),
                     "median_precision": float(np.median([r["precision"] for r in rs])),
                     "median_recall": float(np.median([r["recall"] for r in rs])),
                     "median_f1": float(np.median(f1)), "min_f1": float(f1.min()), "max_f1": float(f1.max()),
                     "median_events": float(np.median([r["predicted_events"] for r in rs])),
                     "median_seconds": float(np.median([r["seconds"] for r in rs])),
                     "median_nfev": float(np.median([r.get("nfev", 0) for r in rs])),
                     "median_epochs": float(np.median([r.get("epochs", 0) for r in rs]))})
    return sorted(rows, key=lambda r: (SERIES.index(r["series"]) if r["series"] in SERIES else 99,
                                       METHODS.index(r["method"]), r["budget_s"]))


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One line per series and budget: is the QiML SNN's median F1 at or above the surrogate SNN's?"""
    out = []
    for r in rows:
        if r["method"] != "qiml":
            continue
        other = next((o for o in rows if o["series"] == r["series"] and o["method"] == "snntorch"
                      and o["budget_s"] == r["budget_s"]), None)
        if other is None:
            out.append(f"- {r['series']}, {r['budget_s']:g} s: no snnTorch runs to compare with")
            continue
        met = r["median_f1"] >= other["median_f1"]
        out.append(f"- {r['series']}, {r['budget_s']:g} s: QiML {r['median_f1']:.3f} against snnTorch "
                   f"{other['median_f1']:.3f}: goal {'met' if met else '**not met**'}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(NAME, __doc__.split("\n\n")[0], smoke_help="a 1600-step generated series, 1 seed, 3 s, "
                                                                 "3 neurons")
    ap.add_argument("--series", nargs="+", choices=SERIES, default=None, help="series (default: all)")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=None, help="methods (default: all)")
    ap.add_argument("--seeds", type=int_in(1), default=None, help=f"seeds per method (default {DEFAULTS['seeds']})")
    ap.add_argument("--budgets", type=positive_float, nargs="+", default=None,
                    help=f"wall seconds per spiking fit (default {DEFAULTS['budgets']})")
    ap.add_argument("--hidden", type=int_in(1), default=None, help=f"neurons (default {DEFAULTS['hidden']})")
    ap.add_argument("--taps", type=int_in(1), default=None, help=f"taps per input (default {DEFAULTS['taps']})")
    ap.add_argument("--window", type=int_in(2), default=None,
                    help=f"blocks per input window (default {DEFAULTS['window']})")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    out: Path = args.out
    meta = run_metadata(["python -m qiml.studies.snn_anomaly", *(sys.argv[1:] if argv is None else argv)],
                        seeds=args.seeds, budgets=args.budgets, smoke=args.smoke)
    runner: JobRunner[dict[str, Any]] = JobRunner(out / "runs.jsonl", args.workers)
    with runner:
        records = runner.run(jobs_of(args), run_job, label="detectors", cost=lambda j: j["budget"] + 1.0)
    rows = summarise(records)
    lines = [f"# Anomaly detection by spiking networks: event-level scores, medians over {args.seeds} seed(s)", "",
             "Each spiking fit gets the wall seconds in the budget column on one core; the classical detectors "
             "have no budget (the rolling z-score is deterministic: one run). Seconds are the whole run: fit and "
             f"scoring of the series. {environment_line(meta)}", "",
             "| series | method | budget (s) | runs | median precision | median recall | median F1 | F1 min - max "
             "| median events | median s | median evaluations / epochs |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        budget = f"{r['budget_s']:g}" if r["method"] in SNN_METHODS else "-"
        diag = (f"{r['median_nfev']:.0f}" if r["method"] == "qiml" else f"{r['median_epochs']:.0f}"
                if r["method"] == "snntorch" else "-")
        lines.append(f"| {r['series']} | {r['method']} | {budget} | {r['runs']} | {r['median_precision']:.3f} | "
                     f"{r['median_recall']:.3f} | {r['median_f1']:.3f} | {r['min_f1']:.3f} - {r['max_f1']:.3f} | "
                     f"{r['median_events']:.0f} | {r['median_seconds']:.1f} | {diag} |")
    lines += ["", "Goal: the QiML SNN's median F1 at or above the surrogate-gradient SNN's at the same budget.", "",
              *verdicts(rows)]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    atomic_write_csv(out / "summary.csv", rows, float_format=".6g")
    plot(rows, out / "f1.png")
    example = next((r for r in records if r.get("trace")), None)
    if example is not None:
        plot_example(example, load_series(example["series"], example["smoke"]), out / "example.png")
    print("\n".join(lines))


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Median event F1 per series: one bar per method and budget, the seeds' range as an error bar."""
    plt = pyplot()
    names = list(dict.fromkeys(r["series"] for r in rows))
    groups = list(dict.fromkeys((r["method"], r["budget_s"]) for r in rows))
    fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(names)), 3.2))
    width = 0.8 / len(groups)
    for i, (method, budget) in enumerate(groups):
        got = [next((r for r in rows if r["series"] == n and r["method"] == method and r["budget_s"] == budget), None)
               for n in names]
        med = np.array([np.nan if g is None else g["median_f1"] for g in got])
        lo = np.array([np.nan if g is None else g["median_f1"] - g["min_f1"] for g in got])
        hi = np.array([np.nan if g is None else g["max_f1"] - g["median_f1"] for g in got])
        ax.bar(np.arange(len(names)) + (i - (len(groups) - 1) / 2) * width, med, width, yerr=[lo, hi],
               capsize=2, label=method if method not in SNN_METHODS else f"{method}, {budget:g} s")
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("median event F1")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_example(rec: dict[str, Any], s: AnomalySeries, path: Path) -> None:
    """The series with its labelled events, and the QiML detector's score (max-pooled), threshold and
    detections."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True)
    v = s.values if s.values.ndim == 1 else s.values[:, 0]
    a1.plot(v, lw=0.5, color="k")
    every = int(rec["trace_every"])
    a2.plot(np.arange(len(rec["trace"])) * every, rec["trace"], lw=0.6, label="QiML SNN score")
    a2.axhline(rec["threshold"], color="k", ls="--", lw=0.8, label="threshold")
    for ax in (a1, a2):
        ax.axvline(s.train_end, color="grey", lw=0.8)
        for i, (a, b) in enumerate(s.events):
            ax.axvspan(a, b, color="tab:red", alpha=0.3, label="labelled" if ax is a1 and i == 0 else None)
    for i, (a, b) in enumerate(rec["events"]):
        a1.axvspan(a, max(b, a + 1), ymax=0.08, color="tab:blue", label="detected" if i == 0 else None)
    a1.set_title(f"{s.name}: F1 {rec['f1']:.2f} (precision {rec['precision']:.2f}, recall {rec['recall']:.2f}), "
                 f"QiML SNN, {rec['budget']:g} s, seed {rec['seed']}; training prefix left of the grey line",
                 fontsize=8)
    a1.legend(fontsize=7, loc="upper left")
    a2.legend(fontsize=7, loc="upper left")
    a2.set_ylim(bottom=min(0.0, float(np.min(rec["trace"]))))
    a2.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
