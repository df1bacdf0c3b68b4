"""Bad options fail cleanly: every ``qiml`` command and every study's ``python -m qiml.studies.<module>`` answers a
wrong type, a zero or negative count, an unknown choice, a bad range, a budget too small for one run or an output
folder that cannot be made or written with exit status 2 and a message naming the option, never a traceback."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qiml.cli import app
from qiml.errors import ConfigError
from qiml.studies import args as study_args

runner = CliRunner()
LINUX = sys.platform.startswith("linux") and Path("/proc/self").is_dir()
needs_proc = pytest.mark.skipif(not LINUX, reason="uses /proc, which refuses new folders and files")


def _text(result) -> str:
    """stdout and stderr together, whatever the Click version keeps in ``output``."""
    try:
        err = result.stderr
    except ValueError:          # older Click: stderr mixed into output
        err = ""
    return result.output + (err if err not in result.output else "")


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Placeholders of the command lines: {out} a fresh folder, {file} a file, {full} a folder holding a full
    run's meta.json, {o2} a results root whose demo/ is a file; the current directory and the scratch root are
    temporary too, so nothing under docs/results is touched."""
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "meta.json").write_text(json.dumps({"mode": "full"}))
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "demo").write_text("x")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("QIML_SCRATCH", str(tmp_path / "scratch"))
    # a study's resolve() pins BLAS to one thread for the process; not for the test process
    monkeypatch.setattr(study_args, "limit_threads", lambda: None)
    return {"out": str(tmp_path / "out"), "file": str(tmp_path / "file"), "full": str(tmp_path / "full"),
            "o2": str(tmp_path / "o2")}


def _fill(argv: list[str], places: dict[str, str]) -> list[str]:
    return [a.format(**places) for a in argv]


_OUT = ["--smoke", "--out", "{out}"]

# (command line, a fragment the message must hold)
CLI_CASES: list[tuple[list[str], str]] = [
    # demo
    (["demo", "--smoke", "--out", "{file}"], "exists and is not a folder"),
    (["demo", "--smoke", "--out", "{file}/sub"], "cannot create the folder"),
    (["demo", "--smoke", "--out", "{full}"], "refusing a smoke run"),
    (["demo", *_OUT, "--seeds", "0"], "--seeds"),
    (["demo", *_OUT, "--seeds", "abc"], "--seeds"),
    (["demo", *_OUT, "--budget-per-dim", "50"], "--budget-per-dim"),
    (["demo", *_OUT, "--dim", "1"], "--dim"),
    (["demo", *_OUT, "--bogus"], "No such option"),
    (["demo", "--smoke", "extra"], "unexpected extra argument"),
    # bench bbob
    (["bench", "bbob", "--smoke", "--out", "{file}"], "exists and is not a folder"),
    (["bench", "bbob", "--smoke", "--out", "{file}/sub"], "cannot create the folder"),
    (["bench", "bbob", *_OUT, "--dim", "4"], "--dim"),
    (["bench", "bbob", *_OUT, "--dim", "abc"], "--dim"),
    (["bench", "bbob", *_OUT, "--functions", "30"], "--functions"),
    (["bench", "bbob", *_OUT, "--functions", "a-b"], "--functions"),
    (["bench", "bbob", *_OUT, "--functions", "5-1"], "--functions"),
    (["bench", "bbob", *_OUT, "--instances", "0"], "--instances"),
    (["bench", "bbob", *_OUT, "--instances", "-3"], "--instances"),
    (["bench", "bbob", *_OUT, "--budget", "0"], "--budget"),
    (["bench", "bbob", *_OUT, "--budget", "1"], "--budget"),
    (["bench", "bbob", *_OUT, "--method", "nope"], "--method"),
    (["bench", "bbob", *_OUT, "--workers", "-1"], "--workers"),
    (["bench", "bbob", *_OUT, "--report-only"], "no finished runs"),
    (["bench", "nope"], "No such command"),
    # telecom tilt
    (["telecom", "tilt", "--smoke", "--out", "{file}"], "exists and is not a folder"),
    (["telecom", "tilt", "--smoke", "--out", "{file}/sub"], "cannot create the folder"),
    (["telecom", "tilt", *_OUT, "--n-samples", "10"], "--n-samples"),
    (["telecom", "tilt", *_OUT, "--seeds", "0"], "--seeds"),
    (["telecom", "tilt", *_OUT, "--hidden", "0"], "--hidden"),
    (["telecom", "tilt", *_OUT, "--qiml-hidden", "-1"], "--qiml-hidden"),
    (["telecom", "tilt", *_OUT, "--qiml-sweeps", "0"], "--qiml-sweeps"),
    (["telecom", "tilt", *_OUT, "--target-rmse", "-1"], "--target-rmse"),
    (["telecom", "tilt", *_OUT, "--target-rmse", "inf"], "--target-rmse"),
    (["telecom", "tilt", *_OUT, "--workers", "-1"], "--workers"),
    (["telecom", "nope"], "No such command"),
    # reproduce
    (["reproduce", "nope"], "unknown study 'nope'"),
    (["reproduce"], "name a study"),
    (["reproduce", "demo", "--list"], "not both"),
    (["reproduce", "demo", "--smoke", "--out", "{file}"], "not a folder"),
    (["reproduce", "demo", "--smoke", "--out", "{file}/sub"], "cannot create the folder"),
    (["reproduce", "demo", "--smoke", "--out", "{o2}"], "not a folder"),
    (["reproduce", "--list", "--out", "{file}"], "not a folder"),
    # the app itself
    (["nope"], "No such command"),
    (["--bogus"], "No such option"),
    (["version", "--bogus"], "No such option"),
]
PROC_CLI_CASES: list[tuple[list[str], str]] = [
    (["demo", "--smoke", "--out", "/proc/nope"], "--out /proc/nope: cannot create the folder: [Errno"),
    (["demo", "--smoke", "--out", "/proc"], "--out /proc: cannot write in the folder"),
    (["bench", "bbob", "--smoke", "--out", "/proc/nope"], "--out /proc/nope: cannot create the folder"),
    (["telecom", "tilt", "--smoke", "--out", "/proc/nope"], "--out /proc/nope: cannot create the folder"),
    (["reproduce", "demo", "--smoke", "--out", "/proc/nope"], "--out /proc/nope: cannot create the folder"),
    (["reproduce", "all", "--smoke", "--out", "/proc/nope"], "--out /proc/nope: cannot create the folder"),
]


def _check_cli(argv: list[str], fragment: str, places: dict[str, str]) -> None:
    result = runner.invoke(app, _fill(argv, places))
    text = _text(result)
    assert result.exit_code == 2, text
    assert fragment in text, text
    assert "Traceback" not in text


@pytest.mark.parametrize(("argv", "fragment"), CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_cli_bad_option(argv, fragment, places):
    _check_cli(argv, fragment, places)


@needs_proc
@pytest.mark.parametrize(("argv", "fragment"), PROC_CLI_CASES, ids=[" ".join(a) for a, _ in PROC_CLI_CASES])
def test_cli_unwritable_out(argv, fragment, places):
    _check_cli(argv, fragment, places)


# every study module with a command line
MODULES = ["bbob_levers", "demo", "engine_overhead", "initial_spread", "nn_budget", "nn_defaults", "nn_levers",
           "nn_potential_cost", "nn_tasks", "optimizers", "parallel_speedup", "solvers", "tunnelling",
           "update_schemes"]
WITH_WORKERS = [m for m in MODULES if m not in ("demo", "engine_overhead", "nn_potential_cost")]

STUDY_CASES: list[tuple[str, list[str], str]] = [
    *[(m, ["--smoke", "--out", "{file}"], "exists and is not a folder") for m in MODULES],
    *[(m, ["--smoke", "--out", "{file}/sub"], "cannot create the folder") for m in MODULES],
    *[(m, [*_OUT, "--workers", "0"], "argument --workers: must be an integer >= 1") for m in WITH_WORKERS],
    ("demo", ["--smoke", "--out", "{full}"], "refusing a smoke run"),
    ("solvers", [*_OUT, "--workers", "abc"], "argument --workers: expected an integer"),
    ("bbob_levers", [*_OUT, "--dim", "4"], "argument --dim: invalid choice: 4"),
    ("bbob_levers", [*_OUT, "--dim", "0"], "argument --dim"),
    ("bbob_levers", [*_OUT, "--functions", "30"], "argument --functions: must be an integer in 1..24"),
    ("bbob_levers", [*_OUT, "--functions", "0"], "argument --functions"),
    ("bbob_levers", [*_OUT, "--instances", "0"], "argument --instances"),
    ("bbob_levers", [*_OUT, "--budget", "0"], "argument --budget"),
    ("bbob_levers", [*_OUT, "--budget", "1"], "argument --budget: 1 gives 5 evaluations per run"),
    ("bbob_levers", [*_OUT, "--variants", "nope"], "argument --variants: invalid choice"),
    ("demo", [*_OUT, "--seeds", "0"], "argument --seeds"),
    ("demo", [*_OUT, "--dim", "1"], "argument --dim: must be an integer >= 2"),
    ("demo", [*_OUT, "--budget-per-dim", "1"], "argument --budget-per-dim"),
    ("engine_overhead", [*_OUT, "--dim", "0"], "argument --dim"),
    ("engine_overhead", [*_OUT, "--nx", "1"], "argument --nx: must be an integer in 3.."),
    ("engine_overhead", [*_OUT, "--evals", "0"], "argument --evals"),
    ("engine_overhead", [*_OUT, "--evals", "160"], "argument --evals: 160 gives 160 evaluations"),
    ("engine_overhead", [*_OUT, "--repeats", "0"], "argument --repeats"),
    ("engine_overhead", [*_OUT, "--repeats", "x"], "argument --repeats: expected an integer"),
    ("initial_spread", [*_OUT, "--starts", "0"], "argument --starts"),
    ("initial_spread", [*_OUT, "--methods", "nope"], "argument --methods: invalid choice"),
    ("initial_spread", [*_OUT, "--problems", "nope"], "argument --problems: invalid choice"),
    ("initial_spread", [*_OUT, "--budget", "-1"], "argument --budget: must be a finite number > 0"),
    ("nn_budget", [*_OUT, "--seeds", "0"], "argument --seeds"),
    ("nn_defaults", [*_OUT, "--seeds", "0"], "argument --seeds"),
    ("nn_defaults", [*_OUT, "--budget", "0"], "argument --budget"),
    ("nn_defaults", [*_OUT, "--budget", "nan"], "argument --budget: must be a finite number > 0, got nan"),
    ("nn_levers", [*_OUT, "--seeds", "-1"], "argument --seeds"),
    ("nn_levers", [*_OUT, "--budget", "-1"], "argument --budget"),
    ("nn_potential_cost", [*_OUT, "--nx", "1"], "argument --nx"),
    ("nn_potential_cost", [*_OUT, "--repeats", "0"], "argument --repeats"),
    ("nn_potential_cost", [*_OUT, "--fwd-repeats", "0"], "argument --fwd-repeats"),
    ("nn_potential_cost", [*_OUT, "--batches", "0"], "argument --batches"),
    ("nn_potential_cost", [*_OUT, "--naive-slices", "0"], "argument --naive-slices"),
    ("nn_potential_cost", [*_OUT, "--deep-full-n", "-1"], "argument --deep-full-n: must be an integer >= 0"),
    ("nn_potential_cost", [*_OUT, "--blas-threads", "-1"], "argument --blas-threads"),
    ("nn_potential_cost", [*_OUT, "--seed", "-1"], "argument --seed"),
    ("nn_tasks", [*_OUT, "--seeds", "0"], "argument --seeds"),
    ("nn_tasks", [*_OUT, "--budget", "0"], "argument --budget"),
    ("nn_tasks", [*_OUT, "--mnist-budget", "-1"], "argument --mnist-budget"),
    ("nn_tasks", [*_OUT, "--ladder-max", "0"], "argument --ladder-max: must be an integer >= 2"),
    ("nn_tasks", [*_OUT, "--ladder-seeds", "0"], "argument --ladder-seeds"),
    ("optimizers", [*_OUT, "--dims", "0"], "argument --dims"),
    ("optimizers", [*_OUT, "--seeds", "0"], "argument --seeds"),
    ("optimizers", [*_OUT, "--budget-per-dim", "0"], "argument --budget-per-dim"),
    ("optimizers", [*_OUT, "--budget-per-dim", "1"], "argument --budget-per-dim: 1 gives 2 evaluations per run"),
    ("optimizers", [*_OUT, "--functions", "nope"], "argument --functions: invalid choice"),
    ("optimizers", [*_OUT, "--methods", "nope"], "argument --methods: invalid choice"),
    ("parallel_speedup", [*_OUT, "--repeats", "0"], "argument --repeats"),
    ("parallel_speedup", [*_OUT, "--simulator-evals", "0"], "argument --simulator-evals"),
    ("parallel_speedup", [*_OUT, "--particle-evals", "64"], "argument --particle-evals: must be an integer >= 65"),
    ("solvers", [*_OUT, "--solvers", "nope"], "argument --solvers: invalid choice"),
    ("solvers", [*_OUT, "--seeds", "0"], "argument --seeds"),
    ("solvers", [*_OUT, "--budget-per-dim", "0"], "argument --budget-per-dim"),
    ("solvers", [*_OUT, "--budget-per-dim", "10"], "argument --budget-per-dim: 10 gives 20 evaluations per run"),
    ("solvers", [*_OUT, "--net-budget", "-1"], "argument --net-budget"),
    ("solvers", [*_OUT, "--long-iters", "0"], "argument --long-iters"),
    ("solvers", [*_OUT, "--dims", "0"], "argument --dims"),
    ("solvers", [*_OUT, "--functions", "nope"], "argument --functions: invalid choice"),
    ("tunnelling", [*_OUT, "--seeds", "0"], "argument --seeds"),
    ("tunnelling", [*_OUT, "--dims", "0"], "argument --dims"),
    ("tunnelling", [*_OUT, "--methods", "nope"], "argument --methods: invalid choice"),
    ("tunnelling", [*_OUT, "--heights", "-1"], "argument --heights"),
    ("tunnelling", [*_OUT, "--heights", "nan"], "argument --heights"),
    ("tunnelling", [*_OUT, "--widths", "0"], "argument --widths"),
    ("tunnelling", [*_OUT, "--widths", "0.9"], "width must be in"),
    ("tunnelling", [*_OUT, "--budget-per-dim", "0"], "argument --budget-per-dim"),
    ("tunnelling", [*_OUT, "--budget-per-dim", "1", "--dims", "1"], "argument --budget-per-dim: 1 gives 1"),
    ("tunnelling", [*_OUT, "--local-starts", "0"], "argument --local-starts"),
    ("update_schemes", [*_OUT, "--dim", "0"], "argument --dim"),
    ("update_schemes", [*_OUT, "--seeds", "0"], "argument --seeds"),
    ("update_schemes", [*_OUT, "--budget-per-dim", "0"], "argument --budget-per-dim"),
    ("update_schemes", [*_OUT, "--configs", "nx 128", "--budget-per-dim", "64"], "a run needs at least 129"),
    ("update_schemes", [*_OUT, "--configs"], "argument --configs: expected at least one argument"),
    ("update_schemes", [*_OUT, "--configs", "nope"], "argument --configs: invalid choice"),
    ("update_schemes", [*_OUT, "--base", "nope"], "argument --base: invalid choice"),
]


def _check_study(module: str, argv: list[str], fragment: str, places: dict[str, str], capsys) -> None:
    main = importlib.import_module(f"qiml.studies.{module}").main
    with pytest.raises(SystemExit) as exit_info:
        main(_fill(argv, places))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert f"python -m qiml.studies.{module}: error: " in err
    assert fragment in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(("module", "argv", "fragment"), STUDY_CASES,
                         ids=[f"{m} {' '.join(a)}" for m, a, _ in STUDY_CASES])
def test_study_bad_option(module, argv, fragment, places, capsys):
    _check_study(module, argv, fragment, places, capsys)


@needs_proc
@pytest.mark.parametrize("module", MODULES)
def test_study_out_cannot_be_created(module, places, capsys):
    _check_study(module, ["--smoke", "--out", "/proc/nope"],
                 "--out /proc/nope: cannot create the folder: [Errno", places, capsys)


@needs_proc
def test_study_out_cannot_be_written(places, capsys):
    _check_study("demo", ["--smoke", "--out", "/proc"], "--out /proc: cannot write in the folder", places, capsys)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused(tmp_path, places, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _check_study("demo", ["--smoke", "--out", str(ro)], "cannot write in the folder", places, capsys)
        _check_study("demo", ["--smoke", "--out", str(ro / "sub")], "cannot create the folder", places, capsys)
        _check_cli(["demo", "--smoke", "--out", str(ro / "sub")], "cannot create the folder", places)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(("argv", "fragment"), [
    (["qiml.studies.tunnelling", *_OUT, "--seeds", "0"], "argument --seeds: must be an integer >= 1, got 0"),
    (["qiml.studies.demo", "--smoke", "--out", "{file}/sub"], "--out {file}/sub: cannot create the folder"),
    (["qiml", "demo", "--smoke", "--out", "{file}/sub"], "Error: --out {file}/sub: cannot create the folder"),
])
def test_as_a_user_runs_it(argv, fragment, places):
    """The real entry points (``python -m``), in a fresh interpreter: exit status 2, one clear line, no traceback."""
    proc = subprocess.run([sys.executable, "-m", *_fill(argv, places)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert fragment.format(**places) in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_an_error_inside_a_running_study_keeps_its_traceback(places, monkeypatch):
    """Only bad options become one-line errors: a library error raised while a study runs is a bug to see."""
    from qiml.studies import demo

    def broken(*args, **kwargs):
        raise ConfigError("a bug inside the study")

    monkeypatch.setattr(demo, "run_demo", broken)
    with pytest.raises(ConfigError, match="a bug inside the study"):
        demo.main(["--smoke", "--out", places["out"]])
    result = runner.invoke(app, ["demo", "--smoke", "--out", places["out"]])
    assert result.exit_code == 1 and isinstance(result.exception, ConfigError)


def test_int_in_and_positive_float():
    assert study_args.int_in(1)("3") == 3 and study_args.int_in(0, 2)("0") == 0
    assert study_args.positive_float("0.5") == 0.5
    for parse, text in ((study_args.int_in(1), "0"), (study_args.int_in(1, 24), "25"), (study_args.int_in(1), "1.5"),
                        (study_args.positive_float, "0"), (study_args.positive_float, "inf"),
                        (study_args.positive_float, "x")):
        with pytest.raises(Exception, match="expected|must be"):
            parse(text)
