"""Smoke runs of the solver comparison and the parallel speed-up scripts (tiny budgets): every solver runs
inside the engine and every table and plot is written."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_solvers_benchmark_smoke(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))   # importable by name in the worker processes
    mod = importlib.import_module("solvers")
    summary = mod.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    for name in ("summary.md", "summary.json", "solvers.png", "runs.jsonl"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "summary.json").read_text())["meta"]["smoke"] is True
    solvers = set(mod.SOLVERS)
    assert {r["solver"] for r in summary["functions"]} == solvers
    for r in summary["functions"]:
        assert all(0.0 <= v <= 1.0 for v in r["in_basin"]) and r["median_seconds"] > 0
    assert {(r["task"], r["solver"]) for r in summary["nets"]} == {(t, s) for t in mod.NETS for s in solvers}
    assert all(r["test"] >= 0 and r["sweeps"] > 0 for r in summary["nets"])
    assert {r["solver"] for r in summary["memory"]} == solvers
    assert all(len(r["peak_mib"]) == 3 and min(r["peak_mib"]) > 0 for r in summary["memory"])
    # a rerun reads every run from the cache
    n_runs = len((tmp_path / "runs.jsonl").read_text().splitlines())
    mod.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == n_runs


def test_parallel_speedup_smoke(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    mod = importlib.import_module("parallel_speedup")
    out = mod.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    assert [r["case"] for r in out["rows"]] == ["simulator", "signed-particles"]
    assert all(r["same_result"] and r["serial_s"] > 0 and r["parallel_s"] > 0 for r in out["rows"])
    assert (tmp_path / "parallel_speedup.md").stat().st_size > 0
