"""Engine overhead per evaluation on a cheap vectorised objective (P = 100, NX = 64 by default).

    python -m qiml.studies.engine_overhead [--dim 100] [--nx 64] [--evals 200000] [--repeats 5]
    python -m qiml.studies.engine_overhead --smoke      # P = 10, NX = 16, 2000 evaluations, into a scratch folder
    qiml reproduce engine-overhead                      # the full run, with meta.json and log.txt

Reports median microseconds per evaluation over repeats, for qiml with axis slices of ``--nx``
points (blocks of 1 and 10), with adapted directions (3-point slices, so many more requests per
evaluation) and with the walker ensemble (``search="walkers"``, its default population and 256
walkers), each in total and excluding the time spent inside the objective, with pycma's ask/tell
loop (its default population and 256) and plain random search on the same objective and budget in
the same process (one BLAS thread) as references. Writes ``engine_overhead.md``, the same table as
``engine_overhead.csv`` and a bar plot ``engine_overhead.png`` to ``--out`` (default
``docs/results/engine-overhead``; a scratch folder with ``--smoke``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import minimize
from ..engine.options import MAX_NX
from ..files import atomic_write_csv, atomic_write_text
from ..objective import Objective
from .args import check_run_budget, int_in, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata

NAME = "engine-overhead"
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both)
DEFAULTS: dict[str, Any] = {"dim": 100, "nx": 64, "evals": 200_000, "repeats": 5}
SMOKE: dict[str, Any] = {"dim": 10, "nx": 16, "evals": 2000, "repeats": 1}


def sphere(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def time_qiml(dim: int, evals: int, seed: int, **options: Any) -> tuple[float, float, int]:
    obj = Objective(sphere, dim, vectorized=True)
    t0 = time.perf_counter()
    res = minimize(obj, [(-5.0, 5.0)] * dim, max_evals=evals, seed=seed, **options)
    total = time.perf_counter() - t0
    return total, total - obj.seconds, res.nfev


def time_cma(dim: int, evals: int, seed: int, popsize: int | None = None) -> tuple[float, int]:
    import cma
    opts = {"seed": seed + 1, "verbose": -9, "maxfevals": evals, "bounds": [-5.0, 5.0]}
    if popsize is not None:
        opts["popsize"] = popsize
    es = cma.CMAEvolutionStrategy(np.zeros(dim), 2.0, opts)
    n = 0
    t0 = time.perf_counter()
    while not es.stop():
        X = es.ask()
        F = sphere(np.asarray(X))
        es.tell(X, F.tolist())
        n += len(X)
    return time.perf_counter() - t0, n


def time_random(dim: int, evals: int, seed: int) -> tuple[float, int]:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    best = np.inf
    for start in range(0, evals, 1000):
        X = rng.uniform(-5, 5, size=(min(1000, evals - start), dim))
        best = min(best, sphere(X).min())
    return time.perf_counter() - t0, evals


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(NAME, __doc__.split("\n\n")[0], workers=False,
                      smoke_help=", ".join(f"{k} {v}" for k, v in SMOKE.items()))
    ap.add_argument("--dim", type=int_in(1), default=None, help=f"dimension P (default {DEFAULTS['dim']})")
    ap.add_argument("--nx", type=int_in(3, MAX_NX), default=None,
                    help=f"points per axis slice (default {DEFAULTS['nx']})")
    ap.add_argument("--evals", type=int_in(1), default=None, help=f"evaluations per run (default {DEFAULTS['evals']})")
    ap.add_argument("--repeats", type=int_in(1), default=None, help=f"repeats (default {DEFAULTS['repeats']})")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    # the block-10 run evaluates up to 10 slices (one per parameter) of nx points, plus the current point, at once
    block = min(10, args.dim)
    check_run_budget(ap, "--evals", args.evals, args.evals, need=block * args.nx + 1, where=f" with --nx {args.nx}",
                     why=f"one block of {block} slices of nx points, plus the current point")
    out = args.out
    rows: dict[str, list[float]] = {}
    for r in range(args.repeats):
        for name, opts in (("qiml axes (block 1)", {"directions": "axes", "nx": args.nx}),
                           ("qiml axes (block 10)", {"directions": "axes", "nx": args.nx, "block": 10}),
                           ("qiml slices (adapted, 3 points)", {"search": "slices"}),
                           ("qiml walkers (default population)", {"search": "walkers"}),
                           ("qiml walkers (256)", {"search": "walkers", "walkers": 256})):
            total, engine, n = time_qiml(args.dim, args.evals, r, **opts)
            rows.setdefault(f"{name}: total", []).append(1e6 * total / n)
            rows.setdefault(f"{name}: engine only", []).append(1e6 * engine / n)
        for label, popsize in (("default population", None), ("256", 256)):
            t, n = time_cma(args.dim, args.evals, r, popsize)
            rows.setdefault(f"pycma ask/tell ({label}): total", []).append(1e6 * t / n)
        t, n = time_random(args.dim, args.evals, r)
        rows.setdefault("random search: total", []).append(1e6 * t / n)
    ref = float(np.median(rows["random search: total"]))
    meta = run_metadata(["python -m qiml.studies.engine_overhead", *(sys.argv[1:] if argv is None else argv)],
                        dim=args.dim, nx=args.nx, evals=args.evals, repeats=args.repeats, smoke=args.smoke)
    lines = [f"# Engine overhead, P = {args.dim}, NX = {args.nx}, {args.evals} evaluations of a vectorised sphere",
             "", f"Median over {args.repeats} repeats in one process. {environment_line(meta)} Command: "
             f"`python -m qiml.studies.engine_overhead --dim {args.dim} --nx {args.nx} --evals {args.evals} "
             f"--repeats {args.repeats}`.", "",
             "| what | microseconds per evaluation (median) | min | max | x random search |", "|---|---|---|---|---|"]
    for name, v in rows.items():
        lines.append(f"| {name} | {np.median(v):.2f} | {min(v):.2f} | {max(v):.2f} | {np.median(v) / ref:.1f} |")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "engine_overhead.md", "\n".join(lines) + "\n")
    atomic_write_csv(out / "engine_overhead.csv", [
        {"what": name, "median_us_per_eval": f"{np.median(v):.4g}", "min_us": f"{min(v):.4g}",
         "max_us": f"{max(v):.4g}", "x_random_search": f"{np.median(v) / ref:.3g}", "repeats": args.repeats,
         "dim": args.dim, "nx": args.nx, "evals": args.evals} for name, v in rows.items()])
    plot(rows, out / "engine_overhead.png", f"P = {args.dim}, NX = {args.nx}, {args.evals} evaluations, "
         f"{args.repeats} repeat(s)")
    print("\n".join(lines))


def plot(rows: dict[str, list[float]], path: Path, title: str) -> None:
    """Median microseconds per evaluation per row of the table, with the min-max range as error bars."""
    plt = pyplot()
    names = list(rows)[::-1]
    med = np.array([np.median(rows[n]) for n in names])
    lo, hi = med - [min(rows[n]) for n in names], [max(rows[n]) for n in names] - med
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.3))
    ax.barh(range(len(names)), med, xerr=[lo, hi], color="C0", capsize=3)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("microseconds per evaluation (median; bars: min-max), log scale")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
