"""Bad inputs give clear qiml errors (type and message), never a crash deep inside NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import Bounds

import qiml
from qiml import BoundsError, CheckpointError, ConfigError, ObjectiveError, QiML, QimlError, ShapeError, Space, minimize
from qiml.engine import checkpoint

B = [(-1.0, 1.0)] * 2


def sph(x):
    return float(np.sum(np.asarray(x) ** 2))


def vsph(X):
    return np.sum(np.asarray(X) ** 2, axis=1)


# ----------------------------------------------------------------------------- hierarchy
@pytest.mark.parametrize("cls, builtin", [(BoundsError, ValueError), (ConfigError, ValueError),
                                          (ShapeError, ValueError), (CheckpointError, ValueError),
                                          (ObjectiveError, RuntimeError)])
def test_error_hierarchy(cls, builtin):
    assert issubclass(cls, QimlError)
    assert issubclass(cls, builtin)
    assert issubclass(QimlError, Exception)
    assert getattr(qiml, cls.__name__) is cls


# ----------------------------------------------------------------------------- the table
CASES = [
    # bounds
    ("inverted bounds", lambda: QiML([(1.0, -1.0)]), BoundsError, "lower must be < upper"),
    ("equal bounds", lambda: QiML([(0.0, 1.0), (2.0, 2.0)]), BoundsError,
     r"inverted or empty bounds at parameter\(s\) \[1\]"),
    ("infinite bounds", lambda: QiML([(0.0, np.inf)]), BoundsError, "bounds must be finite"),
    ("infinite scipy Bounds", lambda: QiML(Bounds([-np.inf], [0.0])), BoundsError, "bounds must be finite"),
    ("NaN bounds", lambda: QiML([(np.nan, 1.0)]), BoundsError, "NaN or infinite"),
    ("bounds triples", lambda: QiML([(0.0, 1.0, 2.0)]), BoundsError, r"sequence of \(low, high\) pairs"),
    ("flat bounds", lambda: QiML([0.0, 1.0]), BoundsError, r"sequence of \(low, high\) pairs"),
    ("ragged bounds", lambda: QiML([(0.0, 1.0), (2.0,)]), BoundsError, r"sequence of \(low, high\) pairs"),
    ("no bounds", lambda: minimize(sph, None), BoundsError, "bounds are required"),
    ("string bounds", lambda: QiML("abc"), BoundsError, r"sequence of \(low, high\) pairs"),
    ("lattice step > range", lambda: QiML(Space([0.0], [1.0], [2.0])), BoundsError,
     "lattice step larger than the range"),
    ("negative lattice step", lambda: Space([0.0], [1.0], [-0.5]), BoundsError,
     "lattice steps must be finite and >= 0"),
    ("integers inverted", lambda: Space.integers([3], [1]), BoundsError, "lower must be < upper"),
    # grid and hbar
    ("nx < 3", lambda: QiML(B, nx=2), ConfigError, r"nx must be None or an int in \[3, "),
    ("nx float", lambda: QiML(B, nx=64.0), ConfigError, "nx must be None or an int"),
    ("nx bool", lambda: QiML(B, nx=True), ConfigError, "nx must be None or an int"),
    ("nx huge", lambda: QiML(B, nx=10**7), ConfigError, "nx must be None or an int"),
    ("hbar = 0", lambda: QiML(B, hbar=0.0), ConfigError, "hbar must be finite and > 0"),
    ("hbar < 0", lambda: QiML(B, hbar=-0.01), ConfigError, "hbar must be finite and > 0"),
    ("hbar NaN", lambda: QiML(B, hbar=float("nan")), ConfigError, "hbar must be finite and > 0"),
    ("hbar pair ends at 0", lambda: QiML(B, hbar=(0.1, 0.0)), ConfigError, "hbar must be finite and > 0"),
    ("hbar pair starts at 0", lambda: QiML(B, hbar=(0.0, 0.1)), ConfigError, "hbar"),
    ("hbar triple", lambda: QiML(B, hbar=(0.1, 0.01, 0.001)), ConfigError, "hbar must be a number, a"),
    ("hbar schedule gives 0", lambda: QiML(B, hbar=lambda t: 0.0), ConfigError, "hbar schedule returned 0.0"),
    ("hbar schedule reaches 0", lambda: minimize(vsph, B, vectorized=True, seed=0, max_evals=2000,
                                                 refine=0.5, hbar=lambda t: 0.05 * (1.0 - t), search="slices"),
     ConfigError, "hbar schedule returned 0.0 at progress 1.000"),
    ("alpha = 0", lambda: QiML(B, alpha=0.0), ConfigError, "alpha must be finite and > 0"),
    # options
    ("unknown option", lambda: QiML(B, hbarr=0.1), ConfigError, r"unknown option\(s\) \['hbarr'\]"),
    ("unknown option in minimize", lambda: minimize(sph, B, maxiter=3), ConfigError, "unknown option"),
    ("bad update", lambda: QiML(B, update="gauss"), ConfigError, "update must be one of"),
    ("bad readout", lambda: QiML(B, readout="median"), ConfigError, "readout must be one of"),
    ("refine = 1", lambda: QiML(B, refine=1.0), ConfigError, r"refine must be in \[0, 1\)"),
    ("popsize 2", lambda: QiML(B, popsize=2), ConfigError, "popsize must be an int >= 4"),
    ("mixing 0", lambda: QiML(B, mixing=0.0), ConfigError, r"mixing must be in \(0, 1\]"),
    ("shrink NaN", lambda: QiML(B, shrink=float("nan")), ConfigError, "shrink must not be NaN"),
    ("block 0", lambda: QiML(B, block=0), ConfigError, "block must be a positive int"),
    ("patience 0", lambda: QiML(B, patience=0), ConfigError, "patience must be a positive int"),
    ("bad nan_policy", lambda: QiML(B, nan_policy="omit"), ConfigError, "nan_policy must be one of"),
    # solver
    ("unknown solver", lambda: QiML(B, solver="monte-carlo"), ConfigError, "unknown solver 'monte-carlo'"),
    ("solver not a str", lambda: QiML(B, solver=3), ConfigError, "unknown solver"),
    ("time bogus", lambda: QiML(B, time="bogus"), ConfigError, "time must be 'ground', 'imaginary' or 'real'"),
    ("steps 0", lambda: QiML(B, time="imaginary", steps=0), ConfigError, "steps must be a positive int"),
    ("dt < 0", lambda: QiML(B, time="imaginary", dt=-0.5), ConfigError, "dt must be finite and > 0"),
    ("real theta 1", lambda: QiML(B, time="real", theta=1.0), ConfigError, "real time needs theta = 0.5"),
    ("mass 0", lambda: QiML(B, mass=0.0), ConfigError, "mass must be finite and > 0"),
    ("settings with instance", lambda: QiML(B, solver=qiml.solvers.FiniteDifference(), dt=0.1),
     ConfigError, "given with a solver instance"),
    # budgets, seed, x0
    ("max_evals 0", lambda: QiML(B, max_evals=0), ConfigError, "max_evals must be a positive int"),
    ("max_evals float", lambda: QiML(B, max_evals=100.5), ConfigError, "max_evals must be a positive int"),
    ("max_iter -1", lambda: minimize(sph, B, max_iter=-1), ConfigError, "max_iter must be a positive int"),
    ("max_time 0", lambda: QiML(B, max_time=0.0), ConfigError, "max_time must be a finite number > 0 or None"),
    ("max_time inf", lambda: QiML(B, max_time=np.inf), ConfigError, "max_time must be a finite number > 0 or None"),
    ("max_time string", lambda: QiML(B, max_time="1"), ConfigError, "max_time must be a finite number > 0 or None"),
    ("target NaN", lambda: QiML(B, target=np.nan), ConfigError, "target must be a finite number"),
    ("target string", lambda: QiML(B, target="0"), ConfigError, "target must be a finite number"),
    ("negative seed", lambda: QiML(B, seed=-1), ConfigError, "seed must be a non-negative int"),
    ("float seed", lambda: QiML(B, seed=1.5), ConfigError, "seed must be a non-negative int"),
    ("bool seed", lambda: QiML(B, seed=True), ConfigError, "seed must be a non-negative int"),
    ("x0 wrong shape", lambda: QiML(B, x0=[0.1, 0.2, 0.3]), ShapeError, r"x0 must have shape \(2,\)"),
    ("x0 2-D", lambda: minimize(sph, B, x0=[[0.1, 0.2]]), ShapeError, r"x0 must have shape \(2,\)"),
    ("x0 NaN", lambda: QiML(B, x0=[np.nan, 0.0]), ShapeError, "x0 must be finite"),
    # minimize front door
    ("resume without path", lambda: minimize(sph, B, resume=True), ConfigError, "resume=True needs a checkpoint path"),
    ("checkpoint_every 0", lambda: minimize(sph, B, checkpoint_every=0), ConfigError, "checkpoint_every must be"),
    ("fun not callable", lambda: minimize(42, B), ConfigError, "fun must be callable"),
    ("objective of other dim", lambda: minimize(qiml.Objective(sph, 3), B), ConfigError,
     "objective has 3 parameters but bounds have 2"),
    # the objective
    ("NaN loss, default policy", lambda: minimize(lambda x: np.nan, B, seed=0), ObjectiveError,
     "objective returned NaN .* nan_policy='inf'"),
    ("NaN loss somewhere", lambda: minimize(lambda X: np.where(X[:, 0] > 0.5, np.nan, 1.0), B, seed=0,
                                            vectorized=True), ObjectiveError, "objective returned NaN for"),
    ("-inf loss", lambda: minimize(lambda x: -np.inf, B, seed=0), ObjectiveError, "objective returned -inf"),
    ("vectorized wrong length", lambda: minimize(lambda X: np.zeros(3), B, seed=0, vectorized=True),
     ObjectiveError, r"expected \d+ objective values"),
    ("vectorized 2-D output", lambda: minimize(lambda X: np.zeros((len(X), 2)), B, seed=0, vectorized=True),
     ObjectiveError, r"expected \d+ objective values"),
    ("plain returns vector", lambda: minimize(lambda x: x, B, seed=0), ObjectiveError,
     "objective must return a scalar .* vectorized=True"),
    ("plain returns string", lambda: minimize(lambda x: "one", B, seed=0), ObjectiveError,
     "must return a real number, got str"),
    ("vectorized returns strings", lambda: minimize(lambda X: ["a"] * len(X), B, seed=0, vectorized=True),
     ObjectiveError, "must be real numbers"),
]


@pytest.mark.parametrize("make, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(make, exc, match):
    with pytest.raises(exc, match=match) as info:
        make()
    assert isinstance(info.value, QimlError)
    assert isinstance(info.value, ValueError if exc is not ObjectiveError else RuntimeError)


def test_enough_distinct_bad_inputs():
    assert len({c[0] for c in CASES}) == len(CASES) >= 15


def test_objective_exception_is_chained():
    class Boom(Exception):
        pass

    def f(x):
        raise Boom("model exploded")

    with pytest.raises(ObjectiveError, match="objective raised Boom: model exploded") as info:
        minimize(f, B, seed=0)
    assert isinstance(info.value.__cause__, Boom)
    assert str(info.value.__cause__) == "model exploded"


def test_objective_error_from_user_code_passes_through_unchanged():
    err = ObjectiveError("my own message")

    def f(x):
        raise err

    with pytest.raises(ObjectiveError, match="my own message") as info:
        minimize(f, B, seed=0)
    assert info.value is err


def test_keyboard_interrupt_is_not_swallowed():
    def f(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        minimize(f, B, seed=0)


# ----------------------------------------------------------------------------- checkpoints
def _saved(tmp_path, **kw):
    opt = QiML(B, seed=0, max_evals=1000, **kw)
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, vsph(X))
    return opt.save(tmp_path / "good.npz")


def test_corrupt_checkpoint_random_bytes(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(np.random.default_rng(1).bytes(3000))
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        QiML(B, seed=0, max_evals=1000).load(path)


def test_truncated_checkpoint(tmp_path):
    good = _saved(tmp_path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes()[:-64])
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        QiML(B, seed=0, max_evals=1000).load(bad)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        QiML(B, seed=0).load(tmp_path / "nowhere.npz")


@pytest.mark.parametrize("bounds, kw, differs", [
    ([(-1.0, 2.0)] * 2, dict(max_evals=1000), "space"),
    (B, dict(max_evals=1000, nx=32), "options"),
    (B, dict(max_evals=1000, hbar=0.05), "options"),
    (B, dict(max_evals=2000), "max_evals"),
    (B, dict(max_evals=1000, time="imaginary"), "solver"),
    ([(-1.0, 1.0)] * 3, dict(max_evals=1000), "dim"),
])
def test_checkpoint_from_other_configuration(tmp_path, bounds, kw, differs):
    path = _saved(tmp_path)
    opt = QiML(bounds, seed=0, **kw)
    with pytest.raises(CheckpointError, match=f"made with other settings \\(differs in .*'{differs}'"):
        opt.load(path)
    assert opt.nfev == 0                                         # the optimizer was not touched


def test_minimize_resume_from_other_configuration(tmp_path):
    path = _saved(tmp_path)
    with pytest.raises(CheckpointError, match="made with other settings"):
        minimize(vsph, [(-1.0, 2.0)] * 2, vectorized=True, seed=0, max_evals=1000, checkpoint=path, resume=True)


@pytest.mark.parametrize("key, value, match", [
    ("dir.B", np.zeros((2, 3)), "'B' has shape"),
    ("x", np.array([np.nan, 0.0]), "'x' holds NaN"),
    ("dir.w", np.ones(5), "'w' has shape"),
    ("nfev", None, "lacks entry 'nfev'"),
    ("phase", "bogus", "phase .bogus. is not one of this run.s"),
    ("pending", "weird", "unknown pending request kind"),
    ("rng", {"bit_generator": "MT19937"}, "not a PCG64 state"),
    ("rng", {"bit_generator": "PCG64", "state": 3}, "random state in checkpoint is corrupt"),
    ("history", np.zeros(3), "state dict is corrupt"),
    ("ga_pop", np.zeros((3, 5)), "ga_pop has shape"),
    ("dir.order_pos", "x", "state dict is corrupt"),
    ("layout", 1, "start the run afresh"),
    ("config", {}, "made with other settings"),
])
def test_tampered_state_dict(tmp_path, key, value, match):
    state = checkpoint.load(_saved(tmp_path))
    if value is None:
        del state[key]
    else:
        state[key] = value
    with pytest.raises(CheckpointError, match=match):
        QiML(B, seed=0, max_evals=1000).load_state_dict(state)


@pytest.mark.parametrize("order", [np.array([0, 7]), np.array([1, -5]), np.array(["a", "b"])])
def test_tampered_sweep_order_is_rejected_on_load(tmp_path, order):
    # a corrupt sweep order must be caught when loading, not as an IndexError/ValueError later
    state = checkpoint.load(_saved(tmp_path))
    state["dir.order"] = order
    with pytest.raises(CheckpointError):
        QiML(B, seed=0, max_evals=1000).load_state_dict(state)


def test_state_dict_not_a_dict():
    with pytest.raises(CheckpointError, match="state must be a dict"):
        QiML(B, seed=0).load_state_dict([("nfev", 1)])


# ----------------------------------------------------------------------------- documented handling
def test_infinite_loss_everywhere_is_handled():
    res = minimize(lambda X: np.full(len(X), np.inf), B, seed=0, vectorized=True, max_evals=500)
    assert res.fun == np.inf and not res.success and res.nfev <= 500


def test_max_evals_below_one_slice_is_a_clear_error():
    calls = []
    with pytest.raises(ConfigError, match=r"smaller than one slice"):
        minimize(lambda x: calls.append(1) or sph(x), B, seed=0, max_evals=3)
    assert calls == []


def test_lattice_with_exactly_two_levels_is_fine():
    res = minimize(vsph, Space([-1.0, -1.0], [1.0, 1.0], [2.0, 2.0]), seed=0, vectorized=True, max_evals=200)
    assert set(np.unique(res.x)) <= {-1.0, 1.0}
    assert res.fun == 2.0



def test_an_option_naming_both_an_engine_option_and_a_solver_setting_is_refused():
    # `walkers` is the engine's ensemble size and the mesoscopic solver's walker count: no silent guess
    with pytest.raises(qiml.ConfigError, match=r"\['walkers'\] name both"):
        qiml.minimize(lambda x: float(np.sum(x**2)), [(-1, 1)] * 2, solver="mesoscopic", method="walkers",
                      walkers=50, max_evals=100)


# -- issue 16: silent wrong answers and raw errors a new user hit --------------------------------------------
def test_integer_spaces_need_integer_bounds():
    with pytest.raises(BoundsError, match=r"integer bounds; lower is fractional at parameter\(s\) \[0\]"):
        Space.integers(0.5, 3.7)
    assert Space.integers(0, 3).step.tolist() == [1.0]


def test_a_box_too_wide_to_represent_is_refused():
    with pytest.raises(BoundsError, match="too wide"):
        minimize(lambda x: float(x[0]), [(-1e308, 1e308)], seed=0, max_evals=50)


@pytest.mark.parametrize("value, kind", [(None, "None"), (True, "bool"), ("1.0", "str"), (["1.0"], "list")])
def test_objective_returns_that_are_not_real_numbers_are_refused(value, kind):
    with pytest.raises(ObjectiveError, match=kind if kind == "None" else f"got {kind}"):
        minimize(lambda x: value, [(-1, 1)] * 2, seed=0, max_evals=50)
    # nan_policy="inf" is about NaN, not about a missing return: still an error
    with pytest.raises(ObjectiveError):
        minimize(lambda x: value, [(-1, 1)] * 2, seed=0, max_evals=50, nan_policy="inf")


def test_objective_returns_that_are_real_numbers_are_accepted():
    from decimal import Decimal

    for value in (1, 1.5, np.float32(2.0), np.int64(3), np.array(4.0), np.array([5.0])):
        assert minimize(lambda x, v=value: v, [(-1, 1)] * 2, seed=0, max_evals=40).fun == float(np.ravel(value)[0])
    with pytest.raises(ObjectiveError, match="got Decimal"):
        minimize(lambda x: Decimal("1.0"), [(-1, 1)] * 2, seed=0, max_evals=40)


@pytest.mark.parametrize("values", [None, np.array([True, False]), np.array(["1", "2"]),
                                    np.array([1.0, None], dtype=object)])
def test_vectorized_returns_that_are_not_real_numbers_are_refused(values):
    from qiml.requests import check_values

    with pytest.raises(ObjectiveError, match="None|real numbers"):
        check_values(values, 2)


def test_x0_outside_the_bounds_or_not_numeric_is_an_error():
    with pytest.raises(BoundsError, match=r"x0 lies outside the bounds at parameter\(s\) \[1\]"):
        QiML([(-1, 1), (-1, 1)], x0=[0.0, 2.0])
    with pytest.raises(ShapeError, match="x0 must be real numbers"):
        QiML([(-1, 1), (-1, 1)], x0=["a", "b"])
    # a lattice's top level may lie below the bound given: x0 at that bound is inside
    QiML(Space([0.0], [1.0], [0.3]), x0=[1.0])


def test_string_numbers_are_refused_like_max_evals_and_seed():
    with pytest.raises(ConfigError, match="hbar must be a number"):
        QiML([(-1, 1)], hbar="0.01")
    with pytest.raises(ConfigError, match="hbar schedule ends must be numbers"):
        QiML([(-1, 1)], hbar=("0.1", 0.01))
    with pytest.raises(ConfigError, match="shrink must be a number"):
        QiML([(-1, 1)], shrink="0.5")


def test_objective_dimension_must_be_a_positive_int():
    with pytest.raises(ConfigError, match="dim must be >= 1"):
        qiml.Objective(lambda x: 0.0, 0)


def test_saving_onto_a_directory_is_a_checkpoint_error(tmp_path):
    opt = QiML([(-1, 1)], seed=0)
    with pytest.raises(CheckpointError, match="is a directory"):
        opt.save(tmp_path)


@pytest.mark.parametrize("dim", ["0", "7"])
def test_bbob_dimensions_outside_the_suite_are_a_clear_cli_error(dim, tmp_path):
    from typer.testing import CliRunner

    from qiml.cli import app

    res = CliRunner().invoke(app, ["bench", "bbob", "--dim", dim, "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "bbob has dimensions" in res.output


# ----------------------------------------------------------------------------- objective return values (regressions)
def _scalar_run(value, **kw):
    return minimize(lambda x: value, B, seed=0, max_evals=40, **kw)


def _vector_run(make, **kw):
    return minimize(make, B, seed=0, max_evals=40, vectorized=True, **kw)


def _plain_message(info):
    # the objective returned a value: a message blaming it for raising would mislead
    assert not str(info.value).startswith("objective raised"), str(info.value)


@pytest.mark.parametrize("value", [np.timedelta64(5, "ns"), np.timedelta64(6, "ms"), np.timedelta64("NaT"),
                                   np.datetime64(5, "ns"), np.datetime64("NaT")],
                         ids=["timedelta64 ns", "timedelta64 ms", "timedelta64 NaT", "datetime64 ns", "datetime64 NaT"])
def test_numpy_time_values_are_not_losses(value):
    # timedelta64 subclasses np.signedinteger and a ns datetime64's .item() is an int: once read as 5.0
    with pytest.raises(ObjectiveError, match=rf"must return a real number, got {type(value).__name__}\b") as info:
        _scalar_run(value)
    _plain_message(info)


def test_numpy_time_values_are_not_real_numbers_anywhere():
    from qiml.validation import is_real, real_scalar

    for value in (np.timedelta64(5, "ns"), np.datetime64(5, "ns"), np.array(np.timedelta64(5, "ns"))):
        assert not is_real(value) and real_scalar(value) is None
    with pytest.raises(ConfigError, match="max_time must be a finite number > 0"):
        minimize(sph, B, max_time=np.timedelta64(5, "s"))


@pytest.mark.parametrize("dtype", ["bool", "complex64"])
def test_a_0d_bool_or_complex_tensor_is_not_a_real_number(dtype):
    torch = pytest.importorskip("torch")
    value = torch.tensor(True) if dtype == "bool" else torch.tensor(1 + 2j, dtype=torch.complex64)
    with pytest.raises(ObjectiveError, match=rf"must return a real number, got Tensor of dtype torch.{dtype}") as info:
        _scalar_run(value)
    assert "shape" not in str(info.value)   # it is a scalar: once "must return a scalar ..., got shape torch.Size([])"
    _plain_message(info)


def test_one_element_tensors_are_accepted_at_any_rank():
    torch = pytest.importorskip("torch")
    for value in (torch.tensor(2.5), torch.tensor([2.5]), torch.tensor([[2.5]], dtype=torch.float64)):
        assert _scalar_run(value).fun == 2.5
    with pytest.raises(ObjectiveError, match=r"must return a scalar for one point, got shape torch.Size\(\[2\]\)"):
        _scalar_run(torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("value", [2**1100, -(2**1100), 10**5000], ids=["2**1100", "-2**1100", "10**5000"])
def test_a_python_int_beyond_the_float_range_is_too_large(value):
    with pytest.raises(ObjectiveError, match=r"int of \d+ bits, a number too large to fit in a float \(64-bit") as info:
        _scalar_run(value)
    _plain_message(info)
    assert _scalar_run(2**1000).fun == float(2**1000)   # large, but a float holds it


@pytest.mark.parametrize("item", [2**64, -(2**63) - 1, 2**1100], ids=["2**64", "-2**63-1", "2**1100"])
def test_vectorized_python_ints_beyond_64_bits_are_refused_saying_why(item):
    with pytest.raises(ObjectiveError, match=r"beyond the 64-bit integer range .*dtype object") as info:
        _vector_run(lambda X: [item] * len(X))
    _plain_message(info)
    # up to 2**64 - 1 NumPy makes a uint64 (or int64) array: real numbers
    assert _vector_run(lambda X: [2**63] * len(X)).fun == float(2**63)
    assert _vector_run(lambda X: [-(2**63)] * len(X)).fun == -float(2**63)


def test_vectorized_masked_arrays_are_refused_if_anything_is_masked():
    def masked(X):
        F = np.ma.array(np.sum(X**2, axis=1), mask=np.zeros(len(X), dtype=bool))
        F[0] = np.ma.masked
        return F

    with pytest.raises(ObjectiveError, match=r"masked array with 1 of \d+ entries masked") as info:
        _vector_run(masked)
    _plain_message(info)
    # nothing masked: the values are the data
    assert _vector_run(lambda X: np.ma.array(1.0 + np.sum(X**2, axis=1))).fun >= 1.0


@pytest.mark.parametrize("value", [np.ma.masked, np.ma.array([1.0], mask=[True])], ids=["np.ma.masked", "masked [1.0]"])
def test_a_masked_scalar_is_refused(value):
    with pytest.raises(ObjectiveError, match="must return a real number, got a masked value"):
        _scalar_run(value)
    assert _scalar_run(np.ma.array([1.5])).fun == 1.5


def test_a_1x1_matrix_is_a_one_element_array():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        one, two = np.asmatrix([[1.5]]), np.asmatrix([[1.0, 2.0]])
    assert _scalar_run(one).fun == 1.5   # once "objective raised TypeError: only 0-dimensional arrays ..."
    with pytest.raises(ObjectiveError, match=r"must return a scalar for one point, got shape \(1, 2\)") as info:
        _scalar_run(two)
    _plain_message(info)


def test_timedelta_is_not_an_int_option():
    with pytest.raises(ConfigError, match="dim must be an int"):
        qiml.Objective(sph, np.timedelta64(3))
    with pytest.raises(ConfigError, match="max_evals must be a positive int or None"):
        QiML(B, max_evals=np.timedelta64(500))
