"""Readout features of a spiking layer: what a linear readout sees, from spikes and membrane traces.

Each readout maps the last layer's spikes and membrane potentials (..., N, T, h) to features
(..., N, F), scaled to about [0, 1] so that one readout weight scale suits any series length:

==============  ==========  ====================================================================
readout         F           feature
==============  ==========  ====================================================================
``counts``      h           spikes over the whole series / T (a firing rate)
``bins``        h * bins    spikes in each of ``bins`` equal time bins / bin length (when they fire)
``first``       h           time of the first spike / T (1 for a neuron that never fires)
``max_mem``     h           largest membrane potential / threshold
``mean_mem``    h           mean membrane potential / threshold
==============  ==========  ====================================================================
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError

__all__ = ["READOUTS", "readout_width", "readout_features"]

READOUTS = ("counts", "bins", "first", "max_mem", "mean_mem")


def readout_width(readouts: tuple[str, ...], h: int, bins: int) -> int:
    """Features per sample of ``readouts`` over ``h`` neurons."""
    return sum(h * bins if r == "bins" else h for r in readouts)


def readout_features(readouts: tuple[str, ...], spikes: NDArray[np.float64], mem: NDArray[np.float64],
                     threshold: NDArray[np.float64], bins: int = 4) -> NDArray[np.float64]:
    """Features (..., N, F) of spikes and membrane potentials (..., N, T, h); ``threshold`` (..., h)."""
    T = spikes.shape[-2]
    th = np.asarray(threshold, dtype=float)[..., None, :]          # (..., 1, h)
    parts = []
    for r in readouts:
        if r == "counts":
            parts.append(spikes.sum(axis=-2) / T)
        elif r == "bins":
            edges = np.linspace(0, T, bins + 1).round().astype(np.intp)
            parts += [spikes[..., a:b, :].sum(axis=-2) / max(1, b - a) for a, b in zip(edges[:-1], edges[1:],
                                                                                         strict=True)]
        elif r == "first":
            fired = spikes.any(axis=-2)
            parts.append(np.where(fired, spikes.argmax(axis=-2), T) / T)
        elif r == "max_mem":
            parts.append(mem.max(axis=-2) / th)
        elif r == "mean_mem":
            parts.append(mem.mean(axis=-2) / th)
        else:
            raise ConfigError(f"unknown readout {r!r}; choose from {READOUTS}")
    return np.concatenate(parts, axis=-1)
