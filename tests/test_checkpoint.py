"""The checkpoint module: atomic, pickle-free, round-trips arrays and metadata exactly."""

from __future__ import annotations

import errno
import io
import json
import os
import tracemalloc
import zipfile

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


def test_full_disk_keeps_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    """A disk that fills up half-way through the archive: a CheckpointError saying so, the previous
    checkpoint intact, and no temporary file left."""
    target = tmp_path / "ck.npz"
    checkpoint.save({"i": 1, "a": np.arange(3)}, target)
    before = target.read_bytes()
    real_savez = np.savez

    def fill_up(fh, **entries):
        class Full:   # accepts 100 bytes, then the device is full
            written = 0

            def write(self, b):
                if self.written + len(b) > 100:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                self.written += len(b)
                return fh.write(b)

            def __getattr__(self, name):
                return getattr(fh, name)
        real_savez(Full(), **entries)

    monkeypatch.setattr(np, "savez", fill_up)
    with pytest.raises(CheckpointError, match="No space left on device; the previous one is intact") as info:
        checkpoint.save({"i": 2, "a": np.arange(4000)}, target)
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert target.read_bytes() == before
    assert checkpoint.load(target)["i"] == 1
    with pytest.raises(CheckpointError, match="nothing was written"):
        monkeypatch.setattr(np, "savez", fill_up)
        checkpoint.save({"a": np.arange(4000)}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == ["ck.npz"]


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


# ----------------------------------------------------------------------------- bounded loading
def _npz_member(zf: zipfile.ZipFile, name: str, shape: tuple, payload_bytes: int) -> None:
    """Write member ``name`` with an .npy header declaring float64 ``shape`` and ``payload_bytes`` zeros."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zf.open(name, "w", force_zip64=True) as fh:
        fh.write(header.getvalue())
        block = bytes(2**20)
        for start in range(0, payload_bytes, len(block)):
            fh.write(block[: min(len(block), payload_bytes - start)])


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_header_claiming_terabytes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        _npz_member(zf, "x.npy", (2**40,), 64)          # declares 8 TiB, holds 64 bytes
        zf.writestr("__meta__.npy", b"")
    def load():
        with pytest.raises(CheckpointError, match=r"member 'x.npy' declares 8796093022336 bytes but holds"):
            checkpoint.load(path)
    assert _peak_bytes(load) < 2**20


def test_zip_bomb_is_refused_without_decompressing(tmp_path):
    """A 2 MB archive of 2 GB of zeros (honest headers): refused from its declared size, with about no
    memory spent, by checkpoint.load's default bound and by an optimizer's own, much smaller, bound."""
    path = tmp_path / "bomb.npz"
    n = 2**28                                             # float64s: 2 GiB
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        _npz_member(zf, "x.npy", (n,), 8 * n)
    assert path.stat().st_size < 16 * 2**20
    def load():
        with pytest.raises(CheckpointError, match=r"declares at least 2147483776 bytes of arrays, more than"):
            checkpoint.load(path)
    assert _peak_bytes(load) < 2**20
    opt = qiml.QiML([(-1.0, 1.0)] * 3, seed=0, max_evals=500)
    assert opt.checkpoint_bytes() < 64 * 2**20
    def load_opt():
        bound = opt.checkpoint_bytes()
        with pytest.raises(CheckpointError, match=rf"more than this optimizer's state can hold \({bound} bytes\)"):
            opt.load(path)
    assert _peak_bytes(load_opt) < 2**20


def test_optimizer_bound_admits_its_own_checkpoints(tmp_path):
    """The bound derived from the shapes is never below what a run writes: the walkers' largest
    ensemble and a long history fit."""
    for search in ("slices", "walkers"):
        opt = qiml.QiML([(-5.0, 5.0)] * 4, seed=1, max_evals=3000, search=search)
        while not opt.stop():
            X = opt.ask()
            opt.tell(X, np.sum(X**2, axis=1))
        path = opt.save(tmp_path / f"{search}.npz")
        with zipfile.ZipFile(path) as zf:
            assert sum(i.file_size for i in zf.infolist()) < opt.checkpoint_bytes()
        fresh = qiml.QiML([(-5.0, 5.0)] * 4, seed=1, max_evals=3000, search=search)
        fresh.load(path)
        assert fresh.nfev == opt.nfev


def test_member_that_is_not_an_array_is_refused(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__meta__.npy", b"\x93NUMPY")
        zf.writestr("evil.pkl", b"cos\nsystem\n")
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        checkpoint.load(path)


# ----------------------------------------------------------------------------- states the loader must refuse
# each a case the Hypothesis suites (tests/test_properties.py) found accepted, or failing with a raw error
def _state(tmp_path, search="slices", pending=True, **kw):
    opt = qiml.QiML([(-1.0, 1.0)] * 2, seed=0, max_evals=2000, search=search, **kw)
    for _ in range(4):
        X = opt.ask()
        opt.tell(X, np.sum(X**2, axis=1))
    if pending:
        opt.ask()
    return checkpoint.load(opt.save(tmp_path / "ck.npz")), opt


LOADER_CASES = [
    # (what, search, options, edit, message)
    ("pending point outside the box", "slices", {}, {"req_x": np.array([5.0, 5.0])}, "'req_x' holds points"),
    ("a slice of one point", "slices", {}, {"block.counts": np.array([1])}, r"2..3 grid points"),
    ("a slice of no point", "slices", {}, {"block.counts": np.array([0])}, r"2..3 grid points"),
    ("a centre off the grid", "slices", {}, {"block.centre": np.array([99])}, "centre lies outside its grid"),
    ("no centre for adapted slices", "slices", {}, {"block.centre": np.array([-1])}, "lack the grid point"),
    ("a NaN grid point", "slices", {}, {"block.grid": np.full((1, 3), np.nan)}, "NaN or infinite grid points"),
    ("a direction index out of range", "slices", {}, {"block.tag": np.array([2])}, r"indices must lie in \[0, 2\)"),
    ("another strategy's slices", "slices", {"directions": "axes"}, {"block.source": "adapted"},
     "come from strategy 'adapted', not 'axes'"),
    ("counts of the wrong shape", "slices", {}, {"block.counts": np.array(4)}, "do not agree in shape"),
    ("best point outside the box", "slices", {}, {"best_x": np.array([4.0, 4.0])}, "'best_x' holds points"),
    ("NaN in the history", "slices", {}, {"history": np.array([[10.0, np.nan]])}, "history"),
    ("infinite count in the history", "slices", {}, {"history": np.array([[np.inf, 1.0]])}, "history"),
    ("best loss NaN", "slices", {}, {"best_f": float("nan")}, "'best_f' must be a loss"),
    ("best loss -inf", "slices", {}, {"best_f": float("-inf")}, "'best_f' must be a loss"),
    ("negative evaluation count", "slices", {}, {"nfev": -5}, "'nfev' must be >= 0"),
    ("infinite evaluation count", "slices", {}, {"nfev": float("inf")}, "OverflowError"),
    ("config a list", "slices", {}, {"config": []}, "config is a list"),
    ("walker phase in a slices run", "slices", {}, {"phase": "walkers"}, "not one of this run's"),
    ("refinement without a population", "slices", {}, {"phase": "refine"}, "needs a population"),
    ("walker path beyond 1e100", "walkers", {}, {"walk.pc": np.full(2, 3e154)}, "'pc' holds values beyond"),
    ("walkers outside the unit cube", "walkers", {}, {"walk.walkers": np.full((16, 2), 1e153)},
     "outside the unit cube"),
    ("pending population with no rows", "walkers", {}, {"req_X": np.zeros((0, 2))}, "population is empty"),
    ("pending population of infinities", "walkers", {}, {"req_X": np.full((4, 2), np.inf)}, "'req_X' holds points"),
    ("pending population of the wrong shape", "walkers", {}, {"req_X": np.zeros(4)}, "'req_X' has shape"),
]


@pytest.mark.parametrize("what, search, kw, edit, match", LOADER_CASES, ids=[c[0] for c in LOADER_CASES])
def test_loader_refuses_states_it_cannot_go_on_from(tmp_path, what, search, kw, edit, match):
    state, opt = _state(tmp_path, search, **kw)
    state.update(edit)
    fresh = qiml.QiML([(-1.0, 1.0)] * 2, seed=0, max_evals=2000, search=search, **kw)
    with pytest.raises(CheckpointError, match=match):
        fresh.load_state_dict(state)
    assert fresh.nfev == 0 and fresh.history == []          # nothing half-loaded


def test_npy_header_that_is_not_a_literal_is_a_checkpoint_error(tmp_path):
    _, opt = _state(tmp_path)
    raw = (tmp_path / "ck.npz").read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    x = members["x.npy"]
    members["x.npy"] = x.replace(b"'shape': (2,), }", b"'shape': (2,    ")   # an unclosed tuple
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        checkpoint.load(bad)
    with pytest.raises(CheckpointError, match="corrupt or not a qiml checkpoint"):
        opt.load(bad)


@pytest.mark.parametrize("key, value", [("x", np.array([0.1 + 1j, 0.0])), ("history", np.array([[1, 2j]])),
                                        ("block.counts", np.array([2.5])), ("block.grid", np.array([["a", "b", "c"]]))])
def test_entries_of_the_wrong_kind_are_refused_not_cast(tmp_path, key, value):
    """Complex values where reals belong and floats where ints belong were cast silently (a ComplexWarning)."""
    state, _ = _state(tmp_path)
    state[key] = value
    with pytest.raises(CheckpointError, match=rf"'{key}' holds .* values where .* values belong"):
        qiml.QiML([(-1.0, 1.0)] * 2, seed=0, max_evals=2000, search="slices").load_state_dict(state)


@pytest.mark.parametrize("key, value, match", [("dir.scale", -1, "'scale' must be finite and >= 1"),
                                               ("dir.order_pos", -1, "'order_pos' must be finite and >= 0"),
                                               ("dir.order_pos", 99, "lies past the sweep order")])
def test_strategy_scalars_out_of_range_are_refused(tmp_path, key, value, match):
    """Found by the property suite: a negative grid scale or sweep position made ask() return no rows."""
    state, _ = _state(tmp_path)
    state[key] = value
    with pytest.raises(CheckpointError, match=match):
        qiml.QiML([(-1.0, 1.0)] * 2, seed=0, max_evals=2000, search="slices").load_state_dict(state)
