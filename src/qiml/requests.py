"""The request contract between the engine and a loss: what the engine asks to be evaluated.

The engine asks for potentials through a :class:`SliceRequest`: a base point ``x`` (P,) and k
sparse directions (``support`` (k, m) parameters moved by ``coef`` (k, m)), each with its grid of
step lengths (``grid`` (k, nx) with ``counts`` (k,) valid entries per row). The answer is the loss
at ``x`` and ``V`` (k, nx): ``V[j, g]`` is the loss at ``x + grid[j, g] * d_j`` (an axis slice moves
one parameter, m = 1; padded entries past ``counts[j]`` are ignored). A :class:`PopulationRequest`
asks for plain points (a walker generation, a GA refinement). :func:`check_values` is the one check
of what a loss answers. :class:`qiml.objective.Objective` answers any request for a black-box loss;
structured models (networks) answer slice requests incrementally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ObjectiveError

__all__ = ["SliceRequest", "PopulationRequest", "Request", "check_values", "NAN_POLICIES"]

NAN_POLICIES = ("raise", "inf")


@dataclass(frozen=True)
class SliceRequest:
    """Slices of the loss through ``x`` along directions ``d_j``: points ``x + t d_j`` at ``t = grid[j]``.

    A direction is sparse: it moves the parameters ``support[j]`` (m,) by ``t * coef[j]`` (rows
    padded with ``coef = 0``). An axis slice is the unit direction of one parameter (m = 1), a
    neuron block moves one neuron's fan-in, a rotated basis direction moves every parameter.
    With a ``space`` the points are snapped into it (clipped to the box, rounded to lattices).

    Rows are laid out as ``x`` itself, then the valid grid points of every slice in order, except
    that a slice's ``centre`` point (its step ``t = 0``, i.e. ``x`` again) is not repeated: its
    value is row 0's. ``centre[j] = -1`` when the grid does not hold ``x``.
    """

    x: NDArray[np.float64]          # (P,)
    support: NDArray[np.intp]       # (k, m) parameters each direction moves
    coef: NDArray[np.float64]       # (k, m) the direction's components on them
    grid: NDArray[np.float64]       # (k, nx) step lengths t, rows padded past counts
    counts: NDArray[np.intp]        # (k,)
    space: Any = None               # Space the points are snapped into, or None
    centre: NDArray[np.intp] | None = None   # (k,) grid index of t = 0 per slice, -1: none

    def _rows_per_slice(self) -> NDArray[np.intp]:
        return self.counts if self.centre is None else self.counts - (self.centre >= 0)

    @property
    def n_rows(self) -> int:
        """Candidate rows: ``x`` itself, then every valid grid point of every slice but its centre."""
        return 1 + int(self._rows_per_slice().sum())

    def _locate(self, start: int, stop: int | None) -> tuple[NDArray[np.float64], NDArray[np.bool_],
                                                               NDArray[np.intp], NDArray[np.intp]]:
        """Copies of ``x`` for rows ``start:stop``, which of them are slice rows, and their (slice, point)."""
        stop = self.n_rows if stop is None else stop
        r = np.arange(start, stop)
        X = np.repeat(self.x[None, :], r.size, axis=0)
        m = self._rows_per_slice()
        ends = np.cumsum(m)
        sl = r[r >= 1] - 1                          # position among slice rows
        j = np.searchsorted(ends, sl, side="right")  # which slice
        g = sl - (ends[j] - m[j])                   # which of its rows
        if self.centre is not None:
            c = self.centre[j]
            g = g + ((c >= 0) & (g >= c))           # skip the centre point
        return X, r >= 1, j, g

    def split(self, F: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        """Turn values of all rows (n_rows,) into ``(f(x), V (k, nx))``, padding with each row's last value."""
        m = self._rows_per_slice()
        starts = np.cumsum(m) - m
        g = np.minimum(np.arange(self.grid.shape[1])[None, :], (self.counts - 1)[:, None])
        if self.centre is None:
            return float(F[0]), F[1 + starts[:, None] + g]
        c = self.centre[:, None]
        q = g - ((c >= 0) & (g > c))
        return float(F[0]), np.where(g == c, F[0], F[np.minimum(1 + starts[:, None] + q, F.size - 1)])

    def point(self, j: int, g: int) -> NDArray[np.float64]:
        """The point (P,) of slice ``j`` at grid index ``g``."""
        X = self.x.copy()
        np.add.at(X, self.support[j], self.grid[j, g] * self.coef[j])
        return X if self.space is None else self.space.snap(X)

    @classmethod
    def along_axes(cls, x: NDArray[np.float64], idx: NDArray[np.intp], values: NDArray[np.float64],
                   counts: NDArray[np.intp], space: Any = None) -> SliceRequest:
        """Axis slices: parameter ``idx[j]`` takes the ``values[j]`` (k, nx), the others stay at ``x``."""
        idx = np.asarray(idx, dtype=np.intp)
        return cls(x, idx[:, None], np.ones((idx.size, 1)), values - x[idx, None], counts, space)

    @classmethod
    def along_lines(cls, x: NDArray[np.float64], directions: NDArray[np.float64], grid: NDArray[np.float64],
                    counts: NDArray[np.intp], space: Any = None, centre: NDArray[np.intp] | None = None
                    ) -> SliceRequest:
        """Dense directions (k, P): every parameter may move."""
        k, P = directions.shape
        return cls(x, np.tile(np.arange(P, dtype=np.intp), (k, 1)), np.asarray(directions, dtype=float),
                   grid, counts, space, centre)

    @property
    def axes(self) -> NDArray[np.intp] | None:
        """The parameters (k,) when every direction is one parameter's unit axis, else None."""
        if self.support.shape[1] == 1 and np.all(self.coef == 1.0):
            return self.support[:, 0]
        return None

    def directions(self) -> NDArray[np.float64]:
        """The directions as dense rows (k, P)."""
        D = np.zeros((self.support.shape[0], self.x.size))
        np.add.at(D, (np.arange(D.shape[0])[:, None], self.support), self.coef)
        return D

    def inside(self) -> NDArray[np.bool_]:
        """Whether each direction's valid points (k,) lie in the space's box, so that snapping only
        rounds to lattices; structured objectives may then compute ``x + t d`` without the snap."""
        if self.space is None:
            return np.ones(self.counts.size, dtype=bool)
        valid = np.arange(self.grid.shape[1])[None, :] < self.counts[:, None]
        t = np.where(valid, self.grid, 0.0)
        tol = 1e-9 * self.space.width[self.support]
        moved = self.x[self.support][:, None, :] + t[:, :, None] * self.coef[:, None, :]   # (k, nx, m)
        lo, hi = self.space.lower[self.support][:, None, :], self.space.upper[self.support][:, None, :]
        return np.all((moved >= lo - tol[:, None, :]) & (moved <= hi + tol[:, None, :]), axis=(1, 2))

    def rows(self, start: int = 0, stop: int | None = None) -> NDArray[np.float64]:
        """Candidate rows ``start:stop`` as an array (stop - start, P)."""
        X, on_slice, j, g = self._locate(start, stop)
        r = np.flatnonzero(on_slice)
        np.add.at(X, (r[:, None], self.support[j]), self.grid[j, g][:, None] * self.coef[j])
        if self.space is not None and r.size:
            X[r] = self.space.snap(X[r])
        return X

    def moved(self, j: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Direction ``j``'s distinct parameters (m,) and their values at its rows (valid points but the centre)."""
        supp = np.unique(self.support[j])
        m = self._rows_per_slice()
        start = 1 + int(np.sum(m[:j]))
        R = self.rows(start, start + int(m[j]))
        return supp, R[:, supp]


@dataclass(frozen=True)
class PopulationRequest:
    """Plain candidate points (n, P), as in a genetic-algorithm generation."""

    X: NDArray[np.float64]

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def rows(self, start: int = 0, stop: int | None = None) -> NDArray[np.float64]:
        return self.X[start:stop]


Request = SliceRequest | PopulationRequest


def check_values(F: Any, n: int, nan_policy: str = "raise") -> NDArray[np.float64]:
    """Validate ``n`` loss values: shape (n,), real, no ``-inf``; NaN raises or becomes ``+inf``.

    ``+inf`` is allowed and means "infeasible": such points get the top of each slice's
    potential (a wall). ``-inf`` would make every other point irrelevant, so it is an error.
    """
    if F is None:
        raise ObjectiveError(f"objective returned None for a batch of {n} points; it must return {n} real numbers "
                             "(is a `return` missing?)")
    if isinstance(F, np.ma.MaskedArray) and np.ma.getmaskarray(F).any():
        # np.asarray would hand on the data under the mask, values the objective meant to withhold
        masked = int(np.ma.getmaskarray(F).sum())
        raise ObjectiveError(f"objective values must be real numbers, got a masked array with {masked} of "
                             f"{np.size(F)} entries masked; return plain values (+inf marks an infeasible "
                             "point, NaN one with nan_policy='inf')")
    try:
        raw = np.asarray(F)
    except (TypeError, ValueError) as exc:
        raise ObjectiveError(f"objective values must be real numbers: {exc}") from exc
    if raw.dtype.kind not in "iuf":
        # bools, strings, objects (None, Decimal) and complex numbers are not losses
        big = None
        if raw.dtype.kind == "O":   # NumPy keeps Python ints beyond int64/uint64 as objects: say so
            items = list(raw.flat)
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
                big = next((v for v in items if isinstance(v, int) and not -2**63 <= v < 2**64), None)
        if big is not None:
            raise ObjectiveError(f"objective values must be real numbers that fit in 64-bit ints or floats, got "
                                 f"Python ints beyond the 64-bit integer range ({'a negative' if big < 0 else 'an'} "
                                 f"int of {big.bit_length()} bits; NumPy made an array of dtype object); "
                                 "return floats")
        raise ObjectiveError(f"objective values must be real numbers (ints or floats), got an array of dtype "
                             f"{raw.dtype} ({type(F).__name__})")
    arr = raw.astype(float)
    if arr.shape != (n,):
        if arr.size == n and arr.ndim == 2 and 1 in arr.shape:
            arr = arr.reshape(n)
        else:
            raise ObjectiveError(f"expected {n} objective values (shape ({n},)), got shape {arr.shape}")
    nan = np.isnan(arr)
    if nan.any():
        if nan_policy == "raise":
            raise ObjectiveError(f"objective returned NaN for {int(nan.sum())} of {n} points "
                                 "(pass nan_policy='inf' to treat NaN as an infeasible, infinite loss)")
        arr = np.where(nan, np.inf, arr)
    if np.any(arr == -np.inf):
        raise ObjectiveError("objective returned -inf: the loss must be bounded below")
    return arr
