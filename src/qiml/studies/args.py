"""The command line every study shares: ``--out``, ``--workers``, ``--smoke``, and smoke defaults that give way.

A study declares its full-run defaults and its smoke-run defaults as two dicts and leaves the
corresponding options at ``default=None``; :func:`resolve` fills each option the user did not give
from the smoke dict (``--smoke``) or the full one. So ``--smoke --seeds 3`` is a smoke run with
3 seeds, never a silent 1, and a full run's defaults live in one place, shown in ``--help``.

>>> ap = study_parser("demo", "A demo study.")
>>> _ = ap.add_argument("--seeds", type=int, default=None)
>>> a = resolve(ap.parse_args(["--smoke", "--seeds", "3"]), {"seeds": 5}, {"seeds": 1})
>>> a.seeds, a.smoke, a.out.name
(3, True, 'demo')

A bad option is a usage error (exit 2, one ``error:`` line naming the option), never a traceback: counts and
seconds are declared with the argparse types :func:`int_in` and :func:`positive_float`, and :func:`resolve`
creates the output folder up front (:func:`qiml.studies.folders.prepare_output_folder`), reporting a folder
that is a file, cannot be created or cannot be written through :func:`usage_error`.

>>> int_in(1)("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be an integer >= 1, got 0
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from ..errors import QimlError
from ..parallel import cpu_count
from .folders import prepare_output_folder
from .runner import limit_threads

__all__ = ["study_parser", "resolve", "usage_error", "int_in", "positive_float", "check_run_budget", "MIN_RUN_EVALS",
           "pyplot"]

#: the fewest evaluations a qiml run can have: one slice of the loss on the engine's default axis grid
#: (``nx`` = 64 points) plus the current point; the engine refuses a smaller ``max_evals`` (ConfigError)
MIN_RUN_EVALS = 64 + 1


def study_parser(name: str, doc: str | None, *, workers: bool = True, smoke_help: str = "") -> argparse.ArgumentParser:
    """An ``ArgumentParser`` for study ``name`` (run as ``python -m qiml.studies.<module>``) with ``--out``,
    ``--smoke`` and, with ``workers=True``, ``--workers`` (default: the usable cores)."""
    module = name.replace("-", "_")
    ap = argparse.ArgumentParser(prog=f"python -m qiml.studies.{module}", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None,
                    help=f"results folder (default docs/results/{name}; with --smoke a scratch folder)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny budgets into a scratch folder: a check of the pipeline, not of the claim"
                         + (f" ({smoke_help})" if smoke_help else "") + "; options given explicitly are kept")
    if workers:
        ap.add_argument("--workers", type=int_in(1), default=cpu_count(),
                        help="worker processes (default: usable cores)")
    ap.set_defaults(study_name=name)
    return ap


def resolve(args: argparse.Namespace, defaults: Mapping[str, Any], smoke: Mapping[str, Any], *,
            pin_blas: bool = True) -> argparse.Namespace:
    """Fill the options left at ``None`` from ``smoke`` (with ``--smoke``) or ``defaults``, then set ``args.out``
    to the study's folder (:func:`qiml.studies.folders.output_folder`), created and checked writable; a folder
    refused is a usage error (:func:`usage_error`, exit 2). Keys of ``defaults`` missing from
    ``smoke`` keep their full-run value in a smoke run. With ``pin_blas`` (a study that sets BLAS threads
    itself passes False) BLAS is pinned to one thread in this process (:func:`qiml.studies.runner.limit_threads`):
    a study's parallelism is across its runs, and wall-clock budgets and timings must not depend on BLAS
    threads. Returns ``args``."""
    for key, value in {**defaults, **(smoke if args.smoke else {})}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    try:
        args.out = prepare_output_folder(args.study_name, args.out, args.smoke)
    except QimlError as exc:       # a smoke run into full results, an --out that cannot be created or written
        usage_error(args, str(exc))
    if pin_blas:
        limit_threads()
    return args


def usage_error(args: argparse.Namespace, message: str) -> NoReturn:
    """Exit with status 2 and ``python -m qiml.studies.<module>: error: <message>`` on stderr, as argparse does
    for a bad option: for what only shows after parsing (an output folder, a combination of options). A parser
    at hand does the same with ``ap.error(message)``, which adds the usage line."""
    print(f"python -m qiml.studies.{args.study_name.replace('-', '_')}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]`` (``high=None``: no upper end). Anything else is a
    usage error naming the option: ``error: argument --seeds: must be an integer >= 1, got 0``."""
    want = f">= {low}" if high is None else f"in {low}..{high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer {want}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {want}, got {value}")
        return value

    parse.__name__ = f"integer {want}"
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number > 0 (seconds, heights): ``error: argument --budget: must be a
    finite number > 0, got -1.0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value}")
    return value


def check_run_budget(ap: argparse.ArgumentParser, option: str, value: float, evals: float,
                     need: int = MIN_RUN_EVALS, where: str = "", why: str = "one slice of the loss: nx + 1") -> None:
    """A usage error (``ap.error``, exit 2) when ``option``, given as ``value``, leaves the smallest run ``evals``
    evaluations (``where``: which run, e.g. " at 1-D"), fewer than ``need`` (``why``: by default one slice of the
    loss, nx + 1): caught before the study starts rather than as the engine's error inside its first run."""
    if evals < need:
        ap.error(f"argument {option}: {value:g} gives {evals:g} evaluations per run{where}; a run needs at least "
                 f"{need} ({why})")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (studies write PNG files, never windows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
