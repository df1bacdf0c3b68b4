"""Smoke runs of the optimizer comparison (every method; outputs derived from the records of ``runs.jsonl``; a
rerun finds every run there), the update schemes, the engine overhead and the bbob levers (tiny budgets)."""

from __future__ import annotations

import csv
import json

import pytest

import qiml
from qiml.studies import optimizers


def test_compare_optimizers_smoke(tmp_path, monkeypatch):
    # the engine's source hash names qiml's runs: pinned, so an edit elsewhere during the test does not redo them
    monkeypatch.setattr(optimizers, "qiml_fingerprint", lambda: "test")
    argv = ["--smoke", "--functions", "rastrigin", "schwefel", "--workers", "2", "--out", str(tmp_path)]
    assert optimizers.main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    cells = summary["cells"]
    assert {c["method"] for c in cells} == set(optimizers.METHODS)
    assert len(cells) == 2 * 2 * len(optimizers.METHODS)           # 2 functions x {aligned, rotated} x methods
    assert all(c["mean_nfev"] <= 2 * 100 for c in cells)            # nobody exceeds the 100 x D budget
    assert summary["meta"]["command"].startswith("python -m qiml.studies.optimizers --smoke")
    assert summary["meta"]["versions"]["qiml"] and summary["meta"]["machine"]["cpu_count"]
    for name in ("results.csv", "traces.jsonl", "summary.md", "success.png", "convergence.png", "runs.jsonl"):
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(cells) and set(rows[0]) == set(optimizers.COLUMNS)
    traces = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == len(rows) and all(len(t["evals"]) == len(t["best"]) > 0 for t in traces)
    assert "python -m qiml.studies.optimizers" in (tmp_path / "summary.md").read_text()
    # a rerun finds every run in runs.jsonl
    n = len((tmp_path / "runs.jsonl").read_text().splitlines())
    assert optimizers.main([*argv, "--no-plots"]) == 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == n


def test_implementations_name_the_source():
    impl = optimizers.implementations()
    assert set(impl) == set(optimizers.METHODS)
    assert impl["qiml"].startswith(qiml.__version__ + "+") and impl["random"].startswith("numpy-")


def test_legacy_results_are_read_into_runs(tmp_path):
    """A folder from before runs.jsonl (results.csv + traces.jsonl) resumes from its rows."""
    argv = ["--smoke", "--functions", "rastrigin", "--methods", "random", "--workers", "1", "--no-plots"]
    assert optimizers.main([*argv, "--out", str(tmp_path)]) == 0
    (tmp_path / "runs.jsonl").unlink()
    assert optimizers.import_legacy(tmp_path) == 2                  # aligned and rotated
    n = len((tmp_path / "runs.jsonl").read_text().splitlines())
    assert optimizers.main([*argv, "--out", str(tmp_path)]) == 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == n


def test_update_schemes_smoke(tmp_path):
    from qiml.studies import update_schemes

    update_schemes.main(["--smoke", "--workers", "1", "--out", str(tmp_path)])
    with (tmp_path / "update_schemes.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["config"] for r in rows} == {"default", "nx 32"}
    assert len(rows) == 2 * len(update_schemes.BASE) * 2            # configs x functions x {aligned, rotated}
    assert all(int(r["nfev"]) <= 2 * 50 for r in rows)
    table = (tmp_path / "update_schemes.md").read_text()
    assert "| nx 32 | `{'nx': 32}` |" in table and "python -m qiml.studies.update_schemes" in table
    assert (tmp_path / "update_schemes.png").stat().st_size > 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == len(rows)


def test_engine_overhead_smoke(tmp_path):
    from qiml.studies import engine_overhead

    engine_overhead.main(["--smoke", "--evals", "500", "--out", str(tmp_path)])
    with (tmp_path / "engine_overhead.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert "random search: total" in {r["what"] for r in rows} and all(float(r["median_us_per_eval"]) > 0 for r in rows)
    assert {(r["dim"], r["nx"], r["evals"]) for r in rows} == {("10", "16", "500")}
    assert "P = 10, NX = 16" in (tmp_path / "engine_overhead.md").read_text()
    assert (tmp_path / "engine_overhead.png").stat().st_size > 0


def test_bbob_levers_smoke_and_old_records(tmp_path):
    pytest.importorskip("cocoex")
    from qiml.studies import bbob_levers

    argv = ["--smoke", "--functions", "1", "--instances", "1", "--workers", "1", "--out", str(tmp_path)]
    assert bbob_levers.main(argv) == 0
    with (tmp_path / "levers.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["variant"] for r in rows] == list(bbob_levers.VARIANTS)[:2] and all(r["runs"] == "1" for r in rows)
    assert (tmp_path / "levers.png").stat().st_size > 0
    # records written before JobRunner have no key: they are given theirs and not rerun
    path = tmp_path / "runs.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "key"}) + "\n" for r in recs))
    assert bbob_levers.add_keys(path) == len(recs)
    assert bbob_levers.main(argv) == 0
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == [r["key"] for r in recs]


def test_smoke_runs_keep_the_options_given(tmp_path):
    """``--smoke`` fills only the options not given: explicit seeds, dimensions and configurations are kept
    (the engine overhead's ``--smoke --evals 500`` above is the same check for that study)."""
    from qiml.studies import update_schemes

    argv = ["--smoke", "--functions", "rastrigin", "--methods", "random", "--seeds", "2", "--dims", "3",
            "--workers", "1", "--no-plots", "--out", str(tmp_path / "optimizers")]
    assert optimizers.main(argv) == 0
    with (tmp_path / "optimizers" / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["seed"], r["rotated"]) for r in rows) == [(s, rot) for s in "01" for rot in ("False", "True")]
    assert {(r["dim"], r["budget"]) for r in rows} == {("3", "300")}              # the smoke budget, 100 x D

    update_schemes.main(["--smoke", "--seeds", "2", "--configs", "default", "--workers", "1",
                         "--out", str(tmp_path / "schemes")])
    with (tmp_path / "schemes" / "update_schemes.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(update_schemes.BASE) * 2 * 2                          # functions x rotations x 2 seeds
    assert {(r["config"], r["dim"]) for r in rows} == {("default", "2")} and {r["seed"] for r in rows} == {"0", "1"}


def test_bbob_levers_smoke_keeps_the_variants_given(tmp_path):
    pytest.importorskip("cocoex")
    from qiml.studies import bbob_levers

    third = list(bbob_levers.VARIANTS)[2]
    argv = ["--smoke", "--variants", third, "--budget", "50", "--functions", "1", "--instances", "1",
            "--workers", "1", "--out", str(tmp_path)]
    assert bbob_levers.main(argv) == 0
    with (tmp_path / "levers.csv").open() as fh:
        assert [r["variant"] for r in csv.DictReader(fh)] == [third]
    recs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [(r["variant"], r["budget"]) for r in recs] == [(third, 50)]
