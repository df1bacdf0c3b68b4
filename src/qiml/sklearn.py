"""scikit-learn estimators: small (optionally int8/int4) MLPs trained by QiML, without gradients.

:class:`QiMLRegressor` and :class:`QiMLClassifier` follow scikit-learn's estimator API (they pass
``sklearn.utils.estimator_checks``) and its ``MLPRegressor`` / ``MLPClassifier`` parameter names
where the meaning is the same, so they drop into pipelines, ``GridSearchCV``, ``cross_val_score``
and ``clone``. Training is :func:`qiml.training.fit_network`: every weight is a wave packet in
``[-bound, bound]`` (or on a signed ``bits``-bit lattice), so non-differentiable activations
(``"step"``, ``"sign"``, ``"staircase"``), non-differentiable losses (``"mae"``, ``"hinge"``,
``"zero_one"``) and quantized weights all work.

Conventions
-----------
* **Inputs are not scaled for you**, as with scikit-learn's MLPs: put a ``StandardScaler`` in front.
  The fixed parameter box ``[-bound, bound]`` assumes inputs of order one.
* **Regression targets are standardised inside** ``fit`` (``(y - y_mean_) / y_scale_`` per output;
  a constant output gets scale 1) and predictions are mapped back, so ``bound`` means the same for
  any target units. ``coefs_``/``intercepts_`` are the parameters of the network on the
  standardised scale (for ``bits`` they are exactly on the lattice): ``predict(X) =
  network(X) * y_scale_ + y_mean_``. ``loss_`` is measured on the standardised targets.
* **Classification** maps the labels to ``0..K-1`` (``classes_`` holds them, sorted). Two classes use
  **one logit** ``z`` (as ``MLPClassifier`` does): ``P(classes_[1]) = sigmoid(z)``,
  ``decision_function`` returns ``z`` (n,), and the losses are their binary forms (logistic,
  hinge ``max(0, 1 - s z)``, 0-1). ``K > 2`` classes use ``K`` logits and a softmax.
  ``predict_proba`` is the sigmoid/softmax of the scores whatever the loss; it is a probability
  model only for ``loss="cross_entropy"``.
* **Budget**: ``max_iter=1000`` engine iterations by default. With the default directions
  (:data:`qiml.training.NETWORK_OPTIONS`: each neuron's Gauss-Newton directions, 8 per iteration,
  3 grid points each; under MSE the output layer is solved exactly, so only hidden neurons are
  sliced) one sweep over a neuron of fan-in ``m`` is ``ceil(m / 8)`` iterations; a few seconds for
  2000 samples with ``hidden_layer_sizes=(6,)``. Models without a derivative (step, sign,
  staircase activations; MAE, hinge, zero-one losses) and ``bits`` use axis slices of 64 points
  (:data:`qiml.training.AXIS_NETWORK_OPTIONS`), where an iteration slices 8 parameters.
  the ``nn-budget`` study (``docs/results/nn-budget``) shows the test error at 1x, 4x and 16x
  this default. ``max_evals`` and ``max_time`` add budgets
  (the first one reached stops the fit); ``max_iter=None`` with neither set uses the engine's
  default (20 sweeps). ``max_time`` makes results depend on machine speed.
* **Determinism**: an int ``random_state`` gives identical ``coefs_`` from run to run (unless
  ``max_time`` cuts the run). ``None`` draws the seed from NumPy's global random state, like
  every scikit-learn estimator.

* **Other models**: ``model=`` trains any :class:`qiml.nn.Model` instead of the MLP (a spiking
  network, a polynomial, your own): a model instance (deep-copied at ``fit``) or a factory
  ``model(n_features_in, n_outputs) -> Model`` called at ``fit``, as scikit-learn's meta-estimators
  take an ``estimator``. ``hidden_layer_sizes`` and ``activation`` then go unused. ``bits`` needs a
  :class:`qiml.nn.QuantizedModel` and the MLP-shaped attributes (``coefs_``, ``intercepts_``,
  ``n_layers_``) exist only for models with ``pack``/``unpack`` (an MLP); ``params_`` always holds
  the flat parameter vector.

Parameters common to both estimators
------------------------------------
hidden_layer_sizes : int or tuple of int, default (6,)
    Widths of the hidden layers; ``()`` is a linear model. Unused with ``model``.
activation : str or list, default "tanh"
    Any name in :data:`qiml.nn.ACTIVATIONS` (scikit-learn's ``"logistic"``, ``"identity"`` too), or
    one entry per hidden layer, each a name or a list with one name per neuron. Unused with ``model``.
model : Model, callable or None, default None
    ``None``: ``MLP((n_features_in, *hidden_layer_sizes, n_outputs), activation)``. Else a
    :class:`qiml.nn.Model` with ``in_features == n_features_in`` and ``out_features == n_outputs``
    (``n_outputs``: the targets' columns; classifiers: 1 logit for two classes, K for K > 2), or a
    callable ``model(n_features_in, n_outputs)`` returning one.
loss : str
    Regressor: ``"mse"`` (default) or ``"mae"``. Classifier: ``"cross_entropy"`` (default),
    ``"hinge"`` or ``"zero_one"``. scikit-learn's names (``"squared_error"``, ``"absolute_error"``,
    ``"log_loss"``) are accepted.
alpha : float, default 0.0
    L2 penalty ``alpha * sum(W**2)`` on the weights (not the biases).
batch_size : int or None, default None
    ``None`` scores every engine request on all samples (QiML needs few evaluations per sample, so
    full batches are the norm); an int scores each request on a reproducible random mini-batch of
    that size (``loss_`` is then recomputed on all samples at the end).
max_iter : int or None, default 1000
    Engine iterations.
random_state : int, RandomState or None, default None
verbose : bool, default False
    Show a progress bar (fraction of the budget, best loss so far).
bits : {None, 4, 8}, default None
    Train directly on the signed ``bits``-bit lattice with one scale per layer,
    ``scales_[l] = bound / (2**(bits-1) - 1)``: ``coefs_[l] / scales_[l]`` are integers in
    ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]``.
bound : float, default 3.0
    Every parameter lies in ``[-bound, bound]``.
max_evals : int or None, default None
    Budget of loss evaluations (slice points).
max_time : float or None, default None
    Budget of wall seconds.
qiml_options : dict or None, default None
    Engine options passed to :func:`qiml.training.fit_network` (see :mod:`qiml.engine.options`,
    e.g. ``{"nx": 32, "block": 4}``, or ``target``/``callback``); they override
    :func:`qiml.training.network_options`.

Learned attributes
------------------
``coefs_``, ``intercepts_`` (lists per layer, as ``MLPRegressor``), ``n_features_in_`` (and
``feature_names_in_`` for DataFrames), ``n_outputs_``, ``n_layers_``, ``out_activation_``,
``loss_`` (final training objective, penalty included), ``loss_curve_`` (best loss after each
iteration; on mini-batches when ``batch_size`` is set), ``n_iter_``, ``scales_`` (per-layer lattice
step, or ``None``; for a model without layers, the lattice step per parameter), ``result_`` (the
engine's :class:`qiml.OptimizeResult`), ``params_`` (the trained parameters (P,)), ``model_`` (the
trained :class:`qiml.nn.Model`; ``net_`` is the same object); regressor: ``y_mean_``,
``y_scale_``; classifier: ``classes_``. ``coefs_``, ``intercepts_`` and ``n_layers_`` only for
models with ``pack``/``unpack`` (an MLP), and then predictions are made from ``coefs_`` /
``intercepts_``, else from ``params_``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .errors import ConfigError
from .nn import MLP, Model, QuantizedModel, check_model, get_loss
from .nn.losses import log_softmax
from .nn.mlp import BITS
from .training import fit_network
from .validation import is_int, optional_positive_float, optional_positive_int, real_or_none

try:
    from sklearn.utils.validation import validate_data
except ImportError as exc:  # pragma: no cover - depends on the installed scikit-learn
    raise ImportError(f"qiml.sklearn needs scikit-learn >= 1.6 (found {sklearn.__version__}); "
                      "pip install -U 'scikit-learn>=1.6'") from exc

__all__ = ["QiMLClassifier", "QiMLRegressor", "LogitClassifierMixin", "encode_labels", "standardise_targets",
           "StandardisedRegressorMixin"]

#: fit_network arguments that the estimators set from their own parameters
_RESERVED = {"loss": "loss", "bits": "bits", "bound": "bound", "batch_size": "batch_size", "l2": "alpha",
             "seed": "random_state", "max_evals": "max_evals", "max_iter": "max_iter", "max_time": "max_time",
             "progress": "verbose", "x0": None}


class _QiMLBase(BaseEstimator):
    """Parameter checks and the fit shared by the regressor and the classifier."""

    _regression: bool

    # -- parameters ----------------------------------------------------------------------------
    def _check_params(self) -> dict[str, Any]:
        """Validate the constructor arguments (scikit-learn validates in ``fit``); returns fit_network kwargs."""
        hls = self.hidden_layer_sizes
        sizes = [hls] if is_int(hls) else hls
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise ConfigError(f"hidden_layer_sizes must be an int or a sequence of positive ints, got {hls!r}")
        sizes = list(sizes)
        if not all(is_int(s) and s >= 1 for s in sizes):
            raise ConfigError(f"hidden_layer_sizes must be positive ints, got {hls!r}")
        act = self.activation
        if not isinstance(act, str) and not (isinstance(act, (list, tuple)) and len(act) == len(sizes)):
            raise ConfigError(f"activation must be a name or a list with one entry per hidden layer "
                              f"({len(sizes)}), got {act!r}")
        loss = get_loss(self.loss)
        if loss.classification == self._regression:
            kind = "regression" if self._regression else "classification"
            ok = "'mse', 'mae'" if self._regression else "'cross_entropy', 'hinge', 'zero_one'"
            raise ConfigError(f"loss {self.loss!r} is not a {kind} loss; choose from {ok}")
        alpha = real_or_none(self.alpha)
        if alpha is None or not np.isfinite(alpha) or alpha < 0:
            raise ConfigError(f"alpha must be a finite number >= 0, got {self.alpha!r}")
        for name in ("batch_size", "max_iter", "max_evals"):   # the engine's own checks, so its messages
            optional_positive_int(name, getattr(self, name))
        optional_positive_float("max_time", self.max_time)
        if self.bits is not None and not (is_int(self.bits) and self.bits in BITS):
            raise ConfigError(f"bits must be None or one of {BITS} (int4 / int8 weights), got {self.bits!r}")
        bound = real_or_none(self.bound)
        if bound is None or not np.isfinite(bound) or bound <= 0:
            raise ConfigError(f"bound must be a finite number > 0, got {self.bound!r}")
        opts = {} if self.qiml_options is None else self.qiml_options
        if not isinstance(opts, dict):
            raise ConfigError(f"qiml_options must be a dict or None, got {type(opts).__name__}")
        clash = sorted(set(opts) & set(_RESERVED))
        if clash:
            uses = [f"{k!r} (use {_RESERVED[k]}=)" if _RESERVED[k] else repr(k) for k in clash]
            raise ConfigError(f"qiml_options may not set {', '.join(uses)}")
        rs = self.random_state
        if is_int(rs) and rs >= 0:
            seed = int(rs)
        else:
            try:
                seed = int(check_random_state(rs).randint(np.iinfo(np.int32).max))
            except ValueError as exc:
                raise ConfigError(f"random_state must be a non-negative int, a RandomState or None, got {rs!r}") \
                    from exc
        m = self.model
        if m is not None and not isinstance(m, Model) and not callable(m):
            check_model(m, "model")   # says which Model members it lacks
        return {"hidden": tuple(int(s) for s in sizes), "loss": loss,
                "kwargs": dict(bits=None if self.bits is None else int(self.bits), bound=float(self.bound),
                               batch_size=None if self.batch_size is None else int(self.batch_size),
                               l2=float(self.alpha), seed=seed, max_evals=self.max_evals, max_iter=self.max_iter,
                               max_time=self.max_time, progress=bool(self.verbose), **opts)}

    # -- training ------------------------------------------------------------------------------
    def _make_model(self, params: dict[str, Any], n_in: int, n_out: int) -> Model:
        """The model to train: the MLP of ``hidden_layer_sizes`` / ``activation``, or ``model``'s."""
        m = self.model
        if m is None:
            return MLP((n_in, *params["hidden"], n_out), self.activation)
        instance = isinstance(m, Model) and not isinstance(m, type)
        # the fitted estimator owns its model: the parameter itself stays untouched (scikit-learn's rule)
        model = copy.deepcopy(m) if instance else m(n_in, n_out)
        check_model(model, "model" if instance else "model(n_features_in, n_outputs)")
        if (model.in_features, model.out_features) != (n_in, n_out):
            raise ConfigError(f"model has in_features={model.in_features}, out_features={model.out_features} but "
                              f"this fit needs {n_in} and {n_out} (the features of X; "
                              f"{'the columns of y' if self._regression else 'one logit for 2 classes, K for K > 2'})")
        return model

    def _fit_net(self, params: dict[str, Any], X: NDArray[np.float64], targets: NDArray[Any], n_out: int) -> None:
        net = self._make_model(params, X.shape[1], n_out)
        res = fit_network(net, X, targets, params["loss"], **params["kwargs"])
        # MLP-shaped attributes for models with layers (pack / unpack / n_layers: an MLP), by capability
        layered = hasattr(net, "unpack") and hasattr(net, "pack") and hasattr(net, "n_layers")
        for name in ("coefs_", "intercepts_", "n_layers_"):   # a refit with another model must not keep them
            self.__dict__.pop(name, None)
        if layered:
            net_l: Any = net
            layers = net_l.unpack(res.x)
            self.coefs_ = [np.array(W) for W, _ in layers]
            self.intercepts_ = [np.array(b) for _, b in layers]
            self.n_layers_ = net_l.n_layers + 1
        self.params_ = np.array(res.x, dtype=float)
        self.n_outputs_ = n_out
        self.loss_ = float(res.fun)
        self.loss_curve_ = np.asarray(res.history, dtype=float).reshape(-1, 2)[:, 1].copy()
        self.n_iter_ = int(res.nit)
        bits = params["kwargs"]["bits"]
        if bits is None:
            self.scales_ = None
        elif layered:
            self.scales_ = np.full(net_l.n_layers, params["kwargs"]["bound"]) / (2 ** (bits - 1) - 1)
        else:
            assert isinstance(net, QuantizedModel)   # fit_network refuses bits otherwise
            self.scales_ = np.array(net.quantized_space(params["kwargs"]["bound"], bits).step, dtype=float)
        self.result_ = res
        self.model_ = self.net_ = net

    def _scores(self, X: ArrayLike) -> NDArray[np.float64]:
        """Model outputs (n, n_outputs_) from the current ``coefs_`` / ``intercepts_`` (else ``params_``)."""
        check_is_fitted(self)
        Xv = validate_data(self, X, reset=False, dtype=np.float64)
        if hasattr(self, "coefs_"):
            net_l: Any = self.model_
            theta = net_l.pack(list(zip(self.coefs_, self.intercepts_, strict=True)))
        else:
            theta = self.params_
        return np.asarray(self.model_.forward(Xv, theta), dtype=float)


class LogitClassifierMixin:
    """``decision_function``, ``predict``, ``predict_proba`` and ``predict_log_proba`` of a classifier whose
    ``_scores(X)`` gives one logit (n, 1) for two classes or K logits (n, K), labels in ``classes_``
    (shared by :class:`QiMLClassifier` and :class:`qiml.snn.SpikingClassifier`)."""

    classes_: NDArray[Any]
    _scores: Callable[[ArrayLike], NDArray[np.float64]]    # the estimator's own (an annotation: nothing shadowed)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Scores: the logit (n,) for two classes (> 0 means ``classes_[1]``), else logits (n, K)."""
        z = self._scores(X)
        return z[:, 0] if z.shape[1] == 1 else z

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predicted labels (n,), of the type of the training labels."""
        z = self._scores(X)
        idx = (z[:, 0] > 0).astype(np.intp) if z.shape[1] == 1 else z.argmax(axis=1)
        return self.classes_[idx]

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities (n, K) in the order of ``classes_``: sigmoid / softmax of the scores."""
        z = self._scores(X)
        if z.shape[1] == 1:
            return np.column_stack([expit(-z[:, 0]), expit(z[:, 0])])
        return np.exp(log_softmax(z))

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log of :meth:`predict_proba`, computed stably."""
        z = self._scores(X)
        if z.shape[1] == 1:
            return np.column_stack([log_expit(-z[:, 0]), log_expit(z[:, 0])])
        return log_softmax(z)


def encode_labels(estimator: Any, y: ArrayLike) -> tuple[NDArray[np.intp], int]:
    """Set ``estimator.classes_`` from labels ``y``; return their codes ``0..K-1`` and the logits needed (1 for
    two classes, else K). Fewer than two classes is a ValueError, as scikit-learn's classifiers raise."""
    check_classification_targets(y)
    estimator.classes_, codes = np.unique(y, return_inverse=True)
    if estimator.classes_.size < 2:
        raise ValueError(f"{type(estimator).__name__} needs samples of at least 2 classes; the data holds only one "
                         f"class ({estimator.classes_[0]!r})")
    k = estimator.classes_.size
    return codes.astype(np.intp), 1 if k == 2 else k


def validation_split(targets: ArrayLike, fraction: float, rng: np.random.Generator, *, stratify: bool
                     ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Training and validation indices (sorted) holding out about ``fraction`` of the samples: per class with
    ``stratify`` (each class of two or more samples keeps at least one on each side), else at random. Too few
    samples for a split is a :class:`ConfigError`.

    >>> tr, va = validation_split([0, 0, 0, 0, 1, 1, 1, 1], 0.25, np.random.default_rng(0), stratify=True)
    >>> len(tr), len(va)
    (6, 2)
    """
    t = np.asarray(targets)
    n = len(t)
    frac = float(fraction)
    if not 0 < frac < 1:
        raise ConfigError(f"validation_fraction must lie in (0, 1), got {fraction!r}")
    groups = [np.flatnonzero(t == c) for c in np.unique(t)] if stratify else [np.arange(n)]
    held = []
    for g in groups:
        k = min(len(g) - 1, max(1, round(frac * len(g)))) if len(g) > 1 else 0
        held.append(rng.permutation(g)[:k])
    val = np.sort(np.concatenate(held)).astype(np.intp)
    train = np.setdiff1d(np.arange(n), val).astype(np.intp)
    if len(val) < 2 or len(train) < 2:
        raise ConfigError(f"{n} samples are too few for a validation split of {frac}")
    return train, val


def standardise_targets(estimator: Any, y: ArrayLike) -> NDArray[np.float64]:
    """Set ``estimator.y_mean_``, ``y_scale_`` (1 for a constant output) and ``_y_1d`` from targets ``y`` (n,)
    or (n, k); return them standardised, (n, k)."""
    y = np.asarray(y, dtype=np.float64)
    estimator._y_1d = y.ndim == 1
    Y = y[:, None] if y.ndim == 1 else y
    estimator.y_mean_ = Y.mean(axis=0)
    std = Y.std(axis=0)
    estimator.y_scale_ = np.where(std > 0, std, 1.0)
    return np.asarray((Y - estimator.y_mean_) / estimator.y_scale_, dtype=np.float64)


class StandardisedRegressorMixin:
    """``predict`` of a regressor trained on targets standardised by :func:`standardise_targets`: its
    ``_scores(X)`` (n, k) mapped back to the targets' units; multi-output (shared by :class:`QiMLRegressor`
    and :class:`qiml.snn.SpikingRegressor`)."""

    _scores: Callable[[ArrayLike], NDArray[np.float64]]
    y_mean_: NDArray[np.float64]
    y_scale_: NDArray[np.float64]
    _y_1d: bool

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predictions (n,) for a 1-D training ``y``, else (n, k)."""
        out = self._scores(X) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()   # type: ignore[misc]
        tags.target_tags.multi_output = True
        return tags


class QiMLRegressor(StandardisedRegressorMixin, RegressorMixin, _QiMLBase):
    """Multilayer perceptron (or any :class:`qiml.nn.Model`, ``model=``) regressor trained by QiML
    (gradient-free); see :mod:`qiml.sklearn`.

    Targets are standardised inside ``fit`` and predictions unscaled; multi-output ``y`` (n, k) is
    supported. Inputs are used as given: scale them (``StandardScaler``).

    >>> import numpy as np
    >>> from qiml.sklearn import QiMLRegressor
    >>> X = np.linspace(-2, 2, 100)[:, None]
    >>> reg = QiMLRegressor(random_state=0).fit(X, np.sin(X[:, 0]))
    >>> reg.score(X, np.sin(X[:, 0])) > 0.99
    True
    """

    _regression = True

    def __init__(self, hidden_layer_sizes: Any = (6,), activation: Any = "tanh", *, loss: str = "mse",
                 alpha: float = 0.0, batch_size: int | None = None, max_iter: int | None = 1000,
                 random_state: Any = None, verbose: bool = False, bits: int | None = None, bound: float = 3.0,
                 max_evals: int | None = None, max_time: float | None = None,
                 qiml_options: dict[str, Any] | None = None, model: Any = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.model = model
        self.loss = loss
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.bits = bits
        self.bound = bound
        self.max_evals = max_evals
        self.max_time = max_time
        self.qiml_options = qiml_options

    def fit(self, X: ArrayLike, y: ArrayLike) -> QiMLRegressor:
        """Train on ``X`` (n, d) and ``y`` (n,) or (n, k); returns ``self``."""
        params = self._check_params()
        Xv, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        X = np.asarray(Xv, dtype=np.float64)           # validate_data returns an ndarray; this tells the type checker
        Y = standardise_targets(self, y)
        self._fit_net(params, X, Y, Y.shape[1])
        self.out_activation_ = "identity"
        return self



class QiMLClassifier(LogitClassifierMixin, ClassifierMixin, _QiMLBase):
    """Multilayer perceptron (or any :class:`qiml.nn.Model`, ``model=``) classifier trained by QiML
    (gradient-free); see :mod:`qiml.sklearn`.

    Binary problems use one logit (``P(classes_[1]) = sigmoid(z)``), ``K > 2`` classes a softmax
    over ``K`` logits. Inputs are used as given: scale them (``StandardScaler``).
    """

    _regression = False

    def __init__(self, hidden_layer_sizes: Any = (6,), activation: Any = "tanh", *, loss: str = "cross_entropy",
                 alpha: float = 0.0, batch_size: int | None = None, max_iter: int | None = 1000,
                 random_state: Any = None, verbose: bool = False, bits: int | None = None, bound: float = 3.0,
                 max_evals: int | None = None, max_time: float | None = None,
                 qiml_options: dict[str, Any] | None = None, model: Any = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.model = model
        self.loss = loss
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.bits = bits
        self.bound = bound
        self.max_evals = max_evals
        self.max_time = max_time
        self.qiml_options = qiml_options

    def fit(self, X: ArrayLike, y: ArrayLike) -> QiMLClassifier:
        """Train on ``X`` (n, d) and class labels ``y`` (n,) of any type; returns ``self``."""
        params = self._check_params()
        Xv, y = validate_data(self, X, y, dtype=np.float64)
        X = np.asarray(Xv, dtype=np.float64)
        codes, n_out = encode_labels(self, y)
        self._fit_net(params, X, codes, n_out)
        self.out_activation_ = "logistic" if n_out == 1 else "softmax"
        return self
