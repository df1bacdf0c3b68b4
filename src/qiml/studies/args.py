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
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..parallel import cpu_count
from .folders import output_folder
from .runner import limit_threads

__all__ = ["study_parser", "resolve", "pyplot"]


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
        ap.add_argument("--workers", type=int, default=cpu_count(), help="worker processes (default: usable cores)")
    ap.set_defaults(study_name=name)
    return ap


def resolve(args: argparse.Namespace, defaults: Mapping[str, Any], smoke: Mapping[str, Any], *,
            pin_blas: bool = True) -> argparse.Namespace:
    """Fill the options left at ``None`` from ``smoke`` (with ``--smoke``) or ``defaults``, then set ``args.out``
    to the study's folder (:func:`qiml.studies.folders.output_folder`). Keys of ``defaults`` missing from
    ``smoke`` keep their full-run value in a smoke run. With ``pin_blas`` (a study that sets BLAS threads
    itself passes False) BLAS is pinned to one thread in this process (:func:`qiml.studies.runner.limit_threads`):
    a study's parallelism is across its runs, and wall-clock budgets and timings must not depend on BLAS
    threads. Returns ``args``."""
    for key, value in {**defaults, **(smoke if args.smoke else {})}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if getattr(args, "workers", 1) < 1:
        raise SystemExit("--workers must be >= 1")
    args.out = output_folder(args.study_name, args.out, args.smoke)
    if pin_blas:
        limit_threads()
    return args


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (studies write PNG files, never windows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
