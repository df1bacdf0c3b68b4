"""Smoke runs of the solver comparison and the parallel speed-up studies (tiny budgets): every solver runs
inside the engine and every table and plot is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from qiml.studies import parallel_speedup, solvers


def test_solvers_benchmark_smoke(tmp_path):
    summary = solvers.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    for name in ("summary.md", "summary.json", "summary.csv", "per_function.csv", "nets.csv", "memory.csv",
                 "solvers.png", "runs.jsonl"):
        assert (tmp_path / name).stat().st_size > 0, name
    meta = json.loads((tmp_path / "summary.json").read_text())["meta"]
    assert meta["smoke"] is True and meta["command"].startswith("python -m qiml.studies.solvers --smoke")
    assert meta["versions"]["numpy"] and meta["git"].keys() == {"commit", "dirty"}
    names = set(solvers.SOLVERS)
    assert {r["solver"] for r in summary["functions"]} == names
    for r in summary["functions"]:
        assert all(0.0 <= v <= 1.0 for v in r["in_basin"]) and r["median_seconds"] > 0
    assert {(r["task"], r["solver"]) for r in summary["nets"]} == {(t, s) for t in solvers.NETS for s in names}
    assert all(r["test"] >= 0 and r["sweeps"] > 0 for r in summary["nets"])
    assert {r["solver"] for r in summary["memory"]} == names
    assert all(len(r["peak_mib"]) == 3 and min(r["peak_mib"]) > 0 for r in summary["memory"])
    with (tmp_path / "summary.csv").open() as fh:
        assert {r["solver"] for r in csv.DictReader(fh)} == names
    assert "Run " in (tmp_path / "summary.md").read_text()           # the environment line
    # a rerun reads every run from the cache
    n_runs = len((tmp_path / "runs.jsonl").read_text().splitlines())
    solvers.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == n_runs


def test_committed_solver_runs_keep_their_keys():
    """The committed runs are named as JobRunner names the same jobs: a rerun resumes them."""
    from qiml.studies.runner import JobRunner, job_key

    path = Path(__file__).resolve().parents[1] / "docs" / "results" / "solvers" / "runs.jsonl"
    assert path.is_file(), "the solvers study's runs are committed"
    fields = {"function": ("kind", "solver", "function", "dim", "seed", "budget"),
              "net": ("kind", "solver", "task", "seed", "budget"), "memory": ("kind", "solver", "iters")}
    runner = JobRunner(path, progress=False)
    jobs = [{k: r[k] for k in fields[r["kind"]]} for r in runner.done.values()]
    assert jobs and all(job_key(j) in runner.done for j in jobs) and runner.pending(jobs) == []


def test_parallel_speedup_smoke(tmp_path):
    out = parallel_speedup.main(["--smoke", "--workers", "2", "--out", str(tmp_path)])
    assert [r["case"] for r in out["rows"]] == ["simulator", "signed-particles"]
    assert all(r["same_result"] and r["serial_s"] > 0 and r["parallel_s"] > 0 for r in out["rows"])
    for name in ("parallel_speedup.md", "parallel_speedup.json", "parallel_speedup.csv", "parallel_speedup.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "parallel_speedup.json").read_text())
    assert saved["meta"]["command"].startswith("python -m qiml.studies.parallel_speedup")
    assert "| simulator |" in (tmp_path / "parallel_speedup.md").read_text()


def test_solvers_smoke_keeps_the_options_given(tmp_path):
    """``--smoke`` fills only the options not given: explicit solvers, seeds, dimensions and budgets are kept."""
    summary = solvers.main(["--smoke", "--solvers", "fd", "--seeds", "2", "--dims", "3", "--functions", "rastrigin",
                            "--net-budget", "0.1", "--long-iters", "5", "--workers", "2",
                            "--out", str(tmp_path / "solvers")])
    assert [(r["solver"], r["dim"], r["runs"]) for r in summary["functions"]] == [("fd", 3, 2)]
    assert [r["function"] for r in summary["per_function"]] == ["rastrigin"]
    assert {r["runs"] for r in summary["nets"]} == {2} and [r["iters"] for r in summary["memory"]] == [5]
    assert summary["meta"]["budget_per_dim"] == solvers.SMOKE["budget_per_dim"]   # not given: the smoke value


def test_parallel_speedup_smoke_keeps_the_options_given(tmp_path, monkeypatch):
    """The timed runs are faked (a signed-particle run takes seconds): what is checked is what they are given."""
    calls = []

    def run_case(case, workers, evals):
        calls.append((case, workers, evals))
        return 1.0, SimpleNamespace(x=np.zeros(2), fun=0.0)

    monkeypatch.setattr(parallel_speedup, "run_case", run_case)
    out = parallel_speedup.main(["--smoke", "--repeats", "2", "--simulator-evals", "100", "--workers", "2",
                                 "--out", str(tmp_path)])
    assert out["meta"]["repeats"] == 2 and [r["evals"] for r in out["rows"]] == [100, 16 * 64 + 1]
    assert calls.count(("simulator", 1, 100)) == 2 and calls.count(("simulator", 2, 100)) == 3   # + the warm-up
    assert len(calls) == 2 * (1 + 2 * 2)
