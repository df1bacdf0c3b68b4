"""Cost of one full potential update of a network (all P x NX loss slices) against NX forward passes.

    python -m qiml.studies.nn_potential_cost [--nx 64] [--repeats 3] [--deep-full-n 1000] [--smoke] [--out DIR]
    qiml reproduce nn-potential-cost

The issue's goal: one full potential update (all P x NX loss slices of a network) costs at most 10x the
time of NX full-batch forward passes (the naive way, one forward pass per candidate network, costs P x).
For each network this measures, in one process, with medians over repeats:

* ``t_fwd``: NX full-batch forward passes (``MLP.forward_cache`` on all N samples);
* ``t_inc``: ``NetworkObjective.potentials`` on one ``SliceRequest`` over all P parameters (a fresh
  objective per repeat, so the base network's forward pass is included), grid ``x[p] + linspace(-0.5, 0.5, NX)``;
* the same P slices requested in blocks (the engine's block for networks, ``NETWORK_OPTIONS``), summed over requests,
  once at a fixed base point (the objective's cache means nothing is recomputed between blocks) and once
  with the base point moving after every block, as in training (layers after the moved parameters are
  recomputed and, with mini-batches, every request draws a new batch);
* the naive cost: the generic ``qiml.objective.Objective`` (one ``forward_rows`` row per candidate network)
  timed on a few slices and extrapolated to all P, and the largest difference between its potentials and
  the incremental ones on those slices;
* all of it again for mini-batches (``NetworkObjective(batch_size=B)``), the ratio still taken against NX
  *full-batch* forward passes, as the issue defines it.

Writes ``potential_cost.md``, ``potential_cost.csv`` and ``potential_cost.png`` to ``--out`` (default
``docs/results/nn-potential-cost``; smoke runs: a scratch folder). Everything is timed in this one process,
one network after another (no worker pool: the ratios compare times taken close together).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..engine.options import MAX_NX
from ..files import atomic_write, atomic_write_csv, atomic_write_text
from ..nn import MLP, NetworkObjective, get_loss
from ..objective import Objective
from ..requests import SliceRequest
from ..training import NETWORK_OPTIONS
from .args import int_in, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata

NAME = "nn-potential-cost"
GOAL = 10.0                 # the bound on t_inc / t_fwd
BLOCK = int(NETWORK_OPTIONS["block"])   # directions per request in training
CURVATURE_NX = 3            # grid points per slice of the network default (curvature directions)
CHUNK_BYTES = 64 * 2**20    # the generic fallback's batch of candidate rows, as NetworkObjective.evaluate
#: the full run's options, and those ``--smoke`` changes (options given explicitly win over both); a smoke run
#: also measures smaller data sets (:func:`cases`)
DEFAULTS: dict[str, Any] = {"nx": 64, "repeats": 3, "fwd_repeats": 7, "batches": (256, 1024), "naive_slices": 6,
                            "deep_full_n": 1000, "blas_threads": 1, "seed": 0}
SMOKE: dict[str, Any] = {"nx": 16, "repeats": 1, "fwd_repeats": 1, "batches": (32, 64), "naive_slices": 3}


@dataclass(frozen=True)
class Case:
    """One network and its data: ``n`` samples in the data set, ``full_n`` of them for the full-batch row."""

    name: str
    sizes: tuple[int, ...]
    loss: str
    n: int
    full_n: int
    like: str


def cases(smoke: bool, deep_full_n: int) -> list[Case]:
    if smoke:
        return [Case("15-6-1", (15, 6, 1), "mse", 300, 300, "N(0,1) inputs"),
                Case("64-32-10", (64, 32, 10), "cross_entropy", 150, 150, "digits-sized"),
                Case("196-12-8-10", (196, 12, 8, 10), "cross_entropy", 200, 100, "MNIST-subset-sized")]
    deep = 10_000 if deep_full_n <= 0 else min(deep_full_n, 10_000)
    return [Case("15-6-1", (15, 6, 1), "mse", 5000, 5000, "N(0,1) inputs"),
            Case("64-32-10", (64, 32, 10), "cross_entropy", 1797, 1797, "like sklearn digits"),
            Case("196-12-8-10", (196, 12, 8, 10), "cross_entropy", 10_000, deep, "like an MNIST subset")]


def make_data(case: Case, rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """Random inputs N(0,1); regression targets from a random tanh teacher, or uniform random class labels."""
    X = rng.standard_normal((case.n, case.sizes[0]))
    if case.loss == "mse":
        w = rng.standard_normal((case.sizes[0], case.sizes[-1])) / np.sqrt(case.sizes[0])
        return X, np.tanh(X @ w) + 0.1 * rng.standard_normal((case.n, case.sizes[-1]))
    return X, rng.integers(0, case.sizes[-1], case.n)


# -- op counts -------------------------------------------------------------------------------------------
def op_counts(net: MLP, loss: str) -> dict[str, float]:
    """Operations per sample (and per grid point for slices), counting a multiply-add or an elementwise op as 1.

    ``fwd_ops``/``fwd_nl``: one forward pass (all ops / nonlinearities, i.e. tanh, exp, log).
    ``inc_ops``/``inc_nl``: all P slices at one grid point, as ``NetworkObjective._slices`` computes them:
    a parameter feeding neuron ``c`` of layer ``l`` needs ``c``'s new pre-activation and activation, then
    every layer downstream of ``c`` and the loss, for every sample.
    """
    sizes, L = net.layer_sizes, net.n_layers
    O = sizes[-1]
    ce = loss != "mse"
    loss_ops, loss_nl = (4 * O + 1, O + 1) if ce else (2 * O, 0)
    fwd_ops = sum(a * b + b for a, b in net.shapes) + sum(sizes[1:-1]) + loss_ops
    fwd_nl = sum(sizes[1:-1]) + loss_nl
    inc_ops = inc_nl = 0.0
    for l, (fi, fo) in enumerate(net.shapes):
        count = fi * fo + fo                       # parameters in weight layer l, each its own slice
        if l == L - 1:                             # an output's slice: only that logit moves
            ops, nl = (3, 0) if not ce else (O + loss_ops, loss_nl)
        else:
            ops, nl = 3, 1                             # rank-1 update, activation, change of the output
            if l + 1 == L - 1:
                ops, nl = (ops + 4, nl) if not ce else (ops + 2 * O + loss_ops, nl + loss_nl)
            else:
                ops += 2 * sizes[l + 2]                # dh * w + z of the next layer
                for m in range(l + 1, L - 1):
                    ops += sizes[m + 1] + sizes[m + 1] * sizes[m + 2] + sizes[m + 2]
                    nl += sizes[m + 1]
                ops += loss_ops
                nl += loss_nl
        inc_ops += count * ops
        inc_nl += count * nl
    return {"fwd_ops": fwd_ops, "fwd_nl": fwd_nl, "inc_ops": inc_ops, "inc_nl": inc_nl}


# -- timings ---------------------------------------------------------------------------------------------
def full_request(x: NDArray[np.float64], idx: NDArray[np.intp], nx: int) -> SliceRequest:
    grid = x[idx, None] + np.linspace(-0.5, 0.5, nx)[None, :]
    return SliceRequest.along_axes(x.copy(), np.asarray(idx, dtype=np.intp), grid, np.full(idx.size, nx, dtype=np.intp))


def time_forwards(net: MLP, X: NDArray[np.float64], x: NDArray[np.float64], nx: int, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(nx):
            net.forward_cache(X, x)
        out.append(time.perf_counter() - t0)
    return out


def time_all_p(make: Callable[[], NetworkObjective], x: NDArray[np.float64], nx: int, repeats: int) -> list[float]:
    """One request over all P parameters; a fresh objective per repeat (its base forward pass is timed too)."""
    req = full_request(x, np.arange(x.size), nx)
    out = []
    for _ in range(repeats):
        obj = make()
        t0 = time.perf_counter()
        obj.potentials(req)
        out.append(time.perf_counter() - t0)
    return out


def time_blocks(make: Callable[[], NetworkObjective], x0: NDArray[np.float64], nx: int, moving: bool,
                seed: int) -> float:
    """All P slices in requests of BLOCK parameters (a random sweep order, as the engine), summed over requests.

    With ``moving`` the block's parameters take a new value from their grid after each request, as an update
    does in training; otherwise every request has the same base point.
    """
    rng = np.random.default_rng(seed)
    obj, x = make(), x0.copy()
    order = rng.permutation(x.size)
    total = 0.0
    for s in range(0, order.size, BLOCK):
        req = full_request(x, order[s:s + BLOCK], nx)
        t0 = time.perf_counter()
        obj.potentials(req)
        total += time.perf_counter() - t0
        if moving:
            assert req.axes is not None        # an axis request
            x[req.axes] += req.grid[np.arange(req.axes.size), rng.integers(0, nx, req.axes.size)]
    return total


def time_curvature_sweep(net: MLP, X: NDArray[np.float64], y: NDArray[Any], loss: str, batch: int | None,
                         x0: NDArray[np.float64], seed: int) -> tuple[float, float, int]:
    """One sweep of the network default's directions (``directions="curvature"``): for every neuron
    block, its Gauss-Newton eigenvectors, then requests of BLOCK of them with CURVATURE_NX points
    each, the base point moving after every request as in training. Under MSE the output layer is
    solved (``output="solve"``), so only the hidden neurons are blocks. Returns (seconds in all,
    seconds in ``curvature``, directions sliced)."""
    rng = np.random.default_rng(seed)
    output = "solve" if loss == "mse" else "params"
    obj = NetworkObjective(net, X, y, loss, batch_size=batch, output=output)
    x = x0[:obj.dim].copy()
    blocks = [b for b in net.neuron_blocks() if b[0] < obj.dim]
    total = curv = 0.0
    half = np.arange(CURVATURE_NX) - CURVATURE_NX // 2
    for b in rng.permutation(len(blocks)):
        block = blocks[b]
        t0 = time.perf_counter()
        got = obj.curvature(x, block)
        curv += time.perf_counter() - t0
        total += time.perf_counter() - t0
        vectors = np.eye(block.size) if got is None else got[0]
        for s in range(0, block.size, BLOCK):
            coef = vectors[:, s:s + BLOCK].T
            k = coef.shape[0]
            grid = np.tile(0.05 * half, (k, 1))
            req = SliceRequest(x.copy(), np.repeat(block[None], k, axis=0), coef, grid,
                               np.full(k, CURVATURE_NX, dtype=np.intp), centre=np.full(k, CURVATURE_NX // 2))
            t0 = time.perf_counter()
            obj.potentials(req)
            total += time.perf_counter() - t0
            x[block] += coef.T @ grid[np.arange(k), rng.integers(0, CURVATURE_NX, k)]
    return total, curv, sum(b.size for b in blocks)


def sample_slices(net: MLP, k: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """About ``k`` parameters spread over every weight layer (weights and biases)."""
    per = max(1, -(-k // net.n_layers))
    picks = [rng.choice(np.flatnonzero(net.param_layer == l), min(per, int(np.sum(net.param_layer == l))),
                        replace=False) for l in range(net.n_layers)]
    return np.sort(np.concatenate(picks)).astype(np.intp)


def generic_objective(net: MLP, X: NDArray[np.float64], y: NDArray[Any], loss: str) -> Objective:
    """The naive way: a black-box ``Objective`` scoring each candidate network's row with a forward pass."""
    lossf = get_loss(loss)
    yy = y[:, None] if lossf.name == "mse" and y.ndim == 1 else y
    gen = Objective(lambda T: lossf(net.forward_rows(X, T), yy).mean(axis=-1), net.n_params, vectorized=True)
    gen.chunk = max(1, CHUNK_BYTES // (8 * X.shape[0] * max(net.layer_sizes)))
    return gen


def measure(case: Case, batch: int | None, net: MLP, x: NDArray[np.float64], X: NDArray[np.float64],
            y: NDArray[Any], args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One row: NX full-batch forwards on ``X`` vs the potential update on ``X`` (or mini-batches of it)."""
    P, nx = net.n_params, args.nx

    def make() -> NetworkObjective:
        return NetworkObjective(net, X, y, case.loss, batch_size=batch)

    fwd = time_forwards(net, X, x, nx, args.fwd_repeats)
    inc = time_all_p(make, x, nx, args.repeats)
    fwd += time_forwards(net, X, x, nx, args.fwd_repeats)     # before and after: the machine is shared
    blk_same = time_blocks(make, x, nx, moving=False, seed=seed)
    blk_move = time_blocks(make, x, nx, moving=True, seed=seed)
    fwd3 = time_forwards(net, X, x, CURVATURE_NX, args.fwd_repeats)
    t_curv, t_curv_model, n_dirs = time_curvature_sweep(net, X, y, case.loss, batch, x, seed)
    # naive: the generic fallback on a few slices, extrapolated to all P (rows: x itself, then NX per slice)
    rng = np.random.default_rng(seed)
    idx = sample_slices(net, args.naive_slices, rng)
    req = full_request(x, idx, nx)
    obj = make()
    generic: Callable[[SliceRequest], tuple[float, NDArray[np.float64]]]
    if batch is None:
        generic = generic_objective(net, X, y, case.loss).potentials
    else:   # the generic fallback of the same objective: same mini-batch, one forward_rows row per network
        def generic(r: SliceRequest) -> tuple[float, NDArray[np.float64]]:
            return Objective.potentials(obj, r)
    naive = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        f_gen, V_gen = generic(req)
        naive.append(time.perf_counter() - t0)
    f_inc, V_inc = obj.potentials(req)
    diff = max(abs(f_inc - f_gen), float(np.max(np.abs(V_inc - V_gen))))
    scale = max(abs(f_gen), float(np.max(np.abs(V_gen))))
    t_fwd, t_inc = float(np.median(fwd)), float(np.median(inc))
    t_naive = float(np.median(naive)) * (1 + P * nx) / (1 + idx.size * nx)
    ops = op_counts(net, case.loss)
    m = X.shape[0] if batch is None else batch
    return {
        "network": case.name, "loss": case.loss, "mode": "full batch" if batch is None else f"mini-batch B={batch}",
        "N": X.shape[0], "samples_per_update": m, "P": P, "nx": nx,
        "t_fwd_s": t_fwd, "t_fwd_min_s": min(fwd), "t_fwd_max_s": max(fwd),
        "t_inc_s": t_inc, "t_inc_min_s": min(inc), "t_inc_max_s": max(inc),
        "ratio": t_inc / t_fwd, "t_block_same_x_s": blk_same, "ratio_block_same_x": blk_same / t_fwd,
        "t_block_moving_x_s": blk_move, "ratio_block_moving_x": blk_move / t_fwd,
        "naive_slices": idx.size, "t_naive_extrapolated_s": t_naive, "ratio_naive_measured": t_naive / t_fwd,
        "ratio_naive_definition": P, "speedup_vs_naive": t_naive / t_inc,
        "ops_ratio": ops["inc_ops"] * m / (ops["fwd_ops"] * X.shape[0]),
        "nonlinearity_ratio": ops["inc_nl"] * m / (ops["fwd_nl"] * X.shape[0]),
        "max_abs_diff": diff, "max_rel_diff": diff / scale if scale else diff,
        "goal_met": t_inc / t_fwd <= GOAL, "repeats": args.repeats, "fwd_repeats": 2 * args.fwd_repeats,
        "t_fwd3_s": float(np.median(fwd3)), "t_curvature_sweep_s": t_curv, "t_curvature_model_s": t_curv_model,
        "curvature_directions": n_dirs, "ratio_curvature": t_curv / float(np.median(fwd3)),
    }


# -- output ----------------------------------------------------------------------------------------------
COLUMNS = [("network", "network"), ("mode", "mode"), ("N", "N"), ("samples_per_update", "samples/update"),
           ("P", "P"), ("t_fwd_s", "t_fwd [s]"), ("t_inc_s", "t_inc [s]"), ("ratio", "ratio"),
           ("ratio_block_same_x", f"ratio, blocks of {BLOCK}, same x"),
           ("ratio_block_moving_x", f"ratio, blocks of {BLOCK}, moving x"),
           ("ratio_naive_measured", "naive ratio (measured)"), ("ratio_naive_definition", "naive ratio (= P)"),
           ("speedup_vs_naive", "speed-up vs naive"), ("ops_ratio", "op-count ratio"),
           ("nonlinearity_ratio", "tanh/exp-count ratio"), ("goal_met", "<= 10x?"),
           ("max_abs_diff", "max |V_inc - V_generic|"),
           ("curvature_directions", "curvature: directions"), ("t_curvature_sweep_s", "curvature: sweep [s]"),
           ("t_curvature_model_s", "... of which Gauss-Newton [s]"),
           ("ratio_curvature", f"curvature: ratio vs {CURVATURE_NX} forwards")]


def fmt(key: str, v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    if key == "max_abs_diff":
        return f"{v:.1e}"
    if key.startswith("t_"):
        return f"{v:.3g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    atomic_write_csv(path, rows, float_format=".6g")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    series = [("ratio", "incremental, all P in one request"),
              ("ratio_block_moving_x", f"incremental, blocks of {BLOCK}, moving x"),
              ("ratio_naive_measured", "naive (generic Objective), measured")]
    labels = [f"{r['network']}\n{r['mode'].replace('mini-batch ', 'mini ')}" for r in rows]
    pos = np.arange(len(rows))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.25 * len(rows)), 4.5))
    for s, (key, label) in enumerate(series):
        ax.bar(pos + (s - (len(series) - 1) / 2) * width, [r[key] for r in rows], width, label=label)
    ax.axhline(GOAL, color="k", ls="--", lw=1, label=f"goal: {GOAL:g}x")
    ax.set_yscale("log")
    ax.set_xticks(pos, labels, fontsize=8)
    ax.set_ylabel("time / NX full-batch forward passes")
    ax.set_title(f"Cost of one full potential update (NX = {rows[0]['nx']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120))
    plt.close(fig)


def shown_command(argv: Sequence[str]) -> str:
    """The command as typed, without ``--out DIR`` (where the tables went is no setting of the run)."""
    args, skip = [], False
    for x in argv:
        if skip:
            skip = False
        elif x == "--out":
            skip = True
        elif not x.startswith("--out="):
            args.append(x)
    return " ".join(["python -m qiml.studies.nn_potential_cost", *args])


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, argv: list[str], info: dict[str, Any]) -> str:
    keys = [k for k, _ in COLUMNS]
    intro = ("The goal: one full potential update (all P x NX loss slices of a network) costs at most 10x the time "
             "of NX full-batch forward passes; the naive way (one forward pass per candidate network) costs P x. "
             f"Measured by `python -m qiml.studies.nn_potential_cost` (`qiml reproduce {NAME}`); every number below "
             "is as measured in one run.")
    setup = (f"{environment_line(info['meta'])} {info['blas']}; load average {info['load_start']} at the start and "
             f"{info['load_end']} at the end (the machine was shared with other CPU-heavy jobs, so absolute times are "
             "noisy: ratios use times taken close together in one process). Command: "
             f"`{shown_command(argv)}`.")
    columns = ("*Columns.* `t_fwd`: NX forward passes (`MLP.forward_cache`) on all N samples, median of "
               f"{rows[0]['fwd_repeats']} repeats taken before and after the update's repeats. `t_inc`: "
               "`NetworkObjective.potentials` on one `SliceRequest` over all P parameters, grid "
               "`x[p] + linspace(-0.5, 0.5, NX)`, a fresh objective per repeat (so the base network's forward pass "
               f"is included), median of {rows[0]['repeats']} repeats. `ratio = t_inc / t_fwd`. "
               f"*Blocks of {BLOCK}*: the "
               f"same P slices requested {BLOCK} at a time in a random sweep order (the engine's block for networks), "
               "time summed over the requests, one sweep: at a fixed base point (*same x*; the objective caches the "
               "base network, so nothing is recomputed between blocks) and with the block's parameters moved to a "
               "grid value after each request as in training (*moving x*: the layers from the moved parameters on "
               "are recomputed, and with mini-batches every request draws a new batch). *Naive (measured)*: the "
               "generic `qiml.objective.Objective` (one `MLP.forward_rows` row per candidate network) timed on "
               f"{rows[0]['naive_slices']} slices spread over the layers (median of {rows[0]['repeats']} repeats) and "
               "extrapolated to all P x NX rows; its potentials on those slices are compared with the incremental "
               "ones in the last column (for mini-batches the generic fallback of the same objective, so both see "
               "the same batch). *Mini-batch* rows score every request on B samples but are still divided by NX "
               "*full-batch* forward passes on all N samples, as the goal is defined. *Op-count ratios* count the "
               "operations `NetworkObjective._slices` performs per sample and grid point (a multiply-add or an "
               "elementwise op as 1; or only tanh/exp/log) over those of a forward pass. *Curvature* (the network "
               "default since issue 13): one sweep of `directions=\"curvature\"`: each neuron's Gauss-Newton "
               f"eigenvectors (the model's curvature call, timed apart), then requests of {BLOCK} of them with "
               f"{CURVATURE_NX} grid points each, x moving after each request; under MSE the output layer is solved "
               "by least squares at every grid point, so only hidden neurons are sliced. Its ratio is against "
               f"{CURVATURE_NX} full-batch forward passes (its own NX).")
    full = {r["network"]: r for r in rows if r["mode"] == "full batch"}
    counts = "; ".join(f"{n}: {r['ops_ratio']:.0f}x in all ops, {r['nonlinearity_ratio']:.0f}x in tanh/exp/log"
                       for n, r in full.items())
    why = ("*Why the ratio cannot reach 10x at full batch for deep or wide networks.* A forward pass costs about P "
           "multiply-adds per sample, done by BLAS, plus one tanh per hidden neuron. The slice of a first-layer "
           "weight `W_1[i, c]` changes the pre-activation of neuron `c` for every sample; its new activation, and "
           "everything downstream of `c` (the next layers' pre-activations and nonlinearities, the output's "
           "softmax), must then be recomputed for every sample and every one of the NX grid points. There are "
           "about P such slices (the first layer holds most parameters), so the update costs about "
           "NX x N x P x (work downstream of one neuron), against NX x N x (P + number of neurons) for NX "
           "forward passes: the ratio is about the downstream work of one neuron, and counted in nonlinearities "
           "(which dominate the incremental passes, while the forward pass is matrix products) about "
           "P/H x (downstream nonlinearities), H the number of neurons. For these networks, full batch: "
           f"{counts}. The measured ratio follows the nonlinearity count more closely than the op count: an "
           "elementwise NumPy pass over a (slices, NX, N) temporary costs far more per element than a multiply-add "
           "inside BLAS. A shallow network with a small output (15-6-1 with MSE: one "
           "tanh and a closed-form square per slice) has little work downstream of a neuron; a second hidden "
           "layer or a 10-way softmax downstream of every first-layer neuron multiplies it, whatever the "
           "implementation, as long as the slices are exact. A mini-batch of B samples costs about B/N of the "
           "full-batch update while the reference stays NX forward passes on all N samples, so the ratio falls "
           "by about N/B: the goal needs B/N <= 10 / (full-batch ratio). The measured naive ratio differs from P "
           "(its definition) because the generic fallback scores its rows with stacked forward passes "
           "(`forward_rows`), not with one full-batch `forward_cache` each, and in mini-batch rows because each row "
           "scores B samples, not N.")
    met = [f"{r['network']} {r['mode']} ({r['ratio']:.1f}x)" for r in rows if r["goal_met"]]
    missed = [f"{r['network']} {r['mode']} ({r['ratio']:.0f}x)" for r in rows if not r["goal_met"]]
    sp = [r["speedup_vs_naive"] for r in rows]
    slower = [f"{r['network']} {r['mode']}" for r in rows if r["speedup_vs_naive"] < 1]
    verdict = (f"*Goal met (ratio <= {GOAL:g}):* {'; '.join(met) if met else 'nowhere'}. "
               f"*Not met:* {'; '.join(missed) if missed else 'nowhere'}. "
               f"The incremental update is {min(sp):.1f}x to {max(sp):,.0f}x faster than the measured naive one"
               + (f", except in {'; '.join(slower)}, where it is slower." if slower else "."))
    lines = [f"# Cost of one full potential update of a network (NX = {args.nx})", "", intro, "", setup, "",
             "| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(k, r[k]) for k in keys) + " |" for r in rows]
    lines += ["", "![ratios](potential_cost.png)", "", "## Reading the table", "", columns, "", why, "", verdict, ""]
    deep = full.get("196-12-8-10")
    big = [r for r in rows if r["network"] == "196-12-8-10" and r["mode"] != "full batch"]
    if deep is not None and deep["N"] < 10_000 and not args.smoke:
        note = (f"*Note.* The full-batch row of 196-12-8-10 uses the first {deep['N']} of its 10,000 samples, to "
                "keep the run short (its mini-batch rows draw from all 10,000 samples and are divided by forward "
                "passes on all 10,000).")
        if big:
            t_fwd_all = float(np.median([r["t_fwd_s"] for r in big]))
            est = deep["t_inc_s"] * 10_000 / deep["N"] / t_fwd_all
            per = ", ".join(f"{1e3 * r['t_inc_s'] / r['samples_per_update']:.1f} ms at B = {r['samples_per_update']}"
                            for r in big)
            note += (f" Per sample the update took {1e3 * deep['t_inc_s'] / deep['N']:.1f} ms at N = {deep['N']} "
                     f"(full batch), {per}; scaled linearly to N = 10,000 it would take about "
                     f"{deep['t_inc_s'] * 10_000 / deep['N']:.0f} s, about {est:.0f}x the {t_fwd_all:.3g} s of NX "
                     "forward passes on all 10,000 samples (an estimate, not a measurement).")
        lines += [note, ""]
    return "\n".join(lines)


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    short = {"ratio_block_same_x": "block same x", "ratio_block_moving_x": "block moving x",
             "ratio_naive_measured": "naive meas.", "ratio_naive_definition": "naive = P",
             "speedup_vs_naive": "speed-up", "ops_ratio": "ops ratio", "nonlinearity_ratio": "tanh/exp ratio",
             "max_abs_diff": "max|dV|", "samples_per_update": "n/update"}
    table = Table(title=f"Full potential update vs NX = {rows[0]['nx']} full-batch forward passes")
    keys = [k for k, _ in COLUMNS]
    for k, h in COLUMNS:
        table.add_column(short.get(k, h), justify="left" if k in ("network", "mode") else "right")
    for r in rows:
        table.add_row(*(fmt(k, r[k]) for k in keys))
    Console(width=220).print(table)


def blas_limits(threads: int) -> tuple[contextlib.AbstractContextManager[Any], str]:
    """A context limiting BLAS to ``threads`` threads (threadpoolctl, if installed), and a line saying what ran."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), "BLAS threads: the library's default (threadpoolctl not installed)"
    libs = ", ".join(sorted({f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads by default)"
                             for i in threadpool_info() if i.get("user_api") == "blas"}))
    if threads <= 0:
        return contextlib.nullcontext(), f"BLAS: {libs}, threads left at the default"
    return threadpool_limits(limits=threads, user_api="blas"), f"BLAS: {libs}, limited to {threads} thread(s)"


def run_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for c, case in enumerate(cases(args.smoke, args.deep_full_n)):
        rng = np.random.default_rng([args.seed, c])
        net = MLP(case.sizes, "tanh")
        X, y = make_data(case, rng)
        x = net.init(rng)
        rows.append(measure(case, None, net, x, X[:case.full_n], y[:case.full_n], args, seed=args.seed))
        print(f"{case.name} full batch: ratio {rows[-1]['ratio']:.1f}", flush=True)
        for b in args.batches:
            if b < case.n:
                rows.append(measure(case, b, net, x, X, y, args, seed=args.seed))
                print(f"{case.name} B={b}: ratio {rows[-1]['ratio']:.1f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the measurements, write the table, CSV and plot; return the rows."""
    argv = list(sys.argv[1:] if argv is None else argv)
    d = DEFAULTS
    ap = study_parser(NAME, (__doc__ or "").split("\n\n")[0], workers=False,
                      smoke_help=f"tiny N, NX = {SMOKE['nx']}, one repeat")
    ap.add_argument("--nx", type=int_in(3, MAX_NX), default=None, help=f"grid points per slice (default {d['nx']})")
    ap.add_argument("--repeats", type=int_in(1), default=None,
                    help=f"repeats of the all-P update and of the naive sample (default {d['repeats']})")
    ap.add_argument("--fwd-repeats", type=int_in(1), default=None,
                    help=f"repeats of the NX forward passes, before and after (default {d['fwd_repeats']})")
    ap.add_argument("--batches", type=int_in(1), nargs="*", default=None,
                    help=f"mini-batch sizes (default {' '.join(map(str, d['batches']))})")
    ap.add_argument("--naive-slices", type=int_in(1), default=None,
                    help=f"slices timed for the naive extrapolation (default {d['naive_slices']})")
    ap.add_argument("--deep-full-n", type=int_in(0), default=None,
                    help=f"samples of the 196-12-8-10 full-batch row (0: all 10000; default {d['deep_full_n']})")
    ap.add_argument("--blas-threads", type=int_in(0), default=None,
                    help="BLAS threads while timing (0: the library's default); 1 keeps the forward passes steady "
                         f"on a shared machine (default {d['blas_threads']})")
    ap.add_argument("--seed", type=int_in(0), default=None, help=f"seed of the data and weights (default {d['seed']})")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE, pin_blas=False)  # --blas-threads decides
    out = args.out
    info: dict[str, Any] = {"meta": run_metadata(["python", "-m", "qiml.studies.nn_potential_cost", *argv]),
                            "load_start": " ".join(f"{v:.1f}" for v in os.getloadavg())}
    limits, info["blas"] = blas_limits(args.blas_threads)
    with limits:
        rows = run_cases(args)
    info["load_end"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "potential_cost.csv")
    atomic_write_text(out / "potential_cost.md", markdown(rows, args, argv, info))
    plot(rows, out / "potential_cost.png")
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
