"""The ``qiml`` command line (Typer + Rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__

app = typer.Typer(help="qiml: quantum-inspired, gradient-free optimisation and machine learning.",
                  no_args_is_help=True, add_completion=False)
console = Console()


@app.callback()
def _main() -> None:
    """qiml command line."""


@app.command()
def version() -> None:
    """Print the qiml version."""
    console.print(f"qiml {__version__}")


@app.command()
def demo(out: Path = typer.Option(Path("docs/demo"), help="Directory for tables and plots."),
         seeds: int = typer.Option(5, min=1, help="Seeds per method and problem (medians are reported)."),
         budget_per_dim: int = typer.Option(2000, min=100, help="Evaluation budget per dimension."),
         dim: int = typer.Option(10, min=2, help="Dimension of the multimodal benchmarks.")) -> None:
    """Minimise multimodal benchmarks and a double well against dual annealing and random search."""
    from .reports.demo import DEMO_METHODS, demo_problems, run_demo, summarize

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
def bench_bbob(out: Path = typer.Option(Path("docs/results/bbob"), help="Results folder (resumable)."),
               dims: list[int] = typer.Option([5, 20], "--dim", help="Dimensions (repeat the option)."),
               functions: str = typer.Option("1-24", help="bbob functions, COCO range syntax."),
               instances: str = typer.Option("1-15", help="Instances, COCO range syntax."),
               budget: int = typer.Option(10_000, min=1, help="Evaluations per dimension per run."),
               methods: list[str] = typer.Option([], "--method", help="Methods (repeat); default: qiml and "
                                                 "every baseline. Choices: see `qiml.reports.bbob.METHODS`."),
               workers: int = typer.Option(0, help="Processes (0: every core)."),
               cocopp: bool = typer.Option(True, help="Post-process with cocopp (figures, ERT tables)."),
               smoke: bool = typer.Option(False, help="Tiny run: 2-D, f1 and f15, instance 1, budget 50."),
               report_only: bool = typer.Option(False, "--report-only", help="Run nothing: rebuild the report "
                                                "(and cocopp's, for every method with runs) from --out's runs.")) -> None:
    """Run qiml and baselines on COCO's bbob suite through cocoex; ECDFs, ERTs and cocopp's figures."""
    import datetime
    import platform

    from .parallel import cpu_count
    from .reports import bbob, experiments

    if smoke:
        dims, functions, instances, budget = [2], "1,15", "1", 50
    chosen = methods or list(bbob.DEFAULT_METHODS)
    unknown = sorted(set(chosen) - set(bbob.METHODS))
    if unknown:
        raise typer.BadParameter(f"unknown method(s) {unknown}; choose from {sorted(bbob.METHODS)}")
    try:
        fids, iids = bbob.parse_range(functions), bbob.parse_range(instances)
    except ValueError as exc:
        raise typer.BadParameter(f"bad range: {exc}") from exc
    if not fids or min(fids) < 1 or max(fids) > 24 or not iids or min(iids) < 1:
        raise typer.BadParameter("functions must lie in 1-24 and instances be >= 1")
    jobs = [] if report_only else [bbob.Job(m, f, d, i, budget) for d in dims for m in chosen for f in fids
                                   for i in iids]
    with Progress(TextColumn("bbob"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("", total=len(jobs))
        finished = bbob.load_runs(out / "runs.jsonl")
        progress.update(task, completed=sum(1 for j in jobs if j.key in finished))
        bbob.run_jobs(jobs, out, workers or cpu_count(),
                      on_done=lambda r: progress.update(task, advance=1, description=r["key"]))
    # the report covers every finished run in the folder at this budget, so runs added by separate
    # commands (other dimensions or methods) end up in one comparison
    records = [r for r in bbob.load_runs(out / "runs.jsonl").values() if r["budget"] == budget]
    if report_only:
        if not records:
            raise typer.BadParameter(f"no finished runs at budget {budget} in {out / 'runs.jsonl'}")
        chosen = methods or [m for m in bbob.METHODS if any(r["method"] == m for r in records)]
    summary = bbob.summarise(records, budget)
    versions = ", ".join(f"{k} {v}" for k, v in experiments.versions().items())
    meta = {"command": "qiml bench bbob " + ("--smoke" if smoke else "--report-only" if report_only else " ".join(
                [*(f"--dim {d}" for d in dims), f"--functions {functions}", f"--instances {instances}",
                 f"--budget {budget}", *(f"--method {m}" for m in methods)])),
            "functions": functions, "instances": instances, "seed": 0,
            "machine": f"{platform.machine()}, {cpu_count()} cores, Python {platform.python_version()}; {versions}",
            "versions": experiments.versions(), "date": datetime.date.today().isoformat()}
    bbob.write_report(out, records, summary, meta)
    if cocopp:
        console.print("post-processing with cocopp ...")
        folder = bbob.postprocess(out, chosen)
        console.print(f"cocopp output: {folder}")
    console.print(f"Wrote {out / 'summary.md'}, summary.csv, ert.csv, ecdf_*D.png")


@app.command()
def reproduce(name: Annotated[str, typer.Argument(show_default=False,
                                                  help="Experiment to run (see --list), or `all`.")] = "",
              smoke: Annotated[bool, typer.Option("--smoke",
                                                  help="Tiny budgets: checks the pipeline, not the claim.")] = False,
              out: Annotated[Path | None, typer.Option(
                  "--out", show_default=False, help="Results root; each experiment writes <out>/<name>/ (default: "
                                                    "docs/results of the checkout; docs/results/smoke with --smoke)")
              ] = None,
              list_: Annotated[bool, typer.Option("--list",
                                                  help="List the experiments and whether results exist.")] = False,
              ) -> None:
    """Regenerate the table behind a claim: run a named experiment (or `all`) and record how in meta.json.

    Runs the script under benchmarks/ with this interpreter; writes tables, plots, log.txt, meta.json to <out>/<name>/.
    """
    from .reports.experiments import EXPERIMENTS, POINTERS, ReproduceError, folder_status, run_experiment, source_root

    valid = ", ".join([*EXPERIMENTS, "all"])
    try:
        root = source_root()
    except ReproduceError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    # smoke results go to their own folder by default so they never overwrite the committed full results
    base = out if out is not None else root / "docs" / "results" / ("smoke" if smoke else "")
    if base.exists() and not base.is_dir():
        typer.echo(f"Error: --out {base} exists and is not a folder.", err=True)
        raise typer.Exit(2)
    if list_:
        if name:
            typer.echo(f"Error: give either an experiment name or --list, not both (got {name!r}).", err=True)
            raise typer.Exit(2)

        def shown(path: Path) -> str:
            # paths relative to where the user stands, when they lie below it
            try:
                return str(path.resolve().relative_to(Path.cwd().resolve()))
            except ValueError:
                return str(path)

        table = Table(title="Experiments: `qiml reproduce NAME [--smoke] [--out DIR]`")
        for col, kw in (("name", {"no_wrap": True}), ("claim", {"ratio": 4}), ("script", {"ratio": 2}),
                        ("output folder", {"ratio": 2}), ("results", {"ratio": 1})):
            table.add_column(col, overflow="fold", **kw)
        for exp in EXPERIMENTS.values():
            script = exp.script or "qiml " + " ".join(exp.cli)
            table.add_row(exp.name, exp.claim, script, shown(base / exp.name), folder_status(base / exp.name))
        for key, (claim, command) in POINTERS.items():
            folder = root / "docs" / "results" / key
            table.add_row(key, f"{claim} (not run by reproduce)", command, shown(folder), folder_status(folder))
        console.print(table)
        return
    if not name:
        typer.echo(f"Error: name an experiment ({valid}) or use --list.", err=True)
        raise typer.Exit(2)
    if name != "all" and name not in EXPERIMENTS:
        typer.echo(f"Error: unknown experiment {name!r}. Valid names: {valid}.", err=True)
        raise typer.Exit(2)
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
            typer.echo(f"Error: {len(failed)} of {len(chosen)} experiments failed: "
                       + ", ".join(n for n, _, _ in failed), err=True)
        raise typer.Exit(failed[0][1])



telecom_app = typer.Typer(help="Telecom applications.", no_args_is_help=True)
app.add_typer(telecom_app, name="telecom")


@telecom_app.command("tilt")
def telecom_tilt(out: Path = typer.Option(Path("docs/results/telecom_tilt"), help="Results folder (resumable)."),
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
                 workers: int = typer.Option(0, help="Processes (0: every core)."),
                 smoke: bool = typer.Option(False, help="Tiny run: 20,000 samples, sizes 2 and 6, one seed.")) -> None:
    """Antenna tilting: test RMSE against hidden size for tuned Adam and QiML, float and int8."""
    import dataclasses
    import datetime
    import platform

    from .parallel import cpu_count
    from .reports import experiments
    from .reports import telecom_tilt as tilt

    if smoke:
        cfg = tilt.TiltConfig.smoke()
    else:
        cfg = tilt.TiltConfig(n_samples=n_samples, seeds=tuple(range(seeds)), target_rmse=target_rmse)
        if min(qiml_sweeps, default=1) < 1:
            raise typer.BadParameter("--qiml-sweeps must be >= 1")
        if qiml_sweeps:
            cfg = dataclasses.replace(cfg, qiml_sweeps=tuple(sorted(set(qiml_sweeps))))
        if hidden:
            cfg = dataclasses.replace(cfg, hidden=tuple(sorted(set(hidden))))
        if qiml_hidden:
            cfg = dataclasses.replace(cfg, qiml_hidden=tuple(sorted(set(qiml_hidden))))
    if min(cfg.hidden + cfg.qiml_hidden) < 1:
        raise typer.BadParameter("hidden sizes must be >= 1")
    console.print(f"data: make_dataset({cfg.n_samples}, seed={cfg.data_seed}) (cached after the first build)")
    with Progress(TextColumn("tilt"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("", total=None)

        def done(rec: dict, total: int) -> None:
            progress.update(task, advance=1, total=total,
                            description=f"{rec['key']}: test RMSE {rec['test_rmse']:.3f} dB")

        records = tilt.run_study(cfg, out, workers or cpu_count(), on_done=done)
    split = tilt.load_split(cfg)
    summary = tilt.summarise(cfg, records, tilt.linear_baseline(split))
    meta = {"command": "qiml telecom tilt " + ("--smoke" if smoke else " ".join(
                [f"--n-samples {cfg.n_samples}", f"--seeds {len(cfg.seeds)}", *(f"--qiml-sweeps {n}" for n in qiml_sweeps),
                 *(f"--hidden {h}" for h in hidden), *(f"--qiml-hidden {h}" for h in qiml_hidden),
                 *([f"--target-rmse {target_rmse:g}"] if target_rmse is not None else [])])),
            "split": ", ".join(f"{k} {v}" for k, v in split.sizes.items()),
            "machine": f"{platform.machine()}, {cpu_count()} cores, Python {platform.python_version()}",
            "versions": experiments.versions(), "date": datetime.date.today().isoformat()}
    tilt.write_report(out, summary, meta)
    sm = summary["smallest_hidden"]
    console.print(f"target {summary['target_rmse']:.3f} dB; smallest hidden size: "
                  + ", ".join(f"{c} {sm[c] or 'not reached'}" for c in tilt.CURVES))
    console.print(f"Wrote {out / 'summary.md'}, summary.csv, summary.json, rmse_vs_hidden.png")

if __name__ == "__main__":  # pragma: no cover
    app()
