"""Atomic, pickle-free checkpoints of an optimizer's ``state_dict()``.

A state dict is a flat mapping of names to NumPy arrays plus JSON-able metadata. It is written
as an ``.npz`` archive (zip, CRC-checked) holding the arrays and one JSON string; it is loaded
with ``allow_pickle=False``, so a checkpoint can never execute code. Writes go to a temporary
file in the same directory, are flushed to disk and then renamed over the target, so a crash
leaves either the old or the new checkpoint, never half of one (see :func:`qiml.files.atomic_write`,
which also removes temporary files that killed writers left behind).

Loading is bounded in memory: before any array is read, every member's declared size (the zip
directory's and the array header's, which must agree) is checked, and their sum must stay under
``max_bytes``; :meth:`qiml.QiML.load` derives that bound from its own shapes. A zip bomb or a header
claiming terabytes is refused without being decompressed.
"""

from __future__ import annotations

import json
import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import CheckpointError, QimlError
from ..files import atomic_write

__all__ = ["save", "load", "as_array", "FORMAT", "MAX_BYTES"]

FORMAT = "qiml-checkpoint-1"
#: default bound on the bytes :func:`load` will read (the arrays' declared sizes, summed)
MAX_BYTES = 2**30
_META = "__meta__"
_RESERVED = (_META, "file", "allow_pickle")   # np.savez(file, *args, allow_pickle=True, **kwds)


def save(state: dict[str, Any], path: str | os.PathLike[str], *, format: str = FORMAT, noun: str = "checkpoint",
         error: type[QimlError] = CheckpointError) -> Path:
    """Write ``state`` atomically to ``path`` (an ``.npz`` file); return the path.

    ``format``, ``noun`` and ``error`` let other pickle-free files share this format (a model file:
    :mod:`qiml.deploy.model_file`): the format tag checked on loading, the word for the file in
    messages, and the error raised.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"cannot write a {noun} to {path}: it is a directory (give a file name such as "
                    f"{path / ('run.ckpt.npz' if noun == 'checkpoint' else 'model.npz')})")
    arrays = {k: np.asarray(v) for k, v in state.items() if isinstance(v, np.ndarray)}
    meta = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    for k, a in arrays.items():
        if a.dtype == object:
            raise error(f"state entry {k!r} is an object array; a {noun} holds plain arrays only")
        if k in _RESERVED:   # np.savez would take them for its own arguments (or the metadata's entry)
            raise error(f"state entry {k!r} has a reserved name; arrays may not be named {_RESERVED}")
    try:
        meta_json = json.dumps({"format": format, "meta": meta})
    except TypeError as exc:
        raise error(f"state metadata is not JSON-serialisable: {exc}") from exc
    # 0600: a checkpoint may hold a model's weights; it stays private to its owner like mkstemp's file
    entries: dict[str, Any] = {**arrays, _META: np.array(meta_json)}
    try:
        atomic_write(path, lambda fh: np.savez(fh, **entries), mode=0o600)
    except OSError as exc:   # a full disk, a read-only folder: the previous checkpoint is untouched
        raise error(f"could not write the {noun} {path}: {exc.strerror or exc}; "
                              f"{'the previous one is intact' if path.exists() else 'nothing was written'}") from exc
    return path


def load(path: str | os.PathLike[str], max_bytes: int = MAX_BYTES, *, format: str = FORMAT, noun: str = "checkpoint",
         error: type[QimlError] = CheckpointError) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save`; raise :class:`CheckpointError` if it is not one.

    ``max_bytes`` bounds the memory spent: the arrays' declared sizes are checked before any is read
    (see the module docstring), so at most about ``max_bytes`` are allocated whatever the file holds.
    ``format``, ``noun`` and ``error``: as for :func:`save`.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"no {noun} at {path}")
    try:
        _check_sizes(path, max_bytes, noun, error)
        with np.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise error(f"{path} is not a qiml {noun} (no metadata)")
            payload = json.loads(str(z[_META]))
            arrays = {k: z[k] for k in z.files if k != _META}
    except error:
        raise
    except (OSError, ValueError, TypeError, AttributeError, EOFError, zipfile.BadZipFile, KeyError, zlib.error,
            NotImplementedError, RuntimeError, SyntaxError, tokenize.TokenError) as exc:
        # NotImplementedError: an unknown zip compression; RuntimeError: an encrypted member or JSON nested too
        # deep; SyntaxError, TokenError: an .npy header whose text is not a Python literal
        raise error(f"{path} is corrupt or not a qiml {noun}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != format:
        raise error(f"{path} has format {payload.get('format') if isinstance(payload, dict) else None!r}, "
                    f"expected {format!r}")
    if not isinstance(payload.get("meta"), dict):
        raise error(f"{path} has no metadata mapping; it is corrupt")
    state: dict[str, Any] = dict(payload["meta"])
    state.update(arrays)
    return state


def as_array(value: Any, name: str, dtype: Any = float) -> NDArray[Any]:
    """A loaded state entry as an array of ``dtype``: reals where reals belong, ints where ints do; a complex
    entry for reals, a float one for ints or one of strings is a :class:`CheckpointError`, never a silent cast."""
    a = np.asarray(value)
    target = np.dtype(dtype)
    allowed = {"c": "biufc", "f": "biuf", "i": "biu", "u": "biu", "b": "b"}.get(target.kind, target.kind)
    if a.dtype.kind not in allowed:
        raise CheckpointError(f"state entry {name!r} holds {a.dtype} values where {target} values belong")
    return a.astype(target)


def _check_sizes(path: Path, max_bytes: int, noun: str, error: type[QimlError]) -> None:
    """Refuse ``path`` unless it is a zip of ``.npy`` members whose headers declare plain arrays exactly
    as large as the members, together at most ``max_bytes``; reads only the headers."""
    if not zipfile.is_zipfile(path):
        raise error(f"{path} is corrupt or not a qiml {noun}: not an .npz archive")
    total = 0
    with zipfile.ZipFile(path) as zf:
        members = zf.infolist()
        for info in members:
            total += info.file_size
            if not info.filename.endswith(".npy") or total > max_bytes:
                break
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version not in ((1, 0), (2, 0)):
                    raise error(f"{path} is corrupt or not a qiml {noun}: member {info.filename!r} "
                                          f"is .npy version {version}")
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(fh)
                declared = fh.tell() + math.prod(shape) * dtype.itemsize
            if dtype.hasobject or declared != info.file_size:
                raise error(f"{path} is corrupt or not a qiml {noun}: member {info.filename!r} declares "
                                      f"{'objects' if dtype.hasobject else f'{declared} bytes'} but holds "
                                      f"{info.file_size} bytes")
    bad = [m.filename for m in members if not m.filename.endswith(".npy")]
    if bad:
        raise error(f"{path} is corrupt or not a qiml {noun}: member {bad[0]!r} is not an array")
    if total > max_bytes:
        holder = "this optimizer's state" if noun == "checkpoint" else f"this {noun}"
        raise error(f"{path} declares at least {total} bytes of arrays, more than {holder} can hold "
                    f"({max_bytes} bytes): it is not a {noun} of this {'run' if noun == 'checkpoint' else 'kind'}")
