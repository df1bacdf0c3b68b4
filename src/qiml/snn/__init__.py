"""Spiking neural networks trained by QiML: leaky integrate-and-fire layers with trainable synaptic
delays, thresholds and time constants, input encoders and readouts, under the model contract.

Spikes are steps, so gradients do not exist; surrogate-gradient training (snnTorch, Norse) replaces
them by a smooth stand-in and cannot move integer delays at all. QiML needs only the loss.
"""

from typing import TYPE_CHECKING

from .encoders import ENCODERS, CurrentEncoder, DeltaEncoder, Encoder, LatencyEncoder, RateEncoder, get_encoder
from .network import SpikingNetwork
from .neurons import delayed_current, lif
from .readouts import READOUTS, readout_features

if TYPE_CHECKING:   # for type checkers; at run time they are imported on first use (scikit-learn is an extra)
    from .estimators import SpikingClassifier, SpikingRegressor

__all__ = ["SpikingNetwork", "SpikingClassifier", "SpikingRegressor", "Encoder", "CurrentEncoder", "RateEncoder",
           "LatencyEncoder", "DeltaEncoder", "ENCODERS", "get_encoder", "READOUTS", "readout_features", "lif",
           "delayed_current"]


def __getattr__(name: str) -> object:
    """The scikit-learn estimators, imported on first use (scikit-learn is the ``sklearn`` extra)."""
    if name in ("SpikingClassifier", "SpikingRegressor"):
        from . import estimators
        return getattr(estimators, name)
    raise AttributeError(f"module 'qiml.snn' has no attribute {name!r}")
