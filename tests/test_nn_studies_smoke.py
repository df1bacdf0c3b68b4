"""Smoke runs of the network studies (``qiml.studies.nn_tasks``, ``nn_budget``, ``nn_levers``, ``nn_defaults``):
tiny budgets, every table, CSV and plot the registry lists is written with the expected rows, a rerun
runs nothing, and a study killed mid-run resumes without redoing its finished runs. Also the one Adam
baseline (``qiml.studies.baselines.adam``) its callers share."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qiml.studies import nn_budget, nn_defaults, nn_levers, nn_tasks
from qiml.studies.registry import EXPERIMENTS
from qiml.studies.runner import load_runs


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _assert_outputs(name: str, folder: Path) -> None:
    for out in EXPERIMENTS[name].outputs:
        assert (folder / out).stat().st_size > 0, (name, out)


def test_nn_tasks_smoke_and_rerun(tmp_path):
    argv = ["--smoke", "--workers", "2", "--ladder-max", "4", "--out", str(tmp_path)]
    summary = nn_tasks.main(argv)
    _assert_outputs(nn_tasks.NAME, tmp_path)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["smoke"] is True and saved["meta"]["command"].startswith("python -m qiml.studies.nn_tasks --smoke")
    assert [r["task"] for r in summary["tasks"]] == ["teacher", "spirals", "parity8", "digits"]
    for r in summary["tasks"]:
        for k in ("qiml", "qiml_axes", "qiml_int8", "adam", "adam_ptq8"):
            assert r[k] >= 0 and (r["metric"] == "mse" or r[k] <= 1), (r["task"], k, r[k])
        assert r["adam_lr"] in nn_tasks.LRS and r["adam_epochs"] > 0
    assert [r["task"] for r in _rows(tmp_path / "tasks.csv")] == ["teacher", "spirals", "parity8", "digits"]
    assert {r["task"] for r in _rows(tmp_path / "neurons.csv")} == {"teacher", "spirals6"}
    (step,) = _rows(tmp_path / "step.csv")
    assert step["task"] == "digits_step" and 0 <= float(step["qiml"]) <= 1 and 0 <= float(step["cma"]) <= 1
    md = (tmp_path / "summary.md").read_text()
    assert "`python -m qiml.studies.nn_tasks --smoke" in md and "| digits | 64-12-8-10 | 974 |" in md
    # every run is in runs.jsonl under nn_tasks' key; a second call reads them all and trains nothing
    runs = (tmp_path / "runs.jsonl").read_text()
    assert all(json.loads(line)["key"] == nn_tasks.job_key({**json.loads(line), "smoke": True})
               for line in runs.splitlines())
    again = nn_tasks.main(argv)
    assert (tmp_path / "runs.jsonl").read_text() == runs
    assert again["tasks"] == summary["tasks"]


def test_nn_budget_smoke(tmp_path):
    out = nn_budget.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    _assert_outputs(nn_budget.NAME, tmp_path)
    rows = _rows(tmp_path / "budget.csv")
    assert [(r["task"], r["multiple"]) for r in rows] == [(t, m) for t in nn_budget.TASKS for m in ("1", "4")]
    assert all(float(r["test"]) >= 0 and float(r["seconds"]) > 0 for r in rows)
    (adam_row,) = out["adam"]
    assert adam_row["lr"] in nn_tasks.LRS and adam_row["schedule"] in ("constant", "cosine")
    md = (tmp_path / "budget.md").read_text()
    assert "`python -m qiml.studies.nn_budget --smoke`" in md and "| smooth | QiMLRegressor((8,)) |" in md
    assert "Adam (tuned)" in md


def test_nn_levers_smoke(tmp_path):
    nn_levers.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    _assert_outputs(nn_levers.NAME, tmp_path)
    rows = _rows(tmp_path / "levers.csv")
    assert [r["lever"] for r in rows] == list(nn_levers.LEVERS)
    assert all(0 <= float(r[t]) <= 1 for r in rows for t in nn_levers.TASKS)
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == len(nn_levers.LEVERS) * len(nn_levers.TASKS)


def test_nn_levers_smoke_keeps_given_options(tmp_path):
    """``--smoke`` gives way to the options given: 2 seeds at 0.2 s per run, not its own 1 seed at 0.5 s."""
    assert (nn_levers.SMOKE["seeds"], nn_levers.SMOKE["budget"]) == (1, 0.5)
    nn_levers.main(["--smoke", "--seeds", "2", "--budget", "0.2", "--workers", "2", "--out", str(tmp_path)])
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 2 * len(nn_levers.LEVERS) * len(nn_levers.TASKS)
    assert {r["seed"] for r in runs} == {0, 1} and {r["budget"] for r in runs} == {0.2}
    assert "`python -m qiml.studies.nn_levers --smoke --seeds 2 --budget 0.2`" in (tmp_path / "levers.md").read_text()


def test_nn_defaults_writes_into_a_folder(tmp_path):
    text = nn_defaults.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    _assert_outputs(nn_defaults.NAME, tmp_path)
    assert (tmp_path / "defaults.md").read_text() == text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "configuration" not in line]
    assert [r.split(" | ")[0][2:] for r in rows] == [name for name, _ in nn_defaults.CONFIGS]
    assert [r["configuration"] for r in _rows(tmp_path / "defaults.csv")] == [n for n, _ in nn_defaults.CONFIGS]
    assert "`python -m qiml.studies.nn_defaults --smoke`" in text


def test_nn_defaults_resumes_after_a_kill(tmp_path):
    """Killed mid-run (SIGKILL), the study keeps the records it had; the rerun runs only the rest, and a
    third run runs nothing."""
    n_jobs = len(nn_defaults.TASKS) * len(nn_defaults.CONFIGS)
    log = tmp_path / "runs.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "qiml.studies.nn_defaults", "--smoke", "--workers", "1",
                             "--out", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not log.exists() or len(log.read_bytes().splitlines()) < 3):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = log.read_bytes()
    kept = load_runs(log)
    assert 3 <= len(kept) < n_jobs, "the kill came too late to test a resume"
    nn_defaults.main(["--smoke", "--workers", "1", "--out", str(tmp_path)])
    after = log.read_bytes()
    assert after.startswith(before)                       # nothing rewritten, only appended
    done = load_runs(log)
    assert len(done) == n_jobs and all(done[k] == rec for k, rec in kept.items())
    lines = [json.loads(x) for x in after.splitlines() if x.strip().endswith(b"}")]
    assert len(lines) == n_jobs                            # no finished run was redone
    nn_defaults.main(["--smoke", "--workers", "1", "--out", str(tmp_path)])
    assert log.read_bytes() == after                       # the third run ran nothing


# -- the one Adam baseline -----------------------------------------------------------------------------------
def test_adam_baseline_budgets_validation_and_start():
    pytest.importorskip("torch")
    from qiml.nn import MLP
    from qiml.studies.baselines import adam

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = np.tanh(X @ np.array([1.0, -0.5, 0.3]))
    net = MLP((3, 4, 1), "tanh")
    a = adam(net, X, y, lr=1e-2, batch=64, seed=1, epochs=3)
    b = adam(net, X, y, lr=1e-2, batch=64, seed=1, epochs=3)
    assert np.array_equal(a.theta, b.theta) and a.epochs == 3.0 and a.steps == 3 * 5 and a.stopped == "epochs"
    assert a.val is None and a.theta.shape == (net.n_params,)
    # validation: the best-scored weights are returned; patience stops early
    scores = []

    def score(out):
        scores.append(float(np.mean((out[:, 0] - y[:100]) ** 2)))
        return scores[-1]

    v = adam(net, X, y, lr=3.0, batch=64, seed=1, epochs=40, validation=(X[:100], score), patience=2)
    assert v.val == min(s for s in scores if np.isfinite(s)) and v.stopped in ("patience", "diverged")
    assert np.mean((net.forward(X[:100], v.theta)[:, 0] - y[:100]) ** 2) == pytest.approx(v.val, rel=1e-9)
    # a start: x0's weights are the network's before the first step (zero epochs is no training)
    x0 = net.init(rng)
    t = adam(net, X, y, lr=1e-2, seed=0, epochs=0, x0=x0)
    assert np.array_equal(t.theta, x0) and t.steps == 0
    # a wall-clock budget and a cosine decay
    s = adam(net, X, y, lr=1e-2, seconds=0.2, decay=True)
    assert s.stopped == "seconds" and s.seconds >= 0.2 and s.steps > 0
    with pytest.raises(ValueError, match="budget"):
        adam(net, X, y)
