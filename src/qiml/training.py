"""Training networks with QiML: the engine joined to a network objective.

This is the one place that knows both sides: it builds a :class:`qiml.nn.NetworkObjective`
and a search space (box or int lattice) for an :class:`qiml.nn.MLP` and runs
:func:`qiml.minimize` on them. The scikit-learn estimators and the experiments use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import ArrayLike

from .engine import minimize
from .errors import ConfigError
from .nn import MLP, NetworkObjective
from .nn.activations import DERIVATIVES
from .nn.objective import CURVATURE_LOSSES
from .nn.losses import Loss, get_loss
from .random import SeedLike, make_rng
from .spaces import Space
from .result import OptimizeResult

__all__ = ["fit_network", "network_options", "NETWORK_OPTIONS", "AXIS_NETWORK_OPTIONS"]

#: Engine options that differ from the black-box defaults for networks with a derivative (a
#: differentiable loss, MSE or cross-entropy, and activations with a derivative). Slices follow each
#: neuron's Gauss-Newton directions (``directions="curvature"``: a direction inside one neuron's
#: fan-in moves only its pre-activation, so the network objective answers it incrementally), up to
#: 16 directions of one neuron per request, 3 grid points each; windows reopen around the best point
#: on a stall. Chosen by the probes of issue 13 and ``benchmarks/nn_levers.py``
#: (``docs/results/nn-levers``); the standing tables: ``docs/nn/summary.md``.
NETWORK_OPTIONS: dict[str, Any] = {"search": "slices", "directions": "curvature", "block": 16, "restart": "best", "sweep_lines": False,
                                   "stall_lines": False, "refine": 0.0}

#: Engine options for networks on int lattices (``bits``: a rotated direction leaves the lattice)
#: and for models without a derivative (step, sign or staircase activations; zero-one, hinge or
#: MAE losses), chosen by ``benchmarks/nn_defaults.py`` (``docs/nn/defaults.md``): axis slices of
#: 64 points, which see a piecewise-constant loss's plateaus, windows that may grow again (``grow``)
#: and a slice along each sweep's displacement (``sweep_lines``); blocks of 8 amortise the
#: per-request work.
AXIS_NETWORK_OPTIONS: dict[str, Any] = {"search": "slices", "directions": "axes", "nx": 64, "block": 8, "grow": 1.5,
                                        "sweep_lines": True, "stall_lines": False, "refine": 0.0}


def fit_network(net: MLP, X: ArrayLike, y: ArrayLike, loss: str | Loss = "mse", *, bits: int | None = None,
                bound: float = 3.0, batch_size: int | None = None, l2: float = 0.0, output: str = "auto",
                x0: ArrayLike | None = None,
                seed: SeedLike = None, max_evals: int | None = None, max_iter: int | None = None,
                max_time: float | None = None, target: float | None = None,
                callback: Callable[[OptimizeResult], Any] | None = None, progress: bool = False,
                **options: Any) -> OptimizeResult:
    """Train ``net`` on ``(X, y)`` without gradients; returns the result with ``x`` = the parameters (P,).

    Parameters
    ----------
    net, X, y, loss, batch_size, l2
        As for :class:`qiml.nn.NetworkObjective`.
    output : {"auto", "params", "solve"}
        ``"solve"``: the output layer is solved by least squares wherever the loss is asked for and
        the engine moves the hidden layers only (the result's ``x`` still holds every parameter,
        the output layer solved on all the data). ``"auto"`` (default): ``"solve"`` for MSE on a
        float network with a hidden layer, else ``"params"``.
    bits : {None, 4, 8}
        Search on the signed int lattice with a scale per layer (``bound / (2^(bits-1) - 1)``),
        so the result is quantized by construction (a wide window searches a sub-lattice of
        ``nx`` levels, a narrow one every level) with :data:`AXIS_NETWORK_OPTIONS`.
    bound : float
        Parameters live in ``[-bound, bound]``.
    x0 : array_like (P,), optional
        Start; default a Glorot-uniform draw from ``seed``, snapped to the lattice.
    seed, max_evals, max_iter, max_time, target, callback, progress, **options
        As for :func:`qiml.minimize`; ``options`` override :func:`network_options`. With a
        ``batch_size`` smaller than N the engine runs with ``noisy=True``: the result is the latest
        request's best point, not the lowest mini-batch score ever seen. ``callback`` sees the
        engine's intermediate results, whose ``x`` are the parameters it moves (the hidden layers
        only under ``output="solve"``); the returned result holds the whole network.
    """
    if bits is not None and output == "solve":
        raise ConfigError("output='solve' solves a float output layer; a quantized network (bits) needs "
                          "output='params'")
    if output == "auto":
        output = "solve" if bits is None and net.n_layers > 1 and get_loss(loss).name == "mse" else "params"
    rng = make_rng(seed)
    obj_seed = int(rng.integers(2**31))
    objective = NetworkObjective(net, X, y, loss, batch_size=batch_size, l2=l2, seed=obj_seed, output=output,
                                 nan_policy=options.get("nan_policy", "raise"))
    P = objective.dim
    full_space = net.space(bound, bits)
    space = Space(full_space.lower[:P], full_space.upper[:P], full_space.step[:P]) if P < net.n_params else full_space
    start = space.snap((net.init(rng) if x0 is None else net.check_theta(x0))[:P])
    # a fresh mini-batch per request makes the loss noisy: see the engine's ``noisy`` option
    opts = {**network_options(net, loss, bits), "noisy": objective.batch_size is not None, **options}
    if opts["directions"] != "axes" and "blocks" not in opts:
        # adapted or curvature directions inside each neuron's fan-in
        opts["blocks"] = [b for b in net.neuron_blocks() if b[0] < P]
    res = minimize(objective, space, x0=start, seed=int(rng.integers(2**31)), max_evals=max_evals, max_iter=max_iter,
                   max_time=max_time, target=target, callback=callback, progress=progress, **opts)
    if objective.batch_size is not None:
        # the best seen was scored on one mini-batch: report the loss on all the data
        res.fun = objective.loss_at(res.x)
    res.x = objective.full(res.x)
    return res


def network_options(net: MLP, loss: str | Loss = "mse", bits: int | None = None) -> dict[str, Any]:
    """The engine options :func:`fit_network` starts from: :data:`NETWORK_OPTIONS` for float
    networks with a derivative, :data:`AXIS_NETWORK_OPTIONS` on int lattices (``bits``) and for
    models without one (see :meth:`qiml.nn.NetworkObjective.curvature`)."""
    smooth = get_loss(loss).name in CURVATURE_LOSSES and all(
        name in DERIVATIVES for layer in net.activations for name in layer.names)
    return dict(NETWORK_OPTIONS if bits is None and smooth else AXIS_NETWORK_OPTIONS)
