"""Where a study writes: ``docs/results/<name>/`` for a full run, a scratch folder for a smoke run.

A smoke run (tiny budgets, to check that a study works) must never overwrite a committed result:
its default folder is ``$QIML_SCRATCH/<name>`` (default: ``<temp dir>/qiml-smoke/<name>``), and
:func:`output_folder` refuses a smoke run into any folder whose ``meta.json`` records a full run.
:func:`prepare_output_folder` also creates the folder and checks it can be written, before the run, so a bad
``--out`` is one clear error (:class:`OutputFolderError`) instead of a traceback at the first file written.
Paths are relative to the current directory, never to where the package is installed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import ConfigError

__all__ = ["RESULTS", "results_dir", "scratch_dir", "output_folder", "make_folder", "prepare_output_folder",
           "SmokeIntoResultsError", "OutputFolderError"]

#: the results tree, relative to the current directory (the checkout's root when run from there)
RESULTS = Path("docs") / "results"


class SmokeIntoResultsError(ConfigError):
    """A smoke run was pointed at a folder holding a full run's results."""


class OutputFolderError(ConfigError):
    """An output folder is a file, cannot be created, or cannot be written."""


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


def make_folder(folder: str | os.PathLike[str], label: str | None = None) -> Path:
    """Create ``folder`` (and its parents) if needed and check that a file can be created in it; return it.

    Raises :class:`OutputFolderError` naming ``label`` (default: the folder) when ``folder`` is a file, cannot
    be created (a parent is a file, a read-only or virtual file system) or cannot be written:

    >>> make_folder("/proc/no-such-folder", "--out /proc/no-such-folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qiml.studies.folders.OutputFolderError: --out /proc/no-such-folder: cannot create the folder: [Errno 2] ...
    """
    path = Path(folder)
    label = label or str(path)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{label}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(f"{label}: cannot create the folder: {exc}") from exc
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OutputFolderError(f"{label}: cannot write in the folder: {exc}") from exc
    return path


def prepare_output_folder(name: str, out: str | os.PathLike[str] | None, smoke: bool) -> Path:
    """:func:`output_folder`, created and checked writable (:func:`make_folder`): what a study calls before it
    runs. Errors (:class:`SmokeIntoResultsError`, :class:`OutputFolderError`) name ``--out`` when it was given."""
    folder = output_folder(name, out, smoke)
    label = f"--out {out}" if out is not None else f"the default output folder {folder} (choose one with --out)"
    return make_folder(folder, label)


def _holds_full_run(folder: Path) -> bool:
    try:
        return json.loads((folder / "meta.json").read_text()).get("mode") == "full"
    except (OSError, ValueError, AttributeError):
        return False
