"""Neural networks for QiML: the model contract, architectures, activations, losses and incremental slice potentials.

Models here know no physics: :class:`NetworkObjective` answers "what is the loss along these
parameter slices?" for any :class:`Model` (quickly for a :class:`SlicedModel` such as :class:`MLP`),
and the engine does the rest (see :func:`qiml.training.fit_network`).
"""

from .activations import ACTIVATIONS, get_activation
from .losses import LOSSES, Loss, get_loss, softmax
from .mlp import MLP, quantize
from .model import Model, QuantizedModel, ReadoutModel, SlicedModel, Slicer, check_model
from .objective import NetworkObjective

__all__ = ["Model", "SlicedModel", "Slicer", "ReadoutModel", "QuantizedModel", "check_model", "MLP",
           "NetworkObjective", "quantize", "ACTIVATIONS", "LOSSES", "Loss", "get_activation", "get_loss", "softmax"]
