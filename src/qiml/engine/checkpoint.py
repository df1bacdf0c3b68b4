"""Atomic, pickle-free checkpoints of an optimizer's ``state_dict()``.

A state dict is a flat mapping of names to NumPy arrays plus JSON-able metadata. It is written
as an ``.npz`` archive (zip, CRC-checked) holding the arrays and one JSON string; it is loaded
with ``allow_pickle=False``, so a checkpoint can never execute code. Writes go to a temporary
file in the same directory, are flushed to disk and then renamed over the target, so a crash
leaves either the old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..files import atomic_write

__all__ = ["save", "load", "FORMAT"]

FORMAT = "qiml-checkpoint-1"
_META = "__meta__"
_RESERVED = (_META, "file", "allow_pickle")   # np.savez(file, *args, allow_pickle=True, **kwds)


def save(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` atomically to ``path`` (an ``.npz`` file); return the path."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"cannot write a checkpoint to {path}: it is a directory (give a file name such as "
                              f"{path / 'run.ckpt.npz'})")
    arrays = {k: np.asarray(v) for k, v in state.items() if isinstance(v, np.ndarray)}
    meta = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    for k, a in arrays.items():
        if a.dtype == object:
            raise CheckpointError(f"state entry {k!r} is an object array; checkpoints hold plain arrays only")
        if k in _RESERVED:   # np.savez would take them for its own arguments (or the metadata's entry)
            raise CheckpointError(f"state entry {k!r} has a reserved name; arrays may not be named {_RESERVED}")
    try:
        meta_json = json.dumps({"format": FORMAT, "meta": meta})
    except TypeError as exc:
        raise CheckpointError(f"state metadata is not JSON-serialisable: {exc}") from exc
    # 0600: a checkpoint may hold a model's weights; it stays private to its owner like mkstemp's file
    entries: dict[str, Any] = {**arrays, _META: np.array(meta_json)}
    atomic_write(path, lambda fh: np.savez(fh, **entries), mode=0o600)
    return path


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save`; raise :class:`CheckpointError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise CheckpointError(f"{path} is not a qiml checkpoint (no metadata)")
            payload = json.loads(str(z[_META]))
            arrays = {k: z[k] for k in z.files if k != _META}
    except CheckpointError:
        raise
    except (OSError, ValueError, TypeError, AttributeError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        # TypeError/AttributeError: np.load gave a plain array (an .npy file), not an archive
        raise CheckpointError(f"{path} is corrupt or not a qiml checkpoint: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {payload.get('format') if isinstance(payload, dict) else None!r}, "
                              f"expected {FORMAT!r}")
    if not isinstance(payload.get("meta"), dict):
        raise CheckpointError(f"{path} has no metadata mapping; it is corrupt")
    state: dict[str, Any] = dict(payload["meta"])
    state.update(arrays)
    return state
