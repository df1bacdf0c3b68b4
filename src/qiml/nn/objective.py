"""The loss of a network on data as a QiML objective, with incremental slice potentials.

Changing one weight ``W_l[i, c]`` moves only the pre-activation of neuron ``c`` in layer ``l``:
``z_c' = z_c + (w' - w) * a_i`` for every sample; moving along a direction ``d`` inside that
neuron's fan-in (its weights and bias) moves it by ``t * (a @ d)``. So the whole slice of that weight (``nx`` values)
is computed from the cached activations of the base network: one rank-1 update of one column,
that neuron's activation, and a forward pass of the layers *after* it only. All slices of a
request are done in a few vectorised passes, never by rebuilding and re-running whole networks
(``P x nx`` forward passes).

With ``output="solve"`` the linear output layer is not searched at all: at every point the
objective is asked for (every grid point of every slice) it is solved exactly by least squares
(variable projection), so the engine only moves the hidden layers and a slice of a hidden neuron
sees the best output layer for each of its values. :meth:`NetworkObjective.curvature` gives each
neuron's Gauss-Newton block for ``directions="curvature"`` (it uses the activations' derivatives;
the loss itself is never differentiated).

The cache follows the base point ``x`` of the engine's requests: when only parameters of layers
``l`` and later changed, layers before ``l`` are reused. Every cached array is a function of ``x``
(and the mini-batch) alone, so a resumed run sees bit-identical potentials.
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
from .losses import Loss, get_loss, softmax
from .mlp import MLP

__all__ = ["NetworkObjective", "check_targets", "OUTPUTS", "CURVATURE_LOSSES"]

#: losses whose Gauss-Newton curvature :meth:`NetworkObjective.curvature` knows
CURVATURE_LOSSES = ("mse", "cross_entropy")

#: how the output layer is found: searched with the rest ("params") or solved exactly ("solve")
OUTPUTS = ("params", "solve")

_PASS_BYTES = 4 * 2**20   # one temporary per vectorised pass: large enough to amortise, small enough for cache


def check_targets(net: MLP, loss: Loss, y: ArrayLike, n: int) -> NDArray[Any]:
    """Targets in the form the loss wants: (N, O) floats, or (N,) int class labels."""
    n_out = net.layer_sizes[-1]
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
    """Mean loss of ``net`` on ``(X, y)`` as a function of its flat parameters (P,).

    Parameters
    ----------
    net : MLP
        The architecture.
    X : array_like (N, n_in)
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
        Penalty ``l2 * sum(W**2)`` on the weights (not the biases), as scikit-learn's ``alpha``.
    output : {"params", "solve"}
        ``"params"``: the output layer is part of the parameters (P = ``net.n_params``).
        ``"solve"`` (MSE only, one hidden layer or more): the objective's parameters are the hidden
        layers' only (P = ``net.offsets[-2]``) and the output layer is solved by (ridge) least
        squares wherever the loss is asked for; :meth:`full` gives the whole network.
    """

    def __init__(self, net: MLP, X: ArrayLike, y: ArrayLike, loss: str | Loss = "mse", *,
                 batch_size: int | None = None, l2: float = 0.0, seed: int = 0, output: str = "params",
                 max_batch_bytes: int = 64 * 2**20, nan_policy: str = "raise") -> None:
        loss_ = get_loss(loss)
        if output not in OUTPUTS:
            raise ConfigError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.solve = output == "solve"
        if self.solve and (loss_.name != "mse" or net.n_layers < 2):
            raise ConfigError("output='solve' (least squares for the output layer) needs loss='mse' and at least "
                              f"one hidden layer; got loss {loss_.name!r} and {net.n_layers - 1} hidden layer(s)")
        self.n_free = net.offsets[-2] if self.solve else net.n_params   # the parameters the engine moves
        super().__init__(self._row_losses, self.n_free, vectorized=True, max_batch_bytes=max_batch_bytes,
                         nan_policy=nan_policy)
        self.net = net
        self.loss = loss_
        self.X = net.check_inputs(X)
        self.y = check_targets(net, self.loss, y, self.X.shape[0])
        n = self.X.shape[0]
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ConfigError(f"batch_size must be a positive int or None, got {batch_size!r}")
        self.batch_size = None if batch_size is None or batch_size >= n else int(batch_size)
        if not (np.isfinite(l2) and l2 >= 0):
            raise ConfigError(f"l2 must be >= 0, got {l2!r}")
        self.l2 = float(l2)
        self.seed = int(seed)
        self.max_batch_bytes = int(max_batch_bytes)
        self._is_weight = net.param_row[:self.n_free] >= 0
        self._full_x = np.zeros(net.n_params)    # the base point with its (solved) output layer
        self._out_penalty = 0.0                  # l2 penalty of the solved output weights at the base point
        self._key: bytes | None = None
        self._cache: tuple[list[Any], list[Any]] | None = None
        self._x: NDArray[np.float64] | None = None
        self._work = [np.empty(0), np.empty(0)]

    # -- data --------------------------------------------------------------------------------
    def _batch(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[Any], bytes]:
        if self.batch_size is None:
            return self.X, self.y, b""
        rng = np.random.default_rng([self.seed, zlib.crc32(x.tobytes())])
        idx = np.sort(rng.choice(self.X.shape[0], self.batch_size, replace=False))
        return self.X[idx], self.y[idx], idx.tobytes()

    def penalty(self, x: NDArray[np.float64]) -> float:
        return self.l2 * float(np.sum(x[self._is_weight] ** 2)) if self.l2 else 0.0

    def _theta(self, theta: ArrayLike) -> NDArray[np.float64]:
        t = np.asarray(theta, dtype=float)
        if t.shape != (self.n_free,):
            what = "hidden-layer parameter vector (output='solve')" if self.solve else "parameter vector"
            raise ShapeError(f"{self.net!r} needs a {what} of shape ({self.n_free},), got {t.shape}")
        return t

    def full(self, theta: ArrayLike) -> NDArray[np.float64]:
        """All the network's parameters (``net.n_params``,): with ``output="solve"`` the output layer
        solved on all the training data is appended to the hidden ``theta``; else ``theta`` itself."""
        t = self._theta(theta)
        if not self.solve:
            return t.copy()
        H = self.net.hidden_rows(self.X, self._pad(t)[None])[0]
        return np.concatenate([t, self._solve(H, self.y)[0].ravel()])

    def _pad(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Full-length rows (..., n_params): the output layer zero (it is solved, not read)."""
        if not self.solve:
            return theta
        return np.concatenate([theta, np.zeros(theta.shape[:-1] + (self.net.n_params - self.n_free,))], axis=-1)

    def loss_at(self, theta: ArrayLike, X: ArrayLike | None = None, y: ArrayLike | None = None) -> float:
        """Mean loss of ``theta`` (the objective's parameters) on all the data (or on ``X, y``, with the
        output layer solved on the training data), penalty included."""
        t = self.full(theta)
        Xe = self.X if X is None else self.net.check_inputs(X)
        ye = self.y if y is None else check_targets(self.net, self.loss, y, Xe.shape[0])
        out = self.net.forward_cache(Xe, t)[1][-1]
        pen = self.l2 * float(np.sum(t[self.net.param_row >= 0] ** 2)) if self.l2 else 0.0
        return float(self.loss(out, ye).mean()) + pen

    def _solve(self, H: NDArray[np.float64], y: NDArray[np.float64]
               ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """The output layer by ridge least squares on last-hidden activations ``H`` (..., N, h):
        ``(W (..., h + 1, O) with the bias as last row, outputs (..., N, O), mean loss (...) with the
        output weights' penalty)``. A jitter of 1e-12 of the Gram matrix's mean diagonal keeps
        collinear neurons solvable."""
        Ha = np.concatenate([H, np.ones(H.shape[:-1] + (1,))], axis=-1)
        G = np.matmul(np.swapaxes(Ha, -1, -2), Ha)
        W = np.linalg.solve(self._ridge(G, H.shape[-2]), np.matmul(np.swapaxes(Ha, -1, -2), y))
        out = np.matmul(Ha, W)
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
    def evaluate(self, request: Request) -> NDArray[np.float64]:
        key_x = request.x if hasattr(request, "x") else request.rows(0, 1)[0]
        self._rows_X, self._rows_y, _ = self._batch(np.asarray(key_x, dtype=float))
        self.chunk = max(1, self.max_batch_bytes // (8 * self._rows_X.shape[0] * max(self.net.layer_sizes)))
        return super().evaluate(request)

    def _row_losses(self, thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        pen = self.l2 * np.sum(thetas[:, self._is_weight] ** 2, axis=1) if self.l2 else 0.0
        if self.solve:
            return self._solve(self.net.hidden_rows(self._rows_X, self._pad(thetas)), self._rows_y)[2] + pen
        out = self.net.forward_rows(self._rows_X, thetas)
        return self.loss(out, self._rows_y).mean(axis=-1) + pen

    # -- incremental slices ------------------------------------------------------------------------
    def _refresh(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[Any], list[Any], list[Any]]:
        """Cached (Xb, yb, Z, A) of the base network ``x``, recomputing only the layers that changed."""
        Xb, yb, key = self._batch(x)
        net = self.net
        fresh = self._cache is None or self._key != key or self._x is None
        changed = np.flatnonzero(x != self._x) if not fresh else np.zeros(0, np.intp)
        if fresh:
            self._cache = net.forward_cache(Xb, self._pad(x))
        elif changed.size:
            self._cache = net.forward_cache(Xb, self._pad(x), start=int(net.param_layer[changed].min()),
                                            cache=self._cache)
        if self.solve and (fresh or changed.size):
            # the output layer of this base point, solved: its outputs replace the zero layer's
            W, out, _ = self._solve(self._cache[1][-2], yb)
            self._cache[0][-1] = self._cache[1][-1] = out
            self._full_x = np.concatenate([x, W.ravel()])
            self._out_penalty = self.l2 * float(np.sum(W[:-1] ** 2))
        elif not self.solve:
            self._full_x = x
        self._x, self._key = x.copy(), key
        return Xb, yb, self._cache[0], self._cache[1]

    def potentials(self, request: SliceRequest) -> tuple[float, NDArray[np.float64]]:
        t0 = time.perf_counter()
        net, x = self.net, np.asarray(request.x, dtype=float)
        Xb, yb, Z, A = self._refresh(x)
        layers = net.unpack(self._full_x)
        n = Xb.shape[0]
        per_sample = self.loss(A[-1], yb)
        fx = float(per_sample.mean()) + self.penalty(x) + self._out_penalty
        support, coef, grid = request.support, request.coef, request.grid
        k, nx = grid.shape
        V = np.empty((k, nx))
        # a direction inside one neuron's fan-in (its incoming weights and bias) moves only that
        # neuron's pre-activation, by t * (X_a @ d): answered incrementally; any other direction
        # (across neurons, or leaving the box) by rows through the whole network
        live = coef != 0
        first = np.argmax(live, axis=1)
        p0 = support[np.arange(k), first]
        layer, col = net.param_layer[p0], net.param_col[p0]
        local = (np.all(~live | ((net.param_layer[support] == layer[:, None]) & (net.param_col[support] == col[:, None])),
                        axis=1) & live.any(axis=1) & request.inside())
        for l in np.unique(layer[local]):
            js = np.flatnonzero(local & (layer == l))
            # slices per pass: keep one (k, nx, N, width) temporary near the cache size, not at the memory cap
            width = max(net.layer_sizes[int(l) + 1:])
            step = max(1, min(self.max_batch_bytes, _PASS_BYTES) // (8 * nx * n * width))
            for s in range(0, js.size, step):
                j = js[s:s + step]
                rows = np.where(live[j], net.param_row[support[j]], -1)   # idle entries (coef 0) may be anywhere
                if np.all(rows == rows[0]):   # one neuron's basis: the same inputs for every direction
                    inputs = np.where(rows[0][None, :] >= 0, A[int(l)][:, np.maximum(rows[0], 0)], 1.0)  # (N, m)
                    u = coef[j] @ inputs.T                                          # (k, N): dz per unit step
                else:
                    inputs = np.where(rows[:, :, None] >= 0, A[int(l)][:, np.maximum(rows, 0)].transpose(1, 2, 0), 1.0)
                    u = np.einsum("km,kmn->kn", coef[j], inputs, optimize=False)
                V[j] = self._slices(int(l), col[j], u, grid[j], Z, A, yb, layers, per_sample)
            if self.l2:
                w = np.where(self._is_weight[support[js]], coef[js], 0.0)
                lin, quad = np.sum(w * x[support[js]], axis=1), np.sum(w * coef[js], axis=1)
                V[js] += self.l2 * (2.0 * lin[:, None] * grid[js] + quad[:, None] * grid[js] ** 2)
        V[local] += self.penalty(x)
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

    def _scratch(self, shape: tuple[int, ...], slot: int = 0) -> NDArray[np.float64]:
        """A reused work array: big temporaries allocated per pass cost page faults, not arithmetic."""
        size = int(np.prod(shape))
        if self._work[slot].size < size:
            self._work[slot] = np.empty(size)
        return self._work[slot][:size].reshape(shape)

    def _slices(self, l: int, cols: NDArray[np.intp], u: NDArray[np.float64], delta: NDArray[np.float64],
                Z: list[Any], A: list[Any], yb: NDArray[Any], layers: list[Any],
                per_sample: NDArray[np.float64]) -> NDArray[np.float64]:
        """Mean loss (k, nx) when the pre-activation of neuron ``cols[j]`` of weight layer ``l`` moves
        by ``delta[j, g] * u[j]`` (u (k, N): the change per unit step, a_i for one weight)."""
        net = self.net
        n = yb.shape[0]
        z = np.multiply(delta[:, :, None], u[:, None, :], out=self._scratch(delta.shape + (n,)))  # (k, nx, N)
        last = net.n_layers - 1
        if self.solve:
            return self._solved_slices(l, cols, z, Z, A, yb, layers)
        if l == last and self.loss.name == "mse":
            # only output c moves, by z: (r + z)^2 - r^2 summed, with r the residual of that output
            r = (A[-1] - yb)[:, cols].T[:, None, :]                             # (k, 1, N)
            return per_sample.mean() + ((2.0 * r + z) * z).mean(axis=-1)
        z += Z[l + 1][:, cols].T[:, None, :]                                    # the neuron's new pre-activation
        if l == last:
            out = np.repeat(A[-1][None, None], z.shape[0] * z.shape[1], axis=0).reshape(z.shape + A[-1].shape[1:])
            out[np.arange(z.shape[0]), :, :, cols] = z
            return self.loss(out, yb).mean(axis=-1)
        dh = net.activations[l].leading(z, cols, out=z)
        dh -= A[l + 1][:, cols].T[:, None, :]                                   # change of the neuron's output
        W_next = layers[l + 1][0][cols]                                         # (k, H_next)
        if l + 1 == last and self.loss.name == "mse":
            # outputs move by dh * w: sum_o (r_o + w_o dh)^2 = r.r + 2 dh (r @ w) + dh^2 |w|^2, per sample
            r = A[-1] - yb                                                      # (N, O)
            rw = W_next @ r.T                                                   # (k, N)
            lin = np.einsum("kgn,kn->kg", dh, rw, optimize=False)
            quad = np.einsum("kgn,kgn->kg", dh, dh, optimize=False)
            return per_sample.mean() + (2.0 * lin + (W_next**2).sum(axis=1)[:, None] * quad) / n
        out = np.multiply(dh[..., None], W_next[:, None, None, :],
                          out=self._scratch(dh.shape + (W_next.shape[1],), slot=1))      # (k, nx, N, H)
        out += Z[l + 2]
        for m in range(l + 1, last):
            W, b = layers[m + 1]
            out = net.activations[m](out) @ W + b
        return self.loss(out, yb).mean(axis=-1)

    def _solved_slices(self, l: int, cols: NDArray[np.intp], z: NDArray[np.float64], Z: list[Any], A: list[Any],
                       yb: NDArray[Any], layers: list[Any]) -> NDArray[np.float64]:
        """As :meth:`_slices` with the output layer solved at every grid point (``output="solve"``):
        the last hidden layer's activations (k, nx, N, h) of every grid point, then least squares."""
        net, last = self.net, self.net.n_layers - 1
        k = z.shape[0]
        z += Z[l + 1][:, cols].T[:, None, :]
        a = net.activations[l].leading(z, cols, out=z)                          # the neuron's new output
        if l == last - 1:
            # one column of [H, 1] changes: so do one row and column of its Gram matrix and one row
            # of the right-hand side; the outputs are the old columns' part plus the new column's
            n, kk = A[last].shape[0], np.arange(k)
            Ha = np.concatenate([A[last], np.ones((n, 1))], axis=1)
            G0 = Ha.T @ Ha
            c = (a.reshape(-1, n) @ Ha).reshape(a.shape[:2] + Ha.shape[1:])     # (k, nx, h + 1)
            G = np.repeat(G0[None, None], k * z.shape[1], axis=0).reshape(c.shape + c.shape[-1:])
            G[kk, :, cols, :] = c
            G[kk, :, :, cols] = c
            G[kk, :, cols, cols] = np.einsum("kgn,kgn->kg", a, a, optimize=False)
            b = np.repeat((Ha.T @ yb)[None, None], k * z.shape[1], axis=0).reshape(c.shape + yb.shape[1:])
            b[kk, :, cols, :] = (a.reshape(-1, n) @ yb).reshape(a.shape[:2] + yb.shape[1:])
            W = np.linalg.solve(self._ridge(G, n), b)                           # (k, nx, h + 1, O)
            a -= A[last][:, cols].T[:, None, :]
            W_col = W[kk, :, cols, :]                                           # (k, nx, O)
            out = np.matmul(Ha, W) + a[..., None] * W_col[:, :, None, :]
            return self._solved_loss(out, W, yb)
        else:
            a -= A[l + 1][:, cols].T[:, None, :]
            H = a[..., None] * layers[l + 1][0][cols][:, None, None, :] + Z[l + 2]
            for m in range(l + 1, last - 1):
                W, b = layers[m + 1]
                H = net.activations[m](H) @ W + b
            H = net.activations[last - 1](H)
        return self._solve(H, yb)[2]

    # -- curvature -------------------------------------------------------------------------------
    def curvature(self, x: NDArray[np.float64], params: NDArray[np.intp]
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Eigenvectors (m, m) of the Gauss-Newton block of one neuron's fan-in and their reach (m,), or None.

        ``params`` must be exactly one neuron's incoming weights and bias (a block of
        :meth:`MLP.neuron_blocks`). A direction ``d`` there moves the neuron's pre-activation by
        ``X_a d`` (``X_a`` (N, m): its inputs and a 1) and the outputs by ``g (X_a d)`` with ``g`` (N, O)
        the outputs' sensitivity to that pre-activation (a forward-mode product of the later
        layers' weights and activation derivatives). The block is ``sum_o Y_o^T M Y_o / N`` with
        ``Y_o = diag(g_o) X_a``: ``M = 2 I`` for MSE, ``2 (I - Ha (Ha^T Ha)^-1 Ha^T)`` for MSE with
        the output layer solved (the residual's projection off that layer's span), and per sample
        ``diag(p) - p p^T`` of the softmax for cross-entropy; plus ``2 l2`` on the weights. The reach
        along an eigenvector with eigenvalue ``lam`` is ``sqrt(2 f / lam)``: the loss ``f >= 0``
        cannot fall further, so the quadratic model's minimum along it lies that close.
        None for other losses and where an activation on the way has no derivative (step, sign,
        staircase), so those neurons learn their directions instead.
        """
        net = self.net
        params = np.asarray(params, dtype=np.intp)
        if self.loss.name not in CURVATURE_LOSSES or params.size == 0:
            return None
        l, c = int(net.param_layer[params[0]]), int(net.param_col[params[0]])
        fan = np.flatnonzero((net.param_layer[:self.n_free] == l) & (net.param_col[:self.n_free] == c))
        if params.size != fan.size or np.any(np.sort(params) != fan):
            return None
        Xb, yb, Z, A = self._refresh(np.asarray(x, dtype=float))
        layers = net.unpack(self._full_x)
        last = net.n_layers - 1
        rows = net.param_row[params]
        Xa = np.where(rows[None, :] >= 0, A[l][:, np.maximum(rows, 0)], 1.0)          # (N, m)
        n = Xb.shape[0]
        if l == last:
            g = np.zeros((n, net.layer_sizes[-1]))
            g[:, c] = 1.0
        else:
            g = net.activations[l].derivative(Z[l + 1])[:, c:c + 1] * layers[l + 1][0][c][None, :]
            for m in range(l + 1, last):
                g = (net.activations[m].derivative(Z[m + 1]) * g) @ layers[m + 1][0]
        if not np.all(np.isfinite(g)):
            return None
        if self.loss.name == "mse":
            C = np.zeros((params.size, params.size))
            if self.solve:
                Ha = np.concatenate([A[last], np.ones((n, 1))], axis=1)
                G = self._ridge(Ha.T @ Ha, n)   # the normal equations of the output layer's solve
            for o in range(g.shape[1]):
                Y = g[:, o:o + 1] * Xa
                PY = Y - Ha @ np.linalg.solve(G, Ha.T @ Y) if self.solve else Y
                C += Y.T @ PY
            C *= 2.0 / n
        else:
            out = A[-1]
            if out.shape[1] == 1:      # one logit: p (1 - p) g^2
                p = 1.0 / (1.0 + np.exp(-out[:, 0]))
                q = p * (1.0 - p) * g[:, 0] ** 2
            else:
                p = softmax(out)
                q = np.sum(p * g * g, axis=1) - np.sum(p * g, axis=1) ** 2
            C = (Xa * q[:, None]).T @ Xa / n
        if self.l2:
            w = rows >= 0
            C[w, w] += 2.0 * self.l2
        evals, evecs = np.linalg.eigh((C + C.T) / 2)
        # a loss >= 0 with curvature lam along a direction cannot fall further than f along it, so its
        # quadratic model's minimum lies within sqrt(2 f / lam): the reach of each direction
        f = float(self.loss(A[-1], yb).mean()) + self.penalty(x) + self._out_penalty
        lam = np.maximum(evals, 0.0)
        with np.errstate(divide="ignore"):
            reach = np.where(lam > 0, np.sqrt(2.0 * max(f, 0.0) / np.where(lam > 0, lam, 1.0)), np.inf)
        return evecs, reach
