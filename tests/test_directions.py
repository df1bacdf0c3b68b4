"""Slice directions: the adapted basis, auto's switch from the axes, windows in the box, restarts
and exact resumption (qiml.engine.directions)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import qiml
from qiml import ConfigError, Space
from qiml.engine.directions import Adapted, Axes, Lines, make_strategy
from qiml.engine.options import Options
from qiml.requests import SliceRequest

# these tests pin the slice search's own mechanics; the default search="auto" hands over to walkers at
# the first stall (tests/test_walkers.py)
QiML = functools.partial(qiml.QiML, search="slices")
minimize = functools.partial(qiml.minimize, search="slices")


def rotated_ellipsoid(dim: int = 4, cond: float = 1e4, seed: int = 0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    H = Q @ np.diag(np.logspace(0, np.log10(cond), dim)) @ Q.T
    return lambda X: np.einsum("ni,ij,nj->n", X - 0.3, H, X - 0.3)


def drive(opt: QiML, fun, n_iter: int | None = None, check=None) -> QiML:
    i = 0
    while not opt.stop() and (n_iter is None or i < n_iter):
        if check is not None:
            check(opt)
        X = opt.ask()
        opt.tell(X, fun(X))
        i += 1
    return opt


def test_the_adapted_basis_solves_a_rotated_ellipsoid_that_stalls_the_axes():
    f = rotated_ellipsoid()
    kw = dict(vectorized=True, max_evals=6000, refine=0.0, target=1e-10)
    adapted = [minimize(f, [(-2, 2)] * 4, seed=s, directions="adapted", **kw) for s in range(3)]
    axes = [minimize(f, [(-2, 2)] * 4, seed=s, directions="axes", **kw) for s in range(3)]
    assert max(r.fun for r in adapted) <= 1e-10
    assert np.median([r.fun for r in axes]) > 1e3 * np.median([r.fun for r in adapted])


def test_the_basis_turns_towards_the_valley():
    f = rotated_ellipsoid(cond=1e3)
    opt = drive(QiML([(-2, 2)] * 4, seed=1, max_evals=1500, refine=0.0, directions="adapted", restart="best"), f)
    ev = np.linalg.eigvalsh(opt.strategy.covariance())
    assert ev.max() / ev.min() > 30                       # the covariance learned an elongated shape
    B = opt.strategy.basis()
    np.testing.assert_allclose(B.T @ B, np.eye(4), atol=1e-10)   # directions stay orthonormal


def test_auto_starts_on_the_axes():
    opt = QiML([(-3, 3)] * 3, seed=2, max_evals=600, refine=0.0)
    for _ in range(3):                                     # the first sweep: one axis each
        assert opt.ask_request().axes is not None
        X = opt.ask()
        opt.tell(X, np.sum((X - 0.5) ** 2, axis=1))


def test_auto_leaves_the_axes_on_a_rotated_valley():
    seen = []
    f = rotated_ellipsoid(cond=1e4)
    drive(QiML([(-2, 2)] * 4, seed=3, max_evals=3000, refine=0.0), f,
          check=lambda o: seen.append(o.ask_request().axes is None))
    assert any(seen)


def test_adapted_grids_hold_x_once_and_stay_in_the_box():
    rng = np.random.default_rng(0)
    opt = QiML([(-1, 2), (0, 1), (-5, 5)], seed=4, max_evals=3000, refine=0.0, directions="adapted", nx=7)
    lo, hi = opt.space.lower, opt.space.upper
    while not opt.stop():
        req = opt.ask_request()
        assert np.all(req.grid[np.arange(req.counts.size), req.centre] == 0.0)      # t = 0 is a grid point
        assert req.n_rows == 1 + int(np.sum(req.counts - 1))                         # ... not evaluated twice
        X = opt.ask()
        assert np.all(X >= lo) and np.all(X <= hi)
        opt.tell(X, np.sum(X ** 2, axis=1) + 0.1 * rng.random())


def test_slices_reach_the_faces_of_the_box():
    # the minimum of a linear function is a corner: a window longer than the way to a face ends on it
    w = np.array([1.0, -2.0, 0.5])
    res = minimize(lambda X: X @ w, [(-1, 2)] * 3, vectorized=True, x0=[1.5, 1.0, 0.0], seed=0,
                   max_evals=40, refine=0.0, directions="auto")
    assert res.fun == pytest.approx(-1 - 4 - 0.5, abs=1e-12)
    np.testing.assert_array_equal(res.x, [-1.0, 2.0, -1.0])


def test_ipop_restarts_start_elsewhere_with_twice_the_grid_points():
    opt = QiML([(-1, 1)] * 3, seed=5, max_evals=20000, refine=0.0, directions="adapted")
    starts, counts = [], []
    while not opt.stop() and opt.restarts < 3:
        before = opt.restarts
        X = opt.ask()
        opt.tell(X, np.ones(len(X)))                       # flat: every slice fails, the windows collapse
        if opt.restarts > before:
            starts.append(opt.x.copy())
            counts.append(int(opt.ask_request().counts.max()))
    assert opt.restarts == 3 and counts == [5, 11, 23]    # 3 points, then 2x, 4x, 8x (odd) per slice
    assert len({tuple(s) for s in starts}) == 3           # each restart from a new random point


def test_best_restart_reopens_around_the_best_point():
    opt = QiML([(-1, 1)] * 3, seed=5, max_evals=20000, refine=0.0, directions="adapted", restart="best")
    while not opt.stop() and opt.restarts < 1:
        X = opt.ask()
        opt.tell(X, np.ones(len(X)))
    np.testing.assert_array_equal(opt.x, opt.best_x)
    assert opt.strategy.scale == 1


@pytest.mark.parametrize("n_iter", [1, 4, 23, 160])
@pytest.mark.parametrize("directions", ["adapted", "auto"])
def test_resume_with_adapted_directions_is_exact(tmp_path, directions, n_iter):
    f = rotated_ellipsoid(dim=3, cond=1e3)
    kw = dict(seed=7, max_evals=2500, directions=directions)
    reference = drive(QiML([(-2, 2)] * 3, **kw), f).result
    first = drive(QiML([(-2, 2)] * 3, **kw), f, n_iter=n_iter)
    first.ask_request()                                    # save with a request pending
    first.save(tmp_path / "ck.npz")
    second = QiML([(-2, 2)] * 3, **kw)
    second.load(tmp_path / "ck.npz")
    res = drive(second, f).result
    assert np.array_equal(res.x, reference.x) and res.fun == reference.fun
    assert np.array_equal(res.history, reference.history)


def test_adapted_directions_need_continuous_parameters():
    with pytest.raises(ConfigError, match="needs continuous parameters"):
        QiML(Space.integers([0, 0], [5, 5]), directions="adapted")
    # auto falls back to the axes on a lattice
    assert isinstance(QiML(Space.integers([0, 0], [5, 5]), directions="auto", stall_lines=False).strategy, Axes)


def test_the_registry_picks_and_wraps():
    space = Space([-1.0] * 3, [1.0] * 3)
    x = np.zeros(3)
    assert isinstance(make_strategy(space, Options(directions="adapted"), x), Adapted)
    assert isinstance(make_strategy(space, Options(directions="axes"), x), Lines)          # stall lines on
    assert isinstance(make_strategy(space, Options(directions="axes", stall_lines=False), x), Axes)
    with pytest.raises(ConfigError, match="directions must be one of"):
        Options(directions="diagonal")


def test_requests_of_every_strategy_are_one_slice_request_type():
    for directions in ("axes", "adapted", "auto"):
        opt = QiML([(-1, 1)] * 4, seed=0, max_evals=800, refine=0.0, directions=directions)
        while not opt.stop():
            assert isinstance(opt.ask_request(), SliceRequest)
            X = opt.ask()
            opt.tell(X, np.sum(np.cos(3 * X), axis=1))


# -- parameter blocks (a network's neurons) -----------------------------------------------------------
def test_blocks_must_partition_the_parameters():
    for blocks, match in (([[0, 1], [1, 2]], "partition"), ([[0, 1]], "partition"), ([[0, 1, 2], []], "non-empty"),
                          ([[0.5, 1, 2]], "integer")):
        with pytest.raises(ConfigError, match=match):
            QiML([(-1, 1)] * 3, directions="adapted", blocks=blocks)


def test_block_directions_move_one_block_each_and_resume_exactly(tmp_path):
    f = rotated_ellipsoid(dim=5, cond=1e3)
    blocks = [np.array([0, 3]), np.array([1, 2, 4])]
    kw = dict(seed=2, max_evals=3000, directions="adapted", blocks=blocks, refine=0.0)

    def local(opt):
        req = opt.ask_request()
        moved = {int(i) for i in req.support[0][req.coef[0] != 0]}
        assert any(moved <= set(b.tolist()) for b in blocks)

    reference = drive(QiML([(-2, 2)] * 5, **kw), f, check=local).result
    first = drive(QiML([(-2, 2)] * 5, **kw), f, n_iter=37)
    first.save(tmp_path / "ck.npz")
    second = QiML([(-2, 2)] * 5, **kw)
    second.load(tmp_path / "ck.npz")
    res = drive(second, f).result
    assert np.array_equal(res.x, reference.x) and np.array_equal(res.history, reference.history)
    with pytest.raises(Exception, match="other settings"):
        QiML([(-2, 2)] * 5, **{**kw, "blocks": [np.arange(5)]}).load(tmp_path / "ck.npz")


def test_networks_train_better_in_neuron_blocks_than_on_the_axes():
    from qiml.datasets import make_teacher_student
    from qiml.nn import MLP
    from qiml.training import AXIS_NETWORK_OPTIONS, fit_network

    X, y, _ = make_teacher_student(n_samples=600, n_features=4, n_hidden=3, seed=1)
    net = MLP((4, 3, 1), "tanh")
    axes = fit_network(net, X, y, "mse", seed=0, max_evals=6000, output="params", **AXIS_NETWORK_OPTIONS)
    adapted = fit_network(net, X, y, "mse", seed=0, max_evals=6000, output="params", directions="adapted", nx=None)
    default = fit_network(net, X, y, "mse", seed=0, max_evals=6000)   # curvature, output layer solved
    assert adapted.fun < axes.fun / 3, (adapted.fun, axes.fun)
    assert default.fun < adapted.fun / 100, (default.fun, adapted.fun)


# ----------------------------------------------------------------------------- curvature directions
def block_ellipsoid(seed: int = 0):
    """Two blocks {0..3} and {4, 5}, each a rotated ill-conditioned quadratic, and their exact curvature."""
    rng = np.random.default_rng(seed)
    blocks = [np.arange(4), np.arange(4, 6)]
    Hs = []
    for b in blocks:
        Q, _ = np.linalg.qr(rng.normal(size=(b.size, b.size)))
        Hs.append(Q @ np.diag(np.logspace(0, 4, b.size)) @ Q.T)

    def f(X):
        return sum(np.einsum("ni,ij,nj->n", X[:, b] - 0.3, H, X[:, b] - 0.3) for b, H in zip(blocks, Hs, strict=True))

    calls = []

    def curvature(x, params):
        calls.append(params.copy())
        for b, H in zip(blocks, Hs, strict=True):
            if np.array_equal(params, b):
                lam, vecs = np.linalg.eigh(H)
                return vecs, np.full(b.size, np.inf)
        return None
    return f, blocks, curvature, calls


def test_curvature_directions_follow_the_model_and_solve_rotated_blocks():
    f, blocks, curvature, calls = block_ellipsoid()
    opt = QiML([(-2, 2)] * 6, seed=0, max_evals=3000, directions="curvature", blocks=blocks, curvature=curvature,
               block=3, refine=0.0, target=1e-12)

    def check(o):
        assert o.strategy.name == "curvature"
    drive(opt, f, check=check)
    assert opt.result.fun <= 1e-12
    assert all(any(np.array_equal(c, b) for b in blocks) for c in calls)    # asked block by block
    assert not opt.strategy.learned.any()
    axes = minimize(f, [(-2, 2)] * 6, seed=0, max_evals=3000, vectorized=True, directions="axes", refine=0.0)
    assert axes.fun > 1e3 * opt.result.fun


def test_curvature_requests_hold_at_most_block_directions_of_one_block():
    f, blocks, curvature, _ = block_ellipsoid()
    opt = QiML([(-2, 2)] * 6, seed=1, max_evals=400, directions="curvature", blocks=blocks, curvature=curvature,
               block=3, refine=0.0)
    seen = []
    while not opt.stop():
        req = opt.ask_request()
        moved = set(req.support[req.coef != 0].tolist())
        assert req.support.shape[0] <= 3 and any(moved <= set(b.tolist()) for b in blocks)
        seen.append(req.support.shape[0])
        opt.tell_values(np.asarray(f(req.rows(0, req.n_rows))))
    assert 3 in seen and 1 in seen          # block {0..3}: 3 then 1 directions; block {4, 5}: 2


def test_blocks_without_a_model_curvature_learn_their_directions(tmp_path):
    f, blocks, curvature, _ = block_ellipsoid()
    only_first = lambda x, p: curvature(x, p) if p[0] == 0 else None  # noqa: E731
    kw = dict(seed=2, max_evals=2000, directions="curvature", blocks=blocks, curvature=only_first)
    opt = drive(QiML([(-2, 2)] * 6, **kw), f, n_iter=40)
    np.testing.assert_array_equal(opt.strategy.learned, [False, True])
    opt.save(tmp_path / "ck.npz")
    back = QiML([(-2, 2)] * 6, **kw)
    back.load(tmp_path / "ck.npz")
    np.testing.assert_array_equal(back.strategy.learned, [False, True])
    ref = drive(opt, f).result
    res = drive(back, f).result
    assert np.array_equal(res.x, ref.x) and res.nfev == ref.nfev
    # a black box has no curvature: every block learns, as "adapted" does
    bb = minimize(f, [(-2, 2)] * 6, seed=2, max_evals=500, vectorized=True, directions="curvature", blocks=blocks)
    assert np.isfinite(bb.fun)


def test_curvature_directions_need_continuous_parameters_and_a_callable():
    with pytest.raises(ConfigError, match="continuous"):
        QiML(Space([0, 0], [4, 4], [1, 1]), directions="curvature")
    with pytest.raises(ConfigError, match="curvature must be a callable"):
        QiML([(-1, 1)] * 2, directions="curvature", curvature=3)
