"""qiml.sklearn: QiMLRegressor / QiMLClassifier pass scikit-learn's estimator checks and learn."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from qiml import ConfigError
from qiml.nn import MLP
from qiml.sklearn import QiMLClassifier, QiMLRegressor

# ----------------------------------------------------------------------------- scikit-learn's checks
# A small budget (50 engine iterations; the default is 200) keeps all 271 checks at about 20 s.
# Every check passes, so no expected_failed_checks are declared (the two *_data_not_an_array checks
# skip themselves when pandas is not installed). The variants cover the linear model, the int4
# lattice, a non-differentiable loss and activation, and mini-batches with per-layer activations.
CHECKED = [
    QiMLRegressor(max_iter=50),
    QiMLClassifier(max_iter=50),
    QiMLRegressor(hidden_layer_sizes=(), loss="mae", bits=4, max_iter=50),
    QiMLClassifier(loss="zero_one", activation="step", max_iter=50),
    QiMLClassifier(hidden_layer_sizes=(4, 3), activation=["relu", "sign"], batch_size=32, max_iter=50),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------- data
def sine_problem():
    """y = sin(x) + 0.05 noise, x uniform in [-3, 3]: 200 training and 100 test samples (seed 0)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (300, 1))
    y = np.sin(X[:, 0]) + 0.05 * rng.standard_normal(300)
    return X[:200], y[:200], X[200:], y[200:]


def blobs(centers: int, seed: int):
    """Standardised blobs: 200 training and 100 test samples."""
    X, y = make_blobs(n_samples=300, centers=centers, random_state=seed)
    X = StandardScaler().fit_transform(X)
    return X[:200], y[:200], X[200:], y[200:]


# ----------------------------------------------------------------------------- learning
def test_regressor_learns_sine():
    X, y, Xt, yt = sine_problem()
    reg = QiMLRegressor(random_state=0).fit(X, y)
    assert reg.score(Xt, yt) > 0.98                       # measured: test R^2 = 0.996 (train 0.995)
    assert reg.n_iter_ == 1000 == reg.result_.nit         # the default budget
    assert reg.loss_ == pytest.approx(reg.result_.fun)
    assert reg.loss_curve_.shape == (1000,) and np.all(np.diff(reg.loss_curve_) <= 0)
    assert reg.loss_curve_[-1] == pytest.approx(reg.loss_)
    # predictions are the network on the standardised scale, unscaled
    out = reg.net_.forward(Xt, reg.net_.pack(list(zip(reg.coefs_, reg.intercepts_, strict=True))))
    np.testing.assert_allclose(reg.predict(Xt), out[:, 0] * reg.y_scale_[0] + reg.y_mean_[0])


def test_regressor_multi_output_and_target_scaling():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 3))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5] + 3.0, 100.0 * X[:, 0] - 50.0 * X[:, 2]])  # very different units
    reg = QiMLRegressor(random_state=0).fit(X[:150], Y[:150])
    assert reg.predict(X[150:]).shape == (50, 2) and reg.n_outputs_ == 2
    assert reg.score(X[150:], Y[150:]) > 0.95             # measured: 0.99
    np.testing.assert_allclose(reg.y_mean_, Y[:150].mean(axis=0))
    np.testing.assert_allclose(reg.y_scale_, Y[:150].std(axis=0))
    # a column y (n, 1) predicts (n, 1), a 1-D y predicts (n,)
    col = QiMLRegressor(random_state=0, max_iter=20).fit(X, Y[:, :1])
    flat = QiMLRegressor(random_state=0, max_iter=20).fit(X, Y[:, 0])
    assert col.predict(X).shape == (200, 1) and flat.predict(X).shape == (200,)
    np.testing.assert_allclose(col.predict(X)[:, 0], flat.predict(X))


def test_regressor_constant_target():
    X = np.random.default_rng(0).standard_normal((30, 2))
    reg = QiMLRegressor(random_state=0, max_iter=20).fit(X, np.full(30, 7.0))
    assert reg.y_scale_[0] == 1.0
    np.testing.assert_allclose(reg.predict(X), 7.0, atol=0.5)


def test_classifier_binary_blobs():
    X, y, Xt, yt = blobs(2, seed=0)
    clf = QiMLClassifier(random_state=0).fit(X, y)
    assert clf.score(Xt, yt) > 0.95                       # measured: 0.99
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (6, 1)
    z, P = clf.decision_function(Xt), clf.predict_proba(Xt)
    assert z.shape == (100,) and P.shape == (100, 2)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(P[:, 1], 1.0 / (1.0 + np.exp(-z)))
    np.testing.assert_array_equal(clf.predict(Xt), clf.classes_[(z > 0).astype(int)])
    np.testing.assert_allclose(clf.predict_log_proba(Xt), np.log(P))


@pytest.mark.parametrize("loss", ["hinge", "zero_one"])
def test_classifier_non_differentiable_losses(loss):
    X, y, Xt, yt = blobs(2, seed=0)
    assert QiMLClassifier(loss=loss, random_state=0).fit(X, y).score(Xt, yt) > 0.95   # measured: 0.99, 0.98


def test_classifier_multiclass_string_labels():
    X, y, Xt, yt = blobs(3, seed=1)
    names = np.array(["cat", "dog", "eel"])
    clf = QiMLClassifier(random_state=0).fit(X, names[y])
    assert list(clf.classes_) == ["cat", "dog", "eel"]
    assert clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"
    assert clf.score(Xt, names[yt]) > 0.95                # measured: 0.99
    assert clf.decision_function(Xt).shape == (100, 3)
    np.testing.assert_allclose(clf.predict_proba(Xt).sum(axis=1), 1.0)


def test_classifier_one_class_error():
    with pytest.raises(ValueError, match="at least 2 classes; the data holds only one class"):
        QiMLClassifier().fit(np.zeros((5, 2)), np.ones(5))


def test_pipeline_scales_inputs():
    X, y, Xt, yt = sine_problem()
    pipe = make_pipeline(StandardScaler(), QiMLRegressor(random_state=0, max_iter=400)).fit(100.0 * X + 5.0, y)
    assert pipe.score(100.0 * Xt + 5.0, yt) > 0.95


# ----------------------------------------------------------------------------- quantization
@pytest.mark.parametrize("bits, top", [(8, 127), (4, 7)])
def test_quantized_weights_lie_on_the_lattice(bits, top):
    X, y, Xt, yt = sine_problem()
    reg = QiMLRegressor(bits=bits, bound=2.0, random_state=0, max_iter=100).fit(X, y)
    np.testing.assert_allclose(reg.scales_, 2.0 / top)
    assert len(reg.scales_) == len(reg.coefs_) == 2
    for W, b, s in zip(reg.coefs_, reg.intercepts_, reg.scales_, strict=True):
        for q in (W / s, b / s):
            np.testing.assert_allclose(q, np.round(q), atol=1e-9)
            assert np.abs(np.round(q)).max() <= top
    if bits == 8:
        assert reg.score(Xt, yt) > 0.9                    # measured: 0.97 with 100 iterations


def test_quantized_classifier_on_lattice():
    X, y, Xt, yt = blobs(2, seed=0)
    clf = QiMLClassifier(bits=8, random_state=0, max_iter=50).fit(X, y)
    for W, s in zip(clf.coefs_, clf.scales_, strict=True):
        q = W / s
        np.testing.assert_allclose(q, np.round(q), atol=1e-9)
        assert np.abs(q).max() <= 127 + 1e-9
    assert clf.score(Xt, yt) > 0.95
    assert QiMLClassifier(max_iter=5).fit(X, y).scales_ is None


# ----------------------------------------------------------------------------- determinism, budgets
def test_same_random_state_identical_coefs():
    X, y, _, _ = sine_problem()
    a = QiMLRegressor(random_state=3, max_iter=30).fit(X, y)
    b = QiMLRegressor(random_state=3, max_iter=30).fit(X, y)
    c = QiMLRegressor(random_state=4, max_iter=30).fit(X, y)
    for Wa, Wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(Wa, Wb)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    # a RandomState seeds from its stream, as in scikit-learn
    r1 = QiMLRegressor(random_state=np.random.RandomState(0), max_iter=5).fit(X, y)
    r2 = QiMLRegressor(random_state=np.random.RandomState(0), max_iter=5).fit(X, y)
    np.testing.assert_array_equal(r1.coefs_[0], r2.coefs_[0])


def test_budgets_and_engine_options():
    X, y, _, _ = sine_problem()
    reg = QiMLRegressor(max_iter=None, max_evals=3000, random_state=0, qiml_options={"nx": 32, "block": 2}).fit(X, y)
    assert 0 < reg.result_.nfev <= 3000
    assert QiMLRegressor(max_iter=7, random_state=0).fit(X, y).n_iter_ == 7


def test_batch_size_reports_full_data_loss():
    X, y, _, _ = sine_problem()
    reg = QiMLRegressor(batch_size=32, random_state=0, max_iter=50).fit(X, y)
    yz = (y - reg.y_mean_[0]) / reg.y_scale_[0]
    pred = (reg.predict(X) - reg.y_mean_[0]) / reg.y_scale_[0]
    assert reg.loss_ == pytest.approx(np.mean((pred - yz) ** 2))


def test_pickle_round_trip():
    X, y, Xt, _ = blobs(3, seed=1)
    clf = QiMLClassifier(random_state=0, max_iter=20).fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(Xt), clf.predict_proba(Xt))


# ----------------------------------------------------------------------------- parameters
BAD = [
    (QiMLRegressor, {"hidden_layer_sizes": (0,)}, r"hidden_layer_sizes must be positive ints, got \(0,\)"),
    (QiMLRegressor, {"hidden_layer_sizes": "6"}, "hidden_layer_sizes must be an int or a sequence"),
    (QiMLRegressor, {"hidden_layer_sizes": (4.0,)}, "hidden_layer_sizes must be positive ints"),
    (QiMLRegressor, {"activation": "swish"}, "unknown activation 'swish'"),
    (QiMLRegressor, {"activation": ["tanh", "relu"]}, "one entry per hidden layer"),
    (QiMLRegressor, {"bits": 3}, r"bits must be None or one of \(4, 8\)"),
    (QiMLClassifier, {"bits": 16}, r"bits must be None or one of \(4, 8\)"),
    (QiMLRegressor, {"loss": "hinge"}, "loss 'hinge' is not a regression loss"),
    (QiMLClassifier, {"loss": "mse"}, "loss 'mse' is not a classification loss"),
    (QiMLRegressor, {"loss": "huber"}, "unknown loss 'huber'"),
    (QiMLRegressor, {"alpha": -1.0}, "alpha must be a finite number >= 0"),
    (QiMLRegressor, {"batch_size": 0}, "batch_size must be a positive int or None"),
    (QiMLRegressor, {"batch_size": "auto"}, "batch_size must be a positive int or None"),
    (QiMLRegressor, {"max_iter": 0}, "max_iter must be a positive int or None"),
    (QiMLRegressor, {"max_evals": 2.5}, "max_evals must be a positive int or None"),
    (QiMLRegressor, {"max_time": -1}, "max_time must be a finite number > 0 or None"),
    (QiMLRegressor, {"bound": 0.0}, "bound must be a finite number > 0"),
    (QiMLRegressor, {"qiml_options": {"max_iter": 5}}, r"qiml_options may not set 'max_iter' \(use max_iter=\)"),
    (QiMLRegressor, {"qiml_options": {"l2": 0.1}}, r"'l2' \(use alpha=\)"),
    (QiMLRegressor, {"qiml_options": [("nx", 8)]}, "qiml_options must be a dict or None"),
    (QiMLRegressor, {"qiml_options": {"nx": 2}}, r"nx must be None or an int in \[3, "),
    (QiMLRegressor, {"qiml_options": {"colour": 1}}, r"unknown option\(s\) \['colour'\]"),
    (QiMLRegressor, {"random_state": -1}, "random_state must be a non-negative int"),
]


@pytest.mark.parametrize("cls, params, match", BAD, ids=[f"{c.__name__}-{next(iter(p))}" for c, p, _ in BAD])
def test_bad_parameters_raise_at_fit(cls, params, match):
    est = cls(**params)                      # the constructor only stores its arguments
    assert est.get_params()[next(iter(params))] is next(iter(params.values()))
    X = np.random.default_rng(0).standard_normal((12, 2))
    y = np.arange(12) % 2
    with pytest.raises(ConfigError, match=match):
        est.fit(X, y)
    assert isinstance(ConfigError(""), ValueError)  # scikit-learn's convention: bad parameters are ValueErrors


def test_get_set_params_clone_round_trip():
    reg = QiMLRegressor((5, 3), "relu", loss="mae", alpha=1e-3, batch_size=16, max_iter=40, random_state=2,
                        bits=8, bound=1.5, max_evals=10_000, max_time=5.0, qiml_options={"nx": 32})
    params = reg.get_params()
    assert params == {"hidden_layer_sizes": (5, 3), "activation": "relu", "loss": "mae", "alpha": 1e-3,
                      "batch_size": 16, "max_iter": 40, "random_state": 2, "verbose": False, "bits": 8,
                      "bound": 1.5, "max_evals": 10_000, "max_time": 5.0, "qiml_options": {"nx": 32},
                      "model": None}
    twin = clone(reg)
    assert twin is not reg and twin.get_params() == params
    assert twin.qiml_options is not reg.qiml_options         # clone deep-copies plain parameters
    assert twin.set_params(alpha=0.5, hidden_layer_sizes=(2,)) is twin
    assert twin.alpha == 0.5 and twin.hidden_layer_sizes == (2,) and reg.alpha == 1e-3
    clf = QiMLClassifier()
    assert clf.get_params()["loss"] == "cross_entropy" and clf.get_params()["hidden_layer_sizes"] == (6,)
    assert clone(clf.set_params(loss="hinge")).loss == "hinge"
    assert not hasattr(QiMLClassifier(), "coefs_")           # nothing learned before fit


def test_predict_before_fit_and_wrong_features():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        QiMLRegressor().predict(np.zeros((2, 2)))
    reg = QiMLRegressor(max_iter=3, random_state=0).fit(np.zeros((10, 2)), np.arange(10.0))
    with pytest.raises(ValueError, match="expecting 2 features"):
        reg.predict(np.zeros((2, 3)))
    assert isinstance(reg.net_, MLP) and reg.net_.layer_sizes == (2, 6, 1) and reg.n_features_in_ == 2
