"""Activation functions, chosen per layer or per neuron, differentiable or not.

Each activation is a plain vectorised NumPy function ``f(z, out=None)`` of the pre-activation ``z``
(any shape) returning an array of the same shape; ``out`` (which may be ``z`` itself) lets hot loops
work in place. Training never needs their derivatives, so step, sign, hard tanh and
quantized staircases are as usable as tanh. Where a derivative exists (:data:`DERIVATIVES`), the
curvature directions (``directions="curvature"``) may use it to choose slice directions; the loss
is still only ever evaluated, never differentiated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError

__all__ = ["ACTIVATIONS", "DERIVATIVES", "get_activation", "STAIRCASE_LEVELS"]

Array = NDArray[np.float64]
Activation = Callable[..., Array]

#: number of levels on each side of 0 for the quantized staircase (outputs in {-1, -3/4, ..., 1})
STAIRCASE_LEVELS = 4


def identity(z: Array, out: Array | None = None) -> Array:
    if out is None:
        return z
    out[...] = z
    return out


def tanh(z: Array, out: Array | None = None) -> Array:
    return np.tanh(z, out=out)


def sigmoid(z: Array, out: Array | None = None) -> Array:
    # tanh form: stable for large |z| and one transcendental per element
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def relu(z: Array, out: Array | None = None) -> Array:
    return np.maximum(z, 0.0, out=out)


def sine(z: Array, out: Array | None = None) -> Array:
    return np.sin(z, out=out)


def gaussian(z: Array, out: Array | None = None) -> Array:
    out = np.multiply(z, z, out=out)
    np.negative(out, out=out)
    return np.exp(out, out=out)


def step(z: Array, out: Array | None = None) -> Array:
    """Heaviside: 1 where z > 0, else 0 (zero gradient almost everywhere)."""
    return np.greater(z, 0.0, out=np.empty(z.shape) if out is None else out, casting="unsafe")


def sign(z: Array, out: Array | None = None) -> Array:
    """+1 where z > 0, else -1 (a binary neuron; 0 maps to -1 so the output is always binary)."""
    out = step(z, out)
    out *= 2.0
    out -= 1.0
    return out


def hard_tanh(z: Array, out: Array | None = None) -> Array:
    return np.clip(z, -1.0, 1.0, out=out)


def staircase(z: Array, out: Array | None = None) -> Array:
    """Hard tanh rounded to ``2 * STAIRCASE_LEVELS + 1`` levels: a 4-bit-style quantized activation."""
    out = np.clip(z, -1.0, 1.0, out=out)
    out *= STAIRCASE_LEVELS
    np.round(out, out=out)
    out /= STAIRCASE_LEVELS
    return out


ACTIVATIONS: dict[str, Activation] = {
    "identity": identity, "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "sine": sine,
    "gaussian": gaussian, "step": step, "sign": sign, "hard_tanh": hard_tanh, "staircase": staircase,
}
#: ``f'(z)`` of the activations that have one almost everywhere (step, sign and staircase have a
#: zero derivative almost everywhere, so they get none: their neurons use learned directions)
DERIVATIVES: dict[str, Callable[[Array], Array]] = {
    "identity": lambda z: np.ones_like(z),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "sigmoid": lambda z: (lambda s: s * (1.0 - s))(sigmoid(z)),
    "relu": lambda z: (z > 0).astype(float),
    "sine": np.cos,
    "gaussian": lambda z: -2.0 * z * np.exp(-z * z),
    "hard_tanh": lambda z: (np.abs(z) < 1).astype(float),
}
# scikit-learn's names for the same functions
_ALIASES = {"logistic": "sigmoid", "sin": "sine", "heaviside": "step", "hardtanh": "hard_tanh", "linear": "identity"}


def get_activation(name: str) -> tuple[str, Activation]:
    """``(canonical name, function)`` for an activation name (scikit-learn aliases accepted)."""
    if not isinstance(name, str):
        raise ConfigError(f"activation must be a name (str), got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return key, ACTIVATIONS[key]
