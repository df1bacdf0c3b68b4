"""Engine options: one object, defaults documented in one place (pycma style).

==================  ===============  ==========================================================
option              default          meaning
==================  ===============  ==========================================================
``search``          "auto"           how the engine searches: "slices" (1-D packets along
                                     directions, below), "walkers" (a walker ensemble in all P
                                     dimensions at once, :mod:`qiml.engine.walkers`), "hybrid"
                                     (walkers find a basin, adapted slices converge in it, a
                                     stall in the slices restarts the walkers with twice as many)
                                     or "auto": slices until their first stall, then a portfolio:
                                     each stall hands over to the walkers while they have had
                                     less than half the evaluations, else the slices restart
                                     (slices alone above 1000 parameters)
``walkers``         None             walkers in the first restart (None: ``max(16, 4 + 3 ln P)``;
                                     doubled at each restart)
``walker_sigma``    0.2              the walkers' first diffusion step, in box widths
``walker_drift``    0.5              after branching, walkers move this fraction of the way to
                                     the Boltzmann-weighted centroid (0 = pure DMC)
``walker_hbar``     (1.0, 0.05)      the walkers' hbar (dtau = 1), annealed over the first
                                     ``30 + 10 P`` generations of each restart
``nx``              None             grid points per slice window (None: 64 for axes, 3 for
                                     adapted directions, doubled at each restart; 256 = the
                                     full int8 lattice)
``nx_min``          3                adapted directions: grid points of a slice whose last visit
                                     had one minimum (coarse slices once the landscape is simple)
``directions``      "auto"           slice directions (:mod:`qiml.engine.directions`): "axes",
                                     "adapted" (a basis learned from the run's displacements) or
                                     "auto" (axes until the sweeps show a shape, then the adapted
                                     basis; axes on lattices and above 1000 parameters) or
                                     "curvature" (each block's directions from the model's
                                     curvature, e.g. a network neuron's Gauss-Newton block)
``restart``         "ipop"           adapted directions, on a stall: "ipop" restarts from a random
                                     point with a fresh basis and twice the grid points per slice,
                                     "best" reopens the windows around the best point
``basis_rate``      1.5              the adapted basis learns at ``basis_rate / P`` per sweep
``grow_max``        2.0              adapted directions: a window grows at most by this factor
                                     per visit (it halves when no grid point beats x)
``hbar``            (0.03, 1e-4)     Planck constant; a pair anneals geometrically over the run
``alpha``           1.0              potential strength (alpha/hbar ~ inverse temperature)
``update``          "sequential"     axes: "sequential" sweeps, "random" subsets or mixing "jacobi"
``block``           1                directions sliced per iteration (sequential / random;
                                     curvature: at most this many of one block)
``mixing``          0.5              Jacobi step: x <- (1 - mixing) x + mixing * readout
``readout``         "mean"           "mean" <x>, "auto" (mean of the main peak) or "mode"
``shrink``          0.8              axes: a window's width shrinks at most by this factor per update
``window``          4.0              ... and not below this many packet standard deviations
``grow``            1.0              axes: a window whose packet lands in its outer 15% grows by this
                                     factor instead (trust-region style; 1 = never grow)
``patience``        2                sweeps with no new best before windows reopen to the box
                                     (adapted directions: 8x as many, or every window collapsed)
``reheat``          True             a reopening also restarts the hbar anneal (over what is left)
``stall_lines``     True             a reopening first sweeps slices along a random orthonormal
                                     basis through the best point (continuous spaces only)
``sweep_lines``     False            after each sequential sweep, one slice along the sweep's net
                                     displacement (Powell's conjugate direction; continuous spaces)
``refine``          0.1              fraction of the budget for the GA refinement (0 = none;
                                     ``search="slices"`` only: the walkers are a population)
``popsize``         None             GA population (None: ``refine.default_popsize(P)``)
``normalize``       True             rescale every slice to [0, 1] (hbar becomes relative)
``noisy``           False            the loss is a noisy estimate (e.g. a fresh mini-batch per
                                     request): scores of different requests are not compared, the
                                     best is the latest request's best point
``nan_policy``      "raise"          "raise" on NaN losses, or "inf": treat NaN as infeasible
``max_batch_bytes`` 64 MiB           bound on one batch of candidate rows
``workers``         1                processes for the objective's batches of rows and the
                                     solver's chunks of packets (-1: all cores; :mod:`qiml.parallel`)
==================  ===============  ==========================================================

``search="auto"`` was chosen by ``qiml bench bbob`` (``docs/results/bbob``). Any other keyword is a
setting of the chosen solver (for finite differences ``time``, ``steps``, ``dt``, ``theta``, ``mass``;
see each class in :mod:`qiml.solvers`) and is checked by it. The axis defaults were chosen by
the ``update-schemes`` study (``docs/results/update-schemes``), those of the adapted directions by
the ``bbob-levers`` study (``docs/results/bbob-levers/levers.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..parallel import check_workers
from ..requests import NAN_POLICIES
from ..validation import check_real, is_int
from .directions import STRATEGIES
from .readout import READOUTS
from .schedules import Schedule, as_schedule

__all__ = ["Options", "UPDATES", "SEARCHES", "split_options"]

UPDATES = ("sequential", "random", "jacobi")
SEARCHES = ("auto", "slices", "walkers", "hybrid")
MAX_NX = 65536


@dataclass
class Options:
    search: str = "auto"
    walkers: int | None = None
    walker_sigma: float = 0.2
    walker_drift: float = 0.5
    walker_hbar: Any = (1.0, 0.05)
    nx: int | None = None
    nx_min: int = 3
    directions: str = "auto"
    basis_rate: float = 1.5
    grow_max: float = 2.0
    restart: str = "ipop"
    hbar: Any = (0.03, 1e-4)
    alpha: Any = 1.0
    update: str = "sequential"
    block: int = 1
    mixing: float = 0.5
    readout: str = "mean"
    shrink: float = 0.8
    window: float = 4.0
    grow: float = 1.0
    patience: int = 2
    reheat: bool = True
    stall_lines: bool = True
    sweep_lines: bool = False
    refine: float = 0.1
    popsize: int | None = None
    normalize: bool = True
    noisy: bool = False
    nan_policy: str = "raise"
    max_batch_bytes: int = 64 * 2**20
    workers: int = 1

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise ConfigError(f"search must be one of {SEARCHES}, got {self.search!r}")
        if self.walkers is not None and (not is_int(self.walkers) or self.walkers < 4):
            raise ConfigError(f"walkers must be None or an int >= 4, got {self.walkers!r}")
        if not 0.0 < check_real("walker_sigma", self.walker_sigma) <= 1.0:
            raise ConfigError(f"walker_sigma must be in (0, 1] (box widths), got {self.walker_sigma!r}")
        if not 0.0 <= check_real("walker_drift", self.walker_drift) <= 1.0:
            raise ConfigError(f"walker_drift must be in [0, 1], got {self.walker_drift!r}")
        self.walker_hbar_schedule: Schedule = as_schedule(self.walker_hbar, "walker_hbar")
        if self.nx is not None and (not is_int(self.nx) or not 3 <= self.nx <= MAX_NX):
            raise ConfigError(f"nx must be None or an int in [3, {MAX_NX}] (grid points per slice), got {self.nx!r}")
        if not is_int(self.nx_min) or not 3 <= self.nx_min <= MAX_NX:
            raise ConfigError(f"nx_min must be an int in [3, {MAX_NX}], got {self.nx_min!r}")
        if self.directions not in STRATEGIES:
            raise ConfigError(f"directions must be one of {STRATEGIES}, got {self.directions!r}")
        if self.restart not in ("best", "ipop"):
            raise ConfigError(f"restart must be 'best' or 'ipop', got {self.restart!r}")
        if not check_real("grow_max", self.grow_max) >= 1.0:
            raise ConfigError(f"grow_max must be >= 1, got {self.grow_max!r}")
        if not 0.0 < check_real("basis_rate", self.basis_rate) <= 10.0:
            raise ConfigError(f"basis_rate must be in (0, 10], got {self.basis_rate!r}")
        self.hbar_schedule: Schedule = as_schedule(self.hbar, "hbar")
        self.alpha_schedule: Schedule = as_schedule(self.alpha, "alpha")
        if self.update not in UPDATES:
            raise ConfigError(f"update must be one of {UPDATES}, got {self.update!r}")
        if not is_int(self.block) or self.block < 1:
            raise ConfigError(f"block must be a positive int, got {self.block!r}")
        if not 0.0 < check_real("mixing", self.mixing) <= 1.0:
            raise ConfigError(f"mixing must be in (0, 1], got {self.mixing!r}")
        if self.readout not in READOUTS:
            raise ConfigError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        if not 0.0 < check_real("shrink", self.shrink) <= 1.0:
            raise ConfigError(f"shrink must be in (0, 1], got {self.shrink!r}")
        if not check_real("grow", self.grow) >= 1.0:
            raise ConfigError(f"grow must be >= 1, got {self.grow!r}")
        if not check_real("window", self.window) > 0.0:
            raise ConfigError(f"window must be > 0, got {self.window!r}")
        if not is_int(self.patience) or self.patience < 1:
            raise ConfigError(f"patience must be a positive int, got {self.patience!r}")
        for flag in ("reheat", "stall_lines", "sweep_lines", "normalize", "noisy"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if not 0.0 <= check_real("refine", self.refine) < 1.0:
            raise ConfigError(f"refine must be in [0, 1), got {self.refine!r}")
        if self.popsize is not None and (not is_int(self.popsize) or self.popsize < 4):
            raise ConfigError(f"popsize must be an int >= 4 or None, got {self.popsize!r}")
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(f"nan_policy must be one of {NAN_POLICIES}, got {self.nan_policy!r}")
        if not is_int(self.max_batch_bytes) or self.max_batch_bytes < 1:
            raise ConfigError(f"max_batch_bytes must be a positive int, got {self.max_batch_bytes!r}")
        check_workers(self.workers)

    def describe(self) -> dict[str, Any]:
        """JSON-able description (schedules described, not pickled), for checkpoints and reports."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["hbar"] = self.hbar_schedule.describe()
        d["alpha"] = self.alpha_schedule.describe()
        d["walker_hbar"] = self.walker_hbar_schedule.describe()
        return d


def split_options(options: dict[str, Any], solver_settings: tuple[str, ...]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword options into engine options and the settings ``solver_settings`` of the solver."""
    names = {f.name for f in fields(Options)}
    unknown = sorted(set(options) - names - set(solver_settings))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown}; engine options are {sorted(names)}, "
                          f"the solver's settings are {list(solver_settings)}")
    shared = sorted(set(options) & names & set(solver_settings))
    if shared:
        # e.g. `walkers`: the engine's ensemble size and the mesoscopic solver's walker count; guessing is wrong
        raise ConfigError(f"option(s) {shared} name both an engine option and a setting of the solver; pass the "
                          "solver's as an instance (e.g. solver=qiml.solvers.Mesoscopic(method='walkers', walkers=N)) "
                          "and the engine's as a keyword")
    engine = {k: v for k, v in options.items() if k in names}
    solver = {k: v for k, v in options.items() if k not in names}
    return engine, solver
