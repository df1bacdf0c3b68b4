"""Multilayer perceptrons as flat parameter vectors: architecture, forward passes, lattices.

An :class:`MLP` is only an architecture: the parameters live in one flat vector ``theta`` (P,),
laid out layer by layer as ``W_l`` (fan_in, fan_out) row-major, then ``b_l`` (fan_out,). Hidden
layers have an activation per layer or per neuron; the output layer is linear (logits for the
classification losses). Nothing here knows how the parameters are optimised.

:class:`MLP` implements the whole :class:`qiml.nn.Model` contract: the required members, and every
optional capability (batched rows, a weight mask for ``l2``, int lattices, a linear readout for
``output="solve"``, and incremental slices with Gauss-Newton curvature through
:class:`qiml.nn.mlp_slices.MLPSlicer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError, ShapeError
from ..spaces import Space
from .activations import DERIVATIVES, get_activation
from .mlp_slices import MLPSlicer
from .model import check_inputs, check_theta

if TYPE_CHECKING:
    from .objective import NetworkObjective

__all__ = ["MLP", "quantize"]

BITS = (4, 8)


class _LayerActivation:
    """The activation of one layer: one function, or groups of neurons sharing a function."""

    def __init__(self, names: list[str]) -> None:
        self.names = [get_activation(n)[0] for n in names]
        uniq = sorted(set(self.names))
        self.groups = [(get_activation(u)[1], np.array([j for j, n in enumerate(self.names) if n == u]))
                       for u in uniq]
        self.uniform = len(self.groups) == 1

    def __call__(self, z: NDArray[np.float64], out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """Apply to ``z`` (..., H): the last axis holds this layer's neurons (``out`` may be ``z``)."""
        if self.uniform:
            return self.groups[0][0](z, out)
        res = np.empty_like(z) if out is None else out
        for fn, cols in self.groups:
            res[..., cols] = fn(z[..., cols])
        return res

    def derivative(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """``f'(z)`` for ``z`` (..., H); NaN in the columns of neurons whose activation has none."""
        res = np.empty_like(z)
        for (_, cols), name in zip(self.groups, sorted(set(self.names)), strict=True):  # groups: sorted names
            d = DERIVATIVES.get(name)
            res[..., cols] = np.nan if d is None else d(z[..., cols])
        return res

    def leading(self, z: NDArray[np.float64], neurons: NDArray[np.intp],
                out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """Apply to ``z`` (k, ...) whose row ``j`` belongs to neuron ``neurons[j]`` (``out`` may be ``z``)."""
        if self.uniform:
            return self.groups[0][0](z, out)
        res = np.empty_like(z) if out is None else out
        for fn, cols in self.groups:
            m = np.isin(neurons, cols)
            if m.any():
                res[m] = fn(z[m])
        return res


class MLP:
    """A fully connected network ``layer_sizes[0] -> ... -> layer_sizes[-1]`` with a linear output.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from inputs to outputs, e.g. ``(15, 6, 1)`` or ``(196, 12, 8, 10)``.
    activation : str or sequence
        One name for every hidden layer, or one entry per hidden layer, each a name or a sequence
        of names (one per neuron). Names: see :data:`qiml.nn.activations.ACTIVATIONS`.
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str | Sequence[Any] = "tanh") -> None:
        sizes = list(layer_sizes) if not isinstance(layer_sizes, (int, np.integer)) else [layer_sizes]
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1
                                     for s in sizes):
            raise ConfigError(f"layer_sizes must be >= 2 positive ints (inputs, ..., outputs), got {layer_sizes!r}")
        self.layer_sizes = tuple(int(s) for s in sizes)
        n_hidden = len(sizes) - 2
        if isinstance(activation, str):
            per_layer: list[Any] = [activation] * n_hidden
        else:
            per_layer = list(activation)
            if len(per_layer) != n_hidden:
                raise ConfigError(f"activation has {len(per_layer)} entries but the network has {n_hidden} "
                                  "hidden layers")
        self.activations: list[_LayerActivation] = []
        for l, a in enumerate(per_layer):
            width = self.layer_sizes[l + 1]
            names = [a] * width if isinstance(a, str) else list(a)
            if len(names) != width:
                raise ConfigError(f"hidden layer {l + 1} has {width} neurons but {len(names)} activations")
            self.activations.append(_LayerActivation(names))
        # flat layout: per layer, W (fan_in, fan_out) row-major then b
        self.shapes = [(self.layer_sizes[l], self.layer_sizes[l + 1]) for l in range(len(sizes) - 1)]
        offs = [0]
        for fi, fo in self.shapes:
            offs.append(offs[-1] + fi * fo + fo)
        self.offsets = offs
        self.n_params = offs[-1]
        layer, row, col = [], [], []
        for l, (fi, fo) in enumerate(self.shapes):
            layer.append(np.full(fi * fo + fo, l))
            row.append(np.concatenate([np.repeat(np.arange(fi), fo), np.full(fo, -1)]))
            col.append(np.concatenate([np.tile(np.arange(fo), fi), np.arange(fo)]))
        # parameter p is W_layer[p][row[p], col[p]], or the bias of neuron col[p] when row[p] == -1
        self.param_layer = np.concatenate(layer)
        self.param_row = np.concatenate(row)
        self.param_col = np.concatenate(col)
        #: (P,) bool: the weights, which ``l2`` penalises (the biases are not), as scikit-learn's ``alpha``
        self.weight_mask = self.param_row >= 0

    def __repr__(self) -> str:
        acts = [a.names[0] if a.uniform else "mixed" for a in self.activations]
        return f"MLP({'-'.join(map(str, self.layer_sizes))}, activation={acts}, n_params={self.n_params})"

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + 1)."""
        return len(self.shapes)

    # -- the Model contract (qiml.nn.model) --------------------------------------------------------
    @property
    def in_features(self) -> int:
        """Inputs per sample, ``layer_sizes[0]``."""
        return self.layer_sizes[0]

    @property
    def out_features(self) -> int:
        """Outputs per sample, ``layer_sizes[-1]``."""
        return self.layer_sizes[-1]

    @property
    def width(self) -> int:
        """Floats per sample of the widest layer (sizes batches of candidate rows)."""
        return max(self.layer_sizes)

    @property
    def differentiable(self) -> bool:
        """Whether every activation has a derivative, so every neuron has a Gauss-Newton block."""
        return all(name in DERIVATIVES for layer in self.activations for name in layer.names)

    @property
    def readout_offset(self) -> int:
        """Index of the first output-layer parameter: the output layer is the linear readout."""
        return self.offsets[-2]

    def readout_features(self, X: NDArray[np.float64], thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        """Last hidden layer's activations (R, N, H) for hidden-layer parameters ``thetas`` (R, readout_offset)."""
        pad = np.zeros(thetas.shape[:-1] + (self.n_params - self.readout_offset,))
        return self.hidden_rows(X, np.concatenate([thetas, pad], axis=-1))

    def quantized_space(self, bound: float | Sequence[float], bits: int) -> Space:
        """``space(bound, bits)``: the signed ``bits``-bit lattice with one scale per layer."""
        return self.space(bound, bits)

    def slicer(self, objective: NetworkObjective) -> MLPSlicer:
        """The incremental slices and curvature of this network for ``objective``."""
        return MLPSlicer(self, objective)

    # -- parameters ----------------------------------------------------------------------------
    def check_theta(self, theta: ArrayLike) -> NDArray[np.float64]:
        """``theta`` as a float vector (P,), else :class:`qiml.ShapeError`."""
        return check_theta(self, theta)

    def unpack(self, theta: ArrayLike) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
        """Views ``[(W_l (fan_in, fan_out), b_l (fan_out,)), ...]`` into ``theta`` (..., P)."""
        t = np.asarray(theta, dtype=float)
        out = []
        for l, (fi, fo) in enumerate(self.shapes):
            o = self.offsets[l]
            out.append((t[..., o:o + fi * fo].reshape(t.shape[:-1] + (fi, fo)), t[..., o + fi * fo:o + fi * fo + fo]))
        return out

    def pack(self, layers: Sequence[tuple[ArrayLike, ArrayLike]]) -> NDArray[np.float64]:
        """Inverse of :meth:`unpack` for one network."""
        if len(layers) != self.n_layers:
            raise ShapeError(f"expected {self.n_layers} (W, b) pairs, got {len(layers)}")
        parts = []
        for (fi, fo), (W, b) in zip(self.shapes, layers, strict=True):   # counts checked above
            W, b = np.asarray(W, dtype=float), np.asarray(b, dtype=float)
            if W.shape != (fi, fo) or b.shape != (fo,):
                raise ShapeError(f"layer shapes must be W {(fi, fo)} and b {(fo,)}, got {W.shape} and {b.shape}")
            parts += [W.ravel(), b]
        return np.concatenate(parts)

    def neuron_blocks(self) -> list[NDArray[np.intp]]:
        """Each neuron's fan-in (its incoming weights and bias) as parameter indices, layer by layer:
        a direction inside one of them moves only that neuron's pre-activation."""
        key = self.param_layer * (max(self.layer_sizes) + 1) + self.param_col
        return [np.flatnonzero(key == k) for k in np.unique(key)]

    def init(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """Glorot-uniform weights and biases, as scikit-learn's MLPs start."""
        layers = []
        for fi, fo in self.shapes:
            lim = np.sqrt(6.0 / (fi + fo))
            layers.append((rng.uniform(-lim, lim, (fi, fo)), rng.uniform(-lim, lim, fo)))
        return self.pack(layers)

    def space(self, bound: float | Sequence[float] = 3.0, bits: int | None = None) -> Space:
        """Search space: ``[-bound, bound]`` per layer, or a signed ``bits``-bit lattice with a scale per layer.

        With ``bits`` (4 or 8) layer ``l`` uses the symmetric lattice ``s_l * {-(2^(bits-1)-1), ..., 2^(bits-1)-1}``
        with ``s_l = bound_l / (2^(bits-1) - 1)``: every point the optimizer visits is a quantized network.
        """
        try:
            b = np.asarray(bound, dtype=float)
        except (TypeError, ValueError):
            b = np.full(0, np.nan)
        b = np.full(self.n_layers, float(b)) if b.ndim == 0 else b
        if b.shape != (self.n_layers,) or not np.all(np.isfinite(b)) or np.any(b <= 0):
            raise ConfigError(f"bound must be > 0 and finite, one value or one per layer ({self.n_layers}), "
                              f"got {bound!r}")
        per_param = b[self.param_layer]
        if bits is None:
            return Space(-per_param, per_param)
        levels = _levels(bits)
        s = per_param / levels
        return Space(-levels * s, levels * s, s)

    # -- forward passes --------------------------------------------------------------------------
    def check_inputs(self, X: ArrayLike) -> NDArray[np.float64]:
        """``X`` as a finite float array (N >= 1, n_in), else :class:`qiml.ShapeError`."""
        return check_inputs(self, X)

    def forward(self, X: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
        """Outputs (logits) of shape (N, O) for inputs ``X`` (N, n_in)."""
        return self.forward_cache(self.check_inputs(X), self.check_theta(theta))[1][-1]

    def forward_cache(self, X: NDArray[np.float64], theta: NDArray[np.float64], start: int = 0,
                      cache: tuple[list[Any], list[Any]] | None = None) -> tuple[list[Any], list[Any]]:
        """Pre-activations ``Z[l]`` and activations ``A[l]`` of every layer (``A[0] = X``, ``A[-1]`` = outputs).

        With ``cache`` and ``start = l``, layers before ``l`` are reused and layers from ``l`` on recomputed.
        """
        Z: list[Any] = list(cache[0]) if cache is not None else [None]
        A: list[Any] = list(cache[1]) if cache is not None else [X]
        del Z[start + 1:], A[start + 1:]
        for l, (W, b) in enumerate(self.unpack(theta)):
            if l < start:
                continue
            z = A[l] @ W + b
            Z.append(z)
            A.append(self.activations[l](z) if l < self.n_layers - 1 else z)
        return Z, A

    def forward_rows(self, X: NDArray[np.float64], thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        """Outputs of many networks at once: ``thetas`` (R, P) -> (R, N, O)."""
        W, b = self.unpack(thetas)[-1]
        return np.matmul(self.hidden_rows(X, thetas), W) + b[:, None, :]

    def hidden_rows(self, X: NDArray[np.float64], thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        """Last hidden layer's activations of many networks: ``thetas`` (R, P) -> (R, N, H) (``X`` if none)."""
        a: NDArray[np.float64] = np.broadcast_to(X, (thetas.shape[0],) + X.shape)
        for l, (W, b) in enumerate(self.unpack(thetas)[:-1]):
            a = self.activations[l](np.matmul(a, W) + b[:, None, :])
        return a


def _levels(bits: int) -> int:
    if bits not in BITS:
        raise ConfigError(f"bits must be one of {BITS} (int4 or int8 weights), got {bits!r}")
    return 2 ** (bits - 1) - 1


def quantize(net: MLP, theta: ArrayLike, bits: int = 8) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Post-training quantization: round each layer's weights and bias to ``bits`` with a per-layer scale.

    The scale of layer ``l`` is ``max|W_l, b_l| / (2^(bits-1) - 1)`` (symmetric, per tensor), as in
    standard post-training int8 quantization. Returns the dequantized parameters (P,) and the
    per-layer scales (n_layers,).
    """
    t = net.check_theta(theta)
    levels = _levels(bits)
    out = np.empty_like(t)
    scales = np.empty(net.n_layers)
    for l in range(net.n_layers):
        sl = slice(net.offsets[l], net.offsets[l + 1])
        m = float(np.max(np.abs(t[sl])))
        s = m / levels if m > 0 else 1.0
        out[sl] = np.clip(np.round(t[sl] / s), -levels, levels) * s
        scales[l] = s
    return out, scales
