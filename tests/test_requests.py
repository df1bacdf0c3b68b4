"""The slice contract: SliceRequest layout, Objective chunking and value checks."""

from __future__ import annotations

import numpy as np
import pytest

from qiml import ConfigError, Objective, ObjectiveError
from qiml.requests import PopulationRequest, SliceRequest, check_values


def make_request(seed: int = 0) -> SliceRequest:
    rng = np.random.default_rng(seed)
    P, nx = 6, 7
    x = rng.uniform(-1, 1, P)
    idx = np.array([4, 0, 2])
    counts = np.array([7, 3, 5])
    grid = np.empty((3, nx))
    for j, c in enumerate(counts):
        pts = np.sort(rng.uniform(-1, 1, c))
        grid[j, :c] = pts
        grid[j, c:] = pts[-1]
    return SliceRequest.along_axes(x, idx, grid, counts)


def quad(X: np.ndarray) -> np.ndarray:
    X = np.atleast_2d(X)
    w = np.arange(1, X.shape[1] + 1)
    return np.sum(w * (X - 0.1) ** 2, axis=1) + np.sin(X[:, 0] * X[:, -1])


# ----------------------------------------------------------------------------- SliceRequest
def test_slice_request_rows_layout():
    req = make_request()
    assert req.n_rows == 1 + 7 + 3 + 5
    R = req.rows()
    assert R.shape == (req.n_rows, 6)
    np.testing.assert_array_equal(R[0], req.x)             # row 0 is x
    r = 1
    for j, c in enumerate(req.counts):
        for g in range(c):
            diff = np.flatnonzero(R[r] != req.x)
            # a row differs from x only in its sliced coordinate, moved by the grid's step
            assert set(diff.tolist()) <= {int(req.axes[j])}
            assert R[r, req.axes[j]] == req.x[req.axes[j]] + req.grid[j, g]
            r += 1
    assert r == req.n_rows


@pytest.mark.parametrize("start, stop", [(0, 1), (0, 16), (1, 8), (3, 12), (8, 11), (15, 16), (5, 5)])
def test_slice_request_rows_chunks_match_full(start, stop):
    req = make_request(1)
    np.testing.assert_array_equal(req.rows(start, stop), req.rows()[start:stop])


def test_slice_request_split_is_inverse_of_rows():
    req = make_request(2)
    F = quad(req.rows())
    fx, V = req.split(F)
    assert fx == F[0]
    assert V.shape == req.grid.shape
    for j, c in enumerate(req.counts):
        for g in range(c):
            x = req.x.copy()
            x[req.axes[j]] += req.grid[j, g]
            assert V[j, g] == quad(x)[0]
        np.testing.assert_array_equal(V[j, c:], V[j, c - 1])   # padding repeats the last valid value


def test_population_request():
    X = np.arange(12.0).reshape(4, 3)
    req = PopulationRequest(X)
    assert req.n_rows == 4
    np.testing.assert_array_equal(req.rows(1, 3), X[1:3])
    np.testing.assert_array_equal(req.rows(), X)


# ----------------------------------------------------------------------------- Objective
def test_objective_potentials_match_direct_evaluation():
    req = make_request(3)
    obj = Objective(quad, 6, vectorized=True)
    fx, V = obj.potentials(req)
    fx2, V2 = req.split(quad(req.rows()))
    assert fx == fx2
    np.testing.assert_array_equal(V, V2)
    assert obj.seconds >= 0.0


def test_objective_chunking_gives_same_values():
    req = make_request(4)
    sizes = []

    def counted(X):
        sizes.append(X.shape[0])
        return quad(X)

    one = Objective(counted, 6, vectorized=True).evaluate(req)
    assert sizes == [req.n_rows]                            # one batch by default
    sizes.clear()
    tiny = Objective(counted, 6, vectorized=True, max_batch_bytes=1).evaluate(req)
    assert sizes == [1] * req.n_rows                        # one row per call
    np.testing.assert_array_equal(tiny, one)
    sizes.clear()
    mid = Objective(counted, 6, vectorized=True, max_batch_bytes=8 * 6 * 4).evaluate(req)
    assert max(sizes) == 4 and sum(sizes) == req.n_rows
    np.testing.assert_array_equal(mid, one)


def test_objective_scalar_and_vectorized_agree():
    req = make_request(5)
    vec = Objective(quad, 6, vectorized=True).evaluate(req)
    calls = []

    def scalar(x):
        assert x.shape == (6,)
        calls.append(1)
        return float(quad(x)[0])

    sca = Objective(scalar, 6).evaluate(req)
    assert len(calls) == req.n_rows
    np.testing.assert_allclose(sca, vec, rtol=0, atol=1e-15)


def test_objective_accepts_numpy_scalars_and_column_outputs():
    req = make_request(6)
    a = Objective(lambda x: np.float32(1.5), 6).evaluate(req)
    np.testing.assert_array_equal(a, 1.5)
    b = Objective(lambda x: np.array([[2.0]]), 6).evaluate(req)
    np.testing.assert_array_equal(b, 2.0)
    c = Objective(lambda X: quad(X)[:, None], 6, vectorized=True).evaluate(req)
    np.testing.assert_array_equal(c, quad(req.rows()))


def test_objective_population_request():
    X = np.random.default_rng(7).uniform(-1, 1, (9, 6))
    out = Objective(quad, 6, vectorized=True, max_batch_bytes=100).evaluate(PopulationRequest(X))
    np.testing.assert_array_equal(out, quad(X))


def test_objective_errors():
    req = make_request(8)
    with pytest.raises(ObjectiveError, match="objective raised KeyError") as info:
        Objective(lambda x: {}["missing"], 6).evaluate(req)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ObjectiveError, match="must return a scalar"):
        Objective(lambda x: x, 6).evaluate(req)
    with pytest.raises(ObjectiveError, match="expected 16 objective values"):
        Objective(lambda X: np.zeros(3), 6, vectorized=True).evaluate(req)
    with pytest.raises(ObjectiveError, match="NaN"):
        Objective(lambda x: np.nan, 6).evaluate(req)
    with pytest.raises(ObjectiveError, match="-inf"):
        Objective(lambda x: -np.inf, 6).evaluate(req)
    with pytest.raises(ConfigError, match="fun must be callable"):
        Objective(42, 6)
    with pytest.raises(ConfigError, match="nan_policy must be one of"):
        Objective(quad, 6, nan_policy="ignore")
    with pytest.raises(ConfigError, match="max_batch_bytes must be >= 1"):
        Objective(quad, 6, max_batch_bytes=0)


def test_objective_nan_policy_inf():
    req = make_request(9)
    out = Objective(lambda X: np.where(X[:, 0] > 0, np.nan, 1.0), 6, vectorized=True,
                    nan_policy="inf").evaluate(req)
    R = req.rows()
    np.testing.assert_array_equal(np.isinf(out), R[:, 0] > 0)
    assert np.all(out[R[:, 0] <= 0] == 1.0)


def test_check_values():
    np.testing.assert_array_equal(check_values([1, 2, np.inf], 3), [1.0, 2.0, np.inf])   # +inf allowed
    np.testing.assert_array_equal(check_values(np.ones((1, 3)), 3), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(check_values([np.nan, 0.0], 2, "inf"), [np.inf, 0.0])
    with pytest.raises(ObjectiveError, match="NaN for 1 of 2 points"):
        check_values([np.nan, 0.0], 2)
    with pytest.raises(ObjectiveError, match="-inf"):
        check_values([-np.inf, 0.0], 2)
    with pytest.raises(ObjectiveError, match="expected 2 objective values"):
        check_values(np.ones((2, 2)), 2)
    with pytest.raises(ObjectiveError, match="must be real numbers"):
        check_values(["a", "b"], 2)


def test_check_values_rejects_complex_arrays():
    # a list of complex numbers is rejected; a complex ndarray must be too (not silently truncated)
    with pytest.raises(ObjectiveError, match="real"):
        check_values([1 + 2j, 3.0], 2)
    with pytest.raises(ObjectiveError, match="real"):
        check_values(np.array([1 + 2j, 3.0]), 2)


def test_line_request_rows_lie_on_their_lines():
    rng = np.random.default_rng(5)
    x = rng.normal(size=4)
    D = np.linalg.qr(rng.normal(size=(4, 4)))[0][:2].copy()      # two orthonormal directions
    grid = np.array([np.linspace(-1, 1, 5), np.linspace(0, 2, 5)])
    req = SliceRequest.along_lines(x, D, grid, np.array([5, 3]))
    X = req.rows()
    assert X.shape == (1 + 8, 4) and np.array_equal(X[0], x)
    t = (X[1:] - x) @ D.T                                          # coordinates along both lines
    np.testing.assert_allclose(t[:5, 0], grid[0], atol=1e-12)
    np.testing.assert_allclose(t[:5, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(t[5:, 1], grid[1, :3], atol=1e-12)
    np.testing.assert_array_equal(req.rows(3, 7), X[3:7])          # chunks agree with the whole
    fx, V = req.split(np.arange(9.0))
    assert fx == 0.0 and np.array_equal(V[1], [6, 7, 8, 8, 8])     # padded with the last valid value


def test_a_slices_centre_point_is_not_evaluated_twice():
    rng = np.random.default_rng(6)
    x = rng.normal(size=3)
    D = np.linalg.qr(rng.normal(size=(3, 3)))[0][:2].copy()
    grid = np.array([[-1.0, 0.0, 1.0, 2.0], [-0.5, 0.5, 0.0, 0.0]])   # slice 1: 2 points, then t = 0 padded
    grid[1] = [-0.5, 0.0, 0.5, 0.5]
    req = SliceRequest.along_lines(x, D, grid, np.array([4, 3]), centre=np.array([1, 1]))
    assert req.n_rows == 1 + 3 + 2
    X = req.rows()
    np.testing.assert_array_equal(X[0], x)
    assert not any(np.array_equal(r, x) for r in X[1:])               # x appears once, as row 0
    fx, V = req.split(quad(X))
    assert V[0, 1] == fx and V[1, 1] == fx                            # the centres take row 0's value
    for j in range(2):
        for g in range(req.counts[j]):
            assert V[j, g] == quad(req.point(j, g))[0]
    np.testing.assert_array_equal(req.rows(2, 5), X[2:5])
    supp, vals = req.moved(1)
    np.testing.assert_array_equal(vals, X[4:6][:, supp])


def test_rows_are_snapped_into_the_space():
    from qiml import Space
    space = Space([-1.0, -1.0], [1.0, 1.0], [0.0, 0.5])
    req = SliceRequest.along_lines(np.array([0.5, 0.5]), np.array([[0.6, 0.8]]), np.array([[-3.0, 0.3, 3.0]]),
                                   np.array([3]), space)
    X = req.rows()
    assert np.all(np.abs(X) <= 1.0) and np.all(np.isin(X[:, 1], [-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert not req.inside()[0]                                        # the slice leaves the box
