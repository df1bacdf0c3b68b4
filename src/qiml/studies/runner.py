"""The one resumable, parallel job runner of every study.

A study is a list of jobs (plain, JSON-able settings or small dataclasses) and a picklable,
module-level function that turns one job into a JSON-able record. :class:`JobRunner` runs the jobs
not yet finished over ``workers`` processes (in this process when ``workers <= 1``), appends each
record to ``runs.jsonl`` the moment it finishes, shows Rich progress, and returns every job's
record in the jobs' order. A run killed at any point resumes by running the same study again:
finished jobs are read back, a line cut short by the kill is dropped and its job redone.

>>> from pathlib import Path; import tempfile
>>> with tempfile.TemporaryDirectory() as d, JobRunner(Path(d) / "runs.jsonl", progress=False) as runner:
...     [r["square"] for r in runner.run([{"x": 2}, {"x": 3}], _square_example)]
[4, 9]
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

__all__ = ["JobRunner", "load_runs", "job_key", "limit_threads"]

J = TypeVar("J")
Record = dict[str, Any]


def load_runs(path: Path) -> dict[str, Record]:
    """The records of ``path`` (JSON lines) by their ``"key"``; a line cut short by an interruption is
    skipped, so that job is redone. A missing file is an empty study."""
    done: dict[str, Record] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "key" in rec:
                done[rec["key"]] = rec
    return done


def job_key(job: Any) -> str:
    """A job named by all its fields: a mapping or a dataclass as sorted JSON, anything else by ``str``."""
    if is_dataclass(job) and not isinstance(job, type):
        job = asdict(job)
    return json.dumps(job, sort_keys=True, default=str) if isinstance(job, dict) else str(job)


def limit_threads() -> None:
    """One BLAS/OpenMP thread in this process: a study's parallelism is across its jobs, and threaded BLAS
    in every worker would oversubscribe the cores (and make timings depend on the neighbours)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:       # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(1)


def _run_one(fn: Callable[[Any], Record], job: Any) -> Record:
    rec = fn(job)
    if not isinstance(rec, dict):
        raise TypeError(f"a study's job function must return a dict record, {fn.__name__} returned "
                        f"{type(rec).__name__}")
    return rec


class JobRunner(Generic[J]):
    """Runs jobs over worker processes, one JSON line per finished job in ``path`` (resumable).

    ``workers <= 1`` runs the jobs in this process, in order (what tests and debuggers want).
    ``key(job)`` names a job (default :func:`job_key`, all its fields); a record's ``"key"`` is set to
    it. ``progress`` shows a Rich bar per :meth:`run` call. Use as a context manager, or call
    :meth:`close`, so the worker pool is shut down; one pool serves every :meth:`run` call.
    """

    def __init__(self, path: str | os.PathLike[str], workers: int = 1, *, progress: bool = True,
                 key: Callable[[Any], str] = job_key) -> None:
        self.path = Path(path)
        self.workers = max(1, int(workers))
        self.progress = progress
        self.key = key
        self.done: dict[str, Record] = load_runs(self.path)
        self._pool: ProcessPoolExecutor | None = None

    # -- life cycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the worker pool down (waiting for nothing: every job of a finished :meth:`run` is done)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            limit_threads()        # before the workers start, so they inherit it
            self._pool = ProcessPoolExecutor(self.workers, initializer=limit_threads)
        return self._pool

    # -- running ------------------------------------------------------------------------------------------
    def pending(self, jobs: Iterable[J]) -> list[J]:
        """The jobs of ``jobs`` not finished yet (duplicates by key dropped)."""
        seen: set[str] = set()
        todo = []
        for j in jobs:
            k = self.key(j)
            if k not in self.done and k not in seen:
                seen.add(k)
                todo.append(j)
        return todo

    def run(self, jobs: Sequence[J], fn: Callable[[J], Record], label: str = "runs",
            cost: Callable[[J], float] | None = None,
            on_done: Callable[[Record], None] | None = None) -> list[Record]:
        """Run the jobs of ``jobs`` not finished yet with ``fn``; return every job's record, in order.

        ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one) when
        ``workers > 1``. ``cost(job)``, when given, orders the work: the costliest jobs start first, so
        the pool does not wait on one long job at the end. ``on_done(record)`` is called in this
        process after each finished job (after it is on disk).
        """
        jobs = list(jobs)
        todo = self.pending(jobs)
        if cost is not None:
            todo.sort(key=lambda j: -cost(j))
        if todo:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as log, _Bar(self.progress, f"{label} ({len(todo)} to run)", len(todo)) as bar:
                if log.tell() > 0 and not _ends_with_newline(self.path):
                    log.write("\n")         # a line cut short by a kill must not swallow the next record
                for job, rec in self._results(todo, fn):
                    rec["key"] = self.key(job)
                    self.done[rec["key"]] = rec
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    bar.advance()
                    if on_done is not None:
                        on_done(rec)
        return [self.done[self.key(j)] for j in jobs]

    def _results(self, todo: list[J], fn: Callable[[J], Record]) -> Iterable[tuple[J, Record]]:
        """(job, record) pairs as the jobs finish; at most ``2 * workers`` jobs are queued at once."""
        if self.workers <= 1:
            for job in todo:
                yield job, _run_one(fn, job)
            return
        pool = self._executor()
        queue = list(reversed(todo))
        pending: dict[Future[Record], J] = {}
        try:
            while queue or pending:
                while queue and len(pending) < 2 * self.workers:
                    job = queue.pop()
                    pending[pool.submit(_run_one, fn, job)] = job
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield pending.pop(fut), fut.result()
        finally:
            for fut in pending:
                fut.cancel()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


class _Bar:
    """A Rich progress bar, or nothing (``enabled=False``)."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self._progress = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn())
            self._task = self._progress.add_task(label, total=total)

    def __enter__(self) -> _Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)


def _square_example(job: dict[str, int]) -> Record:
    """The doctest's job function."""
    return {"square": job["x"] ** 2}
