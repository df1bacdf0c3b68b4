"""Smoke run of the tiny-network experiment script: tiny budgets, one seed, every table and plot written."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("nn_experiments", ROOT / "benchmarks" / "nn_experiments.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["nn_experiments"] = mod      # dataclasses and worker processes look the module up by name
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_writes_every_table_and_plot(script, tmp_path):
    summary = script.main(["--quick", "--out", str(tmp_path), "--workers", "2"])
    for name in ("summary.md", "summary.json", "tasks.png", "neurons_to_target.png", "runs.jsonl"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "summary.json").read_text())["quick"] is True
    assert [r["task"] for r in summary["tasks"]] == ["teacher", "spirals", "parity8", "digits"]
    for r in summary["tasks"]:
        for k in ("qiml", "qiml_int8", "adam", "adam_ptq8"):
            assert r[k] >= 0 and (r["metric"] == "mse" or r[k] <= 1), (r["task"], k, r[k])
    assert {r["task"] for r in summary["neurons"]} == {"teacher", "spirals6"}
    assert 0 <= summary["step"]["qiml"] <= 1 and 0 <= summary["step"]["cma"] <= 1
    # a second call reads every run from the cache instead of training again
    n_runs = len((tmp_path / "runs.jsonl").read_text().splitlines())
    script.main(["--quick", "--out", str(tmp_path), "--workers", "2"])
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == n_runs


def test_defaults_table_smoke(script, tmp_path):
    spec = importlib.util.spec_from_file_location("nn_defaults", ROOT / "benchmarks" / "nn_defaults.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["nn_defaults"] = mod
    spec.loader.exec_module(mod)
    text = mod.main(["--seeds", "1", "--budget", "0.2", "--out", str(tmp_path / "defaults.md"), "--workers", "2"])
    rows = [line for line in text.splitlines() if line.startswith("| ") and "configuration" not in line]
    assert len(rows) == len(mod.CONFIGS)
    assert (tmp_path / "defaults.md").read_text() == text
