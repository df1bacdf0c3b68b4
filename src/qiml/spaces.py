"""Parameter spaces: continuous boxes and fixed-step lattices (integers, int8/int4 weights).

A :class:`Space` holds, per parameter ``i``, a lower bound ``lower[i]``, an upper bound
``upper[i]`` and a lattice step ``step[i]`` (``0`` means continuous). On a lattice the allowed
values are ``lower[i] + k * step[i]`` for integer ``k`` up to ``upper[i]``. The engine asks a
space for the grid of each parameter's current window; on a lattice that grid *is* the
lattice (or a sub-lattice of it when the window is wide), so results are on-lattice by
construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import BoundsError

__all__ = ["Space", "as_space", "MAX_WIDTH"]

#: the widest box a parameter may have: the engine squares widths (covariances, curvatures), and
#: beyond about 1e154 a square overflows; far below that any problem is better rescaled
MAX_WIDTH = 1e100


class Space:
    """Box bounds with an optional lattice step per parameter.

    Parameters
    ----------
    lower, upper : array_like, shape (P,)
        Finite bounds with ``lower < upper`` and ``upper - lower <= MAX_WIDTH`` (1e100).
    step : array_like, shape (P,) or scalar, optional
        Lattice step per parameter; ``0`` (default) for continuous parameters. On a lattice,
        ``upper`` is rounded down to the last lattice point (and kept at the given bound when
        ``lower + k * step`` rounds just above it).
    """

    def __init__(self, lower: ArrayLike, upper: ArrayLike, step: ArrayLike | None = None) -> None:
        lo = _as_float_vector(lower, "lower")
        hi = _as_float_vector(upper, "upper")
        if lo.shape != hi.shape:
            raise BoundsError(f"lower has {lo.size} entries but upper has {hi.size}")
        st = (np.zeros_like(lo) if step is None
              else np.broadcast_to(_as_float_array(step, "step"), lo.shape).astype(float))
        if not np.all(np.isfinite(lo)) or not np.all(np.isfinite(hi)):
            bad = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))[:5]
            raise BoundsError(f"bounds must be finite (NaN or infinite at parameter(s) {bad.tolist()}); "
                              "the packets live in a finite box")
        with np.errstate(over="ignore"):
            width = hi - lo
        if not np.all(np.isfinite(width) & (width <= MAX_WIDTH)):
            bad = np.flatnonzero(~(np.isfinite(width) & (width <= MAX_WIDTH)))[:5]
            raise BoundsError(f"the box is too wide: upper - lower exceeds {MAX_WIDTH:g} at parameter(s) "
                              f"{bad.tolist()}; rescale the parameters")
        if np.any(lo >= hi):
            bad = np.flatnonzero(lo >= hi)[:5]
            raise BoundsError(f"lower must be < upper; inverted or empty bounds at parameter(s) {bad.tolist()}: "
                              f"lower={lo[bad].tolist()}, upper={hi[bad].tolist()}")
        if not np.all(np.isfinite(st)) or np.any(st < 0):
            raise BoundsError("lattice steps must be finite and >= 0 (0 means continuous)")
        lattice = st > 0
        n_levels = np.where(lattice, np.floor((hi - lo) / np.where(lattice, st, 1.0) + 1e-9) + 1, 2.0)
        if np.any(n_levels < 2):
            bad = np.flatnonzero(n_levels < 2)[:5]
            raise BoundsError(f"lattice step larger than the range at parameter(s) {bad.tolist()}: "
                              "a parameter needs at least two allowed values")
        # the top level, rounded down to the lattice; never above the given bound by a rounding error
        hi = np.where(lattice, np.minimum(lo + (n_levels - 1) * st, hi), hi)
        self.lower, self.upper, self.step = lo, hi, st
        for a in (self.lower, self.upper, self.step):
            a.setflags(write=False)

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def integers(cls, lower: ArrayLike, upper: ArrayLike) -> Space:
        """Integer parameters in ``[lower, upper]`` (inclusive); both bounds must be integers."""
        lo, hi = _as_float_vector(lower, "lower"), _as_float_vector(upper, "upper")
        for name, b in (("lower", lo), ("upper", hi)):
            frac = np.isfinite(b) & (b != np.round(b))
            if np.any(frac):
                bad = np.flatnonzero(frac)[:5]
                raise BoundsError(f"Space.integers needs integer bounds; {name} is fractional at parameter(s) "
                                  f"{bad.tolist()}: {b[bad].tolist()} (round them, or use Space(lower, upper, step))")
        return cls(lo, hi, np.ones_like(lo))

    @classmethod
    def int_lattice(cls, n: int, bits: int = 8, scale: ArrayLike = 1.0) -> Space:
        """``n`` weights on the signed ``bits``-bit lattice ``scale * {-2**(bits-1), ..., 2**(bits-1)-1}``.

        With ``bits=8`` and the engine option ``nx=256`` each weight is searched on the full
        int8 lattice, so the result is quantized by construction.
        """
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise BoundsError(f"n must be a positive int, got {n!r}")
        if not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
            raise BoundsError(f"bits must be an int in [2, 16], got {bits!r}")
        s = np.broadcast_to(_as_float_array(scale, "scale"), (n,)).astype(float)
        if np.any(~np.isfinite(s)) or np.any(s <= 0):
            raise BoundsError("scale must be finite and > 0")
        half = 2 ** (bits - 1)
        return cls(-half * s, (half - 1) * s, s)

    # -- basic properties -------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of parameters P."""
        return int(self.lower.size)

    @property
    def width(self) -> NDArray[np.float64]:
        """``upper - lower``, shape (P,)."""
        return self.upper - self.lower

    @property
    def is_lattice(self) -> NDArray[np.bool_]:
        return self.step > 0

    def __repr__(self) -> str:
        kind = "lattice" if self.is_lattice.all() else ("mixed" if self.is_lattice.any() else "box")
        return f"Space(dim={self.dim}, kind={kind})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Space) and np.array_equal(self.lower, other.lower)
                and np.array_equal(self.upper, other.upper) and np.array_equal(self.step, other.step))

    # -- operations -------------------------------------------------------------------------
    def snap(self, x: ArrayLike) -> NDArray[np.float64]:
        """Clip ``x`` (..., P) into the box and round lattice coordinates to the nearest level."""
        y = np.clip(np.asarray(x, dtype=float), self.lower, self.upper)
        if self.is_lattice.any():
            st = np.where(self.is_lattice, self.step, 1.0)
            snapped = self.lower + np.round((y - self.lower) / st) * st
            y = np.where(self.is_lattice, np.minimum(snapped, self.upper), y)
        return y

    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        """``n`` uniform points, shape (n, P), snapped to the lattice where there is one."""
        return self.snap(rng.uniform(self.lower, self.upper, size=(n, self.dim)))

    def window_grid(self, idx: NDArray[np.intp], low: NDArray[np.float64], width: NDArray[np.float64],
                    nx: int) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        """Grid points of the windows ``[low, low + width]`` of parameters ``idx``.

        Returns ``grid`` of shape (k, nx) and ``counts`` (k,): row ``j`` holds ``counts[j]``
        valid, equally spaced points (the rest repeat the last point). Continuous parameters
        always get ``nx`` points; a lattice parameter gets the lattice points in its window,
        thinned to a regular sub-lattice of at most ``nx`` points when the window is wide.
        """
        k = idx.size
        lo, hi, st = self.lower[idx], self.upper[idx], self.step[idx]
        grid = low[:, None] + width[:, None] * np.linspace(0.0, 1.0, nx)[None, :]
        counts = np.full(k, nx, dtype=np.intp)
        lat = st > 0
        if lat.any():
            s = st[lat]
            stride = np.maximum(1.0, np.ceil(width[lat] / ((nx - 1) * s) - 1e-9)) * s
            n_full = np.floor((hi[lat] - lo[lat]) / stride + 1e-9).astype(np.intp) + 1
            n = np.minimum(np.minimum(nx, n_full), np.floor(width[lat] / stride + 1e-9).astype(np.intp) + 1)
            n = np.maximum(n, 2)
            start = lo[lat] + np.round((low[lat] - lo[lat]) / s) * s
            start = np.clip(start, lo[lat], hi[lat] - (n - 1) * stride)
            start = lo[lat] + np.round((start - lo[lat]) / s) * s  # stay on the lattice after clipping
            j = np.minimum(np.arange(nx)[None, :], (n - 1)[:, None])
            grid[lat] = start[:, None] + j * stride[:, None]
            counts[lat] = n
        return grid, counts

    # -- serialisation ------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, NDArray[np.float64]]:
        return {"lower": self.lower.copy(), "upper": self.upper.copy(), "step": self.step.copy()}


def as_space(bounds: Any) -> Space:
    """Coerce bounds to a :class:`Space`.

    Accepts a :class:`Space`, a :class:`scipy.optimize.Bounds` or a sequence of ``(low, high)``
    pairs, i.e. an array of shape (P, 2) (SciPy's convention). For lower and upper arrays use
    ``Space(lower, upper)`` or ``Bounds(lower, upper)``.
    """
    if isinstance(bounds, Space):
        return bounds
    try:
        from scipy.optimize import Bounds
    except ImportError:  # pragma: no cover - scipy is a core dependency
        Bounds = ()
    if Bounds and isinstance(bounds, Bounds):
        return Space(bounds.lb, bounds.ub)
    if bounds is None:
        raise BoundsError("bounds are required: qiml searches a finite box")
    try:
        arr = np.asarray(bounds, dtype=float)
    except (TypeError, ValueError) as exc:
        raise BoundsError(f"bounds must be a sequence of (low, high) pairs: {exc}") from exc
    if arr.ndim == 2 and arr.shape[1] == 2:
        return Space(arr[:, 0], arr[:, 1])
    raise BoundsError(f"bounds must be a sequence of (low, high) pairs, got an array of shape {arr.shape}")


def _as_float_array(a: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        return np.array(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise BoundsError(f"{name} must be numeric: {exc}") from exc


def _as_float_vector(a: ArrayLike | Sequence[float], name: str) -> NDArray[np.float64]:
    arr = _as_float_array(a, name)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0:
        raise BoundsError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    return arr
