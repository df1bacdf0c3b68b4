"""Pictures of a spiking network at work on one sample: the input, spike rasters and membrane traces.

:func:`plot_activity` draws, for one sample of a :class:`qiml.snn.network.Simulation` (what
:meth:`qiml.snn.SpikingClassifier.simulate` or :meth:`qiml.snn.SpikingNetwork.simulate` returns), the
input signals, a spike raster per layer and the membrane potentials of a few neurons of the last layer
with their thresholds. Needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ConfigError
from .network import Simulation, SpikingNetwork

__all__ = ["plot_activity"]


def plot_activity(net: SpikingNetwork, theta: np.ndarray, X: np.ndarray, sample: int = 0,
                  path: str | os.PathLike[str] | None = None, traces: int = 4) -> Any:
    """Input, rasters and membrane traces of ``net`` with parameters ``theta`` (P,) on ``X[sample]``.

    ``X`` holds the network's inputs (N, C * T), as the network reads them (an estimator standardises
    first: use :meth:`qiml.snn.SpikingClassifier.plot_activity`). Returns the figure; with ``path`` it is
    also written there (PNG) and closed.
    """
    if not 0 <= sample < len(X):
        raise ConfigError(f"sample must index one of the {len(X)} samples, got {sample}")
    import matplotlib.pyplot as plt

    x = net.check_inputs(X)[sample:sample + 1]
    sim: Simulation = net.simulate(x, np.asarray(theta, dtype=float)[None])
    signals = net.encode(x)[0]                                   # (C', T)
    L = len(sim.spikes)
    fig, axes = plt.subplots(L + 2, 1, figsize=(8, 1.6 * (L + 2)), sharex=True)
    T = signals.shape[-1]
    t = np.arange(T)
    ax = axes[0]
    if net.encoder.spiking:
        rows, cols = np.nonzero(signals)
        ax.scatter(cols, rows, s=4, marker="|", color="k")
    else:
        for c in range(signals.shape[0]):
            ax.plot(t, signals[c], lw=0.8)
    ax.set_ylabel(f"input\n({net.encoder.name})", fontsize=8)
    for layer, s in enumerate(sim.spikes):
        ax = axes[1 + layer]
        times, neurons = np.nonzero(s[0, 0])
        ax.scatter(times, neurons, s=6, marker="|", color="C0")
        ax.set_ylim(-0.5, s.shape[-1] - 0.5)
        ax.set_ylabel(f"layer {layer + 1}\nneuron", fontsize=8)
    ax = axes[-1]
    mem = sim.mem[-1][0, 0]                                      # (T, h)
    last = net.layers[-1]
    p = np.asarray(theta, dtype=float)[last.start:last.start + last.h * last.per].reshape(last.h, last.per)
    th = p[:, last.field("threshold")][:, 0] if last.learn_threshold else np.full(last.h, net.threshold)
    for j in range(min(traces, last.h)):
        line, = ax.plot(t, mem[:, j], lw=0.8, label=f"neuron {j}")
        ax.axhline(th[j], color=line.get_color(), lw=0.5, ls="--")
    ax.set_ylabel("membrane\n(-- threshold)", fontsize=8)
    ax.set_xlabel("time step")
    ax.legend(fontsize=6, ncol=min(traces, last.h), loc="upper right")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
