"""Where a study writes: ``docs/results/<name>/`` for a full run, a scratch folder for a smoke run.

A smoke run (tiny budgets, to check that a study works) must never overwrite a committed result:
its default folder is ``$QIML_SCRATCH/<name>`` (default: ``<temp dir>/qiml-smoke/<name>``), and
:func:`output_folder` refuses a smoke run into any folder whose ``meta.json`` records a full run.
Paths are relative to the current directory, never to where the package is installed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import ConfigError

__all__ = ["RESULTS", "results_dir", "scratch_dir", "output_folder", "SmokeIntoResultsError"]

#: the results tree, relative to the current directory (the checkout's root when run from there)
RESULTS = Path("docs") / "results"


class SmokeIntoResultsError(ConfigError):
    """A smoke run was pointed at a folder holding a full run's results."""


def results_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """``<root>/<name>`` (default root ``docs/results``): where the full run of study ``name`` lives."""
    return (Path(root) if root is not None else RESULTS) / name


def scratch_dir(name: str) -> Path:
    """Where smoke runs of study ``name`` go: ``$QIML_SCRATCH/<name>`` or ``<temp dir>/qiml-smoke/<name>``."""
    base = os.environ.get("QIML_SCRATCH")
    return (Path(base).expanduser() if base else Path(tempfile.gettempdir()) / "qiml-smoke") / name


def output_folder(name: str, out: str | os.PathLike[str] | None, smoke: bool) -> Path:
    """The folder a run of study ``name`` writes: ``out`` if given, else :func:`results_dir` (full run) or
    :func:`scratch_dir` (smoke run). Raises :class:`SmokeIntoResultsError` for a smoke run into a folder
    whose ``meta.json`` says it holds a full run."""
    folder = Path(out) if out is not None else (scratch_dir(name) if smoke else results_dir(name))
    if smoke and _holds_full_run(folder):
        raise SmokeIntoResultsError(
            f"refusing a smoke run into {folder}: its meta.json records a full run, which the smoke run would "
            f"overwrite; omit --out (smoke runs default to {scratch_dir(name)}) or give a scratch folder")
    return folder


def _holds_full_run(folder: Path) -> bool:
    try:
        return json.loads((folder / "meta.json").read_text()).get("mode") == "full"
    except (OSError, ValueError, AttributeError):
        return False
