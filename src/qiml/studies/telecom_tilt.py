"""Antenna tilting: test RMSE against hidden-layer size, tuned Adam against QiML, float and int8.

The claim under test: on a 420,000-sample antenna-tilting regression (15 features, 1 output) a
network trained with Adam needed about 280 hidden neurons and one trained with QiML about 6. The
data are :func:`qiml.apps.telecom.antenna_tilt.make_dataset` (the target is the user's SINR in dB).

Protocol (:class:`TiltConfig` holds every number)
-------------------------------------------------
* **Split by network snapshot**: the samples come in snapshot order, so the last 20 % are the test
  set and the 10 % before them the validation set; the rest (70 %) trains. Features are
  standardised with the training statistics; every method trains on the standardised target and
  is scored in dB.
* **Networks**: 15 inputs, one tanh hidden layer of ``h`` neurons, one linear output.
* **Tuning, the same for every method**: per hidden size, each setting of the method's grid
  (:meth:`TiltConfig.grid`) runs on the first seed; the setting of best validation RMSE then runs
  on the other seeds. The test set is never used to choose.
* **Adam** (PyTorch, float32, one thread per run): grid of learning rates ``adam_lrs`` x batch
  sizes ``adam_batches``. Early stopping: training stops after
  ``patience`` epochs without a better validation RMSE (or ``max_epochs``) and the best-validation
  weights are kept. **Adam int8** is post-training quantisation of those weights
  (:func:`qiml.nn.quantize`: symmetric per-layer scale).
* **QiML** (:func:`qiml.training.fit_network` with the axis options the committed table was made
  with, :data:`qiml.training.AXIS_NETWORK_OPTIONS`, and the output layer among the parameters;
  the curvature default of issue 13 is not yet rerun here): grid of sweeps over the
  parameters ``qiml_sweeps`` (``sweeps x ceil(P / 8)`` engine iterations) x mini-batch sizes
  ``qiml_batches`` (samples per request), from a Glorot start. Every request draws a fresh
  mini-batch, so the engine runs with ``noisy=True``: its result is the latest request's best point,
  not the lowest mini-batch score ever seen (which belonged to a lucky batch, and made more sweeps
  worse). **QiML int8** searches the int8 lattice directly (``bits=8``), so it needs no quantisation
  step. QiML has no early stopping.
* **Target RMSE**: ``target_rmse`` if given, else ``(1 + margin)`` times the best median test RMSE of
  any float model in the study. For each curve the report gives the smallest hidden size whose
  median test RMSE over the seeds reaches the target.

Runs are resumable (``runs.jsonl``) and spread over processes; the report is ``summary.md``,
``summary.csv``, ``summary.json`` and ``rmse_vs_hidden.png``.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..apps.telecom import antenna_tilt
from ..datasets import standardize
from ..files import atomic_write_csv
from ..nn import MLP, quantize
from ..training import AXIS_NETWORK_OPTIONS, fit_network
from .args import pyplot
from .baselines import adam
from .meta import environment_line
from .runner import JobRunner

__all__ = ["TiltConfig", "Split", "load_split", "jobs_for", "run_job", "run_study", "summarise", "write_report"]

METHODS = ("adam", "qiml", "qiml_int8")       # Adam's int8 (PTQ) is scored inside each Adam run
CURVES = {"adam": "Adam (tuned, early stopping)", "adam_int8": "Adam + post-training int8",
          "qiml": "QiML", "qiml_int8": "QiML int8 (trained on the lattice)"}


@dataclass(frozen=True)
class TiltConfig:
    """Every setting of the study (the defaults are the committed full run)."""

    n_samples: int = 420_000
    data_seed: int = 0
    hidden: tuple[int, ...] = (2, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256, 512)
    qiml_hidden: tuple[int, ...] = (2, 4, 6, 8, 12, 16, 32)
    seeds: tuple[int, ...] = (0, 1, 2)
    adam_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    adam_batches: tuple[int, ...] = (256, 1024)
    max_epochs: int = 100
    patience: int = 5
    qiml_sweeps: tuple[int, ...] = (10, 40, 120)
    qiml_batches: tuple[int, ...] = (4096, 16384)
    margin: float = 0.05
    target_rmse: float | None = None
    test_fraction: float = 0.2
    val_fraction: float = 0.1

    @classmethod
    def smoke(cls) -> TiltConfig:
        """Tiny settings for CI: 20,000 samples, two sizes, one seed, a few epochs and sweeps."""
        return cls(n_samples=20_000, hidden=(2, 6), qiml_hidden=(2, 6), seeds=(0,), adam_lrs=(3e-3,),
                   adam_batches=(1024,), max_epochs=3, patience=2, qiml_sweeps=(2,), qiml_batches=(1024,))

    def grid(self, method: str) -> list[dict[str, Any]]:
        """The settings tuned for ``method`` (``adam``: lr and batch; QiML: batch and sweeps)."""
        if method == "adam":
            return [{"lr": lr, "batch": b} for lr in self.adam_lrs for b in self.adam_batches]
        return [{"batch": b, "sweeps": sw} for b in self.qiml_batches for sw in self.qiml_sweeps]

    def sizes(self, method: str) -> tuple[int, ...]:
        return self.hidden if method == "adam" else self.qiml_hidden


@dataclass
class Split:
    """Standardised train / validation / test arrays; ``y_*`` standardised, ``y_mean``/``y_scale`` in dB."""

    X_train: NDArray[np.float64]
    y_train: NDArray[np.float64]
    X_val: NDArray[np.float64]
    y_val: NDArray[np.float64]
    X_test: NDArray[np.float64]
    y_test: NDArray[np.float64]
    y_mean: float
    y_scale: float
    sizes: dict[str, int] = field(default_factory=dict)

    def rmse_db(self, pred_std: NDArray[np.float64], part: str = "test") -> float:
        """RMSE in dB of standardised predictions (n,) against the ``part`` targets."""
        y = self.y_test if part == "test" else self.y_val
        return float(np.sqrt(np.mean((pred_std - y) ** 2)) * self.y_scale)


def load_split(cfg: TiltConfig) -> Split:
    """The data set (built or read from the cache) split by snapshot and standardised."""
    X, y = antenna_tilt.make_dataset(cfg.n_samples, cfg.data_seed)
    n, per = X.shape[0], antenna_tilt.USERS_PER_SNAPSHOT
    n_test = int(round(cfg.n_samples * cfg.test_fraction / per)) * per
    n_val = int(round(cfg.n_samples * cfg.val_fraction / per)) * per
    a, b = n - n_test - n_val, n - n_test
    if a <= 0 or n_test <= 0 or n_val <= 0:
        raise ValueError(f"{n} samples are too few for a {cfg.val_fraction:g} / {cfg.test_fraction:g} split "
                         f"in whole snapshots of {per}")
    X_train, X_rest, _ = standardize(X[:a], X[a:])
    ym, ys = float(y[:a].mean()), float(y[:a].std())
    yt = (y - ym) / ys
    return Split(X_train, yt[:a], X_rest[:b - a], yt[a:b], X_rest[b - a:], yt[b:], ym, ys,
                 {"train": a, "validation": n_val, "test": n_test})


@functools.lru_cache(maxsize=1)
def _worker_split(cfg: TiltConfig) -> Split:
    """A worker process loads and standardises the data once for all the runs it is given."""
    return load_split(cfg)


# -- one run ---------------------------------------------------------------------------------------------
def _net(h: int) -> MLP:
    return MLP([len(antenna_tilt.FEATURES), h, 1], "tanh")


def _adam(split: Split, h: int, lr: float, batch: int, seed: int, max_epochs: int, patience: int
          ) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """The studies' one Adam baseline (:func:`qiml.studies.baselines.adam`): float32, early stopping on the
    validation RMSE (best-validation weights kept)."""
    res = adam(_net(h), split.X_train, split.y_train, loss="mse", lr=lr, batch=batch, seed=seed, epochs=max_epochs,
               validation=(split.X_val, lambda out: split.rmse_db(out[:, 0], "val")), patience=patience,
               dtype="float32")
    return res.theta, {"epochs": int(round(res.epochs)), "val_rmse": res.val}


def run_job(job: dict[str, Any], cfg: TiltConfig) -> dict[str, Any]:
    """One run (``job``: method, hidden, seed and settings); returns its JSON-able record."""
    split = _worker_split(cfg)
    h, seed, net, st = job["hidden"], job["seed"], _net(job["hidden"]), job["settings"]
    t0 = time.perf_counter()
    rec: dict[str, Any] = {**job, "n_params": net.n_params}
    if job["method"] == "adam":
        theta, info = _adam(split, h, st["lr"], st["batch"], seed, cfg.max_epochs, cfg.patience)
        rec.update(info)
        rec["test_rmse_int8"] = split.rmse_db(net.forward(split.X_test, quantize(net, theta, 8)[0])[:, 0])
    else:
        iterations = st["sweeps"] * math.ceil(net.n_params / AXIS_NETWORK_OPTIONS["block"])
        res = fit_network(net, split.X_train, split.y_train, "mse", bits=8 if job["method"] == "qiml_int8" else None,
                          batch_size=st["batch"], seed=seed, max_iter=iterations, max_evals=10**15,
                          output="params", **AXIS_NETWORK_OPTIONS)
        theta = res.x
        rec.update({"iterations": int(res.nit), "evaluations": int(res.nfev),
                    "val_rmse": split.rmse_db(net.forward(split.X_val, theta)[:, 0], "val")})
    rec["seconds"] = time.perf_counter() - t0
    rec["test_rmse"] = split.rmse_db(net.forward(split.X_test, theta)[:, 0])
    return rec


def job_key(job: dict[str, Any]) -> str:
    settings = "".join(f"/{k}{v:g}" for k, v in job["settings"].items())
    return f"{job['method']}/h{job['hidden']}/s{job['seed']}{settings}"


def _job(method: str, h: int, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    job = {"method": method, "hidden": h, "seed": seed, "settings": settings}
    return {**job, "key": job_key(job)}


def jobs_for(cfg: TiltConfig, done: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every run the study needs now: each method's tuning grid on the first seed; once a size's grid is
    done, the other seeds with the setting of best validation RMSE."""
    jobs = []
    for m in METHODS:
        for h in cfg.sizes(m):
            jobs += [_job(m, h, cfg.seeds[0], st) for st in cfg.grid(m)]
            best = best_settings(cfg, done, m, h)
            if best is not None:
                jobs += [_job(m, h, s, best) for s in cfg.seeds[1:]]
    return jobs


def best_settings(cfg: TiltConfig, done: dict[str, dict[str, Any]], method: str, h: int) -> dict[str, Any] | None:
    """``method``'s setting of best validation RMSE at hidden size ``h`` on the first seed (None: grid unfinished)."""
    recs = [done.get(job_key({"method": method, "hidden": h, "seed": cfg.seeds[0], "settings": st}))
            for st in cfg.grid(method)]
    if any(r is None for r in recs):
        return None
    best = min(recs, key=lambda r: r["val_rmse"] if math.isfinite(r["val_rmse"]) else math.inf)  # type: ignore[index]
    return dict(best["settings"])                                                              # type: ignore[index]


def run_study(cfg: TiltConfig, out: Path, workers: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """Run every job not yet in ``out/runs.jsonl``; Adam's other seeds start once their size's grid is done."""
    out.mkdir(parents=True, exist_ok=True)
    antenna_tilt.make_dataset(cfg.n_samples, cfg.data_seed)     # build the cache once, before the workers read it
    runner: JobRunner[dict[str, Any]] = JobRunner(out / "runs.jsonl", workers, progress=progress,
                                                  key=lambda j: j["key"])
    with runner:
        # in rounds: the tuning grids first; each finished grid releases its size's other seeds
        while todo := runner.pending(jobs_for(cfg, runner.done)):
            # costly runs first, so the pool does not wait on one long run at the end
            runner.run(todo, functools.partial(run_job, cfg=cfg), label="tilt",
                       cost=lambda j: j["hidden"] * (1 if j["method"] == "adam" else 50))
        return [runner.done[j["key"]] for j in jobs_for(cfg, runner.done)]


# -- report ----------------------------------------------------------------------------------------------
def _curve_records(cfg: TiltConfig, records: Iterable[dict[str, Any]]) -> dict[str, dict[int, list[float]]]:
    """Test RMSEs per curve and hidden size, over the seeds at each method's chosen setting."""
    done = {r["key"]: r for r in records}
    curves: dict[str, dict[int, list[float]]] = {c: {} for c in CURVES}
    for m in METHODS:
        for h in cfg.sizes(m):
            best = best_settings(cfg, done, m, h)
            runs = [] if best is None else [done.get(job_key({"method": m, "hidden": h, "seed": s, "settings": best}))
                                             for s in cfg.seeds]
            if not runs or any(r is None for r in runs):
                continue            # a size is reported once all its seeds are done
            curves[m][h] = [r["test_rmse"] for r in runs]                        # type: ignore[index]
            if m == "adam":
                curves["adam_int8"][h] = [r["test_rmse_int8"] for r in runs]   # type: ignore[index]
    return curves


def summarise(cfg: TiltConfig, records: list[dict[str, Any]], linear_rmse: float | None = None) -> dict[str, Any]:
    """Median test RMSE per curve and size, the target and the smallest size reaching it per curve."""
    curves = _curve_records(cfg, records)
    med = {c: {h: float(np.median(v)) for h, v in sorted(pts.items())} for c, pts in curves.items()}
    best_float = min([v for c in ("adam", "qiml") for v in med[c].values()], default=math.nan)
    target = cfg.target_rmse if cfg.target_rmse is not None else (1 + cfg.margin) * best_float
    smallest = {c: next((h for h, v in m.items() if v <= target), None) for c, m in med.items()}
    done = {r["key"]: r for r in records}
    chosen = {m: {str(h): best_settings(cfg, done, m, h) for h in cfg.sizes(m)} for m in METHODS}
    pairs = (("float", "adam", "qiml"), ("int8", "adam_int8", "qiml_int8"))
    ratio = {kind: (sa / sq if (sa := smallest[a]) and (sq := smallest[q]) else None) for kind, a, q in pairs}
    # the claim read the other way: how large an Adam network matches what QiML reaches at each size
    match = {kind: {str(hq): next((ha for ha, va in med[a].items() if va <= vq), None) for hq, vq in med[q].items()}
             for kind, a, q in pairs}
    return {"config": asdict(cfg), "target_rmse": target, "best_float_rmse": best_float, "linear_rmse": linear_rmse,
            "median": {c: {str(h): v for h, v in m.items()} for c, m in med.items()},
            "spread": {c: {str(h): [float(min(v)), float(max(v))] for h, v in sorted(pts.items())}
                       for c, pts in curves.items()},
            "smallest_hidden": smallest, "ratio_adam_to_qiml": ratio, "adam_hidden_matching_qiml": match,
            "settings": {m: {h: st for h, st in c.items() if st is not None} for m, c in chosen.items()},
            "seconds": {m: float(np.median([r["seconds"] for r in records if r["method"] == m] or [math.nan]))
                        for m in METHODS}}


def linear_baseline(s: Split) -> float:
    """Test RMSE (dB) of least squares on the same standardised features: the floor a network must beat."""
    A = np.c_[s.X_train, np.ones(len(s.X_train))]
    coef = np.linalg.lstsq(A, s.y_train, rcond=None)[0]
    return s.rmse_db(np.c_[s.X_test, np.ones(len(s.X_test))] @ coef)


def write_report(out: Path, summary: dict[str, Any], meta: dict[str, Any]) -> None:
    """``summary.md``, ``summary.csv``, ``summary.json`` and ``rmse_vs_hidden.png`` in ``out``."""
    cfg = summary["config"]
    sizes = sorted({int(h) for m in summary["median"].values() for h in m})
    rows = []
    for h in sizes:
        row: dict[str, Any] = {"hidden": h, "n_params": _net(h).n_params}
        for c in CURVES:
            row[c] = summary["median"][c].get(str(h), math.nan)
            lo, hi = summary["spread"][c].get(str(h), [math.nan, math.nan])
            row[f"{c}_min"], row[f"{c}_max"] = lo, hi
        for m in METHODS:
            st = summary["settings"][m].get(str(h))
            row[f"{m}_settings"] = "" if st is None else " ".join(f"{k}={v:g}" for k, v in st.items())
        rows.append(row)
    atomic_write_csv(out / "summary.csv", rows, list(rows[0]) if rows else ["hidden"])
    (out / "summary.json").write_text(json.dumps({**summary, "meta": meta}, indent=2) + "\n")

    def fmt(v: float) -> str:
        return "–" if not math.isfinite(v) else f"{v:.3f}"

    t = summary["target_rmse"]
    md = ["# Antenna tilting: test RMSE against hidden-layer size", "",
          f"Command: `{meta['command']}`  ", f"{environment_line(meta)}", "",
          f"Data: `make_dataset({cfg['n_samples']}, seed={cfg['data_seed']})`, target = user SINR (dB); split by "
          f"snapshot: {meta['split']}. Least squares on the same features: "
          f"**{fmt(summary['linear_rmse'] or math.nan)} dB**.",
          "",
          f"Median test RMSE in dB over seeds {cfg['seeds']} (min–max in the CSV). Target: **{fmt(t)} dB** "
          + ("(given)." if cfg["target_rmse"] is not None else
             f"= (1 + {cfg['margin']:g}) x the best median float RMSE ({fmt(summary['best_float_rmse'])} dB)."), "",
          "| hidden | P | " + " | ".join(CURVES.values()) + " |",
          "|---|---|" + "---|" * len(CURVES)]
    for r in rows:
        cells = [f"**{fmt(r[c])}**" if r[c] <= t else fmt(r[c]) for c in CURVES]
        md.append(f"| {r['hidden']} | {r['n_params']} | " + " | ".join(cells) + " |")
    md += ["", "## Settings chosen on the validation set (first seed)", "", "| hidden | " + " | ".join(METHODS) + " |",
           "|---|" + "---|" * len(METHODS)]
    md += [f"| {r['hidden']} | " + " | ".join(r[f"{m}_settings"] or "–" for m in METHODS) + " |" for r in rows]
    sm, ra = summary["smallest_hidden"], summary["ratio_adam_to_qiml"]
    md += ["", "## Smallest hidden layer reaching the target", "", "| curve | smallest hidden size |", "|---|---|"]
    md += [f"| {label} | {sm[c] if sm[c] else 'not reached'} |" for c, label in CURVES.items()]
    md += ["", "## Adam's hidden size that matches QiML's RMSE", "",
           "The claim read the other way: for each QiML size, the smallest Adam size whose median test RMSE is "
           "at least as good (float against float, PTQ int8 against lattice-trained int8).", "",
           "| QiML hidden | QiML RMSE | Adam hidden matching | QiML int8 RMSE | Adam int8 hidden matching |",
           "|---|---|---|---|---|"]
    mt, med = summary["adam_hidden_matching_qiml"], summary["median"]
    for hq in sorted({int(h) for k in mt.values() for h in k}):
        cells = []
        for kind, q in (("float", "qiml"), ("int8", "qiml_int8")):
            v, ha = med[q].get(str(hq), math.nan), mt[kind].get(str(hq))
            cells += [fmt(v), "–" if not math.isfinite(v) else str(ha) if ha else "none reaches it"]
        md.append(f"| {hq} | " + " | ".join(cells) + " |")
    md += ["", "Ratio Adam / QiML (the claim: 280 / 6 ≈ 47): "
           + ", ".join(f"{k} {v:.2g}" if v else f"{k} –" for k, v in ra.items()) + ".", "",
           f"Protocol: every method tuned per size on seed {cfg['seeds'][0]} by validation RMSE; Adam lr "
           f"{cfg['adam_lrs']} x batch {cfg['adam_batches']}, early stopping (patience {cfg['patience']}, at most "
           f"{cfg['max_epochs']} epochs, best-validation weights), PTQ int8 = symmetric per-layer scale; QiML "
           f"sweeps {cfg['qiml_sweeps']} x mini-batch {cfg['qiml_batches']}, int8 trained on the lattice. "
           "Median seconds per run: " + ", ".join(f"{m} {s:.1f}" for m, s in summary["seconds"].items()
                                                   if math.isfinite(s)) + "."]
    (out / "summary.md").write_text("\n".join(md) + "\n")
    _plot(out / "rmse_vs_hidden.png", rows, t, summary["linear_rmse"])


def _plot(path: Path, rows: list[dict[str, Any]], target: float, linear: float | None) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c, label in CURVES.items():
        pts = [(r["hidden"], r[c], r[f"{c}_min"], r[f"{c}_max"]) for r in rows if math.isfinite(r[c])]
        if pts:
            h, m, lo, hi = map(np.asarray, zip(*pts, strict=True))
            ax.plot(h, m, "o-" if "int8" not in c else "s--", label=label)
            ax.fill_between(h, lo, hi, alpha=0.15)
    ax.axhline(target, color="k", lw=0.8, ls=":", label=f"target {target:.3f} dB")
    if linear is not None:
        ax.axhline(linear, color="grey", lw=0.8, ls="-.", label=f"least squares {linear:.3f} dB")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden neurons")
    ax.set_ylabel("test RMSE (dB)")
    ax.set_title("Antenna tilting (SINR regression): test RMSE vs hidden size")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
