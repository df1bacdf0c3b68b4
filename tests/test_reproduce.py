"""`qiml reproduce`: the experiment registry is complete, the CLI lists and validates, and the smoke mode of
every experiment runs and leaves its tables (Markdown and CSV), a plot and meta.json."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qiml.cli import app
from qiml.studies import registry as X

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _text(result) -> str:
    """stdout and stderr together, whatever the Click version keeps in ``output``."""
    try:
        err = result.stderr
    except ValueError:          # older Click: stderr mixed into output
        err = ""
    return result.output + (err if err not in result.output else "")


def _study_modules() -> set[str]:
    """Every runnable study module of qiml.studies (those with a __main__ guard)."""
    folder = Path(X.__file__).parent
    return {p.stem for p in folder.glob("*.py") if '__name__ == "__main__"' in p.read_text()}


def test_registry_covers_every_study_module_once():
    used = [e.command[1].removeprefix("qiml.studies.") for e in X.EXPERIMENTS.values()
            if e.command[:1] == ("-m",) and e.command[1].startswith("qiml.studies.")]
    assert len(used) == len(set(used)), "a module appears in two studies"
    # a study run through a CLI command (demo, bbob, telecom tilt) may also have a module of its own name
    by_cli = {e.name.replace("-", "_") for e in X.EXPERIMENTS.values() if e.command[:2] == ("-m", "qiml")}
    assert set(used) <= _study_modules() <= set(used) | by_cli
    for name, e in X.EXPERIMENTS.items():
        assert name == e.name and re.fullmatch(r"[a-z0-9-]+", name)
        assert e.claim and e.seeds and e.smoke_seeds and e.outputs and e.full_runs
        assert "--smoke" in e.smoke_args, f"{name}: a smoke run without --smoke would write docs/results"
        # every study leaves a Markdown table and a plot or a machine-readable table
        assert ".md" in {Path(o).suffix for o in e.outputs}, name
        assert {Path(o).suffix for o in e.outputs} & {".csv", ".png", ".json", ".jsonl"}, name
    assert "MNIST" in X.EXPERIMENTS["nn-tasks"].claim and "./dev data" in X.EXPERIMENTS["nn-tasks"].needs
    assert {"bbob", "telecom-tilt", "demo"} <= set(X.EXPERIMENTS)


@pytest.mark.parametrize("name", sorted(X.EXPERIMENTS))
def test_each_study_module_names_its_registry_entry(name):
    e = X.EXPERIMENTS[name]
    if e.command[1].startswith("qiml.studies."):
        module = importlib.import_module(e.command[1])
        assert module.NAME == name and callable(module.main)


def test_argvs_use_this_interpreter_and_name_the_folder(tmp_path):
    e = X.EXPERIMENTS["nn-defaults"]
    (argv,) = e.argvs(tmp_path / "nn-defaults", smoke=True)
    assert argv[:3] == [sys.executable, "-m", "qiml.studies.nn_defaults"]
    assert argv[-2:] == ["--out", str(tmp_path / "nn-defaults")]
    (full,) = X.EXPERIMENTS["solvers"].argvs(Path("docs/results/solvers"), smoke=False)
    assert full[-2:] == ["--out", "docs/results/solvers"] and "--smoke" not in full
    assert X.EXPERIMENTS["demo"].argvs(tmp_path, smoke=False)[0][1:4] == ["-m", "qiml", "demo"]
    assert len(X.EXPERIMENTS["bbob"].argvs(tmp_path, smoke=False)) > 1      # the full bbob run is several commands
    assert "--out" not in X.EXPERIMENTS["tunnelling"].argvs(None, smoke=True)[0]


def test_list_shows_every_study_with_its_results():
    result = runner.invoke(app, ["reproduce", "--list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, _text(result)
    for name in X.EXPERIMENTS:
        assert name in result.output
    assert "python -m qiml.studies.optimizers" in result.output and "qiml demo" in result.output
    assert "qiml bench bbob" in result.output and "qiml telecom tilt" in result.output


@pytest.mark.parametrize("name", sorted(X.EXPERIMENTS))
def test_every_study_has_committed_full_results_with_meta(name):
    folder = ROOT / "docs" / "results" / name
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["mode"] == "full" and meta["returncode"] == 0 and meta["experiment"] == name
    assert X.folder_status(folder, X.EXPERIMENTS[name]).startswith("full")
    assert any((folder / o).is_file() for o in X.EXPERIMENTS[name].outputs if o.endswith(".md"))


def test_unknown_name_exits_2_with_the_valid_names():
    result = runner.invoke(app, ["reproduce", "no-such-experiment"])
    assert result.exit_code == 2
    assert "no-such-experiment" in _text(result)
    for name in [*X.EXPERIMENTS, "all"]:
        assert name in _text(result)


@pytest.mark.parametrize("args", [[], ["solvers", "--list"], ["solvers", "--bogus"], ["solvers", "--smoke", "extra"]])
def test_bad_options_fail_clearly(args):
    result = runner.invoke(app, ["reproduce", *args])
    assert result.exit_code == 2, _text(result)
    assert "Error" in _text(result) or "Usage" in _text(result)


def test_out_must_be_a_folder(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    result = runner.invoke(app, ["reproduce", "demo", "--smoke", "--out", str(f)])
    assert result.exit_code == 2 and "not a folder" in _text(result)


def test_a_failing_study_fails_the_command_with_its_code(tmp_path, monkeypatch):
    script = tmp_path / "boom.py"
    script.write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    monkeypatch.setitem(X.EXPERIMENTS, "boom", X.Experiment("boom", "fails", (str(script),), ((),), (), (0,), (0,),
                                                             ("x.md",)))
    result = runner.invoke(app, ["reproduce", "boom", "--smoke", "--out", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert "'boom' failed" in _text(result) and "about to fail" in result.output
    meta = json.loads((tmp_path / "out" / "boom" / "meta.json").read_text())
    assert meta["returncode"] == 3 and meta["mode"] == "smoke"


def _digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def smoke_all(tmp_path_factory):
    """`qiml reproduce all --smoke` with no --out, run in a copy of the committed results (a few minutes on
    2 cores): each command writes its own default smoke folder, under a private scratch root."""
    work = tmp_path_factory.mktemp("checkout")
    shutil.copytree(ROOT / "docs" / "results", work / "docs" / "results")
    before = _digest(work / "docs" / "results")
    scratch = work / "scratch"
    mp = pytest.MonkeyPatch()
    mp.chdir(work)
    mp.setenv("QIML_SCRATCH", str(scratch))
    try:
        result = runner.invoke(app, ["reproduce", "all", "--smoke"])
    finally:
        mp.undo()
    return work, scratch, before, result


def test_all_smoke_succeeds(smoke_all):
    *_, result = smoke_all
    assert result.exit_code == 0, _text(result)[-4000:]


def test_smoke_runs_leave_the_committed_results_unchanged(smoke_all):
    work, scratch, before, _ = smoke_all
    assert _digest(work / "docs" / "results") == before
    assert sorted(p.name for p in scratch.iterdir()) == sorted(X.EXPERIMENTS)


@pytest.mark.parametrize("args", [["reproduce", "tunnelling", "--smoke", "--out", "docs/results"],
                                  ["bench", "bbob", "--smoke", "--out", "docs/results/bbob"],
                                  ["telecom", "tilt", "--smoke", "--out", "docs/results/telecom-tilt"],
                                  ["demo", "--smoke", "--out", "docs/results/demo"]])
def test_a_smoke_run_into_committed_results_is_refused(args, monkeypatch):
    monkeypatch.chdir(ROOT)
    before = _digest(ROOT / "docs" / "results" / "demo")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, _text(result)
    assert "refusing a smoke run" in _text(result)
    assert _digest(ROOT / "docs" / "results" / "demo") == before


@pytest.mark.parametrize("name", list(X.EXPERIMENTS))
def test_each_smoke_leaves_its_outputs_and_meta(smoke_all, name):
    _, scratch, _, _ = smoke_all
    folder = scratch / name
    for f in X.EXPERIMENTS[name].outputs:
        assert (folder / f).stat().st_size > 0, f
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["experiment"] == name and meta["mode"] == "smoke" and meta["returncode"] == 0
    assert meta["command"].startswith("python -m ") and meta["commands"]
    assert meta["seeds"] == list(X.EXPERIMENTS[name].smoke_seeds) and meta["duration_s"] > 0
    assert {"qiml", "numpy", "scipy", "cma", "torch", "scikit-learn", "matplotlib"} <= set(meta["versions"])
    assert meta["machine"]["cpu_count"] >= 1 and meta["machine"]["python"]
    assert (folder / "log.txt").read_text().startswith("$ ")


def test_the_deploy_smoke_checks_every_device(smoke_all):
    """deploy-6502's smoke (trained in seconds) still builds and checks C, sim65, py65 and the Atari 800."""
    from qiml.deploy import load_model

    folder = smoke_all[1] / "deploy-6502"
    text = (folder / "summary.md").read_text()
    assert "| the 6502 (sim65, py65, Atari 800) and C predictions identical to the integer reference | yes |" in text
    assert "| program + weights under 15 KB, RAM under 35 KB | yes |" in text
    assert load_model(folder / "models" / "qiml-196-12-8-10-s0.npz").scales is not None
    assert (folder / "build" / "qiml" / "atari" / "qiml.xex").is_file()
