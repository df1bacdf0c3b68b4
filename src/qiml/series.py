"""Time-series datasets that aeon ships in its wheel: UCR/UEA classification sets, read without aeon.

``aeon==1.6.0`` bundles a few archive problems as ``.ts`` text files (GunPoint, ItalyPowerDemand,
ArrowHead, BasicMotions, ...). :func:`load_ucr` reads them straight out of the wheel: the wheel is
fetched once with ``pip download --no-deps`` into the cache (``$QIML_CACHE`` or ``~/.cache/qiml``),
its sha256 checked, and never installed (aeon would pin another NumPy and pull numba). Nothing is
unpickled; the ``.ts`` parser is :func:`read_ts`.

``python -m qiml.series`` fetches the wheel (what ``./dev data`` does for every dataset).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .datasets import DataNotFoundError, DownloadError, download_wheel
from .errors import ConfigError
from .files import cache_dir, sha256

__all__ = ["AEON_WHEEL", "AEON_WHEEL_SHA256", "UCR_SETS", "ONE_NN_ED", "fetch_aeon_wheel", "load_ucr", "read_ts"]

#: the distribution whose wheel carries the series (read, never installed)
AEON_WHEEL = "aeon==1.6.0"
#: sha256 of ``aeon-1.6.0-py3-none-any.whl`` as the registry serves it
AEON_WHEEL_SHA256 = "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409"
_WHEEL_NAME = "aeon-1.6.0-py3-none-any.whl"
#: the classification problems in the wheel that the studies use
UCR_SETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions")
#: published 1-NN Euclidean-distance test accuracy (the UCR archive's reference) of the univariate sets
ONE_NN_ED = {"GunPoint": 0.913, "ItalyPowerDemand": 0.955, "ArrowHead": 0.800}


def fetch_aeon_wheel(cache: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """The cached aeon wheel (downloaded once with ``download=True``; else :class:`DataNotFoundError`)."""
    folder = cache_dir(cache)
    path = folder / _WHEEL_NAME
    if path.is_file():
        return path
    if not download:
        raise DataNotFoundError(f"the aeon wheel (time-series data) is not cached at {path}; run "
                                "`python -m qiml.series` once to download it")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qiml-aeon-") as tmp:
        wheel = download_wheel(AEON_WHEEL, tmp)
        digest = sha256(wheel)
        if digest != AEON_WHEEL_SHA256:
            raise DownloadError(f"{wheel.name}: sha256 {digest} is not the expected {AEON_WHEEL_SHA256}")
        staged = folder / f".{_WHEEL_NAME}.{os.getpid()}.part"
        shutil.copyfile(wheel, staged)
        os.replace(staged, path)
    return path


def load_ucr(name: str, split: str = "train", *, cache: str | os.PathLike[str] | None = None,
             download: bool = True) -> tuple[NDArray[np.float64], NDArray[np.str_]]:
    """``(X, y)`` of a bundled classification problem: series (N, C, T) floats and labels (N,) strings.

    ``split`` is ``"train"`` or ``"test"`` (the archive's own split).
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    wheel = fetch_aeon_wheel(cache, download=download)
    member = f"aeon/datasets/data/{name}/{name}_{split.upper()}.ts"
    with zipfile.ZipFile(wheel) as zf:
        if member not in zf.namelist():
            have = sorted({n.split("/")[3] for n in zf.namelist() if n.startswith("aeon/datasets/data/")
                           and n.endswith(f"_{split.upper()}.ts")})
            raise ConfigError(f"the aeon wheel has no problem {name!r}; it has {have}")
        text = zf.read(member).decode("utf-8")
    return read_ts(text, source=member)


def read_ts(text: str, source: str = "<text>") -> tuple[NDArray[np.float64], NDArray[np.str_]]:
    """Parse the ``.ts`` format of equal-length series with class labels: ``@`` header lines, then after
    ``@data`` one sample per line, its channels separated by ``:`` and the label last."""
    lines = [ln.strip() for ln in text.splitlines()]
    try:
        start = next(i for i, ln in enumerate(lines) if ln.lower() == "@data") + 1
    except StopIteration:
        raise ConfigError(f"{source}: no @data line; not a .ts file") from None
    rows: list[list[list[float]]] = []
    labels: list[str] = []
    for ln in lines[start:]:
        if not ln or ln.startswith("#"):
            continue
        *channels, label = ln.split(":")
        try:
            rows.append([[float(v) for v in ch.split(",")] for ch in channels])
        except ValueError as exc:
            raise ConfigError(f"{source}: a value that is not a number ({exc}); missing values are not supported") \
                from exc
        labels.append(label)
    lengths = {len(ch) for r in rows for ch in r}
    if not rows or len({len(r) for r in rows}) != 1 or len(lengths) != 1:
        raise ConfigError(f"{source}: series of unequal length or channel count are not supported")
    return np.array(rows, dtype=np.float64), np.array(labels)


if __name__ == "__main__":  # pragma: no cover
    print(fetch_aeon_wheel())
