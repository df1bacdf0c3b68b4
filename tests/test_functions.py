"""Benchmark functions: optima, basin tolerances, transformations."""

from __future__ import annotations

import numpy as np
import pytest

from qiml.functions import BASE, DOUBLE_WELL_BOUNDS, Benchmark, double_well


@pytest.mark.parametrize("rotated", [False, True])
@pytest.mark.parametrize("name", sorted(BASE))
def test_benchmark_optimum(name, rotated):
    b = Benchmark(name, 3, rotated=rotated, seed=2)
    lo, hi = np.array(b.bounds).T
    assert b.x_opt.shape == (3,)
    assert np.all(b.x_opt >= lo) and np.all(b.x_opt <= hi)
    assert b(b.x_opt)[0] == b.f_opt                       # exactly: f(x_opt) == f_opt
    assert b.basin_tol > 0
    assert b.in_basin(b.f_opt)
    assert not b.in_basin(b.f_opt + 2 * b.basin_tol)
    # x_opt is the global minimum: no random point of the box does better
    X = np.random.default_rng(0).uniform(lo, hi, (2000, 3))
    F = b(X)
    assert F.shape == (2000,)
    assert np.all(F >= b.f_opt - 1e-9)


def test_base_function_values_at_known_optima():
    expected = {"rastrigin": 0.0, "ackley": 0.0, "griewank": 0.0, "schwefel": 0.0,
                "styblinski_tang": -39.16616570377142 * 2}
    for name, value in expected.items():
        b = Benchmark(name, 2)
        assert abs(b.f_opt - value) < 1e-4, name


def test_benchmark_transform_is_seeded():
    a = Benchmark("rastrigin", 4, rotated=True, seed=5)
    b = Benchmark("rastrigin", 4, rotated=True, seed=5)
    c = Benchmark("rastrigin", 4, rotated=True, seed=6)
    np.testing.assert_array_equal(a.x_opt, b.x_opt)
    X = np.random.default_rng(1).uniform(-5, 5, (10, 4))
    np.testing.assert_array_equal(a(X), b(X))
    assert not np.array_equal(a.x_opt, c.x_opt)
    # centred functions get shifted optima, the others keep theirs
    assert not np.allclose(a.x_opt, 0.0)
    np.testing.assert_allclose(Benchmark("schwefel", 3).x_opt, 420.968746)


def test_rotation_breaks_separability_but_keeps_optimum():
    plain = Benchmark("rastrigin", 2, rotated=False, seed=0)
    rot = Benchmark("rastrigin", 2, rotated=True, seed=0)
    assert rot(rot.x_opt)[0] == rot.f_opt == plain.f_opt
    X = np.random.default_rng(2).uniform(-5, 5, (50, 2))
    assert not np.allclose(plain(X - plain.x_opt + rot.x_opt), rot(X - plain.x_opt + rot.x_opt))


def test_benchmark_accepts_single_point_and_penalises_outside():
    b = Benchmark("ackley", 2, rotated=True, seed=1)
    assert b(b.x_opt).shape == (1,)
    far = np.full(2, 1e3)
    assert b(far)[0] > 1e4


def test_unknown_benchmark():
    with pytest.raises(ValueError, match="unknown benchmark"):
        Benchmark("nope", 2)


def test_double_well_minima():
    lo, hi = DOUBLE_WELL_BOUNDS
    x = np.linspace(lo, hi, 400_001)[:, None]
    f = double_well(x)
    i = np.flatnonzero((f[1:-1] < f[:-2]) & (f[1:-1] <= f[2:])) + 1
    assert len(i) == 2
    deep, shallow = x[i, 0]
    assert abs(deep + 1.04) < 0.01 and abs(shallow - 0.96) < 0.01
    assert f[i[0]] < f[i[1]]                               # the left well is the deep one
    # only the first column is used
    np.testing.assert_array_equal(double_well(np.array([[0.5, 9.0]])), double_well(np.array([[0.5]])))
