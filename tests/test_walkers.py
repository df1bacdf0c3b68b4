"""The walker ensemble (``search="walkers"``), the hybrid with slices and the ``search="auto"`` portfolio."""

from __future__ import annotations

import numpy as np
import pytest

import qiml
from qiml import QiML, Space
from qiml.engine import walkers as W
from qiml.engine.directions import Adapted
from qiml.engine.options import Options
from qiml.engine.schedules import as_schedule
from qiml.errors import CheckpointError, ConfigError
from qiml.requests import PopulationRequest, SliceRequest


def _rotation(P: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((P, P)))
    return q


def _rastrigin(X: np.ndarray) -> np.ndarray:
    return 10 * X.shape[1] + np.sum(X**2 - 10 * np.cos(2 * np.pi * X), axis=1)


def _ellipsoid(R: np.ndarray):
    scales = 10.0 ** np.linspace(0, 3, R.shape[0])

    def f(X: np.ndarray) -> np.ndarray:
        return np.sum((scales * ((X - 1.0) @ R.T)) ** 2, axis=1)
    return f


def test_systematic_resampling_draws_in_proportion_to_the_weights() -> None:
    rng = np.random.default_rng(0)
    w = np.array([1.0, 3.0, 0.0, 4.0])
    idx = W._systematic(w, 800, rng)
    counts = np.bincount(idx, minlength=4)
    # systematic resampling is within one draw of the expectation for every walker
    assert np.all(np.abs(counts - 800 * w / w.sum()) <= 1)


def test_walkers_learn_a_rotated_ill_conditioned_ellipsoid() -> None:
    f = _ellipsoid(_rotation(6))
    res = qiml.minimize(f, [(-5, 5)] * 6, vectorized=True, max_evals=20000, seed=1, search="walkers", target=1e-10)
    assert res.fun <= 1e-10
    np.testing.assert_allclose(res.x, np.ones(6), atol=1e-4)


def test_walkers_beat_slices_on_rotated_rastrigin() -> None:
    # the mean-field slices stall where every line through the point is optimal; the ensemble does not
    R = _rotation(4, seed=3)

    def f(X: np.ndarray) -> np.ndarray:
        return _rastrigin((X - 0.5) @ R.T)

    def run(search: str) -> float:
        return float(np.median([qiml.minimize(f, [(-5, 5)] * 4, vectorized=True, max_evals=16000, seed=s,
                                              search=search).fun for s in range(5)]))
    assert run("walkers") < run("slices")


def test_walkers_respect_box_lattice_and_budget() -> None:
    space = Space([-3, 0, -1], [3, 10, 1], step=[0, 1, 0])
    seen: list[np.ndarray] = []

    def f(X: np.ndarray) -> np.ndarray:
        seen.append(X.copy())
        return np.sum((X - [1.1, 7.0, 0.3]) ** 2, axis=1)

    res = qiml.minimize(f, space, vectorized=True, max_evals=1001, seed=0, search="walkers")
    X = np.vstack(seen)
    assert X.shape[0] == res.nfev <= 1001
    assert np.all(X >= space.lower) and np.all(X <= space.upper)
    np.testing.assert_array_equal(X[:, 1], np.round(X[:, 1]))
    assert res.x[1] == 7.0


def test_population_grows_at_each_restart() -> None:
    space = Space([-1.0] * 2, [1.0] * 2)
    ens = W.Walkers(space, 8, 0.2, as_schedule((1.0, 0.05), "h"), max_rows=10**6)
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(3):
        ens.restart(rng)
        sizes.append(ens.ask(rng).shape[0])
    assert sizes == [8, 16, 32]
    ens = W.Walkers(space, 8, 0.2, as_schedule((1.0, 0.05), "h"), max_rows=20)
    ens.restarts = 5
    assert ens.n == 20                     # bounded by the memory of one batch


def test_hybrid_alternates_walkers_and_slices() -> None:
    f = _ellipsoid(_rotation(3, seed=1))
    opt = QiML([(-5, 5)] * 3, seed=2, max_evals=6000, search="hybrid")
    kinds = []
    while not opt.stop():
        req = opt.ask_request()
        kinds.append(type(req).__name__)
        opt.tell(opt.ask(), f(opt.ask()))
    assert kinds[0] == "PopulationRequest"
    assert "SliceRequest" in kinds                      # the walkers handed a basin to the slices
    first_slice = kinds.index("SliceRequest")
    assert "PopulationRequest" in kinds[first_slice:]  # and a slice stall handed back to new walkers
    assert opt.result.fun < 1e-8


def test_handoff_adopts_the_ensemble_shape() -> None:
    space = Space([-5.0] * 3, [5.0] * 3)
    R = _rotation(3, seed=4)
    cov = R @ np.diag([1e-2, 1e-4, 1e-6]) @ R.T
    strat = Adapted(space, Options(), np.zeros(3))
    strat.adopt(np.zeros(3), cov)
    B = strat.basis(0)
    # the slices run along the covariance's eigenvectors, windows four standard deviations wide
    np.testing.assert_allclose(np.abs(B.T @ R), np.eye(3)[::-1], atol=1e-8)
    np.testing.assert_allclose(np.sort(strat.w), 4 * np.sqrt([1e-6, 1e-4, 1e-2]), rtol=1e-8)


def test_auto_starts_with_slices_then_runs_walkers() -> None:
    R = _rotation(3, seed=5)

    def f(X: np.ndarray) -> np.ndarray:
        return _rastrigin((X - 0.3) @ R.T)

    opt = QiML([(-5, 5)] * 3, seed=0, max_evals=8000)
    assert opt.mode == "auto"
    assert isinstance(opt.ask_request(), SliceRequest)
    kinds = set()
    while not opt.stop():
        kinds.add(type(opt.ask_request()).__name__)
        X = opt.ask()
        opt.tell(X, f(X))
    assert kinds == {"SliceRequest", "PopulationRequest"}


def test_auto_keeps_slices_for_large_or_curvature_models() -> None:
    assert QiML([(-1, 1)] * 1001, seed=0).mode == "slices"
    curv = lambda x, params: None  # noqa: E731
    assert QiML([(-1, 1)] * 4, seed=0, curvature=curv, directions="curvature").mode == "slices"
    assert QiML([(-1, 1)] * 4, seed=0, curvature=curv, directions="curvature", search="hybrid").mode == "hybrid"


@pytest.mark.parametrize("search", ["walkers", "hybrid", "auto"])
@pytest.mark.parametrize("stop_at", [0, 7, 60])
def test_resume_is_exact_with_a_pending_request(search: str, stop_at: int) -> None:
    R = _rotation(4, seed=6)

    def f(X: np.ndarray) -> np.ndarray:
        return _rastrigin((X - 0.2) @ R.T)

    kw = dict(seed=3, max_evals=5000, search=search)
    a = QiML([(-5, 5)] * 4, **kw)
    for _ in range(stop_at):
        X = a.ask()
        a.tell(X, f(X))
    a.ask()                                   # a pending request travels in the state
    b = QiML([(-5, 5)] * 4, **kw)
    b.load_state_dict(a.state_dict())
    for opt in (a, b):
        while not opt.stop():
            X = opt.ask()
            opt.tell(X, f(X))
    np.testing.assert_array_equal(a.result.history, b.result.history)
    np.testing.assert_array_equal(a.result.x, b.result.x)
    assert a.nfev == b.nfev <= 5000


def test_resume_through_a_checkpoint_file(tmp_path) -> None:
    f = _ellipsoid(_rotation(3))
    kw = dict(vectorized=True, max_evals=3000, seed=4, search="hybrid")
    whole = qiml.minimize(f, [(-5, 5)] * 3, **kw)
    path = tmp_path / "run.ckpt.npz"
    first = qiml.minimize(f, [(-5, 5)] * 3, checkpoint=path, checkpoint_every=5,
                          callback=lambda r: r.nit >= 40, **kw)
    assert first.status == 1
    rest = qiml.minimize(f, [(-5, 5)] * 3, checkpoint=path, resume=True, **kw)
    np.testing.assert_array_equal(rest.history, whole.history)


def test_corrupt_walker_state_is_refused() -> None:
    opt = QiML([(-1, 1)] * 3, seed=0, search="walkers")
    state = opt.state_dict()
    state["walk.walkers"] = np.full((5, 2), 0.5)
    with pytest.raises(CheckpointError, match="walkers"):
        QiML([(-1, 1)] * 3, seed=0, search="walkers").load_state_dict(state)
    state = opt.state_dict()
    state["walk.C"] = np.full((3, 3), np.nan)
    with pytest.raises(CheckpointError, match="NaN"):
        QiML([(-1, 1)] * 3, seed=0, search="walkers").load_state_dict(state)


@pytest.mark.parametrize("opts, match", [
    ({"search": "dmc"}, "search must be one of"),
    ({"walkers": 2}, "walkers must be None or an int >= 4"),
    ({"walkers": 8.0}, "walkers must be None or an int >= 4"),
    ({"walker_sigma": 0.0}, "walker_sigma"),
    ({"walker_drift": 1.5}, "walker_drift must be in"),
    ({"walker_hbar": -1.0}, "walker_hbar"),
])
def test_bad_walker_options_are_named(opts: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        QiML([(-1, 1)] * 2, **opts)


def test_population_request_rows_are_the_children() -> None:
    opt = QiML([(-2, 2)] * 3, seed=0, search="walkers", walkers=12)
    req = opt.ask_request()
    assert isinstance(req, PopulationRequest) and req.n_rows == 12
    opt.tell(opt.ask(), np.sum(opt.ask() ** 2, axis=1))
    assert opt.nfev == 12 and opt.ensemble is not None and opt.ensemble.gen == 1


def test_auto_shares_the_budget_between_slices_and_walkers() -> None:
    R = _rotation(3, seed=7)

    def f(X: np.ndarray) -> np.ndarray:
        return _rastrigin((X - 0.3) @ R.T) + 1.0      # never at its target: the whole budget is spent

    opt = QiML([(-5, 5)] * 3, seed=1, max_evals=30000)
    switches, last = 0, None
    while not opt.stop():
        kind = opt.phase
        switches += kind != last and last is not None
        last = kind
        X = opt.ask()
        opt.tell(X, f(X))
    assert switches >= 3                                   # slices -> walkers -> slices -> ...
    assert 0.3 <= opt.walker_nfev / opt.nfev <= 0.7
