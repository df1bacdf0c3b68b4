"""Resumable studies: one JSON line per finished run, keyed by ``"key"``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["load_runs"]


def load_runs(path: Path) -> dict[str, dict[str, Any]]:
    """The records of ``path`` (JSON lines) by key; a line cut short by an interruption is skipped, so
    that run is redone. A missing file is an empty study."""
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[rec["key"]] = rec
    return done
