"""qiml: quantum-inspired machine learning.

Train models and minimise black-box losses without gradients: every parameter is a quantum
particle whose potential is the loss along its slice, so packets tunnel out of local minima.

>>> import numpy as np, qiml
>>> res = qiml.minimize(lambda x: float(np.sum(x**2)), [(-5, 5)] * 4, seed=0)
>>> res.fun < 1e-3
True
"""

__version__ = "0.1.0"

from .engine import QiML, minimize  # noqa: E402
from .errors import (  # noqa: E402
    BoundsError,
    CheckpointError,
    ConfigError,
    ObjectiveError,
    QimlError,
    ShapeError,
)
from .potentials import Objective  # noqa: E402
from .result import OptimizeResult  # noqa: E402
from .spaces import Space  # noqa: E402

__all__ = ["minimize", "QiML", "Space", "Objective", "OptimizeResult", "QimlError", "BoundsError",
           "ConfigError", "ObjectiveError", "ShapeError", "CheckpointError", "__version__"]
