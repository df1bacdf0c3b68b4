"""Anomaly detection on a labelled series: the series, the event-level score, and detectors with one contract.

**Series.** :func:`load_anomaly` returns an :class:`AnomalySeries`: ``values`` (T,) or (T, C) floats,
``labels`` (T,) bools, ``train_end`` (the prefix ``values[:train_end]`` is assumed anomaly-free and is
all a detector may learn from), a ``period`` hint in steps, and a ``name``. The data are read out of
the pinned wheels by :func:`qiml.series.wheel_member` (never installed, nothing unpickled):

=================  ============  ======  =========  ======  ===========================================
name               T             C       train_end  period  source
=================  ============  ======  =========  ======  ===========================================
``kdd-135``        7501          1       1200       183     aeon ``KDD-TSAD_135``: UCR anomaly archive
                                                            series 135 (InternalBleeding16, heart rate),
                                                            one anomaly (12 steps at 4187); the archive's
                                                            TRAIN file is the anomaly-free prefix
``gutentag-ecg``   20000         1       10000      20      aeon ``UnitTest/ecg-diff-count-3``: a GutenTAG
                                                            synthetic ECG; its anomaly-free training series
                                                            (``TRAIN_NA``) followed by its test series,
                                                            three anomalies of 100 steps
``yahoo``          1000          1       400        12      sktime ``yahoo``: a Yahoo Webscope snippet,
                                                            seven one-step anomalies, a rising trend
``mitdb``          7500          1       3000       296     sktime ``mitdb``: an MIT-BIH arrhythmia ECG
                                                            snippet (360 Hz), one anomaly (352 steps)
``daphnet``        7040          9       2816       66      aeon ``Daphnet_S06R02E0``: accelerometers of a
                                                            Parkinson's patient (64 Hz); this excerpt has
                                                            **no** labelled anomaly (aeon says so), so it
                                                            can only count false alarms
``nab``            4000          1       1200       40      :func:`make_nab_series` (seed 0): generated
=================  ============  ======  =========  ======  ===========================================

GutenTAG ECG is in the aeon wheel only as that one unit-test series (``ecg-diff-count-3``); GutenTAG
itself is not in any pinned wheel. For the Yahoo and MIT-BIH snippets, which have no training split,
``train_end`` is the first 40% (no labelled anomaly falls there; the loader checks that for every series).

**Scoring.** :func:`event_scores` counts events, not points (see there for the exact definition).

**Detectors.** :class:`Detector` is the contract: ``fit(train)`` on the anomaly-free prefix (T0,) or
(T0, C); ``score(values)`` (T,) an anomaly score for every step of a whole series, standardised on the
calibration part of the prefix; ``detect(values)`` (T,) bools, ``score > threshold_``. The threshold is
chosen on the training prefix only: the last ``calibration`` fraction of the prefix is held out of the
model's fit, scored, its scores standardised (mean 0, standard deviation 1) and ``threshold_ = margin *``
their maximum. Steps with too little history to be scored get 0. The detectors:

* :class:`ZScoreDetector`: rolling z-score, ``|x_t - mean| / std`` over the ``window`` steps before ``t``
  (default one period), the largest over channels;
* :class:`IsolationForestDetector`: scikit-learn's ``IsolationForest`` (seeded) on sliding windows;
* :class:`ForecastDetector`: a regressor (a :class:`qiml.snn.SpikingRegressor`, or any estimator with
  ``fit`` / ``predict``, made by a factory so that two spiking networks can differ only in their trainer)
  forecasts the next block of the series from a window of the past; the score is the absolute forecast
  error, smoothed.

The windows of both window detectors are the same (:func:`window_view`): the series is averaged over
blocks of ``stride`` steps (by default ``stride`` = max(1, round(:data:`SPAN` * period / window)), so that
``window`` = 24 blocks span about a quarter period, or more when the period is short), and a window is
``window`` such block means, ``stride`` steps apart, less the window's mean (so that a trend or a level
does not look like an anomaly; a level shift shows as a jump). A quarter period rather than a whole one
was chosen on generated development series (:func:`make_nab_series` seeds 101 to 103, 5 s fits): it gave
the isolation forest and the spiking forecaster a higher event F1 there. Detections of the window
detectors less than half a period apart are merged into one event (the z-score's: half its window).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import ConfigError, ShapeError
from .validation import check_int, finite_float

__all__ = ["AnomalySeries", "ANOMALY_SERIES", "load_anomaly", "make_nab_series", "events", "event_scores",
           "window_view", "Detector", "ZScoreDetector", "IsolationForestDetector", "ForecastDetector",
           "evaluate"]

#: periods spanned by a window of the window detectors by default (chosen on generated development series)
SPAN = 0.25
#: the series :func:`load_anomaly` knows
ANOMALY_SERIES = ("kdd-135", "gutentag-ecg", "yahoo", "mitdb", "daphnet", "nab")

_KDD = "aeon/datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_{}.csv"
_ECG = "aeon/datasets/data/UnitTest/ecg-diff-count-3_{}.csv"


@dataclass(frozen=True)
class AnomalySeries:
    """A labelled series: ``values`` (T,) or (T, C) floats, ``labels`` (T,) bools (True: anomalous),
    ``train_end`` (``values[:train_end]`` is anomaly-free, 1 <= train_end < T), ``period`` (steps, a hint
    for window lengths) and ``name``."""

    name: str
    values: NDArray[np.float64]
    labels: NDArray[np.bool_]
    train_end: int
    period: int
    kinds: tuple[str, ...] = field(default=())      # what each labelled event is, where known (generated series)

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        lab = np.asarray(self.labels)
        if v.ndim not in (1, 2) or v.shape[0] < 2:
            raise ShapeError(f"{self.name}: values must be (T,) or (T, C) with T >= 2, got shape {v.shape}")
        if lab.shape != (v.shape[0],):
            raise ShapeError(f"{self.name}: labels must be ({v.shape[0]},) like the values, got shape {lab.shape}")
        if lab.dtype != np.bool_:
            if not np.isin(lab, (0, 1)).all():
                raise ConfigError(f"{self.name}: labels must be 0/1 or bools")
            lab = lab.astype(bool)
        if not np.isfinite(v).all():
            raise ConfigError(f"{self.name}: values must be finite (missing values are not supported)")
        check_int("train_end", self.train_end, 1, v.shape[0] - 1)
        check_int("period", self.period, 1)
        if lab[: self.train_end].any():
            raise ConfigError(f"{self.name}: the training prefix (first {self.train_end} steps) holds "
                              f"{int(lab[: self.train_end].sum())} anomalous step(s); it must be anomaly-free")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "labels", lab)

    @property
    def train(self) -> NDArray[np.float64]:
        """The anomaly-free prefix ``values[:train_end]``."""
        return self.values[: self.train_end]

    @property
    def events(self) -> list[tuple[int, int]]:
        """The labelled events as ``[start, end)`` step ranges (maximal runs of True labels)."""
        return events(self.labels)


# -- loaders ------------------------------------------------------------------------------------------------
def _read_csv(data: bytes, source: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """``(values (T, C), labels (T,))`` of a labelled CSV: a header line; the label column is ``is_anomaly``
    or ``label`` (0/1); a ``timestamp`` column is skipped; every other column is a value channel."""
    try:
        lines = [ln for ln in data.decode("utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc})") from None
    if len(lines) < 3:
        raise ConfigError(f"{source}: a header and at least two rows are needed, got {len(lines)} line(s)")
    header = [h.strip() for h in lines[0].split(",")]
    labels_at = [i for i, h in enumerate(header) if h in ("is_anomaly", "label")]
    if len(labels_at) != 1:
        raise ConfigError(f"{source}: want one label column ('is_anomaly' or 'label'), header is {header}")
    value_cols = [i for i, h in enumerate(header) if i != labels_at[0] and h != "timestamp"]
    if not value_cols:
        raise ConfigError(f"{source}: no value column in header {header}")
    rows = [ln.split(",") for ln in lines[1:]]
    bad = next((k for k, r in enumerate(rows) if len(r) != len(header)), None)
    if bad is not None:
        raise ConfigError(f"{source}: row {bad + 1} has {len(rows[bad])} fields, the header {len(header)}")
    cells = np.array(rows, dtype=object)
    try:
        values = cells[:, value_cols].astype(np.float64)
        labels = cells[:, labels_at[0]].astype(np.float64)
    except ValueError as exc:
        raise ConfigError(f"{source}: a field that is not a number ({exc})") from None
    if not np.isfinite(values).all():
        raise ConfigError(f"{source}: values must be finite (missing values are not supported)")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ConfigError(f"{source}: labels must be 0 or 1, got {sorted(set(labels.tolist()))[:5]}")
    return values, labels.astype(bool)


def _member(package: str, member: str, cache: Any, download: bool) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    from .series import wheel_member
    return _read_csv(wheel_member(package, member, cache=cache, download=download), f"{package}:{member}")


def load_anomaly(name: str, *, cache: Any = None, download: bool = True) -> AnomalySeries:
    """The labelled series ``name`` (one of :data:`ANOMALY_SERIES`; see the module's table). ``cache`` and
    ``download`` are passed to :func:`qiml.series.wheel_member`."""
    if name == "nab":
        return make_nab_series()
    if name == "kdd-135":
        v, lab = _member("aeon", _KDD.format("TEST"), cache, download)
        tv, tlab = _member("aeon", _KDD.format("TRAIN"), cache, download)
        # the UCR anomaly archive's convention: the training part is the series' own anomaly-free prefix
        if len(tv) >= len(v) or not np.array_equal(tv, v[: len(tv)]) or tlab.any():
            raise ConfigError(f"aeon:{_KDD.format('TRAIN')}: not an anomaly-free prefix of the TEST series")
        return AnomalySeries(name, v[:, 0], lab, len(tv), 183)
    if name == "gutentag-ecg":
        tv, tlab = _member("aeon", _ECG.format("TRAIN_NA"), cache, download)
        v, lab = _member("aeon", _ECG.format("TEST"), cache, download)
        if tlab.any() or tv.shape[1] != v.shape[1]:
            raise ConfigError(f"aeon:{_ECG.format('TRAIN_NA')}: not an anomaly-free series like the test series")
        return AnomalySeries(name, np.concatenate([tv, v])[:, 0], np.concatenate([tlab, lab]), len(tv), 20)
    if name in ("yahoo", "mitdb"):
        v, lab = _member("sktime", f"sktime/datasets/data/{name}/{name}.csv", cache, download)
        return AnomalySeries(name, v[:, 0], lab, int(0.4 * len(v)), 12 if name == "yahoo" else 296)
    if name == "daphnet":
        v, lab = _member("aeon", "aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv", cache, download)
        return AnomalySeries(name, v, lab, int(0.4 * len(v)), 66)
    raise ConfigError(f"unknown anomaly series {name!r}; choose from {ANOMALY_SERIES}")


#: the kinds of anomaly :func:`make_nab_series` injects
NAB_KINDS = ("spike", "level_shift", "noise_burst", "frequency")


def make_nab_series(n: int = 4000, *, period: int = 40, train_fraction: float = 0.3, per_kind: int = 2,
                    noise: float = 0.1, trend: float = 1.0, seed: int = 0) -> AnomalySeries:
    """A generated NAB-style series: two harmonics of ``period`` steps (amplitudes 1 and 0.3), a linear
    ``trend`` (its rise over the series), Gaussian ``noise`` (standard deviation), and ``per_kind``
    anomalies of each kind of :data:`NAB_KINDS` injected after the first ``train_fraction`` of the series:

    * ``spike``: one step raised or lowered by 2.5 to 3.5 (labelled: that step);
    * ``level_shift``: the level moved by +-1 to 1.5 for 1 to 2 periods, then back (labelled: the shift);
    * ``noise_burst``: extra noise of standard deviation 0.5 for 1 to 2 periods;
    * ``frequency``: the frequency doubled for 1 to 2 periods, the phase continuous.

    One anomaly per equal slot of the test part, the kinds in a seeded random order, so no two overlap.
    ``kinds`` of the result names each labelled event in time order. Seeded by ``seed`` (NumPy Generator).
    """
    n = check_int("n", n, 100)
    period = check_int("period", period, 4)
    per_kind = check_int("per_kind", per_kind, 0)
    frac = finite_float("train_fraction", train_fraction)
    if not 0 < frac < 1:
        raise ConfigError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    rng = np.random.default_rng(seed)
    train_end = int(frac * n)
    kinds = [k for k in NAB_KINDS for _ in range(per_kind)]
    rng.shuffle(kinds)
    slot = (n - train_end - period) // max(1, len(kinds))
    if kinds and slot < 3 * period:
        raise ConfigError(f"n={n} leaves {slot} steps per anomaly after the training part; want >= {3 * period}: "
                          "a longer series or fewer anomalies")
    freq = np.full(n, 1.0 / period)
    level = np.zeros(n)
    extra = np.zeros(n)
    labels = np.zeros(n, dtype=bool)
    spikes: list[tuple[int, float]] = []
    for i, kind in enumerate(kinds):
        length = 1 if kind == "spike" else int(rng.integers(period, 2 * period + 1))
        start = train_end + period + i * slot + int(rng.integers(period, slot - length - period + 1))
        sl = slice(start, start + length)
        labels[sl] = True
        if kind == "spike":
            spikes.append((start, float(rng.choice([-1.0, 1.0]) * rng.uniform(2.5, 3.5))))
        elif kind == "level_shift":
            level[sl] = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 1.5)
        elif kind == "noise_burst":
            extra[sl] = 0.5
        else:
            freq[sl] *= 2.0
    phase = 2 * np.pi * np.concatenate([[0.0], np.cumsum(freq[:-1])])
    t = np.arange(n)
    values = (np.sin(phase) + 0.3 * np.sin(2 * phase + 0.5) + trend * t / n + level
              + rng.normal(size=n) * np.hypot(noise, extra))
    for at, height in spikes:
        values[at] += height
    return AnomalySeries("nab", values, labels, train_end, period, tuple(kinds))     # slot i holds kinds[i]


# -- scoring ------------------------------------------------------------------------------------------------
def events(mask: ArrayLike) -> list[tuple[int, int]]:
    """The maximal runs of True in ``mask`` (T,) as ``[start, end)`` pairs, in order."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 1:
        raise ShapeError(f"a mask must be 1-D (T,), got shape {m.shape}")
    d = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def event_scores(labels: ArrayLike, predicted: ArrayLike, tolerance: int = 0) -> dict[str, float]:
    """Event-level ``precision``, ``recall`` and ``f1`` of the predicted mask against the labels, both (T,).

    * A **true event** is a maximal run ``[s, e)`` of True labels; its **window** is that run widened by
      ``tolerance`` steps on each side (NAB-style), clipped to the series: ``[s - tolerance, e + tolerance)``.
      It is **detected** when at least one predicted step falls inside its window.
    * A **predicted event** is a maximal run of True predictions. It is **correct** when it overlaps the window
      of at least one true event, else a **false positive**.
    * ``recall`` = detected true events / true events; ``precision`` = correct predicted events / predicted
      events; ``f1`` = their harmonic mean. So one long detection overlapping two true events detects both
      and counts as one correct predicted event, and a detection that starts inside an event and runs on past
      it is one correct event, not a false positive.
    * A ratio with nothing to divide by: ``precision`` is 0 when nothing is predicted (scikit-learn's
      ``zero_division=0``); ``recall`` is NaN when there is no true event (nothing to find), and then ``f1``
      is NaN too; ``f1`` is 0 when precision and recall are both 0.

    >>> lab = np.zeros(20, bool); lab[5:8] = True; lab[15] = True
    >>> pred = np.zeros(20, bool); pred[7] = True; pred[11] = True
    >>> event_scores(lab, pred)
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    lab = np.asarray(labels, dtype=bool)
    pred = np.asarray(predicted, dtype=bool)
    if lab.ndim != 1 or pred.shape != lab.shape:
        raise ShapeError(f"labels and predicted must be (T,) masks of one length, got shapes {lab.shape} and "
                         f"{pred.shape}")
    tol = check_int("tolerance", tolerance, 0)
    T = len(lab)
    windows = [(max(0, s - tol), min(T, e + tol)) for s, e in events(lab)]
    hits = np.concatenate([[0], np.cumsum(pred)])                 # predicted steps before each index
    detected = sum(hits[b] > hits[a] for a, b in windows)
    covered = np.zeros(T + 1, dtype=np.int64)                      # steps inside some window (a difference array)
    for a, b in windows:
        covered[a] += 1
        covered[b] -= 1
    inside = np.concatenate([[0], np.cumsum(np.cumsum(covered)[:T] > 0)])
    predicted_events = events(pred)
    correct = sum(inside[b] > inside[a] for a, b in predicted_events)
    precision = correct / len(predicted_events) if predicted_events else 0.0
    recall = detected / len(windows) if windows else float("nan")
    if np.isnan(recall):
        f1 = float("nan")
    else:
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


# -- windows ------------------------------------------------------------------------------------------------
def _as_2d(values: ArrayLike, what: str = "values") -> NDArray[np.float64]:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] < 1:
        raise ShapeError(f"{what} must be (T,) or (T, C), got shape {np.shape(values)}")
    if not np.isfinite(v).all():
        raise ConfigError(f"{what} must be finite")
    return v


def block_means(x: NDArray[np.float64], stride: int) -> NDArray[np.float64]:
    """(T, C): the mean of the ``stride`` steps ending at each step (fewer at the start)."""
    c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    t = np.arange(1, len(x) + 1)
    lo = np.maximum(0, t - stride)
    return (c[t] - c[lo]) / (t - lo)[:, None]


def window_view(x: NDArray[np.float64], ends: NDArray[np.intp], window: int, stride: int) -> NDArray[np.float64]:
    """Windows (n, C, window) of the series ``x`` (T, C): for each ``t`` of ``ends``, the block means
    (:func:`block_means`) ending at ``t - (window - 1) * stride, ..., t - stride, t``, less their mean over
    the window (per channel). Every ``t`` must be >= ``window * stride - 1``."""
    m = block_means(x, stride)
    lags = np.arange(window - 1, -1, -1) * stride
    W = m[np.asarray(ends)[:, None] - lags[None, :]]               # (n, window, C)
    W = W - W.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(W.transpose(0, 2, 1))


# -- detectors ----------------------------------------------------------------------------------------------
class Detector:
    """The contract: ``fit(train)`` on an anomaly-free prefix, ``score(values)`` (T,), ``detect(values)`` (T,)
    bools. Subclasses give ``_fit(x)`` (x (T0, C), the prefix less its calibration tail) and ``_raw(x)`` (T,)
    raw scores of a whole series (NaN where a step has too little history)."""

    #: steps of history a score needs (``_raw`` gives NaN before that)
    context: int = 1

    def __init__(self, *, calibration: float = 0.25, margin: float = 1.25, merge: int | None = None) -> None:
        self.calibration = calibration
        self.margin = margin
        self.merge = merge

    def _default_merge(self) -> int:
        """Gap closed by :meth:`detect` when ``merge`` is None."""
        return 0

    def _fit(self, x: NDArray[np.float64]) -> None:        # pragma: no cover - abstract
        raise NotImplementedError

    def _raw(self, x: NDArray[np.float64]) -> NDArray[np.float64]:     # pragma: no cover - abstract
        raise NotImplementedError

    def _setup(self, train: NDArray[np.float64]) -> None:
        """Settings that depend on the training series (window lengths): before the checks of ``fit``."""

    def fit(self, train: ArrayLike) -> Detector:
        """Fit on the anomaly-free ``train`` (T0,) or (T0, C); set ``threshold_`` from its calibration tail."""
        x = _as_2d(train, "train")
        cal = finite_float("calibration", self.calibration)
        margin = finite_float("margin", self.margin)
        if not 0 < cal < 1 or margin <= 0:
            raise ConfigError(f"calibration must be in (0, 1) and margin > 0, got {self.calibration!r} and "
                              f"{self.margin!r}")
        self._setup(x)
        self.merge_ = self._default_merge() if self.merge is None else check_int("merge", self.merge, 0)
        n_cal = int(round(cal * len(x)))
        n_fit = len(x) - n_cal
        if n_cal < 2 or n_fit < self.context + 8:
            raise ConfigError(f"a training prefix of {len(x)} steps is too short for {type(self).__name__}: it "
                              f"needs {self.context + 8} steps to fit and 2 to calibrate ({cal:g} of the prefix)")
        self.n_channels_ = x.shape[1]
        self.train_mean_, self.train_std_ = x[:n_fit].mean(axis=0), x[:n_fit].std(axis=0)
        self._fit(x[:n_fit])
        raw = self._raw(x)[n_fit:]
        raw = raw[np.isfinite(raw)]
        if len(raw) < 2:
            raise ConfigError(f"the calibration tail of {n_cal} steps has fewer than 2 scored steps")
        self.center_ = float(raw.mean())
        sd = float(raw.std())
        self.scale_ = sd if sd > 0 else 1.0
        self.threshold_ = margin * float(((raw - self.center_) / self.scale_).max())
        return self

    def score(self, values: ArrayLike) -> NDArray[np.float64]:
        """(T,) anomaly scores of a whole series (the prefix included), standardised on the calibration tail;
        0 where a step has too little history."""
        if not hasattr(self, "threshold_"):
            raise ConfigError(f"{type(self).__name__} is not fitted: call fit(train) first")
        x = _as_2d(values)
        if x.shape[1] != self.n_channels_:
            raise ShapeError(f"values have {x.shape[1]} channel(s), the detector was fitted on {self.n_channels_}")
        s = (self._raw(x) - self.center_) / self.scale_
        return np.where(np.isfinite(s), s, 0.0)

    def detect(self, values: ArrayLike) -> NDArray[np.bool_]:
        """(T,) bools: ``score(values) > threshold_``, then every gap of fewer than ``merge_`` steps between two
        detections filled (so that one anomaly seen in bursts is one predicted event)."""
        hit = self.score(values) > self.threshold_
        runs = events(hit)
        for (_, e), (s, _) in zip(runs[:-1], runs[1:], strict=True):
            if s - e < self.merge_:
                hit[e:s] = True
        return hit


class ZScoreDetector(Detector):
    """Rolling z-score: ``max_c |x_t - mean(x[t-window:t])| / std(x[t-window:t])`` (``window`` steps before
    ``t``, default the series' ``period``; a zero spread is floored at 1e-6 of the training spread)."""

    def __init__(self, window: int, *, calibration: float = 0.25, margin: float = 1.25,
                 merge: int | None = None) -> None:
        super().__init__(calibration=calibration, margin=margin, merge=merge)
        self.window = window

    def _setup(self, train: NDArray[np.float64]) -> None:
        self.context = check_int("window", self.window, 2)

    def _default_merge(self) -> int:
        return self.context // 2

    def _fit(self, x: NDArray[np.float64]) -> None:
        sd = x.std(axis=0)
        self.floor_ = 1e-6 * np.where(sd > 0, sd, 1.0)

    def _raw(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        w = self.window
        z = x
        c1 = np.concatenate([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)])
        c2 = np.concatenate([np.zeros((1, z.shape[1])), np.cumsum(z**2, axis=0)])
        out = np.full(len(z), np.nan)
        if len(z) <= w:
            return out
        t = np.arange(w, len(z))
        mean = (c1[t] - c1[t - w]) / w
        var = np.maximum((c2[t] - c2[t - w]) / w - mean**2, 0.0)
        out[w:] = (np.abs(z[w:] - mean) / np.maximum(np.sqrt(var), self.floor_)).max(axis=1)
        return out


class _WindowDetector(Detector):
    """Shared by the window detectors: ``window`` blocks of ``stride`` steps (default: ``stride`` such that the
    window spans about ``span`` periods); detections less than half a period apart are merged."""

    def __init__(self, period: int, *, window: int = 24, stride: int | None = None, span: float = SPAN,
                 max_windows: int = 400, calibration: float = 0.25, margin: float = 1.25,
                 merge: int | None = None) -> None:
        super().__init__(calibration=calibration, margin=margin, merge=merge)
        self.period = period
        self.window = window
        self.stride = stride
        self.span = span
        self.max_windows = max_windows

    def _setup(self, train: NDArray[np.float64]) -> None:
        period = check_int("period", self.period, 1)
        self.window_ = check_int("window", self.window, 2)
        span = finite_float("span", self.span)
        if span <= 0:
            raise ConfigError(f"span must be > 0 (periods), got {self.span!r}")
        self.stride_ = (max(1, int(round(span * period / self.window_))) if self.stride is None
                        else check_int("stride", self.stride, 1))
        check_int("max_windows", self.max_windows, 8)
        self.context = self.window_ * self.stride_

    def _default_merge(self) -> int:
        return int(self.period) // 2

    def _fit_ends(self, n: int, last: int) -> NDArray[np.intp]:
        """At most ``max_windows`` window ends, evenly spaced over ``[context - 1, last)`` for a prefix of ``n``
        steps (``last``: one past the last end allowed)."""
        first = self.context - 1
        count = last - first
        if count < 8:
            raise ConfigError(f"{n} training steps give {max(0, count)} windows of {self.window_} x {self.stride_} "
                              "steps; want >= 8 (a longer prefix or a shorter window)")
        return np.unique(np.linspace(first, last - 1, min(count, self.max_windows)).round().astype(np.intp))

    def _scale(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Channels in units of the fit part's spread (so that scores of one series compare across channels)."""
        return x / np.where(self.train_std_ > 0, self.train_std_, 1.0)


class IsolationForestDetector(_WindowDetector):
    """scikit-learn's ``IsolationForest`` (``n_estimators`` trees, ``random_state``) on the windows of
    :func:`window_view` ending at each step (flattened, C * window features); the score of step ``t`` is
    minus the forest's ``score_samples`` of the window ending at ``t``."""

    def __init__(self, period: int, *, window: int = 24, stride: int | None = None, span: float = SPAN,
                 max_windows: int = 2000, n_estimators: int = 100, random_state: int = 0,
                 calibration: float = 0.25, margin: float = 1.25, merge: int | None = None) -> None:
        super().__init__(period, window=window, stride=stride, span=span, max_windows=max_windows,
                         calibration=calibration, margin=margin, merge=merge)
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _fit(self, x: NDArray[np.float64]) -> None:
        from sklearn.ensemble import IsolationForest
        z = self._scale(x)
        X = window_view(z, self._fit_ends(len(z), len(z)), self.window_, self.stride_)
        self.forest_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state)
        self.forest_.fit(X.reshape(len(X), -1))

    def _raw(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        z = self._scale(x)
        out = np.full(len(z), np.nan)
        ends = np.arange(self.context - 1, len(z))
        if len(ends):
            out[ends] = -self.forest_.score_samples(window_view(z, ends, self.window_, self.stride_).reshape(
                len(ends), -1))
        return out


class Regressor(Protocol):
    """What :class:`ForecastDetector` needs of a regressor: ``fit(X (n, C, W), y (n, k))`` and ``predict``."""

    def fit(self, X: Any, y: Any) -> Any: ...

    def predict(self, X: Any) -> Any: ...


class ForecastDetector(_WindowDetector):
    """Forecast error as the anomaly score. ``regressor()`` makes a fresh regressor (the factory lets two
    detectors differ only in their trainer); it is fitted on at most ``max_windows`` windows (evenly spaced)
    of the fit part of the prefix: input the :func:`window_view` window (C, window) ending at ``t``, target
    the means of the next ``horizon`` blocks (``t + stride``, ..., each channel) less the window's mean (the
    same offset as the input). The raw score of the step that ends the first forecast block is the mean
    absolute error over outputs, in units of the prefix's spread, then averaged over the ``smooth`` steps
    before (default: one block)."""

    def __init__(self, regressor: Callable[[], Regressor], period: int, *, window: int = 24,
                 stride: int | None = None, span: float = SPAN, horizon: int = 1, smooth: int | None = None,
                 max_windows: int = 400, calibration: float = 0.25, margin: float = 1.25,
                 merge: int | None = None) -> None:
        super().__init__(period, window=window, stride=stride, span=span, max_windows=max_windows,
                         calibration=calibration, margin=margin, merge=merge)
        self.regressor = regressor
        self.horizon = horizon
        self.smooth = smooth

    def _setup(self, train: NDArray[np.float64]) -> None:
        super()._setup(train)
        self.horizon_ = check_int("horizon", self.horizon, 1)
        self.smooth_ = self.stride_ if self.smooth is None else check_int("smooth", self.smooth, 1)
        self.context = self.window_ * self.stride_ + self.horizon_ * self.stride_

    def _pairs(self, z: NDArray[np.float64], ends: NDArray[np.intp]) -> tuple[NDArray[np.float64],
                                                                                NDArray[np.float64]]:
        """Inputs (n, C, window) and targets (n, C * horizon) for windows ending at ``ends``."""
        m = block_means(z, self.stride_)
        X = window_view(z, ends, self.window_, self.stride_)
        lags = np.arange(self.window_ - 1, -1, -1) * self.stride_
        level = m[ends[:, None] - lags[None, :]].mean(axis=1)                      # (n, C): the window's mean
        ahead = np.arange(1, self.horizon_ + 1) * self.stride_
        Y = m[ends[:, None] + ahead[None, :]] - level[:, None, :]                   # (n, horizon, C)
        return X, Y.reshape(len(ends), -1)

    def _fit(self, x: NDArray[np.float64]) -> None:
        z = self._scale(x)
        ends = self._fit_ends(len(z), len(z) - self.horizon_ * self.stride_)
        X, Y = self._pairs(z, ends)
        self.model_ = self.regressor()
        self.model_.fit(X, Y[:, 0] if Y.shape[1] == 1 else Y)

    def _raw(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        z = self._scale(x)
        T = len(z)
        out = np.full(T, np.nan)
        ends = np.arange(self.window_ * self.stride_ - 1, T - self.horizon_ * self.stride_)
        if len(ends) == 0:
            return out
        X, Y = self._pairs(z, ends)
        pred = np.asarray(self.model_.predict(X), dtype=float).reshape(len(ends), -1)
        err = np.abs(pred - Y).mean(axis=1)
        at = ends + self.stride_                   # the step that completes the first forecast block
        c = np.concatenate([[0.0], np.cumsum(err)])
        k = np.arange(1, len(err) + 1)
        lo = np.maximum(0, k - self.smooth_)
        out[at] = (c[k] - c[lo]) / (k - lo)
        out[at[: self.smooth_ - 1]] = np.nan       # not a full smoothing window yet
        return out


def evaluate(detector: Detector, series: AnomalySeries, tolerance: int | None = None) -> dict[str, Any]:
    """Fit ``detector`` on ``series.train``, detect on the whole series, and score the part after the prefix
    with :func:`event_scores` (``tolerance`` default: half a period). Returns the scores, the ``threshold``,
    the number of predicted events, the predicted events (``[start, end)`` in steps of the whole series) and
    the wall seconds of the fit (calibration included) and of the detection."""

    tol = series.period // 2 if tolerance is None else tolerance
    t0 = time.perf_counter()
    detector.fit(series.train)
    t1 = time.perf_counter()
    pred = detector.detect(series.values)
    t2 = time.perf_counter()
    test = slice(series.train_end, None)
    scores = event_scores(series.labels[test], pred[test], tol)
    found = [(a + series.train_end, b + series.train_end) for a, b in events(pred[test])]
    return {**scores, "threshold": float(detector.threshold_), "predicted_events": len(found), "events": found,
            "tolerance": int(tol), "fit_seconds": t1 - t0, "detect_seconds": t2 - t1}
