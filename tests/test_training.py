"""Training networks: fit_network on a small teacher-student problem, lattices, and exact resume."""

from __future__ import annotations

import numpy as np
import pytest

import qiml
from qiml.nn import MLP, NetworkObjective
from qiml.training import fit_network, network_options


@pytest.fixture(scope="module")
def teacher_data():
    """200 samples of a 3-4-1 tanh teacher network."""
    rng = np.random.default_rng(0)
    teacher = MLP((3, 4, 1), "tanh")
    X = rng.uniform(-1, 1, (200, 3))
    y = teacher.forward(X, 2.0 * teacher.init(rng))[:, 0]
    return X, y


def on_lattice(net: MLP, x: np.ndarray, space: qiml.Space, levels: int) -> bool:
    k = x / space.step
    same_scale = all(np.unique(space.step[net.param_layer == l]).size == 1 for l in range(net.n_layers))
    return same_scale and bool(np.allclose(k, np.round(k), rtol=0, atol=1e-9) and np.abs(np.round(k)).max() <= levels)


def test_fit_network_reduces_the_loss_tenfold(teacher_data):
    X, y = teacher_data
    net = MLP((3, 4, 1), "tanh")
    obj = NetworkObjective(net, X, y)
    x0 = net.init(np.random.default_rng(1))                     # a Glorot start
    loss0 = obj.loss_at(x0)
    res = fit_network(net, X, y, x0=x0, seed=2, max_evals=30_000)
    assert res.x.shape == (net.n_params,)
    assert res.fun == pytest.approx(obj.loss_at(res.x), rel=1e-12)
    assert res.fun <= loss0 / 10, (loss0, res.fun)
    hist = res.history
    assert hist[0, 0] > 0 and np.all(np.diff(hist[:, 1]) <= 0)   # best-so-far never rises
    assert 0 < res.nfev <= 31_000


@pytest.mark.parametrize("bits, levels", [(8, 127), (4, 7)])
def test_fit_network_on_a_lattice_returns_a_quantized_network(teacher_data, bits, levels):
    X, y = teacher_data
    net = MLP((3, 4, 1), "tanh")
    bound = 2.0
    x0 = net.init(np.random.default_rng(3))
    res = fit_network(net, X, y, bits=bits, bound=bound, x0=x0, seed=4, max_evals=10_000)
    space = net.space(bound, bits)
    np.testing.assert_allclose(space.step, bound / levels, rtol=1e-15)
    assert on_lattice(net, res.x, space, levels)
    loss0 = NetworkObjective(net, X, y).loss_at(space.snap(x0))
    assert res.fun < loss0


def test_fit_network_with_mini_batches_reports_the_full_data_loss(teacher_data):
    X, y = teacher_data
    net = MLP((3, 4, 1), "tanh")
    obj = NetworkObjective(net, X, y)
    x0 = net.init(np.random.default_rng(5))
    res = fit_network(net, X, y, batch_size=50, x0=x0, seed=6, max_evals=10_000)
    assert res.fun == obj.loss_at(res.x)
    assert res.fun < obj.loss_at(x0)
    again = fit_network(net, X, y, batch_size=50, x0=x0, seed=6, max_evals=10_000)
    np.testing.assert_array_equal(again.x, res.x)               # seeded: reproducible


def test_fit_network_classification_with_l2(teacher_data):
    X, y = teacher_data
    labels = (y > np.median(y)).astype(int)
    net = MLP((3, 4, 2), ["relu"])
    obj = NetworkObjective(net, X, labels, "cross_entropy", l2=1e-3)
    x0 = net.init(np.random.default_rng(7))
    res = fit_network(net, X, labels, "cross_entropy", l2=1e-3, x0=x0, seed=8, max_evals=10_000)
    assert res.fun == pytest.approx(obj.loss_at(res.x), rel=1e-12)
    assert res.fun < 0.5 * obj.loss_at(x0)
    acc = np.mean(net.forward(X, res.x).argmax(axis=1) == labels)
    assert acc > 0.9


# ----------------------------------------------------------------------------- exact resume
RESUME_CASES = [(None, None, "params"), (None, None, "solve"), (40, None, "solve"), (None, 8, "params"),
                (40, 8, "params")]


@pytest.mark.parametrize("batch_size, bits, output", RESUME_CASES,
                         ids=[f"batch={b}-bits={q}-{o}" for b, q, o in RESUME_CASES])
def test_minimize_network_resume_is_exact(tmp_path, teacher_data, batch_size, bits, output):
    X, y = teacher_data
    net = MLP((3, 4, 1), ["tanh"])
    P = net.offsets[-2] if output == "solve" else net.n_params
    full = net.space(3.0, bits)
    space = qiml.Space(full.lower[:P], full.upper[:P], full.step[:P])
    x0 = space.snap(net.init(np.random.default_rng(9))[:P])
    blocks = [b for b in net.neuron_blocks() if b[0] < P] if bits is None else None
    kw = dict(x0=x0, seed=10, max_evals=6000, blocks=blocks, **network_options(net, "mse", bits))

    def objective():                                             # a fresh objective (empty cache), as in a new process
        return NetworkObjective(net, X, y, batch_size=batch_size, seed=11, output=output)

    ref = qiml.minimize(objective(), space, **kw)
    path = tmp_path / "run.npz"
    first = qiml.minimize(objective(), space, checkpoint=path, callback=lambda r: r.nit >= 7, **kw)
    assert first.status == 1 and first.nit == 7 and path.is_file()
    assert first.nfev < ref.nfev
    second = qiml.minimize(objective(), space, checkpoint=path, resume=True, **kw)
    assert second.nit == ref.nit and second.nfev == ref.nfev
    np.testing.assert_array_equal(second.x, ref.x)
    np.testing.assert_array_equal(second.history, ref.history)
    assert second.fun == ref.fun


def test_fit_network_resume_through_checkpoint_option(tmp_path, teacher_data):
    """fit_network passes engine options through, so an interrupted fit resumes exactly too."""
    X, y = teacher_data
    net = MLP((3, 4, 1), "tanh")
    kw = {"bits": 8, "batch_size": 64, "seed": 12, "max_evals": 6000}
    ref = fit_network(net, X, y, **kw)
    path = tmp_path / "fit.npz"
    first = fit_network(net, X, y, checkpoint=path, callback=lambda r: r.nit >= 5, **kw)
    assert first.nit == 5
    second = fit_network(net, X, y, checkpoint=path, resume=True, **kw)
    np.testing.assert_array_equal(second.x, ref.x)
    np.testing.assert_array_equal(second.history, ref.history)
    assert second.fun == ref.fun


def test_fit_network_treats_mini_batch_losses_as_noisy(teacher_data):
    X, y = teacher_data
    net = MLP((3, 4, 1), "tanh")
    kw = {"batch_size": 50, "seed": 6, "max_evals": 40_000}
    res = fit_network(net, X, y, **kw)
    np.testing.assert_array_equal(res.x, fit_network(net, X, y, noisy=True, **kw).x)
    assert not np.array_equal(res.x, fit_network(net, X, y, noisy=False, **kw).x)
