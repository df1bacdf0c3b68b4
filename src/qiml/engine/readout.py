"""Reading positions and widths out of packet densities (pure array functions).

``rho`` (k, n) are probabilities per grid point (rows sum to 1) on grids ``grid`` (k, n) with
``counts`` (k,) valid points per row. Positions are in the parameters' own units.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["READOUTS", "position", "spread"]

READOUTS = ("auto", "mean", "mode")

# In "auto" readout, the main peak is the connected run of grid points around the mode whose
# density stays above this fraction of the mode's density.
_PEAK_FRACTION = 0.05


def _valid(rho: NDArray[np.float64], counts: NDArray[np.intp]) -> NDArray[np.float64]:
    mask = np.arange(rho.shape[1])[None, :] < counts[:, None]
    r = np.where(mask, rho, 0.0)
    return r / r.sum(axis=1, keepdims=True)


def position(rho: NDArray[np.float64], grid: NDArray[np.float64], counts: NDArray[np.intp],
             method: str = "auto") -> NDArray[np.float64]:
    """Packet positions (k,).

    ``"mean"`` is the expectation <x>; ``"mode"`` the most probable grid point; ``"auto"`` the
    mean over the main peak only, which equals <x> for a single-peaked packet and does not
    land between the wells when the density has several peaks.
    """
    rho = _valid(rho, counts)
    if method == "mean":
        return np.sum(rho * grid, axis=1)
    mode = np.argmax(rho, axis=1)
    if method == "mode":
        return grid[np.arange(rho.shape[0]), mode]
    above = rho >= _PEAK_FRACTION * rho[np.arange(rho.shape[0]), mode][:, None]
    j = np.arange(rho.shape[1])[None, :]
    # first point below the threshold on each side of the mode bounds the peak
    below = ~above
    left = np.where(below & (j < mode[:, None]), j, -1).max(axis=1) + 1
    right = np.where(below & (j > mode[:, None]), j, rho.shape[1]).min(axis=1)
    peak = (j >= left[:, None]) & (j < right[:, None])
    w = np.where(peak, rho, 0.0)
    return np.sum(w * grid, axis=1) / np.sum(w, axis=1)


def spread(rho: NDArray[np.float64], grid: NDArray[np.float64], counts: NDArray[np.intp]) -> NDArray[np.float64]:
    """Standard deviation of each packet (k,), in parameter units."""
    rho = _valid(rho, counts)
    mean = np.sum(rho * grid, axis=1, keepdims=True)
    return np.sqrt(np.maximum(np.sum(rho * (grid - mean) ** 2, axis=1), 0.0))
