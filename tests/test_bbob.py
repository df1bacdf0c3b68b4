"""The COCO/BBOB comparison: exact target hits, ECDF/ERT arithmetic, resumable runs, the CLI smoke run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from qiml.cli import app
from qiml.studies import bbob


class Quadratic:
    """Stands in for a cocoex problem: f(x) = sum(x^2) + 3, so f_opt = 3."""

    def __call__(self, x):
        return float(np.sum(np.asarray(x) ** 2) + 3.0)


def test_hits_record_the_first_evaluation_reaching_each_target():
    h = bbob._Hits(Quadratic(), 3.0)
    # gaps 100, 50, 0.5 (batch 1), then 1e-3, 1e-9 (batch 2)
    h(np.array([[10.0], [np.sqrt(50)], [np.sqrt(0.5)]]))
    h(np.array([[np.sqrt(1e-3)], [np.sqrt(1e-9)]]))
    e = bbob.TARGET_EXPONENTS
    expected = np.where(e >= 2, 1, np.where(e >= np.log10(50), 2, np.where(e >= np.log10(0.5), 3,
                        np.where(e >= -3, 4, 5))))
    assert np.array_equal(h.hit, expected) and h.n == 5
    assert h.best == pytest.approx(3.0 + 1e-9)


def test_hits_leave_unreached_targets_open():
    h = bbob._Hits(Quadratic(), 3.0)
    h(np.array([[1.0], [2.0]]))           # best gap 1: targets below 1 stay open
    assert np.all(h.hit[bbob.TARGET_EXPONENTS < 0] == -1) and np.all(h.hit[bbob.TARGET_EXPONENTS >= 0] == 1)


def test_a_run_solves_the_named_instance_and_stops_at_the_final_target(tmp_path):
    # instance 12 is COCO's instance 12 (not the 12th of the suite's default list, 1-5 and 71-80)
    rec = bbob.run_job(bbob.Job("qiml", function=1, dim=2, instance=12, budget=2000), tmp_path)
    assert 0.0 <= rec["best_gap"] <= 1e-8 and min(rec["hit"]) > 0
    assert rec["nfev"] < 2000 * 2          # stopped at f_opt + 1e-8, as COCO's experiments do
    (info,) = (tmp_path / "exdata").rglob("*.info")
    assert ", 12:" in info.read_text()     # COCO's log names instance 12


def test_parse_range():
    assert bbob.parse_range("1-3,7") == [1, 2, 3, 7] and bbob.parse_range("5") == [5]


def _record(method, function, dim, hits, nfev):
    return {"method": method, "function": function, "dim": dim, "hit": hits, "nfev": nfev}


def test_ecdf_and_ert_arithmetic():
    n = bbob.TARGET_EXPONENTS.size
    solved_all = _record("a", 1, 2, [2] * n, 100)            # every target at evaluation 2 (1 x D)
    solved_none = _record("b", 1, 2, [-1] * n, 100)
    assert bbob.ecdf_area([solved_all], 50) == pytest.approx(1.0, abs=0.01)
    assert bbob.ecdf_area([solved_none], 50) == 0.0
    assert np.isnan(bbob.ecdf_area([], 50))
    grid, y = bbob.ecdf([solved_all, solved_none], 50)
    assert y[-1] == pytest.approx(0.5) and np.all(np.diff(y) >= 0)
    half = _record("a", 1, 2, [10] * n, 100)
    assert bbob.ert([half, solved_none], -5) == pytest.approx((10 + 100) / 1)
    assert bbob.ert([solved_none], -5) == float("inf")
    s = bbob.summarise([solved_all, half], 50)
    assert s["dims"] == [2] and s["areas"][0]["separable"] > 0 and np.isnan(s["areas"][0]["multimodal, weak structure"])


def test_cli_smoke_run_writes_everything_and_resumes(tmp_path):
    out = tmp_path / "bbob"
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "bbob", "--smoke", "--out", str(out), "--workers", "2",
                              "--method", "qiml", "--method", "cma_ipop", "--method", "ng_pso"])
    assert res.exit_code == 0, res.output
    for name in ("summary.md", "summary.csv", "ert.csv", "summary.json", "ecdf_02D.png", "cocopp/index.html",
                 "cocopp_ecdf/pprldmany_02D_noiselessall.svg"):
        assert (out / name).stat().st_size > 0, name
    runs = (out / "runs.jsonl").read_text().splitlines()
    assert len(runs) == 3 * 2          # 3 methods x f1, f15 x instance 1
    for rec in map(json.loads, runs):
        assert rec["nfev"] <= 50 * 2 and len(rec["hit"]) == 51
    assert {p.name for p in (out / "exdata").iterdir()} == {"qiml", "cma_ipop", "ng_pso"}
    summary = json.loads((out / "summary.json").read_text())
    assert {a["method"] for a in summary["areas"]} == {"qiml", "cma_ipop", "ng_pso"}
    # a rerun finds every run done
    res = runner.invoke(app, ["bench", "bbob", "--smoke", "--out", str(out), "--no-cocopp",
                              "--method", "qiml", "--method", "cma_ipop", "--method", "ng_pso"])
    assert res.exit_code == 0, res.output
    assert len((out / "runs.jsonl").read_text().splitlines()) == 6
    # --report-only runs nothing, even for methods or instances not run yet
    (out / "summary.md").unlink()
    res = runner.invoke(app, ["bench", "bbob", "--report-only", "--out", str(out), "--no-cocopp", "--budget", "50"])
    assert res.exit_code == 0, res.output
    assert len((out / "runs.jsonl").read_text().splitlines()) == 6 and (out / "summary.md").exists()
    assert "--report-only" in json.loads((out / "summary.json").read_text())["meta"]["command"]
    res = runner.invoke(app, ["bench", "bbob", "--report-only", "--out", str(out), "--no-cocopp"])
    assert res.exit_code == 2 and "no finished runs at budget 10000" in res.output


def test_cli_rejects_unknown_methods_and_bad_ranges(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "bbob", "--smoke", "--out", str(tmp_path), "--method", "adam"])
    assert res.exit_code == 2 and "unknown method" in res.output
    res = runner.invoke(app, ["bench", "bbob", "--functions", "0-30", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "1-24" in res.output


def test_cli_smoke_honours_the_options_it_is_given(tmp_path):
    out = tmp_path / "bbob"
    res = CliRunner().invoke(app, ["bench", "bbob", "--smoke", "--out", str(out), "--workers", "1", "--no-cocopp",
                                   "--dim", "3", "--functions", "2", "--method", "random"])
    assert res.exit_code == 0, res.output
    (rec,) = map(json.loads, (out / "runs.jsonl").read_text().splitlines())
    assert (rec["dim"], rec["function"], rec["instance"], rec["budget"]) == (3, 2, 1, 50)


def test_cli_smoke_without_out_writes_the_scratch_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("QIML_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["bench", "bbob", "--smoke", "--workers", "1", "--no-cocopp", "--functions", "1",
                                   "--method", "random"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "scratch" / "bbob" / "summary.md").is_file() and not (tmp_path / "docs").exists()
