"""Faults: writers killed mid-save, Ctrl-C, an objective that fails midway, a full disk, a time limit
inside a request. Nothing is lost: the last whole state is on disk and a resumed run continues exactly."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import qiml
from qiml import CheckpointError, ObjectiveError
from qiml.engine import checkpoint
from qiml.engine.minimize import _interrupts_deferred
from qiml.files import atomic_write, remove_stale_temporaries

BOUNDS = [(-5.0, 5.0)] * 3
RUN = {"seed": 3, "max_evals": 1500, "search": "slices"}


def rastrigin(x):
    x = np.asarray(x)
    return float(10 * x.size + np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))


def same_run(a, b) -> None:
    assert np.array_equal(a.x, b.x) and a.fun == b.fun
    assert (a.nfev, a.nit) == (b.nfev, b.nit)
    assert np.array_equal(a.history, b.history)


def python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ----------------------------------------------------------------------------- killed writers
KILLED_WRITER = """
    import os, signal, sys
    from qiml.files import atomic_write

    def write(fh):
        fh.write(b"x" * 100_000)
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)      # killed half-way through the write
    atomic_write(sys.argv[1], write)
"""


def test_a_save_removes_what_killed_writers_left(tmp_path):
    target = tmp_path / "run.ckpt.npz"
    checkpoint.save({"i": 1, "a": np.arange(5)}, target)
    for _ in range(5):
        proc = python(KILLED_WRITER, str(target))
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
    assert len(temporaries(tmp_path)) == 5                       # what the issue saw: they pile up
    assert checkpoint.load(target)["i"] == 1                      # the target was never touched
    checkpoint.save({"i": 2, "a": np.arange(5)}, target)
    assert temporaries(tmp_path) == []
    assert checkpoint.load(target)["i"] == 2


def test_a_running_writers_file_is_kept(tmp_path):
    """A concurrent writer of the same file, still running, keeps its temporary file; so does this process."""
    target = tmp_path / "table.csv"
    blocked = python("""
        import sys, time
        from qiml.files import atomic_write
        def write(fh):
            fh.write(b"partial")
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)
        atomic_write(sys.argv[1], write)
    """, str(target))
    try:
        assert blocked.stdout is not None and blocked.stdout.readline().strip() == "writing"
        mine = tmp_path / f".{target.name}.{os.getpid()}.abc123.tmp"
        mine.write_bytes(b"")
        old_style = tmp_path / f".{target.name}.k2j_9x.tmp"   # no pid: left by an older qiml
        old_style.write_bytes(b"")
        atomic_write(target, lambda fh: fh.write(b"done"))
        left = temporaries(tmp_path)
        assert len(left) == 2 and mine.name in left and old_style.name not in left
        assert any(f".{blocked.pid}." in name for name in left)
    finally:
        blocked.kill()
        blocked.communicate()
    assert [p.name for p in remove_stale_temporaries(target)] == [n for n in left if n != mine.name]
    assert target.read_bytes() == b"done"


# ----------------------------------------------------------------------------- Ctrl-C
INTERRUPTED_RUN = """
    import signal, sys, time
    from pathlib import Path
    import numpy as np
    import qiml

    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when this test runs in a background job
    # (whose children start with SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    started, calls = Path(sys.argv[2]), [0]
    def slow(x):
        # after 200 evaluations, say so and slow down: the other 1300 would take 65 s, so the signal
        # lands mid-run however loaded the machine is
        calls[0] += 1
        if calls[0] == 200:
            started.touch()
        time.sleep(0.05 if calls[0] >= 200 else 0.0)
        x = np.asarray(x)
        return float(10 * x.size + np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))
    qiml.minimize(slow, [(-5.0, 5.0)] * 3, seed=3, max_evals=1500, search="slices", checkpoint=sys.argv[1],
                  checkpoint_every=10_000)
    print("finished without interruption")
"""


def test_ctrl_c_writes_a_final_checkpoint_and_the_resume_is_exact(tmp_path):
    ck, started = tmp_path / "run.ckpt.npz", tmp_path / "started"
    proc = python(INTERRUPTED_RUN, str(ck), str(started))
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)                  # 200 evaluations or more, no periodic save yet
    out, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err and "finished" not in out, (out, err)
    assert f"the run's state was saved to {ck}" in err
    saved = checkpoint.load(ck)
    assert 0 < saved["nfev"] < RUN["max_evals"]
    resumed = qiml.minimize(rastrigin, BOUNDS, checkpoint=ck, resume=True, **RUN)
    same_run(resumed, qiml.minimize(rastrigin, BOUNDS, **RUN))


def test_ctrl_c_waits_for_the_tell():
    """SIGINT inside the deferred block is raised when the block ends, never in its middle."""
    # the handler of an interactive Python, whatever this process started with (a background job's is SIG_IGN)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        steps = []
        with pytest.raises(KeyboardInterrupt):
            with _interrupts_deferred():
                signal.raise_signal(signal.SIGINT)
                steps.append("after the signal")
        assert steps == ["after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


# ----------------------------------------------------------------------------- the objective fails midway
def test_an_objective_that_raises_midway_loses_nothing(tmp_path):
    ck = tmp_path / "run.ckpt.npz"
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] == 700:
            raise ConnectionError("simulator went away")
        return rastrigin(x)

    with pytest.raises(ObjectiveError, match="objective raised ConnectionError: simulator went away") as info:
        qiml.minimize(flaky, BOUNDS, checkpoint=ck, checkpoint_every=10_000, **RUN)
    assert any("state was saved" in note for note in info.value.__notes__)
    assert 0 < checkpoint.load(ck)["nfev"] < 700
    resumed = qiml.minimize(rastrigin, BOUNDS, checkpoint=ck, resume=True, **RUN)
    same_run(resumed, qiml.minimize(rastrigin, BOUNDS, **RUN))


def test_a_failing_callback_also_saves(tmp_path):
    ck = tmp_path / "run.ckpt.npz"

    def callback(res):
        if res.nit == 5:
            raise ValueError("plotting failed")

    with pytest.raises(ValueError, match="plotting failed"):
        qiml.minimize(rastrigin, BOUNDS, checkpoint=ck, checkpoint_every=10_000, callback=callback, **RUN)
    assert checkpoint.load(ck)["nit"] == 5


# ----------------------------------------------------------------------------- a full disk
def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """The disk fills up at the third periodic save: a CheckpointError, the second save intact on disk,
    and the run resumes from it exactly once there is room again."""
    ck = tmp_path / "run.ckpt.npz"
    real_savez, saves = np.savez, {"n": 0}

    def savez(fh, **entries):
        saves["n"] += 1
        if saves["n"] >= 3:
            fh.write(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_savez(fh, **entries)

    monkeypatch.setattr(np, "savez", savez)
    with pytest.raises(CheckpointError, match="No space left on device; the previous one is intact") as info:
        qiml.minimize(rastrigin, BOUNDS, checkpoint=ck, checkpoint_every=4, **RUN)
    assert any("could not save" in note for note in info.value.__notes__)   # the save after the error failed too
    monkeypatch.undo()
    assert temporaries(tmp_path) == []
    assert checkpoint.load(ck)["nit"] == 8
    resumed = qiml.minimize(rastrigin, BOUNDS, checkpoint=ck, resume=True, **RUN)
    same_run(resumed, qiml.minimize(rastrigin, BOUNDS, **RUN))


# ----------------------------------------------------------------------------- max_time inside a request
class FakeClock:
    """time.perf_counter for the engine and the objective; the objective advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("vectorized", [False, True])
def test_max_time_is_kept_inside_a_slice(monkeypatch, vectorized):
    """A 0.1 s objective and max_time=1: about 10 evaluations (the issue saw 65, since one slice
    request is nx + 1 = 65 rows and the clock was read only between requests)."""
    clock = FakeClock()
    monkeypatch.setattr(time, "perf_counter", clock)

    def slow(x):
        n = len(x) if vectorized else 1
        clock.now += 0.1 * n
        return np.sum(np.asarray(x) ** 2, axis=-1)

    res = qiml.minimize(slow, BOUNDS, max_time=1.0, seed=0, vectorized=vectorized, max_batch_bytes=8 * 3 * 2,
                        search="slices")
    assert res.message == "max_time reached"
    assert 10 <= res.nfev <= 12, res.nfev               # stops at the first row (batch of 2) past the limit
    assert res.elapsed < 1.25
    assert np.isfinite(res.fun) and res.fun == pytest.approx(float(np.sum(res.x**2)))
