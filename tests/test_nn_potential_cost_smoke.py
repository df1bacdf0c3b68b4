"""Smoke run of the network potential-cost study (``qiml.studies.nn_potential_cost --smoke``): it writes the
outputs the registry lists, and the incremental potentials agree with the generic fallback's."""

from __future__ import annotations

import csv

from qiml.studies import nn_potential_cost
from qiml.studies.registry import EXPERIMENTS


def test_nn_potential_cost_smoke(tmp_path):
    rows = nn_potential_cost.main(["--smoke", "--out", str(tmp_path)])
    for name in EXPERIMENTS[nn_potential_cost.NAME].outputs:
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "potential_cost.csv").open() as fh:
        saved = list(csv.DictReader(fh))
    assert [r["network"] for r in saved] == [r["network"] for r in rows]
    assert {r["network"] for r in saved} == {"15-6-1", "64-32-10", "196-12-8-10"}
    assert {r["mode"] for r in saved} >= {"full batch"} and any(r["mode"].startswith("mini-batch") for r in saved)
    for r in saved:
        # losses are O(1): an absolute tolerance; the relative difference is checked too
        assert float(r["max_abs_diff"]) < 1e-9, r
        assert float(r["max_rel_diff"]) < 1e-9, r
        assert float(r["t_inc_s"]) > 0 and float(r["t_fwd_s"]) > 0
        assert int(r["ratio_naive_definition"]) == int(r["P"])
    md = (tmp_path / "potential_cost.md").read_text()
    assert md.startswith("# Cost of one full potential update of a network (NX = 16)")
    assert "numpy" in md and "| network |" in md and md.count("| 15-6-1 |") == 3     # full batch, B = 32, 64
    assert "Command: `python -m qiml.studies.nn_potential_cost --smoke`." in md           # --out is not shown
