"""File plumbing shared by checkpoints, datasets, applications and studies: atomic writes and the cache folder.

Every file qiml writes that a crash must not leave half-written (checkpoints, cached datasets,
study tables) goes through :func:`atomic_write`: the bytes go to a temporary file in the target's
directory, are flushed and fsynced, and the temporary file is renamed over the target, so a reader
sees the old file or the new one, never a mixture. A writer killed mid-write (SIGKILL, power loss)
leaves its temporary file behind; the next write of the same target removes those of writers that
are no longer running (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_csv", "cache_dir", "remove_stale_temporaries", "sha256"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any], mode: int = 0o644) -> Path:
    """Call ``write(fileobj)`` on a temporary binary file next to ``path``, then rename it over ``path``.

    ``mode`` is the new file's permission bits (``mkstemp`` creates 0600; written files are readable
    like any other). On any exception, including ``KeyboardInterrupt``, the temporary file is removed
    and ``path`` keeps its previous content. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the writer's pid in the name tells a later write whether the file is still being written
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
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
    remove_stale_temporaries(path)
    return path


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` left in its folder; return them.

    A temporary file is ``.<name>.<pid>.<random>.tmp``; it is stale when no process ``pid`` runs on
    this machine (files without a pid, from older qiml versions, count as stale). Files of running
    writers, this process's included, are kept."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)\.)?[a-z0-9_]+\.tmp")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or (m.group(1) is not None and _running(int(m.group(1)))):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:   # removed by another writer meanwhile, or not ours to remove
            pass
    return removed


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (this process counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):   # another user's process, or not a pid we can ask about
        return True
    return True


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]],
                     fieldnames: Sequence[str] | None = None, *, float_format: str | None = None) -> Path:
    """Write ``rows`` (dicts) as CSV with a header to ``path`` atomically; columns are ``fieldnames`` (default:
    the first row's keys, in order). Values are written with ``str`` (floats with ``float_format``, e.g.
    ``".6g"``, when given); missing keys are empty cells."""
    if float_format is not None:
        rows = [{k: (format(v, float_format) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames if fieldnames is not None else rows[0] if rows else []),
                            restval="", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (checks of downloaded wheels)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder for downloaded and generated data: ``override`` if given, else ``$QIML_CACHE``,
    else ``~/.cache/qiml``. Not created here; writers create what they need below it."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("QIML_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "qiml"
