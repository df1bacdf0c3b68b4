"""The engine: ask/tell, minimize, stopping rules, lattices, infeasible regions, reproducibility
and exact resumption from checkpoints and state dicts."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import qiml
from qiml import ConfigError, ShapeError, Space
from qiml.engine import default_max_evals
from qiml.functions import DOUBLE_WELL_BOUNDS, double_well
from qiml.requests import PopulationRequest, SliceRequest

# these tests pin the slice search's own mechanics; the default search="auto" hands over to walkers at
# the first stall (tests/test_walkers.py)
QiML = functools.partial(qiml.QiML, search="slices")
minimize = functools.partial(qiml.minimize, search="slices")


def sphere(X):
    X = np.asarray(X, dtype=float)
    return np.sum((X - 0.3) ** 2, axis=-1)


def bumpy(X):
    """Multimodal, vectorised: (n, P) -> (n,)."""
    X = np.asarray(X, dtype=float)
    return np.sum((X - 0.7) ** 2, axis=-1) + np.sum(np.cos(3.0 * X), axis=-1)


BOUNDS = [(-3.0, 3.0)] * 3


def drive(opt: QiML, fun, n_iter: int | None = None) -> QiML:
    """ask/tell until stop (or n_iter iterations)."""
    i = 0
    while not opt.stop() and (n_iter is None or i < n_iter):
        X = opt.ask()
        opt.tell(X, fun(X))
        i += 1
    return opt


def assert_same_result(a, b):
    assert np.array_equal(a.x, b.x)
    assert a.fun == b.fun
    assert np.array_equal(a.history, b.history)
    assert a.nfev == b.nfev
    assert a.nit == b.nit


# ----------------------------------------------------------------------------- ask / tell
def test_ask_tell_sphere_reaches_small_loss():
    opt = drive(QiML([(-5, 5)] * 3, seed=0, max_evals=2000), sphere)
    res = opt.result
    assert res.fun < 1e-6
    np.testing.assert_allclose(res.x, 0.3, atol=1e-3)
    assert res.success and res.status == 0 and "max_evals" in res.message
    assert res.nfev <= 2000 and res.nit == len(res.history)
    assert np.all(np.diff(res.history[:, 0]) > 0)              # nfev increases
    assert np.all(np.diff(res.history[:, 1]) <= 0)             # best loss never increases
    assert res.history[-1, 0] == res.nfev and res.history[-1, 1] == res.fun


def test_ask_twice_returns_identical_arrays():
    opt = QiML(BOUNDS, seed=1, max_evals=3000, refine=0.5)
    for _ in range(3000):
        if opt.stop():
            break
        X1 = opt.ask()
        opt.stop()                                            # checking the budget changes nothing
        X2 = opt.ask()
        assert np.array_equal(X1, X2)
        assert X1.shape[1] == 3
        opt.tell(X2, bumpy(X2))
    assert opt.phase == "refine"                             # both phases were exercised


def test_ask_rows_layout_in_quantum_phase():
    opt = QiML(BOUNDS, seed=2, max_evals=3000, nx=16)
    req = opt.ask_request()
    assert isinstance(req, SliceRequest)
    X = opt.ask()
    np.testing.assert_array_equal(X[0], opt.x)                # row 0 is the current position
    assert X.shape == (req.n_rows, 3) and req.n_rows == 1 + req.counts.sum() - np.sum(req.centre >= 0)
    assert np.all(X >= -3) and np.all(X <= 3)


def test_tell_with_wrong_points_raises_shape_error():
    opt = QiML(BOUNDS, seed=3, max_evals=3000)
    X = opt.ask()
    with pytest.raises(ShapeError, match="points returned by the last ask"):
        opt.tell(X[:-1], bumpy(X[:-1]))
    with pytest.raises(ShapeError, match="with other values"):
        opt.tell(X + 1e-3, bumpy(X))
    with pytest.raises(ShapeError, match="points returned by the last ask"):
        opt.tell(X[:, :2], bumpy(X))
    assert opt.nfev == 0                                       # nothing was counted
    opt.tell(X, bumpy(X))
    assert opt.nfev == X.shape[0] and opt.nit == 1


def test_tell_with_wrong_number_of_values_raises():
    opt = QiML(BOUNDS, seed=3, max_evals=3000)
    X = opt.ask()
    with pytest.raises(qiml.ObjectiveError, match="expected"):
        opt.tell(X, bumpy(X)[:-1])
    assert opt.nfev == 0


def test_tell_potentials_checks_shape_and_phase():
    opt = QiML(BOUNDS, seed=4, max_evals=2000, refine=0.5)
    req = opt.ask_request()
    with pytest.raises(ShapeError, match="V must have shape"):
        opt.tell_potentials(1.0, np.zeros((req.grid.shape[0], req.grid.shape[1] + 1)))
    opt.tell_potentials(*qiml.Objective(bumpy, 3, vectorized=True).potentials(req))
    assert opt.nit == 1
    while opt.phase != "refine":
        X = opt.ask()
        opt.tell(X, bumpy(X))
    assert isinstance(opt.ask_request(), PopulationRequest)
    with pytest.raises(ShapeError, match="use tell_values"):
        opt.tell_potentials(1.0, np.zeros((1, 64)))


def test_packets_are_densities_on_window_grids():
    opt = drive(QiML(BOUNDS, seed=5, max_evals=3000, refine=0.0, directions="axes"), bumpy, n_iter=10)
    grid, rho = opt.packets()
    assert grid.shape == rho.shape == (3, 64)
    np.testing.assert_allclose(rho.sum(axis=1), 1.0)
    assert np.all(rho >= 0)
    assert np.all(grid >= -3 - 1e-12) and np.all(grid <= 3 + 1e-12)
    g1, r1 = opt.packets(1)
    np.testing.assert_array_equal(g1[0], grid[1])


# ----------------------------------------------------------------------------- minimize
def test_minimize_vectorized_and_plain_identical():
    a = minimize(sphere, BOUNDS, seed=11, vectorized=True, max_evals=3000)
    b = minimize(lambda x: float(sphere(x)), BOUNDS, seed=11, max_evals=3000)
    assert_same_result(a, b)
    assert a.fun < 1e-8


def test_same_seed_identical_different_seed_differs():
    a = minimize(bumpy, BOUNDS, seed=21, vectorized=True, max_evals=3000)
    b = minimize(bumpy, BOUNDS, seed=21, vectorized=True, max_evals=3000)
    c = minimize(bumpy, BOUNDS, seed=22, vectorized=True, max_evals=3000)
    assert_same_result(a, b)
    assert not np.array_equal(a.history, c.history)


def test_seed_generator_and_seed_sequence():
    a = minimize(bumpy, BOUNDS, seed=np.random.default_rng(5), vectorized=True, max_evals=1500)
    b = minimize(bumpy, BOUNDS, seed=np.random.default_rng(5), vectorized=True, max_evals=1500)
    c = minimize(bumpy, BOUNDS, seed=np.random.SeedSequence(5), vectorized=True, max_evals=1500)
    d = minimize(bumpy, BOUNDS, seed=np.random.SeedSequence(5), vectorized=True, max_evals=1500)
    assert_same_result(a, b)
    assert_same_result(c, d)


def test_result_fields():
    res = minimize(sphere, BOUNDS, seed=0, vectorized=True, max_evals=1000)
    for field in ("x", "fun", "nfev", "nit", "success", "status", "message", "history", "hbar", "elapsed",
                  "objective_seconds"):
        assert field in res, field
    assert res.x.shape == (3,) and isinstance(res.fun, float)
    assert res.history.shape == (res.nit, 2)
    assert res.fun == pytest.approx(float(sphere(res.x)), abs=0)
    assert 0 < res.hbar <= 0.1


def test_default_budget():
    res = minimize(sphere, [(-1, 1)] * 2, seed=0, vectorized=True, nx=16)
    assert res.nfev <= default_max_evals(2, 16) == 20 * 2 * 17
    assert res.nfev > 0.9 * default_max_evals(2, 16)


def test_target_stop():
    res = minimize(sphere, BOUNDS, seed=0, vectorized=True, max_evals=50_000, target=1e-6)
    assert res.fun <= 1e-6
    assert "target" in res.message and res.success and res.status == 0
    assert res.nfev < 50_000 // 4


def test_max_iter_stop():
    res = minimize(sphere, BOUNDS, seed=0, vectorized=True, max_iter=7)
    assert res.nit == 7 and len(res.history) == 7
    assert "max_iter" in res.message and res.status == 0


def test_max_time_stop():
    res = minimize(sphere, BOUNDS, seed=0, vectorized=True, max_time=0.2)
    assert "max_time" in res.message
    assert 0.2 <= res.elapsed < 10.0


@pytest.mark.parametrize("max_evals", [33, 64, 66, 131, 500, 777, 1001, 2345])
@pytest.mark.parametrize("refine", [0.0, 0.1, 0.5])
def test_max_evals_never_exceeded(max_evals, refine):
    calls = []

    def f(X):
        calls.append(len(X))
        return sphere(X)

    res = minimize(f, [(-1, 1)] * 2, seed=3, vectorized=True, max_evals=max_evals, refine=refine, nx=32)
    assert res.nfev <= max_evals
    assert sum(calls) == res.nfev                               # nfev counts every evaluation
    assert "max_evals" in res.message


def test_budget_smaller_than_one_slice_is_rejected():
    with pytest.raises(ConfigError, match=r"max_evals=3 is smaller than one slice"):
        minimize(sphere, [(-1, 1)] * 2, seed=3, vectorized=True, max_evals=3)


def test_callback_returning_true_stops_with_status_1():
    seen = []

    def cb(r):
        seen.append(r.nit)
        return r.nit >= 3

    res = minimize(sphere, BOUNDS, seed=0, vectorized=True, callback=cb)
    assert res.nit == 3 and seen == [1, 2, 3]
    assert res.status == 1 and not res.success
    assert "callback" in res.message


def test_callback_raising_stopiteration_stops_with_status_1():
    def cb(r):
        if r.nit >= 4:
            raise StopIteration

    res = minimize(sphere, BOUNDS, seed=0, vectorized=True, callback=cb)
    assert res.nit == 4 and res.status == 1 and not res.success


def test_callback_returning_none_does_not_stop():
    res = minimize(sphere, [(-1, 1)] * 2, seed=0, vectorized=True, max_evals=600, callback=lambda r: None)
    assert res.status == 0 and "max_evals" in res.message


@pytest.mark.parametrize("options", [dict(time="imaginary"),
                                     dict(update="jacobi"), dict(update="random", block=2),
                                     dict(readout="mean"), dict(normalize=False), dict(hbar=0.01),
                                     dict(hbar=lambda t: 0.1 * (1 - t) + 1e-3), dict(refine=0.0)])
def test_engine_variants_reach_small_loss(options):
    res = minimize(sphere, BOUNDS, seed=0, vectorized=True, max_evals=4000, **options)
    assert res.fun < 1e-4, options
    assert res.nfev <= 4000


def test_real_time_solver_in_engine_improves():
    # real time conserves energy (packets oscillate): only the best point seen is kept
    res = minimize(sphere, BOUNDS, seed=0, vectorized=True, max_evals=4000, time="real", steps=50, dt=0.01)
    assert res.fun < 0.05 and res.fun < 1e-3 * res.history[0, 1]


def test_objective_instance_is_used_as_is():
    obj = qiml.Objective(sphere, 3, vectorized=True, max_batch_bytes=8 * 3 * 10)
    a = minimize(obj, BOUNDS, seed=9, max_evals=2000)
    b = minimize(sphere, BOUNDS, seed=9, vectorized=True, max_evals=2000)
    assert_same_result(a, b)


# ----------------------------------------------------------------------------- lattices
def test_int8_lattice_results_on_lattice():
    seen = []

    def f(X):
        seen.append(X.copy())
        return np.sum((X - 0.123) ** 2, axis=1)

    sp = Space.int_lattice(3, bits=8, scale=0.05)
    res = minimize(f, sp, seed=0, vectorized=True, nx=256, refine=0.3, max_evals=8000)
    k = res.x / 0.05
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert np.all(k >= -128) and np.all(k <= 127)
    np.testing.assert_allclose(res.x, 0.1, atol=1e-12)          # the nearest level to 0.123
    A = np.concatenate(seen) / 0.05                              # every evaluated point is quantized
    np.testing.assert_allclose(A, np.round(A), atol=1e-9)


def test_integer_lattice_results_on_lattice():
    res = minimize(lambda X: np.sum((X - 3.3) ** 2, axis=1), Space.integers([-10] * 3, [10] * 3),
                   seed=0, vectorized=True, max_evals=3000)
    np.testing.assert_array_equal(res.x, [3.0, 3.0, 3.0])
    assert res.fun == pytest.approx(3 * 0.09)


def test_mixed_lattice_and_continuous():
    sp = Space([-2.0, -2.0], [2.0, 2.0], [0.0, 0.5])
    res = minimize(lambda X: np.sum((X - 0.6) ** 2, axis=1), sp, seed=1, vectorized=True, max_evals=3000)
    assert res.x[1] == pytest.approx(0.5)
    assert abs(res.x[0] - 0.6) < 1e-3


# ----------------------------------------------------------------------------- infeasible / NaN
def test_infinite_losses_mark_infeasible_region():
    def f(X):
        out = np.sum((X - 0.5) ** 2, axis=1)
        return np.where(X[:, 0] > 0.2, np.inf, out)            # unconstrained optimum is infeasible

    res = minimize(f, [(-1, 1)] * 2, seed=0, vectorized=True, max_evals=3000)
    assert np.isfinite(res.fun)
    assert res.x[0] <= 0.2
    assert abs(res.fun - 0.09) < 2e-3                            # the constrained optimum (0.2, 0.5)


def test_nan_policy_inf_handles_nan():
    def f(X):
        out = np.sum((X - 0.5) ** 2, axis=1)
        return np.where(X[:, 1] > 0.0, np.nan, out)

    res = minimize(f, [(-1, 1)] * 2, seed=0, vectorized=True, max_evals=3000, nan_policy="inf")
    assert np.isfinite(res.fun)
    assert res.x[1] <= 0.0
    assert abs(res.fun - 0.25) < 2e-3


def test_start_in_infeasible_point():
    def f(X):
        return np.where(np.abs(X[:, 0]) > 0.5, np.inf, (X[:, 0] - 0.1) ** 2)

    res = minimize(f, [(-5, 5)], x0=[4.0], seed=0, vectorized=True, max_evals=2000)
    assert np.isfinite(res.fun) and abs(res.x[0] - 0.1) < 1e-3


# ----------------------------------------------------------------------------- double well
def test_double_well_ends_in_deep_well():
    res = minimize(double_well, [DOUBLE_WELL_BOUNDS], x0=[0.96], seed=0, vectorized=True)
    assert abs(res.x[0] - (-1.0356)) < 0.02
    assert res.fun < double_well(np.array([[0.96]]))[0] - 0.5


def test_x0_is_the_start():
    opt = QiML([(-2, 2)], x0=[0.96], seed=0)
    np.testing.assert_array_equal(opt.x, [0.96])
    np.testing.assert_array_equal(opt.ask()[0], [0.96])
    lat = QiML(Space.integers([0], [10]), x0=[3.4], seed=0)
    np.testing.assert_array_equal(lat.x, [3.0])                   # snapped onto the lattice


# ----------------------------------------------------------------------------- resume
KW = dict(seed=7, max_evals=4000, refine=0.3)


@pytest.fixture(scope="module")
def reference():
    return minimize(bumpy, BOUNDS, vectorized=True, **KW)


@pytest.mark.parametrize("n_iter", [1, 5, 30])
def test_resume_in_quantum_phase_equals_uninterrupted(tmp_path, reference, n_iter):
    opt = drive(QiML(BOUNDS, **KW), bumpy, n_iter=n_iter)
    assert opt.phase == "quantum" and not opt.stop()
    path = opt.save(tmp_path / "ck.npz")
    fresh = QiML(BOUNDS, **KW)
    fresh.load(path)
    assert fresh.nit == n_iter
    res = drive(fresh, bumpy).result
    assert_same_result(res, reference)
    assert res.message == reference.message


def test_resume_in_refine_phase_equals_uninterrupted(tmp_path, reference):
    opt = QiML(BOUNDS, **KW)
    while opt.phase != "refine":
        drive(opt, bumpy, n_iter=1)
    drive(opt, bumpy, n_iter=5)                                   # a few GA generations
    assert opt.phase == "refine" and opt.ga_fit.size > 0 and not opt.stop()
    path = opt.save(tmp_path / "ck.npz")
    fresh = QiML(BOUNDS, **KW)
    fresh.load(path)
    assert fresh.phase == "refine"
    assert_same_result(drive(fresh, bumpy).result, reference)


def test_resume_with_pending_request(tmp_path, reference):
    opt = drive(QiML(BOUNDS, **KW), bumpy, n_iter=12)
    X = opt.ask()                                                # asked, not told yet
    path = opt.save(tmp_path / "ck.npz")
    fresh = QiML(BOUNDS, **KW)
    fresh.load(path)
    np.testing.assert_array_equal(fresh.ask(), X)
    assert_same_result(drive(fresh, bumpy).result, reference)


def test_minimize_checkpoint_resume_after_interrupt(tmp_path, reference):
    path = tmp_path / "run.npz"

    def interrupt(r):
        return r.nit >= 10

    first = minimize(bumpy, BOUNDS, vectorized=True, checkpoint=path, callback=interrupt, **KW)
    assert first.status == 1 and first.nit == 10 and path.is_file()
    second = minimize(bumpy, BOUNDS, vectorized=True, checkpoint=path, resume=True, **KW)
    assert second.status == 0 and second.success
    assert_same_result(second, reference)


def test_minimize_checkpoint_resume_after_interrupt_in_refine_phase(tmp_path, reference):
    path = tmp_path / "run.npz"
    n_interrupt = reference.nit - 5                               # deep in the GA phase
    first = minimize(bumpy, BOUNDS, vectorized=True, checkpoint=path, checkpoint_every=7,
                     callback=lambda r: r.nit >= n_interrupt, **KW)
    assert first.nit == n_interrupt
    state = qiml.engine.checkpoint.load(path)
    assert state["phase"] == "refine" and state["nit"] == n_interrupt
    second = minimize(bumpy, BOUNDS, vectorized=True, checkpoint=path, resume=True, **KW)
    assert_same_result(second, reference)


def test_minimize_resume_without_existing_checkpoint_starts_fresh(tmp_path, reference):
    path = tmp_path / "new.npz"
    res = minimize(bumpy, BOUNDS, vectorized=True, checkpoint=path, resume=True, **KW)
    assert_same_result(res, reference)
    assert path.is_file()
    # resuming a finished run returns the same result without evaluating anything
    calls = []
    again = minimize(lambda X: calls.append(1) or bumpy(X), BOUNDS, vectorized=True, checkpoint=path,
                     resume=True, **KW)
    assert calls == []
    assert_same_result(again, reference)


def test_periodic_checkpoints_are_written(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    saved = []
    orig = qiml.QiML.save

    def spy(self, p):
        saved.append(self.nit)
        return orig(self, p)

    monkeypatch.setattr(qiml.QiML, "save", spy)
    res = minimize(sphere, BOUNDS, vectorized=True, seed=0, max_iter=25, checkpoint=path, checkpoint_every=10)
    assert saved == [10, 20, 25]
    assert qiml.engine.checkpoint.load(path)["nit"] == res.nit == 25


def test_state_dict_round_trip_in_memory(reference):
    opt = drive(QiML(BOUNDS, **KW), bumpy, n_iter=20)
    state = opt.state_dict()
    a, b = QiML(BOUNDS, **KW), QiML(BOUNDS, **KW)
    a.load_state_dict(state)
    b.load_state_dict(state)                                     # the same dict, twice: no aliasing
    ra, rb = drive(a, bumpy).result, drive(b, bumpy).result
    assert_same_result(ra, reference)
    assert_same_result(rb, reference)
    # and the original keeps going on its own, unaffected by the copies
    assert_same_result(drive(opt, bumpy).result, reference)


def test_state_dict_is_a_snapshot():
    opt = drive(QiML(BOUNDS, **KW), bumpy, n_iter=3)
    state = opt.state_dict()
    x, nfev, hist = state["x"].copy(), state["nfev"], state["history"].copy()
    drive(opt, bumpy, n_iter=3)
    np.testing.assert_array_equal(state["x"], x)
    assert state["nfev"] == nfev
    np.testing.assert_array_equal(state["history"], hist)


def test_resume_works_for_unseeded_runs(tmp_path):
    # seed=None: the checkpoint carries the generator's state, so a fresh unseeded optimizer
    # continues exactly as the original would have
    opt = drive(QiML(BOUNDS, seed=None, max_evals=3000, refine=0.3), bumpy, n_iter=8)
    path = opt.save(tmp_path / "ck.npz")
    other = QiML(BOUNDS, seed=None, max_evals=3000, refine=0.3)
    other.load(path)
    assert_same_result(drive(other, bumpy).result, drive(opt, bumpy).result)


def test_progress_bar_does_not_change_the_result(capsys):
    a = minimize(sphere, [(-2, 2)] * 3, seed=4, vectorized=True, max_evals=600)
    b = minimize(sphere, [(-2, 2)] * 3, seed=4, vectorized=True, max_evals=600, progress=True)
    assert np.array_equal(a.x, b.x) and a.fun == b.fun and np.array_equal(a.history, b.history)
    assert "qiml" in capsys.readouterr().out


@pytest.mark.parametrize("reheat", [True, False])
def test_reopening_windows_restarts_the_hbar_anneal_only_with_reheat(reheat):
    # a flat loss never improves after the first slice, so windows reopen every `patience` sweeps
    opt = QiML([(-1, 1)] * 2, seed=0, max_evals=3000, refine=0.0, hbar=(0.1, 0.001), reheat=reheat)
    hbars = []
    while not opt.stop():
        X = opt.ask()
        opt.tell(X, np.ones(len(X)))
        hbars.append(opt.last_hbar)
    assert opt.restarts >= 3
    rises = int(np.sum(np.diff(hbars) > 0))
    if reheat:
        # each reopening raises hbar at the next iteration (the last one may have no next iteration)
        assert opt.restarts - 1 <= rises <= opt.restarts and max(hbars[len(hbars) // 2:]) > 0.05
    else:
        assert rises == 0


def _is_line(req) -> bool:
    """A slice request along lines that are not coordinate axes (stall or sweep lines)."""
    return isinstance(req, SliceRequest) and req.axes is None


def _drive_until_lines(opt):
    """Ask/tell a flat loss (it stalls at once) until a line request is pending."""
    for _ in range(100):
        if _is_line(opt.ask_request()):
            return opt.ask_request()
        X = opt.ask()
        opt.tell(X, np.ones(len(X)))
    raise AssertionError("no line sweep was queued after stalls")


def test_stall_queues_a_sweep_along_an_orthonormal_basis_inside_the_box():
    opt = QiML([(-1, 3), (0, 1), (-5, 5)], seed=2, max_evals=5000, refine=0.0, directions="axes")
    req = _drive_until_lines(opt)
    D = np.vstack([req.directions(), opt.strategy.lines])                    # this block and the rest of the queue
    np.testing.assert_allclose(D @ D.T, np.eye(3), atol=1e-12)
    X = req.rows()
    assert np.all(X >= opt.space.lower - 1e-9) and np.all(X <= opt.space.upper + 1e-9)
    # each line spans the box: its end points touch a bound
    ends = X[[1, req.counts[0]]]
    touches = np.isclose(ends, opt.space.lower, atol=1e-9) | np.isclose(ends, opt.space.upper, atol=1e-9)
    assert touches.any(axis=1).all()


def test_no_line_sweeps_without_the_option_or_on_lattices():
    for kwargs in ({"stall_lines": False}, {}):
        bounds = [(-1, 1)] * 3 if kwargs else Space.integers([-5] * 3, [5] * 3)
        opt = QiML(bounds, seed=2, max_evals=3000, refine=0.0, nx=11, **kwargs)
        while not opt.stop():
            assert not _is_line(opt.ask_request())
            X = opt.ask()
            opt.tell(X, np.ones(len(X)))
        assert opt.restarts >= 2


def test_resume_with_a_pending_line_request_is_exact(tmp_path):

    def f(X):
        return np.round(np.sum(X * X, axis=1), 1)                  # plateaus: stalls come early

    def run(interrupt: bool):
        opt = QiML([(-2, 2)] * 3, seed=8, max_evals=4000, directions="axes")
        while not opt.stop():
            if interrupt and _is_line(opt.ask_request()):
                opt.save(tmp_path / "ck.npz")                       # stop with a line request pending
                opt = QiML([(-2, 2)] * 3, seed=8, max_evals=4000, directions="axes")
                opt.load(tmp_path / "ck.npz")
                interrupt = False
            X = opt.ask()
            opt.tell(X, f(X))
        assert not interrupt, "the run never queued a line sweep"
        return opt.result

    a, b = run(False), run(True)
    assert np.array_equal(a.x, b.x) and a.fun == b.fun and np.array_equal(a.history, b.history)


# -- trust-region growth and sweep lines (the options networks use) ---------------------------------
def _valley(dim: int = 5):
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    H = Q @ np.diag(np.logspace(0, 3, dim)) @ Q.T          # condition number 1000, rotated
    return lambda X: np.einsum("ni,ij,nj->n", X - 0.3, H, X - 0.3)


def test_sweep_lines_and_growth_cross_a_narrow_rotated_valley_faster():
    f = _valley()

    def best(**kw):
        return np.median([minimize(f, [(-2, 2)] * 5, vectorized=True, seed=s, max_evals=20000, refine=0.0,
                                   stall_lines=False, directions="axes", **kw).fun for s in range(3)])

    plain, both = best(), best(grow=1.5, sweep_lines=True)
    assert both < plain / 10, (plain, both)


def test_a_sweep_line_follows_the_sweeps_displacement():
    f = _valley(3)
    opt = QiML([(-2, 2)] * 3, x0=[0.0, 0.0, 0.0], seed=1, max_evals=10**5, sweep_lines=True, refine=0.0,
               directions="axes")
    for _ in range(3):                                       # one sweep, one parameter per request
        assert not _is_line(opt.ask_request())
        X = opt.ask()
        opt.tell(X, f(X))
    req = opt.ask_request()
    assert _is_line(req)
    d = opt.x - np.zeros(3)
    span = np.linalg.norm(d)
    np.testing.assert_allclose(req.directions()[0], d / span, atol=1e-12)
    assert req.grid[0, 0] >= -span - 1e-12 and req.grid[0, -1] <= 3 * span + 1e-12
    X = opt.ask()
    opt.tell(X, f(X))
    assert not _is_line(opt.ask_request())    # then a new axis sweep starts


def test_grow_widens_a_window_whose_packet_ends_at_its_edge():
    opt = QiML([(-10, 10)], x0=[0.0], seed=0, max_evals=10**4, grow=1.5, refine=0.0, hbar=1e-4)
    opt.strategy.low[:], opt.strategy.width[:] = [-1.0], [2.0]   # a narrowed window around 0
    req = opt.ask_request()
    opt.tell_potentials(0.0, -req.grid)                      # downhill to the right edge
    assert opt.x[0] > 0.7 and opt.strategy.width[0] == pytest.approx(3.0)
    shrinking = QiML([(-10, 10)], x0=[0.0], seed=0, max_evals=10**4, refine=0.0, hbar=1e-4)
    shrinking.strategy.low[:], shrinking.strategy.width[:] = [-1.0], [2.0]
    req = shrinking.ask_request()
    shrinking.tell_potentials(0.0, -req.grid)
    assert shrinking.strategy.width[0] < 2.0


def test_resume_with_a_pending_sweep_line_is_exact(tmp_path):
    f = _valley(3)

    def run(interrupt: bool):
        opt = QiML([(-2, 2)] * 3, seed=3, max_evals=3000, sweep_lines=True, grow=1.5, directions="axes")
        while not opt.stop():
            if interrupt and _is_line(opt.ask_request()):
                opt.save(tmp_path / "ck.npz")
                opt = QiML([(-2, 2)] * 3, seed=3, max_evals=3000, sweep_lines=True, grow=1.5, directions="axes")
                opt.load(tmp_path / "ck.npz")
                interrupt = False
            X = opt.ask()
            opt.tell(X, f(X))
        assert not interrupt, "the run never queued a sweep line"
        return opt.result

    a, b = run(False), run(True)
    assert np.array_equal(a.x, b.x) and a.fun == b.fun and np.array_equal(a.history, b.history)


@pytest.mark.parametrize("grow", [0.5, -1, float("nan")])
def test_grow_below_one_is_rejected(grow):
    with pytest.raises(ConfigError, match="grow must"):
        QiML([(-1, 1)], grow=grow)


def test_noisy_keeps_the_latest_requests_best_not_the_luckiest_score():
    """A fresh mini-batch per request shifts every score of a request alike; the slices' shapes stay
    right, but the lowest score ever seen belongs to the luckiest request, not the best point."""
    def run(noisy: bool) -> tuple[QiML, int]:
        rng = np.random.default_rng(0)
        opt, rises = QiML(BOUNDS, seed=1, max_evals=4000, refine=0.0, noisy=noisy), 0
        while not opt.stop():
            X = opt.ask()
            F = sphere(X) + rng.normal(0.0, 0.5)
            before = opt.best_f
            opt.tell(X, F)
            if noisy:
                assert opt.best_f == F.min() and np.array_equal(opt.best_x, X[np.argmin(F)])
            rises += opt.best_f > before
        return opt, rises

    plain, plain_rises = run(False)
    noisy, noisy_rises = run(True)
    assert plain_rises == 0 and noisy_rises > 0
    assert np.max(np.abs(noisy.best_x - 0.3)) < 0.01                  # the slices' shapes still lead it home
