"""qiml.torch.QiMLOptimizer: a gradient-free torch.optim.Optimizer over the QiML ask/tell engine."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest

import qiml
from qiml import BoundsError, CheckpointError, ConfigError, ObjectiveError, ShapeError

torch = pytest.importorskip("torch")

from qiml.torch import QiMLOptimizer  # noqa: E402 (only once torch is known to be installed)

NX1 = 65   # evaluations per step with the default nx = 64, block = 1


def linear_problem(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise-free linear teacher y = X w + b with w = (1.5, -2, 0.5), b = 0.3; X (n, 3), y (n, 1)."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 3, generator=g)
    y = X @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3
    return X, y


def make_linear(seed: int) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1)


def mse(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(model(X), y))


# ---------------------------------------------------------------------- (a) training works
def test_linear_teacher_loss_falls_a_thousandfold():
    X, y = linear_problem()
    model = make_linear(0)
    opt = QiMLOptimizer(model.parameters(), bounds=(-3.0, 3.0), max_evals=40 * NX1, seed=0)
    loss0 = mse(model, X, y)
    steps = 0
    while not opt.stop():
        loss = opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))
        steps += 1
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0 and not loss.requires_grad
    assert 30 <= steps <= 80 and opt.result.nfev <= 40 * NX1
    best = opt.load_best()
    assert best == mse(model, X, y)          # the engine saw exactly this loss at these parameters
    assert best < loss0 / 1000, (loss0, best)
    assert torch.allclose(model.weight, torch.tensor([[1.5, -2.0, 0.5]]), atol=0.02)


def test_tanh_network_regression_loss_falls_tenfold():
    Xn = torch.linspace(-2, 2, 40).unsqueeze(1)
    yn = torch.sin(1.5 * Xn)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))   # P = 13
    opt = QiMLOptimizer(net.parameters(), bounds=(-4.0, 4.0), max_evals=150 * NX1, seed=1)
    loss0 = mse(net, Xn, yn)
    for _ in range(400):                     # more steps than the budget allows: the last ones only evaluate
        opt.step(lambda: torch.nn.functional.mse_loss(net(Xn), yn))
    assert opt.stop()
    assert mse(net, Xn, yn) < loss0 / 10      # the parameters hold the final position (the GA's best)
    assert opt.load_best() < loss0 / 10


# ---------------------------------------------------------------------- (b) errors
def test_step_needs_a_closure():
    model = make_linear(0)
    opt = QiMLOptimizer(model.parameters(), seed=0)
    with pytest.raises(ConfigError, match="closure"):
        opt.step()
    with pytest.raises(ConfigError, match="callable"):
        opt.step(3.0)


def test_closure_calling_backward_raises_a_clear_error_and_changes_nothing():
    X, y = linear_problem()
    model = make_linear(0)
    opt = QiMLOptimizer(model.parameters(), seed=0)
    opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))
    before = [p.detach().clone() for p in model.parameters()]
    nfev = opt.result.nfev

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), y)
        loss.backward()
        return loss

    with pytest.raises(ObjectiveError, match=r"backward\(\).*gradient-free"):
        opt.step(closure)
    assert opt.result.nfev == nfev
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("bad, match", [(lambda: None, "returned None"),
                                        (lambda: torch.ones(2), "scalar"),
                                        (lambda: "x", "scalar")])
def test_closure_must_return_a_scalar(bad, match):
    opt = QiMLOptimizer(make_linear(0).parameters(), seed=0)
    with pytest.raises(ObjectiveError, match=match):
        opt.step(bad)


def test_bad_parameters_and_options():
    with pytest.raises(ConfigError, match="floating-point"):
        QiMLOptimizer([torch.zeros(3, dtype=torch.long)])
    with pytest.raises(ConfigError, match="meta device"):    # refused for itself, before the one-device check
        QiMLOptimizer([torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2, device="meta"))])
    with pytest.raises(BoundsError):
        QiMLOptimizer(make_linear(0).parameters(), bounds=(1.0, -1.0))
    with pytest.raises(BoundsError):
        QiMLOptimizer([{"params": make_linear(0).parameters(), "bounds": (0.0, float("inf"))}])
    with pytest.raises(ConfigError, match="unknown option"):
        QiMLOptimizer(make_linear(0).parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="max_evals"):
        QiMLOptimizer(make_linear(0).parameters(), max_evals=10)


def test_no_parameter_groups_after_the_run_started():
    X, y = linear_problem()
    model = make_linear(0)
    opt = QiMLOptimizer([model.weight], seed=0)
    opt.add_param_group({"params": [model.bias], "bounds": (0.0, 1.0)})   # fine before the first step
    opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))
    assert opt.engine.space.dim == 4
    with pytest.raises(ConfigError, match="started"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))]})


# ---------------------------------------------------------------------- groups, lattices, stopping
def test_per_group_bounds_and_lattice():
    X, y = linear_problem()
    model = make_linear(0)
    opt = QiMLOptimizer([{"params": [model.weight], "bounds": (-2.0, 2.0), "lattice": 0.25},
                         {"params": [model.bias], "bounds": (0.0, 0.5)}], max_evals=20 * NX1, seed=0)
    for _ in range(20):
        opt.step(lambda: float(torch.nn.functional.mse_loss(model(X), y)))   # a plain float is fine too
    w, b = model.weight.detach(), model.bias.detach()
    assert torch.all((w >= -2) & (w <= 2)) and torch.equal(w * 4, torch.round(w * 4))
    assert torch.all((b >= 0) & (b <= 0.5))
    assert torch.equal(w, torch.tensor([[1.5, -2.0, 0.5]]))   # the teacher's weights lie on the lattice


def test_out_of_bounds_start_is_clipped_and_stopped_engine_only_evaluates():
    X, y = linear_problem()
    model = make_linear(0)
    with torch.no_grad():
        model.weight.fill_(10.0)
    opt = QiMLOptimizer(model.parameters(), bounds=(-3.0, 3.0), max_evals=5 * NX1, seed=0)
    assert opt.engine.x[:3].tolist() == [3.0, 3.0, 3.0]
    steps = 0
    while not opt.stop():
        opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))
        steps += 1
    assert "max_evals" in opt.stop() and steps >= 4
    before = [p.detach().clone() for p in model.parameters()]
    nfev = opt.result.nfev
    loss = opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))
    assert float(loss) == mse(model, X, y) and opt.result.nfev == nfev
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# ---------------------------------------------------------------------- (c) exact resume
def _run(opt, model, X, y, n):
    losses = [opt.step(lambda: torch.nn.functional.mse_loss(model(X), y)) for _ in range(n)]
    return losses, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("through_file", [True, False])
def test_state_dict_round_trip_continues_bit_for_bit(tmp_path, through_file):
    X, y = linear_problem()
    budget = 30 * NX1                          # the continuation crosses into the GA phase and past the budget
    model_a = make_linear(0)
    opt_a = QiMLOptimizer(model_a.parameters(), max_evals=budget, seed=0)
    _run(opt_a, model_a, X, y, 12)
    if through_file:
        torch.save({"model": model_a.state_dict(), "opt": opt_a.state_dict()}, tmp_path / "ck.pt")
        ck = torch.load(tmp_path / "ck.pt", weights_only=True)
    else:
        ck = copy.deepcopy({"model": model_a.state_dict(), "opt": opt_a.state_dict()})
    losses_a, params_a = _run(opt_a, model_a, X, y, 40)
    assert opt_a.engine.phase == "refine" and opt_a.stop()

    model_b = make_linear(123)                 # another initialisation and seed: everything comes from the state
    opt_b = QiMLOptimizer(model_b.parameters(), max_evals=budget, seed=7)
    model_b.load_state_dict(ck["model"])
    opt_b.load_state_dict(ck["opt"])
    losses_b, params_b = _run(opt_b, model_b, X, y, 40)

    assert all(torch.equal(torch.as_tensor(a), torch.as_tensor(b)) for a, b in zip(losses_a, losses_b, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b, strict=True))
    assert opt_a.best_loss == opt_b.best_loss and opt_a.result.nfev == opt_b.result.nfev


def test_load_state_dict_adopts_saved_groups_rejects_other_settings_and_changes_nothing():
    X, y = linear_problem()
    model = make_linear(0)
    opt = QiMLOptimizer(model.parameters(), max_evals=30 * NX1, seed=0)
    opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))
    state = opt.state_dict()

    other = QiMLOptimizer(make_linear(1).parameters(), bounds=(-2.0, 2.0), max_evals=20 * NX1, seed=0)
    engine = other.engine
    with pytest.raises(CheckpointError, match="max_evals"):
        other.load_state_dict(state)
    assert other.param_groups[0]["bounds"] == (-2.0, 2.0) and other.engine is engine
    with pytest.raises(CheckpointError, match="qiml"):
        other.load_state_dict({k: v for k, v in state.items() if k != "qiml"})

    # as with a learning rate, group settings (here the bounds) come from the state dict
    same_budget = QiMLOptimizer(make_linear(1).parameters(), bounds=(-2.0, 2.0), max_evals=30 * NX1)
    same_budget.load_state_dict(state)
    assert same_budget.param_groups[0]["bounds"] == (-3.0, 3.0)
    assert same_budget.result.nfev == opt.result.nfev


# ---------------------------------------------------------------------- (d) mini-batch loop
def test_dataloader_minibatch_loop():
    X, y = linear_problem(256)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    model = make_linear(0)
    opt = QiMLOptimizer(model.parameters(), max_evals=60 * NX1, seed=0)
    loss_fn = torch.nn.MSELoss()
    loss0 = mse(model, X, y)
    for _epoch in range(12):
        for xb, yb in loader:                  # one QiML step per mini-batch, on that batch
            def closure(xb=xb, yb=yb):
                return loss_fn(model(xb), yb)
            opt.step(closure)
    assert opt.stop()
    assert mse(model, X, y) < loss0 / 1000


# ---------------------------------------------------------------------- layouts and seeding
def test_non_contiguous_and_mixed_dtype_parameters():
    a = torch.nn.Parameter(torch.zeros(3, 2).t())          # (2, 3), not contiguous
    b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    target = torch.arange(6.0).reshape(2, 3) / 4
    opt = QiMLOptimizer([a, b], max_evals=40 * NX1, seed=0)
    while not opt.stop():
        opt.step(lambda: ((a - target) ** 2).sum() + ((b - 0.5) ** 2).sum().float())
    assert opt.load_best() < 1e-8
    assert torch.allclose(a, target, atol=1e-4) and torch.allclose(b, torch.full((2,), 0.5, dtype=torch.float64))


def test_seed_none_follows_torch_manual_seed():
    def run() -> torch.Tensor:
        torch.manual_seed(5)
        model = torch.nn.Linear(2, 1)
        opt = QiMLOptimizer(model.parameters())             # seed drawn from torch's generator at step 1
        X = torch.randn(8, 2)
        for _ in range(3):
            opt.step(lambda: model(X).pow(2).mean())
        return model.weight.detach().clone()

    assert torch.equal(run(), run())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device (CUDA)")
def test_parameters_on_two_devices_are_refused():
    with pytest.raises(ConfigError, match="one device"):
        QiMLOptimizer([{"params": [torch.nn.Parameter(torch.zeros(2))]},
                       {"params": [torch.nn.Parameter(torch.zeros(2, device="cuda"))]}])


# ---------------------------------------------------------------------- frozen parameters (requires_grad=False)
def frozen_net() -> torch.nn.Sequential:
    """Linear(3, 2) -> Linear(2, 1) with the first layer frozen: 8 frozen and 3 trainable elements."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    net[0].requires_grad_(False)
    return net


def test_frozen_parameters_are_left_untouched():
    X, y = linear_problem()
    net = frozen_net()
    frozen = [p.detach().clone() for p in net[0].parameters()]
    trained = [p.detach().clone() for p in net[1].parameters()]
    with torch.no_grad():
        net[0].weight[0, 0] = 10.0          # outside the box: a frozen value is not even clipped
    frozen[0][0, 0] = 10.0
    opt = QiMLOptimizer(net.parameters(), bounds=(-3.0, 3.0), max_evals=20 * NX1, seed=0)
    assert opt.engine.space.dim == 3
    loss0 = mse(net, X, y)

    def unchanged() -> bool:
        return all(torch.equal(a, b) for a, b in zip(frozen, net[0].parameters(), strict=True))

    for _ in range(10):
        opt.step(lambda: torch.nn.functional.mse_loss(net(X), y))
        assert unchanged()
    assert not all(torch.equal(a, b) for a, b in zip(trained, net[1].parameters(), strict=True))
    best = opt.load_best()
    assert unchanged() and best == mse(net, X, y) and best < loss0
    assert opt.best()[1].shape == (3,)
    opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert unchanged()


def _save(model, opt) -> io.BytesIO:
    """``{"model": ..., "opt": ...}`` saved with torch.save into memory."""
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    return buf


def test_exact_resume_with_frozen_parameters_and_a_checkpoint_of_other_frozen_ones():
    X, y = linear_problem()
    budget = 12 * NX1
    net_a = frozen_net()
    opt_a = QiMLOptimizer(net_a.parameters(), max_evals=budget, seed=0)
    _run(opt_a, net_a, X, y, 4)
    ck = torch.load(_save(net_a, opt_a), weights_only=True)
    assert ck["opt"]["qiml_trainable"] == [False, False, True, True]
    losses_a, params_a = _run(opt_a, net_a, X, y, 12)

    net_b = frozen_net()
    with torch.no_grad():
        net_b[1].weight.fill_(0.7)             # replaced by the checkpoint's values below
    opt_b = QiMLOptimizer(net_b.parameters(), max_evals=budget, seed=5)
    net_b.load_state_dict(ck["model"])
    opt_b.load_state_dict(ck["opt"])
    losses_b, params_b = _run(opt_b, net_b, X, y, 12)
    assert all(torch.equal(torch.as_tensor(a), torch.as_tensor(b)) for a, b in zip(losses_a, losses_b, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b, strict=True))

    # same element count (3), other parameters frozen: refused, nothing changes
    torch.manual_seed(0)
    net_c = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    net_c[0].weight.requires_grad_(False)
    net_c[1].weight.requires_grad_(False)
    opt_c = QiMLOptimizer(net_c.parameters(), max_evals=budget, seed=0)
    engine = opt_c.engine
    with pytest.raises(CheckpointError, match="requires_grad"):
        opt_c.load_state_dict(ck["opt"])
    assert opt_c.engine is engine
    # a checkpoint without the entry (made before it existed) still loads
    opt_d = QiMLOptimizer(frozen_net().parameters(), max_evals=budget, seed=0)
    opt_d.load_state_dict({k: v for k, v in ck["opt"].items() if k != "qiml_trainable"})
    assert opt_d.result.nfev == 4 * NX1


def test_requires_grad_changed_after_the_run_started_is_refused():
    X, y = linear_problem()
    net = frozen_net()
    opt = QiMLOptimizer(net.parameters(), max_evals=20 * NX1, seed=0)
    net[1].bias.requires_grad_(False)          # before the first step: fine, the run trains what is left
    opt.step(lambda: torch.nn.functional.mse_loss(net(X), y))
    assert opt.engine.space.dim == 2
    before = [p.detach().clone() for p in net.parameters()]
    nfev = opt.result.nfev

    net[1].weight.requires_grad_(False)        # the number of trainable elements changes: 2 -> 0
    with pytest.raises(ConfigError, match=r"requires_grad changed.*parameter 2 \(shape \(1, 2\)\) is now frozen"
                                          r".*trains 2 elements.*now require grad hold 0"):
        opt.step(lambda: torch.nn.functional.mse_loss(net(X), y))
    with pytest.raises(ConfigError, match="requires_grad changed"):
        opt.load_best()
    net[1].weight.requires_grad_(True)
    net[1].bias.requires_grad_(True)           # 2 -> 5 elements
    net[0].bias.requires_grad_(True)
    with pytest.raises(ConfigError, match=r"parameter 1 .*now requires grad, parameter 3 .*now requires grad"
                                          r".*trains 2 elements.*hold 5"):
        opt.step(lambda: torch.nn.functional.mse_loss(net(X), y))
    net[1].bias.requires_grad_(False)
    net[1].weight.requires_grad_(False)        # a swap with the same count (2): refused all the same
    with pytest.raises(ConfigError, match=r"parameter 1 .*now requires grad, parameter 2 .*is now frozen"
                                          r".*trains 2 elements.*hold 2"):
        opt.step(lambda: torch.nn.functional.mse_loss(net(X), y))
    assert opt.result.nfev == nfev
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))

    net[0].bias.requires_grad_(False)          # restored: the run goes on
    net[1].weight.requires_grad_(True)
    opt.step(lambda: torch.nn.functional.mse_loss(net(X), y))
    assert opt.result.nfev > nfev


def test_resized_parameter_is_a_shape_error():
    X, y = linear_problem()
    model = make_linear(0)
    opt = QiMLOptimizer(model.parameters(), seed=0)
    opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))
    model.bias.data = torch.zeros(2)
    with pytest.raises(ShapeError, match="now hold 5 elements but the run has 4"):
        opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))


def test_every_parameter_frozen_is_a_config_error():
    msg = "nothing to optimise: every parameter has requires_grad=False"
    net = frozen_net()
    net.requires_grad_(False)
    with pytest.raises(ConfigError, match=msg):
        QiMLOptimizer(net.parameters())
    with pytest.raises(ConfigError, match=msg):
        QiMLOptimizer([torch.zeros(3)])        # a plain tensor does not require grad
    model = make_linear(0)
    opt = QiMLOptimizer(model.parameters(), seed=0)
    model.requires_grad_(False)                # frozen after construction, before the engine exists
    with pytest.raises(ConfigError, match=msg):
        opt.step(lambda: model(torch.zeros(1, 3)).sum())


# ---------------------------------------------------------------------- meta device
def test_meta_parameters_are_refused_with_a_clear_error():
    with pytest.raises(ConfigError, match=r"meta device.*to_empty\(device=\"cpu\"\)"):
        QiMLOptimizer(torch.nn.Linear(3, 1, device="meta").parameters())
    opt = QiMLOptimizer(make_linear(0).parameters(), seed=0)
    with pytest.raises(ConfigError, match="meta device"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2, device="meta"))]})
    assert len(opt.param_groups) == 1
    meta = torch.nn.Linear(3, 1, device="meta")   # materialised and initialised: fine
    meta.to_empty(device="cpu")
    meta.reset_parameters()
    assert QiMLOptimizer(meta.parameters(), seed=0).engine.space.dim == 4


# ---------------------------------------------------------------------- one validation layer
@pytest.mark.parametrize("bounds", [("-1", "1"), (False, True), (0, True), "ab", (0.0,), (0.0, 1.0, 2.0), 1.0,
                                    (None, 1.0), ("nan", 1.0)])
def test_bounds_must_be_two_real_numbers(bounds):
    with pytest.raises(BoundsError, match="pair"):
        QiMLOptimizer(make_linear(0).parameters(), bounds=bounds)
    with pytest.raises(BoundsError, match="pair"):
        QiMLOptimizer([{"params": make_linear(0).parameters(), "bounds": bounds}])


@pytest.mark.parametrize("lattice", ["0.1", True, None, [0.1, 0.2]])
def test_lattice_must_be_one_real_number(lattice):
    with pytest.raises(BoundsError, match="lattice must be a real number"):
        QiMLOptimizer(make_linear(0).parameters(), lattice=lattice)
    with pytest.raises(BoundsError, match="lattice must be a real number"):
        QiMLOptimizer([{"params": make_linear(0).parameters(), "lattice": lattice}])


def test_real_number_bounds_and_lattice_of_any_numeric_type():
    opt = QiMLOptimizer(make_linear(0).parameters(), bounds=(np.int64(-2), torch.tensor(2.0)),
                        lattice=np.float32(0.5))
    assert opt.param_groups[0]["bounds"] == (-2.0, 2.0) and opt.param_groups[0]["lattice"] == 0.5
    assert type(opt.param_groups[0]["bounds"][1]) is float


@pytest.mark.parametrize("option, value", [("max_evals", "10"), ("max_evals", True), ("seed", "1"), ("seed", -1)])
def test_max_evals_and_seed_use_the_engines_checks(option, value):
    with pytest.raises(ConfigError) as engine_error:
        qiml.QiML([(0, 1)], **{option: value})
    with pytest.raises(ConfigError) as torch_error:        # at construction, not at the first step
        QiMLOptimizer(make_linear(0).parameters(), **{option: value})
    assert str(torch_error.value) == str(engine_error.value)
    assert option in str(torch_error.value)
