"""`qiml reproduce`: the experiment registry is complete, the CLI lists and validates, and the smoke mode of
every experiment runs and leaves its tables (Markdown and CSV), a plot and meta.json."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qiml.cli import app
from qiml.studies import experiments as X

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _text(result) -> str:
    """stdout and stderr together, whatever the Click version keeps in ``output``."""
    try:
        err = result.stderr
    except ValueError:          # older Click: stderr mixed into output
        err = ""
    return result.output + (err if err not in result.output else "")


def _scripts() -> set[str]:
    """Every runnable benchmark script: helpers (leading underscore, or no __main__ guard) excluded."""
    return {f"benchmarks/{p.name}" for p in (ROOT / "benchmarks").glob("*.py")
            if not p.name.startswith("_") and '__name__ == "__main__"' in p.read_text()}


def test_registry_covers_every_benchmark_script_once():
    used = [e.script for e in X.EXPERIMENTS.values() if e.script]
    assert len(used) == len(set(used)), "a script appears in two experiments"
    assert set(used) == _scripts()
    assert "bbob" not in X.EXPERIMENTS                    # owned by `qiml bench bbob`
    for name, e in X.EXPERIMENTS.items():
        assert name == e.name and re.fullmatch(r"[a-z0-9-]+", name)
        assert e.claim and e.seeds and e.smoke_seeds and e.outputs
        assert (e.script is None) == bool(e.cli)
        # every experiment leaves a Markdown and a CSV table and a plot
        assert {Path(o).suffix for o in e.outputs} >= {".md", ".csv", ".png"}, name
    assert "MNIST" in X.EXPERIMENTS["nn-tasks"].claim and "./dev data" in X.EXPERIMENTS["nn-tasks"].claim


def test_argv_runs_from_the_checkout_with_this_interpreter(tmp_path):
    e = X.EXPERIMENTS["nn-defaults"]
    argv = e.argv(tmp_path / "nn-defaults", smoke=True, root=ROOT)
    assert argv[:2] == [sys.executable, "benchmarks/nn_defaults.py"]
    assert argv[-2:] == ["--out", str(tmp_path / "nn-defaults" / "defaults.md")]      # this script's --out is a file
    full = X.EXPERIMENTS["solvers"].argv(ROOT / "docs" / "results" / "solvers", smoke=False, root=ROOT)
    assert full[-2:] == ["--out", "docs/results/solvers"] and "--smoke" not in full
    assert X.EXPERIMENTS["demo"].argv(tmp_path, smoke=False, root=ROOT)[1:4] == ["-m", "qiml", "demo"]


def test_list_shows_every_experiment(tmp_path):
    result = runner.invoke(app, ["reproduce", "--list", "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, _text(result)
    for name in X.EXPERIMENTS:
        assert name in result.output
    assert "benchmarks/compare_optimizers.py" in result.output and "qiml demo" in result.output


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


def test_no_source_checkout_is_a_clear_error(tmp_path):
    with pytest.raises(X.ReproduceError, match="source checkout"):
        X.source_root([tmp_path])


def test_a_failing_script_fails_the_command_with_its_code(tmp_path, monkeypatch):
    script = tmp_path / "boom.py"
    script.write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    monkeypatch.setitem(X.EXPERIMENTS, "boom", X.Experiment("boom", "fails", str(script), (), (), (0,), (0,),
                                                             ("x.md",)))
    result = runner.invoke(app, ["reproduce", "boom", "--smoke", "--out", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert "'boom' failed" in _text(result) and "about to fail" in result.output
    meta = json.loads((tmp_path / "out" / "boom" / "meta.json").read_text())
    assert meta["returncode"] == 3 and meta["mode"] == "smoke"


@pytest.fixture(scope="module")
def smoke_all(tmp_path_factory):
    """One `qiml reproduce all --smoke` run into a temporary folder (about a minute on 2 cores)."""
    out = tmp_path_factory.mktemp("results")
    result = runner.invoke(app, ["reproduce", "all", "--smoke", "--out", str(out)])
    return out, result


def test_all_smoke_succeeds(smoke_all):
    _, result = smoke_all
    assert result.exit_code == 0, _text(result)[-4000:]


@pytest.mark.parametrize("name", list(X.EXPERIMENTS))
def test_each_smoke_leaves_tables_plot_and_meta(smoke_all, name):
    out, _ = smoke_all
    folder = out / name
    for kind in ("md", "csv", "png"):
        files = [p for p in folder.glob(f"*.{kind}") if p.stat().st_size > 0]
        assert files, f"{name}: no .{kind}"
    for f in X.EXPERIMENTS[name].outputs:
        assert (folder / f).stat().st_size > 0, f
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["experiment"] == name and meta["mode"] == "smoke" and meta["returncode"] == 0
    assert meta["command"].startswith("python ") and meta["argv"][0] == sys.executable
    assert meta["seeds"] == list(X.EXPERIMENTS[name].smoke_seeds) and meta["duration_s"] > 0
    assert {"qiml", "numpy", "scipy", "cma", "torch", "scikit-learn", "matplotlib"} <= set(meta["versions"])
    assert meta["machine"]["cpu_count"] >= 1 and meta["machine"]["python"]
    assert (folder / "log.txt").read_text().startswith("$ ")
