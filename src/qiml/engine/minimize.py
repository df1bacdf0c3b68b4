"""``qiml.minimize``: the one-call front door, a loop over :class:`QiML`'s ask/tell."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from numpy.typing import ArrayLike

from ..errors import ConfigError
from ..objective import Objective
from ..requests import SliceRequest
from ..result import OptimizeResult
from ..solvers import Solver
from ..validation import positive_int
from .optimizer import QiML

__all__ = ["minimize"]


def minimize(fun: Callable[..., Any] | Objective, bounds: Any, *, x0: ArrayLike | None = None,
             solver: str | Solver = "fd", max_evals: int | None = None, max_iter: int | None = None,
             max_time: float | None = None, target: float | None = None, seed: Any = None,
             vectorized: bool = False, callback: Callable[[OptimizeResult], Any] | None = None,
             checkpoint: str | os.PathLike[str] | None = None, checkpoint_every: int = 50,
             resume: bool = False, progress: bool = False, blocks: Any = None, **options: Any) -> OptimizeResult:
    """Minimise ``fun`` over ``bounds`` with quantum-inspired packets; no gradients needed.

    Parameters
    ----------
    fun : callable or Objective
        ``fun(x) -> float`` for ``x`` (P,), or with ``vectorized=True`` ``fun(X) -> (n,)`` for
        ``X`` (n, P). ``+inf`` marks infeasible points; NaN raises unless ``nan_policy="inf"``.
        An :class:`qiml.objective.Objective` (or a subclass with fast slices) is used as is.
    bounds : Space, scipy Bounds, or sequence of (low, high)
        Finite box, optionally a lattice (see :class:`qiml.Space`).
    x0, solver, seed, max_evals, max_iter, max_time, target, **options
        As for :class:`qiml.QiML`.
    callback : callable, optional
        ``callback(intermediate_result)`` after every iteration; returning ``True`` or raising
        ``StopIteration`` stops the run (``status = 1``), as in SciPy.
    checkpoint : path, optional
        Where to save the optimizer's state atomically every ``checkpoint_every`` iterations
        and at the end, and also when the run is interrupted (Ctrl-C) or the objective raises: the
        exception then carries a note saying so. With ``resume=True`` an existing checkpoint there
        is loaded first, so an interrupted run continues exactly where it stopped.
    blocks : sequence of index arrays, optional
        A partition of the parameters for adapted directions: each direction then moves one block
        (e.g. one neuron's fan-in, see :meth:`qiml.nn.MLP.neuron_blocks`). With
        ``directions="curvature"`` the objective's :meth:`~qiml.objective.Objective.curvature`
        gives each block's directions.
    progress : bool
        Show a Rich progress bar (fraction of the budget, best loss so far) on the terminal.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``nfev``, ``nit``, ``success``, ``status``, ``message``, ``history``.
    """
    positive_int("checkpoint_every", checkpoint_every)
    if resume and checkpoint is None:
        raise ConfigError("resume=True needs a checkpoint path")
    opt = QiML(bounds, x0, solver=solver, seed=seed, max_evals=max_evals, max_iter=max_iter,
               max_time=max_time, target=target, blocks=blocks,
               curvature=fun.curvature if isinstance(fun, Objective) else None, **options)
    if isinstance(fun, Objective):
        objective = fun
        if objective.dim != opt.space.dim:
            raise ConfigError(f"objective has {objective.dim} parameters but bounds have {opt.space.dim}")
    else:
        objective = Objective(fun, opt.space.dim, vectorized=vectorized,
                              max_batch_bytes=opt.options.max_batch_bytes, nan_policy=opt.options.nan_policy,
                              workers=opt.options.workers)
    if resume and checkpoint is not None and Path(checkpoint).exists():
        opt.load(checkpoint)
    sliced = type(objective).potentials is not Objective.potentials   # a model's own, incremental slices
    whole = True     # whether the optimizer's state is consistent (false only while a tell updates it)
    try:
        with _progress_bar(progress) as bar:
            while not opt.stop():
                req = opt.ask_request()
                if sliced and isinstance(req, SliceRequest):
                    answer: tuple[Any, ...] = objective.potentials(req)
                else:
                    answer = (objective.evaluate(req, deadline=opt.deadline()),)
                whole = False
                with _interrupts_deferred():   # Ctrl-C waits for the tell, so the state stays whole
                    if len(answer) == 2:
                        opt.tell_potentials(*answer)
                    elif answer[0].size < req.n_rows:
                        opt.tell_partial(answer[0])    # max_time ran out inside the request
                    else:
                        opt.tell_values(answer[0])
                    whole = True
                    if checkpoint is not None and opt.nit % checkpoint_every == 0:
                        opt.save(checkpoint)
                if callback is not None:
                    try:
                        stop = callback(opt.result)
                    except StopIteration:
                        stop = True
                    if stop is True:
                        opt.request_stop("stopped by callback")
                bar(opt.progress(), opt.best_f)
    except BaseException as exc:
        # Ctrl-C, or the objective or callback failed: a pending request is part of the state, so a run
        # resumed from this save repeats only the request that was cut short
        if checkpoint is not None and whole:
            _save_after(exc, opt, checkpoint)
        raise
    if checkpoint is not None:
        opt.save(checkpoint)
    res = opt.result
    res.objective_seconds = objective.seconds
    return res


def _save_after(exc: BaseException, opt: QiML, path: str | os.PathLike[str]) -> None:
    """Save ``opt`` after ``exc`` stopped the run, and say so in the exception's notes (a failed save is
    noted too, never raised in place of ``exc``)."""
    try:
        opt.save(path)
    except Exception as save_exc:
        exc.add_note(f"qiml: could not save the run's state to {path}: {save_exc}")
    else:
        exc.add_note(f"qiml: the run's state was saved to {path} ({opt.nfev} evaluations); "
                     "pass resume=True to continue it")


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise it; a no-op outside the main thread or
    when SIGINT does not raise KeyboardInterrupt (the caller installed its own handler)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught: list[Any] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[float, float], None]]:
    """Yield ``update(fraction, best)``; a no-op unless ``enabled``."""
    if not enabled:
        yield lambda fraction, best: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    with Progress(TextColumn("qiml"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("best {task.fields[best]:.6g}"), TimeElapsedColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("minimize", total=1.0, best=float("inf"))
        yield lambda fraction, best: bar.update(task, completed=fraction, best=best)
