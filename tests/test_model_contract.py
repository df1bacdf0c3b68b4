"""The model contract (qiml.nn.Model): a non-MLP model trained by fit_network and the estimators, the
generic rows path against the MLP's incremental slices, missing members and capability gates."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from qiml import ConfigError, Space
from qiml.nn import MLP, Model, NetworkObjective, QuantizedModel, ReadoutModel, SlicedModel
from qiml.requests import SliceRequest
from qiml.sklearn import QiMLClassifier, QiMLRegressor
from qiml.training import AXIS_NETWORK_OPTIONS, fit_network, network_options


# ----------------------------------------------------------------------------- models written here
class Poly:
    """Per-output polynomials of the inputs: ``out_o = c_o0 + sum_i sum_d c_oid x_i^d`` (the plain contract only)."""

    def __init__(self, in_features: int = 1, out_features: int = 1, degree: int = 2) -> None:
        self.in_features, self.out_features, self.degree = in_features, out_features, degree
        self.n_params = out_features * (1 + in_features * degree)

    def __repr__(self) -> str:
        return f"Poly({self.in_features}, {self.out_features}, degree={self.degree})"

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-0.5, 0.5, self.n_params)

    def space(self, bound: float = 3.0) -> Space:
        return Space(np.full(self.n_params, -bound), np.full(self.n_params, bound))

    def forward(self, X: np.ndarray, theta: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        feats = np.concatenate([np.ones((X.shape[0], 1))] + [X ** d for d in range(1, self.degree + 1)], axis=1)
        return feats @ np.asarray(theta, dtype=float).reshape(self.out_features, -1).T


class Plain:
    """An MLP seen through the plain contract only: no slicer, no readout, no lattice, no weight mask."""

    def __init__(self, net: MLP) -> None:
        self.net = net
        self.n_params, self.in_features, self.out_features = net.n_params, net.in_features, net.out_features

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return self.net.init(rng)

    def space(self, bound: float = 3.0) -> Space:
        return self.net.space(bound)

    def forward(self, X: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return self.net.forward(X, theta)


class PlainReadout(Plain):
    """As :class:`Plain` with the linear readout (``output="solve"`` on rows)."""

    def __init__(self, net: MLP) -> None:
        super().__init__(net)
        self.readout_offset = net.readout_offset

    def readout_features(self, X: np.ndarray, thetas: np.ndarray) -> np.ndarray:
        return self.net.readout_features(X, thetas)


class PolySlicer:
    """Axis slices of a model linear in its parameters, under MSE: moving ``theta_p`` by ``t`` moves one
    output by ``t * feature_p``, so a slice costs one residual update (no rows)."""

    def __init__(self, model: SlicedPoly, objective: NetworkObjective) -> None:
        self.model, self.obj = model, objective

    def potentials(self, request: SliceRequest) -> tuple[float, np.ndarray, np.ndarray]:
        obj, model, x = self.obj, self.model, request.x
        Xb, yb, _ = obj.batch(x)
        r = model.forward(Xb, x) - yb                                            # (N, O)
        feats = model.features(Xb)                                               # (N, F)
        live = request.coef != 0
        local = (live.sum(axis=1) == 1) & (obj.loss.name == "mse")
        p = request.support[np.arange(live.shape[0]), np.argmax(live, axis=1)]
        c = request.coef[np.arange(live.shape[0]), np.argmax(live, axis=1)]
        o, f = np.divmod(p, feats.shape[1])
        dz = (c[:, None] * feats[:, f].T)[:, None, :] * request.grid[:, :, None]  # (k, nx, N)
        rk = r[:, o].T[:, None, :]
        fx = float(np.mean(np.sum(r ** 2, axis=1))) + obj.penalty(x)   # qiml's MSE sums the outputs
        V = fx + np.mean((2.0 * rk + dz) * dz, axis=-1)
        V += obj.slice_penalty(x, request.support, request.coef, request.grid)
        return fx, V, local


class SlicedPoly(Poly):
    """:class:`Poly` with its own incremental slices: a :class:`qiml.nn.SlicedModel` that is no MLP."""

    def features(self, X: np.ndarray) -> np.ndarray:
        return np.concatenate([np.ones((X.shape[0], 1))] + [X ** d for d in range(1, self.degree + 1)], axis=1)

    def slicer(self, objective: NetworkObjective) -> PolySlicer:
        return PolySlicer(self, objective)


class NoForward:
    n_params, in_features, out_features = 3, 1, 1

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(3)

    def space(self, bound: float = 3.0) -> Space:
        return Space(-np.ones(3), np.ones(3))


def poly_data(rng: np.random.Generator, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-1.5, 1.5, (n, 2))
    return X, 0.5 - X[:, 0] + 0.8 * X[:, 0] ** 2 + 0.3 * X[:, 1] ** 2


# ----------------------------------------------------------------------------- the protocols
def test_protocol_membership():
    net = MLP((3, 4, 2))
    assert isinstance(net, Model) and isinstance(net, SlicedModel)
    assert isinstance(net, ReadoutModel) and isinstance(net, QuantizedModel)
    poly = Poly()
    assert isinstance(poly, Model)
    assert not isinstance(poly, (SlicedModel, ReadoutModel, QuantizedModel))
    assert not isinstance(NoForward(), Model)
    assert (net.in_features, net.out_features, net.readout_offset) == (3, 2, net.offsets[-2])
    np.testing.assert_array_equal(net.weight_mask, net.param_row >= 0)


# ----------------------------------------------------------------------------- training a non-MLP model
def test_fit_network_trains_a_plain_model():
    rng = np.random.default_rng(0)
    X, y = poly_data(rng)
    model = Poly(2, 1)
    assert network_options(model, "mse") == AXIS_NETWORK_OPTIONS       # no curvature: axis slices
    res = fit_network(model, X, y, "mse", seed=0, max_iter=150)
    assert res.x.shape == (model.n_params,)
    assert res.fun < 1e-8
    np.testing.assert_allclose(res.x, [0.5, -1.0, 0.0, 0.8, 0.3], atol=1e-3)
    # deterministic, and the reported loss is the objective's
    assert np.array_equal(fit_network(model, X, y, "mse", seed=0, max_iter=150).x, res.x)
    assert res.fun == pytest.approx(NetworkObjective(model, X, y, "mse").loss_at(res.x), rel=1e-12)


def test_fit_network_plain_model_minibatch_and_l2():
    rng = np.random.default_rng(1)
    X, y = poly_data(rng)
    res = fit_network(Poly(2, 1), X, y, "mse", batch_size=20, l2=1e-4, seed=0, max_iter=60)
    assert res.fun == pytest.approx(NetworkObjective(Poly(2, 1), X, y, "mse", l2=1e-4).loss_at(res.x), rel=1e-12)
    assert res.fun < 1e-2


def test_regressor_with_a_model_instance_and_a_factory():
    rng = np.random.default_rng(2)
    X, y = poly_data(rng)
    model = Poly(2, 1)
    reg = QiMLRegressor(model=model, max_iter=150, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.9999
    assert reg.model is model and reg.model_ is not model and reg.net_ is reg.model_   # the parameter is untouched
    assert reg.params_.shape == (model.n_params,) and not hasattr(reg, "coefs_")
    np.testing.assert_allclose(reg.predict(X), reg.model_.forward(X, reg.params_)[:, 0] * reg.y_scale_ + reg.y_mean_)
    twin = clone(reg)
    assert twin.model is not model and isinstance(twin.model, Poly)                   # clone deep-copies it
    np.testing.assert_array_equal(twin.fit(X, y).params_, reg.params_)
    fac = QiMLRegressor(model=lambda d, k: Poly(d, k), max_iter=150, random_state=0).fit(X, np.column_stack([y, -y]))
    assert fac.model_.out_features == 2 and fac.score(X, np.column_stack([y, -y])) > 0.999
    assert clone(fac).get_params()["model"] is fac.model


def test_classifier_with_a_plain_model():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 2))
    labels = np.where(X[:, 0] ** 2 + X[:, 1] ** 2 > 1.0, "out", "in")     # a circle: linear in x^2
    clf = QiMLClassifier(model=lambda d, k: Poly(d, k), max_iter=100, random_state=0).fit(X, labels)
    assert clf.model_.out_features == 1 and clf.score(X, labels) > 0.95
    assert clf.predict_proba(X).shape == (80, 2)
    with pytest.raises(ConfigError, match="out_features=1 but this fit needs 2 and 3"):
        QiMLClassifier(model=Poly(2, 1), max_iter=2).fit(X, np.arange(80) % 3)


# ----------------------------------------------------------------------------- generic rows vs the fast path
def random_request(x: np.ndarray, net: MLP, P: int, rng: np.random.Generator, k: int = 24, nx: int = 7) -> SliceRequest:
    """Axis slices, directions inside one neuron's fan-in and directions across neurons, padded grids."""
    blocks = [b for b in net.neuron_blocks() if b[-1] < P]
    m = max(len(b) for b in blocks)
    support = np.zeros((k, m), dtype=np.intp)
    coef = np.zeros((k, m))
    for j in range(k):
        kind = j % 3
        if kind == 0:
            s = rng.choice(P, 1)
        elif kind == 1:
            b = blocks[rng.integers(len(blocks))]
            s = rng.choice(b, rng.integers(1, len(b) + 1), replace=False)
        else:
            s = rng.choice(P, min(3, P), replace=False)
        support[j, :s.size] = s
        support[j, s.size:] = [p for p in range(P) if p not in s][:m - s.size]
        coef[j, :s.size] = rng.normal(size=s.size)
    grid = np.sort(rng.uniform(-1.0, 1.0, (k, nx)), axis=1)
    return SliceRequest(x, support, coef, grid, rng.integers(2, nx + 1, k))


@pytest.mark.parametrize("sizes, act, loss, output", [
    ((3, 5, 1), "tanh", "mse", "params"),
    ((3, 4, 3, 2), ["relu", ["tanh", "step", "sigmoid"]], "mse", "params"),
    ((3, 4, 3), "sigmoid", "cross_entropy", "params"),
    ((2, 3, 4, 1), ["tanh", "relu"], "hinge", "params"),
    ((3, 5, 2), "tanh", "mse", "solve"),
    ((3, 4, 3, 1), ["relu", "tanh"], "mse", "solve"),
])
def test_generic_rows_agree_with_the_mlp_fast_path(sizes, act, loss, output):
    rng = np.random.default_rng(4)
    net = MLP(sizes, act)
    X = rng.normal(size=(40, sizes[0]))
    classes = loss in ("cross_entropy", "hinge")
    y = rng.integers(0, max(sizes[-1], 2), 40) if classes else rng.normal(size=(40, sizes[-1]))
    fast = NetworkObjective(net, X, y, loss, output=output)
    slow = NetworkObjective(Plain(net) if output == "params" else PlainReadout(net), X, y, loss, output=output)
    assert fast._slicer is not None and slow._slicer is None and fast.dim == slow.dim
    x = net.init(rng)[:fast.dim]
    for _ in range(3):
        req = random_request(x, net, fast.dim, rng)
        fx, V = fast.potentials(req)
        gfx, gV = slow.potentials(req)
        assert abs(fx - gfx) <= 1e-10 * max(1.0, abs(gfx))
        np.testing.assert_allclose(V, gV, rtol=1e-10, atol=1e-10)
        x = x + 0.2 * rng.normal(size=x.shape) * (rng.random(x.shape) < 0.3)   # the cache follows x
    assert fast.loss_at(x) == pytest.approx(slow.loss_at(x), rel=1e-12)


def test_a_non_mlp_sliced_model_is_used_through_the_protocol():
    rng = np.random.default_rng(7)
    X, y = poly_data(rng, 30)
    Y = np.column_stack([y, 2 * y])
    sliced, plain = SlicedPoly(2, 2), Poly(2, 2)
    assert isinstance(sliced, SlicedModel) and not isinstance(sliced, ReadoutModel)
    fast = NetworkObjective(sliced, X, Y, "mse", l2=1e-3)
    slow = NetworkObjective(plain, X, Y, "mse", l2=1e-3)
    x = plain.init(rng)
    P = plain.n_params
    support = np.stack([rng.permutation(P)[:2] for _ in range(12)])
    coef = rng.normal(size=(12, 2))
    coef[1::2, 1] = 0.0                                           # odd rows: axis slices, answered by the slicer
    req = SliceRequest(x, support, coef, np.sort(rng.uniform(-1, 1, (12, 5)), axis=1), rng.integers(2, 6, 12))
    assert fast._slicer.potentials(req)[2].tolist() == [False, True] * 6   # the rest go by rows
    fx, V = fast.potentials(req)
    gfx, gV = slow.potentials(req)
    assert fx == pytest.approx(gfx, rel=1e-12)
    np.testing.assert_allclose(V, gV, rtol=1e-10, atol=1e-12)
    assert not fast.has_curvature and fast.curvature(x, np.arange(2)) is None
    assert fit_network(sliced, X, Y, "mse", seed=0, max_iter=150).fun < 1e-8


# ----------------------------------------------------------------------------- clear errors
def test_a_model_missing_a_member_names_it():
    X, y = np.zeros((5, 1)), np.zeros(5)
    with pytest.raises(ConfigError, match="missing forward"):
        NetworkObjective(NoForward(), X, y)
    with pytest.raises(ConfigError, match="missing forward"):
        fit_network(NoForward(), X, y, max_iter=1)
    with pytest.raises(ConfigError, match="missing forward"):
        QiMLRegressor(model=NoForward(), max_iter=1).fit(X, y)
    with pytest.raises(ConfigError, match=r"model\(n_features_in, n_outputs\) .*missing forward"):
        QiMLRegressor(model=lambda d, k: NoForward(), max_iter=1).fit(X, y)


@pytest.mark.parametrize("kwargs, match", [
    ({"bits": 8}, "quantized_space"),
    ({"output": "solve"}, "linear readout"),
    ({"directions": "curvature"}, "directions='curvature' needs the model's curvature"),
])
def test_mlp_only_features_are_gated_by_capability(kwargs, match):
    rng = np.random.default_rng(5)
    X, y = poly_data(rng, 20)
    with pytest.raises(ConfigError, match=match):
        fit_network(Poly(2, 1), X, y, "mse", max_iter=1, **kwargs)


def test_estimator_gates_bits_for_a_plain_model():
    X, y = poly_data(np.random.default_rng(6), 20)
    with pytest.raises(ConfigError, match="quantized_space"):
        QiMLRegressor(model=Poly(2, 1), bits=8, max_iter=1).fit(X, y)
    # the MLP still has all of them
    reg = QiMLRegressor((3,), bits=8, max_iter=2, random_state=0).fit(X, y)
    assert len(reg.coefs_) == 2 and reg.scales_.shape == (2,)
