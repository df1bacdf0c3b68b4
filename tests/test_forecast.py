"""Forecasting (qiml.forecast) and the snn-forecast study: loaders, MASE, the forecasters, the smoke run."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("statsmodels")

from qiml.errors import ConfigError, ShapeError  # noqa: E402
from qiml.forecast import (  # noqa: E402
    ARIMA,
    ETS,
    PROTOCOLS,
    Persistence,
    SeasonalNaive,
    SNNForecaster,
    evaluate,
    load_forecast,
    mase,
    origins,
    windows,
)


@pytest.fixture(scope="module")
def wheels() -> None:
    """The aeon and pmdarima wheels, fetched once from the registry if they are not cached."""
    from qiml.series import fetch_wheel

    fetch_wheel("aeon")
    fetch_wheel("pmdarima")


needs_wheels = pytest.mark.usefixtures("wheels")


def _seasonal(n: int = 96, period: int = 12, trend: float = 0.0, noise: float = 0.0) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(0)
    return 10 + trend * t + 3 * np.sin(2 * np.pi * t / period) + noise * rng.normal(size=n)


# ------------------------------------------------------------------------------------------- loaders
@needs_wheels
@pytest.mark.parametrize("name, length, period, first, low, high", [
    ("airline", 144, 12, 112.0, 104.0, 622.0),
    ("taylor", 4032, 48, 22262.0, 18000.0, 40000.0),
    ("sunspots", 2820, 1, 58.0, 0.0, 260.0),
    ("lynx", 114, 1, 269.0, 39.0, 6991.0),
    ("shampoo", 36, 1, 266.0, 100.0, 700.0),
])
def test_loaders(name: str, length: int, period: int, first: float, low: float, high: float) -> None:
    y, m = load_forecast(name)
    assert y.shape == (length,) and y.dtype == np.float64 and m == period
    assert y[0] == first and low <= y.min() and y.max() <= high


def test_unknown_series() -> None:
    with pytest.raises(ConfigError, match="no forecasting series 'nope'"):
        load_forecast("nope")


def test_literal_reader_parses_without_running() -> None:
    from qiml.forecast import _read_literal_array

    text = "import os\nos.system('false')\nx = f([" + ", ".join(str(i) for i in range(200)) + "])\n"
    assert np.array_equal(_read_literal_array(text, "m.py"), np.arange(200.0))
    with pytest.raises(ConfigError, match="one list literal"):
        _read_literal_array("x = [1, 2]\n", "m.py")
    with pytest.raises(ConfigError, match="not a number"):
        _read_literal_array("x = [" + ", ".join(["'a'"] * 200) + "]\n", "m.py")


def test_csv_reader_errors() -> None:
    from qiml.forecast import _read_csv_column

    assert np.array_equal(_read_csv_column("d,v\n1,2.5\n2,3\n", "f.csv"), [2.5, 3.0])
    with pytest.raises(ConfigError, match="line 3: 'x' is not a number"):
        _read_csv_column("d,v\n1,2\n2,x\n", "f.csv")
    with pytest.raises(ConfigError, match="expected 2"):
        _read_csv_column("d,v\n1,2,3\n", "f.csv")


@needs_wheels
def test_protocol_origins() -> None:
    assert origins(144, PROTOCOLS["airline"]) == [120, 132]
    assert origins(4032, PROTOCOLS["taylor"]) == [3696, 3840, 3984]
    assert len(origins(2820, PROTOCOLS["sunspots"])) == 3
    with pytest.raises(ConfigError, match="two periods"):
        origins(30, PROTOCOLS["airline"])


# ------------------------------------------------------------------------------------------- MASE
def test_mase_hand_made() -> None:
    train = np.array([1.0, 2.0, 4.0, 7.0])          # |diffs| 1, 2, 3: scale 2 (m = 1)
    assert mase([8.0, 9.0], [7.0, 7.0], train) == pytest.approx(1.5 / 2)
    # m = 2: |4 - 1|, |7 - 2| -> scale 4
    assert mase([8.0, 9.0], [8.0, 5.0], train, m=2) == pytest.approx(2.0 / 4)
    periodic = np.tile([1.0, 5.0, 2.0, 0.0], 6)
    pred = SeasonalNaive(4).fit(periodic[:16]).predict(8)
    assert mase(periodic[16:], pred, periodic[:16], m=1) == 0.0


def test_mase_errors() -> None:
    with pytest.raises(ConfigError, match="undefined"):
        mase([1.0], [1.0], np.tile([1.0, 2.0], 4), m=2)         # the seasonal naive is exact in-sample
    with pytest.raises(ShapeError, match="equal-length"):
        mase([1.0, 2.0], [1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match="more than m"):
        mase([1.0], [1.0], [1.0, 2.0], m=2)
    with pytest.raises(ConfigError, match="m must be"):
        mase([1.0], [1.0], [1.0, 2.0], m=0)


# ------------------------------------------------------------------------------------------- classical forecasters
def test_naive_forecasters_exact() -> None:
    y = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0])
    assert np.array_equal(Persistence().fit(y).predict(3), [2.0, 2.0, 2.0])
    assert np.array_equal(SeasonalNaive(3).fit(y).predict(7), [5.0, 9.0, 2.0, 5.0, 9.0, 2.0, 5.0])
    periodic = np.tile([1.0, 5.0, 2.0, 0.0], 5)
    assert np.array_equal(SeasonalNaive(4).fit(periodic).predict(6), periodic[:6])


def test_forecaster_errors() -> None:
    with pytest.raises(ConfigError, match="before fit"):
        Persistence().predict(2)
    with pytest.raises(ConfigError, match="horizon h"):
        Persistence().fit([1.0, 2.0]).predict(0)
    with pytest.raises(ShapeError, match="1-D series"):
        Persistence().fit(np.ones((3, 2)))
    with pytest.raises(ConfigError, match="NaN"):
        Persistence().fit([1.0, np.nan])
    with pytest.raises(ConfigError, match="period"):
        SeasonalNaive(0)
    with pytest.raises(ConfigError, match="season must be"):
        ARIMA(12, season="weekly")
    with pytest.raises(ConfigError, match="positive"):
        ARIMA(log=True).fit(np.array([1.0, -1.0, 2.0, 3.0, 1.0]))


def test_ets_and_arima_sane() -> None:
    y = _seasonal(96, 12, trend=0.1, noise=0.2)
    truth = _seasonal(108, 12, trend=0.1)[96:]
    scale = np.mean(np.abs(y[12:] - y[:-12]))
    for fc in (ETS(12, small=True), ARIMA(12, d=1, season="sarima", small=True), ARIMA(12, season="diff", small=True)):
        pred = fc.fit(y).predict(12)
        assert pred.shape == (12,) and np.all(np.isfinite(pred))
        assert np.mean(np.abs(pred - truth)) < 2 * scale, type(fc).__name__


# ------------------------------------------------------------------------------------------- the SNN forecaster
def test_windows_normalisation() -> None:
    y = np.arange(1.0, 41.0)
    X, Y, ref = windows(y, 4, 2, "diff")
    assert X.shape == (35, 1, 4) and Y is not None and Y.shape == (35, 2)
    assert np.allclose(X[0, 0], [-1.5, -0.5, 0.5, 1.5]) and np.allclose(Y[0], [2.5, 3.5])
    X, Y, ref = windows(y, 4, 2, "ratio", seasonal_lag=6, anchor=6)
    assert X.shape[1] == 2 and Y is not None
    e = 8                                        # the first end: the lag's stretch y[0:4] starts y
    assert np.allclose(X[0, 1], y[0:4] / y[e - 4:e].mean() - 1)
    assert np.allclose(Y[0], y[e:e + 2] / y[e - 6:e - 4] - 1) and np.allclose(ref[0], y[e - 6:e - 4])
    with pytest.raises(ConfigError, match="positive"):
        windows(y - 10, 4, 2, "log")
    with pytest.raises(ConfigError, match="norm must be"):
        windows(y, 4, 2, "scale")
    with pytest.raises(ConfigError, match="must be >= the horizon"):
        windows(y, 4, 2, "diff", anchor=1)


class _LastValue:
    """A stand-in regressor: predicts each target as the window's last normalised value."""

    def fit(self, X: np.ndarray, Y: np.ndarray) -> _LastValue:
        self.k = Y.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.repeat(X[:, -1:], self.k, axis=1)


def test_snn_forecaster_round_trip() -> None:
    y = np.arange(1.0, 60.0)
    fc = SNNForecaster(_LastValue, horizon=3, window=5, norm="diff").fit(y)
    assert np.allclose(fc.predict(3), [59.0, 59.0, 59.0])       # the last value, normalised and back
    with pytest.raises(ConfigError, match="up to its horizon"):
        fc.predict(4)


def test_snn_forecaster_tiny_budget() -> None:
    from qiml.snn import SpikingRegressor

    y = _seasonal(90, 12, trend=0.05, noise=0.1)
    fc = SNNForecaster(lambda: SpikingRegressor(hidden=3, readout="counts", alpha=0.1, max_iter=None, max_time=0.5,
                                                random_state=0),
                       horizon=6, window=12, norm="log", anchor=12, max_windows=40).fit(y)
    pred = fc.predict(6)
    assert pred.shape == (6,) and np.all(np.isfinite(pred)) and fc.n_windows_ == 40


def test_evaluate_classical() -> None:
    from qiml.forecast import ForecastProtocol

    y = _seasonal(60, 6, noise=0.1)
    p = ForecastProtocol("toy", 6, 6, 12, 6, 6, window=6, norm="diff")
    res = evaluate(lambda: SeasonalNaive(6), y, p)
    assert res["origins"] == [48, 54] and len(res["forecasts"]) == 2
    want = [mase(y[o:o + 6], y[o - 6:o], y[:o], 6) for o in (48, 54)]
    assert res["mase_origins"] == pytest.approx(want) and res["mase"] == pytest.approx(np.mean(want))


# ------------------------------------------------------------------------------------------- the study
@needs_wheels
def test_study_smoke(tmp_path) -> None:
    pytest.importorskip("snntorch")
    from qiml.studies import snn_forecast

    snn_forecast.main(["--smoke", "--workers", "1", "--out", str(tmp_path)])
    for name in ("summary.md", "summary.csv", "mase.png", "example.png", "runs.jsonl"):
        assert (tmp_path / name).is_file(), name
    text = (tmp_path / "summary.md").read_text()
    assert "| airline | qiml | 2 |" in text and "| airline | arima | - |" in text and "## Goal" in text


def test_study_bad_alpha(tmp_path) -> None:
    from qiml.studies import snn_forecast

    with pytest.raises(SystemExit) as exc:
        snn_forecast.main(["--smoke", "--alpha", "-1", "--out", str(tmp_path)])
    assert exc.value.code == 2
