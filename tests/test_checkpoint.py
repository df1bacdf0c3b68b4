"""The checkpoint module: atomic, pickle-free, round-trips arrays and metadata exactly."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import qiml
from qiml import CheckpointError
from qiml.engine import checkpoint


def sample_state() -> dict:
    rng = np.random.default_rng(0)
    return {
        "x": rng.standard_normal(5),
        "psi": rng.standard_normal((2, 4)) + 1j * rng.standard_normal((2, 4)),
        "order": np.array([3, 1, 2], dtype=np.intp),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 3)),
        "nfev": 123,
        "best_f": float("inf"),
        "phase": "quantum",
        "pending": None,
        "rng": {"bit_generator": "PCG64", "state": {"state": 2**100 + 7, "inc": 12345}},
        "config": {"nested": [1, 2.5, "a", None], "flag": True},
    }


def test_round_trip_arrays_and_metadata(tmp_path):
    state = sample_state()
    path = checkpoint.save(state, tmp_path / "ck.npz")
    assert path == tmp_path / "ck.npz" and path.is_file()
    back = checkpoint.load(path)
    assert set(back) == set(state)
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
            np.testing.assert_array_equal(back[k], v)
        else:
            assert back[k] == v, k
    assert back["rng"]["state"]["state"] == 2**100 + 7          # big ints survive exactly


def test_save_creates_parent_directories(tmp_path):
    path = checkpoint.save({"a": np.arange(3)}, tmp_path / "deep" / "er" / "ck.npz")
    np.testing.assert_array_equal(checkpoint.load(path)["a"], np.arange(3))


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "ck.npz"
    for i in range(3):
        checkpoint.save({"i": i, "a": np.full(4, float(i))}, target)
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert checkpoint.load(target)["i"] == 2


def test_failed_write_keeps_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "ck.npz"
    checkpoint.save({"i": 1, "a": np.arange(3)}, target)
    before = target.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save({"i": 2, "a": np.arange(4)}, target)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert target.read_bytes() == before
    assert checkpoint.load(target)["i"] == 1


def test_save_rejects_object_arrays_and_non_json_metadata(tmp_path):
    with pytest.raises(CheckpointError, match="object array"):
        checkpoint.save({"a": np.array([{}, None], dtype=object)}, tmp_path / "a.npz")
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        checkpoint.save({"a": object()}, tmp_path / "b.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["file", "allow_pickle", "__meta__"])
def test_save_rejects_arrays_named_like_savez_arguments(tmp_path, name):
    """np.savez would take these for its own arguments (or the metadata's entry) instead of saving them."""
    with pytest.raises(CheckpointError, match="reserved name"):
        checkpoint.save({name: np.arange(3)}, tmp_path / "a.npz")
    assert os.listdir(tmp_path) == []


class _Evil:
    """Unpickling this runs code that writes a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_load_never_unpickles_object_arrays(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.npz"
    meta = json.dumps({"format": checkpoint.FORMAT, "meta": {}})
    np.savez(path, __meta__=np.array(meta), x=np.array([_Evil(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        checkpoint.load(path)
    assert not marker.exists()


def test_load_never_unpickles_metadata(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.npz"
    np.savez(path, __meta__=np.array([_Evil(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError):
        checkpoint.load(path)
    assert not marker.exists()


def test_load_never_unpickles_a_raw_pickle(tmp_path):
    import pickle
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Evil(str(marker))))
    with pytest.raises(CheckpointError):
        checkpoint.load(path)
    assert not marker.exists()


def test_load_rejects_missing_and_random_files(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        checkpoint.load(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        checkpoint.load(tmp_path)                                # a directory
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        checkpoint.load(junk)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        checkpoint.load(empty)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_load_rejects_truncated_file(tmp_path, keep):
    good = checkpoint.save(sample_state(), tmp_path / "good.npz")
    raw = good.read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        checkpoint.load(bad)


def test_load_rejects_npz_that_is_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    with pytest.raises(CheckpointError, match="no metadata"):
        checkpoint.load(tmp_path / "plain.npz")
    np.savez(tmp_path / "json.npz", __meta__=np.array("{not json"))
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.load(tmp_path / "json.npz")
    np.savez(tmp_path / "fmt.npz", __meta__=np.array(json.dumps({"format": "other-2", "meta": {}})))
    with pytest.raises(CheckpointError, match="expected 'qiml-checkpoint-1'"):
        checkpoint.load(tmp_path / "fmt.npz")


def test_load_rejects_plain_npy_file(tmp_path):
    # np.load returns an ndarray (not an archive) for .npy data: still "not a checkpoint"
    path = tmp_path / "array.npy"
    np.save(path, np.arange(3))
    with pytest.raises(CheckpointError):
        checkpoint.load(path)


@pytest.mark.parametrize("payload", [{"format": checkpoint.FORMAT}, {"format": checkpoint.FORMAT, "meta": [1, 2]},
                                     {"format": checkpoint.FORMAT, "meta": "text"}])
def test_load_rejects_malformed_metadata(tmp_path, payload):
    path = tmp_path / "meta.npz"
    np.savez(path, __meta__=np.array(json.dumps(payload)))
    with pytest.raises(CheckpointError):
        checkpoint.load(path)


def test_optimizer_checkpoint_is_a_plain_npz(tmp_path):
    opt = qiml.QiML([(-1, 1)] * 2, seed=0, max_evals=500, directions="axes")
    X = opt.ask()
    opt.tell(X, np.sum(X ** 2, axis=1))
    path = opt.save(tmp_path / "opt.npz")
    with np.load(path, allow_pickle=False) as z:
        assert "__meta__" in z.files and "dir.inner.psi" in z.files
        assert all(z[k].dtype != object for k in z.files)
    state = checkpoint.load(path)
    assert state["nfev"] == opt.nfev and state["nit"] == 1
    np.testing.assert_array_equal(state["dir.inner.psi"], opt.strategy.inner.psi)
