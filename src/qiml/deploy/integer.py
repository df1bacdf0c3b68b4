"""Integer inference: the reference every device build must reproduce bit for bit.

An :class:`IntegerNetwork` runs an int8 :class:`qiml.nn.MLP` with integers only, exactly as the C
and 6502 programs do:

* **inputs**: ``x_q = clip(round(x * 127 / input_range), -127, 127)``, int8 (the devices receive
  these bytes);
* **weights**: layer ``l``'s weights and bias are ``s_l * k`` with integers ``|k| <= 127``: the QiML
  lattice itself for a network trained on it (``bits=8``), or post-training quantization's per-layer
  scale. Weights are stored int8, one row per neuron (its fan-in);
* **pre-activations**: ``acc = sum_i a_i * w_ij + B_j`` in a signed 32-bit accumulator, where the
  products are int8 x int8 (int16) and the bias ``B_j = round(b_j / (s_in * s_l))`` is in
  accumulator units (``s_in`` is the scale of the layer's int8 inputs). No layer can overflow: the
  largest possible ``|acc|`` is checked against 2^31 when the network is built (for 196 inputs it
  is about 2^21.6, so 24 bits would do);
* **activations**: a 256-entry int8 table per (layer, activation). The table index is
  ``clip(floor(acc / 2^shift_l), -128, 127) + 128``: an arithmetic right shift, saturating, where
  ``shift_l`` makes one index step ``2^shift_l * s_in * s_l`` of the pre-activation, the smallest
  power of two whose 256 steps cover the layer's range ``[-Z, Z)`` (``Z`` = 4 for tanh, 8 for
  sigmoid; :data:`TABLE_RANGE`). Entry ``k`` holds ``round(f(z_k) / s_out)`` at the middle ``z_k`` of
  its interval. Outputs are int8 with scale ``s_out = 1/127`` for activations bounded by 1 (tanh,
  sigmoid, sine, ...), ``act_range/127`` for relu and identity, which saturate at ``act_range``;
  sine is held constant outside ``[-Z, Z)``;
* **output**: the last layer's accumulators are the logits (int32); the class is their argmax,
  the first on ties, in place of the softmax (a single logit: 1 when it is > 0, else 0).

``integer_reference(net, theta)`` builds one; :attr:`IntegerNetwork.layers` holds the integers
the exporters write out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError, ShapeError
from ..nn import MLP
from ..nn.activations import ACTIVATIONS
from ..nn.mlp import quantize
from .model_file import LEVELS, SavedModel, check_lattice, lattice_scales

__all__ = ["IntegerLayer", "IntegerNetwork", "integer_reference", "TABLE_RANGE", "TABLE_SIZE", "ACC_BITS"]

TABLE_SIZE = 256
ACC_BITS = 32
#: half-width Z of each activation's table: the pre-activations it resolves, [-Z, Z); beyond, the table's
#: end value holds (where bounded activations have saturated to within one int8 level, except sine)
TABLE_RANGE = {"tanh": 4.0, "sigmoid": 8.0, "hard_tanh": 2.0, "staircase": 2.0, "sine": 4.0, "gaussian": 4.0,
               "step": 1.0, "sign": 1.0}
#: activations whose outputs are unbounded: they saturate at ``act_range``
UNBOUNDED = ("relu", "identity")


@dataclass(frozen=True)
class IntegerLayer:
    """One layer in integers: ``acc = a @ weights.T + bias``, then the tables (hidden layers only)."""

    weights: NDArray[np.int8]          # (fan_out, fan_in): row j is neuron j's fan-in
    bias: NDArray[np.int32]            # (fan_out,) in accumulator units
    shift: int                         # table index = clip(acc >> shift, -128, 127) + 128 (hidden layers)
    tables: NDArray[np.int8]           # (T, 256): one table per activation of the layer; (0, 256) for the output
    table_of: NDArray[np.uint8]        # (fan_out,): which table each neuron uses
    table_names: tuple[str, ...]       # the activation of each table


class IntegerNetwork:
    """An int8 network computed in integers only; see the module docstring for every width and rounding.

    Attributes
    ----------
    layer_sizes : tuple of int
    input_range : float
        Inputs in ``[-input_range, input_range]`` map to int8 ``[-127, 127]``.
    layers : list of IntegerLayer
    """

    def __init__(self, layer_sizes: tuple[int, ...], input_range: float, layers: list[IntegerLayer]) -> None:
        self.layer_sizes, self.input_range, self.layers = layer_sizes, input_range, layers

    def quantize_inputs(self, X: ArrayLike) -> NDArray[np.int8]:
        """Inputs (N, n_in) floats -> the int8 bytes the devices read (N, n_in)."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.layer_sizes[0]:
            raise ShapeError(f"X must have shape (N, {self.layer_sizes[0]}), got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ShapeError("X must be finite")
        return np.clip(np.round(X * (LEVELS / self.input_range)), -LEVELS, LEVELS).astype(np.int8)

    def random_inputs(self, n: int, seed: int = 0) -> NDArray[np.int8]:
        """``n`` seeded random int8 samples (n, n_in), uniform on [-127, 127]: what the checks of a build run."""
        return np.random.default_rng(seed).integers(-127, 128, (n, self.layer_sizes[0])).astype(np.int8)

    def logits_int(self, Xq: ArrayLike) -> NDArray[np.int64]:
        """The output accumulators (N, n_out) for int8 inputs ``Xq`` (N, n_in)."""
        a = np.asarray(Xq)
        if a.dtype != np.int8 or a.ndim != 2 or a.shape[1] != self.layer_sizes[0]:
            raise ShapeError(f"Xq must be int8 of shape (N, {self.layer_sizes[0]}), got {a.dtype} {a.shape}")
        h = a.astype(np.int64)
        for layer in self.layers[:-1]:
            acc = h @ layer.weights.T.astype(np.int64) + layer.bias
            idx = np.clip(acc >> layer.shift, -128, 127) + 128        # >> on int64 is the floor division
            h = layer.tables[layer.table_of[None, :], idx].astype(np.int64)
        out = self.layers[-1]
        return h @ out.weights.T.astype(np.int64) + out.bias

    def predict_int(self, Xq: ArrayLike) -> NDArray[np.intp]:
        """Class labels (N,) for int8 inputs: the first argmax of the integer logits (one logit: whether it
        is > 0, as a binary classifier's)."""
        z = self.logits_int(Xq)
        return np.asarray((z[:, 0] > 0) if z.shape[1] == 1 else z.argmax(axis=1), dtype=np.intp)

    def predict(self, X: ArrayLike) -> NDArray[np.intp]:
        """Class labels (N,) for float inputs (N, n_in), quantized by :meth:`quantize_inputs`."""
        return self.predict_int(self.quantize_inputs(X))

    @property
    def weight_bytes(self) -> int:
        """Bytes of int8 weights, int32 biases and int8 tables."""
        return sum(l.weights.size + 4 * l.bias.size + l.tables.size for l in self.layers)


def integer_reference(net: MLP | SavedModel, theta: ArrayLike | None = None, *,
                      bound: float | Sequence[float] | None = None, scales: ArrayLike | None = None,
                      input_range: float | None = None, act_range: float = 4.0) -> IntegerNetwork:
    """The integer network of ``net`` with parameters ``theta`` (P,), or of a loaded model file.

    The int8 lattice is, in order: ``scales`` (steps per layer) if given; else ``net.space(bound,
    bits=8)`` for a network trained on the QiML lattice with that ``bound`` (checked: every parameter
    must be on it); else post-training quantization (:func:`qiml.nn.mlp.quantize`: each layer's step is
    its largest ``|parameter| / 127``, and ``theta`` is rounded to it). ``input_range`` (default 1, or
    the file's): inputs expected in ``[-input_range, input_range]``. ``act_range``: where relu and
    identity neurons saturate.
    """
    if isinstance(net, SavedModel):
        saved = net
        net, theta = saved.net, saved.theta if theta is None else theta
        scales = saved.scales if scales is None and bound is None else scales
        input_range = saved.input_range if input_range is None else input_range
    if not isinstance(net, MLP):
        raise ConfigError(f"integer inference runs qiml.nn.MLP networks, got {type(net).__name__}")
    if theta is None:
        raise ConfigError("theta is required with a network (or pass a SavedModel from load_model)")
    t = net.check_theta(theta)
    input_range = 1.0 if input_range is None else float(input_range)
    if not np.isfinite(input_range) or input_range <= 0:
        raise ConfigError(f"input_range must be a finite number > 0, got {input_range!r}")
    if not np.isfinite(act_range) or act_range <= 0:
        raise ConfigError(f"act_range must be a finite number > 0, got {act_range!r}")
    if scales is not None:
        s = np.asarray(scales, dtype=float)
        if s.shape != (net.n_layers,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ConfigError(f"scales must be {net.n_layers} finite steps > 0, got {scales!r}")
        check_lattice(net, t, s, ConfigError)
    elif bound is not None:
        s = lattice_scales(net, t, bound)
    else:
        t, s = quantize(net, t, bits=8)
    for a in net.activations:
        bad = [n for n in a.names if n not in TABLE_RANGE and n not in UNBOUNDED]
        if bad:
            raise ConfigError(f"activation {bad[0]!r} has no integer table; deployable: "
                              f"{sorted([*TABLE_RANGE, *UNBOUNDED])}")
    layers: list[IntegerLayer] = []
    s_in = input_range / LEVELS                    # scale of the current layer's int8 inputs
    for l, (W, b) in enumerate(net.unpack(t)):
        fan_in, fan_out = W.shape
        Wk = np.round(W / s[l]).astype(np.int64)
        unit = s_in * s[l]                         # one accumulator step, in pre-activation units
        bias = np.round(b / unit).astype(np.int64)
        worst = fan_in * 128 * 128 + int(np.max(np.abs(bias)))     # any int8 input, even -128
        if worst >= 2 ** (ACC_BITS - 1):
            raise ConfigError(f"layer {l} could overflow the {ACC_BITS}-bit accumulator (|acc| up to {worst}): "
                              f"its bias is {int(np.max(np.abs(bias)))} accumulator steps")
        if l == net.n_layers - 1:
            layers.append(IntegerLayer(Wk.T.astype(np.int8), bias.astype(np.int32), 0,
                                       np.zeros((0, TABLE_SIZE), np.int8), np.zeros(fan_out, np.uint8), ()))
            break
        names = tuple(sorted(set(net.activations[l].names)))
        z_half = max(act_range if n in UNBOUNDED else TABLE_RANGE[n] for n in names)
        shift = max(0, math.ceil(math.log2(2 * z_half / TABLE_SIZE / unit)))
        s_out = (act_range if any(n in UNBOUNDED for n in names) else 1.0) / LEVELS
        z_mid = (np.arange(-TABLE_SIZE // 2, TABLE_SIZE // 2) + 0.5) * (2.0 ** shift * unit)
        tables = np.stack([np.clip(np.round(ACTIVATIONS[n](z_mid.copy()) / s_out), -LEVELS, LEVELS) for n in names])
        table_of = np.array([names.index(n) for n in net.activations[l].names], dtype=np.uint8)
        layers.append(IntegerLayer(Wk.T.astype(np.int8), bias.astype(np.int32), shift, tables.astype(np.int8),
                                   table_of, names))
        s_in = s_out
    return IntegerNetwork(net.layer_sizes, input_range, layers)
