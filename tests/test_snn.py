"""qiml.snn: the LIF core against a scalar reference, delays, encoders, readouts, and the model contract."""

from __future__ import annotations

import numpy as np
import pytest

from qiml import ConfigError, ShapeError, Space
from qiml.nn.model import Model, ReadoutModel, check_model
from qiml.snn import (
    CurrentEncoder,
    DeltaEncoder,
    LatencyEncoder,
    RateEncoder,
    SpikingNetwork,
    delayed_current,
    get_encoder,
    lif,
    readout_features,
)


def lif_reference(current, threshold, beta, alpha, reset="subtract", refractory=0):
    """One neuron, one sample, plain Python: the equations of qiml.snn.neurons written out."""
    syn = mem = 0.0
    wait = 0
    spikes, mems = [], []
    for i in current:
        syn = alpha * syn + i
        if wait == 0:
            mem = beta * mem + syn
            s = 1.0 if mem >= threshold else 0.0
        else:
            s = 0.0
        wait = refractory if s else max(wait - 1, 0)
        spikes.append(s)
        mems.append(mem)
        mem = mem - s * threshold if reset == "subtract" else (0.0 if s else mem)
    return np.array(spikes), np.array(mems)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("refractory", [0, 3])
def test_lif_matches_the_scalar_reference(reset, refractory):
    rng = np.random.default_rng(0)
    R, N, T, h = 2, 3, 60, 4
    cur = rng.normal(0.3, 0.8, (R, N, T, h))
    th = rng.uniform(0.5, 2.0, (R, h))
    beta, alpha = rng.uniform(0.5, 0.99, (R, h)), rng.uniform(0.0, 0.9, (R, h))
    s, m = lif(cur, th, beta, alpha, reset=reset, refractory=refractory)
    assert s.shape == m.shape == cur.shape and set(np.unique(s)) <= {0.0, 1.0}
    for r in range(R):
        for n in range(N):
            for j in range(h):
                rs, rm = lif_reference(cur[r, n, :, j], th[r, j], beta[r, j], alpha[r, j], reset, refractory)
                np.testing.assert_array_equal(s[r, n, :, j], rs)
                np.testing.assert_allclose(m[r, n, :, j], rm, rtol=0, atol=1e-12)
    assert s.sum() > 0


def test_refractory_period_spaces_spikes():
    cur = np.full((1, 40, 1), 5.0)              # strong enough to fire every step
    s0, _ = lif(cur, np.ones(1), np.full(1, 0.9), np.zeros(1), refractory=0)
    s3, _ = lif(cur, np.ones(1), np.full(1, 0.9), np.zeros(1), refractory=3)
    assert s0.sum() == 40
    times = np.flatnonzero(s3[0, :, 0])
    assert np.all(np.diff(times) == 4) and times[0] == 0


def test_recurrent_weights_feed_last_steps_spikes():
    """Neuron 1 gets no input, only neuron 0's spikes one step later through the recurrent weight."""
    cur = np.zeros((1, 10, 2))
    cur[0, 2, 0] = 2.0
    v = np.array([[0.0, 2.0], [0.0, 0.0]])      # from neuron 0 to neuron 1
    s, _ = lif(cur, np.ones(2), np.zeros(2), np.zeros(2), recurrent=v)
    assert np.flatnonzero(s[0, :, 0]).tolist() == [2] and np.flatnonzero(s[0, :, 1]).tolist() == [3]


def test_delayed_current_matches_a_loop():
    rng = np.random.default_rng(1)
    N, m, T, h = 3, 5, 30, 4
    x = rng.normal(size=(N, m, T))
    w, b = rng.normal(size=(h, m)), rng.normal(size=h)
    d = rng.integers(0, 7, (h, m))
    got = delayed_current(x, w, d, b)
    want = np.zeros((N, T, h))
    for n in range(N):
        for t in range(T):
            for j in range(h):
                want[n, t, j] = b[j] + sum(w[j, i] * x[n, i, t - d[j, i]] for i in range(m) if t - d[j, i] >= 0)
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(delayed_current(x, w, None, b), delayed_current(x, w, np.zeros_like(d), b))


# ----------------------------------------------------------------------------- encoders
def test_rate_code_is_deterministic_per_sample_and_follows_the_value():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 2, 400))
    enc = RateEncoder(gain=0.25, seed=5)
    a, b = enc(X), enc(X[::-1])[::-1]          # the same sample gives the same spikes in any batch order
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, RateEncoder(gain=0.25, seed=6)(X))
    hi, lo = enc(np.full((1, 1, 4000), 1.0)), enc(np.full((1, 1, 4000), -1.0))
    assert hi.mean() == pytest.approx(0.75, abs=0.03) and lo.mean() == pytest.approx(0.25, abs=0.03)


def test_delta_code_spikes_at_each_level_crossing():
    ramp = np.linspace(0.0, 1.0, 101)[None, None, :]       # rises by 0.01 per step
    out = DeltaEncoder(threshold=0.095)(np.concatenate([ramp, ramp[..., ::-1]], axis=-1))
    assert out.shape == (1, 2, 202)
    up, down = np.flatnonzero(out[0, 0]), np.flatnonzero(out[0, 1])
    assert len(up) == 10 and len(down) == 10 and up.max() < 101 <= down.min()


def test_latency_code_fires_once_per_window_earlier_for_larger_values():
    X = np.array([[[3.0] * 8 + [-3.0] * 8]])
    out = LatencyEncoder(window=8)(X)
    assert out.sum() == 2
    first, second = np.flatnonzero(out[0, 0, :8])[0], np.flatnonzero(out[0, 0, 8:])[0]
    assert first < second


def test_current_encoder_and_names():
    X = np.ones((1, 1, 3))
    np.testing.assert_array_equal(CurrentEncoder(2.0)(X), 2 * X)
    assert get_encoder("delta") == DeltaEncoder() and get_encoder("delta").channels(3) == 6
    with pytest.raises(ConfigError, match="encoder must be one of"):
        get_encoder("poisson")
    with pytest.raises(ConfigError, match="threshold must be > 0"):
        DeltaEncoder(0.0)


# ----------------------------------------------------------------------------- readouts
def test_readouts_on_a_hand_made_raster():
    s = np.zeros((1, 8, 2))
    s[0, [1, 5], 0] = 1.0                  # neuron 0 fires at steps 1 and 5; neuron 1 never
    m = np.zeros((1, 8, 2))
    m[0, 3, 1] = 0.5
    th = np.array([1.0, 2.0])
    f = readout_features(("counts", "bins", "first", "max_mem"), s, m, th, bins=2)
    np.testing.assert_allclose(f[0], [2 / 8, 0, 1 / 4, 0, 1 / 4, 0, 1 / 8, 1.0, 0.0, 0.25])


# ----------------------------------------------------------------------------- the model
def small_net(**kw):
    return SpikingNetwork(2, 40, (5, 3), 3, **{"taps": 2, "max_delay": 6, "readout": ("counts", "bins"), **kw})


def test_the_model_contract():
    net = small_net(recurrent=True)
    check_model(net)
    assert isinstance(net, Model) and isinstance(net, ReadoutModel)
    rng = np.random.default_rng(3)
    theta, sp = net.init(rng), net.space()
    assert theta.shape == (net.n_params,) and np.array_equal(sp.snap(theta), theta)   # inside, delays on the lattice
    X = rng.normal(size=(7, 2 * 40))
    out = net.forward(X, theta)
    assert out.shape == (7, 3) and np.all(np.isfinite(out))
    np.testing.assert_array_equal(net.forward(X.reshape(7, 2, 40), theta), out)       # (N, C, T) accepted
    thetas = np.stack([theta, net.init(rng)])
    rows = net.forward_rows(X, thetas)
    np.testing.assert_allclose(rows[1], net.forward(X, thetas[1]), atol=1e-12)
    # ReadoutModel: forward = features @ W + b
    F, O = net.n_features, net.n_outputs
    feats = net.readout_features(X, theta[None, :net.readout_offset])[0]
    W = theta[net.readout_offset:net.readout_offset + F * O].reshape(F, O)
    np.testing.assert_allclose(out, feats @ W + theta[-O:], atol=1e-12)
    blocks = np.sort(np.concatenate(net.neuron_blocks()))
    np.testing.assert_array_equal(blocks, np.arange(net.n_params))
    assert net.weight_mask.sum() == 5 * 2 * 2 + 5 * 5 + 3 * 5 + 3 * 3 + F * O


def test_a_delay_shifts_the_spikes_by_as_many_steps():
    net = SpikingNetwork(1, 30, (1,), 1, max_delay=10, learn_leak=False, beta=0.0, alpha=0.0)
    theta = np.zeros(net.n_params)
    f = net.layers[0].field
    theta[f("w")], theta[f("threshold")] = 1.0, 0.5
    X = np.zeros((1, 30))
    X[0, 4] = 1.0                           # one pulse of current at step 4
    for delay in (0, 3, 10):
        theta[f("d")] = delay
        s = net.simulate(X, theta[None]).spikes[0][0, 0, :, 0]
        assert np.flatnonzero(s).tolist() == [4 + delay]


@pytest.mark.parametrize("kw, match", [
    ({"hidden": ()}, "at least one hidden layer"), ({"hidden": (0,)}, "hidden must be positive ints"),
    ({"max_delay": 40}, r"max_delay must be in 0..39"), ({"reset": "hard"}, "reset must be one of"),
    ({"readout": ("counts", "rates")}, "readout must name"), ({"beta": 1.5}, "beta must lie in"),
    ({"taps": 0}, "taps must be a positive int"), ({"encoder": "poisson"}, "encoder must be one of"),
])
def test_bad_architectures_are_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        SpikingNetwork(1, 40, **{"hidden": (4,), **kw})


def test_bad_inputs_are_shape_errors():
    net = small_net()
    theta = net.init(np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"X must be \(n_samples, 2 x 40\) series"):
        net.forward(np.zeros((3, 40)), theta)
    with pytest.raises(ShapeError, match="NaN or infinite"):
        net.forward(np.full((3, 80), np.nan), theta)
    with pytest.raises(ShapeError, match="theta must have shape"):
        net.forward(np.zeros((3, 80)), theta[:-1])


# ----------------------------------------------------------------------------- incremental slices
def _rows_answer(obj, req):
    """The same request answered by rows (every candidate simulated in full), bypassing the slicer."""
    from qiml.objective import Objective
    return Objective.potentials(obj, req)


@pytest.mark.parametrize("output, loss, kw", [
    ("params", "cross_entropy", {"max_delay": 5, "taps": 2, "readout": ("counts", "bins", "first")}),
    ("params", "mse", {"hidden": (4, 3), "readout": ("max_mem", "mean_mem")}),
    ("solve", "mse", {"max_delay": 4, "refractory": 2, "reset": "zero", "learn_leak": False}),
    ("solve", "cross_entropy", {"max_delay": 3, "readout": ("counts", "first")}),
    ("params", "cross_entropy", {"recurrent": True}),            # recurrent: every slice goes by rows
])
def test_slices_equal_the_rows_path(output, loss, kw):
    """Axis slices of every parameter and random directions inside one neuron: the slicer's answer equals
    the full simulation of every candidate (what the objective answers without a slicer)."""
    from qiml.nn import NetworkObjective
    from qiml.requests import SliceRequest

    rng = np.random.default_rng(7)
    net = SpikingNetwork(2, 25, **{"hidden": (4,), "n_outputs": 2 if loss == "cross_entropy" else 1, **kw})
    X = rng.normal(size=(9, 50))
    y = rng.integers(0, 2, 9) if loss == "cross_entropy" else rng.normal(size=9)
    obj = NetworkObjective(net, X, y, loss, l2=1e-3, output=output)
    space = net.space()
    P = obj.n_free
    sp = Space(space.lower[:P], space.upper[:P], space.step[:P])
    x = sp.snap(net.init(rng)[:P])
    nx = 7
    idx = np.arange(P)
    values = np.linspace(sp.lower, sp.upper, nx).T                     # (P, nx): the whole box per parameter
    req = SliceRequest.along_axes(x, idx, values, np.full(P, nx), sp)
    fx, V = obj.potentials(req)
    fx_rows, V_rows = _rows_answer(obj, req)
    assert fx == pytest.approx(fx_rows, abs=1e-12)
    np.testing.assert_allclose(V, V_rows, atol=1e-10)
    # a direction inside one last-layer neuron (its continuous parameters), and one inside the readout
    last = net.layers[-1]
    block = last.start + last.per + np.arange(last.per)                 # neuron 1 of the last layer
    cont = block[sp.step[block] == 0]
    d = rng.normal(size=cont.size)
    d /= np.linalg.norm(d)
    grid = np.linspace(-0.05, 0.05, nx)[None, :]
    req = SliceRequest(x, cont[None, :], d[None, :], grid, np.array([nx]), sp)
    np.testing.assert_allclose(obj.potentials(req)[1], _rows_answer(obj, req)[1], atol=1e-10)
    assert net.slicer(obj) is not None


def test_a_slice_costs_one_neuron_not_the_network():
    """The slicer re-simulates the sliced neuron only: its answer for one axis slice is computed with far
    fewer neuron-steps than nx full simulations (counted through lif calls)."""
    import qiml.snn.network as network_module
    import qiml.snn.slices as slices_module
    from qiml.nn import NetworkObjective
    from qiml.requests import SliceRequest

    rng = np.random.default_rng(8)
    net = SpikingNetwork(1, 40, (12,), 2, max_delay=3)
    X, y = rng.normal(size=(10, 40)), rng.integers(0, 2, 10)
    obj = NetworkObjective(net, X, y, "cross_entropy")
    sp = net.space()
    x = net.init(rng)
    counted = []
    real = slices_module.lif

    def counting(cur, *args, **kw):
        counted.append(cur.shape[0] * cur.shape[-1])     # candidates x neurons simulated
        return real(cur, *args, **kw)

    p = net.layers[0].start + 3 * net.layers[0].per      # the first weight of neuron 3
    req = SliceRequest.along_axes(x, np.array([p]), np.linspace(sp.lower[p], sp.upper[p], 64)[None], np.array([64]), sp)
    obj.potentials(req)                                  # fills the base simulation's cache
    slices_module.lif, network_module.lif = counting, counting
    try:
        obj.potentials(req)
    finally:
        slices_module.lif, network_module.lif = real, real
    assert counted == [64 * 1]                           # 64 candidates of one neuron; the full path: 64 x 12


# ----------------------------------------------------------------------------- estimators
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from qiml.snn import SpikingClassifier, SpikingRegressor  # noqa: E402


# scikit-learn's checks feed tabular data: its features become the steps of a one-channel series (the
# regressor declares poor_score there, see SpikingRegressor.__sklearn_tags__; its fit on a real series is
# tested below). The third variant trains the readout as parameters, with delays and two taps per input.
@parametrize_with_checks([SpikingClassifier(hidden=3, max_iter=10),
                          SpikingRegressor(hidden=3, max_iter=20, readout=("counts", "max_mem")),
                          SpikingClassifier(hidden=3, max_iter=60, max_delay=3, taps=2, readout=("counts", "max_mem"),
                                            output="params")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_estimators_take_channels_and_standardise_them():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(50, 2, 16)) * [[10.0], [0.1]] + [[100.0], [-5.0]]     # wildly scaled channels
    y = (X[:, 0, :8].mean(axis=1) > 100).astype(int)
    clf = SpikingClassifier(hidden=4, random_state=0, max_iter=60).fit(X, y)
    assert clf.n_channels_ == 2 and clf.n_steps_ == 16 and clf.n_features_in_ == 2
    np.testing.assert_allclose(clf.channel_mean_, X.mean(axis=(0, 2)))
    assert clf.score(X, y) > 0.8
    sim = clf.simulate(X[:3])
    assert sim.spikes[0].shape == (1, 3, 16, 4)
    with pytest.raises(ValueError, match="fitted on 2 of 16"):
        clf.predict(np.zeros((2, 2, 15)))
    same = SpikingClassifier(hidden=4, random_state=0, max_iter=60).fit(X, y)
    np.testing.assert_array_equal(same.params_, clf.params_)                     # an int random_state repeats


@pytest.mark.parametrize("kw, match", [({"output": "lstsq"}, "output must be one of"),
                                       ({"loss": "mse"}, "not a classification loss"),
                                       ({"max_iter": 0}, "max_iter must be a positive int or None"),
                                       ({"alpha": -1}, "alpha must be a finite number >= 0"),
                                       ({"encoder": "poisson"}, "encoder must be one of")])
def test_estimator_parameters_fail_clearly(kw, match):
    X, y = np.random.default_rng(0).normal(size=(10, 8)), np.arange(10) % 2
    with pytest.raises(ConfigError, match=match):
        SpikingClassifier(**kw).fit(X, y)


def test_a_spike_encoder_through_the_estimator():
    """The delta (level-crossing) encoder: rising and falling series are told apart by which channel fires."""
    rng = np.random.default_rng(10)
    t = np.linspace(0, 1, 30)
    y = rng.integers(0, 2, 40)
    X = np.where(y[:, None] == 1, t, 1 - t) * 3 + 0.05 * rng.normal(size=(40, 30))
    clf = SpikingClassifier(hidden=2, encoder="delta", random_state=0, max_iter=40).fit(X, y)
    assert clf.model_.n_inputs == 2 and clf.score(X, y) == 1.0


def test_regressor_forecasts_a_sine_from_a_window():
    """One-step-ahead forecast of a noisy sine from windows of 12 steps: far better than predicting the mean."""
    rng = np.random.default_rng(11)
    series = np.sin(np.arange(400) * 2 * np.pi / 25) + 0.05 * rng.normal(size=400)
    X = np.lib.stride_tricks.sliding_window_view(series[:-1], 12)
    y = series[12:]
    reg = SpikingRegressor(hidden=6, readout=("counts", "max_mem", "mean_mem"), random_state=0, max_iter=40)
    reg.fit(X[:300], y[:300])
    assert reg.score(X[300:], y[300:]) > 0.95          # 0.993 when written


def test_the_timing_task_has_equal_rates_and_needs_timing():
    """Equal spike counts per channel in both classes, so counts alone carry no class; a spiking network
    with trainable delays learns the interval."""
    from qiml.datasets import make_spike_timing

    X, y = make_spike_timing(200, 40, gaps=(3, 9), distractors=2, seed=0)
    assert X.shape == (200, 2, 40) and set(np.unique(X)) == {0.0, 1.0}
    np.testing.assert_array_equal(X.sum(axis=2), 3.0)                       # 1 cue + 2 distractors each
    a, b = make_spike_timing(50, 40, seed=1)
    np.testing.assert_array_equal(a, make_spike_timing(50, 40, seed=1)[0])
    with pytest.raises(ConfigError, match="gaps must be two different positive ints"):
        make_spike_timing(10, 20, gaps=(4, 4))
    X, y = make_spike_timing(240, 30, gaps=(3, 9), distractors=1, seed=0)
    clf = SpikingClassifier(hidden=3, max_delay=10, random_state=0, max_iter=80).fit(X[:160], y[:160])
    assert clf.score(X[160:], y[160:]) >= 0.9        # 0.96 when written (without delays: 0.76)


def test_snn_cost_study_smoke(tmp_path):
    """``python -m qiml.studies.snn_cost --smoke`` writes its outputs, and the slicer's losses equal the full
    simulations' for both network sizes."""
    import csv

    from qiml.studies import snn_cost
    from qiml.studies.registry import EXPERIMENTS

    snn_cost.main(["--smoke", "--out", str(tmp_path)])
    for name in EXPERIMENTS[snn_cost.NAME].outputs:
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "cost.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r["max_abs_diff"]) < 1e-10 and float(r["slice_ms"]) > 0 for r in rows)


def test_models_never_import_the_engine_or_a_solver():
    """The layer rule of docs/design.md, read from the sources: nn/ and snn/ (but the estimators, a front
    door) import neither the engine, the solvers nor the front doors."""
    import ast
    from pathlib import Path

    import qiml

    root = Path(qiml.__file__).parent
    for path in [*sorted((root / "nn").glob("*.py")), *sorted((root / "snn").glob("*.py"))]:
        if path.name == "estimators.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                parts = (node.module or "").split(".")
                top = parts[0] if node.level == 2 else parts[1] if node.level == 0 and parts[0] == "qiml" and \
                    len(parts) > 1 else ""
                assert top not in ("engine", "solvers", "training", "sklearn", "torch"), \
                    f"{path.name} imports {'.' * node.level}{node.module}"


def test_snn_tasks_study_smoke(tmp_path):
    """``python -m qiml.studies.snn_tasks --smoke`` (the generated timing task only: no download) writes its
    outputs; a rerun reads every fit back from runs.jsonl."""
    from qiml.studies import snn_tasks
    from qiml.studies.registry import EXPERIMENTS

    snn_tasks.main(["--smoke", "--workers", "1", "--out", str(tmp_path)])
    for name in EXPERIMENTS[snn_tasks.NAME].outputs:
        assert (tmp_path / name).stat().st_size > 0, name
    md = (tmp_path / "summary.md").read_text()
    assert "| timing | qiml | 2 | 1 |" in md and "| timing | 1nn-ed |" in md and "| timing | snntorch | 2 | 1 |" in md
    assert "| timing | 2 |" in md.split("## The goal")[1]          # the goal table has the row
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 5                    # qiml, qiml-val, qiml-no-delays, snntorch, 1-NN
    snn_tasks.main(["--smoke", "--workers", "1", "--out", str(tmp_path)])
    assert (tmp_path / "runs.jsonl").read_text().splitlines() == lines


def test_activity_plot_of_a_trained_network(tmp_path):
    """Rasters and membrane traces of one sample: a PNG with one panel per layer plus input and traces."""
    import matplotlib
    matplotlib.use("Agg")
    from qiml.datasets import make_spike_timing

    X, y = make_spike_timing(40, 20, gaps=(2, 5), distractors=0, seed=0)
    clf = SpikingClassifier(hidden=(3, 2), max_delay=5, random_state=0, max_iter=5).fit(X, y)
    fig = clf.plot_activity(X, sample=1, path=tmp_path / "activity.png")
    assert (tmp_path / "activity.png").stat().st_size > 0 and len(fig.axes) == 4
    with pytest.raises(ConfigError, match="sample must index one of the 40 samples"):
        clf.plot_activity(X, sample=40)


def test_validation_fraction_keeps_the_best_held_out_snapshot():
    """``validation_fraction`` trains on a stratified part and returns the snapshot best on the rest: its
    recorded score is the held-out accuracy of the returned parameters."""
    from qiml.sklearn import validation_split
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    X = rng.normal(size=(60, 12)) + 0.8 * y[:, None]
    clf = SpikingClassifier(hidden=3, random_state=0, max_iter=30, validation_fraction=0.25).fit(X, y)
    v = clf.result_.validation
    assert 1 <= v["checks"] and 0 <= v["nit"] <= clf.n_iter_
    tr, va = validation_split(y, 0.25, np.random.default_rng(clf._fit_kwargs()["seed"]), stratify=True)
    assert len(va) == 16 and set(y[va]) == {0, 1} and len(np.intersect1d(tr, va)) == 0
    assert clf.validation_score_ == pytest.approx(clf.score(X[va], y[va]))
    with pytest.raises(ConfigError, match="validation_fraction"):
        SpikingClassifier(validation_fraction=1.5).fit(X, y)
