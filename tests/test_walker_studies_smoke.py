"""Smoke runs of the studies of issue 14 (tunnelling against thermal escape, spread over starting points):
they run every method, write their tables and plots, and a rerun finds every run in its cache."""

from __future__ import annotations

import csv
import importlib
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


def test_initial_spread_smoke(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    mod = importlib.import_module("initial_spread")
    mod.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    for name in ("spread.md", "spread.csv", "spread.png"):
        assert (tmp_path / name).stat().st_size > 0
    rows = _rows(tmp_path / "spread.csv")
    assert {r["problem"] for r in rows} == {"teacher", "spirals", "f15", "f21"}
    assert {r["method"] for r in rows} >= {"qiml", "qiml_ensemble", "adam", "cma_ipop"}
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert all(r["final"] >= 0 for r in runs if "final" in r)
