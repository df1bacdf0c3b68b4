"""Neural networks for QiML: architectures, activations, losses and incremental slice potentials.

Models here know no physics: :class:`NetworkObjective` answers "what is the loss along these
parameter slices?" quickly, and the engine does the rest (see :func:`qiml.training.fit_network`).
"""

from .activations import ACTIVATIONS, get_activation
from .losses import LOSSES, Loss, get_loss, softmax
from .mlp import MLP, quantize
from .objective import NetworkObjective

__all__ = ["MLP", "NetworkObjective", "quantize", "ACTIVATIONS", "LOSSES", "Loss", "get_activation", "get_loss",
           "softmax"]
