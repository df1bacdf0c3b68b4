"""Cost of one potential update of a spiking network: the incremental slice against NX full simulations.

    python -m qiml.studies.snn_cost [--nx 64] [--samples 50] [--repeats 7]
    python -m qiml.studies.snn_cost --smoke     # NX = 8, 10 samples, 1 repeat, into a scratch folder
    qiml reproduce snn-cost

For two network sizes (GunPoint-shaped: 1 channel x 150 steps, 16 neurons with 8 delayed taps per
input; BasicMotions-shaped: 6 channels x 100 steps, 64 neurons with 2 taps, recurrent-free, delays
up to 10 steps) it times, on the same batch and machine, median over repeats:

* **full**: the loss at NX parameter vectors that differ in one last-layer weight, each by a whole
  simulation of the network (``forward_rows``, what a black box costs);
* **slice**: the same NX losses from :class:`qiml.snn.slices.SpikingSlicer` (that neuron re-simulated
  for all NX points at once), with the base point's simulation cached (a request after a tell that
  moved no parameter of this network's other neurons);
* **slice + base**: the same with the base simulation redone first (the cost of a request after a move).

Writes ``cost.md``, ``cost.csv`` and ``cost.png`` to ``--out`` (default ``docs/results/snn-cost``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write_csv, atomic_write_text
from ..nn import NetworkObjective
from ..requests import SliceRequest
from ..snn import SpikingNetwork
from .args import int_in, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata

NAME = "snn-cost"
DEFAULTS: dict[str, Any] = {"nx": 64, "samples": 50, "repeats": 7}
SMOKE: dict[str, Any] = {"nx": 8, "samples": 10, "repeats": 1}

#: (label, SpikingNetwork arguments)
SIZES = (("GunPoint-shaped: 1 x 150 steps, 16 neurons, 8 taps, delays <= 30",
          {"n_channels": 1, "n_steps": 150, "hidden": (16,), "n_outputs": 2, "taps": 8, "max_delay": 30}),
         ("BasicMotions-shaped: 6 x 100 steps, 64 neurons, 2 taps, delays <= 10",
          {"n_channels": 6, "n_steps": 100, "hidden": (64,), "n_outputs": 4, "taps": 2, "max_delay": 10}))


def _median_seconds(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure(kw: dict[str, Any], nx: int, samples: int, repeats: int, seed: int = 0) -> dict[str, float]:
    """Median seconds of the three ways to get one slice's NX losses, and a check that they agree."""
    rng = np.random.default_rng(seed)
    net = SpikingNetwork(**kw)
    X = rng.normal(size=(samples, net.in_features))
    y = rng.integers(0, net.n_outputs, samples)
    obj = NetworkObjective(net, X, y, "cross_entropy")
    space = net.space()
    x = space.snap(net.init(rng))
    last = net.layers[-1]
    p = last.start + (last.h // 2) * last.per          # the first weight of a middle neuron
    values = np.linspace(space.lower[p], space.upper[p], nx)[None, :]
    req = SliceRequest.along_axes(x, np.array([p]), values, np.array([nx]), space)
    thetas = np.repeat(x[None], nx, axis=0)
    thetas[:, p] = values[0]

    def full() -> np.ndarray:
        return np.asarray(obj.loss(net.forward_rows(X, thetas), y).mean(axis=-1))

    slicer = net.slicer(obj)

    def cached() -> np.ndarray:
        return slicer.potentials(req)[1][0]

    def fresh() -> np.ndarray:
        slicer._key = None                               # forget the base point: simulate it again
        return slicer.potentials(req)[1][0]

    agree = float(np.max(np.abs(full() - fresh())))
    return {"full": _median_seconds(full, repeats), "slice": _median_seconds(cached, repeats),
            "slice + base": _median_seconds(fresh, repeats), "max_abs_diff": agree, "n_params": net.n_params}


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(NAME, __doc__.split("\n\n")[0], workers=False,
                      smoke_help=", ".join(f"{k} {v}" for k, v in SMOKE.items()))
    ap.add_argument("--nx", type=int_in(2, 4096), default=None,
                    help=f"grid points per slice (default {DEFAULTS['nx']})")
    ap.add_argument("--samples", type=int_in(1), default=None,
                    help=f"samples in the batch (default {DEFAULTS['samples']})")
    ap.add_argument("--repeats", type=int_in(1), default=None, help=f"repeats (default {DEFAULTS['repeats']})")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    meta = run_metadata(["python -m qiml.studies.snn_cost", *(sys.argv[1:] if argv is None else argv)],
                        nx=args.nx, samples=args.samples, repeats=args.repeats, smoke=args.smoke)
    rows = []
    for label, kw in SIZES:
        m = measure(kw, args.nx, args.samples, args.repeats)
        rows.append({"network": label, "n_params": m["n_params"], "full_ms": 1e3 * m["full"],
                     "slice_ms": 1e3 * m["slice"], "slice_base_ms": 1e3 * m["slice + base"],
                     "speedup_cached": m["full"] / m["slice"], "speedup_with_base": m["full"] / m["slice + base"],
                     "max_abs_diff": m["max_abs_diff"]})
    lines = [f"# One potential update of a spiking network: NX = {args.nx} losses along one weight, {args.samples} "
             "samples", "",
             f"Median over {args.repeats} repeats, one process. {environment_line(meta)} Command: "
             f"`python -m qiml.studies.snn_cost --nx {args.nx} --samples {args.samples} --repeats {args.repeats}`.",
             "", "| network | P | NX full simulations (ms) | incremental slice, base cached (ms) | "
             "slice + base simulation (ms) | speed-up, cached | speed-up with base | max abs difference |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['n_params']} | {r['full_ms']:.1f} | {r['slice_ms']:.2f} | "
                     f"{r['slice_base_ms']:.1f} | {r['speedup_cached']:.1f}x | {r['speedup_with_base']:.1f}x | "
                     f"{r['max_abs_diff']:.1e} |")
    out = args.out
    atomic_write_text(out / "cost.md", "\n".join(lines) + "\n")
    atomic_write_csv(out / "cost.csv", rows, float_format=".6g")
    plot(rows, out / "cost.png", f"NX = {args.nx}, {args.samples} samples, median of {args.repeats}")
    print("\n".join(lines))


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Milliseconds per slice for each network: full simulations, the cached slice and slice + base."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3))
    width = 0.25
    for i, (key, label) in enumerate((("full_ms", "NX full simulations"), ("slice_base_ms", "slice + base"),
                                      ("slice_ms", "slice, base cached"))):
        ax.bar(np.arange(len(rows)) + (i - 1) * width, [r[key] for r in rows], width, label=label)
    ax.set_xticks(range(len(rows)), [r["network"].split(":")[0] for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("milliseconds per slice (log)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
