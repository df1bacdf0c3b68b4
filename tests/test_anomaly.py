"""qiml.anomaly: the labelled series, the event-level score, the detectors; and the snn-anomaly study's smoke run."""

from __future__ import annotations

import json
import zipfile
from functools import partial

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from qiml.anomaly import (
    ANOMALY_SERIES,
    AnomalySeries,
    ForecastDetector,
    IsolationForestDetector,
    ZScoreDetector,
    evaluate,
    event_scores,
    events,
    load_anomaly,
    make_nab_series,
    window_view,
)
from qiml.errors import ConfigError, ShapeError
from qiml.series import WHEELS

#: name -> (T, channels, labelled steps, events, train_end)
EXPECTED = {"kdd-135": (7501, 1, 12, 1, 1200), "gutentag-ecg": (20000, 1, 300, 3, 10000),
            "yahoo": (1000, 1, 7, 7, 400), "mitdb": (7500, 1, 352, 1, 3000), "daphnet": (7040, 9, 0, 0, 2816)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loaders_read_the_wheels(name):
    s = load_anomaly(name)          # the wheel is fetched once from the registry if it is not cached
    T, C, n_lab, n_events, train_end = EXPECTED[name]
    assert s.values.shape == ((T,) if C == 1 else (T, C)) and s.labels.shape == (T,) and s.labels.dtype == bool
    assert int(s.labels.sum()) == n_lab and len(s.events) == n_events and s.train_end == train_end
    assert not s.labels[: s.train_end].any() and np.isfinite(s.values).all() and s.period >= 1
    assert name in ANOMALY_SERIES


def _fake_wheel(tmp_path, package, files):
    with zipfile.ZipFile(tmp_path / WHEELS[package].filename, "w") as zf:
        for member, text in files.items():
            zf.writestr(member, text)


@pytest.mark.parametrize("text, match", [
    ("data,label\n1,0\nx,0\n3,1\n", "not a number"),
    ("data,label\n1,0\n2,2\n3,1\n", "labels must be 0 or 1"),
    ("data,flag\n1,0\n2,0\n3,1\n", "one label column"),
    ("data,label\n1,0\n2\n3,1\n", "row 2 has 1 fields"),
    ("data,label\n1,0\n", "at least two rows"),
    ("data,label\n1,0\nnan,0\n3,0\n", "finite"),
])
def test_bad_csv_content_is_a_clear_config_error(tmp_path, text, match):
    _fake_wheel(tmp_path, "sktime", {"sktime/datasets/data/yahoo/yahoo.csv": text})
    with pytest.raises(ConfigError, match=match):
        load_anomaly("yahoo", cache=tmp_path, download=False)


def test_fake_wheel_series_and_an_anomaly_in_the_prefix(tmp_path):
    rows = "\n".join(f"{np.sin(i / 3):.4f},{int(i == 90)}" for i in range(100))
    _fake_wheel(tmp_path, "sktime", {"sktime/datasets/data/yahoo/yahoo.csv": "data,label\n" + rows,
                                     "sktime/datasets/data/mitdb/mitdb.csv": "data,label\n" + rows.replace(
                                         ",0\n", ",1\n", 1)})
    s = load_anomaly("yahoo", cache=tmp_path, download=False)
    assert s.values.shape == (100,) and s.events == [(90, 91)] and s.train_end == 40
    with pytest.raises(ConfigError, match="training prefix .* must be anomaly-free"):
        load_anomaly("mitdb", cache=tmp_path, download=False)
    with pytest.raises(ConfigError, match="unknown anomaly series 'nope'"):
        load_anomaly("nope")


def test_series_checks_its_fields():
    with pytest.raises(ShapeError, match="labels must be"):
        AnomalySeries("x", np.zeros(10), np.zeros(9, bool), 5, 2)
    with pytest.raises(ConfigError, match="train_end must be in 1..9"):
        AnomalySeries("x", np.zeros(10), np.zeros(10, bool), 10, 2)
    with pytest.raises(ConfigError, match="labels must be 0/1"):
        AnomalySeries("x", np.zeros(10), np.full(10, 2), 5, 2)


def test_events_and_event_scores_by_hand():
    lab = np.zeros(30, bool)
    lab[5:8] = True          # event A
    lab[15] = True           # event B
    lab[25:27] = True        # event C
    pred = np.zeros(30, bool)
    pred[7:10] = True        # starts inside A, runs past it: correct
    pred[12] = True          # near B but outside it: false positive without tolerance
    pred[20] = True          # false positive
    assert events(lab) == [(5, 8), (15, 16), (25, 27)] and events(pred) == [(7, 10), (12, 13), (20, 21)]
    got = event_scores(lab, pred)
    assert got["recall"] == pytest.approx(1 / 3) and got["precision"] == pytest.approx(1 / 3)
    assert got["f1"] == pytest.approx(1 / 3)
    got = event_scores(lab, pred, tolerance=3)            # B's window is [12, 19): the detection at 12 counts
    assert got["recall"] == pytest.approx(2 / 3) and got["precision"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 3)
    one_long = np.zeros(30, bool)
    one_long[5:27] = True                                 # one predicted event over all three: 3/3 found, 1/1 right
    assert event_scores(lab, one_long) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    nothing = event_scores(lab, np.zeros(30, bool))
    assert nothing == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    empty = event_scores(np.zeros(30, bool), pred)
    assert empty["precision"] == 0.0 and np.isnan(empty["recall"]) and np.isnan(empty["f1"])
    with pytest.raises(ShapeError, match="one length"):
        event_scores(lab, pred[:-1])
    with pytest.raises(ConfigError, match="tolerance"):
        event_scores(lab, pred, tolerance=-1)


def test_nab_series_labels_and_kinds():
    s = make_nab_series(seed=3)
    assert s.values.shape == (4000,) and s.train_end == 1200 and s.period == 40
    assert len(s.events) == 8 and sorted(s.kinds) == sorted(["spike", "level_shift", "noise_burst", "frequency"] * 2)
    for (a, b), kind in zip(s.events, s.kinds, strict=True):
        assert a >= s.train_end and ((b - a == 1) == (kind == "spike"))
        if kind != "spike":
            assert 40 <= b - a <= 80
    np.testing.assert_array_equal(make_nab_series(seed=3).values, s.values)       # seeded
    assert not np.array_equal(make_nab_series(seed=4).values, s.values)
    with pytest.raises(ConfigError, match="leaves"):
        make_nab_series(300)
    with pytest.raises(ConfigError, match="train_fraction"):
        make_nab_series(train_fraction=1.0)


def _spike_series(seed=0):
    """A quiet seasonal series with one spike after the prefix."""
    rng = np.random.default_rng(seed)
    t = np.arange(1200)
    v = np.sin(2 * np.pi * t / 20) + 0.05 * rng.normal(size=len(t))
    v[900] += 4.0
    lab = np.zeros(len(t), bool)
    lab[900] = True
    return AnomalySeries("spike", v, lab, 600, 20)


def test_zscore_finds_the_spike():
    s = _spike_series()
    det = ZScoreDetector(s.period)
    res = evaluate(det, s)
    assert res["recall"] == 1.0 and res["precision"] == 1.0 and res["events"][0][0] == 900
    assert det.score(s.values)[: s.period].max() == 0.0           # no history, no score
    with pytest.raises(ShapeError, match="channel"):
        det.score(np.zeros((50, 2)))


def test_isolation_forest_finds_the_spike_and_is_seeded():
    s = _spike_series()
    res = evaluate(IsolationForestDetector(s.period, random_state=1), s)
    assert res["recall"] == 1.0 and res["precision"] == 1.0
    a = IsolationForestDetector(s.period, random_state=1).fit(s.train).score(s.values)
    b = IsolationForestDetector(s.period, random_state=1).fit(s.train).score(s.values)
    np.testing.assert_array_equal(a, b)


def test_forecast_detector_with_a_ridge_and_with_a_spiking_regressor():
    s = _spike_series()
    flat = FunctionTransformer(lambda X: X.reshape(len(X), -1))         # windows (n, C, W) as rows
    det = ForecastDetector(lambda: make_pipeline(flat, Ridge(alpha=1e-3)), s.period)
    res = evaluate(det, s)
    assert res["f1"] == 1.0 and res["threshold"] > 0
    from qiml.snn import SpikingRegressor
    snn = ForecastDetector(partial(SpikingRegressor, hidden=4, taps=2, max_iter=3, random_state=0), s.period,
                           window=12)
    res = evaluate(snn, s)
    assert res["recall"] == 1.0 and isinstance(snn.model_, SpikingRegressor)


def test_window_view_shape_and_offset():
    x = np.arange(40.0)[:, None]
    W = window_view(x, np.array([19, 39]), window=5, stride=2)
    assert W.shape == (2, 1, 5)
    np.testing.assert_allclose(W[0, 0], [-4, -2, 0, 2, 4])        # block means 10.5 .. 18.5, less their mean


def test_detectors_refuse_bad_settings():
    s = _spike_series()
    with pytest.raises(ConfigError, match="not fitted"):
        ZScoreDetector(20).score(s.values)
    with pytest.raises(ConfigError, match="calibration must be in"):
        ZScoreDetector(20, calibration=1.5).fit(s.train)
    with pytest.raises(ConfigError, match="too short"):
        IsolationForestDetector(20).fit(s.train[:30])
    with pytest.raises(ConfigError, match="window must be"):
        ZScoreDetector(1).fit(s.train)
    with pytest.raises(ShapeError, match=r"\(T,\) or \(T, C\)"):
        ZScoreDetector(20).fit(np.zeros((4, 4, 4)))


def test_study_smoke_run_writes_its_files(tmp_path):
    from qiml.studies import snn_anomaly
    out = tmp_path / "smoke"
    snn_anomaly.main(["--smoke", "--out", str(out), "--workers", "1", "--budgets", "1",
                      "--methods", "qiml", "zscore", "iforest"])
    for name in ("summary.md", "summary.csv", "f1.png", "example.png", "runs.jsonl"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert {r["method"] for r in records} == {"qiml", "zscore", "iforest"}
    assert all(0 <= r["f1"] <= 1 and r["seconds"] > 0 for r in records)
    assert "| nab | qiml | 1 |" in (out / "summary.md").read_text()


def test_study_runs_the_surrogate_baseline_through_the_same_detector():
    pytest.importorskip("snntorch")
    from qiml.studies.snn_anomaly import SMOKE, run_job
    rec = run_job({"series": "nab", "method": "snntorch", "seed": 0, "budget": 3.0, "smoke": True,
                   "hidden": SMOKE["hidden"], "taps": SMOKE["taps"], "window": SMOKE["window"]})
    assert 0 <= rec["f1"] <= 1 and rec["epochs"] >= 1 and rec["fit_seconds"] > 0
