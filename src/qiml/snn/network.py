"""A spiking neural network as a flat parameter vector, under the model contract (:mod:`qiml.nn.model`).

Layers of leaky integrate-and-fire neurons (:mod:`qiml.snn.neurons`) read an encoded series
(:mod:`qiml.snn.encoders`); a linear readout maps the last layer's readout features
(:mod:`qiml.snn.readouts`) to the outputs (regression targets or logits). Nothing here knows
how the parameters are found: gradients never exist (spikes are steps), and QiML needs only the loss.

Parameter layout (``theta``, P): layer by layer, neuron by neuron, each neuron's parameters
contiguous (one :meth:`SpikingNetwork.neuron_blocks` block)::

    w (m,)  [d (m,)]  [v (h,)]  bias  [threshold]  [beta  alpha]

``w``: the weights of its ``m`` synapses (layer 1: ``taps`` synapses per input signal, each with its
own delay; deeper layers: one per neuron of the layer below); ``d``: integer synaptic delays
``0..max_delay`` steps, on a lattice of step 1 (only with ``max_delay > 0``); ``v``: recurrent weights
from the layer's own spikes one step earlier (``recurrent=True``); ``threshold`` (``learn_threshold``);
``beta``, ``alpha`` = the membrane and synaptic decay per step, ``exp(-dt / tau)`` (``learn_leak``).
Then the readout: ``W`` (F, n_outputs) row-major and ``b`` (n_outputs,); ``readout_offset`` is its start,
so ``output="solve"`` fits ``W, b`` at every grid point (:class:`qiml.nn.ReadoutModel`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError, ShapeError
from ..spaces import Space
from ..validation import check_int, check_real, is_int, positive_int
from .encoders import Encoder, get_encoder
from .neurons import RESETS, delayed_current, lif
from .readouts import READOUTS, readout_features, readout_width
from .slices import SpikingSlicer

if TYPE_CHECKING:
    from ..nn.objective import NetworkObjective

__all__ = ["SpikingNetwork", "Simulation"]

#: box of the learned per-neuron constants: thresholds, and decays per step (beta, alpha < 1: a leak)
THRESHOLD_BOX = (0.05, 4.0)
DECAY_BOX = (0.0, 0.995)


@dataclass
class _Layer:
    """Where one layer's parameters sit in ``theta``: neuron-major, ``per`` parameters per neuron."""

    h: int            # neurons
    m: int            # synapses per neuron
    start: int        # offset of the layer's first parameter
    per: int          # parameters per neuron
    delay: bool
    recurrent: bool
    learn_threshold: bool
    learn_leak: bool

    def field(self, name: str) -> slice:
        """The columns of ``name`` within one neuron's parameters."""
        at = 0
        for key, size in (("w", self.m), ("d", self.m if self.delay else 0), ("v", self.h if self.recurrent else 0),
                          ("bias", 1), ("threshold", 1 if self.learn_threshold else 0),
                          ("beta", 1 if self.learn_leak else 0), ("alpha", 1 if self.learn_leak else 0)):
            if key == name:
                return slice(at, at + size)
            at += size
        raise KeyError(name)


@dataclass
class Simulation:
    """One run of the network: per layer its spikes and membrane potentials (R, N, T, h), and the readout
    features (R, N, F) of the last layer."""

    spikes: list[NDArray[np.float64]]
    mem: list[NDArray[np.float64]]
    features: NDArray[np.float64]


class SpikingNetwork:
    """Feed-forward or recurrent LIF layers with trainable delays, thresholds and time constants.

    Parameters
    ----------
    n_channels, n_steps : int
        Series channels C and time steps T of one sample; inputs are (N, C * T) (or (N, C, T)).
    hidden : sequence of int
        Neurons per spiking layer.
    n_outputs : int
        Outputs of the linear readout (targets, or logits for classification).
    encoder : str or Encoder
        How series become input signals (:mod:`qiml.snn.encoders`); default direct current.
    taps : int
        Synapses per input signal and first-layer neuron, each with its own weight and delay (a
        bank of delayed taps of the input).
    max_delay : int
        Largest synaptic delay in steps (0: no delays; otherwise each synapse's delay is a lattice
        parameter in ``0..max_delay``).
    recurrent : bool
        Whether each layer also reads its own spikes of the previous step.
    reset : {"subtract", "zero"}
        Reset by subtraction of the threshold, or to zero.
    refractory : int
        Steps after a spike during which a neuron neither integrates nor fires.
    readout : str or sequence of str
        Readout features of the last layer (:mod:`qiml.snn.readouts`): ``counts``, ``bins``, ``first``,
        ``max_mem``, ``mean_mem``.
    bins : int
        Time bins of the ``bins`` readout.
    learn_threshold, learn_leak : bool
        Whether thresholds and the decays ``beta``, ``alpha`` are parameters; else fixed at
        ``threshold``, ``beta`` and ``alpha``.
    """

    differentiable = False   # spikes are steps: no curvature directions

    def __init__(self, n_channels: int, n_steps: int, hidden: Sequence[int] = (16,), n_outputs: int = 1, *,
                 encoder: str | Encoder = "current", taps: int = 1, max_delay: int = 0, recurrent: bool = False,
                 reset: str = "subtract", refractory: int = 0, readout: str | Sequence[str] = "counts",
                 bins: int = 4, learn_threshold: bool = True, learn_leak: bool = True, threshold: float = 1.0,
                 beta: float = 0.9, alpha: float = 0.5) -> None:
        self.n_channels = positive_int("n_channels", n_channels)
        self.n_steps = positive_int("n_steps", n_steps)
        sizes: Any = [hidden] if is_int(hidden) else hidden
        if isinstance(sizes, (str, bytes)) or not all(is_int(h) and h >= 1 for h in sizes):
            raise ConfigError(f"hidden must be positive ints (neurons per layer), got {hidden!r}")
        self.hidden = tuple(int(h) for h in sizes)
        if not self.hidden:
            raise ConfigError("a spiking network needs at least one hidden layer")
        self.n_outputs = positive_int("n_outputs", n_outputs)
        self.encoder = get_encoder(encoder)
        self.taps = positive_int("taps", taps)
        self.max_delay = check_int("max_delay", max_delay, 0, self.n_steps - 1)
        self.recurrent = bool(recurrent)
        if reset not in RESETS:
            raise ConfigError(f"reset must be one of {RESETS}, got {reset!r}")
        self.reset = reset
        self.refractory = check_int("refractory", refractory, 0, self.n_steps)
        self.readout = (readout,) if isinstance(readout, str) else tuple(readout)
        bad = [r for r in self.readout if r not in READOUTS]
        if bad or not self.readout:
            raise ConfigError(f"readout must name one or more of {READOUTS}, got {readout!r}")
        self.bins = check_int("bins", bins, 1, self.n_steps)
        self.learn_threshold, self.learn_leak = bool(learn_threshold), bool(learn_leak)
        self.threshold = check_real("threshold", threshold)
        self.beta, self.alpha = check_real("beta", beta), check_real("alpha", alpha)
        if not (THRESHOLD_BOX[0] <= self.threshold <= THRESHOLD_BOX[1]):
            raise ConfigError(f"threshold must lie in {THRESHOLD_BOX}, got {threshold!r}")
        for name, v in (("beta", self.beta), ("alpha", self.alpha)):
            if not DECAY_BOX[0] <= v <= DECAY_BOX[1]:
                raise ConfigError(f"{name} must lie in {DECAY_BOX} (a decay per step), got {v!r}")
        self.n_inputs = self.encoder.channels(self.n_channels)       # input signals after encoding
        self.layers: list[_Layer] = []
        start, fan_in = 0, self.n_inputs * self.taps
        for h in self.hidden:
            layer = _Layer(h, fan_in, start, 0, self.max_delay > 0, self.recurrent, self.learn_threshold,
                           self.learn_leak)
            layer.per = layer.field("alpha").stop
            self.layers.append(layer)
            start += h * layer.per
            fan_in = h
        self.n_features = readout_width(self.readout, self.hidden[-1], self.bins)
        self.readout_offset = start
        self.n_params = start + self.n_features * self.n_outputs + self.n_outputs
        self.in_features = self.n_channels * self.n_steps
        self.out_features = self.n_outputs
        # floats per sample of one layer's simulation (input currents, spikes, membranes): sizes row batches
        self.width = 3 * self.n_steps * max(max(self.hidden), self.n_inputs * self.taps)
        self.weight_mask = np.zeros(self.n_params, dtype=bool)
        for layer in self.layers:
            for name in ("w", "v"):
                self.weight_mask[self._columns(layer, name)] = True
        self.weight_mask[self.readout_offset:self.readout_offset + self.n_features * self.n_outputs] = True

    # ------------------------------------------------------------------ layout
    def _columns(self, layer: _Layer, name: str) -> NDArray[np.intp]:
        """Indices in ``theta`` of field ``name`` of every neuron of ``layer``, (h, size)."""
        f = layer.field(name)
        return layer.start + np.arange(layer.h)[:, None] * layer.per + np.arange(f.start, f.stop)[None, :]

    def neuron_blocks(self) -> list[NDArray[np.intp]]:
        """One block per spiking neuron (its contiguous parameters) and per readout output (its column of
        ``W`` and its bias): a partition of ``range(P)``."""
        blocks = [layer.start + j * layer.per + np.arange(layer.per) for layer in self.layers for j in range(layer.h)]
        F, O = self.n_features, self.n_outputs
        for o in range(O):
            blocks.append(np.concatenate([self.readout_offset + np.arange(F) * O + o,
                                          [self.readout_offset + F * O + o]]).astype(np.intp))
        return blocks

    def describe(self) -> dict[str, Any]:
        """The architecture as plain values (for reports and model files)."""
        return {"n_channels": self.n_channels, "n_steps": self.n_steps, "hidden": list(self.hidden),
                "n_outputs": self.n_outputs, "encoder": repr(self.encoder), "taps": self.taps,
                "max_delay": self.max_delay, "recurrent": self.recurrent, "reset": self.reset,
                "refractory": self.refractory, "readout": list(self.readout), "bins": self.bins,
                "learn_threshold": self.learn_threshold, "learn_leak": self.learn_leak, "n_params": self.n_params}

    def __repr__(self) -> str:
        return (f"SpikingNetwork({self.n_channels}x{self.n_steps} -> {list(self.hidden)} -> {self.n_outputs}, "
                f"{self.encoder.name}, delays<={self.max_delay}, P={self.n_params})")

    # ------------------------------------------------------------------ the model contract
    def space(self, bound: float = 3.0) -> Space:
        """Boxes per parameter: weights ``±bound / sqrt(fan_in)``, biases ``±bound / 3``, delays
        ``0..max_delay`` on a lattice of one step, thresholds in :data:`THRESHOLD_BOX`, decays in
        :data:`DECAY_BOX`, readout weights and biases ``±bound``."""
        b = check_real("bound", bound)
        if not b > 0:
            raise ConfigError(f"bound must be > 0, got {bound!r}")
        lo, hi, step = np.full(self.n_params, -b), np.full(self.n_params, b), np.zeros(self.n_params)
        for layer in self.layers:
            for name, fan in (("w", layer.m), ("v", layer.h)):
                if layer.field(name).stop > layer.field(name).start:
                    c = self._columns(layer, name)
                    lo[c], hi[c] = -b / np.sqrt(fan), b / np.sqrt(fan)
            c = self._columns(layer, "bias")
            lo[c], hi[c] = -b / 3, b / 3
            if layer.delay:
                c = self._columns(layer, "d")
                lo[c], hi[c], step[c] = 0.0, float(self.max_delay), 1.0
            if layer.learn_threshold:
                c = self._columns(layer, "threshold")
                lo[c], hi[c] = THRESHOLD_BOX
            if layer.learn_leak:
                for name in ("beta", "alpha"):
                    c = self._columns(layer, name)
                    lo[c], hi[c] = DECAY_BOX
        return Space(lo, hi, step)

    def init(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """Weights uniform in ``±1 / sqrt(fan_in)`` (recurrent ones 0), delays uniform integers, biases 0,
        thresholds and decays at their fixed values, readout Glorot-uniform."""
        theta = np.zeros(self.n_params)
        for layer in self.layers:
            c = self._columns(layer, "w")
            theta[c] = rng.uniform(-1.0, 1.0, c.shape) / np.sqrt(layer.m)
            if layer.delay:
                c = self._columns(layer, "d")
                theta[c] = rng.integers(0, self.max_delay + 1, c.shape)
            if layer.learn_threshold:
                theta[self._columns(layer, "threshold")] = self.threshold
            if layer.learn_leak:
                theta[self._columns(layer, "beta")] = self.beta
                theta[self._columns(layer, "alpha")] = self.alpha
        F, O = self.n_features, self.n_outputs
        limit = np.sqrt(6.0 / (F + O))
        theta[self.readout_offset:self.readout_offset + F * O] = rng.uniform(-limit, limit, F * O)
        return theta

    def forward(self, X: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
        """Outputs (N, n_outputs) for series ``X`` (N, C * T), (N, C, T) or, with one channel, (N, T)."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.n_params,):
            raise ShapeError(f"theta must have shape ({self.n_params},), got {theta.shape}")
        return self.forward_rows(self.check_inputs(X), theta[None])[0]

    def forward_rows(self, X: NDArray[np.float64], thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        """Outputs (R, N, n_outputs) for parameter vectors ``thetas`` (R, P) at once."""
        feats = self.readout_features(X, thetas[:, :self.readout_offset])
        F, O = self.n_features, self.n_outputs
        W = thetas[:, self.readout_offset:self.readout_offset + F * O].reshape(-1, F, O)
        b = thetas[:, self.readout_offset + F * O:]
        return feats @ W + b[:, None, :]

    def readout_features(self, X: NDArray[np.float64], thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        """Readout features (R, N, F) of the last layer for spiking-layer parameters ``thetas`` (R, readout_offset)."""
        return self.simulate(X, thetas).features

    def slicer(self, objective: NetworkObjective) -> SpikingSlicer:
        """Incremental slices for ``objective`` (:class:`qiml.snn.slices.SpikingSlicer`): a slice inside one
        last-layer neuron re-simulates that neuron only."""
        return SpikingSlicer(self, objective)

    # ------------------------------------------------------------------ simulation
    def check_inputs(self, X: ArrayLike) -> NDArray[np.float64]:
        """``X`` as (N, C * T) floats; (N, C, T) and, for one channel, (N, T) are accepted."""
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ShapeError(f"X must be real numbers: {exc}") from exc
        C, T = self.n_channels, self.n_steps
        if X.ndim == 3 and X.shape[1:] == (C, T):
            X = X.reshape(X.shape[0], C * T)
        if X.ndim != 2 or X.shape[1] != C * T or X.shape[0] < 1:
            raise ShapeError(f"X must be (n_samples, {C} x {T}) series, i.e. (N, {C * T}) or (N, {C}, {T}); "
                             f"got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ShapeError("X holds NaN or infinite values")
        return X

    def encode(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Input signals (N, n_inputs, T) of series ``X`` (N, C * T)."""
        return self.encoder(X.reshape(X.shape[0], self.n_channels, self.n_steps))

    def simulate(self, X: NDArray[np.float64], thetas: NDArray[np.float64],
                 signals: NDArray[np.float64] | None = None) -> Simulation:
        """Run every layer for parameter vectors ``thetas`` (R, >= readout_offset) on ``X`` (N, C * T)
        (or on already encoded ``signals`` (N, n_inputs, T)); spikes and membranes of every layer."""
        x = self.encode(X) if signals is None else signals
        x = np.repeat(x, self.taps, axis=1) if self.taps > 1 else x      # one copy per tap (its own delay)
        R = thetas.shape[0]
        spikes, mems = [], []
        inp = np.broadcast_to(x, (R, *x.shape))
        for layer in self.layers:
            p = thetas[:, layer.start:layer.start + layer.h * layer.per].reshape(R, layer.h, layer.per)
            w = p[..., layer.field("w")]
            d = np.rint(p[..., layer.field("d")]).astype(np.intp) if layer.delay else None
            bias = p[..., layer.field("bias")][..., 0]
            th = p[..., layer.field("threshold")][..., 0] if layer.learn_threshold else np.full((R, layer.h),
                                                                                                   self.threshold)
            if layer.learn_leak:
                beta, alpha = p[..., layer.field("beta")][..., 0], p[..., layer.field("alpha")][..., 0]
            else:
                beta, alpha = np.full((R, layer.h), self.beta), np.full((R, layer.h), self.alpha)
            v = p[..., layer.field("v")].transpose(0, 2, 1) if layer.recurrent else None   # (R, h_from, h_to)
            cur = np.stack([delayed_current(inp[r], w[r], None if d is None else d[r], bias[r]) for r in range(R)])
            s, m = lif(cur, th, beta, alpha, reset=self.reset, refractory=self.refractory, recurrent=v)
            spikes.append(s)
            mems.append(m)
            inp = s.transpose(0, 1, 3, 2)          # (R, N, h, T): the next layer's presynaptic trains
        last = self.layers[-1]
        th_last = (thetas[:, last.start:last.start + last.h * last.per].reshape(R, last.h, last.per)[
            ..., last.field("threshold")][..., 0] if last.learn_threshold else np.full((R, last.h), self.threshold))
        feats = readout_features(self.readout, spikes[-1], mems[-1], th_last, self.bins)
        return Simulation(spikes, mems, feats)
