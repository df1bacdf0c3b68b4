"""Input encoders: real-valued series (N, C, T) to the input signals (N, C', T) of a spiking network.

Every encoder expects standardised inputs (zero mean, unit spread per channel; the estimators
standardise with the training data's statistics) and is deterministic: the rate code draws its
spikes from a generator seeded by the encoder's seed and each sample's own bytes, so a sample is
encoded the same way in any batch, in any order, in any process.

==================  =======  ==========================================================================
encoder             C'       signal
==================  =======  ==========================================================================
``current``         C        direct current injection: ``gain * z`` (no spikes at the input)
``rate``            C        Bernoulli spikes with probability ``clip(0.5 + gain * z, 0, 1)`` per step
``latency``         C        per window of ``window`` steps, one spike, earlier for a larger window mean
``delta``           2 C      level crossings: an "up" or "down" spike each time the signal moves by
                             ``threshold`` from the level of its last spike (send-on-delta)
==================  =======  ==========================================================================
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from ..validation import check_real, positive_int

__all__ = ["Encoder", "CurrentEncoder", "RateEncoder", "LatencyEncoder", "DeltaEncoder", "ENCODERS",
           "get_encoder"]


class Encoder:
    """Base class: ``encoder(X)`` maps (N, C, T) standardised series to (N, channels(C), T) signals."""

    name = ""
    spiking = True      # whether the signals are spikes (0/1); False: currents

    def channels(self, n_channels: int) -> int:
        """Input signals per sample for ``n_channels`` series channels."""
        return n_channels

    def __call__(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The encoder's settings (what makes two encoders equal)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Encoder) and type(other) is type(self) and other.params() == self.params()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.params().items()))))


class CurrentEncoder(Encoder):
    """Direct current injection: the signal is ``gain * z``."""

    name, spiking = "current", False

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = check_real("gain", gain)

    def __call__(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.gain * np.asarray(X, dtype=float)


class RateEncoder(Encoder):
    """Bernoulli rate code: a spike at each step with probability ``clip(0.5 + gain * z, 0, 1)``."""

    name = "rate"

    def __init__(self, gain: float = 0.25, seed: int = 0) -> None:
        self.gain = check_real("gain", gain)
        self.seed = int(seed)

    def __call__(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        X = np.asarray(X, dtype=float)
        p = np.clip(0.5 + self.gain * X, 0.0, 1.0)
        out = np.empty_like(p)
        for n in range(X.shape[0]):     # one generator per sample, seeded by its content
            rng = np.random.default_rng([self.seed, zlib.crc32(np.ascontiguousarray(X[n]).tobytes())])
            out[n] = rng.random(p[n].shape) < p[n]
        return out


class LatencyEncoder(Encoder):
    """Time-to-first-spike code per window: in each window of ``window`` steps a channel fires once, at
    offset ``round((1 - sigmoid(mean)) * (window - 1))``: the larger the window's mean, the earlier."""

    name = "latency"

    def __init__(self, window: int = 8) -> None:
        self.window = positive_int("window", window)

    def __call__(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        X = np.asarray(X, dtype=float)
        N, C, T = X.shape
        out = np.zeros_like(X)
        for start in range(0, T, self.window):
            seg = X[:, :, start:start + self.window]
            width = seg.shape[-1]
            offset = np.rint((1.0 - 1.0 / (1.0 + np.exp(-seg.mean(axis=-1)))) * (width - 1)).astype(np.intp)
            n, c = np.indices((N, C))
            out[n, c, start + offset] = 1.0
        return out


class DeltaEncoder(Encoder):
    """Level-crossing (send-on-delta) code: channel ``2c`` spikes when series ``c`` has risen by ``threshold``
    above its current level, channel ``2c + 1`` when it has fallen by as much; each spike moves the level
    one ``threshold`` (a jump of several levels gives one spike per step until the level catches up)."""

    name = "delta"

    def __init__(self, threshold: float = 0.1) -> None:
        self.threshold = check_real("threshold", threshold)
        if not self.threshold > 0:
            raise ConfigError(f"threshold must be > 0, got {threshold!r}")

    def channels(self, n_channels: int) -> int:
        return 2 * n_channels

    def __call__(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        X = np.asarray(X, dtype=float)
        N, C, T = X.shape
        out = np.zeros((N, 2 * C, T))
        level = X[:, :, 0].copy()
        for t in range(1, T):
            up = X[:, :, t] - level >= self.threshold
            down = level - X[:, :, t] >= self.threshold
            out[:, 0::2, t], out[:, 1::2, t] = up, down
            level = level + self.threshold * (up.astype(float) - down)   # one level per step: no drift
        return out


ENCODERS: dict[str, type[Encoder]] = {c.name: c for c in (CurrentEncoder, RateEncoder, LatencyEncoder, DeltaEncoder)}


def get_encoder(encoder: str | Encoder) -> Encoder:
    """An :class:`Encoder` from its name (default settings) or as given."""
    if isinstance(encoder, Encoder):
        return encoder
    if isinstance(encoder, str) and encoder in ENCODERS:
        return ENCODERS[encoder]()
    raise ConfigError(f"encoder must be one of {sorted(ENCODERS)} or an Encoder, got {encoder!r}")
