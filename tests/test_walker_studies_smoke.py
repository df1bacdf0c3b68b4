"""Smoke runs of the studies of issue 14 (tunnelling against thermal escape, spread over starting points):
they run every method, write their tables and plots, and a rerun finds every run in its cache."""

from __future__ import annotations

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_tunnelling_smoke(tmp_path):
    from qiml.studies import tunnelling

    assert tunnelling.main(["--smoke", "--workers", "2", "--out", str(tmp_path)]) == 0
    for name in ("tunnelling.md", "tunnelling.csv", "tunnelling.png", "runs.jsonl"):
        assert (tmp_path / name).stat().st_size > 0
    rows = _rows(tmp_path / "tunnelling.csv")
    assert {r["method"] for r in rows} == set(tunnelling.METHODS)
    assert {(r["dim"], r["method"]) for r in rows if r["method"] == "cma_ipop"} == {("3", "cma_ipop")}   # not in 1-D
    for r in rows:
        assert 0.0 <= float(r["success"]) <= 1.0 and int(r["n"]) == 2, r       # 2 seeds per cell
    report = (tmp_path / "tunnelling.md").read_text()
    assert report.startswith("# Tunnelling") and "`python -m qiml.studies.tunnelling --smoke" in report
    assert "**Reading.**" in report
    n = len((tmp_path / "runs.jsonl").read_text().splitlines())
    assert n == sum(int(r["n"]) for r in rows)
    assert tunnelling.main(["--smoke", "--workers", "2", "--out", str(tmp_path)]) == 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == n      # all cached


def test_initial_spread_smoke(tmp_path):
    from qiml.studies import initial_spread
    from qiml.studies.registry import EXPERIMENTS

    out = initial_spread.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    for name in EXPERIMENTS[initial_spread.NAME].outputs:
        assert (tmp_path / name).stat().st_size > 0, name
    rows = _rows(tmp_path / "spread.csv")
    assert {r["problem"] for r in rows} == {"teacher", "spirals", "f15", "f21"}
    # every method on every problem it runs on (Adam only on the networks), 3 starts each
    assert {(r["problem"], r["method"]) for r in rows} == {
        (p, m) for p, prob in initial_spread.PROBLEMS.items() for m in initial_spread.METHODS
        if prob.kind == "net" or m != "adam"}
    assert all(r["starts"] == "3" for r in rows)
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert all(r["final"] >= 0 for r in runs if "final" in r)
    assert {s["schedule"] for p, s in out["settings"].items() if initial_spread.PROBLEMS[p].kind == "net"} <= {
        "constant", "cosine"}
    report = (tmp_path / "spread.md").read_text()
    assert "`python -m qiml.studies.initial_spread --smoke --starts 3" in report
    assert "## bbob f21 Gallagher 101 peaks" in report and "| IPOP-CMA-ES |" in report


def test_initial_spread_smoke_keeps_given_options(tmp_path):
    """``--smoke`` gives way to the options given: 4 starts, not its own 3 (one cheap problem and method)."""
    from qiml.studies import initial_spread

    assert initial_spread.SMOKE["starts"] == 3
    out = initial_spread.main(["--smoke", "--starts", "4", "--problems", "f15", "--methods", "qiml",
                               "--workers", "2", "--out", str(tmp_path)])
    assert [(r["problem"], r["method"], r["starts"]) for r in out["rows"]] == [("f15", "qiml", 4)]
    assert [r["starts"] for r in _rows(tmp_path / "spread.csv")] == ["4"]
    assert "`python -m qiml.studies.initial_spread --smoke --starts 4 --problems f15`" in (
        tmp_path / "spread.md").read_text()
