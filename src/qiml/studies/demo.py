"""``qiml demo``: the main job on the embedded default (NumPy on the CPU).

    qiml demo                          # docs/results/demo
    qiml reproduce demo                # the same, with meta.json and log.txt
    python -m qiml.studies.demo --smoke   # 1 seed, 100 x D evaluations, 2-D: into a scratch folder

Minimises Rastrigin, Schwefel and Ackley in 10-D and a 1-D asymmetric double well with qiml,
SciPy ``dual_annealing`` and random search at equal evaluation budgets (median over seeds),
and writes ``demo.md`` / ``demo.csv`` plus two plots: best loss against evaluations, and a
packet's density moving from the shallow well of the double well into the deep one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from ..files import atomic_write_csv, atomic_write_text
from ..functions import DOUBLE_WELL_BOUNDS, Benchmark, double_well
from ..solvers.base import density, normalize, unit_dx
from ..solvers.finite_difference import theta_steps
from .args import check_run_budget, int_in, pyplot, resolve, study_parser
from .baselines import run_method
from .meta import environment_line, run_metadata

__all__ = ["Problem", "demo_problems", "run_demo", "double_well_snapshots", "DEMO_METHODS", "demo_command", "main"]

NAME = "demo"
#: the demo's comparison; the full set of baselines is in :mod:`qiml.studies.optimizers`
DEMO_METHODS = ("qiml", "dual_annealing", "random")
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both)
DEFAULTS: dict[str, Any] = {"seeds": 5, "budget_per_dim": 2000, "dim": 10}
SMOKE: dict[str, Any] = {"seeds": 1, "budget_per_dim": 100, "dim": 2}


@dataclass
class Problem:
    name: str
    fun: Callable[[np.ndarray], np.ndarray]
    bounds: list[tuple[float, float]]
    f_opt: float
    in_basin: Callable[[float], bool]


def demo_problems(dim: int = 10) -> list[Problem]:
    out = []
    for name in ("rastrigin", "schwefel", "ackley"):
        b = Benchmark(name, dim, seed=0)
        out.append(Problem(f"{name} {dim}-D", b, b.bounds, b.f_opt, b.in_basin))
    # deep well: global minimum near x = -1.04; the shallow one near +0.96 is ~0.6 higher
    deep = minimize_scalar(lambda x: double_well(np.array([[x]]))[0], bounds=(-2.0, 0.0),
                           method="bounded", options={"xatol": 1e-12})
    f_opt = float(deep.fun)

    def in_deep_well(f: float) -> bool:
        return f - f_opt < 0.3

    out.append(Problem("double well 1-D", double_well, [DOUBLE_WELL_BOUNDS], f_opt, in_deep_well))
    return out


def run_demo(out: Path, seeds: int = 5, budget_per_dim: int = 2000, dim: int = 10,
             on_run: Callable[[str], Any] | None = None) -> list[dict[str, Any]]:
    """Run every method on every demo problem for ``seeds`` seeds; write tables and plots under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    traces: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    for prob in demo_problems(dim):
        budget = budget_per_dim * len(prob.bounds)
        for method in DEMO_METHODS:
            for seed in range(seeds):
                f = run_method(method, prob.fun, prob.bounds, budget, seed)
                rows.append({"problem": prob.name, "method": method, "seed": seed, "budget": budget,
                             "nfev": f.nfev, "best": f.best, "error": f.best - prob.f_opt,
                             "in_basin": prob.in_basin(f.best)})
                traces.setdefault((prob.name, method), []).append((f.evals, f.trace - prob.f_opt))
                if on_run:
                    on_run(f"{prob.name} / {method} / seed {seed}")
    _write_tables(out, rows, seeds, budget_per_dim, dim)
    _plot_convergence(out / "convergence.png", traces)
    _plot_double_well(out / "double_well.png")
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median error and global-basin rate per (problem, method)."""
    keys = list(dict.fromkeys((r["problem"], r["method"]) for r in rows))
    out = []
    for prob, method in keys:
        sel = [r for r in rows if r["problem"] == prob and r["method"] == method]
        out.append({"problem": prob, "method": method, "median_error": float(np.median([r["error"] for r in sel])),
                    "basin_rate": float(np.mean([r["in_basin"] for r in sel])), "budget": sel[0]["budget"]})
    return out


def demo_command(seeds: int, budget_per_dim: int, dim: int) -> str:
    """The ``qiml demo`` command line that makes this table (options at their defaults left out, except the
    seeds and budget, which the table names)."""
    return (f"qiml demo --seeds {seeds} --budget-per-dim {budget_per_dim}"
            + (f" --dim {dim}" if dim != DEFAULTS["dim"] else ""))


def _write_tables(out: Path, rows: list[dict[str, Any]], seeds: int, budget_per_dim: int, dim: int) -> None:
    atomic_write_csv(out / "demo.csv", rows)
    summary = summarize(rows)
    methods = list(DEMO_METHODS)
    command = demo_command(seeds, budget_per_dim, dim)
    meta = run_metadata([command], seeds=seeds, budget_per_dim=budget_per_dim, dim=dim)
    lines = [f"# qiml demo: equal evaluation budgets ({budget_per_dim} x D), {seeds} seeds", "",
             f"{environment_line(meta)} Command: `{command}`.", "",
             "Cells: median error f - f* (fraction of seeds ending in the global basin).", "",
             "| problem | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for prob in dict.fromkeys(r["problem"] for r in summary):
        cells = [next(s for s in summary if s["problem"] == prob and s["method"] == m) for m in methods]
        lines.append(f"| {prob} | " + " | ".join(f"{c['median_error']:.3g} ({c['basin_rate']:.0%})" for c in cells)
                     + " |")
    atomic_write_text(out / "demo.md", "\n".join(lines) + "\n")


def double_well_snapshots(n: int = 256, hbar: float = 0.02, dt: float = 0.5, steps: int = 40,
                          keep: int = 7) -> tuple[np.ndarray, np.ndarray, list[tuple[float, np.ndarray]]]:
    """Imaginary-time evolution of a packet started in the shallow well of :func:`double_well`.

    Returns the grid (n,), the potential rescaled to [0, 1] (n,), and ``keep`` snapshots
    (imaginary time, density (n,)) spaced logarithmically in time.
    """
    x = np.linspace(*DOUBLE_WELL_BOUNDS, n)
    V = double_well(x[:, None])
    V = (V - V.min()) / (V.max() - V.min())
    dx = unit_dx(n)
    psi = normalize(np.exp(-0.5 * ((x - 0.96) / 0.15) ** 2)[None, :].astype(complex), dx)
    wanted = set(np.unique(np.geomspace(1, steps, keep - 1).astype(int) - 1).tolist())
    snaps = [(0.0, density(psi)[0])]

    def observe(step: int, y: np.ndarray) -> None:
        if step in wanted:
            snaps.append(((step + 1) * dt, density(y)[0]))

    theta_steps(psi, V[None, :], dx, hbar, 1.0, dt, steps, imaginary=True, theta=1.0, observe=observe)
    return x, V, snaps


def _plot_convergence(path: Path, traces: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]]) -> None:
    plt = pyplot()
    problems = list(dict.fromkeys(p for p, _ in traces))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.2 * len(problems), 3.6))
    for ax, prob in zip(np.atleast_1d(axes), problems, strict=True):
        for (p, method), runs in traces.items():
            if p != prob:
                continue
            evals = runs[0][0]
            median = np.nanmedian([err for _, err in runs], axis=0)   # NaN before a method's first evaluation
            ax.plot(evals, np.maximum(median, 1e-10), label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-10)
        ax.set_title(prob)
        ax.set_xlabel("evaluations")
    np.atleast_1d(axes)[0].set_ylabel("median best error f - f*")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_double_well(path: Path) -> None:
    plt = pyplot()
    x, V, snaps = double_well_snapshots()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(x, V, color="k", lw=2, label="potential (rescaled loss)")
    cmap = plt.get_cmap("viridis")
    peak = max(rho.max() for _, rho in snaps)
    for i, (tau, rho) in enumerate(snaps):
        ax.plot(x, rho / peak, color=cmap(i / max(1, len(snaps) - 1)), label=f"density, tau = {tau:g}")
    ax.set_xlabel("parameter value")
    ax.set_title("Imaginary time: the packet leaves the shallow well for the deep one")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """``python -m qiml.studies.demo``: what ``qiml demo`` runs, without its Rich table."""
    ap = study_parser(NAME, __doc__.split("\n\n")[0], workers=False,
                      smoke_help=", ".join(f"{k.replace('_', ' ')} {v}" for k, v in SMOKE.items()))
    ap.add_argument("--seeds", type=int_in(1), default=None,
                    help=f"seeds per method and problem (default {DEFAULTS['seeds']})")
    ap.add_argument("--budget-per-dim", type=int_in(1), default=None,
                    help=f"evaluation budget per dimension (default {DEFAULTS['budget_per_dim']})")
    ap.add_argument("--dim", type=int_in(2), default=None,
                    help=f"dimension of the benchmarks (default {DEFAULTS['dim']})")
    a = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    check_run_budget(ap, "--budget-per-dim", a.budget_per_dim, a.budget_per_dim, where=" on the 1-D double well")
    rows = run_demo(a.out, seeds=a.seeds, budget_per_dim=a.budget_per_dim, dim=a.dim)
    print((a.out / "demo.md").read_text())
    return rows


if __name__ == "__main__":
    main()
