"""Read-outs of packet densities, the GA refinement helpers and the annealing schedules."""

from __future__ import annotations

import numpy as np
import pytest

from qiml import ConfigError, Space
from qiml.engine import readout, refine
from qiml.engine.schedules import Constant, Geometric, Linear, as_schedule


def gaussian_rows(grid: np.ndarray, centres, widths, weights=None) -> np.ndarray:
    rho = np.zeros_like(grid)
    weights = np.ones(len(centres)) if weights is None else weights
    for c, w, a in zip(centres, widths, weights, strict=True):
        rho += a * np.exp(-0.5 * ((grid - c) / w) ** 2)
    return rho / rho.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- readout
def test_single_peak_readouts_agree():
    grid = np.tile(np.linspace(-1, 1, 201), (1, 1))
    counts = np.array([201])
    rho = gaussian_rows(grid, [0.3], [0.05])
    mean = readout.position(rho, grid, counts, "mean")
    mode = readout.position(rho, grid, counts, "mode")
    auto = readout.position(rho, grid, counts, "auto")
    np.testing.assert_allclose(mean, 0.3, atol=1e-9)
    np.testing.assert_allclose(mode, 0.3, atol=1e-12)
    np.testing.assert_allclose(auto, 0.3, atol=1e-6)
    np.testing.assert_allclose(readout.spread(rho, grid, counts), 0.05, rtol=1e-3)


def test_auto_readout_picks_main_peak_not_the_middle():
    grid = np.linspace(0, 1, 301)[None, :]
    counts = np.array([301])
    rho = gaussian_rows(grid, [0.2, 0.8], [0.03, 0.03], weights=[1.0, 0.6])
    mean = readout.position(rho, grid, counts, "mean")[0]
    auto = readout.position(rho, grid, counts, "auto")[0]
    mode = readout.position(rho, grid, counts, "mode")[0]
    assert 0.35 < mean < 0.65            # the mean lands between the wells ...
    assert abs(auto - 0.2) < 1e-3        # ... the auto read-out does not
    assert abs(mode - 0.2) < 1e-12


def test_readout_ignores_padding():
    grid = np.array([[0.0, 1.0, 2.0, 2.0, 2.0]])
    counts = np.array([3])
    rho = np.array([[0.0, 0.1, 0.1, 0.4, 0.4]])   # padded entries carry junk
    assert readout.position(rho, grid, counts, "mean")[0] == pytest.approx(1.5)
    assert readout.spread(rho, grid, counts)[0] == pytest.approx(0.5)


def test_readout_batched_rows():
    grid = np.tile(np.linspace(0, 1, 101), (3, 1))
    counts = np.array([101, 101, 101])
    rho = np.vstack([gaussian_rows(grid[:1], [c], [0.02]) for c in (0.1, 0.5, 0.9)])
    for method in readout.READOUTS:
        np.testing.assert_allclose(readout.position(rho, grid, counts, method), [0.1, 0.5, 0.9], atol=1e-6)


# ----------------------------------------------------------------------------- refine
def test_default_popsize():
    assert refine.default_popsize(1) == 10
    assert refine.default_popsize(1000) == 2 * (4 + int(3 * np.log(1000)))
    sizes = [refine.default_popsize(p) for p in (1, 10, 100, 10_000)]
    assert sizes == sorted(sizes)


def test_initial_population():
    sp = Space([-1.0, 0.0], [1.0, 10.0], [0.0, 1.0])
    rng = np.random.default_rng(0)
    centre = np.array([0.2, 4.0])
    pop = refine.initial_population(rng, centre, np.array([0.1, 2.0]), sp, 50)
    assert pop.shape == (50, 2)
    np.testing.assert_array_equal(pop[0], centre)
    assert np.all(pop >= sp.lower) and np.all(pop <= sp.upper)
    np.testing.assert_array_equal(pop[:, 1], np.round(pop[:, 1]))   # on the lattice
    assert 0.05 < np.std(pop[:, 0]) < 0.2


def test_offspring_in_box_and_on_lattice():
    sp = Space([-1.0, 0.0], [1.0, 10.0], [0.0, 1.0])
    rng = np.random.default_rng(1)
    pop = sp.sample(rng, 20)
    fit = np.sum(pop ** 2, axis=1)
    kids = refine.offspring(rng, pop, fit, np.array([0.5, 3.0]), sp)
    assert kids.shape == pop.shape
    assert np.all(kids >= sp.lower) and np.all(kids <= sp.upper)
    np.testing.assert_array_equal(kids[:, 1], np.round(kids[:, 1]))


def test_survivors_keep_the_best_and_prefer_parents_on_ties():
    pop = np.array([[0.0], [1.0], [2.0]])
    fit = np.array([3.0, 1.0, 5.0])
    kids = np.array([[10.0], [11.0], [12.0]])
    kid_fit = np.array([0.5, 3.0, 9.0])
    new, new_fit, kept = refine.survivors(pop, fit, kids, kid_fit)
    np.testing.assert_array_equal(new_fit, [0.5, 1.0, 3.0])
    np.testing.assert_array_equal(new[:, 0], [10.0, 1.0, 0.0])   # parent 0 beats child 1 on the tie
    assert kept == 1


def test_adapt_sigma_one_fifth_rule():
    sigma = np.array([1.0, 1.0])
    floor = np.array([0.0, 0.9])
    assert np.all(refine.adapt_sigma(sigma, 0.5, floor) > sigma)
    narrowed = refine.adapt_sigma(sigma, 0.0, floor)
    assert narrowed[0] < 1.0 and narrowed[1] == 0.9              # the floor holds
    np.testing.assert_allclose(refine.adapt_sigma(sigma, 0.2, floor), sigma)


# ----------------------------------------------------------------------------- schedules
def test_schedules():
    g = Geometric(0.1, 0.001)
    assert g(0.0) == pytest.approx(0.1) and g(1.0) == pytest.approx(0.001)
    assert g(0.5) == pytest.approx(0.01)
    assert g(-1.0) == g(0.0) and g(2.0) == g(1.0)                # progress is clipped
    lin = Linear(1.0, 3.0)
    assert lin(0.5) == 2.0 and lin(5.0) == 3.0
    assert Constant(0.3)(0.7) == 0.3
    assert as_schedule((0.1, 0.001), "hbar") == g
    assert as_schedule(0.5, "hbar") == Constant(0.5)
    assert as_schedule(lin, "hbar") is lin
    s = as_schedule(lambda t: 1.0 + t, "hbar")
    assert s(0.5) == 1.5
    assert g.describe() == {"kind": "Geometric", "start": 0.1, "end": 0.001}
    assert Constant(2.0).describe() == {"kind": "Constant", "value": 2.0}


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), (0.1, 0.0), (0.1, -0.01),
                                   (0.0, 0.1), (-0.1, 0.1), "abc", (1, 2, 3), Linear(1.0, 0.0)])
def test_as_schedule_rejects_non_positive_or_bad(value):
    with pytest.raises(ConfigError, match="hbar"):
        as_schedule(value, "hbar")


def test_callable_schedule_checked_when_called():
    s = as_schedule(lambda t: 0.1 * (1.0 - t), "hbar")
    assert s(0.5) == pytest.approx(0.05)
    with pytest.raises(ConfigError, match="hbar schedule returned 0.0 at progress 1.000"):
        s(1.0)
