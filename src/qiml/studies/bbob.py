"""COCO/BBOB comparison: qiml (each solver) and baselines through ``cocoex``, post-processed by ``cocopp``.

One *run* is one method on one bbob problem (function 1-24, dimension, instance) with a budget of
``budget x D`` evaluations. Each run happens in a worker process with its own ``cocoex`` observer
folder ``<out>/exdata/<method>/f<f>_d<d>_i<i>`` (COCO's format, which ``cocopp`` merges per method),
and appends one JSON line to ``<out>/runs.jsonl`` when it finishes, so an interrupted comparison
resumes where it stopped (an unfinished run's folder is cleared and the run redone). As in COCO's
own experiments, a run stops once it reaches the final target ``f_opt + 1e-8``.

Besides COCO's own logs, every run records the exact evaluation at which it first reached each of
the 51 standard bbob targets ``f_opt + 10^k``, ``k = 2, 1.8, ..., -8``. From these
:func:`summarise` computes, per method, dimension and function group, the empirical cumulative
distribution (ECDF) of (run, target) pairs solved against ``evaluations / D`` (the curve COCO
plots, without COCO's bootstrapping) and its area at the full budget, normalised to [0, 1] on a log
axis from 1 to the budget; and the expected running time ERT (evaluations summed over runs /
successes) per function for chosen targets. ``cocopp`` then draws the official figures and tables,
including the comparison with its bundled best-2009 and best-2009-16 records (offline).

Methods (:data:`METHODS`): qiml with each solver (``qiml`` = finite differences, the default), and
the baselines of :mod:`qiml.studies.baselines` (pycma with IPOP restarts, SciPy differential evolution
and dual annealing, random search) plus Nevergrad's ``CMA``, ``DE`` and ``PSO``. Nevergrad's
``NGOpt`` is left out: with NumPy >= 2.4 it fails inside Nevergrad (``TypeError: only 0-dimensional
arrays can be converted to Python scalars``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..files import atomic_write_csv
from ..solvers import VARIANTS
from . import baselines
from .args import pyplot
from .meta import environment_line
from .runner import JobRunner, load_runs

__all__ = ["Job", "METHODS", "GROUPS", "TARGET_EXPONENTS", "run_job", "run_jobs", "summarise", "postprocess",
           "parse_range", "load_runs", "write_report"]

#: bbob function groups (COCO's names), by function number
GROUPS: dict[str, tuple[int, ...]] = {
    "separable": (1, 2, 3, 4, 5),
    "low/moderate conditioning": (6, 7, 8, 9),
    "high conditioning, unimodal": (10, 11, 12, 13, 14),
    "multimodal, adequate structure": (15, 16, 17, 18, 19),
    "multimodal, weak structure": (20, 21, 22, 23, 24),
}
#: the 51 standard targets are f_opt + 10^k for these k
TARGET_EXPONENTS = np.round(np.linspace(2.0, -8.0, 51), 10)
NG_METHODS = {"ng_cma": "CMA", "ng_de": "DE", "ng_pso": "PSO"}
#: ``qiml`` is the engine's default (``search="auto"``); ``qiml_slices`` the slices alone (the default before
#: the walkers), ``qiml_ensemble`` the walker ensemble alone and ``qiml_hybrid`` walkers with slices; the
#: others pin the coordinate axes (the default before the adapted directions, with which their committed
#: runs were made) and change the solver (``qiml_walkers``: the mesoscopic solver's 1-D walkers)
#: the dimensions COCO's bbob suite has
DIMS = (2, 3, 5, 10, 20, 40)

QIML_SOLVERS: dict[str, dict[str, Any]] = {
                "qiml": {}, "qiml_slices": {"search": "slices"}, "qiml_ensemble": {"search": "walkers"},
                "qiml_hybrid": {"search": "hybrid"},
                # the walkers without their drift to the centroid (the first version; a lever of issue 14)
                "qiml_ensemble_nodrift": {"search": "walkers", "walker_drift": 0.0},
                "qiml_hybrid_nodrift": {"search": "hybrid", "walker_drift": 0.0},
                "qiml_axes": {"directions": "axes", "search": "slices"},
                **{f"qiml_{name}": {**VARIANTS[variant], "directions": "axes", "search": "slices"}
                   for name, variant in (("mesoscopic", "mesoscopic"), ("walkers", "mesoscopic-walkers"),
                                         ("signed_particles", "signed-particles"))}}


def _qiml_runner(settings: dict[str, Any]) -> baselines.Runner:
    def run(f: baselines.Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
        from ..engine import minimize
        minimize(f, list(zip(lo.tolist(), hi.tolist(), strict=True)), vectorized=True, max_evals=f.budget,
                 seed=seed, **settings)
    return run


def _nevergrad_runner(name: str) -> baselines.Runner:
    def run(f: baselines.Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
        import nevergrad as ng
        param = ng.p.Array(init=(lo + hi) / 2).set_bounds(lo, hi)
        param.random_state = np.random.RandomState(seed)
        opt = ng.optimizers.registry[name](parametrization=param, budget=f.budget)
        while f.nfev < f.budget:
            cand = opt.ask()
            opt.tell(cand, f.scalar(cand.value))
    return run


METHODS: dict[str, baselines.Runner] = {
    **{name: _qiml_runner(s) for name, s in QIML_SOLVERS.items()},
    "cma_ipop": baselines.METHODS["cma_ipop"],
    "differential_evolution": baselines.METHODS["differential_evolution"],
    "dual_annealing": baselines.METHODS["dual_annealing"],
    "random": baselines.METHODS["random"],
    **{name: _nevergrad_runner(ng_name) for name, ng_name in NG_METHODS.items()},
}
#: methods run when none are named: every solver would take hours in 20-D (see docs/results/solvers)
DEFAULT_METHODS = ("qiml", "cma_ipop", "differential_evolution", "dual_annealing", "random",
                   "ng_cma", "ng_de", "ng_pso")


@dataclass(frozen=True)
class Job:
    """One run: ``method`` on bbob function ``function`` in ``dim`` dimensions, instance ``instance``."""

    method: str
    function: int
    dim: int
    instance: int
    budget: int          # evaluations per dimension

    @property
    def key(self) -> str:
        return f"{self.method}/f{self.function:02d}_d{self.dim:02d}_i{self.instance:02d}_b{self.budget}"


def parse_range(text: str) -> list[int]:
    """``"1-5,7"`` -> ``[1, 2, 3, 4, 5, 7]`` (COCO's range syntax)."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


class _Hits:
    """Vectorised objective on a cocoex problem that records the first evaluation reaching each target."""

    def __init__(self, problem: Any, f_opt: float) -> None:
        self.problem, self.f_opt = problem, f_opt
        self.targets = f_opt + 10.0 ** TARGET_EXPONENTS
        self.hit = np.full(self.targets.size, -1, dtype=np.int64)   # evaluation count at the first hit
        self.n, self.best = 0, np.inf

    def __call__(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        F = np.array([self.problem(x) for x in np.atleast_2d(X)])
        run = np.minimum.accumulate(F)
        open_ = self.hit < 0
        if open_.any():
            # first index where the running best is <= each open target (run is non-increasing)
            idx = np.searchsorted(-run, -self.targets[open_], side="left")
            reached = idx < run.size
            rows = np.flatnonzero(open_)[reached]
            self.hit[rows] = self.n + idx[reached] + 1
        self.n += F.size
        self.best = min(self.best, float(run[-1]))
        return F


def run_job(job: Job, out: Path, seed: int = 0) -> dict[str, Any]:
    """Run ``job`` with a cocoex observer under ``out/exdata``; return its JSON-able record."""
    import cocoex

    name = job.key.split("/")[1]
    folder = out / "exdata" / job.method / name
    if folder.exists():          # an unfinished earlier attempt: start over
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    cocoex.log_level("warning")
    # name the instance itself: ``instance_indices`` would index the suite's current instance list
    # (1-5, 71-80), not instances 1-15
    suite = cocoex.Suite("bbob", f"instances: {job.instance}",
                         f"dimensions:{job.dim} function_indices:{job.function}")
    f_opt = float(cocoex.BareProblem("bbob", job.function, job.dim, job.instance).best_value())
    cwd = os.getcwd()
    os.chdir(out)    # cocoex writes under ./exdata/<result_folder>, whatever the path it is given
    try:
        observer = cocoex.Observer("bbob", f"result_folder: {job.method}/{name} algorithm_name: {job.method}")
        problem = next(iter(suite))
        if (problem.id_function, problem.dimension, problem.id_instance) != (job.function, job.dim, job.instance):
            raise RuntimeError(f"cocoex gave {problem.id} for {job.key}")
        problem.observe_with(observer)
        hits = _Hits(problem, f_opt)
        t0 = time.perf_counter()
        baselines.run_method(job.method, hits, list(zip(problem.lower_bounds, problem.upper_bounds, strict=True)),
                             job.budget * job.dim, seed, runner=METHODS[job.method], target=hits.targets[-1])
        seconds = time.perf_counter() - t0
        problem.free()
        del observer
    finally:
        os.chdir(cwd)
    return {**asdict(job), "key": job.key, "hit": hits.hit.tolist(), "nfev": hits.n,
            "best_gap": hits.best - f_opt, "seconds": seconds}


def run_jobs(jobs: Iterable[Job], out: Path, workers: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """Run the jobs not yet in ``out/runs.jsonl`` over ``workers`` processes; return every job's record."""
    out.mkdir(parents=True, exist_ok=True)
    runner: JobRunner[Job] = JobRunner(out / "runs.jsonl", workers, progress=progress, key=lambda j: j.key)
    with runner:
        # the costly runs first (high dimension), so the pool does not wait on one long run at the end
        return runner.run(list(jobs), partial(run_job, out=out), label="bbob", cost=lambda j: j.dim)


# -- summaries -----------------------------------------------------------------------------------------------
def ecdf(records: list[dict[str, Any]], budget: int, points: int = 101
         ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """ECDF of (run, target) pairs solved against evaluations / D, on a log grid from 1 to ``budget``."""
    grid = np.geomspace(1.0, budget, points)
    if not records:
        return grid, np.zeros(points)
    per_dim = np.concatenate([np.where(np.asarray(r["hit"]) > 0, np.asarray(r["hit"]) / r["dim"], np.inf)
                              for r in records])
    return grid, np.searchsorted(np.sort(per_dim), grid, side="right") / per_dim.size


def ecdf_area(records: list[dict[str, Any]], budget: int) -> float:
    """Area under the ECDF on log10(evaluations / D) from 0 to log10(budget), normalised to [0, 1] (NaN: no runs)."""
    if not records:
        return float("nan")
    grid, y = ecdf(records, budget, points=401)
    x = np.log10(grid)
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)) / (x[-1] - x[0]))


def ert(records: list[dict[str, Any]], exponent: float) -> float:
    """Expected running time (evaluations) to reach ``f_opt + 10^exponent``: inf when no run does."""
    i = int(np.argmin(np.abs(TARGET_EXPONENTS - exponent)))
    hits = [r["hit"][i] for r in records]
    successes = sum(h > 0 for h in hits)
    if successes == 0:
        return float("inf")
    return float(sum(h if h > 0 else r["nfev"] for h, r in zip(hits, records, strict=True)) / successes)


def summarise(records: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """ECDF areas per (method, dim, group) and ERTs per (method, dim, function)."""
    methods = list(dict.fromkeys(r["method"] for r in records))
    dims = sorted({r["dim"] for r in records})
    areas, erts = [], []
    for d in dims:
        for m in methods:
            rs = [r for r in records if r["method"] == m and r["dim"] == d]
            if not rs:           # a method run in other dimensions only
                continue
            row = {"method": m, "dim": d, "all": ecdf_area(rs, budget)}
            for g, fids in GROUPS.items():
                row[g] = ecdf_area([r for r in rs if r["function"] in fids], budget)
            areas.append(row)
            for f in sorted({r["function"] for r in rs}):
                fr = [r for r in rs if r["function"] == f]
                erts.append({"method": m, "dim": d, "function": f, "runs": len(fr),
                             **{f"ert_1e{e:+d}": ert(fr, e) for e in (1, -1, -3, -5, -8)}})
    return {"methods": methods, "dims": dims, "budget": budget, "areas": areas, "ert": erts}


def postprocess(out: Path, methods: list[str]) -> Path | None:
    """Run ``cocopp`` on the COCO logs of ``methods`` (offline; bundled best-2009 records); its output folder.

    The per-group ECDF figures are also copied to ``out/cocopp_ecdf/``.
    """
    import cocopp

    out = out.resolve()   # cocopp runs from inside ``out``
    folders = [str(out / "exdata" / m) for m in methods if (out / "exdata" / m).is_dir()]
    if not folders:
        return None
    target = out / "cocopp"
    if target.exists():
        shutil.rmtree(target)
    cwd = os.getcwd()
    try:
        os.chdir(out)    # cocopp writes some helper files into the working directory
        cocopp.genericsettings.isConv = False
        # cocopp.main parses one string of arguments (a list is taken as something else)
        cocopp.main(" ".join(["-o", str(target), *folders]))
    finally:
        os.chdir(cwd)
    # the full cocopp output is large (several MB of figures per run); keep its per-group ECDF figures
    # (with the best-2009 reference) next to the tables, where they are committed
    figures = out / "cocopp_ecdf"
    if figures.exists():
        shutil.rmtree(figures)
    figures.mkdir()
    for svg in target.glob("*/pprldmany_*D_*.svg"):
        shutil.copy2(svg, figures / svg.name)
    return target


def write_report(out: Path, records: list[dict[str, Any]], summary: dict[str, Any], meta: dict[str, Any]) -> None:
    """``summary.md``, ``summary.csv``, ``ert.csv``, ``summary.json`` and ``ecdf_<D>D.png`` under ``out``."""
    groups = ["all", *GROUPS]
    counts: dict[tuple[str, int], int] = {}
    for r in records:
        counts[r["method"], r["dim"]] = counts.get((r["method"], r["dim"]), 0) + 1
    runs = ", ".join(f"{m} {d}-D: {n}" for (m, d), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])))
    md = ["# COCO/BBOB: qiml against the baselines", "",
          f"Every finished run at budget {summary['budget']} x D in `runs.jsonl` (one run per bbob function and "
          f"instance; runs per method and dimension: {runs}). Latest command: `{meta['command']}`. "
          f"{environment_line(meta)} cocopp's ECDF per function group, with the best-2009 record: `cocopp_ecdf/*.svg` "
          "(its full output, `cocopp/index.html`, is rebuilt locally and not committed).", "",
          "## ECDF area at the full budget (share of the 51 targets x runs solved, averaged over log10(evals/D); "
          "higher is better)", ""]

    def area_table(rows: list[dict[str, Any]], dim_records: list[dict[str, Any]]) -> list[str]:
        best = {g: np.nanmax([a[g] for a in rows]) if any(np.isfinite(a[g]) for a in rows) else np.nan
                for g in groups}
        lines = ["| method | runs | " + " | ".join(groups) + " |", "|---|---|" + "---|" * len(groups)]
        for a in rows:
            cells = ["n/a" if not np.isfinite(a[g]) else f"**{a[g]:.3f}**" if a[g] == best[g] else f"{a[g]:.3f}"
                     for g in groups]
            n = sum(r["method"] == a["method"] for r in dim_records)
            lines.append(f"| {a['method']} | {n} | " + " | ".join(cells) + " |")
        return [*lines, ""]

    for d in summary["dims"]:
        at_d = [r for r in records if r["dim"] == d]
        md += [f"### {d}-D", "", *area_table([a for a in summary["areas"] if a["dim"] == d], at_d)]
        # methods run on fewer instances (the costly ones) are compared again on the shared instances
        sets = {m: {r["instance"] for r in at_d if r["method"] == m} for m in dict.fromkeys(r["method"] for r in at_d)}
        common = set.intersection(*sets.values()) if sets else set()
        if common and any(v != common for v in sets.values()):
            shared = [r for r in at_d if r["instance"] in common]
            md += [f"{d}-D on the instances every method ran ({', '.join(map(str, sorted(common)))}):", "",
                   *area_table(summarise(shared, summary["budget"])["areas"], shared)]
    md += ["## ERT to reach f_opt + 1e-5 (evaluations; inf: no run did)", ""]
    for d in summary["dims"]:
        rows = [e for e in summary["ert"] if e["dim"] == d]
        methods = list(dict.fromkeys(e["method"] for e in rows))
        fids = sorted({e["function"] for e in rows})
        md += [f"### {d}-D", "", "| f | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for f in fids:
            cells = []
            for m in methods:
                v = [e["ert_1e-5"] for e in rows if (e["method"], e["function"]) == (m, f)]
                cells.append("" if not v else "inf" if not np.isfinite(v[0]) else f"{v[0]:.3g}")
            md.append(f"| f{f} | " + " | ".join(cells) + " |")
        md.append("")
    (out / "summary.md").write_text("\n".join(md))
    atomic_write_csv(out / "summary.csv", summary["areas"], ["method", "dim", *groups])
    atomic_write_csv(out / "ert.csv", summary["ert"], list(summary["ert"][0]) if summary["ert"] else ["method"])
    (out / "summary.json").write_text(json.dumps({"meta": meta, **summary}, indent=1))
    _plot_ecdf(out, records, summary)


def _plot_ecdf(out: Path, records: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    plt = pyplot()
    panels = [("all functions", tuple(range(1, 25))), *GROUPS.items()]
    for d in summary["dims"]:
        fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True, sharey=True)
        for ax, (title, fids) in zip(axes.flat, panels, strict=True):
            for m in summary["methods"]:
                rs = [r for r in records if r["method"] == m and r["dim"] == d and r["function"] in fids]
                if rs:
                    x, y = ecdf(rs, summary["budget"])
                    ax.step(x, y, where="post", label=m, lw=2.2 if m.startswith("qiml") else 1.2)
            ax.set(xscale="log", title=title, ylim=(0, 1))
            ax.grid(alpha=0.3)
        for ax in axes[1]:
            ax.set_xlabel("evaluations / D")
        for ax in axes[:, 0]:
            ax.set_ylabel("share of (run, target) pairs")
        axes.flat[0].legend(fontsize=7, loc="upper left")
        fig.suptitle(f"bbob {d}-D: ECDF of 51 targets (f_opt + 1e2 .. 1e-8), budget {summary['budget']} x D")
        fig.tight_layout()
        fig.savefig(out / f"ecdf_{d:02d}D.png", dpi=110)
        plt.close(fig)
