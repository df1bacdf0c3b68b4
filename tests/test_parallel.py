"""Parallel evaluation (qiml.parallel): same answers as serial, errors that say what failed."""

from __future__ import annotations

import joblib
import numpy as np
import pytest

import qiml
import qiml.engine.optimizer
from qiml.errors import ConfigError, ObjectiveError
from qiml.functions import ackley, rastrigin
from qiml.objective import Objective
from qiml.parallel import check_workers, cpu_count, parallel_map
from qiml.requests import SliceRequest
from qiml.solvers import Solver, normalize, unit_dx


def _square(a: float, b: float) -> float:
    return a * a + b


def _boom(v: float) -> float:
    raise ValueError(f"bad value {v}")


class NoisyShift(Solver):
    """A stochastic toy solver: each packet's density moves by a random amount (drawn from rng)."""

    name = "noisy-shift"
    stochastic = True

    def evolve(self, psi, V, hbar, rng):
        shift = rng.integers(-3, 4, size=psi.shape[0])
        out = np.array([np.roll(row, s) for row, s in zip(psi, shift, strict=True)])
        return normalize(out + 0.01 * rng.random(psi.shape), unit_dx(psi.shape[1]))


@pytest.fixture
def always_parallel(monkeypatch):
    """Send even quick work to the workers, so these tests exercise the parallel paths."""
    monkeypatch.setattr(qiml.objective, "MIN_PARALLEL_SECONDS", 0.0)
    monkeypatch.setattr(qiml.engine.optimizer, "MIN_PARALLEL_SECONDS", 0.0)


@pytest.mark.parametrize("workers, expected", [(1, 1), (2, 2), (-1, cpu_count())])
def test_check_workers_accepts(workers, expected):
    assert check_workers(workers) == expected


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2", None])
def test_check_workers_rejects(bad):
    with pytest.raises(ConfigError, match="workers must be a positive int or -1"):
        check_workers(bad)


def test_parallel_map_matches_serial_and_keeps_order():
    tasks = [(float(a), float(b)) for a, b in zip(range(20), range(20, 40), strict=True)]
    serial = parallel_map(_square, tasks, 1)
    assert serial == [a * a + b for a, b in tasks]
    assert parallel_map(_square, tasks, 2) == serial
    assert parallel_map(_square, iter(tasks), 2) == serial      # a generator of tasks


def test_parallel_map_raises_the_workers_exception():
    with pytest.raises(ValueError, match="bad value"):
        parallel_map(_boom, [(1.0,), (3.0,)], 2)


def test_objective_in_workers_matches_serial_with_a_lambda(always_parallel):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(6)
    grid = np.tile(np.linspace(-2, 2, 9), (6, 1))
    req = SliceRequest.along_axes(x, np.arange(6), grid, np.full(6, 9))
    fun = lambda w: float(np.sum(np.sin(3 * w) + w ** 2))  # noqa: E731 (lambdas must cross to workers)
    serial = Objective(fun, 6).evaluate(req)
    par = Objective(fun, 6, workers=2, max_batch_bytes=8 * 6 * 5)   # small batches: many tasks
    assert np.array_equal(par.evaluate(req), serial)
    assert par.seconds > 0


def test_objective_errors_in_workers_name_the_problem(always_parallel):
    def nan_at_zero(w):
        return float("nan") if w[0] == 0 else float(w @ w)
    req = SliceRequest.along_axes(np.ones(2), np.array([0]), np.linspace(-1, 1, 5)[None, :], np.array([5]))
    with pytest.raises(ObjectiveError, match="NaN"):
        Objective(nan_at_zero, 2, workers=2).evaluate(req)
    with pytest.raises(ObjectiveError, match="objective raised ZeroDivisionError"):
        Objective(lambda w: 1 / 0, 2, workers=2).evaluate(req)


def test_minimize_same_result_with_two_workers(always_parallel):
    bounds = [(-5.0, 5.0)] * 4
    kw = dict(seed=3, max_evals=3000, update="jacobi", vectorized=True)
    one = qiml.minimize(rastrigin, bounds, **kw)
    two = qiml.minimize(rastrigin, bounds, workers=2, **kw)
    assert np.array_equal(one.x, two.x) and one.fun == two.fun and one.nfev == two.nfev


def test_stochastic_solver_result_does_not_depend_on_workers(always_parallel):
    bounds = [(-5.0, 5.0)] * 20          # 20 packets: three chunks of at most 8
    kw = dict(seed=5, max_iter=6, update="jacobi", refine=0.0, vectorized=True)
    runs = [qiml.minimize(ackley, bounds, solver=NoisyShift(), workers=w, **kw) for w in (1, 2)]
    assert np.array_equal(runs[0].x, runs[1].x) and runs[0].fun == runs[1].fun
    other = qiml.minimize(ackley, bounds, solver=NoisyShift(), **{**kw, "seed": 6})
    assert not np.array_equal(other.x, runs[0].x)


def test_threads_backend_through_joblib_config(always_parallel):
    bounds = [(-5.0, 5.0)] * 3
    serial = qiml.minimize(ackley, bounds, seed=1, max_evals=800, vectorized=True)
    with joblib.parallel_config(backend="threading"):
        threaded = qiml.minimize(ackley, bounds, seed=1, max_evals=800, vectorized=True, workers=2)
    assert np.array_equal(serial.x, threaded.x)


def test_resume_with_other_workers(tmp_path, always_parallel):
    bounds = [(-5.0, 5.0)] * 3
    kw = dict(seed=2, max_evals=1500, update="jacobi")
    full = qiml.minimize(rastrigin, bounds, vectorized=True, **kw)
    ck = tmp_path / "run.npz"
    opt = qiml.QiML(bounds, **kw)
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, rastrigin(X))
    opt.save(ck)
    resumed = qiml.minimize(rastrigin, bounds, checkpoint=ck, resume=True, workers=2, vectorized=True, **kw)
    assert np.array_equal(resumed.x, full.x) and resumed.fun == full.fun


def test_quick_work_stays_in_process(monkeypatch):
    """A pool call costs ~10 ms: cheap batches and cheap solver calls are not sent to the workers."""
    calls: list[tuple[str, int]] = []

    def spy(name):
        def wrapped(fn, tasks, workers=1):
            calls.append((name, workers))
            return parallel_map(fn, tasks, workers)
        return wrapped

    monkeypatch.setattr(qiml.objective, "parallel_map", spy("objective"))
    monkeypatch.setattr(qiml.engine.optimizer, "parallel_map", spy("solver"))
    qiml.minimize(rastrigin, [(-5.0, 5.0)] * 4, vectorized=True, seed=0, max_evals=2000, block=4, workers=2)
    objective = [w for name, w in calls if name == "objective"]
    solver = [w for name, w in calls if name == "solver"]
    assert objective == [2]   # the first call measures the cost; the cheap batches after it run here
    assert set(solver) == {1}
