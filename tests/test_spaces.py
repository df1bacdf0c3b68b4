"""Parameter spaces: boxes, lattices, coercion, snapping, window grids and sampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import Bounds

from qiml import BoundsError, Space
from qiml.spaces import as_space


def on_lattice(space: Space, x: np.ndarray, tol: float = 1e-9) -> bool:
    k = (np.asarray(x) - space.lower) / np.where(space.is_lattice, space.step, 1.0)
    return bool(np.all(np.where(space.is_lattice, np.abs(k - np.round(k)) < tol, True)))


# ----------------------------------------------------------------------------- construction
def test_as_space_accepts_pairs_bounds_and_space():
    sp = as_space([(-1, 2), (0, 5)])
    np.testing.assert_array_equal(sp.lower, [-1.0, 0.0])
    np.testing.assert_array_equal(sp.upper, [2.0, 5.0])
    np.testing.assert_array_equal(sp.step, [0.0, 0.0])
    assert sp.dim == 2 and not sp.is_lattice.any()
    assert as_space(((-1.0, 2.0), (0.0, 5.0))) == sp
    assert as_space(np.array([[-1, 2], [0, 5]])) == sp
    assert as_space(Bounds([-1, 0], [2, 5])) == sp
    assert as_space(sp) is sp
    np.testing.assert_array_equal(sp.width, [3.0, 5.0])


def test_as_space_rejects_lower_upper_rows_with_a_pointer_to_space():
    # (2, P) rows are ambiguous with (P, 2) pairs at P = 2, so only SciPy's pairs are accepted
    with pytest.raises(BoundsError, match=r"\(low, high\) pairs"):
        as_space(np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]))


def test_space_bounds_are_read_only():
    sp = Space([0.0], [1.0])
    with pytest.raises(ValueError):
        sp.lower[0] = 5.0


def test_lattice_upper_is_rounded_down_to_last_level():
    sp = Space([0.0], [1.0], [0.3])
    np.testing.assert_allclose(sp.upper, [0.9])
    assert sp.is_lattice.all()


def test_integers_and_int_lattice():
    sp = Space.integers([-3, 0], [3, 10])
    np.testing.assert_array_equal(sp.step, [1.0, 1.0])
    np.testing.assert_array_equal(sp.upper, [3.0, 10.0])
    q = Space.int_lattice(5, bits=8, scale=0.5)
    np.testing.assert_array_equal(q.lower, np.full(5, -64.0))
    np.testing.assert_array_equal(q.upper, np.full(5, 63.5))
    np.testing.assert_array_equal(q.step, np.full(5, 0.5))
    q4 = Space.int_lattice(2, bits=4)
    np.testing.assert_array_equal(q4.lower, [-8, -8])
    np.testing.assert_array_equal(q4.upper, [7, 7])
    assert "lattice" in repr(q4) and "box" in repr(Space([0], [1])) and "mixed" in repr(Space([0, 0], [1, 1], [0, 1]))


def test_to_arrays_round_trip():
    sp = Space([0.0, -1.0], [1.0, 1.0], [0.0, 0.25])
    again = Space(**sp.to_arrays())
    assert again == sp
    assert sp != Space([0.0, -1.0], [1.0, 1.0])


# ----------------------------------------------------------------------------- snap
def test_snap_clips_and_rounds_lattice_coordinates():
    sp = Space([0.0, -1.0, 0.0], [1.0, 1.0, 10.0], [0.0, 0.5, 1.0])
    x = np.array([[1.7, 0.3, 4.4], [-0.2, -0.8, 11.0], [0.5, 0.74, 6.6]])
    out = sp.snap(x)
    np.testing.assert_allclose(out, [[1.0, 0.5, 4.0], [0.0, -1.0, 10.0], [0.5, 0.5, 7.0]])
    assert on_lattice(sp, out)
    np.testing.assert_array_equal(sp.snap(out), out)   # idempotent


def test_snap_never_exceeds_rounded_upper():
    sp = Space([0.0], [1.0], [0.3])   # levels 0, 0.3, 0.6, 0.9
    out = sp.snap(np.array([[0.99], [1.0], [0.95]]))
    assert np.all(out <= sp.upper + 1e-12)
    np.testing.assert_allclose(out, 0.9)


# ----------------------------------------------------------------------------- sample
def test_sample_within_bounds_and_on_lattice():
    sp = Space([-5.0, 0.0, -1.0], [5.0, 7.0, 1.0], [0.0, 1.0, 0.25])
    X = sp.sample(np.random.default_rng(0), 2000)
    assert X.shape == (2000, 3)
    assert np.all(X >= sp.lower) and np.all(X <= sp.upper)
    assert on_lattice(sp, X)
    assert set(np.unique(X[:, 1])) == set(range(8))          # every integer level is reached
    assert len(np.unique(X[:, 0])) == 2000                     # continuous stays continuous
    np.testing.assert_array_equal(X, sp.sample(np.random.default_rng(0), 2000))   # seeded


# ----------------------------------------------------------------------------- window_grid
def test_window_grid_continuous():
    sp = Space([0.0, -10.0], [1.0, 10.0])
    idx = np.array([0, 1])
    grid, counts = sp.window_grid(idx, np.array([0.25, -10.0]), np.array([0.5, 20.0]), 11)
    assert grid.shape == (2, 11)
    np.testing.assert_array_equal(counts, [11, 11])
    np.testing.assert_allclose(grid[0], np.linspace(0.25, 0.75, 11))
    np.testing.assert_allclose(grid[1], np.linspace(-10.0, 10.0, 11))


def test_window_grid_int8_full_range_gives_all_256_levels():
    sp = Space.int_lattice(3, bits=8)
    idx = np.arange(3)
    grid, counts = sp.window_grid(idx, sp.lower.copy(), sp.width.copy(), 256)
    np.testing.assert_array_equal(counts, [256, 256, 256])
    for row in grid:
        np.testing.assert_array_equal(row, np.arange(-128, 128))


def test_window_grid_int8_with_scale():
    sp = Space.int_lattice(1, bits=8, scale=0.01)
    grid, counts = sp.window_grid(np.array([0]), sp.lower.copy(), sp.width.copy(), 256)
    assert counts[0] == 256
    np.testing.assert_allclose(grid[0] / 0.01, np.arange(-128, 128), atol=1e-9)


def test_window_grid_fewer_levels_than_nx():
    sp = Space.integers([0], [10])
    grid, counts = sp.window_grid(np.array([0]), sp.lower.copy(), sp.width.copy(), 64)
    assert counts[0] == 11
    np.testing.assert_array_equal(grid[0, :11], np.arange(11))
    np.testing.assert_array_equal(grid[0, 11:], 10.0)           # padding repeats the last point


def test_window_grid_narrow_lattice_window():
    sp = Space.integers([0], [10])
    grid, counts = sp.window_grid(np.array([0]), np.array([2.3]), np.array([3.0]), 64)
    c = counts[0]
    assert 2 <= c <= 4
    pts = grid[0, :c]
    assert on_lattice(sp, pts[:, None])
    np.testing.assert_array_equal(np.diff(pts), 1.0)
    assert pts[0] >= 2.0 - 1e-12 and pts[-1] <= 5.3 + 1e-12


def test_window_grid_wide_lattice_is_thinned_to_sub_lattice():
    sp = Space.integers([0], [1000])
    grid, counts = sp.window_grid(np.array([0]), sp.lower.copy(), sp.width.copy(), 64)
    c = counts[0]
    assert 2 <= c <= 64
    pts = grid[0, :c]
    assert on_lattice(sp, pts[:, None])
    steps = np.diff(pts)
    assert np.all(steps == steps[0]) and steps[0] >= 1
    assert pts[0] >= 0 and pts[-1] <= 1000
    assert pts[-1] - pts[0] >= 1000 - steps[0]                  # covers (almost) the whole range


def test_window_grid_lattice_window_at_the_edge_stays_inside():
    sp = Space.integers([0], [20])
    grid, counts = sp.window_grid(np.array([0]), np.array([18.6]), np.array([5.0]), 64)
    pts = grid[0, :counts[0]]
    assert np.all(pts >= 0) and np.all(pts <= 20)
    assert on_lattice(sp, pts[:, None])
    assert counts[0] >= 2


def test_window_grid_mixed_space():
    sp = Space([0.0, 0.0], [1.0, 7.0], [0.0, 1.0])
    grid, counts = sp.window_grid(np.array([1, 0]), np.array([0.0, 0.0]), np.array([7.0, 1.0]), 16)
    np.testing.assert_array_equal(counts, [8, 16])
    np.testing.assert_array_equal(grid[0, :8], np.arange(8))
    np.testing.assert_allclose(grid[1], np.linspace(0, 1, 16))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("args, match", [
    (([1.0], [0.0]), "lower must be < upper"),
    (([1.0], [1.0]), "lower must be < upper"),
    (([0.0], [np.inf]), "bounds must be finite"),
    (([np.nan], [1.0]), "bounds must be finite"),
    (([0.0, 0.0], [1.0]), "lower has 2 entries but upper has 1"),
    (([[0.0]], [[1.0]]), "non-empty 1-D"),
    (([], []), "non-empty 1-D"),
    ((["a"], [1.0]), "must be numeric"),
    (([0.0], [1.0], [-1.0]), "lattice steps must be finite and >= 0"),
    (([0.0], [1.0], [np.nan]), "lattice steps must be finite and >= 0"),
    (([0.0], [1.0], [2.0]), "lattice step larger than the range"),
])
def test_space_rejects_bad_bounds(args, match):
    with pytest.raises(BoundsError, match=match):
        Space(*args)


@pytest.mark.parametrize("bounds, match", [
    (None, "bounds are required"),
    ([0.0, 1.0], "sequence of \\(low, high\\) pairs"),
    ([(0.0, 1.0, 2.0)], "sequence of \\(low, high\\) pairs"),
    ("abc", "sequence of \\(low, high\\) pairs"),
    ([(1.0, 0.0)], "lower must be < upper"),
])
def test_as_space_rejects_bad_bounds(bounds, match):
    with pytest.raises(BoundsError, match=match):
        as_space(bounds)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "n must be a positive int"),
    (dict(n=2, bits=1), "bits must be an int"),
    (dict(n=2, bits=17), "bits must be an int"),
    (dict(n=2, scale=0.0), "scale must be finite and > 0"),
    (dict(n=2, scale=np.inf), "scale must be finite and > 0"),
])
def test_int_lattice_rejects_bad_arguments(kwargs, match):
    with pytest.raises(BoundsError, match=match):
        Space.int_lattice(**kwargs)


def test_lattice_top_level_never_exceeds_the_given_bound():
    """3 * 0.1 is 0.30000000000000004 in floats: the top level is kept at the bound the user gave (found by
    the Hypothesis suite: samples, snapped and asked points lay one ulp outside the box)."""
    sp = Space([0.0], [0.3], [0.1])
    assert sp.upper[0] == 0.3
    X = sp.sample(np.random.default_rng(0), 200)
    assert X.max() <= 0.3 and 0.3 in X
    assert sp.snap(np.array([[0.31]]))[0, 0] == 0.3


def test_boxes_wider_than_max_width_are_refused():
    """Wider boxes overflowed inside the engine (NaN rows from ask() at widths near 1.3e154)."""
    from qiml.spaces import MAX_WIDTH
    Space([0.0], [MAX_WIDTH])
    with pytest.raises(BoundsError, match=r"too wide: upper - lower exceeds 1e\+100 at parameter\(s\) \[1\]"):
        Space([0.0, 0.0], [1.0, 1.3407807929942597e154])
    with pytest.raises(BoundsError, match="too wide"):
        Space([0.0], [1e200], [1e198])
