"""The ``qiml`` command line (Typer + Rich)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._version import __version__

if TYPE_CHECKING:
    from .deploy import IntegerNetwork

app = typer.Typer(help="qiml: quantum-inspired, gradient-free optimisation and machine learning.",
                  no_args_is_help=True, add_completion=False)
console = Console()


def _print_version(value: bool) -> None:
    if value:
        console.print(f"qiml {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                                 help="Print the qiml version and exit.")] = False) -> None:
    """qiml command line."""


@app.command()
def version() -> None:
    """Print the qiml version."""
    console.print(f"qiml {__version__}")


@app.command()
def demo(out: Path | None = typer.Option(None, show_default=False, help="Directory for tables and plots; default "
                                         "docs/results/demo, or a scratch folder with --smoke."),
         seeds: int | None = typer.Option(None, min=1, show_default=False,
                                          help="Seeds per method and problem (medians are reported); default 5."),
         budget_per_dim: int | None = typer.Option(None, min=100, show_default=False,
                                                   help="Evaluation budget per dimension; default 2000."),
         dim: int | None = typer.Option(None, min=2, show_default=False,
                                        help="Dimension of the multimodal benchmarks; default 10."),
         smoke: bool = typer.Option(False, help="Tiny run into a scratch folder: the defaults become 1 seed, "
                                    "100 x D evaluations, 2-D; options given explicitly are kept.")) -> None:
    """Minimise multimodal benchmarks and a double well against dual annealing and random search."""
    out = _output_folder("demo", out, smoke)
    from .studies.demo import DEMO_METHODS, demo_problems, run_demo, summarize

    seeds = seeds or (1 if smoke else 5)
    budget_per_dim = budget_per_dim or (100 if smoke else 2000)
    dim = dim or (2 if smoke else 10)
    total = len(demo_problems(dim)) * len(DEMO_METHODS) * seeds
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("demo", total=total)
        rows = run_demo(out, seeds=seeds, budget_per_dim=budget_per_dim, dim=dim,
                        on_run=lambda what: progress.update(task, advance=1, description=what))
    table = Table(title=f"Median error f - f* (global-basin rate), {budget_per_dim} x D evaluations, {seeds} seeds")
    table.add_column("problem")
    methods = list(DEMO_METHODS)
    for m in methods:
        table.add_column(m, justify="right")
    summary = summarize(rows)
    for prob in dict.fromkeys(s["problem"] for s in summary):
        cells = {s["method"]: s for s in summary if s["problem"] == prob}
        best = min(cells[m]["median_error"] for m in methods)
        table.add_row(prob, *[("[bold green]" if cells[m]["median_error"] == best else "")
                              + f"{cells[m]['median_error']:.3g} ({cells[m]['basin_rate']:.0%})" for m in methods])
    console.print(table)
    console.print(f"Wrote {out / 'demo.md'}, {out / 'demo.csv'}, {out / 'convergence.png'}, {out / 'double_well.png'}")


bench_app = typer.Typer(help="Benchmarks against the field.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("bbob")
def bench_bbob(ctx: typer.Context,
               out: Path | None = typer.Option(None, show_default=False, help="Results folder (resumable); default "
                                               "docs/results/bbob, or a scratch folder with --smoke."),
               dims: list[int] = typer.Option([], "--dim", show_default=False,
                                              help="Dimensions (repeat the option); default 5 and 20 (--smoke: 2)."),
               functions: str | None = typer.Option(None, show_default=False,
                                                    help="bbob functions, COCO range syntax; default 1-24 "
                                                         "(--smoke: 1,15)."),
               instances: str | None = typer.Option(None, show_default=False,
                                                    help="Instances, COCO range syntax; default 1-15 (--smoke: 1)."),
               budget: int | None = typer.Option(None, min=1, show_default=False,
                                                 help="Evaluations per dimension per run; default 10000 "
                                                      "(--smoke: 50)."),
               methods: list[str] = typer.Option([], "--method", help="Methods (repeat); default: qiml and "
                                                 "every baseline. Choices: see `qiml.studies.bbob.METHODS`."),
               workers: int = typer.Option(0, min=0, help="Processes (0: every core)."),
               cocopp: bool = typer.Option(True, help="Post-process with cocopp (figures, ERT tables)."),
               smoke: bool = typer.Option(False, help="Tiny run into a scratch folder: the defaults become 2-D, "
                                          "f1 and f15, instance 1, budget 50; options given explicitly are kept."),
               report_only: bool = typer.Option(False, "--report-only", help="Run nothing: rebuild the report "
                                                "(and cocopp's, for every method with runs) from --out's runs.")
               ) -> None:
    """Run qiml and baselines on COCO's bbob suite through cocoex; ECDFs, ERTs and cocopp's figures."""
    from .parallel import cpu_count
    from .studies import bbob
    from .studies.args import MIN_RUN_EVALS
    from .studies.meta import run_metadata

    dims = dims or ([2] if smoke else [5, 20])
    if not set(dims) <= set(bbob.DIMS):
        raise typer.BadParameter(f"bbob has dimensions {list(bbob.DIMS)}, got {sorted(set(dims) - set(bbob.DIMS))}",
                                 param_hint="--dim")
    functions = functions or ("1,15" if smoke else "1-24")
    instances = instances or ("1" if smoke else "1-15")
    budget = budget or (50 if smoke else 10_000)
    if not report_only and budget * min(dims) < MIN_RUN_EVALS:
        raise typer.BadParameter(f"{budget} evaluations per dimension give {budget * min(dims)} per run at "
                                 f"{min(dims)}-D; a qiml run needs at least {MIN_RUN_EVALS} (one slice of the loss: "
                                 "nx + 1)", param_hint="--budget")
    chosen = methods or list(bbob.DEFAULT_METHODS)
    unknown = sorted(set(chosen) - set(bbob.METHODS))
    if unknown:
        raise typer.BadParameter(f"unknown method(s) {unknown}; choose from {sorted(bbob.METHODS)}",
                                 param_hint="--method")
    fids = _bbob_range(functions, "--functions", 1, 24)
    iids = _bbob_range(instances, "--instances", 1, None)
    folder = _output_folder("bbob", out, smoke)
    jobs = [] if report_only else [bbob.Job(m, f, d, i, budget) for d in dims for m in chosen for f in fids
                                   for i in iids]
    bbob.run_jobs(jobs, folder, workers or cpu_count())
    # the report covers every finished run in the folder at this budget, so runs added by separate
    # commands (other dimensions or methods) end up in one comparison
    records = [r for r in bbob.load_runs(folder / "runs.jsonl").values() if r["budget"] == budget]
    if report_only:
        if not records:
            raise typer.BadParameter(f"no finished runs at budget {budget} in {folder / 'runs.jsonl'}",
                                     param_hint="--report-only")
        chosen = methods or [m for m in bbob.METHODS if any(r["method"] == m for r in records)]
    summary = bbob.summarise(records, budget)
    meta = run_metadata(_invocation(ctx), functions=functions, instances=instances, seed=0)
    bbob.write_report(folder, records, summary, meta)
    if cocopp:
        console.print("post-processing with cocopp ...")
        console.print(f"cocopp output: {bbob.postprocess(folder, chosen)}")
    console.print(f"Wrote {folder / 'summary.md'}, summary.csv, ert.csv, ecdf_*D.png")


def _bbob_range(text: str, option: str, low: int, high: int | None) -> list[int]:
    """The numbers of a COCO range (``"1-5,7"``) given to ``option``, each in ``[low, high]``; else a usage error."""
    from .studies.bbob import parse_range

    want = f"{low}-{high}" if high is not None else f">= {low}"
    try:
        ids = parse_range(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a range like 1-5,7 of numbers {want}", param_hint=option) from None
    if not ids or min(ids) < low or (high is not None and max(ids) > high):
        raise typer.BadParameter(f"{text!r}: every number must be {want} (and a range a-b needs a <= b)",
                                 param_hint=option)
    return ids


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` (its parameter name) was typed on the command line, not left at its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _invocation(ctx: typer.Context) -> list[str]:
    """The current command as the user typed it, from the options given on the command line (the
    provenance of a report; ``sys.argv`` is not it when the CLI is called from Python)."""
    argv = ["qiml", *ctx.command_path.split()[1:]]
    for p in ctx.command.params:
        source = ctx.get_parameter_source(p.name or "")
        if p.param_type_name != "option" or source is None or source.name != "COMMANDLINE":
            continue
        value, opts, secondary = ctx.params[p.name or ""], p.opts, getattr(p, "secondary_opts", [])
        if getattr(p, "is_flag", False):
            argv.append(opts[0] if value or not secondary else secondary[0])
        else:
            argv += [a for v in (value if p.multiple else [value]) for a in (opts[0], str(v))]
    return argv


def _fail(message: str) -> NoReturn:
    """A bad option found after parsing: ``Error: <message>`` on stderr and exit status 2, as for a usage error."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(2)


def _output_folder(name: str, out: Path | None, smoke: bool) -> Path:
    """The study's folder (:func:`qiml.studies.folders.prepare_output_folder`: created and checked writable),
    called once the other options are checked; a folder refused (a smoke run into full results, a file, a path
    that cannot be created or written) is a one-line error with exit status 2."""
    from .errors import QimlError
    from .studies.folders import prepare_output_folder

    try:
        return prepare_output_folder(name, out, smoke)
    except QimlError as exc:
        _fail(str(exc))


@app.command()
def reproduce(name: Annotated[str, typer.Argument(show_default=False,
                                                  help="Study to run (see --list), or `all`.")] = "",
              smoke: Annotated[bool, typer.Option("--smoke",
                                                  help="Tiny budgets: checks the pipeline, not the claim.")] = False,
              out: Annotated[Path | None, typer.Option(
                  "--out", show_default=False, help="Results root; each study writes <out>/<name>/ (default: "
                                                    "docs/results; a scratch folder with --smoke)")
              ] = None,
              list_: Annotated[bool, typer.Option("--list",
                                                  help="List the studies and whether results exist.")] = False,
              ) -> None:
    """Regenerate the table behind a claim: run a named study (or `all`) and record how in meta.json.

    Runs the study's command with this interpreter; writes tables, plots, log.txt, meta.json to <out>/<name>/.
    """
    from .studies.folders import OutputFolderError, make_folder
    from .studies.registry import EXPERIMENTS, ReproduceError, default_root, folder_status, run_experiment

    valid = ", ".join([*EXPERIMENTS, "all"])
    base = out if out is not None else default_root(smoke)
    if base.exists() and not base.is_dir():
        _fail(f"--out {base} exists and is not a folder.")
    if list_:
        if name:
            _fail(f"give either a study name or --list, not both (got {name!r}).")

        def shown(path: Path) -> str:
            # paths relative to where the user stands, when they lie below it
            try:
                return str(path.resolve().relative_to(Path.cwd().resolve()))
            except ValueError:
                return str(path)

        table = Table(title="Studies: `qiml reproduce NAME [--smoke] [--out DIR]`")
        for col, kw in (("name", {"no_wrap": True}), ("claim", {"ratio": 4}), ("command", {"ratio": 2}),
                        ("output folder", {"ratio": 2}), ("results", {"ratio": 1})):
            table.add_column(col, overflow="fold", **kw)
        for exp in EXPERIMENTS.values():
            table.add_row(exp.name, exp.claim, exp.shown_command, shown(base / exp.name),
                          folder_status(base / exp.name, exp))
        console.print(table)
        return
    if not name:
        _fail(f"name a study ({valid}) or use --list.")
    if name != "all" and name not in EXPERIMENTS:
        _fail(f"unknown study {name!r}. Valid names: {valid}.")
    try:    # the root once, before any study: `all` into a bad --out is one error, not one per study
        make_folder(base, f"--out {base}" if out is not None else f"the results root {base}")
    except OutputFolderError as exc:
        _fail(str(exc))
    chosen = list(EXPERIMENTS.values()) if name == "all" else [EXPERIMENTS[name]]
    failed: list[tuple[str, int, str]] = []
    for exp in chosen:
        console.rule(f"{exp.name} ({'smoke' if smoke else 'full'}) -> {base / exp.name}")
        if exp.needs and not smoke:
            console.print(f"needs: {exp.needs}")
        try:
            meta = run_experiment(exp, base, smoke=smoke)
        except ReproduceError as exc:
            typer.echo(f"Error: {exc}", err=True)
            failed.append((exp.name, exc.code, str(exc)))
            continue
        console.print(f"[green]{exp.name}[/green]: done in {meta['duration_s']:.1f} s; wrote "
                      f"{', '.join(meta['outputs'])}")
    if failed:
        if len(chosen) > 1:
            typer.echo(f"Error: {len(failed)} of {len(chosen)} studies failed: "
                       + ", ".join(n for n, _, _ in failed), err=True)
        raise typer.Exit(failed[0][1])


telecom_app = typer.Typer(help="Telecom applications.", no_args_is_help=True)
app.add_typer(telecom_app, name="telecom")


@telecom_app.command("tilt")
def telecom_tilt(ctx: typer.Context,
                 out: Path | None = typer.Option(None, show_default=False, help="Results folder (resumable); default "
                                                 "docs/results/telecom-tilt, or a scratch folder with --smoke."),
                 n_samples: int = typer.Option(420_000, min=1000, help="Samples in the data set."),
                 hidden: list[int] = typer.Option([], "--hidden", help="Adam's hidden sizes (repeat); default "
                                                  "2, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256, 512."),
                 qiml_hidden: list[int] = typer.Option([], "--qiml-hidden", help="QiML's hidden sizes (repeat); "
                                                       "default 2, 4, 6, 8, 12, 16, 32."),
                 seeds: int = typer.Option(3, min=1, help="Seeds per size (medians are reported)."),
                 qiml_sweeps: list[int] = typer.Option([], "--qiml-sweeps", help="QiML sweeps tuned over (repeat); "
                                                       "default 10, 40 and 120."),
                 target_rmse: float | None = typer.Option(None, min=0.0, help="Target test RMSE in dB; default "
                                                          "1.05 x the best median float RMSE of the study."),
                 workers: int = typer.Option(0, min=0, help="Processes (0: every core)."),
                 smoke: bool = typer.Option(False, help="Tiny run into a scratch folder: 20,000 samples, sizes 2 "
                                            "and 6, one seed; options given explicitly are kept.")) -> None:
    """Antenna tilting: test RMSE against hidden size for tuned Adam and QiML, float and int8."""
    import dataclasses

    from .parallel import cpu_count
    from .studies import telecom_tilt as tilt
    from .studies.meta import run_metadata

    if target_rmse is not None and not math.isfinite(target_rmse):
        raise typer.BadParameter(f"must be a finite number of dB, got {target_rmse}", param_hint="--target-rmse")
    for option, values in (("--qiml-sweeps", qiml_sweeps), ("--hidden", hidden), ("--qiml-hidden", qiml_hidden)):
        if min(values, default=1) < 1:
            raise typer.BadParameter(f"must be >= 1, got {min(values)}", param_hint=option)
    folder = _output_folder("telecom-tilt", out, smoke)
    cfg = tilt.TiltConfig(n_samples=n_samples, target_rmse=target_rmse, seeds=tuple(range(seeds)))
    if smoke:   # a smoke run keeps its tiny defaults, except what was asked for explicitly
        given = [p for p in ("n_samples", "target_rmse", "seeds") if _given(ctx, p)]
        cfg = dataclasses.replace(tilt.TiltConfig.smoke(), **{p: getattr(cfg, p) for p in given})
    if qiml_sweeps:
        cfg = dataclasses.replace(cfg, qiml_sweeps=tuple(sorted(set(qiml_sweeps))))
    if hidden:
        cfg = dataclasses.replace(cfg, hidden=tuple(sorted(set(hidden))))
    if qiml_hidden:
        cfg = dataclasses.replace(cfg, qiml_hidden=tuple(sorted(set(qiml_hidden))))
    console.print(f"data: make_dataset({cfg.n_samples}, seed={cfg.data_seed}) (cached after the first build)")
    records = tilt.run_study(cfg, folder, workers or cpu_count())
    split = tilt.load_split(cfg)
    summary = tilt.summarise(cfg, records, tilt.linear_baseline(split))
    meta = run_metadata(_invocation(ctx), split=", ".join(f"{k} {v}" for k, v in split.sizes.items()))
    tilt.write_report(folder, summary, meta)
    sm = summary["smallest_hidden"]
    console.print(f"target {summary['target_rmse']:.3f} dB; smallest hidden size: "
                  + ", ".join(f"{c} {sm[c] or 'not reached'}" for c in tilt.CURVES))
    console.print(f"Wrote {folder / 'summary.md'}, summary.csv, summary.json, rmse_vs_hidden.png")

deploy_app = typer.Typer(help="Deploy int8 networks: portable C, 6502 programs.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")
_MODEL = typer.Argument(..., show_default=False, help="A model file written by qiml.deploy.save_model (.npz).")


def _load_deployable(model: Path) -> tuple[IntegerNetwork, str]:
    """A model file's integer reference, or one line of error and exit 2."""
    from .deploy import integer_reference, load_model
    from .errors import QimlError

    try:
        saved = load_model(model)
        ref = integer_reference(saved)
    except QimlError as exc:
        _fail(str(exc))
    how = "on its int8 lattice" if saved.scales is not None else "quantized after training (int8, per layer)"
    return ref, f"{saved.net!r}, {how}"


@deploy_app.command("c")
def deploy_c(model: Path = _MODEL,
             out: Path = typer.Option(..., show_default=False, help="Folder for the header and the source."),
             name: str = typer.Option("qiml_model", help="Base name of the files (a C identifier)."),
             driver: bool = typer.Option(False, help="Also write qiml_main.c: samples from stdin, classes to stdout."),
             check: bool = typer.Option(True, help="Compile with the system C compiler and check 64 seeded samples "
                                                   "against the Python reference.")) -> None:
    """Write a model as portable C99: one header, one source, integers only, const weights."""
    import numpy as np

    from .deploy.c_export import compile_c, export_c, run_program, write_driver
    from .errors import QimlError

    ref, what = _load_deployable(model)
    try:
        h, c = export_c(ref, out, name=name, source=model.name)
        if driver:
            write_driver(out, name=name)
        console.print(f"{what}\nWrote {h} and {c}" + (f" and {out / 'qiml_main.c'}" if driver else ""))
        if check:
            import tempfile
            with tempfile.TemporaryDirectory() as tmp:
                export_c(ref, tmp, name=name)
                exe = compile_c(tmp, name=name, logits=True)
                x = ref.random_inputs(64)
                n_out = ref.layer_sizes[-1]
                same = np.array_equal(run_program(exe, x, logits=True, n_outputs=n_out), ref.logits_int(x))
            if not same:
                _fail("the compiled C disagrees with the Python reference")
            console.print("compiled (cc, C99, -Wall -Wextra -pedantic -Werror): logits identical to the reference "
                          "on 64 seeded samples")
    except QimlError as exc:
        _fail(str(exc))


@deploy_app.command("6502")
def deploy_6502(model: Path = _MODEL,
                out: Path = typer.Option(..., show_default=False, help="Folder for the sources and the program."),
                asm: bool = typer.Option(True, help="Link the assembly dot product (--no-asm: cc65's C loop)."),
                check: int = typer.Option(8, min=0, help="Seeded random samples to run in sim65 and py65 and "
                                                         "compare with the Python reference (0: none)."),
                atari: bool = typer.Option(False, help="Also build an Atari 800 executable, OUT/atari/qiml.xex "
                                                       "(digits from H1:DIGITS.BIN, classes to H1:CLASSES.BIN).")
                ) -> None:
    """Build a model for the 6502 with cc65 (sim6502 target); report sizes and cycles per sample."""
    import numpy as np

    from .deploy.m6502 import CLOCK_HZ, build_6502
    from .errors import QimlError

    ref, what = _load_deployable(model)
    try:
        program = build_6502(ref, out_dir=out, asm=asm, calibrate=0)
        if check:
            x = ref.random_inputs(check)
            expected = ref.predict_int(x)
            for emulator in ("sim65", "py65"):
                if not np.array_equal(program.run(x, emulator)[0], expected):
                    _fail(f"the 6502 program in {emulator} disagrees with the Python reference")
            program.run(x)                           # sim65 last: its cycles per sample
        xex = None
        if atari:
            from .deploy.atari import build_atari
            xex = build_atari(ref, out / "atari")
    except QimlError as exc:
        _fail(str(exc))
    table = Table(title=f"{what} on a 6502")
    for col in ("code bytes", "data bytes", "program bytes", "RAM bytes", "cycles / sample", "s / sample at 1.79 MHz"):
        table.add_column(col, justify="right")
    cyc = program.cycles_per_sample
    table.add_row(str(program.code_bytes), str(program.data_bytes), str(program.program_bytes), str(program.ram_bytes),
                  "-" if not check else f"{cyc:,.0f}", "-" if not check else f"{cyc / CLOCK_HZ:.3f}")
    console.print(table)
    console.print(f"Wrote {program.binary} (run: sim65 {program.binary} < samples.bin)"
                  + (f"; sim65 and py65 agree with the reference on {check} seeded samples" if check else ""))
    if xex is not None:
        console.print(f"Wrote {xex.xex} ({xex.file_bytes} bytes; run: atari800 -H1 DIR -hreadwrite -run {xex.xex})")


if __name__ == "__main__":  # pragma: no cover
    app()
