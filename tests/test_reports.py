"""The equal-budget harness and the `qiml demo` command (smoke run with tiny budgets)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from qiml.cli import app
from qiml.functions import Benchmark
from qiml.studies.baselines import METHODS, Budgeted, BudgetExhausted, run_method
from qiml.studies.demo import double_well_snapshots


def sphere(X: np.ndarray) -> np.ndarray:
    return np.sum(X * X, axis=1)


def test_budgeted_truncates_the_batch_that_crosses_the_budget():
    f = Budgeted(sphere, budget=5)
    f(np.ones((3, 2)))
    with pytest.raises(BudgetExhausted):
        f(np.zeros((4, 2)))          # only 2 of the 4 rows are evaluated
    assert f.nfev == 5 and f.exhausted
    assert f.best == 0.0             # the evaluated rows still count
    with pytest.raises(BudgetExhausted):
        f(np.zeros((1, 2)))
    assert f.nfev == 5
    np.testing.assert_array_equal(f.trace, [2.0, 2.0, 2.0, 0.0, 0.0])   # best after 1..5 evaluations
    np.testing.assert_array_equal(f.evals, [1, 2, 3, 4, 5])


@pytest.mark.parametrize("method", ["qiml", "random", "differential_evolution"])
def test_a_method_stops_at_the_target_like_coco(method):
    bounds = [(-5.0, 5.0)] * 2
    f = run_method(method, sphere, bounds, budget=50_000, seed=0, target=1.0)
    assert f.reached and not f.exhausted
    assert f.best <= 1.0 and f.nfev < 50_000
    assert np.all(f.trace[-1] <= 1.0)   # the trace keeps the best value to the end


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_stays_within_budget_and_records_a_trace(method):
    b = Benchmark("rastrigin", 3, seed=0)
    f = run_method(method, b, b.bounds, budget=300, seed=1)
    assert 0 < f.nfev <= 300
    assert np.isfinite(f.best) and f.trace[-1] == f.best
    assert np.all(np.diff(f.trace[np.isfinite(f.trace)]) <= 0)


def test_double_well_snapshots_move_from_shallow_to_deep_well():
    x, V, snaps = double_well_snapshots()
    assert V.min() == 0.0 and V.max() == 1.0
    first, last = snaps[0][1], snaps[-1][1]
    assert first[x > 0].sum() > 0.99 and last[x < 0].sum() > 0.99


def test_demo_command_writes_tables_and_plots(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--seeds", "1", "--budget-per-dim", "100",
                                   "--dim", "2"])
    assert res.exit_code == 0, res.output
    for name in ("demo.md", "demo.csv", "convergence.png", "double_well.png"):
        assert (tmp_path / name).stat().st_size > 0
    table = (tmp_path / "demo.md").read_text()
    assert "rastrigin 2-D" in table and "dual_annealing" in table and "double well 1-D" in table
    assert "Command: `qiml demo --seeds 1 --budget-per-dim 100 --dim 2`" in table and "usable of" in table


def test_demo_module_smoke_run(tmp_path):
    from qiml.studies import demo

    rows = demo.main(["--smoke", "--out", str(tmp_path)])
    assert {r["method"] for r in rows} == set(demo.DEMO_METHODS)
    assert len(rows) == len(demo.demo_problems(2)) * len(demo.DEMO_METHODS)      # one seed
    assert all(r["nfev"] <= r["budget"] for r in rows)
    for name in ("demo.md", "demo.csv", "convergence.png", "double_well.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "| schwefel 2-D |" in (tmp_path / "demo.md").read_text()


def test_demo_smoke_keeps_the_options_given(tmp_path):
    from qiml.studies import demo

    rows = demo.main(["--smoke", "--seeds", "2", "--budget-per-dim", "70", "--out", str(tmp_path)])
    assert len(rows) == len(demo.demo_problems(2)) * len(demo.DEMO_METHODS) * 2      # two seeds, 2-D (smoke)
    assert {r["budget"] for r in rows} == {70 * 2, 70}                               # the benchmarks, the 1-D well
    assert "Command: `qiml demo --seeds 2 --budget-per-dim 70 --dim 2`" in (tmp_path / "demo.md").read_text()


def test_demo_rejects_bad_arguments(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--seeds", "0"])
    assert res.exit_code != 0
    assert "seeds" in res.output.lower()
