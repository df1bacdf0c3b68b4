"""Parallel evaluation of independent work across cores, and the seam for a distributed engine.

Two kinds of work in a QiML run are independent and may run at once: the candidate rows of a
black-box objective (:class:`qiml.objective.Objective`) and the packets a solver evolves (the
engine hands chunks of packets to :meth:`qiml.solvers.Solver.evolve`). Both go through
:func:`parallel_map`, which runs on `joblib <https://joblib.readthedocs.io>`_: its default
backend is a pool of worker processes (loky, which also ships lambdas and closures), and
``joblib.parallel_config`` switches it to threads or to a cluster without any change here, e.g.::

    from ray.util.joblib import register_ray      # or dask.distributed's "dask" backend
    register_ray()
    with joblib.parallel_config(backend="ray"):
        qiml.minimize(expensive_loss, bounds, workers=-1)

``workers = 1`` (the default everywhere) runs in the calling process and never imports joblib;
work expected to take under :data:`MIN_PARALLEL_SECONDS` also stays there. Results never depend
on ``workers``: rows and deterministic packets do not depend on how they are grouped, and a
stochastic solver always gets the same fixed chunks, each with its own seeded generator (see
:meth:`qiml.engine.QiML`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import ConfigError
from .validation import is_int

__all__ = ["MIN_PARALLEL_SECONDS", "check_workers", "cpu_count", "parallel_map"]

#: work expected to take less than this many seconds serially runs in the calling process:
#: a call to the process pool costs about 10 ms (measured with joblib's loky backend)
MIN_PARALLEL_SECONDS = 0.05


def cpu_count() -> int:
    """Cores this process may use (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def check_workers(workers: Any) -> int:
    """Validate a ``workers`` setting: a positive int, or -1 for every available core."""
    if not is_int(workers) or not (workers >= 1 or workers == -1):
        raise ConfigError(f"workers must be a positive int or -1 (all cores), got {workers!r}")
    return cpu_count() if workers == -1 else int(workers)


def parallel_map(fn: Callable[..., Any], tasks: Iterable[Sequence[Any]], workers: int = 1) -> list[Any]:
    """``[fn(*task) for task in tasks]``, spread over ``workers`` processes when ``workers > 1``.

    ``tasks`` may be a generator: tasks are then built only as they are dispatched, so memory
    stays bounded. Exceptions raised by ``fn`` reach the caller with their original type. Each
    task should be worth at least a few milliseconds: a process pool costs about that per task.
    """
    workers = check_workers(workers)
    if workers == 1 or (isinstance(tasks, Sequence) and len(tasks) <= 1):
        return [fn(*task) for task in tasks]   # a generator of tasks is consumed one at a time
    from joblib import Parallel, delayed
    return list(Parallel(n_jobs=workers)(delayed(fn)(*task) for task in tasks))
