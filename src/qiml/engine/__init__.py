"""The engine joins solvers (physics) and objectives (ML): ask/tell loop, schedules, readout,
refinement and checkpoints."""

from .minimize import minimize
from .optimizer import QiML, default_max_evals
from .options import Options

__all__ = ["QiML", "minimize", "Options", "default_max_evals"]
