"""Smoke run of the network potential-cost benchmark (--quick): it writes its outputs, and the incremental
potentials agree with the generic fallback's."""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_nn_potential_cost_smoke(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    mod = importlib.import_module("nn_potential_cost")
    assert mod.main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("potential_cost.md", "potential_cost.csv", "potential_cost.png"):
        assert (tmp_path / name).stat().st_size > 0
    with (tmp_path / "potential_cost.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["network"] for r in rows} == {"15-6-1", "64-32-10", "196-12-8-10"}
    assert {r["mode"] for r in rows} >= {"full batch"} and any(r["mode"].startswith("mini-batch") for r in rows)
    for r in rows:
        # losses are O(1): an absolute tolerance; the relative difference is checked too
        assert float(r["max_abs_diff"]) < 1e-9, r
        assert float(r["max_rel_diff"]) < 1e-9, r
        assert float(r["t_inc_s"]) > 0 and float(r["t_fwd_s"]) > 0
        assert int(r["ratio_naive_definition"]) == int(r["P"])
    md = (tmp_path / "potential_cost.md").read_text()
    assert "NumPy" in md and "| network |" in md
