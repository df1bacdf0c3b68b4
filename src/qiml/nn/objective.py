"""The loss of a model on data as a QiML objective: generic rows, or a model's incremental slices.

:class:`NetworkObjective` works for any :class:`qiml.nn.Model`. It owns what does not depend on
the architecture: the data and targets, reproducible mini-batches, the ``l2`` penalty, and
``output="solve"`` for models with a linear readout (:class:`qiml.nn.ReadoutModel`: that layer is
not searched; wherever the loss is asked for it is solved exactly by least squares, so the engine
moves the rest and a slice sees the best readout for each of its values).

A slice request is answered by rows (each candidate parameter vector through the model's forward
pass, in chunks of bounded memory, as :class:`qiml.Objective` does for any black box) unless the
model is a :class:`qiml.nn.SlicedModel`: then its slicer answers the slices it can incrementally,
and the rest go by rows. For :class:`qiml.nn.MLP` that is the rank-1 slice code of
:mod:`qiml.nn.mlp_slices` (one weight moves one neuron's pre-activation linearly), which also gives
each neuron's Gauss-Newton block for ``directions="curvature"``.

Every value is a function of the request's base point ``x`` (and its mini-batch) alone, so a
resumed run sees bit-identical potentials.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError, ShapeError
from ..objective import Objective
from ..requests import Request, SliceRequest, check_values
from ..validation import optional_positive_int
from .losses import Loss, get_loss
from .model import Model, ReadoutModel, SlicedModel, Slicer, check_inputs, check_model, forward_rows

__all__ = ["NetworkObjective", "check_targets", "OUTPUTS", "CURVATURE_LOSSES"]

#: losses whose Gauss-Newton curvature the MLP's slicer knows (:meth:`qiml.nn.mlp_slices.MLPSlicer.curvature`)
CURVATURE_LOSSES = ("mse", "cross_entropy")

#: how the output layer is found: searched with the rest ("params") or solved exactly ("solve")
OUTPUTS = ("params", "solve")


def check_targets(model: Model, loss: Loss, y: ArrayLike, n: int) -> NDArray[Any]:
    """Targets in the form the loss wants: (N, O) floats, or (N,) int class labels (O = ``model.out_features``)."""
    n_out = model.out_features
    ya = np.asarray(y)
    if ya.shape[0:1] != (n,):
        raise ShapeError(f"X has {n} samples but y has shape {ya.shape}")
    if loss.classification:
        if ya.ndim != 1:
            raise ShapeError(f"loss {loss.name!r} takes class labels of shape (n,), got {ya.shape}")
        if ya.dtype.kind not in "biuf" or not np.all(np.isfinite(ya)) or np.any(ya != np.round(ya)):
            raise ShapeError(f"loss {loss.name!r} takes integer class labels 0..K-1 (encode other labels first, "
                             f"e.g. with sklearn.preprocessing.LabelEncoder), got dtype {ya.dtype}")
        labels = ya.astype(np.intp)
        top = max(n_out, 2) - 1
        if labels.min() < 0 or labels.max() > top:
            raise ShapeError(f"class labels must lie in [0, {top}] for a network with {n_out} output(s), "
                             f"got [{labels.min()}, {labels.max()}]")
        return labels
    if ya.dtype.kind not in "biuf":
        raise ShapeError(f"regression targets must be numbers, got dtype {ya.dtype}")
    yf = ya.astype(float)
    if yf.ndim == 1:
        yf = yf[:, None]
    if yf.shape != (n, n_out):
        raise ShapeError(f"a network with {n_out} output(s) needs targets of shape ({n},) or ({n}, {n_out}), "
                         f"got {ya.shape}")
    if not np.all(np.isfinite(yf)):
        raise ShapeError("targets contain NaN or infinite values")
    return yf


class NetworkObjective(Objective):
    """Mean loss of ``model`` on ``(X, y)`` as a function of its flat parameters (P,).

    Parameters
    ----------
    model : Model
        The architecture: any :class:`qiml.nn.Model` (e.g. :class:`qiml.nn.MLP`). A
        :class:`qiml.nn.SlicedModel` answers slices incrementally; any other model by rows.
    X : array_like (N, in_features)
        Inputs.
    y : array_like
        Targets (N,) or (N, O) for regression losses, int labels (N,) for classification losses.
    loss : str or Loss
        ``"mse"``, ``"mae"``, ``"cross_entropy"``, ``"zero_one"`` or ``"hinge"``.
    batch_size : int, optional
        Score every request on a mini-batch of this many samples instead of all N. The batch is
        drawn from a generator seeded by ``seed`` and the request's base point, so it changes from
        one request to the next yet is reproducible (a resumed run sees the same batches).
    l2 : float
        Penalty ``l2 * sum(theta[weight_mask]**2)``, as scikit-learn's ``alpha``: the weights, not the
        biases, for a model with a ``weight_mask`` (an MLP); every parameter otherwise.
    output : {"params", "solve"}
        ``"params"``: the readout is part of the parameters (P = ``model.n_params``).
        ``"solve"`` (MSE only, a :class:`qiml.nn.ReadoutModel` with parameters before its readout,
        e.g. an MLP with a hidden layer): the objective's parameters are ``theta[:readout_offset]``
        (P = ``model.readout_offset``) and the readout is solved by (ridge) least squares wherever
        the loss is asked for; :meth:`full` gives the whole parameter vector.
    max_batch_bytes : int
        Upper bound on the memory of one batch of candidate rows (and of the slicer's temporaries).
    nan_policy : {"raise", "inf"}
        What a NaN loss means; see :func:`qiml.requests.check_values`.

    Attributes
    ----------
    model : Model
        The model (``net`` is the same object, the name from before any model could be trained).
    has_curvature : bool
        Whether :meth:`curvature` can answer (the model's slicer has ``curvature``).
    """

    def __init__(self, model: Model, X: ArrayLike, y: ArrayLike, loss: str | Loss = "mse", *,
                 batch_size: int | None = None, l2: float = 0.0, seed: int = 0, output: str = "params",
                 max_batch_bytes: int = 64 * 2**20, nan_policy: str = "raise") -> None:
        check_model(model)
        loss_ = get_loss(loss)
        if output not in OUTPUTS:
            raise ConfigError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.solve = output == "solve"
        self._readout: ReadoutModel | None = None
        if self.solve:
            if not isinstance(model, ReadoutModel):
                raise ConfigError(f"output='solve' (least squares for the output layer) needs a model with a linear "
                                  "readout (readout_offset and readout_features(X, thetas), see qiml.nn.ReadoutModel); "
                                  f"{type(model).__name__} has none: use output='params'")
            if not (loss_.name == "mse" or loss_.classification) or model.readout_offset < 1:
                n_layers = getattr(model, "n_layers", None)   # an MLP says it in layers
                got = (f"{n_layers - 1} hidden layer(s)" if n_layers is not None
                       else f"{model.readout_offset} parameter(s) before the readout")
                raise ConfigError("output='solve' (the output layer fitted wherever the loss is asked for) needs "
                                  "loss='mse' or a classification loss, and at least one hidden layer; got loss "
                                  f"{loss_.name!r} and {got}")
            self._readout = model
        # the parameters the engine moves
        self.n_free = int(self._readout.readout_offset) if self._readout is not None else int(model.n_params)
        super().__init__(self._row_losses, self.n_free, vectorized=True, max_batch_bytes=max_batch_bytes,
                         nan_policy=nan_policy)
        self.model = self.net = model
        self.loss = loss_
        self.X = check_inputs(model, X)
        self.y = check_targets(model, self.loss, y, self.X.shape[0])
        n = self.X.shape[0]
        optional_positive_int("batch_size", batch_size)
        self.batch_size = None if batch_size is None or batch_size >= n else int(batch_size)
        if not (np.isfinite(l2) and l2 >= 0):
            raise ConfigError(f"l2 must be >= 0, got {l2!r}")
        self.l2 = float(l2)
        self.seed = int(seed)
        self.max_batch_bytes = int(max_batch_bytes)
        mask = getattr(model, "weight_mask", None)
        self._weight_mask = (np.ones(model.n_params, dtype=bool) if mask is None
                             else np.asarray(mask, dtype=bool).reshape(model.n_params))
        self._is_weight = self._weight_mask[:self.n_free]
        # rows of one batch hold (N, width) floats per layer
        self._width = int(getattr(model, "width", max(model.in_features, model.out_features)))
        self._slicer: Slicer | None = model.slicer(self) if isinstance(model, SlicedModel) else None
        if self._slicer is not None and not callable(getattr(self._slicer, "potentials", None)):
            raise ConfigError(f"{type(model).__name__}.slicer() must return a qiml.nn.Slicer (with "
                              f"potentials(request)), got {type(self._slicer).__name__}")

    @property
    def has_curvature(self) -> bool:
        return self._slicer is not None and callable(getattr(self._slicer, "curvature", None))

    # -- data --------------------------------------------------------------------------------
    def batch(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[Any], bytes]:
        """``(X_b, y_b, key)``: the samples a request with base point ``x`` (P,) is scored on, and a key
        that identifies them (``b""`` for all the data)."""
        if self.batch_size is None:
            return self.X, self.y, b""
        rng = np.random.default_rng([self.seed, zlib.crc32(x.tobytes())])
        idx = np.sort(rng.choice(self.X.shape[0], self.batch_size, replace=False))
        return self.X[idx], self.y[idx], idx.tobytes()

    _batch = batch

    def penalty(self, x: NDArray[np.float64]) -> float:
        """The ``l2`` penalty of the objective's parameters ``x`` (P,)."""
        return self.l2 * float(np.sum(x[self._is_weight] ** 2)) if self.l2 else 0.0

    def slice_penalty(self, x: NDArray[np.float64], support: NDArray[np.intp], coef: NDArray[np.float64],
                      grid: NDArray[np.float64]) -> NDArray[np.float64]:
        """Change (k, nx) of :meth:`penalty` along slices ``x + t d_j`` (``d_j``: ``coef[j]`` (m,) on
        ``support[j]`` (m,) distinct parameters) at the steps ``t = grid[j]``; 0 without ``l2``."""
        if not self.l2:
            return np.zeros(grid.shape)
        w = np.where(self._is_weight[support], coef, 0.0)
        lin, quad = np.sum(w * x[support], axis=1), np.sum(w * coef, axis=1)
        return self.l2 * (2.0 * lin[:, None] * grid + quad[:, None] * grid ** 2)

    def _theta(self, theta: ArrayLike) -> NDArray[np.float64]:
        t = np.asarray(theta, dtype=float)
        if t.shape != (self.n_free,):
            what = "hidden-layer parameter vector (output='solve')" if self.solve else "parameter vector"
            raise ShapeError(f"{self.model!r} needs a {what} of shape ({self.n_free},), got {t.shape}")
        return t

    def full(self, theta: ArrayLike) -> NDArray[np.float64]:
        """All the model's parameters (``model.n_params``,): with ``output="solve"`` the readout solved
        on all the training data is appended to ``theta``; else ``theta`` itself."""
        t = self._theta(theta)
        if not self.solve:
            return t.copy()
        H = self._features(self.X, t[None])[0]
        return np.concatenate([t, self._solve(H, self.y)[0].ravel()])

    def _features(self, X: NDArray[np.float64], thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        """The readout's features (R, N, h) of ``thetas`` (R, P) under ``output="solve"``."""
        assert self._readout is not None
        return np.asarray(self._readout.readout_features(X, thetas), dtype=float)

    def _pad(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Full-length rows (..., n_params): the readout zero (it is solved, not read)."""
        if not self.solve:
            return theta
        return np.concatenate([theta, np.zeros(theta.shape[:-1] + (self.model.n_params - self.n_free,))], axis=-1)

    def loss_at(self, theta: ArrayLike, X: ArrayLike | None = None, y: ArrayLike | None = None) -> float:
        """Mean loss of ``theta`` (the objective's parameters) on all the data (or on ``X, y``, with the
        readout solved on the training data), penalty included."""
        t = self.full(theta)
        Xe = self.X if X is None else check_inputs(self.model, X)
        ye = self.y if y is None else check_targets(self.model, self.loss, y, Xe.shape[0])
        out = np.asarray(self.model.forward(Xe, t), dtype=float)
        pen = self.l2 * float(np.sum(t[self._weight_mask] ** 2)) if self.l2 else 0.0
        return float(self.loss(out, ye).mean()) + pen

    def _solve(self, H: NDArray[np.float64], y: NDArray[np.float64]
               ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """The readout fitted on features ``H`` (..., N, h): by ridge least squares (MSE) or by ridge
        logistic regression (classification, :meth:`_solve_logistic`). Returns ``(W (..., h + 1, O) with
        the bias as last row, outputs (..., N, O), mean loss (...) with the readout weights' penalty)``.
        A jitter of 1e-12 of the Gram matrix's mean diagonal keeps collinear features solvable."""
        if self.loss.classification:
            return self._solve_logistic(H, y)
        Ha = np.concatenate([H, np.ones(H.shape[:-1] + (1,))], axis=-1)
        G = np.matmul(np.swapaxes(Ha, -1, -2), Ha)
        W = np.asarray(np.linalg.solve(self._ridge(G, H.shape[-2]), np.matmul(np.swapaxes(Ha, -1, -2), y)), float)
        out = np.matmul(Ha, W)
        return W, out, self._solved_loss(out, W, y)

    def _solve_logistic(self, H: NDArray[np.float64], y: NDArray[np.float64]
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Ridge logistic regression of labels ``y`` (N,) on standardised features ``H`` (..., N, h): binary for one
        logit, multinomial for K, by :data:`LOGISTIC_STEPS` bound-optimisation Newton steps from zero (Böhning's
        bound ``[H, 1]^T [H, 1] / 2`` on the Hessian, ``/ 4`` for one logit: one factorisation per fit, and every
        step lowers the penalised loss), so the
        fit is a function of ``H`` and ``y`` alone. The ridge is ``N * max(l2, LOGISTIC_RIDGE)`` on the
        standardised weights; the weights returned act on the raw features."""
        n, h = H.shape[-2], H.shape[-1]
        O = self.model.out_features
        mean = H.mean(axis=-2, keepdims=True)
        std = H.std(axis=-2, keepdims=True)
        std = np.where(std > 1e-12, std, 1.0)
        Ha = np.concatenate([(H - mean) / std, np.ones(H.shape[:-1] + (1,))], axis=-1)     # (..., N, h + 1)
        HaT = np.swapaxes(Ha, -1, -2)
        G = (0.25 if O == 1 else 0.5) * np.matmul(HaT, Ha)      # one logit: the sigmoid's curvature is <= 1/4
        diag = np.arange(h + 1)
        ridge = n * max(self.l2, LOGISTIC_RIDGE)
        G[..., diag[:-1], diag[:-1]] += ridge
        G[..., h, h] += 1e-9 * n
        L = np.linalg.cholesky(G)
        labels = np.asarray(y, dtype=np.intp)
        if O == 1:                     # one logit (binary losses): P(class 1) = sigmoid(z)
            Y = labels[:, None].astype(float)
        else:
            Y = np.zeros((n, O))
            Y[np.arange(n), labels] = 1.0
        W = np.zeros(H.shape[:-2] + (h + 1, O))
        for _ in range(LOGISTIC_STEPS):
            Z = np.matmul(Ha, W)
            if O == 1:
                P = 0.5 * (1.0 + np.tanh(0.5 * Z))     # sigmoid, without overflow
            else:
                P = np.exp(Z - Z.max(axis=-1, keepdims=True))
                P /= P.sum(axis=-1, keepdims=True)
            grad = np.matmul(HaT, Y - P)
            grad[..., :h, :] -= ridge * W[..., :h, :]
            W = W + _cho_solve(L, grad)
        Wr = W[..., :h, :] / np.swapaxes(std, -1, -2)                                      # raw-feature weights
        br = W[..., h:, :] - np.matmul(mean, Wr)
        W = np.concatenate([Wr, br], axis=-2)
        out = np.matmul(np.concatenate([H, np.ones(H.shape[:-1] + (1,))], axis=-1), W)
        return W, out, self._solved_loss(out, W, y)

    def _ridge(self, G: NDArray[np.float64], n: int) -> NDArray[np.float64]:
        """Gram matrices (..., h + 1, h + 1) of [H, 1] made into the normal equations' (in place)."""
        diag = np.arange(G.shape[-1])
        G[..., diag, diag] += (1e-12 * np.trace(G, axis1=-2, axis2=-1) / diag.size + 1e-300)[..., None]
        if self.l2:
            G[..., diag[:-1], diag[:-1]] += n * self.l2
        return G

    def _solved_loss(self, out: NDArray[np.float64], W: NDArray[np.float64], y: NDArray[np.float64]
                     ) -> NDArray[np.float64]:
        loss = self.loss(out, y).mean(axis=-1)
        if self.l2:
            loss = loss + self.l2 * np.sum(W[..., :-1, :] ** 2, axis=(-2, -1))
        return loss

    # -- generic rows --------------------------------------------------------------------------
    def evaluate(self, request: Request, deadline: float | None = None) -> NDArray[np.float64]:
        key_x = request.x if hasattr(request, "x") else request.rows(0, 1)[0]
        self._rows_X, self._rows_y, _ = self.batch(np.asarray(key_x, dtype=float))
        self.chunk = max(1, self.max_batch_bytes // (8 * self._rows_X.shape[0] * self._width))
        return super().evaluate(request, deadline)

    def _row_losses(self, thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        pen = self.l2 * np.sum(thetas[:, self._is_weight] ** 2, axis=1) if self.l2 else 0.0
        if self.solve:
            return self._solve(self._features(self._rows_X, thetas), self._rows_y)[2] + pen
        out = forward_rows(self.model, self._rows_X, thetas)
        return self.loss(out, self._rows_y).mean(axis=-1) + pen

    # -- slices --------------------------------------------------------------------------------
    def potentials(self, request: SliceRequest) -> tuple[float, NDArray[np.float64]]:
        """``(f(x), V (k, nx))``: the slices the model's slicer answers incrementally, the rest by rows."""
        if self._slicer is None:
            return super().potentials(request)
        t0 = time.perf_counter()
        x = np.asarray(request.x, dtype=float)
        support, coef, grid = request.support, request.coef, request.grid
        k, nx = grid.shape
        fx, V, local = self._slicer.potentials(request)
        if not local.all():
            J = np.flatnonzero(~local)
            sub = SliceRequest(x, support[J], coef[J], grid[J], request.counts[J], request.space,
                               None if request.centre is None else request.centre[J])
            seconds = self.seconds
            V[J] = sub.split(self.evaluate(sub))[1]
            self.seconds = seconds   # counted once below
        # padded grid points repeat the last valid one, as the generic fallback does
        V = np.where(np.arange(nx)[None, :] < request.counts[:, None], V,
                     V[np.arange(k), request.counts - 1][:, None])
        self.seconds += time.perf_counter() - t0
        V = check_values(V.ravel(), V.size, self.nan_policy).reshape(k, nx)
        return float(check_values([fx], 1, self.nan_policy)[0]), V

    def curvature(self, x: NDArray[np.float64], params: NDArray[np.intp]
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Eigenvectors (m, m) of the loss's curvature in the block ``params`` (m,) at ``x`` and their
        reach (m,), from the model's slicer (an MLP: each neuron's Gauss-Newton block, see
        :meth:`qiml.nn.mlp_slices.MLPSlicer.curvature`); None where it knows none."""
        fn = getattr(self._slicer, "curvature", None)
        return None if fn is None else fn(x, params)


#: ``output="solve"`` with a classification loss: bound-optimisation Newton steps of the logistic readout,
#: and the smallest ridge (times N) on its standardised weights (separable features need one)
LOGISTIC_STEPS = 8
LOGISTIC_RIDGE = 1e-3


def _cho_solve(L: NDArray[np.float64], B: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(L L^T)^-1 B`` for stacked lower Cholesky factors ``L`` (..., m, m) and right-hand sides ``B`` (..., m, O)."""
    return np.asarray(np.linalg.solve(np.swapaxes(L, -1, -2), np.linalg.solve(L, B)), dtype=float)
