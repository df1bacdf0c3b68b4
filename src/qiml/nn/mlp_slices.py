"""The MLP's fast path: incremental slice potentials and Gauss-Newton curvature (a :class:`qiml.nn.Slicer`).

Changing one weight ``W_l[i, c]`` moves only the pre-activation of neuron ``c`` in layer ``l``:
``z_c' = z_c + (w' - w) * a_i`` for every sample; moving along a direction ``d`` inside that
neuron's fan-in (its weights and bias) moves it by ``t * (a @ d)``. So the whole slice of that weight (``nx`` values)
is computed from the cached activations of the base network: one rank-1 update of one column,
that neuron's activation, and a forward pass of the layers *after* it only. All slices of a
request are done in a few vectorised passes, never by rebuilding and re-running whole networks
(``P x nx`` forward passes). Directions across neurons are left to the objective's rows.

With ``output="solve"`` the output layer is solved at every grid point: a slice of a last-hidden
neuron changes one column of ``[H, 1]``, so one row and column of its Gram matrix. :meth:`MLPSlicer.curvature`
gives each neuron's Gauss-Newton block for ``directions="curvature"`` (it uses the activations'
derivatives; the loss itself is never differentiated).

The cache follows the base point ``x`` of the engine's requests: when only parameters of layers
``l`` and later changed, layers before ``l`` are reused. Every cached array is a function of ``x``
(and the mini-batch) alone, so a resumed run sees bit-identical potentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..requests import SliceRequest
from .losses import softmax
from .objective import CURVATURE_LOSSES, NetworkObjective

if TYPE_CHECKING:
    from .mlp import MLP

__all__ = ["MLPSlicer"]

_PASS_BYTES = 4 * 2**20   # one temporary per vectorised pass: large enough to amortise, small enough for cache


class MLPSlicer:
    """Incremental slices of an :class:`qiml.nn.MLP` for one :class:`qiml.nn.NetworkObjective`
    (made by :meth:`qiml.nn.MLP.slicer`); it keeps the base network's activations between requests."""

    def __init__(self, net: MLP, objective: NetworkObjective) -> None:
        self.net = net
        self.obj = objective
        self._full_x = np.zeros(net.n_params)    # the base point with its (solved) output layer
        self._out_penalty = 0.0                  # l2 penalty of the solved output weights at the base point
        self._key: bytes | None = None
        self._cache: tuple[list[Any], list[Any]] | None = None
        self._x: NDArray[np.float64] | None = None
        self._work = [np.empty(0), np.empty(0)]

    def _refresh(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[Any], list[Any], list[Any]]:
        """Cached (Xb, yb, Z, A) of the base network ``x``, recomputing only the layers that changed."""
        obj, net = self.obj, self.net
        Xb, yb, key = obj.batch(x)
        fresh = self._cache is None or self._key != key or self._x is None
        changed = np.flatnonzero(x != self._x) if not fresh else np.zeros(0, np.intp)
        if fresh:
            self._cache = net.forward_cache(Xb, obj._pad(x))
        elif changed.size:
            self._cache = net.forward_cache(Xb, obj._pad(x), start=int(net.param_layer[changed].min()),
                                            cache=self._cache)
        assert self._cache is not None
        if obj.solve and (fresh or changed.size):
            # the output layer of this base point, solved: its outputs replace the zero layer's
            W, out, _ = obj._solve(self._cache[1][-2], yb)
            self._cache[0][-1] = self._cache[1][-1] = out
            self._full_x = np.concatenate([x, W.ravel()])
            self._out_penalty = obj.l2 * float(np.sum(W[:-1] ** 2))
        elif not obj.solve:
            self._full_x = x
        self._x, self._key = x.copy(), key
        return Xb, yb, self._cache[0], self._cache[1]

    def potentials(self, request: SliceRequest) -> tuple[float, NDArray[np.float64], NDArray[np.bool_]]:
        """``(f(x), V (k, nx), local (k,))`` for the slices inside one neuron's fan-in (``local``)."""
        obj, net, x = self.obj, self.net, np.asarray(request.x, dtype=float)
        Xb, yb, Z, A = self._refresh(x)
        layers = net.unpack(self._full_x)
        n = Xb.shape[0]
        per_sample = obj.loss(A[-1], yb)
        fx = float(per_sample.mean()) + obj.penalty(x) + self._out_penalty
        support, coef, grid = request.support, request.coef, request.grid
        k, nx = grid.shape
        V = np.empty((k, nx))
        # a direction inside one neuron's fan-in (its incoming weights and bias) moves only that
        # neuron's pre-activation, by t * (X_a @ d): answered incrementally; any other direction
        # (across neurons, or leaving the box) is left to the objective's rows
        live = coef != 0
        first = np.argmax(live, axis=1)
        p0 = support[np.arange(k), first]
        layer, col = net.param_layer[p0], net.param_col[p0]
        same_neuron = (net.param_layer[support] == layer[:, None]) & (net.param_col[support] == col[:, None])
        local = np.all(~live | same_neuron, axis=1) & live.any(axis=1) & request.inside()
        if obj.solve and obj.loss.classification:   # the Gram-matrix update is least squares': go by rows
            local[:] = False
        for l in np.unique(layer[local]):
            js = np.flatnonzero(local & (layer == l))
            # slices per pass: keep one (k, nx, N, width) temporary near the cache size, not at the memory cap
            width = max(net.layer_sizes[int(l) + 1:])
            step = max(1, min(obj.max_batch_bytes, _PASS_BYTES) // (8 * nx * n * width))
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
        if obj.l2:
            J = np.flatnonzero(local)
            V[J] += obj.slice_penalty(x, support[J], coef[J], grid[J])
        V[local] += obj.penalty(x)
        return fx, V, local

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
        net, loss = self.net, self.obj.loss
        n = yb.shape[0]
        z = np.multiply(delta[:, :, None], u[:, None, :], out=self._scratch(delta.shape + (n,)))  # (k, nx, N)
        last = net.n_layers - 1
        if self.obj.solve:
            return self._solved_slices(l, cols, z, Z, A, yb, layers)
        if l == last and loss.name == "mse":
            # only output c moves, by z: (r + z)^2 - r^2 summed, with r the residual of that output
            r = (A[-1] - yb)[:, cols].T[:, None, :]                             # (k, 1, N)
            return per_sample.mean() + ((2.0 * r + z) * z).mean(axis=-1)
        z += Z[l + 1][:, cols].T[:, None, :]                                    # the neuron's new pre-activation
        if l == last:
            out = np.repeat(A[-1][None, None], z.shape[0] * z.shape[1], axis=0).reshape(z.shape + A[-1].shape[1:])
            out[np.arange(z.shape[0]), :, :, cols] = z
            return loss(out, yb).mean(axis=-1)
        dh = net.activations[l].leading(z, cols, out=z)
        dh -= A[l + 1][:, cols].T[:, None, :]                                   # change of the neuron's output
        W_next = layers[l + 1][0][cols]                                         # (k, H_next)
        if l + 1 == last and loss.name == "mse":
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
        return loss(out, yb).mean(axis=-1)

    def _solved_slices(self, l: int, cols: NDArray[np.intp], z: NDArray[np.float64], Z: list[Any], A: list[Any],
                       yb: NDArray[Any], layers: list[Any]) -> NDArray[np.float64]:
        """As :meth:`_slices` with the output layer solved at every grid point (``output="solve"``):
        the last hidden layer's activations (k, nx, N, h) of every grid point, then least squares."""
        obj, net, last = self.obj, self.net, self.net.n_layers - 1
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
            W = np.asarray(np.linalg.solve(obj._ridge(G, n), b), float)        # (k, nx, h + 1, O)
            a -= A[last][:, cols].T[:, None, :]
            W_col = W[kk, :, cols, :]                                           # (k, nx, O)
            out = np.matmul(Ha, W) + a[..., None] * W_col[:, :, None, :]
            return obj._solved_loss(out, W, yb)
        else:
            a -= A[l + 1][:, cols].T[:, None, :]
            H = a[..., None] * layers[l + 1][0][cols][:, None, None, :] + Z[l + 2]
            for m in range(l + 1, last - 1):
                W, b = layers[m + 1]
                H = net.activations[m](H) @ W + b
            H = net.activations[last - 1](H)
        return obj._solve(H, yb)[2]

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
        obj, net = self.obj, self.net
        params = np.asarray(params, dtype=np.intp)
        if obj.loss.name not in CURVATURE_LOSSES or params.size == 0:
            return None
        l, c = int(net.param_layer[params[0]]), int(net.param_col[params[0]])
        fan = np.flatnonzero((net.param_layer[:obj.n_free] == l) & (net.param_col[:obj.n_free] == c))
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
        if obj.loss.name == "mse":
            C = np.zeros((params.size, params.size))
            if obj.solve:
                Ha = np.concatenate([A[last], np.ones((n, 1))], axis=1)
                G = obj._ridge(Ha.T @ Ha, n)   # the normal equations of the output layer's solve
            for o in range(g.shape[1]):
                Y = g[:, o:o + 1] * Xa
                PY = Y - Ha @ np.linalg.solve(G, Ha.T @ Y) if obj.solve else Y
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
        if obj.l2:
            w = rows >= 0
            C[w, w] += 2.0 * obj.l2
        evals, evecs = np.linalg.eigh((C + C.T) / 2)
        # a loss >= 0 with curvature lam along a direction cannot fall further than f along it, so its
        # quadratic model's minimum lies within sqrt(2 f / lam): the reach of each direction
        f = float(obj.loss(A[-1], yb).mean()) + obj.penalty(x) + self._out_penalty
        lam = np.maximum(evals, 0.0)
        with np.errstate(divide="ignore"):
            reach = np.where(lam > 0, np.sqrt(2.0 * max(f, 0.0) / np.where(lam > 0, lam, 1.0)), np.inf)
        return evecs, reach
