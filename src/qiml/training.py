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
from .nn import MLP, NetworkObjective
from .nn.losses import Loss
from .random import SeedLike, make_rng
from .result import OptimizeResult

__all__ = ["fit_network", "NETWORK_OPTIONS"]

#: Engine options that differ from the black-box defaults for networks, chosen by
#: ``benchmarks/nn_defaults.py`` (``docs/nn/defaults.md``). A network's loss is a narrow curved
#: valley where axis moves stall as the windows collapse: windows may grow again (``grow``, the
#: largest gain) and each sweep ends with a slice along its own displacement (``sweep_lines``).
#: Random stall lines and the GA cost full forward passes per point, unlike incremental axis
#: slices, so they are off; blocks of 8 amortise the per-request work.
NETWORK_OPTIONS: dict[str, Any] = {"directions": "axes", "nx": 64, "block": 8, "grow": 1.5, "sweep_lines": True,
                                   "stall_lines": False, "refine": 0.0}


def fit_network(net: MLP, X: ArrayLike, y: ArrayLike, loss: str | Loss = "mse", *, bits: int | None = None,
                bound: float = 3.0, batch_size: int | None = None, l2: float = 0.0, x0: ArrayLike | None = None,
                seed: SeedLike = None, max_evals: int | None = None, max_iter: int | None = None,
                max_time: float | None = None, target: float | None = None,
                callback: Callable[[OptimizeResult], Any] | None = None, progress: bool = False,
                **options: Any) -> OptimizeResult:
    """Train ``net`` on ``(X, y)`` without gradients; returns the result with ``x`` = the parameters (P,).

    Parameters
    ----------
    net, X, y, loss, batch_size, l2
        As for :class:`qiml.nn.NetworkObjective`.
    bits : {None, 4, 8}
        Search on the signed int lattice with a scale per layer (``bound / (2^(bits-1) - 1)``),
        so the result is quantized by construction (a wide window searches a sub-lattice of
        ``nx`` levels, a narrow one every level).
    bound : float
        Parameters live in ``[-bound, bound]``.
    x0 : array_like (P,), optional
        Start; default a Glorot-uniform draw from ``seed``, snapped to the lattice.
    seed, max_evals, max_iter, max_time, target, callback, progress, **options
        As for :func:`qiml.minimize`; ``options`` override :data:`NETWORK_OPTIONS`. With a
        ``batch_size`` smaller than N the engine runs with ``noisy=True``: the result is the latest
        request's best point, not the lowest mini-batch score ever seen.
    """
    rng = make_rng(seed)
    obj_seed = int(rng.integers(2**31))
    objective = NetworkObjective(net, X, y, loss, batch_size=batch_size, l2=l2, seed=obj_seed,
                                 nan_policy=options.get("nan_policy", "raise"))
    space = net.space(bound, bits)
    start = space.snap(net.init(rng) if x0 is None else net.check_theta(x0))
    # a fresh mini-batch per request makes the loss noisy: see the engine's ``noisy`` option
    opts = {**NETWORK_OPTIONS, "noisy": objective.batch_size is not None, **options}
    if opts["directions"] != "axes" and "blocks" not in opts:
        opts["blocks"] = net.neuron_blocks()   # adapted directions inside each neuron's fan-in
    res = minimize(objective, space, x0=start, seed=int(rng.integers(2**31)), max_evals=max_evals, max_iter=max_iter,
                   max_time=max_time, target=target, callback=callback, progress=progress, **opts)
    if objective.batch_size is not None:
        # the best seen was scored on one mini-batch: report the loss on all the data
        res.fun = objective.loss_at(res.x)
    return res
