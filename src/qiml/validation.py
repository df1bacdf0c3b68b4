"""Checks of user-given scalars shared by every front door: each raises :class:`ConfigError` naming the input."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["check_int", "check_float"]


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
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(value) or value < lo:
        raise ConfigError(f"{name} must be finite and >= {lo}, got {value!r}")
    return float(value)
