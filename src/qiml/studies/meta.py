"""The one record of how and where a study ran: command, date, machine, package versions, git commit.

Every study's ``meta.json`` (written by ``qiml reproduce``) and every table's provenance line come
from :func:`run_metadata`, so they agree and name the same things.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .._version import __version__
from ..parallel import cpu_count

__all__ = ["run_metadata", "versions", "machine", "git_state", "environment_line"]

#: distributions whose versions are recorded (label -> distribution name)
VERSIONED = {"numpy": "numpy", "scipy": "scipy", "cma": "cma", "torch": "torch", "scikit-learn": "scikit-learn",
             "matplotlib": "matplotlib", "cocoex": "coco-experiment", "cocopp": "cocopp", "nevergrad": "nevergrad"}


def versions() -> dict[str, str]:
    """Versions of qiml and of the packages the studies depend on ("not installed" when absent)."""
    out = {"qiml": __version__}
    for name, dist in VERSIONED.items():
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    """Platform, CPU count (all and usable) and Python of this machine."""
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "usable_cpus": cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation()}


def git_state(root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Commit of the git checkout at ``root`` (default: the current directory) and whether it has
    uncommitted changes to tracked files; ``None`` for both outside a checkout or without git."""
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                                  timeout=30).stdout.strip()

        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") != ""
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def run_metadata(argv: Sequence[str] | None = None, **extra: Any) -> dict[str, Any]:
    """How this run was made: ``command`` (``argv``, default this process's, as a shell line), ``date``
    (ISO, local time zone), ``machine``, ``versions``, ``git``; ``extra`` fields (seeds, budgets, ...)
    are added as given."""
    argv = list(sys.argv if argv is None else argv)
    if argv and argv[0].endswith((".py", "__main__.py")) and "qiml" in Path(argv[0]).parts:
        argv[0] = "python -m " + _module_of(Path(argv[0]))
    return {"command": " ".join([argv[0], shlex.join(argv[1:])]).strip() if argv else "",
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine(), "versions": versions(), "git": git_state(), **extra}


def _module_of(path: Path) -> str:
    """``.../qiml/studies/tunnelling.py`` -> ``qiml.studies.tunnelling`` (how ``python -m`` was called)."""
    parts = list(path.with_suffix("").parts)
    parts = parts[len(parts) - 1 - parts[::-1].index("qiml"):]
    if parts[-1] == "__main__":
        parts = parts[:-1]
    return ".".join(parts)


def environment_line(meta: dict[str, Any]) -> str:
    """One sentence for a table's provenance: date, machine, cores, Python and the main versions."""
    m, v = meta["machine"], meta["versions"]
    libs = ", ".join(f"{k} {v[k]}" for k in ("qiml", "numpy", "scipy", "cma", "torch") if v.get(k, "not installed")
                     != "not installed")
    return (f"Run {meta['date'][:10]} on {m['machine']} ({m['usable_cpus']} usable of {m['cpu_count']} CPUs), "
            f"Python {m['python']}, {libs}.")
