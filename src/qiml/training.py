"""Training networks with QiML: the engine joined to a network objective.

This is the one place that knows both sides: it builds a :class:`qiml.nn.NetworkObjective`
and a search space (box or int lattice) for any :class:`qiml.nn.Model` (an :class:`qiml.nn.MLP`
by default everywhere) and runs :func:`qiml.minimize` on them. The scikit-learn estimators and
the studies use it. Features that need more than the plain contract are switched on by the
model's optional capabilities (see :mod:`qiml.nn.model`) and refused with a
:class:`qiml.ConfigError` for a model without them: ``bits`` (:class:`qiml.nn.QuantizedModel`),
``output="solve"`` (:class:`qiml.nn.ReadoutModel`) and ``directions="curvature"`` (a
:class:`qiml.nn.SlicedModel` whose slicer has ``curvature``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .engine import minimize
from .errors import ConfigError, ShapeError
from .nn import Model, NetworkObjective, QuantizedModel, ReadoutModel, check_model
from .nn.losses import Loss, get_loss
from .nn.model import check_inputs, check_theta
from .nn.objective import CURVATURE_LOSSES, check_targets
from .random import SeedLike, make_rng
from .result import OptimizeResult
from .spaces import Space

__all__ = ["fit_network", "network_options", "NETWORK_OPTIONS", "AXIS_NETWORK_OPTIONS"]

#: Engine options that differ from the black-box defaults for networks with a derivative (a
#: differentiable loss, MSE or cross-entropy, and activations with a derivative). Slices follow each
#: neuron's Gauss-Newton directions (``directions="curvature"``: a direction inside one neuron's
#: fan-in moves only its pre-activation, so the network objective answers it incrementally), up to
#: 16 directions of one neuron per request, 3 grid points each; windows reopen around the best point
#: on a stall. Chosen by the probes of issue 13 and the ``nn-levers`` study
#: (``docs/results/nn-levers``); the standing tables: ``docs/results/nn-tasks/summary.md``.
NETWORK_OPTIONS: dict[str, Any] = {"search": "slices", "directions": "curvature", "block": 16, "restart": "best",
                                   "sweep_lines": False, "stall_lines": False, "refine": 0.0}

#: Engine options for networks on int lattices (``bits``: a rotated direction leaves the lattice)
#: and for models without a derivative (step, sign or staircase activations; zero-one, hinge or
#: MAE losses), chosen by the ``nn-defaults`` study (``docs/results/nn-defaults``): axis slices of
#: 64 points, which see a piecewise-constant loss's plateaus, windows that may grow again (``grow``)
#: and a slice along each sweep's displacement (``sweep_lines``); blocks of 8 amortise the
#: per-request work.
AXIS_NETWORK_OPTIONS: dict[str, Any] = {"search": "slices", "directions": "axes", "nx": 64, "block": 8, "grow": 1.5,
                                        "sweep_lines": True, "stall_lines": False, "refine": 0.0}


def fit_network(model: Model, X: ArrayLike, y: ArrayLike, loss: str | Loss = "mse", *, bits: int | None = None,
                bound: float = 3.0, batch_size: int | None = None, l2: float = 0.0, output: str = "auto",
                x0: ArrayLike | None = None,
                seed: SeedLike = None, max_evals: int | None = None, max_iter: int | None = None,
                max_time: float | None = None, target: float | None = None,
                callback: Callable[[OptimizeResult], Any] | None = None, progress: bool = False,
                validation: tuple[ArrayLike, ArrayLike] | None = None, **options: Any) -> OptimizeResult:
    """Train ``model`` on ``(X, y)`` without gradients; returns the result with ``x`` = the parameters (P,).

    Parameters
    ----------
    model : qiml.nn.Model
        Any model (:class:`qiml.nn.MLP`, or your own implementing :class:`qiml.nn.Model`).
    X, y, loss, batch_size, l2
        As for :class:`qiml.nn.NetworkObjective`.
    output : {"auto", "params", "solve"}
        ``"solve"`` (a :class:`qiml.nn.ReadoutModel`, MSE): the output layer is solved by least
        squares wherever the loss is asked for and the engine moves the rest only (the result's
        ``x`` still holds every parameter, the output layer solved on all the data). ``"auto"``
        (default): ``"solve"`` for MSE on a float model with a readout and a hidden layer (an MLP
        with one), else ``"params"``.
    bits : {None, 4, 8}
        Search on the signed int lattice of :meth:`qiml.nn.QuantizedModel.quantized_space` (an
        MLP: a scale per layer, ``bound / (2^(bits-1) - 1)``), so the result is quantized by
        construction (a wide window searches a sub-lattice of ``nx`` levels, a narrow one every
        level) with :data:`AXIS_NETWORK_OPTIONS`.
    bound : float
        Parameters live in ``[-bound, bound]`` (``model.space(bound)``).
    x0 : array_like (P,), optional
        Start; default ``model.init`` drawn from ``seed`` (an MLP: Glorot-uniform), snapped to the lattice.
    seed, max_evals, max_iter, max_time, target, callback, progress, **options
        As for :func:`qiml.minimize`; ``options`` override :func:`network_options`. With a
        ``batch_size`` smaller than N the engine runs with ``noisy=True``: the result is the latest
        request's best point, not the lowest mini-batch score ever seen. ``callback`` sees the
        engine's intermediate results, whose ``x`` are the parameters it moves (the hidden layers
        only under ``output="solve"``); the returned result holds the whole network.
    validation : (X_val, y_val), optional
        Held-out data. After every iteration whose best point moved, that point (its readout solved
        on the training data) is scored on it: accuracy, then loss, for a classification loss; the
        loss otherwise. The result's ``x`` is then the best-scoring snapshot, not the last best on
        the training loss (early stopping's selection, without stopping: the budget still runs out),
        ``fun`` its training loss, and ``validation`` = ``{"score", "loss", "nit", "checks"}`` of it.
    """
    check_model(model)
    if bits is not None and output == "solve":
        raise ConfigError("output='solve' solves a float output layer; a quantized network (bits) needs "
                          "output='params'")
    if bits is not None and not isinstance(model, QuantizedModel):
        raise ConfigError(f"bits={bits!r} needs a model with int lattices (a quantized_space(bound, bits) method, "
                          f"see qiml.nn.QuantizedModel); {type(model).__name__} has none: use bits=None")
    if output == "auto":
        output = ("solve" if bits is None and isinstance(model, ReadoutModel) and model.readout_offset >= 1
                  and get_loss(loss).name == "mse" else "params")
    rng = make_rng(seed)
    obj_seed = int(rng.integers(2**31))
    objective = NetworkObjective(model, X, y, loss, batch_size=batch_size, l2=l2, seed=obj_seed, output=output,
                                 nan_policy=options.get("nan_policy", "raise"))
    # a fresh mini-batch per request makes the loss noisy: see the engine's ``noisy`` option
    opts = {**network_options(model, loss, bits), "noisy": objective.batch_size is not None, **options}
    if opts.get("directions") == "curvature" and not objective.has_curvature:
        raise ConfigError(f"directions='curvature' needs the model's curvature (a qiml.nn.SlicedModel whose slicer "
                          f"has curvature(x, params), as qiml.nn.MLP's); {type(model).__name__} has none: use "
                          "directions='axes' or 'adapted'")
    P = objective.dim
    if bits is None:
        full_space = model.space(bound)
    else:
        assert isinstance(model, QuantizedModel)   # checked above
        full_space = model.quantized_space(bound, bits)
    space = (Space(full_space.lower[:P], full_space.upper[:P], full_space.step[:P]) if P < model.n_params
             else full_space)
    start = space.snap((_initial(model, rng) if x0 is None else check_theta(model, x0))[:P])
    if opts["directions"] != "axes" and "blocks" not in opts and hasattr(model, "neuron_blocks"):
        # adapted or curvature directions inside each neuron's fan-in
        opts["blocks"] = [b for b in model.neuron_blocks() if b[0] < P]
    watch = None if validation is None else _ValidationWatch(objective, *validation)
    if watch is not None:
        user_callback = callback

        def callback(r: OptimizeResult) -> Any:
            watch(r)
            return None if user_callback is None else user_callback(r)

    res = minimize(objective, space, x0=start, seed=int(rng.integers(2**31)), max_evals=max_evals, max_iter=max_iter,
                   max_time=max_time, target=target, callback=callback, progress=progress, **opts)
    if watch is not None:
        watch(res)                                    # the final best point is a candidate too
        res.x, res.validation = watch.best_x, watch.summary()
        res.fun = objective.loss_at(res.x)
    elif objective.batch_size is not None:
        # the best seen was scored on one mini-batch: report the loss on all the data
        res.fun = objective.loss_at(res.x)
    res.x = objective.full(res.x)
    return res


class _ValidationWatch:
    """Scores the engine's best point on held-out data whenever it moves and keeps the best snapshot."""

    def __init__(self, objective: NetworkObjective, X: ArrayLike, y: ArrayLike) -> None:
        self.objective = objective
        self.model = objective.model
        self.X = check_inputs(self.model, X)
        self.y = check_targets(self.model, objective.loss, y, self.X.shape[0])
        self.last: np.ndarray | None = None
        self.best_x: np.ndarray | None = None
        self.best_key: tuple[float, ...] = (-np.inf, -np.inf)
        self.best_loss, self.best_nit, self.checks = np.inf, 0, 0

    def __call__(self, r: OptimizeResult) -> None:
        x = np.asarray(r.x, dtype=float)
        if self.last is not None and np.array_equal(x, self.last):
            return
        self.last = x.copy()
        self.checks += 1
        out = np.asarray(self.model.forward(self.X, self.objective.full(x)), dtype=float)
        loss = float(self.objective.loss(out, self.y).mean())
        if self.objective.loss.classification:
            pred = (out[:, 0] > 0).astype(np.intp) if out.shape[1] == 1 else out.argmax(axis=1)
            key = (float(np.mean(pred == self.y)), -loss)
        else:
            key = (-loss, 0.0)
        if key > self.best_key:
            self.best_key, self.best_loss, self.best_nit, self.best_x = key, loss, int(r.nit), x.copy()

    def summary(self) -> dict[str, float]:
        return {"score": self.best_key[0], "loss": self.best_loss, "nit": self.best_nit, "checks": self.checks}


def network_options(model: Model, loss: str | Loss = "mse", bits: int | None = None) -> dict[str, Any]:
    """The engine options :func:`fit_network` starts from: :data:`NETWORK_OPTIONS` for float
    models with a derivative (``model.differentiable``: an MLP whose activations all have one;
    see :meth:`qiml.nn.NetworkObjective.curvature`), :data:`AXIS_NETWORK_OPTIONS` on int lattices
    (``bits``) and for every other model."""
    smooth = get_loss(loss).name in CURVATURE_LOSSES and bool(getattr(model, "differentiable", False))
    return dict(NETWORK_OPTIONS if bits is None and smooth else AXIS_NETWORK_OPTIONS)


def _initial(model: Model, rng: np.random.Generator) -> np.ndarray:
    """``model.init(rng)`` checked to be a float vector (P,)."""
    theta = np.asarray(model.init(rng), dtype=float)
    if theta.shape != (model.n_params,):
        raise ShapeError(f"{type(model).__name__}.init(rng) must return a parameter vector of shape "
                         f"({model.n_params},), got {theta.shape}")
    return theta
