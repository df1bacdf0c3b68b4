"""Smoke run of the optimizer comparison script (tiny budgets): it runs every method and writes its outputs."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_compare_optimizers_smoke(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))   # importable by name in the worker processes
    mod = importlib.import_module("compare_optimizers")
    rc = mod.main(["--smoke", "--functions", "rastrigin", "schwefel", "--workers", "2", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    cells = summary["cells"]
    assert {c["method"] for c in cells} == set(mod.METHODS)
    assert len(cells) == 2 * 2 * len(mod.METHODS)             # 2 functions x {aligned, rotated} x methods
    assert all(c["mean_nfev"] <= 2 * 100 for c in cells)       # nobody exceeds the 100 x D budget
    for name in ("results.csv", "summary.md", "success.png", "convergence.png"):
        assert (tmp_path / name).stat().st_size > 0
    # a rerun finds every run in the cache
    assert mod.main(["--smoke", "--functions", "rastrigin", "schwefel", "--workers", "2", "--out", str(tmp_path),
                     "--no-plots"]) == 0
