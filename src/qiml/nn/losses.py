"""Losses on network outputs, per sample: differentiable (MSE, MAE, cross-entropy) or not (0-1, hinge).

A loss is a function ``loss(out, y) -> (..., N)`` of outputs ``out`` (..., N, O) (logits for the
classification losses) and targets ``y`` ((N, O) floats for regression, (N,) int labels for
classification), broadcasting over any leading axes, so the model can score a whole stack of
candidate networks in one call. The training objective is the mean over samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError

__all__ = ["Loss", "LOSSES", "get_loss", "log_softmax", "softmax"]


def log_softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise log-softmax over the last axis, stable for large logits."""
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.exp(log_softmax(z))


def _mse(out: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    d = out - y
    return (d * d).sum(axis=-1)


def _mae(out: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.abs(out - y).sum(axis=-1)


def _picked(out: NDArray[np.float64], y: NDArray[np.intp]) -> NDArray[np.float64]:
    """``out[..., n, y[n]]``: the true class's logit, shape (..., N)."""
    idx = np.broadcast_to(y[:, None], out.shape[:-1] + (1,))
    return np.take_along_axis(out, idx, axis=-1)[..., 0]


def _cross_entropy(out: NDArray[np.float64], y: NDArray[np.intp]) -> NDArray[np.float64]:
    if out.shape[-1] == 1:   # one logit: binary cross-entropy, log(1 + exp(-s z)) with s = +-1
        s = np.where(y == 1, 1.0, -1.0)
        return np.logaddexp(0.0, -s * out[..., 0])
    return _logsumexp(out) - _picked(out, y)


def _logsumexp(out: NDArray[np.float64]) -> NDArray[np.float64]:
    """log(sum(exp(out))) over a short last axis, looping over it: NumPy's reductions over a
    10-wide trailing axis of a huge stack are several times slower than whole-array passes."""
    m = out[..., 0].copy()
    for o in range(1, out.shape[-1]):
        np.maximum(m, out[..., o], out=m)
    s = np.zeros_like(m)
    tmp = np.empty_like(m)
    for o in range(out.shape[-1]):
        np.subtract(out[..., o], m, out=tmp)
        s += np.exp(tmp, out=tmp)
    np.log(s, out=s)
    s += m
    return s


def _zero_one(out: NDArray[np.float64], y: NDArray[np.intp]) -> NDArray[np.float64]:
    pred = (out[..., 0] > 0.0).astype(np.intp) if out.shape[-1] == 1 else out.argmax(axis=-1)
    return (pred != y).astype(np.float64)


def _hinge(out: NDArray[np.float64], y: NDArray[np.intp]) -> NDArray[np.float64]:
    """Binary hinge max(0, 1 - s z), or Crammer-Singer max(0, 1 + max_{k != y} z_k - z_y)."""
    if out.shape[-1] == 1:
        s = np.where(y == 1, 1.0, -1.0)
        return np.maximum(0.0, 1.0 - s * out[..., 0])
    true = _picked(out, y)
    others = out.copy()
    np.put_along_axis(others, np.broadcast_to(y[:, None], out.shape[:-1] + (1,)), -np.inf, axis=-1)
    return np.maximum(0.0, 1.0 + others.max(axis=-1) - true)


@dataclass(frozen=True)
class Loss:
    """A per-sample loss and whether its targets are class labels."""

    name: str
    fun: Callable[[NDArray[np.float64], NDArray], NDArray[np.float64]]
    classification: bool

    def __call__(self, out: NDArray[np.float64], y: NDArray) -> NDArray[np.float64]:
        return self.fun(out, y)


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", _mse, False),
    "mae": Loss("mae", _mae, False),
    "cross_entropy": Loss("cross_entropy", _cross_entropy, True),
    "zero_one": Loss("zero_one", _zero_one, True),
    "hinge": Loss("hinge", _hinge, True),
}
_ALIASES = {"squared_error": "mse", "absolute_error": "mae", "log_loss": "cross_entropy", "ce": "cross_entropy",
            "01": "zero_one", "0-1": "zero_one"}


def get_loss(loss: str | Loss) -> Loss:
    """The :class:`Loss` named ``loss`` (or ``loss`` itself)."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise ConfigError(f"loss must be a name or a Loss, got {type(loss).__name__}")
    key = _ALIASES.get(loss.lower(), loss.lower())
    if key not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; choose from {sorted(LOSSES)}")
    return LOSSES[key]
