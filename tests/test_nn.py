"""Neural networks: incremental slice potentials against the generic fallback, the potential cache,
mini-batches, the MLP layout and lattices, losses, activations and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from qiml import ConfigError, Objective, ShapeError
from qiml.nn import ACTIVATIONS, LOSSES, MLP, NetworkObjective, get_activation, get_loss, quantize, softmax
from qiml.nn.losses import log_softmax
from qiml.requests import PopulationRequest, SliceRequest

RTOL = ATOL = 1e-12


# ----------------------------------------------------------------------------- helpers
def make_data(net: MLP, loss: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, net.layer_sizes[0]))
    n_out = net.layer_sizes[-1]
    if get_loss(loss).classification:
        y = rng.integers(0, max(n_out, 2), n)
    else:
        y = rng.normal(size=(n, n_out))
    return X, y


def make_request(x: np.ndarray, idx: np.ndarray, rng: np.random.Generator, nx: int = 9,
                 full: bool = False) -> SliceRequest:
    """Sorted grids around ``x[idx]``, most rows padded past a random count; each row holds ``x[idx]`` itself."""
    k = idx.size
    counts = np.full(k, nx) if full else rng.integers(2, nx + 1, k)
    counts[0] = nx
    grid = np.empty((k, nx))
    for j, c in enumerate(counts):
        pts = np.sort(np.append(x[idx[j]] + rng.uniform(-1.5, 1.5, c - 1), x[idx[j]]))
        grid[j, :c] = pts
        grid[j, c:] = pts[-1]
    return SliceRequest.along_axes(x.copy(), np.asarray(idx, dtype=np.intp), grid, counts)


def generic(obj: NetworkObjective, Xb: np.ndarray | None = None, yb: np.ndarray | None = None) -> Objective:
    """The black-box fallback on the same loss, row by row through ``loss_at`` (independent of the slices)."""
    return Objective(lambda T: np.array([obj.loss_at(t, Xb, yb) for t in T]), obj.net.n_params, vectorized=True)


def assert_matches_generic(obj: NetworkObjective, req: SliceRequest) -> tuple[float, np.ndarray]:
    fx, V = obj.potentials(req)
    Xb, yb, _ = obj._batch(req.x)
    gfx, gV = generic(obj, Xb, yb).potentials(req)
    assert V.shape == req.grid.shape
    assert np.isclose(fx, gfx, rtol=RTOL, atol=ATOL), (fx, gfx)
    np.testing.assert_allclose(V, gV, rtol=RTOL, atol=ATOL)
    # the grid point of step 0 reproduces f(x)
    hit = req.grid == 0.0
    np.testing.assert_allclose(V[hit], fx, rtol=RTOL, atol=ATOL)
    for j, c in enumerate(req.counts):                     # padding repeats the last valid value
        np.testing.assert_array_equal(V[j, c:], V[j, c - 1])
    return fx, V


def requests(net: MLP, x: np.ndarray, rng: np.random.Generator) -> list[SliceRequest]:
    P = net.n_params
    return [make_request(x, rng.permutation(P), rng),                            # every parameter, shuffled
            make_request(x, np.arange(P), rng, full=True),                       # every parameter, no padding
            make_request(x, rng.choice(P, P // 3, replace=False), rng),          # a random subset
            make_request(x, np.array([P - 1]), rng),                             # one output bias
            make_request(x, np.array([0]), rng, nx=2)]                           # one first-layer weight, 2 points


ARCHS = {
    "1h-1out": ((3, 5, 1), "tanh"),
    "1h-3out": ((3, 5, 3), "relu"),
    "2h-2out-mixed": ((4, 3, 4, 2), [["tanh", "step", "relu"], "sigmoid"]),
    "2h-1out-mixed": ((2, 4, 3, 1), ["relu", ["tanh", "staircase", "sigmoid"]]),
    "3h-3out-mixed": ((3, 4, 3, 5, 3), ["sine", ["sign", "gaussian", "hard_tanh"],
                                        ["staircase", "identity", "tanh", "relu", "step"]]),
}


# ----------------------------------------------------------------------------- incremental == generic
@pytest.mark.parametrize("l2", [0.0, 0.03])
@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_incremental_potentials_equal_generic(loss, arch, l2):
    rng = np.random.default_rng([sorted(LOSSES).index(loss), sorted(ARCHS).index(arch), int(l2 > 0)])
    sizes, act = ARCHS[arch]
    net = MLP(sizes, act)
    X, y = make_data(net, loss, 30, rng)
    obj = NetworkObjective(net, X, y, loss, l2=l2)
    x = net.init(rng) * 2.0
    for req in requests(net, x, rng):
        assert_matches_generic(obj, req)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_incremental_potentials_equal_generic_for_every_activation(name):
    rng = np.random.default_rng(sorted(ACTIVATIONS).index(name))
    loss = sorted(LOSSES)[sorted(ACTIVATIONS).index(name) % len(LOSSES)]
    net = MLP((3, 4, 3, 2), name)
    X, y = make_data(net, loss, 25, rng)
    obj = NetworkObjective(net, X, y, loss, l2=0.01)
    x = net.init(rng) * 2.0
    for req in requests(net, x, rng)[:3]:
        assert_matches_generic(obj, req)


def neuron_directions(net: MLP, x: np.ndarray, rng: np.random.Generator, nx: int = 7) -> SliceRequest:
    """One random unit direction inside each neuron's fan-in (its weights and bias), and two that
    cross neurons (answered by rows through the whole network)."""
    layer, col = net.param_layer, net.param_col
    groups = [np.flatnonzero((layer == l) & (col == c)) for l in range(net.n_layers)
              for c in range(net.layer_sizes[l + 1])]
    groups += [rng.choice(net.n_params, 3, replace=False), np.arange(net.n_params)]
    axis = np.zeros(net.n_params)
    axis[5] = 1.0                      # a dense row that moves one weight: answered incrementally
    m = max(g.size for g in groups)
    support = np.zeros((len(groups), m), dtype=np.intp)
    coef = np.zeros((len(groups), m))
    for j, g in enumerate(groups):
        d = rng.normal(size=g.size)
        support[j, :g.size], support[j, g.size:] = g, g[0]            # padding: coefficient 0
        coef[j, :g.size] = d / np.linalg.norm(d)
    support = np.vstack([support, np.pad(np.arange(net.n_params), (0, max(0, m - net.n_params)))[None, :m]])
    coef = np.vstack([coef, axis[None, :m]])
    grid = np.tile(np.linspace(-1.0, 1.0, nx), (len(groups) + 1, 1))
    return SliceRequest(x.copy(), support, coef, grid, np.full(len(groups) + 1, nx, dtype=np.intp))


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("l2", [0.0, 0.02])
def test_directions_inside_a_neurons_fan_in_equal_generic(loss, l2):
    rng = np.random.default_rng([1 + int(l2 > 0), len(loss)])
    net = MLP((4, 5, 3, 3), ["tanh", "relu"])
    X, y = make_data(net, loss, 30, rng)
    obj = NetworkObjective(net, X, y, loss, l2=l2)
    x = net.init(rng)
    req = neuron_directions(net, x, rng)
    fx, V = obj.potentials(req)
    gfx, gV = generic(obj).potentials(req)
    assert np.isclose(fx, gfx, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(V, gV, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(V[:, 3], fx, rtol=RTOL, atol=ATOL)    # t = 0 reproduces f(x)


def test_potentials_do_not_depend_on_pass_size():
    """Small ``max_batch_bytes`` splits a layer's slices over many passes: same numbers."""
    rng = np.random.default_rng(5)
    net = MLP((4, 6, 5, 3), ["tanh", ["relu", "step", "sigmoid", "sine", "tanh"]])
    X, y = make_data(net, "cross_entropy", 40, rng)
    big = NetworkObjective(net, X, y, "cross_entropy")
    small = NetworkObjective(net, X, y, "cross_entropy", max_batch_bytes=1000)
    x = net.init(rng)
    req = make_request(x, rng.permutation(net.n_params), rng)
    fx, V = assert_matches_generic(small, req)
    fx2, V2 = big.potentials(req)
    assert fx == fx2
    np.testing.assert_allclose(V, V2, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("batch_size", [None, 12])
def test_row_fallback_of_network_objective_equals_incremental(batch_size):
    """``evaluate`` (full forward passes of the candidate rows, on the request's batch) agrees with the slices."""
    rng = np.random.default_rng(6)
    net = MLP((3, 4, 3, 2), ["tanh", ["relu", "sign", "gaussian"]])
    X, y = make_data(net, "hinge", 40, rng)
    obj = NetworkObjective(net, X, y, "hinge", batch_size=batch_size, l2=0.02, seed=4)
    x = net.init(rng)
    req = make_request(x, rng.permutation(net.n_params), rng)
    fx, V = obj.potentials(req)
    fx2, V2 = req.split(obj.evaluate(req))
    assert np.isclose(fx, fx2, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(V, V2, rtol=RTOL, atol=ATOL)
    # a population request is scored too (on the batch of its first row)
    pts = np.stack([x, net.init(rng)])
    Xb, yb, _ = obj._batch(pts[0])
    np.testing.assert_allclose(obj.evaluate(PopulationRequest(pts)), [obj.loss_at(p, Xb, yb) for p in pts],
                               rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------- cache
def _spy_starts(obj: NetworkObjective, monkeypatch) -> list[int | None]:
    starts: list[int | None] = []
    inner = obj.net.forward_cache

    def spy(X, theta, start=0, cache=None):
        starts.append(start if cache is not None else None)    # None: a full pass from scratch
        return inner(X, theta, start=start, cache=cache)

    monkeypatch.setattr(obj.net, "forward_cache", spy)
    return starts


def test_cache_recomputes_from_the_earliest_changed_layer(monkeypatch):
    rng = np.random.default_rng(7)
    net = MLP((3, 4, 3, 5, 2), ["tanh", ["relu", "step", "sigmoid"], "staircase"])
    X, y = make_data(net, "mse", 30, rng)
    obj = NetworkObjective(net, X, y, "mse", l2=0.01)
    fresh_net = MLP(net.layer_sizes, ["tanh", ["relu", "step", "sigmoid"], "staircase"])
    starts = _spy_starts(obj, monkeypatch)

    def moved(x, layers):
        x = x.copy()
        for l in layers:
            sl = slice(net.offsets[l], net.offsets[l + 1])
            x[sl] += rng.uniform(-0.5, 0.5, x[sl].size)
        return x

    x0 = net.init(rng)
    x1 = moved(x0, [3])                     # output layer only
    x2 = moved(x1, [0])                     # first layer only
    x3 = moved(x2, [1, 2])                  # two middle layers
    x4 = x0.copy()                          # back to an earlier point
    x5 = x4.copy()                          # unchanged
    x6 = x5.copy()
    x6[net.offsets[2] + 1] += 0.25          # one weight of layer 2
    x7 = moved(x6, [0, 1, 2, 3])            # everything
    sequence = [x0, x1, x2, x3, x4, x5, x6, x7]
    expected = [None, 3, 0, 1, 0, "none", 2, 0]
    for x, want in zip(sequence, expected, strict=True):
        req = make_request(x, rng.permutation(net.n_params)[:20], rng)
        n_before = len(starts)
        fx, V = obj.potentials(req)
        assert starts[n_before:] == ([] if want == "none" else [want])
        fx1, V1 = assert_matches_generic(obj, req)
        # bit-identical to an objective with an empty cache
        fx2, V2 = NetworkObjective(fresh_net, X, y, "mse", l2=0.01).potentials(req)
        assert fx == fx2
        np.testing.assert_array_equal(V, V2)
        # asking again (cache warm, same x) gives the same numbers: the slices never write into the cache
        assert fx1 == fx
        np.testing.assert_array_equal(V1, V)


def test_cache_with_mini_batches_follows_x():
    rng = np.random.default_rng(8)
    net = MLP((3, 5, 4, 3), ["sigmoid", "tanh"])
    X, y = make_data(net, "cross_entropy", 60, rng)
    obj = NetworkObjective(net, X, y, "cross_entropy", batch_size=15, seed=2)
    x0 = net.init(rng)
    xs = [x0]
    for l in (2, 0, 1):
        x = xs[-1].copy()
        x[net.offsets[l]] += 0.3
        xs.append(x)
    xs += [x0, xs[2]]
    for x in xs:
        assert_matches_generic(obj, make_request(x, rng.permutation(net.n_params)[:15], rng))


# ----------------------------------------------------------------------------- mini-batches
def test_mini_batch_is_a_function_of_seed_and_x():
    rng = np.random.default_rng(9)
    net = MLP((4, 5, 2), "tanh")
    X, y = make_data(net, "mse", 80, rng)
    a = NetworkObjective(net, X, y, batch_size=16, seed=3)
    b = NetworkObjective(net, X, y, batch_size=16, seed=3)
    other_seed = NetworkObjective(net, X, y, batch_size=16, seed=4)
    x = net.init(rng)
    x2 = x.copy()
    x2[5] += 1e-3
    Xb, yb, key = a._batch(x)
    idx = np.frombuffer(key, dtype=np.intp)
    assert idx.size == 16 and np.unique(idx).size == 16 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(Xb, X[idx])
    np.testing.assert_array_equal(yb, y[idx])
    assert a._batch(x)[2] == key == b._batch(x.copy())[2]        # same seed and x: same batch
    assert a._batch(x2)[2] != key                                  # x moved: another batch
    assert other_seed._batch(x)[2] != key                          # another seed: another batch
    req = make_request(x, rng.permutation(net.n_params), rng)
    fa, Va = a.potentials(req)
    fb, Vb = b.potentials(req)
    assert fa == fb
    np.testing.assert_array_equal(Va, Vb)
    assert_matches_generic(a, req)
    # the potentials are those of the batch, not of all the data
    full_fx, _ = generic(a).potentials(req)
    assert not np.isclose(fa, full_fx, rtol=1e-6)
    assert np.isclose(fa, a.loss_at(x, Xb, yb), rtol=RTOL)


def test_batch_size_at_least_n_means_full_batch():
    rng = np.random.default_rng(10)
    net = MLP((2, 3, 1), "tanh")
    X, y = make_data(net, "mae", 20, rng)
    full = NetworkObjective(net, X, y, "mae")
    for bs in (20, 50):
        obj = NetworkObjective(net, X, y, "mae", batch_size=bs)
        assert obj.batch_size is None
        req = make_request(net.init(rng), np.arange(net.n_params), rng)
        fx, V = obj.potentials(req)
        fx2, V2 = full.potentials(req)
        assert fx == fx2
        np.testing.assert_array_equal(V, V2)


# ----------------------------------------------------------------------------- MLP
def test_pack_unpack_round_trip_and_sizes():
    rng = np.random.default_rng(11)
    net = MLP((4, 3, 5, 2), "tanh")
    assert net.n_layers == 3
    assert net.n_params == (4 * 3 + 3) + (3 * 5 + 5) + (5 * 2 + 2)
    assert net.offsets == [0, 15, 35, 47]
    layers = [(rng.normal(size=(fi, fo)), rng.normal(size=fo)) for fi, fo in net.shapes]
    theta = net.pack(layers)
    assert theta.shape == (net.n_params,)
    for (W, b), (W2, b2) in zip(layers, net.unpack(theta), strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    np.testing.assert_array_equal(net.pack(net.unpack(theta)), theta)
    # a stack of parameter vectors unpacks with its leading axes
    stack = rng.normal(size=(2, 3, net.n_params))
    for l, (W, b) in enumerate(net.unpack(stack)):
        assert W.shape == (2, 3) + net.shapes[l] and b.shape == (2, 3, net.shapes[l][1])
        np.testing.assert_array_equal(W[1, 2], net.unpack(stack[1, 2])[l][0])


def test_param_mapping_matches_unpack():
    net = MLP((3, 4, 2, 2), "relu")
    assert net.param_layer.shape == net.param_row.shape == net.param_col.shape == (net.n_params,)
    for p in range(net.n_params):
        theta = np.zeros(net.n_params)
        theta[p] = 1.0
        l, r, c = net.param_layer[p], net.param_row[p], net.param_col[p]
        for m, (W, b) in enumerate(net.unpack(theta)):
            expect_W = np.zeros_like(W)
            expect_b = np.zeros_like(b)
            if m == l:
                if r >= 0:
                    expect_W[r, c] = 1.0
                else:
                    expect_b[c] = 1.0
            np.testing.assert_array_equal(W, expect_W)
            np.testing.assert_array_equal(b, expect_b)


def test_forward_matches_hand_computation_with_mixed_activations():
    rng = np.random.default_rng(12)
    net = MLP((3, 4, 3, 2), [["tanh", "relu", "step", "sine"], "sigmoid"])
    X = rng.normal(size=(7, 3))
    theta = rng.normal(size=net.n_params)
    (W0, b0), (W1, b1), (W2, b2) = net.unpack(theta)
    z = X @ W0 + b0
    h = np.column_stack([np.tanh(z[:, 0]), np.maximum(z[:, 1], 0), (z[:, 2] > 0).astype(float), np.sin(z[:, 3])])
    h = 1.0 / (1.0 + np.exp(-(h @ W1 + b1)))
    np.testing.assert_allclose(net.forward(X, theta), h @ W2 + b2, rtol=1e-12, atol=1e-12)
    assert "mixed" in repr(net) and str(net.n_params) in repr(net)


def test_forward_rows_equals_looping_forward():
    rng = np.random.default_rng(13)
    net = MLP((3, 5, 4, 3), ["gaussian", ["tanh", "relu", "staircase", "sign"]])
    X = rng.normal(size=(9, 3))
    thetas = rng.normal(size=(6, net.n_params))
    out = net.forward_rows(X, thetas)
    assert out.shape == (6, 9, 3)
    for r in range(6):
        np.testing.assert_allclose(out[r], net.forward(X, thetas[r]), rtol=1e-12, atol=1e-12)


def test_forward_cache_partial_recompute_equals_full():
    rng = np.random.default_rng(14)
    net = MLP((3, 4, 4, 2), ["tanh", ["relu", "step", "tanh", "sine"]])
    X = rng.normal(size=(8, 3))
    t0 = rng.normal(size=net.n_params)
    cache = net.forward_cache(X, t0)
    assert len(cache[0]) == len(cache[1]) == net.n_layers + 1
    np.testing.assert_array_equal(cache[1][0], X)
    for start in range(net.n_layers):
        t1 = t0.copy()
        t1[net.offsets[start]:] = rng.normal(size=net.n_params - net.offsets[start])
        Z, A = net.forward_cache(X, t1, start=start, cache=cache)
        Zf, Af = net.forward_cache(X, t1)
        for a, b in zip(A[1:], Af[1:], strict=True):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(Z[1:], Zf[1:], strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(A[-1], net.forward(X, t1))


@pytest.mark.parametrize("bits, levels", [(8, 127), (4, 7)])
def test_space_lattice(bits, levels):
    net = MLP((3, 4, 2), "tanh")
    for bound in (3.0, [2.0, 0.5]):
        space = net.space(bound, bits=bits)
        b = np.broadcast_to(np.asarray(bound, dtype=float), (net.n_layers,))[net.param_layer]
        assert space.dim == net.n_params and space.is_lattice.all()
        np.testing.assert_allclose(space.step, b / levels, rtol=1e-15)
        np.testing.assert_allclose(space.upper, b, rtol=1e-12)
        np.testing.assert_array_equal(space.lower, -space.upper)
        n_levels = np.round((space.upper - space.lower) / space.step) + 1
        assert np.all(n_levels == 2 * levels + 1)             # 255 for int8, 15 for int4
        # snapping puts any point on the per-layer lattice
        x = space.snap(np.random.default_rng(0).uniform(-4, 4, net.n_params))
        k = x / space.step
        np.testing.assert_allclose(k, np.round(k), atol=1e-9)
        assert np.abs(np.round(k)).max() <= levels


def test_space_box():
    net = MLP((3, 4, 2), "tanh")
    space = net.space([1.5, 0.25])
    assert not space.is_lattice.any()
    np.testing.assert_array_equal(space.upper, np.where(net.param_layer == 0, 1.5, 0.25))
    np.testing.assert_array_equal(space.lower, -space.upper)


@pytest.mark.parametrize("bits, levels", [(8, 127), (4, 7)])
def test_quantize(bits, levels):
    rng = np.random.default_rng(15)
    net = MLP((5, 6, 3), "tanh")
    theta = rng.normal(size=net.n_params) * np.where(net.param_layer == 0, 1.0, 0.1)
    theta[net.offsets[1]:] *= 0.0 if bits == 4 else 1.0     # an all-zero layer is allowed (scale 1)
    q, scales = quantize(net, theta, bits=bits)
    assert q.shape == theta.shape and scales.shape == (net.n_layers,)
    for l in range(net.n_layers):
        sl = slice(net.offsets[l], net.offsets[l + 1])
        m = np.abs(theta[sl]).max()
        s = scales[l]
        assert s == (m / levels if m > 0 else 1.0)
        k = q[sl] / s
        np.testing.assert_allclose(k, np.round(k), atol=1e-9)
        assert np.abs(np.round(k)).max() <= levels
        if m > 0:
            assert np.isclose(np.abs(k).max(), levels)                  # the largest weight hits the top level
        assert np.abs(q[sl] - theta[sl]).max() <= s / 2 * (1 + 1e-12)


# ----------------------------------------------------------------------------- losses
def test_regression_losses_by_hand():
    out = np.array([[1.0, -2.0], [0.5, 3.0]])
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(get_loss("mse")(out, y), [1 + 4, 0.25 + 4])
    np.testing.assert_allclose(get_loss("mae")(out, y), [1 + 2, 0.5 + 2])
    # broadcasting over a stack of candidate networks
    stack = np.stack([out, out + 1.0])
    np.testing.assert_allclose(get_loss("mse")(stack, y), [[5.0, 4.25], [4 + 1, 0.25 + 9]])


def test_cross_entropy_by_hand():
    rng = np.random.default_rng(16)
    out = rng.normal(size=(6, 4)) * 3
    y = np.array([0, 1, 2, 3, 1, 0])
    direct = -np.log(np.exp(out) / np.exp(out).sum(axis=1, keepdims=True))[np.arange(6), y]
    np.testing.assert_allclose(get_loss("cross_entropy")(out, y), direct, rtol=1e-12)
    np.testing.assert_allclose(-log_softmax(out)[np.arange(6), y], direct, rtol=1e-12)
    np.testing.assert_allclose(softmax(out).sum(axis=1), 1.0, rtol=1e-14)
    # stacked candidates: each slice scored on its own
    stack = np.stack([out, 2 * out])
    res = get_loss("cross_entropy")(stack, y)
    np.testing.assert_allclose(res[1], get_loss("cross_entropy")(2 * out, y), rtol=1e-14)


def test_binary_cross_entropy_one_logit():
    z = np.array([[2.0], [-1.0], [0.0], [3.0]])
    y = np.array([1, 1, 0, 0])
    p = 1 / (1 + np.exp(-z[:, 0]))
    direct = -np.where(y == 1, np.log(p), np.log(1 - p))
    np.testing.assert_allclose(get_loss("cross_entropy")(z, y), direct, rtol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    out = np.array([[1000.0, 0.0, -1000.0], [1000.0, 0.0, -1000.0], [-1e3, 1e3, 1e3 - 1.0]])
    y = np.array([0, 2, 2])
    ce = get_loss("cross_entropy")(out, y)
    assert np.all(np.isfinite(ce))
    np.testing.assert_allclose(ce, [0.0, 2000.0, 1.0 + np.log1p(np.exp(-1.0))], rtol=1e-12, atol=1e-300)
    s = softmax(out)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    b = get_loss("cross_entropy")(np.array([[1000.0], [1000.0], [-1000.0]]), np.array([1, 0, 0]))
    np.testing.assert_allclose(b, [0.0, 1000.0, 0.0], atol=1e-300)


def test_zero_one_and_hinge_by_hand():
    out = np.array([[0.2, 1.5, -1.0], [2.0, 1.8, 0.0], [0.0, 0.0, 3.0]])
    y = np.array([1, 1, 0])
    np.testing.assert_array_equal(get_loss("zero_one")(out, y), [0.0, 1.0, 1.0])
    # Crammer-Singer: max(0, 1 + max_{k != y} z_k - z_y)
    np.testing.assert_allclose(get_loss("hinge")(out, y), [0.0, 1.2, 4.0])
    # binary, one logit: class 1 iff z > 0 (z = 0 predicts class 0); hinge max(0, 1 - s z), s = +-1
    z = np.array([[0.5], [-0.5], [0.0], [2.0], [-3.0]])
    yb = np.array([1, 1, 0, 0, 0])
    np.testing.assert_array_equal(get_loss("zero_one")(z, yb), [0.0, 1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(get_loss("hinge")(z, yb), [0.5, 1.5, 1.0, 3.0, 0.0])


def test_loss_lookup():
    assert get_loss("log_loss") is LOSSES["cross_entropy"]
    assert get_loss("squared_error") is LOSSES["mse"]
    assert get_loss("0-1") is LOSSES["zero_one"]
    assert get_loss(LOSSES["hinge"]) is LOSSES["hinge"]
    assert {n for n, l in LOSSES.items() if l.classification} == {"cross_entropy", "zero_one", "hinge"}


# ----------------------------------------------------------------------------- activations
Z = np.array([-2.0, -0.5, -0.1, 0.0, 0.1, 0.3, 0.5, 2.0])
EXPECTED = {
    "identity": Z,
    "tanh": np.tanh(Z),
    "sigmoid": 1.0 / (1.0 + np.exp(-Z)),
    "relu": [0, 0, 0, 0, 0.1, 0.3, 0.5, 2.0],
    "sine": np.sin(Z),
    "gaussian": np.exp(-Z**2),
    "step": [0, 0, 0, 0, 1, 1, 1, 1],
    "sign": [-1, -1, -1, -1, 1, 1, 1, 1],
    "hard_tanh": [-1, -0.5, -0.1, 0, 0.1, 0.3, 0.5, 1],
    "staircase": [-1, -0.5, 0, 0, 0, 0.25, 0.5, 1],
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_values_and_in_place(name):
    assert set(EXPECTED) == set(ACTIVATIONS)
    canon, f = get_activation(name)
    assert canon == name
    res = f(Z.copy())
    assert res.dtype == np.float64 and res.shape == Z.shape
    np.testing.assert_allclose(res, EXPECTED[name], rtol=1e-14, atol=1e-15)
    z = Z.copy()
    assert f(z, out=z) is z                                    # in place into z itself
    np.testing.assert_array_equal(z, res)
    buf = np.full_like(Z, np.nan)
    assert f(Z, out=buf) is buf
    np.testing.assert_array_equal(buf, res)
    big = np.random.default_rng(17).normal(size=(3, 50)) * 2
    np.testing.assert_array_equal(f(big.copy()), f(big.copy(), out=np.empty_like(big)))


def test_discrete_activation_output_sets():
    z = np.random.default_rng(18).normal(size=1000) * 2
    z[:3] = 0.0
    assert set(np.unique(ACTIVATIONS["step"](z))) == {0.0, 1.0}
    assert set(np.unique(ACTIVATIONS["sign"](z))) == {-1.0, 1.0}
    stairs = ACTIVATIONS["staircase"](z)
    assert set(np.unique(stairs)) <= {k / 4 for k in range(-4, 5)}
    assert len(np.unique(stairs)) == 9


def test_activation_aliases():
    assert get_activation("logistic")[0] == "sigmoid"
    assert get_activation("ReLU")[0] == "relu"
    assert get_activation("heaviside")[0] == "step"
    assert get_activation("linear")[0] == "identity"


# ----------------------------------------------------------------------------- errors
def _obj(**kw):
    net = kw.pop("net", MLP((3, 4, 1), "tanh"))
    rng = np.random.default_rng(0)
    X = kw.pop("X", rng.normal(size=(10, 3)))
    y = kw.pop("y", rng.normal(size=10))
    return NetworkObjective(net, X, y, **kw)


CLS = MLP((3, 4, 3), "tanh")
BIN = MLP((3, 4, 1), "tanh")
LABELS = np.arange(10) % 3

BAD = [
    ("one size", lambda: MLP((5,)), ConfigError, "layer_sizes must be >= 2 positive ints"),
    ("zero width", lambda: MLP((5, 0, 1)), ConfigError, "layer_sizes must be >= 2 positive ints"),
    ("float sizes", lambda: MLP((5.0, 3, 1)), ConfigError, "layer_sizes must be >= 2 positive ints"),
    ("bool size", lambda: MLP((3, True, 1)), ConfigError, "layer_sizes must be"),
    ("activation list", lambda: MLP((3, 4, 4, 1), ["tanh"]), ConfigError,
     "activation has 1 entries but the network has 2"),
    ("per-neuron list", lambda: MLP((3, 4, 1), [["tanh", "relu"]]), ConfigError, "hidden layer 1 has 4 neurons but 2"),
    ("unknown activation", lambda: MLP((3, 4, 1), "swish"), ConfigError, "unknown activation 'swish'"),
    ("unknown neuron activation", lambda: MLP((3, 2, 1), [["tanh", "elu"]]), ConfigError, "unknown activation 'elu'"),
    ("activation not str", lambda: get_activation(3), ConfigError, "activation must be a name"),
    ("unknown loss", lambda: _obj(loss="huber"), ConfigError, "unknown loss 'huber'"),
    ("loss not str", lambda: get_loss(3), ConfigError, "loss must be a name or a Loss"),
    ("y wrong n", lambda: _obj(y=np.zeros(9)), ShapeError, "X has 10 samples but y has shape"),
    ("y wrong width", lambda: _obj(y=np.zeros((10, 2))), ShapeError, r"needs targets of shape \(10,\) or \(10, 1\)"),
    ("y NaN", lambda: _obj(y=np.r_[np.nan, np.zeros(9)]), ShapeError, "targets contain NaN"),
    ("labels 2-d", lambda: _obj(net=CLS, y=np.zeros((10, 1)), loss="cross_entropy"), ShapeError,
     "takes class labels of shape"),
    ("label too big", lambda: _obj(net=CLS, y=np.r_[3, LABELS[1:]], loss="zero_one"), ShapeError,
     r"class labels must lie in \[0, 2\]"),
    ("label negative", lambda: _obj(net=CLS, y=np.r_[-1, LABELS[1:]], loss="hinge"), ShapeError,
     r"class labels must lie in \[0, 2\]"),
    ("binary label 2", lambda: _obj(net=BIN, y=LABELS, loss="cross_entropy"), ShapeError,
     r"class labels must lie in \[0, 1\]"),
    ("non-integer labels", lambda: _obj(net=CLS, y=LABELS + 0.5, loss="cross_entropy"), ShapeError,
     "integer class labels"),
    ("NaN labels", lambda: _obj(net=CLS, y=np.r_[np.nan, LABELS[1:]], loss="cross_entropy"), ShapeError,
     "integer class labels"),
    ("X NaN", lambda: _obj(X=np.r_[[[np.nan, 0, 0]], np.zeros((9, 3))]), ShapeError, "NaN or infinite"),
    ("X inf", lambda: _obj(X=np.r_[[[np.inf, 0, 0]], np.zeros((9, 3))]), ShapeError, "NaN or infinite"),
    ("X width", lambda: _obj(X=np.zeros((10, 4))), ShapeError, r"takes inputs of shape \(n >= 1, 3\)"),
    ("X 1-d", lambda: _obj(X=np.zeros(10)), ShapeError, r"takes inputs of shape \(n >= 1, 3\)"),
    ("batch 0", lambda: _obj(batch_size=0), ConfigError, "batch_size must be a positive int or None"),
    ("batch True", lambda: _obj(batch_size=True), ConfigError, "batch_size must be a positive int or None"),
    ("batch float", lambda: _obj(batch_size=4.0), ConfigError, "batch_size must be a positive int or None"),
    ("negative l2", lambda: _obj(l2=-0.1), ConfigError, "l2 must be >= 0"),
    ("NaN l2", lambda: _obj(l2=np.nan), ConfigError, "l2 must be >= 0"),
    ("theta shape", lambda: _obj().loss_at(np.zeros(BIN.n_params + 1)), ShapeError,
     rf"needs a parameter vector of shape \({BIN.n_params},\)"),
    ("theta 2-d", lambda: BIN.forward(np.zeros((2, 3)), np.zeros((1, BIN.n_params))), ShapeError,
     "needs a parameter vector"),
    ("loss_at X width", lambda: _obj().loss_at(np.zeros(BIN.n_params), np.zeros((4, 2)), np.zeros(4)), ShapeError,
     "takes inputs of shape"),
    ("pack count", lambda: BIN.pack([(np.zeros((3, 4)), np.zeros(4))]), ShapeError, "expected 2 \\(W, b\\) pairs"),
    ("pack shape", lambda: BIN.pack([(np.zeros((4, 3)), np.zeros(4)), (np.zeros((4, 1)), np.zeros(1))]), ShapeError,
     "layer shapes must be"),
    ("bits 3", lambda: BIN.space(bits=3), ConfigError, r"bits must be one of \(4, 8\)"),
    ("quantize bits 3", lambda: quantize(BIN, np.zeros(BIN.n_params), bits=3), ConfigError, "bits must be one of"),
    ("bound 0", lambda: BIN.space(0.0), ConfigError, "bound must be > 0"),
    ("bound inf", lambda: BIN.space([1.0, np.inf]), ConfigError, "bound must be > 0 and finite"),
    ("bound wrong count", lambda: BIN.space([1.0, 2.0, 3.0]), ConfigError, "one per layer"),
    ("bound 2-d", lambda: BIN.space(np.ones((2, 2))), ConfigError, "one per layer"),
    ("bound str", lambda: BIN.space("big"), ConfigError, "bound must be > 0 and finite"),
]


@pytest.mark.parametrize("make, exc, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_clear_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_valid_edge_inputs_are_accepted():
    # float labels that are whole numbers, 1-d regression targets, an int layer_sizes entry of numpy type
    obj = _obj(net=CLS, y=LABELS.astype(float), loss="ce")
    assert obj.y.dtype == np.intp
    assert _obj(y=np.zeros(10)).y.shape == (10, 1)
    assert MLP(np.array([3, 2, 1])).layer_sizes == (3, 2, 1)
    assert MLP((3, 1)).n_layers == 1 and MLP((3, 1)).activations == []


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_empty_data_is_rejected_with_a_qiml_error(loss):
    # zero samples can never give a loss: a ShapeError up front, not NaN losses later or a bare ValueError
    net = MLP((3, 4, 2), "tanh")
    y = np.zeros((0, 2)) if loss == "mse" else np.zeros(0, dtype=int)
    with pytest.raises(ShapeError):
        NetworkObjective(net, np.zeros((0, 3)), y, loss)


# ----------------------------------------------------------------------------- output layer solved
def solved_rows(obj: NetworkObjective) -> Objective:
    """The solved objective, point by point through ``full`` and the whole network (independent of the slices)."""
    return Objective(lambda T: np.array([obj.loss_at(t) for t in T]), obj.dim, vectorized=True)


@pytest.mark.parametrize("l2", [0.0, 1e-3])
@pytest.mark.parametrize("sizes", [(5, 4, 2), (3, 4, 3, 1), (2, 3, 4, 2, 1)])
def test_solved_output_slices_equal_whole_network_least_squares(sizes, l2):
    rng = np.random.default_rng([len(sizes), int(l2 > 0)])
    net = MLP(sizes, "tanh")
    X, y = make_data(net, "mse", 40, rng)
    obj = NetworkObjective(net, X, y, "mse", output="solve", l2=l2)
    assert obj.dim == net.offsets[-2]
    x = net.init(rng)[:obj.dim] * 1.5
    blocks = [b for b in net.neuron_blocks() if b[0] < obj.dim]
    m = max(b.size for b in blocks)
    support = np.array([np.pad(b, (0, m - b.size), mode="edge") for b in blocks])
    coef = np.array([np.pad(rng.normal(size=b.size), (0, m - b.size)) for b in blocks])
    coef /= np.linalg.norm(coef, axis=1, keepdims=True)
    grid = np.tile(np.linspace(-0.5, 0.5, 5), (len(blocks), 1))
    req = SliceRequest(x, support, coef, grid, np.full(len(blocks), 5))
    fx, V = obj.potentials(req)
    gfx, gV = solved_rows(obj).potentials(req)
    assert np.isclose(fx, gfx, rtol=1e-10)
    np.testing.assert_allclose(V, gV, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(V[:, 2], fx, rtol=1e-10)                          # t = 0 is x itself
    # rows through the engine's generic path (evaluate) agree as well
    np.testing.assert_allclose(req.split(obj.evaluate(req))[1], V, rtol=1e-9, atol=1e-12)


def test_full_appends_the_least_squares_output_layer():
    rng = np.random.default_rng(5)
    net = MLP((3, 4, 2), "tanh")
    X, y = make_data(net, "mse", 50, rng)
    obj = NetworkObjective(net, X, y, "mse", output="solve")
    x = net.init(rng)[:obj.dim]
    theta = obj.full(x)
    H = np.tanh(X @ net.unpack(theta)[0][0] + net.unpack(theta)[0][1])
    W = np.linalg.lstsq(np.hstack([H, np.ones((50, 1))]), y, rcond=None)[0]
    W_out, b_out = net.unpack(theta)[1]
    np.testing.assert_allclose(np.vstack([W_out, b_out]), W, rtol=1e-6, atol=1e-9)
    assert obj.loss_at(x) == NetworkObjective(net, X, y, "mse").loss_at(theta)
    with pytest.raises(ShapeError, match="hidden-layer parameter vector"):
        obj.full(theta)


def test_solved_output_needs_mse_and_a_hidden_layer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    with pytest.raises(ConfigError, match="loss='mse' or a classification loss"):
        NetworkObjective(MLP((3, 4, 1)), X, rng.normal(size=10), "mae", output="solve")
    with pytest.raises(ConfigError, match="hidden layer"):
        NetworkObjective(MLP((3, 1)), X, rng.normal(size=10), "mse", output="solve")
    with pytest.raises(ConfigError, match="output must be one of"):
        NetworkObjective(MLP((3, 4, 1)), X, rng.normal(size=10), "mse", output="lstsq")


# ----------------------------------------------------------------------------- curvature
def fd_hessian(f, x: np.ndarray, idx: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of ``f`` in the coordinates ``idx``."""
    m = idx.size
    H = np.empty((m, m))
    for a in range(m):
        for b in range(m):
            def at(sa: float, sb: float, a: int = a, b: int = b) -> float:
                z = x.copy()
                z[idx[a]] += sa
                z[idx[b]] += sb
                return f(z)
            H[a, b] = (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4 * h * h)
    return H


@pytest.mark.parametrize("loss, output", [("mse", "params"), ("mse", "solve"), ("cross_entropy", "params")])
def test_curvature_diagonalises_the_loss_hessian_at_a_fitted_point(loss, output):
    """The eigenvectors diagonalise the Gauss-Newton block (at zero residual: the Hessian itself)."""
    rng = np.random.default_rng([len(loss), len(output)])
    net = MLP((3, 4, 3, 2), ["tanh", "sigmoid"])
    theta = net.init(rng) * 2.0
    X = rng.normal(size=(200, 3))
    out = net.forward(X, theta)
    # targets the network fits exactly (MSE) or confidently (cross-entropy: labels from its own argmax)
    y = out if loss == "mse" else out.argmax(axis=1)
    obj = NetworkObjective(net, X, y, loss, output=output)
    x = theta[:obj.dim]
    for block in [b for b in net.neuron_blocks() if b[0] < obj.dim]:
        vectors, reach = obj.curvature(x, block)
        np.testing.assert_allclose(vectors.T @ vectors, np.eye(block.size), atol=1e-10)
        if loss == "cross_entropy":
            # a non-zero residual: the Gauss-Newton matrix J^T (diag p - p p^T) J, with J the logits'
            # Jacobian taken by finite differences, not the Hessian
            J = np.empty(out.shape + (block.size,))
            for a, p in enumerate(block):
                e = np.zeros_like(theta)
                e[p] = 1e-6
                J[..., a] = (net.forward(X, theta + e) - net.forward(X, theta - e)) / 2e-6
            prob = softmax(out)
            M = prob[:, :, None] * np.eye(out.shape[1])[None] - prob[:, :, None] * prob[:, None, :]
            H = np.einsum("noa,nop,npb->ab", J, M, J) / X.shape[0]
            assert np.all(reach > 0)
        else:   # zero residual: the Gauss-Newton block is the Hessian
            H = fd_hessian(obj.loss_at, x, block)
            assert np.all(reach[np.isfinite(reach)] < 1e-6)                 # f ~ 0: nowhere further to fall
        D = vectors.T @ H @ vectors
        assert np.abs(D - np.diag(np.diag(D))).max() <= 1e-5 * max(1e-3, np.abs(D).max())


def test_curvature_is_none_without_a_derivative_or_outside_one_neuron():
    rng = np.random.default_rng(2)
    net = MLP((3, 4, 2), [["tanh", "step", "tanh", "relu"]])
    X, y = make_data(net, "mse", 30, rng)
    x = net.init(rng)
    obj = NetworkObjective(net, X, y, "mse")
    blocks = net.neuron_blocks()
    cols = [int(net.param_col[b[0]]) for b in blocks]
    assert obj.curvature(x, blocks[cols.index(1)]) is None                 # the step neuron
    assert obj.curvature(x, blocks[cols.index(0)]) is not None            # a tanh neuron
    assert obj.curvature(x, blocks[-1]) is not None                       # an output neuron: no derivative needed
    assert obj.curvature(x, blocks[0][:-1]) is None                       # part of a fan-in only
    assert obj.curvature(x, np.concatenate(blocks[:2])) is None           # two neurons
    mae = NetworkObjective(MLP((3, 4, 2)), X, y, "mae")
    assert mae.curvature(x, blocks[0]) is None
    assert Objective(lambda z: 0.0, 3).curvature(x[:3], np.arange(3)) is None


def test_activation_derivatives_match_finite_differences():
    from qiml.nn.activations import DERIVATIVES

    z = np.linspace(-2.3, 2.1, 41) + 0.013                                 # avoids the kinks at 0 and +-1
    for name, d in DERIVATIVES.items():
        f = ACTIVATIONS[name]
        np.testing.assert_allclose(d(z), (f(z + 1e-6) - f(z - 1e-6)) / 2e-6, atol=1e-6, err_msg=name)


def test_solved_logistic_readout_fits_and_descends():
    """output='solve' with a classification loss: the readout is a ridge logistic regression of the labels on
    the (standardised) features; more steps lower the penalised loss, and the fit separates separable data."""
    import qiml.nn.objective as objective_module

    rng = np.random.default_rng(4)
    H = rng.normal(size=(200, 3)) * [1.0, 50.0, 0.01]          # scales the standardisation must undo
    y = (H[:, 0] + H[:, 1] / 50 - 30 * H[:, 2] > 0).astype(int)
    obj = NetworkObjective(MLP((3, 3, 2)), rng.normal(size=(200, 3)), y, "cross_entropy", output="solve")
    losses = []
    for steps in (1, 4, 16):
        objective_module.LOGISTIC_STEPS = steps
        try:
            W, out, loss = obj._solve(H, y)
        finally:
            objective_module.LOGISTIC_STEPS = 8
        losses.append(float(loss))
    assert losses[0] > losses[1] > losses[2]
    assert (out.argmax(axis=1) == y).mean() > 0.95
    np.testing.assert_allclose(out, np.concatenate([H, np.ones((200, 1))], axis=1) @ W, atol=1e-10)
    Ws, outs, ls = obj._solve(np.stack([H, H[:, ::-1]]), y)    # stacked fits equal separate ones
    np.testing.assert_allclose(Ws[0], obj._solve(H, y)[0], atol=1e-12)
    np.testing.assert_allclose(ls[1], obj._solve(H[:, ::-1], y)[2], atol=1e-12)


def test_solved_logistic_readout_with_one_logit():
    """Two classes on one logit (the estimators' binary form): the same fit as two softmax logits, to the
    separation it reaches."""
    rng = np.random.default_rng(5)
    H = rng.normal(size=(300, 2))
    y = (H[:, 0] - H[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
    one = NetworkObjective(MLP((2, 2, 1)), H, y, "cross_entropy", output="solve")
    W, out, loss = one._solve(H, y)
    assert W.shape == (3, 1) and (((out[:, 0] > 0).astype(int)) == y).mean() > 0.9
    two = NetworkObjective(MLP((2, 2, 2)), H, y, "cross_entropy", output="solve")
    assert abs(float(loss) - float(two._solve(H, y)[2])) < 0.05
