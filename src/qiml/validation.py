"""Checks of user-given scalars shared by every front door: each raises :class:`ConfigError` naming the input."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["check_int", "check_float", "is_real", "real_scalar"]


def is_real(value: Any) -> bool:
    """Whether ``value`` is one real number: a Python or NumPy int or float (not a bool, a string, a
    ``Decimal``, a list or an array of more than one value)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def real_scalar(value: Any) -> float | None:
    """``value`` as a float if it is one real number: what :func:`is_real` accepts, a one-element array of
    a numeric dtype, or a framework scalar whose ``.item()`` is one (a 0-d torch tensor); else ``None``."""
    if is_real(value):
        return float(value)
    if isinstance(value, np.ndarray):
        return float(value.reshape(())) if value.size == 1 and value.dtype.kind in "iuf" else None
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)) and getattr(value, "ndim", None) in (0, 1):
        try:
            v = item()
        except (TypeError, ValueError, RuntimeError):
            return None
        return float(v) if is_real(v) else None
    return None


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``lo..hi`` (``hi=None``: no upper bound); bools and non-integers are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an int, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ConfigError(f"{name} must be {rng}, got {value}")
    return int(value)


def check_float(name: str, value: Any, lo: float = 0.0) -> float:
    """``value`` as a finite ``float`` >= ``lo``; bools, strings and other types are refused."""
    if not is_real(value):
        raise ConfigError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(value) or value < lo:
        raise ConfigError(f"{name} must be finite and >= {lo}, got {value!r}")
    return float(value)
