"""The surrogate-gradient baseline: the same network as qiml.snn, step for step, and a working trainer."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("snntorch")

from qiml.errors import ConfigError  # noqa: E402
from qiml.snn import SpikingNetwork  # noqa: E402
from qiml.studies.snn_surrogate import (  # noqa: E402
    SurrogateNetwork,
    SurrogateSpikingClassifier,
    SurrogateSpikingRegressor,
)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_surrogate_network_simulates_the_qiml_network(reset: str) -> None:
    """Given the same weights, delays, biases, thresholds and decays, the torch module's readout features equal
    :class:`qiml.snn.SpikingNetwork`'s (float64): the baseline trains the same network."""
    rng = np.random.default_rng(0)
    C, T, h, taps, D = 2, 25, 5, 3, 4
    readout = ("counts", "bins", "max_mem", "mean_mem")
    mod = SurrogateNetwork(C, T, [h], 2, taps=taps, max_delay=D, recurrent=False, reset=reset, readout=readout,
                           bins=3, learn_threshold=True, learn_leak=True, seed=1, dtype=torch.float64)
    with torch.no_grad():
        mod.w[0].copy_(torch.from_numpy(rng.normal(0, 0.8, (h, C * taps))))
        mod.bias[0].copy_(torch.from_numpy(rng.normal(0, 0.2, h)))
        mod.th[0].copy_(torch.from_numpy(rng.uniform(0.5, 1.5, h)))
        mod.beta[0].copy_(torch.from_numpy(rng.uniform(0.6, 0.95, h)))
        mod.alpha[0].copy_(torch.from_numpy(rng.uniform(0.2, 0.8, h)))
    net = SpikingNetwork(C, T, [h], 2, taps=taps, max_delay=D, reset=reset, readout=readout, bins=3)
    theta = np.zeros(net.n_params)
    layer = net.layers[0]
    for name, value in (("w", mod.w[0]), ("d", mod.delay), ("bias", mod.bias[0][:, None]),
                        ("threshold", mod.th[0][:, None]), ("beta", mod.beta[0][:, None]),
                        ("alpha", mod.alpha[0][:, None])):
        theta[net._columns(layer, name)] = value.detach().numpy()
    X = rng.normal(size=(7, C, T))
    expected = net.simulate(X.reshape(7, -1), theta[None]).features[0]
    assert expected.std() > 0 and 0 < expected[:, :h].mean() < 1        # neurons fire, but not always
    got = mod.features(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_surrogate_gradients_reach_every_trainable_parameter() -> None:
    mod = SurrogateNetwork(1, 20, [4, 3], 1, taps=2, max_delay=3, recurrent=True, reset="subtract",
                           readout=("counts",), bins=1, learn_threshold=True, learn_leak=True, seed=0)
    x = torch.randn(6, 1, 20, generator=torch.Generator().manual_seed(0))
    mod(x).sum().backward()
    for name, p in mod.named_parameters():
        if p.requires_grad and not name.startswith("v."):    # recurrent weights start at 0 (no spikes through)
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert not mod.delay.requires_grad and mod.delay.dtype == torch.long


def _level_task(n: int = 80, T: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    return rng.normal(size=(n, T)) + 1.5 * y[:, None], y


def test_classifier_learns_and_reports_its_tuning() -> None:
    X, y = _level_task()
    clf = SurrogateSpikingClassifier(hidden=4, max_time=None, max_epochs=60, lrs=(3e-3, 1e-2), random_state=0)
    clf.fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.lr_ in (3e-3, 1e-2) and len(clf.epochs_) == 2
    assert sum(clf.epochs_) == 60 and 1 <= clf.best_epoch_ <= max(clf.epochs_)
    proba = clf.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the same seed gives the same model (epoch budget: no clock in the way)
    again = SurrogateSpikingClassifier(hidden=4, max_time=None, max_epochs=60, lrs=(3e-3, 1e-2), random_state=0)
    np.testing.assert_array_equal(again.fit(X, y).decision_function(X), clf.decision_function(X))


def test_regressor_fits_a_level() -> None:
    rng = np.random.default_rng(1)
    level = rng.uniform(-1, 1, 90)
    X = level[:, None] + 0.3 * rng.normal(size=(90, 15))
    reg = SurrogateSpikingRegressor(hidden=6, max_time=None, max_epochs=80, random_state=0).fit(X, 10 * level)
    assert reg.predict(X).shape == (90,)
    assert reg.score(X, 10 * level) > 0.5


@pytest.mark.parametrize("kwargs, match", [
    ({"readout": "first"}, "gradient flows"),
    ({"max_time": None, "max_epochs": None}, "budget"),
    ({"lrs": (0.0,)}, "learning rates"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"reset": "none"}, "reset"),
])
def test_bad_settings_are_named(kwargs: dict, match: str) -> None:
    X, y = _level_task(20, 8)
    with pytest.raises(ConfigError, match=match):
        SurrogateSpikingClassifier(hidden=2, **{"max_epochs": 1, **kwargs}).fit(X, y)
