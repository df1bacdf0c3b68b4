"""`qiml telecom tilt`: the Adam tuning waves, the target arithmetic and the CLI smoke run."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from qiml.cli import app
from qiml.studies import telecom_tilt as tilt

CFG = tilt.TiltConfig(hidden=(2, 4, 8), qiml_hidden=(2, 4), seeds=(0, 1, 2), adam_lrs=(1e-3, 1e-2),
                      adam_batches=(256,), qiml_batches=(4096,), qiml_sweeps=(10,), margin=0.05)


def _adam(h, lr, seed, val, test):
    job = {"method": "adam", "hidden": h, "seed": seed, "settings": {"lr": lr, "batch": 256}}
    return {**job, "key": tilt.job_key(job), "val_rmse": val, "test_rmse": test, "test_rmse_int8": test + 0.1,
            "seconds": 1.0}


def _qiml(m, h, seed, test):
    job = {"method": m, "hidden": h, "seed": seed, "settings": {"batch": 4096, "sweeps": 10}}
    return {**job, "key": tilt.job_key(job), "val_rmse": test, "test_rmse": test, "seconds": 2.0}


def test_other_seeds_wait_for_their_tuning_grid_and_use_the_best_validation_setting():
    jobs = tilt.jobs_for(CFG, {})
    assert {j["seed"] for j in jobs} == {0}                              # tuning only
    assert len([j for j in jobs if j["method"] == "adam"]) == 3 * 2
    assert len([j for j in jobs if j["method"] == "qiml_int8"]) == 2 * 1
    done = {r["key"]: r for r in (_adam(4, 1e-3, 0, 2.0, 2.0), _adam(4, 1e-2, 0, 1.5, 3.0))}
    assert tilt.best_settings(CFG, done, "adam", 4) == {"lr": 1e-2, "batch": 256}   # validation decides, not test
    seeds = [j for j in tilt.jobs_for(CFG, done) if j["seed"] > 0]
    assert [(j["method"], j["hidden"], j["seed"], j["settings"]["lr"]) for j in seeds] == [
        ("adam", 4, 1, 1e-2), ("adam", 4, 2, 1e-2)]
    assert tilt.best_settings(CFG, done, "adam", 2) is None
    assert len({j["key"] for j in tilt.jobs_for(CFG, done)}) == len(tilt.jobs_for(CFG, done))


def test_target_and_smallest_sizes_from_medians():
    recs = []
    for h, test in ((2, 3.0), (4, 1.2), (8, 1.0)):
        for lr in CFG.adam_lrs:
            recs.append(_adam(h, lr, 0, test + (lr > 5e-3), test))
        recs += [_adam(h, 1e-3, s, test, test) for s in (1, 2)]
    for h, test in ((2, 1.04), (4, 0.99)):
        recs += [_qiml("qiml", h, s, test + 0.01 * s) for s in CFG.seeds]
        recs += [_qiml("qiml_int8", h, s, test + 0.5) for s in CFG.seeds]
    s = tilt.summarise(CFG, recs, linear_rmse=2.0)
    assert s["best_float_rmse"] == pytest.approx(1.0)                 # QiML h=4: median 1.0
    assert s["target_rmse"] == pytest.approx(1.05)
    assert s["smallest_hidden"] == {"adam": 8, "adam_int8": None, "qiml": 2, "qiml_int8": None}
    assert s["ratio_adam_to_qiml"]["float"] == pytest.approx(4.0) and s["ratio_adam_to_qiml"]["int8"] is None
    # Adam needs h=8 to match QiML's float RMSE at h=2; its PTQ int8 needs h=4 to match QiML int8
    assert s["adam_hidden_matching_qiml"] == {"float": {"2": 8, "4": 8},
                                              "int8": {"2": 4, "4": 4}}
    fixed = tilt.summarise(dataclasses.replace(CFG, target_rmse=1.25), recs)
    assert fixed["smallest_hidden"]["adam"] == 4 and fixed["smallest_hidden"]["adam_int8"] == 8


def test_cli_smoke_run_writes_the_report_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("QIML_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "tilt"
    runner = CliRunner()
    res = runner.invoke(app, ["telecom", "tilt", "--smoke", "--out", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    for name in ("summary.md", "summary.csv", "summary.json", "rmse_vs_hidden.png"):
        assert (out / name).stat().st_size > 0, name
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["key"] for r in runs) == sorted(j["key"] for j in tilt.jobs_for(tilt.TiltConfig.smoke(), {}))
    for r in runs:
        assert 0 < r["test_rmse"] < 20
        if r["method"] == "adam":
            assert 1 <= r["epochs"] <= 3 and r["test_rmse_int8"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["linear_rmse"] > 0 and set(summary["smallest_hidden"]) == set(tilt.CURVES)
    assert "Smallest hidden layer" in (out / "summary.md").read_text()
    res = runner.invoke(app, ["telecom", "tilt", "--smoke", "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert len((out / "runs.jsonl").read_text().splitlines()) == len(runs)   # nothing rerun


def test_load_split_rejects_too_few_samples(monkeypatch, tmp_path):
    monkeypatch.setenv("QIML_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="too few"):
        tilt.load_split(tilt.TiltConfig(n_samples=100))
