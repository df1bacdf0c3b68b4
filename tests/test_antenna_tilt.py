"""The antenna-tilt data set: 3GPP TR 38.901 pieces, SINR bookkeeping, determinism and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from qiml.apps.telecom import antenna_tilt as at
from qiml.errors import ConfigError

COL = {name: i for i, (name, _) in enumerate(at.FEATURES)}


@pytest.fixture(scope="module")
def data():
    return at.make_dataset(3000, seed=0, cache=False)


def test_fifteen_documented_features_and_finite_values(data):
    X, y = data
    assert len(at.FEATURES) == 15 and X.shape == (3000, 15) and y.shape == (3000,)
    assert np.isfinite(X).all() and np.isfinite(y).all()
    assert X[:, COL["serving_distance_m"]].min() >= at.MIN_DISTANCE_M
    assert np.all(np.abs(X[:, COL["serving_azimuth_offset_deg"]]) <= 180)
    for name, (lo, hi) in (("serving_tilt_deg", at.TILT_DEG), ("neighbour1_tilt_deg", at.TILT_DEG),
                           ("serving_tx_power_dbm", at.TX_POWER_DBM), ("neighbour2_load", at.LOAD),
                           ("serving_bs_height_m", at.BS_HEIGHT_M)):
        assert lo <= X[:, COL[name]].min() and X[:, COL[name]].max() <= hi, name
    assert set(np.unique(X[:, COL["ue_height_m"]])) <= {1.5 + 3.0 * k for k in range(8)}
    # a spread of SINRs from cell edge to cell centre, as in system-level studies
    assert -15 < np.percentile(y, 1) < 0 < np.percentile(y, 99) < 50


def test_sinr_is_consistent_with_the_measured_powers(data):
    X, y = data
    s, n1, n2 = (X[:, COL[c]] for c in ("serving_rsrp_dbm", "neighbour1_rsrp_dbm", "neighbour2_rsrp_dbm"))
    assert np.all(s >= n1) and np.all(n1 >= n2)            # serving = strongest, neighbours ordered
    noise = 10 ** (at.NOISE_DBM / 10)
    top2 = X[:, COL["neighbour1_load"]] * 10 ** (n1 / 10) + X[:, COL["neighbour2_load"]] * 10 ** (n2 / 10)
    # the other 54 cells only add interference: the SINR is below the two-neighbour bound ...
    assert np.all(y <= s - 10 * np.log10(top2 + noise) + 1e-9)
    # ... and they matter (the bound is not the answer), but less than the two strongest on average
    gap = s - 10 * np.log10(top2 + noise) - y
    assert 0.1 < np.median(gap) < 6


def test_element_and_array_patterns_follow_38_901():
    assert at.element_gain_db(np.array(90.0), np.array(0.0)) == pytest.approx(8.0)
    # 3 dB down at half the 65-degree beamwidth, and the 30 dB floor behind
    assert at.element_gain_db(np.array(90.0), np.array(32.5)) == pytest.approx(5.0)
    assert at.element_gain_db(np.array(90.0), np.array(180.0)) == pytest.approx(8.0 - 30.0)
    tilt = np.array(6.0)
    peak = at.array_gain_db(np.array(96.0), tilt)
    assert peak == pytest.approx(10 * np.log10(at.ARRAY_ELEMENTS))
    theta = np.linspace(60, 150, 901)
    g = at.array_gain_db(theta, tilt)
    assert theta[np.argmax(g)] == pytest.approx(96.0, abs=0.1)
    assert np.all(g <= peak + 1e-9)
    # half-power beamwidth of an 8-element half-wavelength column: about 13 degrees
    above = theta[g >= peak - 3]
    assert 11 < above.max() - above.min() < 15


def test_uma_path_loss_and_los_probability_match_the_tables():
    d, hb, hu = np.array(100.0), np.array(25.0), np.array(1.5)
    d3 = np.hypot(100.0, 23.5)
    assert at.uma_path_loss_db(d, hb, hu, np.array(True)) == pytest.approx(28 + 22 * np.log10(d3) + 20 * np.log10(3.5))
    assert at.uma_path_loss_db(d, hb, hu, np.array(False)) == pytest.approx(
        13.54 + 39.08 * np.log10(d3) + 20 * np.log10(3.5))
    # past the breakpoint 4 h'_BS h'_UT f_c / c = 560 m the LOS slope is 40 dB/decade
    far = at.uma_path_loss_db(np.array([1000.0, 2000.0]), 25.0, 1.5, np.array(True))
    assert far[1] - far[0] == pytest.approx(40 * np.log10(np.hypot(2000, 23.5) / np.hypot(1000, 23.5)), abs=1e-9)
    assert at.uma_los_probability(np.array(10.0), np.array(1.5)) == 1.0
    assert at.uma_los_probability(np.array(100.0), np.array(1.5)) == pytest.approx(0.18 + np.exp(-100 / 63) * 0.82)
    assert at.uma_los_probability(np.array(100.0), np.array(22.5)) > at.uma_los_probability(np.array(100.0), 1.5)


def test_hexagonal_layout():
    sites = at.hex_sites()
    assert sites.shape == (19, 2) and np.allclose(sites[0], 0)
    d = np.linalg.norm(sites[:, None] - sites[None], axis=2)
    assert np.min(d[d > 0]) == pytest.approx(at.ISD_M)
    assert np.allclose(np.sort(np.linalg.norm(sites[1:7], axis=1)), at.ISD_M)


def test_deterministic_prefix_stable_and_seed_dependent(data):
    X, y = data
    X2, y2 = at.make_dataset(1234, seed=0, cache=False)
    assert np.array_equal(X[:1234], X2) and np.array_equal(y[:1234], y2)
    X3, _ = at.make_dataset(1234, seed=1, cache=False)
    assert not np.allclose(X2, X3)


def test_cache_round_trip_and_rebuild_of_a_corrupt_file(tmp_path):
    X, y = at.make_dataset(500, seed=3, cache_dir=tmp_path)
    path = at.cache_path(500, 3, tmp_path)
    assert path.exists()
    Xc, yc = at.make_dataset(500, seed=3, cache_dir=tmp_path)
    assert np.array_equal(X, Xc) and np.array_equal(y, yc)
    path.write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="rebuilding"):
        Xr, _ = at.make_dataset(500, seed=3, cache_dir=tmp_path)
    assert np.array_equal(X, Xr)
    with np.load(path, allow_pickle=False) as z:        # rewritten, readable without pickle
        assert z["X"].shape == (500, 15)


@pytest.mark.parametrize("kwargs, match", [({"n_samples": 0}, "n_samples"), ({"seed": -1}, "seed"),
                                           ({"n_samples": 2.5}, "n_samples")])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        at.make_dataset(**{"n_samples": 10, "cache": False, **kwargs})
