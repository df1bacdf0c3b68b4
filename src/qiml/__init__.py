"""qiml: quantum-inspired machine learning.

Train models and minimise black-box losses without gradients: every parameter is a quantum
particle whose potential is the loss along its slice, so packets tunnel out of local minima.

>>> import numpy as np, qiml
>>> res = qiml.minimize(lambda x: float(np.sum(x**2)), [(-5, 5)] * 4, seed=0)
>>> res.fun < 1e-3
True
"""

from ._version import __version__
from .engine import QiML, minimize
from .errors import (
    BoundsError,
    CheckpointError,
    ConfigError,
    ObjectiveError,
    QimlError,
    ShapeError,
)
from .objective import Objective
from .result import OptimizeResult
from .spaces import Space

__all__ = ["minimize", "QiML", "Space", "Objective", "OptimizeResult", "QimlError", "BoundsError",
           "ConfigError", "ObjectiveError", "ShapeError", "CheckpointError", "__version__"]
