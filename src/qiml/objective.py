"""The generic objective: any black-box loss, answering the engine's requests (:mod:`qiml.requests`).

:class:`Objective` lays the candidate rows of a request out explicitly (row 0 is ``x`` itself) and
evaluates them in chunks so memory stays bounded for large P. Structured models (neural networks)
override :meth:`Objective.potentials` with incremental versions that never build the rows; the
engine only sees this seam.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ConfigError, ObjectiveError
from .parallel import MIN_PARALLEL_SECONDS, check_workers, parallel_map
from .requests import NAN_POLICIES, Request, SliceRequest, check_values
from .validation import check_int, real_scalar

__all__ = ["Objective"]


class Objective:
    """A black-box loss with the generic, chunked potential fallback.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float`` for ``x`` of shape (P,), or, with ``vectorized=True``,
        ``fun(X) -> (n,)`` for ``X`` of shape (n, P).
    dim : int
        Number of parameters P.
    vectorized : bool
        Whether ``fun`` takes a batch of rows.
    max_batch_bytes : int
        Upper bound on the size of one batch of candidate rows handed to ``fun``.
    nan_policy : {"raise", "inf"}
        What a NaN loss means; see :func:`check_values`.
    workers : int
        Processes that evaluate batches of rows at once (-1: every core); see
        :mod:`qiml.parallel`. A request whose rows are expected (from the time measured so far) to
        take under 50 ms in all is evaluated in this process, since a pool call costs about 10 ms.
    """

    def __init__(self, fun: Callable[..., Any], dim: int, *, vectorized: bool = False,
                 max_batch_bytes: int = 64 * 2**20, nan_policy: str = "raise", workers: int = 1) -> None:
        if not callable(fun):
            raise ConfigError(f"fun must be callable, got {type(fun).__name__}")
        if nan_policy not in NAN_POLICIES:
            raise ConfigError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        dim = check_int("dim", dim, 1)
        max_batch_bytes = check_int("max_batch_bytes", max_batch_bytes, 1)
        self.fun, self.dim, self.vectorized = fun, dim, bool(vectorized)
        self.nan_policy = nan_policy
        self.chunk = max(1, int(max_batch_bytes) // (8 * self.dim))
        self.workers = check_workers(workers)
        self.seconds = 0.0   # time spent inside fun (summed over workers), for overhead measurements
        self._rows = 0       # rows evaluated so far (with seconds: the cost of one row)

    def evaluate(self, request: Request, deadline: float | None = None) -> NDArray[np.float64]:
        """Loss at every candidate row of ``request``, shape (n_rows,).

        With a ``deadline`` (a :func:`time.perf_counter` value; how :func:`qiml.minimize` keeps
        ``max_time``), evaluation stops at the first row (the first batch, for a vectorized or
        parallel objective) that ends past it, and the values so far are returned: fewer than
        ``n_rows``, at least one.
        """
        n = request.n_rows
        # batches expected (from the time per row so far) to be quick run here; see MIN_PARALLEL_SECONDS
        per_row = self.seconds / self._rows if self._rows else np.inf
        workers = self.workers if n * per_row > MIN_PARALLEL_SECONDS else 1
        # with several workers, cut the rows into a few batches per worker to balance the load
        chunk = self.chunk if workers == 1 else max(1, min(self.chunk, -(-n // (4 * workers))))
        bounds = [(a, min(n, a + chunk)) for a in range(0, n, chunk)]
        # under a deadline, a pool gets one batch per worker at a time, so the clock is read between them
        rounds = [bounds] if deadline is None or workers == 1 else [bounds[i:i + workers]
                                                                     for i in range(0, len(bounds), workers)]
        row_deadline = deadline if workers == 1 else None
        out = np.empty(n)
        done = 0
        for batches in rounds:
            tasks = ((self.fun, self.vectorized, request.rows(a, b), row_deadline) for a, b in batches)  # lazy
            # serially one batch at a time (a generator), so nothing is evaluated past the deadline
            results = (_values(*t) for t in tasks) if workers == 1 else parallel_map(_values, tasks, workers)
            for (a, b), (F, seconds) in zip(batches, results, strict=False):
                self.seconds += seconds
                m = b - a if self.vectorized else len(F)   # a scalar loop stops early at the deadline
                out[a:a + m] = check_values(F, m, self.nan_policy)
                done = a + m
                if workers == 1 and deadline is not None and time.perf_counter() > deadline:
                    break
            if deadline is not None and done < n and time.perf_counter() > deadline:
                self._rows += done
                return out[:done]
        self._rows += n
        return out

    def potentials(self, request: SliceRequest) -> tuple[float, NDArray[np.float64]]:
        """``(f(x), V)`` for a slice request; see the module docstring."""
        return request.split(self.evaluate(request))

    def curvature(self, x: NDArray[np.float64], params: NDArray[np.intp]
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """The loss's curvature in the parameters ``params`` (m,) at ``x``: its eigenvectors (m, m) as
        columns and each one's reach (m,), the longest step the model expects a move along it to
        need (``inf`` if unknown); None when the objective knows none (a black box: always None).

        ``directions="curvature"`` slices along the eigenvectors with windows at most twice the
        reach wide; a model that knows its structure (a network: Gauss-Newton blocks from forward
        quantities, :meth:`qiml.nn.NetworkObjective.curvature`) overrides this."""
        return None


def _values(fun: Callable[..., Any], vectorized: bool, X: NDArray[np.float64],
            deadline: float | None = None) -> tuple[Any, float]:
    """What ``fun`` returns for rows ``X`` and the seconds it took; runs in a worker when parallel. A scalar
    ``fun`` stops after the first row that ends past ``deadline`` (a perf_counter value), answering fewer rows."""
    t0 = time.perf_counter()
    try:
        if vectorized:
            F = fun(X)
        else:
            F = []
            for row in X:
                F.append(_scalar(fun(row)))
                if deadline is not None and time.perf_counter() > deadline:
                    break
    except ObjectiveError:
        raise
    except Exception as exc:  # the user's code failed: say where, keep the original chained
        raise ObjectiveError(f"objective raised {type(exc).__name__}: {exc}") from exc
    return F, time.perf_counter() - t0


def _scalar(v: Any) -> float:
    """One point's loss as a float: a real number (see :func:`qiml.validation.real_scalar`); anything else
    (None, a bool, a string, a Decimal, a list, a complex or bool tensor, a NumPy datetime64 or timedelta64,
    a masked value, a Python int beyond the float range) is an error naming what came back. Only
    ObjectiveErrors leave: any other exception would read as one the objective raised."""
    try:
        f = real_scalar(v)
    except OverflowError:
        what = (f"{'a negative' if v < 0 else 'an'} int of {v.bit_length()} bits" if isinstance(v, int)
                else type(v).__name__)
        raise ObjectiveError(f"objective returned {what}, a number too large to fit in a float (64-bit, "
                             "magnitude at most about 1.8e308); return a float (+inf marks an infeasible "
                             "point)") from None
    if f is not None:
        return f
    if v is None:
        raise ObjectiveError("objective returned None for a point; it must return a real number "
                             "(is a `return` missing?)")
    shape = getattr(v, "shape", None)
    try:   # the element count from the shape: torch's .size is a method, not a count
        size = None if shape is None else math.prod(int(d) for d in shape)
    except (TypeError, ValueError):
        size = None
    if size is not None and size != 1:
        raise ObjectiveError(f"objective must return a scalar for one point, got shape {shape} "
                             "(pass vectorized=True if it takes a batch of rows)")
    dtype = getattr(v, "dtype", None)
    what = type(v).__name__ if dtype is None or isinstance(v, np.generic) else f"{type(v).__name__} of dtype {dtype}"
    if isinstance(v, np.ma.MaskedArray) and np.ma.getmaskarray(v).any():
        raise ObjectiveError(f"objective must return a real number, got a masked value ({what}); return a float "
                             "(+inf marks an infeasible point)")
    try:
        shown = f"{v!r:.60}"
    except Exception:   # a broken or refused repr (a huge int's digits) must not hide the message
        shown = "<unprintable>"
    raise ObjectiveError(f"objective must return a real number, got {what}: {shown} (an int or float)")
