"""Speed-up from spreading a run over the cores: ``workers=1`` against ``workers=N`` in one process.

    python -m qiml.studies.parallel_speedup            # writes docs/results/parallel-speedup (~3 min)
    python -m qiml.studies.parallel_speedup --smoke    # into a scratch folder
    qiml reproduce parallel-speedup                    # the full run, with meta.json and log.txt

Cases (each run ``--repeats`` times per worker count, alternating, median wall time reported; budgets
``--simulator-evals`` and ``--particle-evals``):

Both run axis slices alone (``search="slices", directions="axes"``; see ``SLICES``).

- ``simulator``: an expensive black box, the fit of the four Lotka–Volterra rates to a noisy
  trajectory, each loss a 400-step RK4 simulation in plain Python (about 1 ms per evaluation),
  updated in blocks of 4 slices (257 rows per iteration): here the objective's batches of rows run
  in parallel. A pool call costs about 10 ms, so an iteration should carry well over that;
- ``signed-particles``: a cheap vectorised loss (Rastrigin 16-D, Jacobi updates so all 16 packets
  evolve at once, two chunks of 8) where the time goes into the signed-particle solver: here the
  solver's chunks of packets run in parallel.

Both workers settings must give the same result (checked and reported). BLAS is pinned to one
thread (:func:`qiml.studies.runner.limit_threads`, before the engine's worker pool starts) so the
serial baseline does not already use several cores. Writes ``parallel_speedup.md``,
``parallel_speedup.json``, the table as ``parallel_speedup.csv`` and a bar plot ``parallel_speedup.png``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import minimize
from ..files import atomic_write_csv, atomic_write_text
from ..functions import rastrigin
from .args import MIN_RUN_EVALS, int_in, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata

NAME = "parallel-speedup"
TRUE_RATES = np.array([1.0, 0.4, 0.4, 0.1])     # prey growth, predation, predator death, conversion
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both); the
#: signed-particle case's budgets are whole iterations of 16 x 64 + 1 evaluations
DEFAULTS: dict[str, Any] = {"repeats": 3, "simulator_evals": 3000, "particle_evals": 10 * (16 * 64 + 1)}
SMOKE: dict[str, Any] = {"repeats": 1, "simulator_evals": 300, "particle_evals": 16 * 64 + 1}


def lotka_volterra(rates: np.ndarray, steps: int = 400, dt: float = 0.05) -> np.ndarray:
    """Prey/predator trajectory (steps, 2) from (10, 5) with fixed-step RK4, in plain Python floats."""
    a, b, c, d = (float(r) for r in rates)
    x, y = 10.0, 5.0
    out = np.empty((steps, 2))

    def f(x: float, y: float) -> tuple[float, float]:
        return a * x - b * x * y, -c * y + d * x * y

    for i in range(steps):
        k1 = f(x, y)
        k2 = f(x + 0.5 * dt * k1[0], y + 0.5 * dt * k1[1])
        k3 = f(x + 0.5 * dt * k2[0], y + 0.5 * dt * k2[1])
        k4 = f(x + dt * k3[0], y + dt * k3[1])
        x += dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        y += dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        x, y = min(max(x, 0.0), 1e6), min(max(y, 0.0), 1e6)   # keep diverging rates finite
        out[i] = x, y
    return out


OBSERVED = lotka_volterra(TRUE_RATES) + np.random.default_rng(0).normal(0.0, 0.5, (400, 2))


def simulator_loss(rates: np.ndarray) -> float:
    """Mean squared misfit of the simulated trajectory to the observed one."""
    return float(np.mean((lotka_volterra(rates) - OBSERVED) ** 2))


#: both cases run axis slices of 64 points alone: their requests are large enough to spread. The default
#: search's adapted 3-point slices and 16-walker generations are batches of a few dozen points, too small
#: to pay for a pool call, and walker generations do no solver work at all
SLICES: dict[str, Any] = {"search": "slices", "directions": "axes"}


def run_case(case: str, workers: int, evals: int) -> tuple[float, Any]:
    t0 = time.perf_counter()
    if case == "simulator":
        # blocks of 4 slices: about 0.3 s of evaluations per iteration, so the ~10 ms a pool call costs is small
        res = minimize(simulator_loss, [(0.05, 2.0)] * 4, seed=0, max_evals=evals, block=4, workers=workers,
                       **SLICES)
    else:
        res = minimize(rastrigin, [(-5.12, 5.12)] * 16, vectorized=True, seed=0, max_evals=evals,
                       update="jacobi", solver="signed-particles", workers=workers, **SLICES)
    return time.perf_counter() - t0, res


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = study_parser(NAME, __doc__, smoke_help=", ".join(f"{k.replace('_', ' ')} {v}" for k, v in SMOKE.items()))
    ap.add_argument("--repeats", type=int_in(1), default=None,
                    help=f"runs per case and worker count (default {DEFAULTS['repeats']})")
    ap.add_argument("--simulator-evals", type=int_in(MIN_RUN_EVALS), default=None,
                    help=f"evaluations per simulator run (default {DEFAULTS['simulator_evals']})")
    ap.add_argument("--particle-evals", type=int_in(MIN_RUN_EVALS), default=None,
                    help=f"evaluations per signed-particle run (default {DEFAULTS['particle_evals']})")
    a = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    out = a.out
    evals = {"simulator": a.simulator_evals, "signed-particles": a.particle_evals}
    rows = []
    for case in ("simulator", "signed-particles"):
        run_case(case, a.workers, evals[case])          # warm-up: starts the worker pool, imports
        times: dict[int, list[float]] = {1: [], a.workers: []}
        results: dict[int, Any] = {}
        for _ in range(a.repeats):
            for w in (1, a.workers):
                t, results[w] = run_case(case, w, evals[case])
                times[w].append(t)
        t1, tn = float(np.median(times[1])), float(np.median(times[a.workers]))
        same = bool(np.array_equal(results[1].x, results[a.workers].x) and results[1].fun == results[a.workers].fun)
        rows.append({"case": case, "evals": evals[case], "serial_s": t1, "parallel_s": tn, "speedup": t1 / tn,
                     "same_result": same, "workers": a.workers, "fun": results[1].fun})
    meta = run_metadata(["python -m qiml.studies.parallel_speedup", *(sys.argv[1:] if argv is None else argv)],
                        repeats=a.repeats, workers=a.workers, evals=evals, smoke=a.smoke)
    md = ["# Parallel speed-up", "", f"Command: `{meta['command']}`; median of {a.repeats} runs per setting, "
          f"alternating. {environment_line(meta)}", "",
          "| case | evaluations | workers=1 (s) | workers=N (s) | N | speed-up | same result |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['case']} | {r['evals']} | {r['serial_s']:.2f} | {r['parallel_s']:.2f} | {r['workers']} | "
                  f"{r['speedup']:.2f}x | {'yes' if r['same_result'] else 'NO'} |")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "parallel_speedup.md", "\n".join(md) + "\n")
    atomic_write_text(out / "parallel_speedup.json", json.dumps({"meta": meta, "rows": rows}, indent=1))
    atomic_write_csv(out / "parallel_speedup.csv", rows,
                     ["case", "evals", "serial_s", "parallel_s", "workers", "speedup", "same_result", "fun"])
    m = meta["machine"]
    plot(rows, out / "parallel_speedup.png", f"median of {a.repeats} run(s); {m['machine']}, "
         f"{m['usable_cpus']} usable cores, Python {m['python']}, NumPy {meta['versions']['numpy']}")
    print("\n".join(md))
    return {"meta": meta, "rows": rows}


def plot(rows: list[dict[str, Any]], path: Path, subtitle: str) -> None:
    """Wall time with workers=1 and workers=N per case, the speed-up written above each pair."""
    plt = pyplot()
    xs = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.bar(xs - 0.2, [r["serial_s"] for r in rows], 0.4, label="workers=1")
    ax.bar(xs + 0.2, [r["parallel_s"] for r in rows], 0.4, label=f"workers={rows[0]['workers']}")
    for x, r in zip(xs, rows, strict=True):
        ax.annotate(f"{r['speedup']:.2f}x", (x, max(r["serial_s"], r["parallel_s"])), ha="center", va="bottom")
    ax.set_xticks(xs, [f"{r['case']}\n({r['evals']} evaluations)" for r in rows])
    ax.set_ylabel("wall time (s)")
    ax.set_title("Parallel speed-up\n" + subtitle, fontsize=8)
    ax.margins(y=0.15)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
