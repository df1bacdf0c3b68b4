"""The spiking network's fast path: slices re-simulate one neuron, not the network (a :class:`qiml.nn.Slicer`).

A direction inside the parameters of one neuron of the last spiking layer (its weights, delays,
bias, threshold and decays) changes only that neuron's input current, spikes and membrane, hence
only its columns of the readout features. So a slice of ``nx`` grid points costs one simulation
of that single neuron for ``nx`` parameter vectors at once (vectorised over grid points and
samples) plus the readout, instead of ``nx`` simulations of the whole network. With
``output="params"`` a direction inside the readout moves the outputs linearly; with
``output="solve"`` the readout is solved at every grid point from the changed features. Slices
of earlier layers (their downstream layers would have to be re-run) and of recurrent layers (the
neuron's spikes feed back into its neighbours) are left to the objective's rows.

The cache holds the base point's simulation of the request's batch; every value is a function of
the base point and the batch alone, so a resumed run sees bit-identical potentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..requests import SliceRequest
from ..spaces import Space
from .neurons import delayed_current, lif
from .readouts import readout_features

if TYPE_CHECKING:
    from ..nn.objective import NetworkObjective
    from .network import SpikingNetwork

__all__ = ["SpikingSlicer"]


class SpikingSlicer:
    """Incremental slices of a :class:`qiml.snn.SpikingNetwork` for one :class:`qiml.nn.NetworkObjective`."""

    def __init__(self, net: SpikingNetwork, objective: NetworkObjective) -> None:
        self.net, self.obj = net, objective
        last = net.layers[-1]
        self._last = last
        # the readout-feature columns of each last-layer neuron, in the order a one-neuron layer lists them
        self._cols = np.array([self._feature_columns(j) for j in range(last.h)], dtype=np.intp)
        self._spaces: dict[int, tuple[Space, Space]] = {}
        self._key: tuple[bytes, bytes] | None = None
        self._base: dict[str, Any] = {}

    def _feature_columns(self, j: int) -> list[int]:
        net, h = self.net, self._last.h
        cols, offset = [], 0
        for r in net.readout:
            if r == "bins":
                cols += [offset + b * h + j for b in range(net.bins)]
                offset += h * net.bins
            else:
                cols.append(offset + j)
                offset += h
        return cols

    def _refresh(self, x: NDArray[np.float64]) -> dict[str, Any]:
        """The base point's simulation of the request's batch (cached while ``x`` and the batch stay)."""
        obj, net = self.obj, self.net
        Xb, yb, key = obj.batch(x)
        if self._key == (x.tobytes(), key):
            return self._base
        signals = net.encode(Xb)
        sim = net.simulate(Xb, obj._pad(x)[None], signals=signals)
        H = sim.features[0]
        if obj.solve:
            W, out, solved = obj._solve(H, yb)
            fx = float(solved) + obj.penalty(x)
            readout = None
        else:
            F, O = net.n_features, net.n_outputs
            W = x[net.readout_offset:net.readout_offset + F * O].reshape(F, O)
            readout = (W, x[net.readout_offset + F * O:])
            out = H @ W + readout[1]
            fx = float(obj.loss(out, yb).mean()) + obj.penalty(x)
        if len(net.layers) == 1:
            inp = np.repeat(signals, net.taps, axis=1) if net.taps > 1 else signals
        else:
            inp = sim.spikes[-2][0].transpose(0, 2, 1)            # (N, h_prev, T)
        self._base = {"X": Xb, "y": yb, "H": H, "out": out, "fx": fx, "inp": inp, "readout": readout}
        self._key = (x.tobytes(), key)
        return self._base

    def _space(self, j: int, space: Space) -> Space:
        """The box and lattice of neuron ``j``'s parameters in ``space`` (to snap candidates as the request does)."""
        if self._spaces.get(j, (None,))[0] is not space:
            idx = self._last.start + j * self._last.per + np.arange(self._last.per)
            self._spaces[j] = (space, Space(space.lower[idx], space.upper[idx], space.step[idx]))
        return self._spaces[j][1]

    def potentials(self, request: SliceRequest) -> tuple[float, NDArray[np.float64], NDArray[np.bool_]]:
        """``(f(x), V (k, nx), local (k,))``: slices inside one last-layer neuron (or the readout) are local."""
        obj, net, last = self.obj, self.net, self._last
        x = np.asarray(request.x, dtype=float)
        base = self._refresh(x)
        support, coef, grid = request.support, request.coef, request.grid
        k, nx = grid.shape
        V = np.zeros((k, nx))
        live = coef != 0
        any_live = live.any(axis=1)
        p0 = support[np.arange(k), np.argmax(live, axis=1)]
        neuron = np.where(p0 >= last.start, (p0 - last.start) // last.per, -1)
        in_last = (p0 >= last.start) & (p0 < net.readout_offset)
        same = (support - last.start) // last.per == neuron[:, None]
        local_neuron = in_last & np.all(~live | ((support >= last.start) & (support < net.readout_offset) & same),
                                        axis=1) & (not net.recurrent)
        local_readout = np.zeros(k, dtype=bool)
        if not obj.solve:
            local_readout = np.all(~live | (support >= net.readout_offset), axis=1)
        # without a space the points are not snapped; with one, only slices inside its box are answered here
        local = any_live & request.inside() & (local_neuron | local_readout)
        for j in np.unique(neuron[local & local_neuron]):
            rows = np.flatnonzero(local & local_neuron & (neuron == j))
            V[rows] = self._neuron_slices(int(j), x, support[rows], coef[rows], grid[rows], base, request.space)
        ro = np.flatnonzero(local & local_readout)
        if ro.size:
            V[ro] = self._readout_slices(support[ro], coef[ro], grid[ro], base)
        if obj.l2:
            J = np.flatnonzero(local)
            V[J] += obj.slice_penalty(x, support[J], coef[J], grid[J])
        V[local] += obj.penalty(x)
        return base["fx"], V, local

    def _neuron_slices(self, j: int, x: NDArray[np.float64], support: NDArray[np.intp], coef: NDArray[np.float64],
                       grid: NDArray[np.float64], base: dict[str, Any], space: Space | None) -> NDArray[np.float64]:
        """Losses (k, nx) (without the penalty) along directions inside last-layer neuron ``j``."""
        obj, net, last = self.obj, self.net, self._last
        k, nx = grid.shape
        first = last.start + j * last.per
        live = coef != 0          # idle entries (coef 0) may index any parameter
        dense = np.zeros((k, last.per))
        np.add.at(dense, (np.arange(k)[:, None].repeat(support.shape[1], 1), np.where(live, support - first, 0)),
                  np.where(live, coef, 0.0))
        cand = x[first:first + last.per][None, None, :] + grid[:, :, None] * dense[:, None, :]   # (k, nx, per)
        if space is not None:
            cand = self._space(j, space).snap(cand)
        cand = cand.reshape(k * nx, last.per)
        f = last.field
        w = cand[:, None, f("w")]
        d = np.rint(cand[:, None, f("d")]).astype(np.intp) if last.delay else None
        bias = cand[:, None, f("bias")][..., 0]
        R = k * nx
        th = cand[:, None, f("threshold")][..., 0] if last.learn_threshold else np.full((R, 1), net.threshold)
        if last.learn_leak:
            beta, alpha = cand[:, None, f("beta")][..., 0], cand[:, None, f("alpha")][..., 0]
        else:
            beta, alpha = np.full((R, 1), net.beta), np.full((R, 1), net.alpha)
        cur = delayed_current(base["inp"], w, d, bias)                      # (R, N, T, 1)
        s, m = lif(cur, th, beta, alpha, reset=net.reset, refractory=net.refractory)
        fj = readout_features(net.readout, s, m, th, net.bins)              # (R, N, F_j)
        H = np.broadcast_to(base["H"], (R, *base["H"].shape)).copy()
        H[:, :, self._cols[j]] = fj
        y = base["y"]
        if obj.solve:
            return obj._solve(H, y)[2].reshape(k, nx)
        W, b = base["readout"]
        out = H @ W + b
        return obj.loss(out, y).mean(axis=-1).reshape(k, nx)

    def _readout_slices(self, support: NDArray[np.intp], coef: NDArray[np.float64], grid: NDArray[np.float64],
                        base: dict[str, Any]) -> NDArray[np.float64]:
        """Losses (k, nx) along directions inside the readout: the outputs move by ``t * [H, 1] @ D``."""
        net = self.net
        F, O = net.n_features, net.n_outputs
        k, nx = grid.shape
        live = coef != 0
        D = np.zeros((k, (F + 1) * O))
        np.add.at(D, (np.arange(k)[:, None].repeat(support.shape[1], 1),
                      np.where(live, support - net.readout_offset, 0)), np.where(live, coef, 0.0))
        Dw, Db = D[:, :F * O].reshape(k, F, O), D[:, F * O:]
        du = base["H"] @ Dw + Db[:, None, :]                                 # (k, N, O) per unit step
        out = base["out"][None, None] + grid[:, :, None, None] * du[:, None]   # (k, nx, N, O)
        return self.obj.loss(out, base["y"]).mean(axis=-1)
