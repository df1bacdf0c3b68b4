"""Leaky integrate-and-fire neurons with current-based synapses, in discrete time: the functional core.

One step of a layer of ``h`` neurons (snnTorch's ``Synaptic`` neuron, plus a refractory period)::

    syn[t] = alpha * syn[t-1] + I[t]                  synaptic current (alpha = exp(-dt / tau_syn))
    mem[t] = beta * mem[t-1] + syn[t]                  membrane potential (beta = exp(-dt / tau_mem))
    s[t]   = mem[t] >= threshold                       a spike (0 or 1)
    mem[t] -= s[t] * threshold   ("subtract")   or   mem[t] = 0 where s[t]   ("zero")

``I[t]`` is the input current: each synapse's weight times its presynaptic spike train (or input
signal) delayed by the synapse's integer delay, plus a bias; a recurrent layer adds ``s[t-1] @ V``.
For ``refractory`` steps after a spike a neuron neither integrates nor fires (its synaptic current
still decays and accumulates). Every function is vectorised over leading axes: candidate
parameter vectors (R) and samples (N); time is the loop.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["RESETS", "delayed_current", "lif"]

RESETS = ("subtract", "zero")


def delayed_current(x: NDArray[np.float64], w: NDArray[np.float64], d: NDArray[np.intp] | None,
                    b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Input currents ``I[..., n, t, j] = sum_i w[..., j, i] * x[n, i, t - d[..., j, i]] + b[..., j]``.

    Parameters
    ----------
    x : (N, m, T)
        Presynaptic signals (spikes or currents) of ``m`` inputs over ``T`` steps; ``x`` before step 0 is 0.
    w : (..., h, m)
        Synaptic weights of ``h`` neurons.
    d : (..., h, m) ints in ``[0, T)``, or None
        Synaptic delays in steps (None: all 0).
    b : (..., h)
        Biases (a constant current).

    Returns
    -------
    (..., N, T, h) currents.
    """
    N, m, T = x.shape
    lead = w.shape[:-2]
    if d is None or not np.any(d):
        cur = np.einsum("...jm,nmt->...ntj", w, x, optimize=True)
    else:
        cur = np.zeros((*lead, N, T, w.shape[-2]))
        for delay in np.unique(d):                 # one pass per distinct delay: cost (D + 1) x the undelayed sum
            wd = np.where(d == delay, w, 0.0)
            shifted = x[:, :, : T - delay] if delay else x
            cur[..., delay:, :] += np.einsum("...jm,nmt->...ntj", wd, shifted, optimize=True)
    return cur + b[..., None, None, :]


def lif(current: NDArray[np.float64], threshold: NDArray[np.float64], beta: NDArray[np.float64],
        alpha: NDArray[np.float64], *, reset: str = "subtract", refractory: int = 0,
        recurrent: NDArray[np.float64] | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Simulate a layer: spikes and membrane potentials (..., N, T, h) from input currents (..., N, T, h).

    ``threshold``, ``beta`` and ``alpha`` are (..., h), broadcast over samples and time; ``recurrent``
    (..., h, h) adds ``s[t-1] @ recurrent`` to the input at step ``t``. The membrane potential returned
    is the one the threshold was compared with, before the reset.
    """
    *lead, N, T, h = current.shape
    th, be, al = (np.asarray(a, dtype=float)[..., None, :] for a in (threshold, beta, alpha))   # (..., 1, h)
    syn = np.zeros((*lead, N, h))
    mem = np.zeros((*lead, N, h))
    s = np.zeros((*lead, N, h))
    wait = np.zeros((*lead, N, h), dtype=np.int64) if refractory else None
    spikes = np.empty(current.shape)
    mems = np.empty(current.shape)
    for t in range(T):
        inp = current[..., t, :]
        if recurrent is not None:
            inp = inp + s @ recurrent
        syn = al * syn + inp
        if wait is None:
            mem = be * mem + syn
            s = (mem >= th).astype(float)
        else:
            free = wait == 0
            mem = np.where(free, be * mem + syn, mem)
            s = ((mem >= th) & free).astype(float)
            wait = np.where(s > 0, refractory, np.maximum(wait - 1, 0))
        spikes[..., t, :] = s
        mems[..., t, :] = mem
        mem = mem - s * th if reset == "subtract" else mem * (1.0 - s)
    return spikes, mems
