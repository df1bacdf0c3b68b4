"""File plumbing shared by checkpoints, datasets, applications and studies: atomic writes and the cache folder.

Every file qiml writes that a crash must not leave half-written (checkpoints, cached datasets,
study tables) goes through :func:`atomic_write`: the bytes go to a temporary file in the target's
directory, are flushed and fsynced, and the temporary file is renamed over the target, so a reader
sees the old file or the new one, never a mixture.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_csv", "cache_dir"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any], mode: int = 0o644) -> Path:
    """Call ``write(fileobj)`` on a temporary binary file next to ``path``, then rename it over ``path``.

    ``mode`` is the new file's permission bits (``mkstemp`` creates 0600; written files are readable
    like any other). On any exception, including ``KeyboardInterrupt``, the temporary file is removed
    and ``path`` keeps its previous content. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]],
                     fieldnames: Sequence[str] | None = None) -> Path:
    """Write ``rows`` (dicts) as CSV with a header to ``path`` atomically; columns are ``fieldnames`` (default:
    the first row's keys, in order). Values are written with ``str``; missing keys are empty cells."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames if fieldnames is not None else rows[0] if rows else []),
                            restval="", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder for downloaded and generated data: ``override`` if given, else ``$QIML_CACHE``,
    else ``~/.cache/qiml``. Not created here; writers create what they need below it."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("QIML_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "qiml"
