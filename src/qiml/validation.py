"""Checks of user-given scalars shared by every front door: each raises :class:`ConfigError` naming the input.

One rule for every door (``minimize``, ``QiML``, the estimators, the torch optimizer, the CLI): an int is a
Python or NumPy integer, a real number a Python or NumPy int or float; bools, strings (``'10'``), Decimals,
lists and arrays are neither. The same mistake therefore gives the same error everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["is_int", "is_real", "real_or_none", "real_scalar", "check_int", "check_float", "check_real", "positive_int",
           "optional_positive_int", "optional_positive_float", "finite_float"]


def is_int(value: Any) -> bool:
    """Whether ``value`` is one integer: a Python or NumPy int, not a bool (nor a ``timedelta64``, which
    NumPy makes a subclass of its signed integers)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_, np.timedelta64))


def is_real(value: Any) -> bool:
    """Whether ``value`` is one real number: a Python or NumPy int or float (not a bool, a string, a
    ``Decimal``, a list, an array of more than one value, or a NumPy ``timedelta64``, which NumPy makes a
    subclass of ``np.signedinteger`` although it is a time span)."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_, np.timedelta64)))


def real_or_none(value: Any) -> float | None:
    """``value`` as a float if :func:`is_real` accepts it, else None (for checks that add a range)."""
    return float(value) if is_real(value) else None


def real_scalar(value: Any) -> float | None:
    """``value`` as a float if it is one real number: what :func:`is_real` accepts, a one-element array of
    a numeric (int, uint or float) dtype (an ``np.matrix`` too; a masked array only if nothing is masked),
    or a framework tensor (anything with an int ``ndim``) whose ``.item()`` is one (a 0-d or one-element
    torch tensor); else ``None``. Other NumPy scalars (bools, complex numbers, ``datetime64`` and
    ``timedelta64`` values, strings) are ``None``, whatever their ``.item()`` gives.

    A Python int beyond the float range (``2**1100``) raises ``OverflowError``, as ``float()`` does: the
    caller says that the value is too large rather than that it is not a number."""
    if is_real(value):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.size != 1 or value.dtype.kind not in "iuf" or np.ma.getmaskarray(value).any():
            return None
        return float(np.asarray(value).reshape(-1)[0])
    if isinstance(value, np.generic):   # np.bool_, complex, datetime64, timedelta64, str_, bytes_, void
        return None
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)) and is_int(getattr(value, "ndim", None)):
        try:
            v = item()
        except (TypeError, ValueError, RuntimeError):
            return None
        return float(v) if is_real(v) else None
    return None


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``lo..hi`` (``hi=None``: no upper bound); bools and non-integers are refused."""
    if not is_int(value):
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


def check_real(name: str, value: Any) -> float:
    """``value`` as a float if it is a real number and not NaN (infinities pass: ranges are the caller's)."""
    if not is_real(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    f = float(value)
    if f != f:
        raise ConfigError(f"{name} must not be NaN")
    return f


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1 (counts: walkers, particles, steps)."""
    if not is_int(value) or value < 1:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def optional_positive_int(name: str, value: Any) -> int | None:
    """None, or ``value`` as an int >= 1 (budgets and batch sizes: ``max_evals``, ``max_iter``, ``batch_size``)."""
    if value is not None and (not is_int(value) or value < 1):
        raise ConfigError(f"{name} must be a positive int or None, got {value!r}")
    return None if value is None else int(value)


def optional_positive_float(name: str, value: Any) -> float | None:
    """None, or ``value`` as a finite float > 0 (``max_time`` in seconds)."""
    if value is not None and (not is_real(value) or not np.isfinite(value) or value <= 0):
        raise ConfigError(f"{name} must be a finite number > 0 or None, got {value!r}")
    return None if value is None else float(value)


def finite_float(name: str, value: Any) -> float:
    """``value`` as a finite float (``target``)."""
    if not is_real(value) or not np.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)
