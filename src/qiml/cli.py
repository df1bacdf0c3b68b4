"""The ``qiml`` command line (Typer + Rich)."""

from __future__ import annotations

from pathlib import Path

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


if __name__ == "__main__":  # pragma: no cover
    app()
