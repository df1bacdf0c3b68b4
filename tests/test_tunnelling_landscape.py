"""The tunnelling benchmark's double well is what its docstring says: the deep minimum is the unique global one,
the barrier is H high above the shallow minimum and W wide, and the shallow well traps local searches; a smoke
run of the study keeps the options given."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from qiml.studies import tunnelling

CELLS = [(0.5, 0.025), (8.0, 0.025), (0.5, 0.4), (8.0, 0.4), (2.0, 0.1)]


@pytest.fixture(scope="module")
def tw() -> ModuleType:
    return tunnelling


@pytest.mark.parametrize("dim", [1, 10])
@pytest.mark.parametrize("H,W", CELLS)
def test_minima_and_barrier(tw: ModuleType, dim: int, H: float, W: float) -> None:
    well = tw.DoubleWell(dim, H, W, seed=3)
    assert well(well.x_deep)[0] == pytest.approx(-tw.DELTA, abs=1e-12)
    assert well(well.x_shallow)[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.abs(well.x_deep) < tw.HALF) and np.all(np.abs(well.x_shallow) < tw.HALF)
    assert well.u_shallow - well.u_deep == pytest.approx(W)
    lim = tw.HALF * np.abs(well.direction).sum()          # u = v.x over the whole box
    u = np.linspace(-lim, lim, 400_001)
    g = well.profile(u)
    step = u[1] - u[0]
    assert abs(u[np.argmin(g)] - well.u_deep) <= step and g.min() >= -tw.DELTA
    inner = (u > well.u_deep) & (u < well.u_shallow)
    assert g[inner].max() == pytest.approx(H, abs=1e-6)   # top H above the shallow minimum, at u = U_PEAK
    assert abs(u[inner][np.argmax(g[inner])] - tw.U_PEAK) <= step
    forbidden = np.count_nonzero(g[inner] > 0) * step     # where a walker at rest in the shallow well cannot go
    assert forbidden == pytest.approx(well.forbidden_width(), abs=3 * step)
    assert 0.84 * W <= forbidden <= W
    interior = (g[1:-1] < g[:-2]) & (g[1:-1] <= g[2:])    # local minima of g on the line: exactly the two wells
    assert np.count_nonzero(interior) == 2


def test_deep_minimum_is_global(tw: ModuleType) -> None:
    rng = np.random.default_rng(0)
    for dim in (1, 10):
        for H, W in CELLS:
            well = tw.DoubleWell(dim, H, W, seed=1)
            X = rng.uniform(-tw.HALF, tw.HALF, (20_000, dim))
            F = well(X)
            assert F.min() >= -tw.DELTA
            assert np.all(F[F < 0] >= -tw.DELTA) and np.all([well.in_deep_basin(x) for x in X[F < 0]])
            assert well.in_deep_basin(well.x_deep) and not well.in_deep_basin(well.x_shallow)


def test_gradient_matches_finite_differences(tw: ModuleType) -> None:
    rng = np.random.default_rng(1)
    for H, W in CELLS:
        well = tw.DoubleWell(10, H, W, seed=2)
        for x in rng.uniform(-tw.HALF, tw.HALF, (5, 10)):
            e = 1e-6 * np.eye(10)
            num = (well(x + e) - well(x - e)) / 2e-6
            np.testing.assert_allclose(well.gradient(x), num, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dim,least", [(1, 0.7), (10, 0.8)])
def test_shallow_well_traps_local_search(tw: ModuleType, dim: int, least: float) -> None:
    from scipy.optimize import minimize

    for H, W in [(0.5, 0.4), (8.0, 0.025)]:
        well = tw.DoubleWell(dim, H, W, seed=0)
        starts = np.random.default_rng(5).uniform(-tw.HALF, tw.HALF, (60, dim))
        ends = [minimize(lambda x, well=well: float(well(x)[0]), x0, jac=well.gradient, method="L-BFGS-B",
                         bounds=well.bounds).x for x0 in starts]
        dist = np.array([[np.linalg.norm(x - well.x_deep), np.linalg.norm(x - well.x_shallow)] for x in ends])
        assert np.all(dist.min(axis=1) < 1e-3)            # every local search ends in one of the two minima
        assert np.mean(dist[:, 1] < dist[:, 0]) >= least  # ... mostly in the shallow one


def test_instances_are_deterministic(tw: ModuleType) -> None:
    a, b, c = tw.DoubleWell(10, 1.0, 0.1, 4), tw.DoubleWell(10, 1.0, 0.1, 4), tw.DoubleWell(10, 1.0, 0.1, 5)
    np.testing.assert_array_equal(a.direction, b.direction)
    assert not np.allclose(a.direction, c.direction)
    assert np.linalg.norm(a.direction) == pytest.approx(1.0)
    np.testing.assert_array_equal(tw.DoubleWell(1, 1.0, 0.1, 9).direction, [1.0])
    with pytest.raises(ValueError):
        tw.DoubleWell(1, 1.0, 0.7)                         # the deep minimum would leave the box


def test_smoke_run_keeps_the_options_given(tmp_path) -> None:
    """``--smoke`` fills only the options not given: ``--smoke --seeds 3 --dims 2`` runs 3 seeds in 2-D."""
    argv = ["--smoke", "--seeds", "3", "--dims", "2", "--methods", "random", "--heights", "2", "--widths", "0.1",
            "--workers", "1", "--out", str(tmp_path)]
    assert tunnelling.main(argv) == 0
    rows = (tmp_path / "tunnelling.csv").read_text().splitlines()
    assert rows[1].startswith("2,random,2.0,0.1,200,3,") and len(rows) == 2             # one cell, 3 runs of 2 x 100
    assert ("`python -m qiml.studies.tunnelling --smoke --seeds 3 --dims 2 --budget-per-dim 100 --methods random "
            "--heights 2 --widths 0.1`") in (tmp_path / "tunnelling.md").read_text()
