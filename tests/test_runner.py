"""The studies' shared plumbing: the resumable job runner, run metadata, output folders and atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from qiml.errors import ConfigError
from qiml.files import atomic_write, atomic_write_text, cache_dir
from qiml.studies.folders import SmokeIntoResultsError, output_folder, results_dir, scratch_dir
from qiml.studies.meta import environment_line, run_metadata
from qiml.studies.runner import JobRunner, job_key, load_runs


def square(job: dict) -> dict:
    return {"y": job["x"] ** 2, "pid": os.getpid()}


def scaled(job: dict, factor: int) -> dict:
    return {"y": factor * job["x"]}


def slow_square(job: dict) -> dict:
    time.sleep(0.2)
    return {"y": job["x"] ** 2}


def not_a_dict(job: dict) -> list:
    return [job["x"]]


JOBS = [{"x": i} for i in range(6)]


def test_records_come_back_in_job_order_with_their_keys(tmp_path):
    with JobRunner(tmp_path / "runs.jsonl", progress=False) as runner:
        recs = runner.run(JOBS, square)
    assert [r["y"] for r in recs] == [i * i for i in range(6)]
    assert [r["key"] for r in recs] == [job_key(j) for j in JOBS]
    assert all(r["pid"] == os.getpid() for r in recs)          # workers=1 runs in this process
    assert sorted(load_runs(tmp_path / "runs.jsonl")) == sorted(job_key(j) for j in JOBS)


def test_a_pool_gives_the_same_records_as_one_process(tmp_path):
    with JobRunner(tmp_path / "a.jsonl", progress=False) as one:
        serial = one.run(JOBS, partial(scaled, factor=3), cost=lambda j: j["x"])
    with JobRunner(tmp_path / "b.jsonl", workers=2, progress=False) as pool:
        parallel = pool.run(JOBS, partial(scaled, factor=3), cost=lambda j: j["x"])
    assert serial == parallel


def test_finished_jobs_are_not_rerun_and_duplicates_run_once(tmp_path):
    path = tmp_path / "runs.jsonl"
    with JobRunner(path, progress=False) as runner:
        runner.run(JOBS[:3], square)
    seen: list[dict] = []
    with JobRunner(path, progress=False) as runner:
        assert runner.pending([*JOBS, JOBS[4]]) == JOBS[3:]
        recs = runner.run([*JOBS, JOBS[4]], square, on_done=seen.append)
    assert [r["key"] for r in seen] == [job_key(j) for j in JOBS[3:]]
    assert len(recs) == 7 and len(path.read_text().splitlines()) == 6


def test_the_costliest_jobs_run_first(tmp_path):
    seen: list[int] = []
    with JobRunner(tmp_path / "runs.jsonl", progress=False) as runner:
        runner.run(JOBS, square, cost=lambda j: j["x"], on_done=lambda r: seen.append(r["y"]))
    assert seen == [25, 16, 9, 4, 1, 0]


def test_a_line_cut_short_is_redone_and_does_not_swallow_the_next(tmp_path):
    path = tmp_path / "runs.jsonl"
    with JobRunner(path, progress=False) as runner:
        runner.run(JOBS[:2], square)
    path.write_text(path.read_text() + '{"y": 4, "key": "trunc')          # a kill mid-write
    with JobRunner(path, progress=False) as runner:
        recs = runner.run(JOBS[:3], square)
    assert [r["y"] for r in recs] == [0, 1, 4]
    assert sorted(load_runs(path)) == sorted(job_key(j) for j in JOBS[:3])


def test_a_job_function_must_return_a_record(tmp_path):
    with JobRunner(tmp_path / "runs.jsonl", progress=False) as runner, pytest.raises(TypeError, match="dict record"):
        runner.run(JOBS[:1], not_a_dict)


def test_a_killed_study_resumes_where_it_stopped(tmp_path):
    """SIGKILL a two-worker study midway; the rerun runs only what had not finished, with the same records."""
    path = tmp_path / "runs.jsonl"
    script = ("import sys; from tests.test_runner import slow_square; from qiml.studies.runner import JobRunner\n"
              "with JobRunner(sys.argv[1], workers=2, progress=False) as r:\n"
              "    r.run([{'x': i} for i in range(40)], slow_square)\n")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=root, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    deadline = time.monotonic() + 60
    while (not path.exists() or len(path.read_text().splitlines()) < 4) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = load_runs(path)
    assert 4 <= len(done) < 40
    with JobRunner(path, progress=False) as runner:
        todo = runner.pending([{"x": i} for i in range(40)])
        recs = runner.run([{"x": i} for i in range(40)], square)
    assert len(todo) == 40 - len(done)
    assert [r["y"] for r in recs] == [i * i for i in range(40)]
    assert all(done[k] == runner.done[k] for k in done)        # finished records are read back, not redone


def test_job_keys_name_every_field():
    assert job_key({"b": 1, "a": [2, 3]}) == job_key({"a": [2, 3], "b": 1}) != job_key({"a": [2, 3], "b": 2})


def test_run_metadata_records_command_machine_versions_and_git():
    meta = run_metadata(["qiml", "bench", "bbob", "--dim", "5"], seeds=[0, 1])
    assert meta["command"] == "qiml bench bbob --dim 5" and meta["seeds"] == [0, 1]
    assert meta["machine"]["cpu_count"] >= 1 and meta["versions"]["qiml"] and "commit" in meta["git"]
    assert meta["date"][:4].isdigit()
    line = environment_line(meta)
    assert line.startswith("Run ") and "Python" in line and "numpy" in line
    json.dumps(meta)                                            # JSON-able as it stands
    module = run_metadata([str(Path("src/qiml/studies/tunnelling.py").resolve()), "--smoke"])
    assert module["command"] == "python -m qiml.studies.tunnelling --smoke"


def test_output_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("QIML_SCRATCH", str(tmp_path / "scratch"))
    assert results_dir("tunnelling") == Path("docs/results/tunnelling")
    assert output_folder("tunnelling", None, smoke=False) == Path("docs/results/tunnelling")
    scratch = tmp_path / "scratch" / "tunnelling"
    assert output_folder("tunnelling", None, smoke=True) == scratch_dir("tunnelling") == scratch
    full = tmp_path / "full"
    full.mkdir()
    (full / "meta.json").write_text(json.dumps({"mode": "full"}))
    assert output_folder("x", full, smoke=False) == full
    with pytest.raises(SmokeIntoResultsError, match="refusing a smoke run") as err:
        output_folder("x", full, smoke=True)
    assert isinstance(err.value, ConfigError)
    (full / "meta.json").write_text(json.dumps({"mode": "smoke"}))
    assert output_folder("x", full, smoke=True) == full        # a smoke folder may be reused


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "sub" / "table.md"
    atomic_write_text(target, "old")
    assert target.read_text() == "old" and oct(target.stat().st_mode & 0o777) == "0o644"

    def fail(fh):
        fh.write(b"half")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["table.md"]       # no temporary file left behind


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("QIML_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path and cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("QIML_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "qiml"
