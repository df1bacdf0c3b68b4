"""Spiking networks trained by QiML as forecasters, against a surrogate-gradient SNN and classical references.

    python -m qiml.studies.snn_forecast [--series airline sunspots taylor] [--methods ...] [--seeds 5]
                                        [--budgets 5 20] [--workers N]
    python -m qiml.studies.snn_forecast --smoke   # airline only, 1 seed, 2 s, a tiny network, a scratch folder
    qiml reproduce snn-forecast                   # needs the aeon and pmdarima wheels: ./dev data

Series and protocol (:mod:`qiml.forecast`): airline (monthly, m = 12), sunspots (monthly, m = 1) and
taylor (half-hourly electricity demand, m = 48), each scored by MASE at rolling origins in a held-out
tail (airline: 2 origins, H = 12; sunspots: 5, H = 12; taylor: 7, H = 48); a run's score is its mean
MASE over the origins, a forecaster is fitted afresh at each origin on the data before it. Methods:

* ``qiml``: :class:`qiml.forecast.SNNForecaster` on :class:`qiml.snn.SpikingRegressor` (``hidden`` LIF
  neurons, ``taps`` delayed taps per input, trainable delays up to ``max_delay``, spike-count readout
  solved by ridge least squares with ``alpha``), ``max_time`` = the budget per fit;
* ``snntorch``: the same forecaster and network (delays drawn, then frozen) trained by surrogate
  gradients and Adam (:class:`qiml.studies.snn_surrogate.SurrogateSpikingRegressor`: learning rate
  raced on a validation split of the windows, best validation epoch kept), the same budget per fit;
* ``persistence``, ``seasonal-naive``, ``ets``, ``arima``: no budget; their fit seconds are recorded.

Both SNNs see the same windows: the last W values (and for taylor the same stretch a week earlier)
relative to the window's level, and targets relative to the values one season earlier where the
series has a season (airline, taylor: they learn the correction to the seasonal naive forecast).
The wall seconds of a run are summed over its origins. Writes ``summary.md`` (per series, method and
budget: median MASE over seeds, min - max, median seconds; then whether QiML is at or below
snnTorch's MASE), ``summary.csv``, ``mase.png``, ``example.png`` (one series: history, truth and the
forecasts at its last origin) and the resumable ``runs.jsonl`` to ``--out``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write_csv, atomic_write_text
from ..forecast import (
    ARIMA,
    ETS,
    PROTOCOLS,
    Forecaster,
    Persistence,
    SeasonalNaive,
    SNNForecaster,
    evaluate,
    load_forecast,
)
from .args import int_in, positive_float, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "snn-forecast"
SERIES = ("airline", "sunspots", "taylor")
TRAINED = ("qiml", "snntorch")
CLASSICAL = ("persistence", "seasonal-naive", "ets", "arima")
METHODS = TRAINED + CLASSICAL
DEFAULTS: dict[str, Any] = {"series": list(SERIES), "methods": list(METHODS), "seeds": 5, "budgets": [5.0, 20.0],
                            "hidden": 16, "taps": 8, "max_delay": 12, "alpha": 0.1}
SMOKE: dict[str, Any] = {"series": ["airline"], "seeds": 1, "budgets": [2.0], "hidden": 3, "taps": 1,
                         "max_delay": 4}


def forecaster(job: dict[str, Any]) -> Forecaster:
    """A fresh forecaster for ``job`` (method, series, budget, seed and network settings)."""
    p = PROTOCOLS[job["series"]]
    method, small = job["method"], bool(job["smoke"])
    if method == "persistence":
        return Persistence()
    if method == "seasonal-naive":
        return SeasonalNaive(p.naive_period)
    if method == "ets":
        return ETS(p.model_period, p.fit_last, small=small)
    if method == "arima":
        return ARIMA(p.model_period, p.arima_d, p.arima_season, p.log, p.fit_last, small=small)
    net = {"hidden": job["hidden"], "taps": job["taps"], "max_delay": min(job["max_delay"], p.window - 1),
           "readout": "counts", "max_time": job["budget"], "random_state": job["seed"]}
    if method == "qiml":
        from ..snn.estimators import SpikingRegressor

        def factory() -> Any:
            return SpikingRegressor(**net, alpha=job["alpha"], max_iter=None)
    elif method == "snntorch":
        from .snn_surrogate import SurrogateSpikingRegressor

        def factory() -> Any:
            return SurrogateSpikingRegressor(**net)
    else:
        raise ValueError(f"unknown method {method!r}")
    return SNNForecaster(factory, p.horizon, p.window, p.norm, p.seasonal_lag, p.anchor, p.max_windows)


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One method on one series at every origin: mean MASE, per-origin MASE and forecasts, wall seconds,
    and the trainers' evaluations (QiML) or epochs (snnTorch) summed over the origins."""
    y, _ = load_forecast(job["series"])
    p = PROTOCOLS[job["series"]]
    made: list[Any] = []

    def make() -> Forecaster:
        made.append(forecaster(job))
        return made[-1]

    t0 = time.perf_counter()
    res = evaluate(make, y, p)
    seconds = time.perf_counter() - t0
    work = 0
    for fc in made:
        reg = getattr(fc, "regressor_", None)
        if reg is not None:
            work += int(reg.result_.nfev) if hasattr(reg, "result_") else int(reg.n_iter_)
    return {**job, **res, "seconds": seconds, "work": work}


def jobs_of(args: Any) -> list[dict[str, Any]]:
    """Every (series, method, budget, seed) job; the classical methods once each (seed 0, budget 0)."""
    common = {"smoke": bool(args.smoke), "hidden": args.hidden, "taps": args.taps, "max_delay": args.max_delay,
              "alpha": args.alpha}
    jobs = []
    for series in args.series:
        for method in args.methods:
            if method in CLASSICAL:
                jobs.append({"series": series, "method": method, "seed": 0, "budget": 0.0, **common})
                continue
            for budget in args.budgets:
                for seed in range(args.seeds):
                    jobs.append({"series": series, "method": method, "seed": seed, "budget": float(budget), **common})
    return jobs


def cost(job: dict[str, Any]) -> float:
    """Rough wall seconds of a job, to start the costliest first: budget times origins; the classical
    models by their measured order of magnitude (ETS and ARIMA on taylor and sunspots take tens of s)."""
    from ..forecast import origins

    n = {"airline": 144, "sunspots": 2820, "taylor": 4032}.get(job["series"], 100)
    k = len(origins(n, PROTOCOLS[job["series"]])) if job["series"] in SERIES else 2
    if job["method"] in TRAINED:
        return job["budget"] * k
    return {"ets": 8.0, "arima": 8.0}.get(job["method"], 0.0) * k


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median MASE (min, max), median wall seconds and median work per series, method and budget."""
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["series"], r["method"], r["budget"]), []).append(r)
    rows = []
    for (series, method, budget), rs in groups.items():
        m = np.array([r["mase"] for r in rs])
        rows.append({"series": series, "method": method, "budget_s": budget, "runs": len(rs),
                     "median_mase": float(np.median(m)), "min_mase": float(m.min()), "max_mase": float(m.max()),
                     "median_seconds": float(np.median([r["seconds"] for r in rs])),
                     "median_work": float(np.median([r["work"] for r in rs])),
                     "origins": len(rs[0]["origins"])})
    return sorted(rows, key=lambda r: (SERIES.index(r["series"]) if r["series"] in SERIES else 99,
                                       METHODS.index(r["method"]), r["budget_s"]))


def table(rows: list[dict[str, Any]], seeds: int, meta: dict[str, Any]) -> list[str]:
    """``summary.md``: the results table, then the goal (QiML at or below snnTorch's MASE) per series and budget."""
    lines = [f"# Spiking forecasters: median MASE over {seeds} seed(s) (lower is better)", "",
             "MASE: MAE over the in-sample MAE of the seasonal naive forecast (period m) on the training part, "
             "averaged over the rolling origins of each series (`qiml.forecast.PROTOCOLS`). QiML and snnTorch get "
             "the wall seconds of the budget column per fit on one core; a run fits once per origin, and its "
             "seconds are summed over them. The classical methods have no budget (their seconds are their fits). "
             f"Work: QiML loss evaluations or snnTorch epochs, summed over origins. {environment_line(meta)}", "",
             "| series | method | budget (s) | runs | median MASE | min - max | median s | median work |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        budget = f"{r['budget_s']:g}" if r["method"] in TRAINED else "-"
        lines.append(f"| {r['series']} | {r['method']} | {budget} | {r['runs']} | {r['median_mase']:.3f} | "
                     f"{r['min_mase']:.3f} - {r['max_mase']:.3f} | {r['median_seconds']:.1f} | "
                     f"{r['median_work']:.0f} |")
    lines += ["", "## Goal: the QiML SNN at or above the surrogate SNN (MASE at most snnTorch's)", "",
              "| series | budget (s) | qiml | snntorch | best classical | met |", "|---|---|---|---|---|---|"]
    med = {(r["series"], r["method"], r["budget_s"]): r["median_mase"] for r in rows}
    for series in dict.fromkeys(r["series"] for r in rows):
        classical = {m: v for (s, m, _), v in med.items() if s == series and m in CLASSICAL}
        best = min(classical.items(), key=lambda kv: kv[1]) if classical else None
        best_txt = f"{best[1]:.3f} ({best[0]})" if best else "n/a"
        for budget in sorted({b for (s, m, b) in med if s == series and m == "qiml"}):
            q, g = med[(series, "qiml", budget)], med.get((series, "snntorch", budget), np.nan)
            met = "n/a" if np.isnan(g) else ("yes" if q <= g else "**no**")
            lines.append(f"| {series} | {budget:g} | {q:.3f} | {g:.3f} | {best_txt} | {met} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(NAME, __doc__.split("\n\n")[0], smoke_help="airline, 1 seed, 2 s, 3 neurons")
    ap.add_argument("--series", nargs="+", choices=SERIES, default=None, help="series (default: all)")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=None, help="methods (default: all)")
    ap.add_argument("--seeds", type=int_in(1), default=None, help=f"seeds per SNN fit (default {DEFAULTS['seeds']})")
    ap.add_argument("--budgets", type=positive_float, nargs="+", default=None,
                    help=f"wall seconds per SNN fit (default {DEFAULTS['budgets']})")
    ap.add_argument("--hidden", type=int_in(1), default=None, help=f"neurons (default {DEFAULTS['hidden']})")
    ap.add_argument("--taps", type=int_in(1), default=None, help=f"taps per input (default {DEFAULTS['taps']})")
    ap.add_argument("--max-delay", type=int_in(0), default=None,
                    help=f"largest delay in steps (default {DEFAULTS['max_delay']})")
    ap.add_argument("--alpha", type=float, default=None,
                    help=f"ridge of the QiML readout solve (default {DEFAULTS['alpha']})")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    if not (np.isfinite(args.alpha) and args.alpha >= 0):
        ap.error(f"argument --alpha: must be a finite number >= 0, got {args.alpha}")
    out: Path = args.out
    meta = run_metadata(["python -m qiml.studies.snn_forecast", *(sys.argv[1:] if argv is None else argv)],
                        seeds=args.seeds, budgets=args.budgets, smoke=args.smoke)
    runner: JobRunner[dict[str, Any]] = JobRunner(out / "runs.jsonl", args.workers)
    with runner:
        records = runner.run(jobs_of(args), run_job, label="fits", cost=cost)
    rows = summarise(records)
    lines = table(rows, args.seeds, meta)
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    atomic_write_csv(out / "summary.csv", rows, float_format=".6g")
    plot(rows, out / "mase.png")
    plot_example(records, args.series[0], out / "example.png")
    print("\n".join(lines))


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Median MASE per series: one bar per method (and budget for the SNNs), min - max as error bars."""
    plt = pyplot()
    series = list(dict.fromkeys(r["series"] for r in rows))
    bars = list(dict.fromkeys((r["method"], r["budget_s"]) for r in rows))
    fig, ax = plt.subplots(figsize=(max(5, 2.2 * len(series)), 3.4))
    width = 0.8 / len(bars)
    for i, (method, budget) in enumerate(bars):
        sel = [next((r for r in rows if r["series"] == s and r["method"] == method and r["budget_s"] == budget),
                    None) for s in series]
        med = np.array([np.nan if r is None else r["median_mase"] for r in sel])
        lo = np.array([np.nan if r is None else r["median_mase"] - r["min_mase"] for r in sel])
        hi = np.array([np.nan if r is None else r["max_mase"] - r["median_mase"] for r in sel])
        ax.bar(np.arange(len(series)) + (i - (len(bars) - 1) / 2) * width, med, width, yerr=[lo, hi], capsize=2,
               label=method if method in CLASSICAL else f"{method}, {budget:g} s")
    ax.set_xticks(range(len(series)), series, fontsize=8)
    ax.set_ylabel("median MASE (lower is better)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_example(records: list[dict[str, Any]], series: str, path: Path) -> None:
    """History, truth and the forecasts at the last origin of ``series``: the classical methods, and the SNNs
    of the longest budget at their first seed."""
    plt = pyplot()
    y, _ = load_forecast(series)
    p = PROTOCOLS[series]
    recs = [r for r in records if r["series"] == series]
    longest = max((r["budget"] for r in recs if r["method"] in TRAINED), default=0.0)
    shown = [r for r in recs if r["method"] in CLASSICAL or (r["budget"] == longest and r["seed"] == 0)]
    o = recs[0]["origins"][-1]
    start = max(0, o - 4 * max(p.horizon, p.period))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.plot(np.arange(start, o), y[start:o], color="k", lw=1, label="history")
    ax.plot(np.arange(o, o + p.horizon), y[o:o + p.horizon], color="k", lw=2, ls="--", label="truth")
    for r in sorted(shown, key=lambda r: METHODS.index(r["method"])):
        label = r["method"] if r["method"] in CLASSICAL else f"{r['method']}, {r['budget']:g} s"
        ax.plot(np.arange(o, o + p.horizon), r["forecasts"][-1], lw=1,
                label=f"{label} (MASE {r['mase_origins'][-1]:.2f})")
    ax.set_title(f"{series}: the forecasts from the last origin", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
