"""Annealing schedules: functions of run progress ``t`` in [0, 1] (0 = start, 1 = budget spent).

``alpha / hbar`` acts as an inverse temperature: a large ``hbar`` gives broad packets that
average the loss over wide regions (exploration); a small one gives sharp packets sitting in
their slice's global minimum. The default anneals ``hbar`` geometrically from 0.03 to 1e-4 (see
``docs/results/update-schemes``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..validation import is_real

__all__ = ["Schedule", "Constant", "Geometric", "Linear", "as_schedule"]


class Schedule(ABC):
    """A positive value as a function of progress ``t`` in [0, 1]."""

    @abstractmethod
    def __call__(self, t: float) -> float:
        """The value at progress ``t``."""

    def describe(self) -> dict[str, Any]:
        return {"kind": type(self).__name__}


@dataclass(frozen=True)
class Constant(Schedule):
    value: float

    def __call__(self, t: float) -> float:
        return self.value

    def describe(self) -> dict[str, Any]:
        return {"kind": "Constant", "value": self.value}


@dataclass(frozen=True)
class Geometric(Schedule):
    """``start * (end / start) ** t``: equal ratios per unit of progress."""

    start: float
    end: float

    def __call__(self, t: float) -> float:
        return self.start * (self.end / self.start) ** min(max(t, 0.0), 1.0)

    def describe(self) -> dict[str, Any]:
        return {"kind": "Geometric", "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Linear(Schedule):
    start: float
    end: float

    def __call__(self, t: float) -> float:
        return self.start + (self.end - self.start) * min(max(t, 0.0), 1.0)

    def describe(self) -> dict[str, Any]:
        return {"kind": "Linear", "start": self.start, "end": self.end}


class _Callable(Schedule):
    def __init__(self, fn: Callable[[float], float], name: str) -> None:
        self.fn, self.name = fn, name

    def __call__(self, t: float) -> float:
        v = float(self.fn(t))
        if not np.isfinite(v) or v <= 0:
            raise ConfigError(f"{self.name} schedule returned {v!r} at progress {t:.3f}; it must be finite and > 0")
        return v


def as_schedule(value: Any, name: str) -> Schedule:
    """Coerce a number (constant), a ``(start, end)`` pair (geometric), a Schedule or a callable."""
    if isinstance(value, Schedule):
        sched = value
    elif callable(value):
        return _Callable(value, name)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        if not (is_real(value[0]) and is_real(value[1])):
            raise ConfigError(f"{name} schedule ends must be numbers, got {value!r}")
        start, end = float(value[0]), float(value[1])
        if not (np.isfinite(start) and np.isfinite(end) and start > 0 and end > 0):
            raise ConfigError(f"{name} must be finite and > 0 over the whole run, got {value!r}")
        sched = Geometric(start, end)
    elif is_real(value):
        sched = Constant(float(value))
    else:
        raise ConfigError(f"{name} must be a number, a (start, end) pair or a schedule, got {value!r}")
    for v in (sched(0.0), sched(1.0)):
        if not np.isfinite(v) or v <= 0:
            raise ConfigError(f"{name} must be finite and > 0 over the whole run, got {v!r}")
    return sched
