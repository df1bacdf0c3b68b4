"""qiml.torch.QiMLOptimizer: a gradient-free torch.optim.Optimizer over the QiML ask/tell engine."""

from __future__ import annotations

import copy

import pytest

from qiml import BoundsError, CheckpointError, ConfigError, ObjectiveError

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
    with pytest.raises(ConfigError, match="one device"):
        QiMLOptimizer([torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2, device="meta"))])
    with pytest.raises(ConfigError, match="one device"):
        QiMLOptimizer([{"params": [torch.nn.Parameter(torch.zeros(2))]},
                       {"params": [torch.nn.Parameter(torch.zeros(2, device="meta"))]}])
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
