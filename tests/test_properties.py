"""Property-based tests (Hypothesis) of qiml's contracts.

1. Spaces: for any finite box (widths from one ulp to 1e100, optional lattice steps, integer
   spaces), sampled, snapped and asked points lie in the box and on the lattice; snap is idempotent;
   invalid boxes raise :class:`qiml.BoundsError`.
2. Resume equals uninterrupted: a run saved after any number of ask/tell rounds (with or without a
   pending request) and loaded into a fresh optimizer built with the same arguments ends bit-identical.
3. The checkpoint loader: any bytes (random, or a valid checkpoint with bit flips, truncations, spliced
   bytes or a zip member replaced) give a state or :class:`qiml.CheckpointError`, nothing else, within a
   memory bound; a state QiML accepts is one it can go on from (checked separately for sound archives
   whose state was edited, so that a failure in the zip/npy layer does not hide those).
4. Objective return values: each is accepted (a real number) or refused with an ObjectiveError that
   names the problem; nothing else escapes and an accepted run reports the value returned.

The number of examples comes from the settings profile (tests/conftest.py: ``ci`` when ``CI`` is set,
``dev`` by default, ``HYPOTHESIS_PROFILE=thorough`` for long runs); :func:`_fewer` scales it down for
the costlier properties.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import assume, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from qiml import BoundsError, CheckpointError, ObjectiveError, OptimizeResult, QiML, ShapeError, Space, minimize
from qiml.engine import checkpoint
from qiml.spaces import MAX_WIDTH, as_space

FMAX = float(np.finfo(float).max)
SEEDS = st.integers(0, 2**32 - 1)
SEARCHES = ("slices", "walkers", "auto")


def _fewer(divisor: int) -> settings:
    """The profile's settings with ``max_examples`` divided by ``divisor`` (at least 5)."""
    profile = settings.default
    assert profile is not None
    return settings(max_examples=max(5, profile.max_examples // divisor))


# ================================================================================ 1. spaces
class BoxSpec(NamedTuple):
    """A box as the user gives it: ``kind`` "box", "lattice" (step 0 = continuous) or "integers"."""

    kind: str
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    step: tuple[float, ...] | None = None

    def build(self) -> Space:
        if self.kind == "integers":
            return Space.integers(list(self.lower), list(self.upper))
        return Space(self.lower, self.upper, self.step)

    @property
    def pairs(self) -> list[tuple[float, float]]:
        return list(zip(self.lower, self.upper, strict=True))


@st.composite
def intervals(draw: st.DrawFn) -> tuple[float, float]:
    """``lower < upper``, both finite: widths from one ulp (tiny or huge lower bound) up to
    ``Space``'s ``MAX_WIDTH`` (1e100; 2**332 > 1e100), anywhere on the line."""
    width = math.ldexp(draw(st.floats(1.0, 2.0, exclude_max=True)), draw(st.integers(-1074, 331)))
    lower = draw(st.one_of(st.floats(-10.0, 10.0), st.floats(-1e300, 1e300),
                           st.floats(-1e3, 1e3).map(lambda f: f * width)))
    upper = lower + width
    if not upper > lower:                     # the width is below lower's ulp: the next float up
        upper = float(np.nextafter(lower, np.inf))
    assume(upper - lower <= MAX_WIDTH)        # one ulp of a lower bound beyond ~1e116 is wider than that
    return lower, upper


def _lattice_step(draw: st.DrawFn, lower: float, upper: float) -> float:
    """A step with 1..2**24 levels in [lower, upper] that floats can still tell apart (spacing of
    the levels at least 1024 ulps), else 0 (continuous)."""
    room = (upper - lower) / (1024 * np.spacing(max(abs(lower), abs(upper))))
    if not room >= 1:
        return 0.0
    levels = draw(st.one_of(st.integers(1, 12), st.integers(1, int(min(room, 2**24)))))
    return (upper - lower) / levels


@st.composite
def decimal_lattice(draw: st.DrawFn) -> tuple[float, float, float]:
    """A lattice as people write it: a decimal step such as 0.1 and bounds that are decimal multiples of it,
    e.g. ``Space([0.0], [0.3], [0.1])`` (whose float levels 3 * 0.1 overshoot 0.3)."""
    step = Decimal(draw(st.sampled_from([1, 2, 3, 5, 7]))).scaleb(draw(st.integers(-12, 12)))
    k = draw(st.integers(-1000, 1000))
    levels = draw(st.integers(1, 1000))
    return float(k * step), float((k + levels) * step), float(step)


@st.composite
def box_specs(draw: st.DrawFn, max_dim: int = 4) -> BoxSpec:
    dim = draw(st.integers(1, max_dim))
    kind = draw(st.sampled_from(["box", "lattice", "integers"]))
    if kind == "integers":
        lows: list[int] = []
        highs: list[int] = []
        for _ in range(dim):
            low = draw(st.one_of(st.integers(-20, 20), st.integers(-(2**52), 2**52 - 1)))
            lows.append(low)
            highs.append(min(low + draw(st.one_of(st.integers(1, 10), st.integers(1, 2**52))), 2**52))
        return BoxSpec(kind, tuple(lows), tuple(highs))
    lower: list[float] = []
    upper: list[float] = []
    step: list[float] = []
    for _ in range(dim):
        how = draw(st.sampled_from(["continuous", "levels", "decimal"])) if kind == "lattice" else "continuous"
        if how == "decimal":
            lo, hi, s = draw(decimal_lattice())
        else:
            lo, hi = draw(intervals())
            s = _lattice_step(draw, lo, hi) if how == "levels" else 0.0
        lower.append(lo)
        upper.append(hi)
        step.append(s)
    return BoxSpec(kind, tuple(lower), tuple(upper), tuple(step) if kind == "lattice" else None)


def assert_in_space(sp: Space, X: Any, what: str = "points") -> None:
    """Every row of ``X`` is finite, inside ``[lower, upper]`` and, on lattice coordinates, exactly a
    level ``lower + k * step`` (as floats compute it), or the top level ``upper`` where the float level
    rounds just above the bound (``Space([0], [0.3], [0.1])``: 3 * 0.1 is 0.30000000000000004)."""
    X = np.asarray(X, dtype=float)
    assert X.ndim == 2 and X.shape[1] == sp.dim and X.shape[0] >= 1, f"{what}: shape {X.shape}"
    assert np.all(np.isfinite(X)), f"{what} not finite: {X[~np.isfinite(X)][:5]}"
    out = (X < sp.lower) | (X > sp.upper)
    assert not out.any(), f"{what} outside the box: {X[out][:5]} (lower {sp.lower}, upper {sp.upper})"
    lat = sp.is_lattice
    if lat.any():
        step = np.where(lat, sp.step, 1.0)
        k = np.round((X - sp.lower) / step)
        on = np.zeros(X.shape, dtype=bool)
        for d in (-1.0, 0.0, 1.0):
            on |= sp.lower + (k + d) * step == X
        on |= X == sp.upper
        off = lat & ~on
        assert not off.any(), f"{what} off the lattice: {X[off][:5]} (lower {sp.lower}, step {sp.step})"


def assert_space_matches(sp: Space, spec: BoxSpec) -> None:
    """The Space keeps the given lower bounds and stays inside the given upper ones ("on a lattice,
    ``upper`` is rounded down to the last lattice point")."""
    assert np.array_equal(sp.lower, np.asarray(spec.lower, dtype=float))
    given_upper = np.asarray(spec.upper, dtype=float)
    over = sp.upper > given_upper
    assert not over.any(), (f"Space.upper {sp.upper[over].tolist()} exceeds the upper bound given "
                            f"{given_upper[over].tolist()} (step {np.asarray(sp.step)[over].tolist()})")
    assert np.all(sp.upper > sp.lower)


@given(spec=box_specs(), seed=SEEDS, n=st.integers(1, 64))
def test_sample_lies_in_the_box_and_on_the_lattice(spec, seed, n):
    sp = spec.build()
    assert_space_matches(sp, spec)
    X = sp.sample(np.random.default_rng(seed), n)
    assert X.shape == (n, sp.dim)
    assert_in_space(sp, X, "sampled points")


@st.composite
def specs_and_points(draw: st.DrawFn) -> tuple[BoxSpec, list[list[float]]]:
    """A box and points anywhere: in it (relative position 0..1), near it (-2..3), at any float."""
    spec = draw(box_specs())
    sp = spec.build()
    points = []
    for _ in range(draw(st.integers(1, 6))):
        row = []
        for lo, w in zip(sp.lower, sp.width, strict=True):
            u = draw(st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0), st.floats(-2.0, 3.0)))
            row.append(draw(st.floats(allow_nan=False)) if draw(st.integers(0, 3)) == 0 else float(lo + u * w))
        points.append(row)
    return spec, points


@given(case=specs_and_points())
def test_snap_is_idempotent_and_lands_in_the_box_on_the_lattice(case):
    spec, points = case
    sp = spec.build()
    assert_space_matches(sp, spec)
    X = np.asarray(points, dtype=float)
    Y = sp.snap(X)
    assert Y.shape == X.shape
    assert_in_space(sp, Y, "snapped points")
    assert np.array_equal(sp.snap(Y), Y), "snap is not idempotent"
    inside = (X >= sp.lower) & (X <= sp.upper)
    # inside the box a continuous coordinate stays where it is, a lattice one goes to its nearest level
    keep = inside & ~sp.is_lattice
    assert np.array_equal(Y[keep], X[keep])
    lat = inside & sp.is_lattice
    step = np.broadcast_to(sp.step, X.shape)[lat]
    assert np.all(np.abs(Y[lat] - X[lat]) <= 0.5 * step * (1 + 1e-9) + 4 * np.spacing(np.abs(X[lat])))


def _unit_loss(sp: Space, X: np.ndarray) -> np.ndarray:
    """A smooth loss of the box's relative coordinates (finite for any box)."""
    u = (X - sp.lower) / sp.width
    return np.sum((u - 0.3) ** 2, axis=1) + 0.1 * np.cos(7.0 * u[:, 0])


@_fewer(4)
@given(spec=box_specs(), seed=SEEDS, search=st.sampled_from(SEARCHES), max_evals=st.integers(65, 400))
def test_asked_points_lie_in_the_box_and_on_the_lattice(spec, seed, search, max_evals):
    sp = spec.build()
    assert_space_matches(sp, spec)
    opt = QiML(sp, seed=seed, max_evals=max_evals, search=search)
    rounds = 0
    while not opt.stop() and rounds < 100:
        X = opt.ask()
        assert_in_space(sp, X, f"rows of ask() in round {rounds} ({opt.phase})")
        opt.tell(X, _unit_loss(sp, X))
        rounds += 1
    assert_in_space(sp, opt.result.x[None, :], "result.x")


BAD_BOXES = ("nan lower", "nan upper", "inf upper", "-inf lower", "inf lower", "inverted", "empty", "overflow")
BAD_BOX_MESSAGE = {"nan lower": "must be finite", "nan upper": "must be finite", "inf upper": "must be finite",
                   "-inf lower": "must be finite", "inf lower": "must be finite", "inverted": "lower must be < upper",
                   "empty": "lower must be < upper", "overflow": "too wide"}


@given(spec=box_specs(), where=st.integers(0, 3), bad=st.sampled_from(BAD_BOXES),
       front=st.sampled_from(["Space", "Space.integers", "pairs", "QiML", "minimize"]))
def test_invalid_boxes_raise_bounds_error(spec, where, bad, front):
    lower, upper = [float(v) for v in spec.lower], [float(v) for v in spec.upper]
    i = where % len(lower)
    if bad == "nan lower":
        lower[i] = np.nan
    elif bad == "nan upper":
        upper[i] = np.nan
    elif bad == "inf upper":
        upper[i] = np.inf
    elif bad == "-inf lower":
        lower[i] = -np.inf
    elif bad == "inf lower":
        lower[i] = np.inf
    elif bad == "inverted":
        lower[i], upper[i] = upper[i], lower[i]
    elif bad == "empty":
        upper[i] = lower[i]
    else:
        lower[i], upper[i] = -FMAX, FMAX
    pairs = list(zip(lower, upper, strict=True))
    calls: list[int] = []

    def counted(x: Any) -> float:
        calls.append(1)
        return 0.0

    make: dict[str, Callable[[], Any]] = {
        "Space": lambda: Space(lower, upper, spec.step),
        "Space.integers": lambda: Space.integers(lower, upper),
        "pairs": lambda: as_space(pairs),
        "QiML": lambda: QiML(pairs, seed=0),
        "minimize": lambda: minimize(counted, pairs, seed=0, max_evals=100),
    }
    with pytest.raises(BoundsError) as info:
        make[front]()
    expected = BAD_BOX_MESSAGE[bad] + ("|integer bounds" if front == "Space.integers" else "")
    assert re.search(expected, str(info.value)), str(info.value)
    assert calls == []


@given(spec=box_specs(), where=st.integers(0, 3),
       step=st.sampled_from([-1.0, -1e-300, np.nan, np.inf, -np.inf, "too large"]))
def test_invalid_lattice_steps_raise_bounds_error(spec, where, step):
    lower, upper = np.asarray(spec.lower, dtype=float), np.asarray(spec.upper, dtype=float)
    steps = np.zeros(lower.size)
    i = where % lower.size
    steps[i] = 2.0 * (upper[i] - lower[i]) if step == "too large" else step
    with pytest.raises(BoundsError, match="lattice step"):
        Space(lower, upper, steps)


# ================================================================================ 2. resume
def _loss(X: np.ndarray) -> np.ndarray:
    """A multimodal, non-separable loss (finite on every box used here)."""
    X = np.asarray(X, dtype=float)
    return np.sum(X**2 - np.cos(3.0 * X), axis=1) + 0.5 * X[:, 0] * X[:, -1]


def _run(opt: QiML, rounds: int | None = None) -> int:
    """ask/tell until the optimizer stops or for ``rounds`` rounds; return the rounds run."""
    n = 0
    while (rounds is None or n < rounds) and not opt.stop():
        X = opt.ask()
        opt.tell(X, _loss(X))
        n += 1
    return n


@_fewer(4)
@given(dim=st.integers(1, 4), seed=SEEDS, search=st.sampled_from(SEARCHES), max_evals=st.integers(65, 600),
       stop_after=st.integers(0, 200), pending=st.booleans(), lattice=st.booleans())
def test_resume_equals_uninterrupted(tmp_path, dim, seed, search, max_evals, stop_after, pending, lattice):
    bounds: Any = Space.integers([-6] * dim, [5] * dim) if lattice else [(-2.0, 3.0)] * dim
    kwargs = dict(seed=seed, max_evals=max_evals, search=search)
    whole = QiML(bounds, **kwargs)
    _run(whole)
    want = whole.result

    first = QiML(bounds, **kwargs)
    done = _run(first, stop_after)
    if pending and not first.stop():
        first.ask()                                  # save with a request in flight
    note(f"saved after {done} rounds in phase {first.phase!r}, pending={first._pending is not None}")
    path = first.save(tmp_path / "resume.npz")
    second = QiML(bounds, **kwargs)
    second.load(path)
    _run(second)
    got = second.result

    assert np.array_equal(got.x, want.x), (got.x, want.x)
    assert got.fun == want.fun or (np.isnan(got.fun) and np.isnan(want.fun)), (got.fun, want.fun)
    assert (got.nfev, got.nit, got.restarts) == (want.nfev, want.nit, want.restarts)
    assert np.array_equal(got.history, want.history)
    assert (got.message, got.success, got.status) == (want.message, want.success, want.status)


# ================================================================================ 3. the checkpoint loader
PEAK_LIMIT = 64 * 2**20          # bytes of Python/NumPy allocations while loading an input under 1 MiB
INPUT_LIMIT = 2**20
# checkpoint.load reads at most about max_bytes of arrays (default checkpoint.MAX_BYTES = 1 GiB, which a
# file under 1 MiB may legitimately declare: a deflated array); the property gives it a bound under
# PEAK_LIMIT. QiML.load uses its own bound (QiML.checkpoint_bytes(): ~12 MiB for the configurations here).
LOAD_BOUND = 32 * 2**20

CKPT_CONFIGS: dict[str, dict[str, Any]] = {
    "slices": dict(bounds=[(-1.0, 1.0)] * 2, seed=3, max_evals=400, search="slices"),
    "walkers": dict(bounds=[(-1.0, 2.0)] * 3, seed=4, max_evals=400, search="walkers"),
    "refine": dict(bounds=[(-1.0, 1.0)] * 2, seed=5, max_evals=200, search="slices"),
    "lattice": dict(bounds=Space.integers([-3, -3], [3, 3]), seed=6, max_evals=400, search="auto"),
}
CKPT_ROUNDS = {"slices": 10, "walkers": 5, "refine": None, "lattice": 8}


def _fresh(name: str) -> QiML:
    return QiML(**CKPT_CONFIGS[name])


@cache
def _valid_checkpoint(name: str) -> bytes:
    """A valid checkpoint of configuration ``name``, saved with a request pending."""
    import tempfile
    from pathlib import Path

    opt = _fresh(name)
    if CKPT_ROUNDS[name] is None:                # into the GA refinement, one generation told
        while opt.phase != "refine":
            _run(opt, 1)
        _run(opt, 2)
    else:
        _run(opt, CKPT_ROUNDS[name])
    opt.ask()
    with tempfile.TemporaryDirectory() as tmp:
        return opt.save(Path(tmp) / "ck.npz").read_bytes()


@cache
def _members(name: str) -> tuple[tuple[str, bytes], ...]:
    with zipfile.ZipFile(io.BytesIO(_valid_checkpoint(name))) as z:
        return tuple((n, z.read(n)) for n in z.namelist())


def _zip(members: list[tuple[str, bytes]], compression: int) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # duplicate member names are part of the game
        with zipfile.ZipFile(buf, "w", compression) as z:
            for n, data in members:
                z.writestr(n, data)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _npy_header(descr: str, shape: tuple[int, ...], fortran: bool, tail: bytes) -> bytes:
    """An .npy header declaring ``descr`` x ``shape`` followed by ``tail`` (usually far less data)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue() + tail


def _short(v: Any, n: int = 160) -> str:
    r = repr(v)
    return r if len(r) <= n else r[:n] + f"...({len(r)} chars)"


class Blob:
    """Bytes for the loader and how they were made (what Hypothesis prints for a falsifying example).

    ``make`` is called on first use, so an explicit ``@example`` costs nothing until it runs."""

    def __init__(self, config: str, how: str, make: Callable[[], bytes]) -> None:
        self.config, self.how, self._make = config, how, make
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self._make()
            assert len(self._data) < INPUT_LIMIT
        return self._data

    def __repr__(self) -> str:
        return f"Blob({self.config!r}, {self.how})"


# JSON values for metadata entries: edge values (json writes NaN and Infinity), the state's own words, anything
SPECIAL_JSON = [float("inf"), float("-inf"), float("nan"), -1, 0, 1, 2**64, -(2**63), 1e300, "nan", "1", "quantum",
                "walkers", "refine", "slices", "population", None, True, [], {}]
JSON = st.one_of(st.sampled_from(SPECIAL_JSON),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                              lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                              max_leaves=8))


@st.composite
def _meta_text(draw: st.DrawFn, original: bytes, entries_only: bool = False) -> tuple[str, str]:
    """A new ``__meta__`` JSON text: the original with one entry (at any depth) replaced or deleted,
    deeply nested brackets, the original cut short, or any text."""
    payload = json.loads(str(np.load(io.BytesIO(original))))
    kind = "entry" if entries_only else draw(st.sampled_from(["entry", "entry", "entry", "nested", "cut", "text"]))
    text = json.dumps(payload)
    if kind == "nested":
        depth = draw(st.integers(1, 100_000))
        return f"{depth} nested '['", "[" * depth
    if kind == "cut":
        cut = draw(st.integers(0, len(text)))
        return f"cut at {cut}", text[:cut]
    if kind == "text":
        t = draw(st.text(max_size=64))
        return f"text {t!r}", t
    node, path = payload, []
    if draw(st.integers(0, 7)):                # mostly an entry of the state, not the envelope
        node, path = payload["meta"], ["meta"]
    while True:
        key = draw(st.sampled_from(sorted(node)))
        path.append(key)
        if isinstance(node[key], dict) and node[key] and draw(st.booleans()):
            node = node[key]
            continue
        break
    if draw(st.integers(0, 4)) == 0:
        del node[key]
        return f"entry {path} deleted", json.dumps(payload)
    node[key] = value = draw(JSON)
    return f"entry {path} = {_short(value, 80)}", json.dumps(payload)


@st.composite
def checkpoint_inputs(draw: st.DrawFn, state_edits: bool = False) -> Blob:
    """Bytes for the loader. ``state_edits``: only well-formed archives whose state is edited (a member's
    array or a metadata entry replaced, a member deleted or added), which reach QiML's state checks."""
    name = draw(st.sampled_from(sorted(CKPT_CONFIGS)))
    base = _valid_checkpoint(name)
    kind = "member" if state_edits else draw(st.sampled_from(["random", "flip", "truncate", "splice", "member",
                                                               "member", "member"]))
    if kind == "random":
        sub = draw(st.sampled_from(["small", "large", "zip magic", "npy magic"]))
        if sub == "large":
            seed, size = draw(SEEDS), draw(st.integers(0, INPUT_LIMIT - 1))
            return Blob(name, f"{size} random bytes of seed {seed}",
                        lambda: np.random.default_rng(seed).bytes(size))
        prefix = {"small": b"", "zip magic": b"PK\x03\x04", "npy magic": b"\x93NUMPY\x01\x00"}[sub]
        data = prefix + draw(st.binary(max_size=2048))
        return Blob(name, f"bytes {_short(data)}", lambda: data)
    if kind == "flip":
        flips = draw(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 7)), min_size=1, max_size=8))
        out = bytearray(base)
        for pos, bit in flips:
            out[pos] ^= 1 << bit
        return Blob(name, f"bits flipped (byte, bit): {flips}", lambda: bytes(out))
    if kind == "truncate":
        cut = draw(st.integers(0, len(base) - 1))
        return Blob(name, f"cut to {cut} of {len(base)} bytes", lambda: base[:cut])
    if kind == "splice":
        pos = draw(st.integers(0, len(base)))
        other = _valid_checkpoint(draw(st.sampled_from(sorted(CKPT_CONFIGS))))
        if draw(st.booleans()):
            at = draw(st.integers(0, len(other) - 1))
            chunk = other[at:at + draw(st.integers(1, 512))]
            what = f"{len(chunk)} bytes of another checkpoint from {at}"
        else:
            chunk = draw(st.binary(min_size=1, max_size=64))
            what = f"{chunk!r}"
        overwrite = draw(st.booleans())
        spliced = base[:pos] + chunk + base[pos + (len(chunk) if overwrite else 0):]
        return Blob(name, f"{'overwritten' if overwrite else 'inserted'} at {pos}: {what}", lambda: spliced)
    # a zip member's data replaced (CRCs recomputed, so the zip itself is sound), deleted or added
    members = list(_members(name))
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    action = draw(st.sampled_from(["replace", "replace", "replace", "replace", "delete", "add"]))
    meta = [n for n, _ in members].index("__meta__.npy")
    i = draw(st.one_of(st.just(meta), st.integers(0, len(members) - 1)))     # the metadata a third of the time
    member, old = members[i]
    if action == "delete":
        del members[i]
        return Blob(name, f"member {member!r} deleted", lambda: _zip(members, compression))
    if action == "add":
        new_name = draw(st.sampled_from(["extra.npy", "file.npy", "allow_pickle.npy", "__meta__.npy", "x.npy",
                                         "nfev.npy", "x"]))
        added = draw(hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)))
        members.append((new_name, _npy(added)))
        return Blob(name, f"member {new_name!r} added: {_short(added)}", lambda: _zip(members, compression))
    orig = np.load(io.BytesIO(old), allow_pickle=False)
    first = "meta" if member == "__meta__.npy" else "values"
    layers = [] if state_edits else ["header", "header text", "raw"]       # the npy layer itself
    how = draw(st.sampled_from([first, first, first, "npy", *layers]))
    if how == "meta":
        what, text = draw(_meta_text(old, state_edits))
        data = _npy(np.array(text))
    elif how == "values":                          # same dtype and shape, any values (NaN, inf, huge, ...)
        a = draw(hnp.arrays(orig.dtype, orig.shape))
        what, data = f"values {_short(a)}", _npy(a)
    elif how == "npy":                             # any array of any dtype and shape
        a = draw(hnp.arrays(st.one_of(hnp.scalar_dtypes(), hnp.byte_string_dtypes(), hnp.unicode_string_dtypes()),
                            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)))
        what, data = f"array {_short(a)}", _npy(a)
    elif how == "header":                          # a header declaring any size, then little data
        descr = draw(st.sampled_from(["<f8", "<i8", "|u1", "<c16", "|b1", "<U16", "|S64", "<M8[ns]", "|V1024"]))
        shape = tuple(draw(st.lists(st.one_of(st.integers(0, 8), st.integers(0, 2**40)), max_size=3)))
        fortran, tail = draw(st.booleans()), draw(st.binary(max_size=64))
        what, data = f"header {descr} {shape} fortran={fortran} + {tail!r}", _npy_header(descr, shape, fortran, tail)
    elif how == "header text":                     # the header's dict text edited: any characters
        hlen = struct.unpack("<H", old[8:10])[0]
        text = old[10:10 + hlen].decode("latin1")
        start = draw(st.integers(0, len(text)))
        stop = draw(st.integers(start, min(len(text), start + 8)))
        chars = st.sampled_from("{}()[],:' 0123456789<>fiUSVbe\\\n\"x")
        new = text[:start] + draw(st.text(chars, max_size=6)) + text[stop:]
        what = f"header text {new!r}"
        raw = new.encode("latin1", "replace")
        data = old[:8] + struct.pack("<H", len(raw)) + raw + old[10 + hlen:]
    else:
        data = draw(st.binary(max_size=256))
        what = f"bytes {_short(data)}"
    members[i] = (member, data)
    zname = "deflated" if compression == zipfile.ZIP_DEFLATED else "stored"
    return Blob(name, f"member {member!r} ({zname}) replaced by {what}", lambda: _zip(members, compression))


def _zip_bomb() -> Blob:
    """80 MB of zeros declared honestly and deflated to ~80 kB: a small file, a large array."""
    def make() -> bytes:
        members = list(_members("slices"))
        big = _npy_header("<f8", (10_000_000,), False, bytes(80_000_000))
        members.append(("extra.npy", big))
        return _zip(members, zipfile.ZIP_DEFLATED)
    return Blob("slices", "member 'extra.npy' added: 80 MB of deflated zeros, header <f8 (10000000,)", make)


def _huge_header() -> Blob:
    """A header declaring an 8 GB array of which the file holds 16 bytes."""
    def make() -> bytes:
        members = [(n, _npy_header("<f8", (10**9,), False, bytes(16)) if n == "x.npy" else d)
                   for n, d in _members("slices")]
        return _zip(members, zipfile.ZIP_STORED)
    return Blob("slices", "member 'x.npy' (stored) replaced by header <f8 (1000000000,) + 16 zero bytes", make)


def _traced(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``(fn() or the CheckpointError it raised, peak bytes allocated meanwhile)``; anything else propagates."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        try:
            out = fn()
        except CheckpointError as exc:
            out = exc
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not tracing:
            tracemalloc.stop()
    return out, peak


def _write(tmp_path: Any, blob: Blob) -> Any:
    path = tmp_path / "input.npz"
    path.write_bytes(blob.data)
    return path


@given(blob=checkpoint_inputs())
@example(blob=_huge_header())
@example(blob=_zip_bomb())
def test_checkpoint_load_gives_a_state_or_checkpoint_error(tmp_path, blob):
    path = _write(tmp_path, blob)
    out, peak = _traced(lambda: checkpoint.load(path, max_bytes=LOAD_BOUND))
    assert peak < PEAK_LIMIT, f"loading {len(blob.data)} bytes allocated {peak / 2**20:.0f} MiB at peak"
    if not isinstance(out, CheckpointError):
        assert isinstance(out, dict) and all(isinstance(k, str) for k in out)


def check_qiml_load(tmp_path: Any, blob: Blob) -> None:
    """QiML.load of ``blob``: a CheckpointError leaving the optimizer as built, or an optimizer that goes
    on asking for finite points in its box and reports a sound result; memory bounded either way."""
    path = _write(tmp_path, blob)
    opt = _fresh(blob.config)
    out, peak = _traced(lambda: opt.load(path))
    assert peak < PEAK_LIMIT, f"loading {len(blob.data)} bytes allocated {peak / 2**20:.0f} MiB at peak"
    if isinstance(out, CheckpointError):
        # a refused checkpoint leaves the optimizer as it was built
        assert opt.nfev == 0 and opt.nit == 0
        assert np.array_equal(opt.ask(), _fresh(blob.config).ask())
        return
    # accepted: the optimizer goes on, asking for finite points in its box, and reports a sound result
    sp = opt.space
    for r in range(4):
        if opt.stop():
            break
        X = opt.ask()
        assert_in_space(sp, X, f"rows of ask() in round {r} after loading ({opt.phase})")
        opt.tell(X, _loss(X))
    res = opt.result
    assert not np.isnan(res.fun) and res.fun != -np.inf, f"result.fun = {res.fun} after loading"
    assert_in_space(sp, res.x[None, :], "result.x after loading")
    assert res.nfev >= 0 and res.nit >= 0, f"result.nfev = {res.nfev}, nit = {res.nit} after loading"


@given(blob=checkpoint_inputs())
@example(blob=_huge_header())
@example(blob=_zip_bomb())
def test_qiml_load_gives_a_resumable_optimizer_or_checkpoint_error(tmp_path, blob):
    check_qiml_load(tmp_path, blob)


@given(blob=checkpoint_inputs(state_edits=True))
def test_qiml_load_checks_the_state_it_accepts(tmp_path, blob):
    """As above, for sound archives whose state was edited: what QiML.load accepts must be resumable
    (a failure in the zip/npy layer above does not hide these)."""
    check_qiml_load(tmp_path, blob)


# ================================================================================ 4. objective return values
B2 = [(-1.0, 1.0)] * 2
MAX_EVALS = 120            # a few slice requests (3 rows each) and the first walker generation (16 rows)
NUMERIC = [np.dtype(c) for c in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                                 "float16", "float32", "float64", "longdouble")]
NON_NUMERIC = [np.dtype(c) for c in ("bool", "complex64", "complex128", "U4", "S4", "M8[ns]", "m8[s]", "O")]


class TorchLike:
    """What qiml sees of a torch tensor: ``item()``, ``ndim``, ``shape`` and a ``size()`` *method*
    (checked against torch 2.13: the same messages)."""

    def __init__(self, values: Any) -> None:
        self._a = np.asarray(values)

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    def size(self) -> tuple[int, ...]:
        return self._a.shape

    def item(self) -> Any:
        if self._a.size != 1:
            raise RuntimeError(f"a Tensor with {self._a.size} elements cannot be converted to Scalar")
        return self._a.reshape(()).item()

    def __repr__(self) -> str:
        return f"TorchLike({self._a.tolist()!r}, dtype={self._a.dtype})"


# what a scalar objective's return value should give (the contract of qiml.objective._scalar,
# qiml.validation.real_scalar and qiml.requests.check_values):
#   ("real", v)      a real number: a Python int or float, a NumPy integer or floating scalar (not a bool,
#                    datetime or timedelta), a 0-d or one-element array of an int/uint/float dtype (an
#                    np.matrix too; a masked array only with nothing masked), or a tensor-like of any rank
#                    whose .item() is one. v = float(value): +inf (infeasible) is a result,
#                    NaN an ObjectiveError unless nan_policy="inf" (then +inf), -inf an ObjectiveError.
#   ("overflow", v)  a real number beyond the float range (a huge Python int): an ObjectiveError saying it is
#                    too large for a float (not that the objective raised).
#   ("refused", re)  anything else: an ObjectiveError whose message matches re (names what came back).
def _real(v: Any, f: Any) -> tuple[Any, tuple[str, Any]]:
    try:
        return v, ("real", float(f))
    except OverflowError:
        return v, ("overflow", f)


def _refused(v: Any, pattern: str | None = None) -> tuple[Any, tuple[str, Any]]:
    return v, ("refused", pattern or rf"must return a real number, got {re.escape(type(v).__name__)}\b")


NOT_A_SCALAR = r"must return a scalar for one point.*vectorized=True"
MASKED = r"real number.*masked"


def _matrix(a: np.ndarray) -> np.matrix:
    """``a`` (2-d) as an ``np.matrix`` (NumPy warns that the class is not recommended)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.asmatrix(a)


def _numpy_scalar(dt: Any) -> st.SearchStrategy[Any]:
    return hnp.from_dtype(dt).map(lambda v: np.array(v, dtype=dt)[()])


def _numeric_arrays(shape: Any) -> st.SearchStrategy[np.ndarray]:
    return st.sampled_from(NUMERIC).flatmap(lambda dt: hnp.arrays(dt, shape))


def _arrays(dt: np.dtype, shape: Any) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``dt``; object arrays hold floats."""
    return hnp.arrays(dt, shape, elements=st.floats() if dt.kind == "O" else None)


SCALAR_RETURNS = st.one_of(
    # accepted: real numbers
    st.integers().map(lambda v: _real(v, v)),
    st.integers(2**1023, 2**1100).map(lambda v: _real(v, v)),
    st.floats().map(lambda v: _real(v, v)),
    st.sampled_from(NUMERIC).flatmap(_numpy_scalar).map(lambda v: _real(v, v)),
    _numeric_arrays(st.sampled_from([(), (1,), (1, 1), (1, 1, 1)])).map(lambda a: _real(a, a.reshape(-1)[0])),
    _numeric_arrays(st.sampled_from([(), (1,), (1, 1)])).map(lambda a: _real(TorchLike(a), a.reshape(-1)[0])),
    _numeric_arrays(st.just((1, 1))).map(lambda a: _real(_matrix(a), a.reshape(-1)[0])),
    _numeric_arrays(st.sampled_from([(), (1,)])).map(lambda a: _real(np.ma.array(a), a.reshape(-1)[0])),
    # refused
    st.just(np.ma.masked).map(lambda v: _refused(v, MASKED)),
    _numeric_arrays(st.sampled_from([(), (1,), (1, 1)])).map(lambda a: _refused(np.ma.array(a, mask=True), MASKED)),
    _numeric_arrays(st.sampled_from([(1, 2), (2, 1)])).map(lambda a: _refused(_matrix(a), NOT_A_SCALAR)),
    st.none().map(lambda v: _refused(v, "None")),
    st.booleans().map(_refused),
    st.booleans().map(np.bool_).map(_refused),
    st.text(max_size=6).map(_refused),
    st.floats().map(str).map(_refused),
    st.text(max_size=6).map(np.str_).map(_refused),
    st.binary(max_size=6).map(_refused),
    st.binary(max_size=6).map(np.bytes_).map(_refused),
    st.decimals().map(_refused),
    st.fractions().map(_refused),
    st.complex_numbers().map(_refused),
    st.sampled_from([np.dtype("complex64"), np.dtype("complex128")]).flatmap(_numpy_scalar).map(_refused),
    st.one_of(hnp.datetime64_dtypes(), hnp.timedelta64_dtypes()).flatmap(_numpy_scalar).map(_refused),
    st.lists(st.floats(allow_nan=False) | st.integers(-5, 5), max_size=2).map(_refused),
    st.lists(st.floats(allow_nan=False) | st.integers(-5, 5), max_size=2).map(tuple).map(_refused),
    _numeric_arrays(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4).filter(
        lambda s: math.prod(s) != 1)).map(lambda a: _refused(a, NOT_A_SCALAR)),
    st.sampled_from(NON_NUMERIC).flatmap(lambda dt: _arrays(dt, st.sampled_from([(), (1,), (1, 1)]))).map(_refused),
    st.sampled_from(NON_NUMERIC).flatmap(lambda dt: _arrays(dt, st.sampled_from([(0,), (2,), (2, 3)]))).map(
        lambda a: _refused(a, NOT_A_SCALAR)),
    st.sampled_from(["complex128", "bool"]).flatmap(lambda dt: hnp.arrays(dt, st.sampled_from([(), (1,)]))).map(
        lambda a: _refused(TorchLike(a), r"real number.*TorchLike|TorchLike.*real number")),
    _numeric_arrays(st.sampled_from([(2,), (0,), (2, 2)])).map(lambda a: _refused(TorchLike(a), NOT_A_SCALAR)),
)


def _outcome(fn: Callable[[], OptimizeResult]) -> OptimizeResult | ObjectiveError | ShapeError:
    """The result, or the ObjectiveError/ShapeError raised; anything else propagates (a failure)."""
    try:
        return fn()
    except (ObjectiveError, ShapeError) as exc:
        return exc


def check_accepted(out: Any, expected: float, nan_policy: str) -> None:
    """``out`` of a run whose every loss value was ``expected`` (or whose best was)."""
    if np.isnan(expected) and nan_policy == "raise":
        assert isinstance(out, ObjectiveError), f"NaN loss gave {out!r}"
        assert re.search(r"NaN.*nan_policy='inf'", str(out)), str(out)
    elif expected == -np.inf:
        assert isinstance(out, ObjectiveError), f"-inf loss gave {out!r}"
        assert "-inf" in str(out), str(out)
    else:
        assert isinstance(out, OptimizeResult), f"a real loss value {expected!r} was refused: {out!r}"
        want = np.inf if np.isnan(expected) else expected
        assert out.fun == want, f"result.fun = {out.fun!r}, the objective returned {expected!r}"
        assert out.nfev >= 1 and np.all(np.isfinite(out.x)) and np.all(np.abs(out.x) <= 1.0)


def check_refused(out: Any, pattern: str, also: type[Exception] | None = None) -> None:
    """``out`` is an ObjectiveError (or ``also``: ShapeError for wrong shapes) whose message matches ``pattern``."""
    kinds = (ObjectiveError,) if also is None else (ObjectiveError, also)
    assert isinstance(out, kinds), f"accepted, result.fun = {getattr(out, 'fun', out)!r}"
    msg = str(out)
    assert re.search(pattern, msg), f"message {msg!r} does not match {pattern!r}"
    # the objective returned a value; a message blaming it for raising misleads
    assert not msg.startswith("objective raised"), f"message blames the objective for raising: {msg!r}"


def check_scalar_return(value: Any, expected: tuple[str, Any], nan_policy: str) -> None:
    calls: list[int] = []

    def f(x: np.ndarray) -> Any:
        calls.append(1)
        return value

    out = _outcome(lambda: minimize(f, B2, max_evals=MAX_EVALS, seed=0, nan_policy=nan_policy))
    kind, arg = expected
    assert calls, "the objective was never called"
    if kind == "real":
        check_accepted(out, arg, nan_policy)
    elif kind == "overflow":
        check_refused(out, r"too large to fit in a float")
    else:
        check_refused(out, arg)


@given(case=SCALAR_RETURNS, nan_policy=st.sampled_from(["raise", "inf"]))
def test_scalar_objective_return_values(case, nan_policy):
    value, expected = case
    check_scalar_return(value, expected, nan_policy)


class VecReturn(NamedTuple):
    """What a vectorized objective returns for ``n`` rows: ``shape`` is a rule ("n", "n,1", "1,n" are the
    accepted layouts; the others are wrong shapes), ``dtype`` the array's (or, with ``as_list``, of the
    Python list built from it), ``value`` the loss of every row (``vary``: plus |x|^2)."""

    shape: str
    dtype: str
    value: Any
    vary: bool = False
    as_list: bool = False

    def rows_shape(self, n: int) -> tuple[int, ...]:
        return {"n": (n,), "n,1": (n, 1), "1,n": (1, n), "n+1": (n + 1,), "n-1": (n - 1,), "0": (0,),
                "()": (), "n,2": (n, 2), "2,n": (2, n), "n,1,1": (n, 1, 1)}[self.shape]

    def make(self, X: np.ndarray) -> Any:
        n = X.shape[0]
        shape = self.rows_shape(n)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.vary and np.dtype(self.dtype).kind == "f" and shape in ((n,), (n, 1), (1, n)):
                F = (np.float64(self.value) + np.sum(X**2, axis=1).reshape(shape)).astype(self.dtype)
            else:
                F = np.full(shape, self.value, dtype=self.dtype)
        return F.tolist() if self.as_list else F


ACCEPTED_SHAPES = ("n", "n,1", "1,n")
WRONG_SHAPES = ("n+1", "n-1", "0", "()", "n,2", "2,n", "n,1,1")


@st.composite
def vectorized_returns(draw: st.DrawFn) -> tuple[Any, tuple[str, Any]]:
    """(a VecReturn or a fixed object, expectation as for scalar returns; "shape": wrong shape)."""
    kind = draw(st.sampled_from(["numeric", "numeric", "numeric", "wrong shape", "non-numeric", "python", "other"]))
    if kind in ("numeric", "wrong shape"):
        dt = draw(st.sampled_from(NUMERIC))
        value = draw(hnp.from_dtype(dt)) if dt.kind in "iu" else draw(st.floats())
        shape = draw(st.sampled_from(ACCEPTED_SHAPES if kind == "numeric" else WRONG_SHAPES))
        r = VecReturn(shape, dt.str, value, vary=draw(st.booleans()), as_list=draw(st.booleans()))
        if kind == "wrong shape":
            return r, ("wrong shape", r"expected \d+ objective values")
        return r, ("real", None)                # the expected best: the least value returned
    if kind == "non-numeric":
        dt = draw(st.sampled_from(NON_NUMERIC))
        value = draw(hnp.from_dtype(np.dtype("float64") if dt.kind == "O" else dt))
        return VecReturn(draw(st.sampled_from(ACCEPTED_SHAPES)), dt.str, value), ("refused", "real numbers")
    if kind == "python":
        # Python lists of n items that are not real numbers, or of real Python ints of any size
        item = draw(st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.decimals(), st.fractions(),
                              st.complex_numbers(), st.integers(), st.integers(2**63, 2**200),
                              st.integers(-(2**200), -(2**63))))
        if isinstance(item, int) and not isinstance(item, bool):
            if -(2**63) <= item < 2**64:          # NumPy makes an int64 or uint64 array: real numbers
                return _PyList(item), _real(item, item)[1]
            # beyond, NumPy keeps the ints as objects: refused, and the message says why
            return _PyList(item), ("refused", r"real numbers.*beyond the 64-bit integer range")
        return _PyList(item), ("refused", "real numbers|None")
    other = draw(st.sampled_from([None, "1.0", b"1.0", {"a": 1.0}, (v for v in [1.0]), {1.0}, "ragged",
                                  "masked", "unmasked"]))
    if other == "ragged":
        return _Ragged(), ("refused", "real numbers")
    if other in ("masked", "unmasked"):
        m = _Masked(draw(st.floats(-1e6, 1e6)), other == "masked")
        return m, ("refused", r"masked array with 1 of \d+ entries masked") if m.masked else ("real", None)
    return other, ("refused", "None" if other is None else "real numbers")


class _PyList:
    """Return ``[item] * n``."""

    def __init__(self, item: Any) -> None:
        self.item = item

    def make(self, X: np.ndarray) -> Any:
        return [self.item] * X.shape[0]

    def __repr__(self) -> str:
        return f"[{self.item!r}] * n"


class _Masked:
    """A masked array of ``n`` values ``value`` (plus |x|^2); with ``masked`` the first entry is masked."""

    def __init__(self, value: float, masked: bool) -> None:
        self.value, self.masked = value, masked

    def make(self, X: np.ndarray) -> Any:
        mask = np.zeros(X.shape[0], dtype=bool)
        mask[0] = self.masked
        return np.ma.array(self.value + np.sum(X**2, axis=1), mask=mask)

    def __repr__(self) -> str:
        return f"_Masked({self.value!r}, masked={self.masked})"


class _Ragged:
    def make(self, X: np.ndarray) -> Any:
        return [[1.0]] + [[1.0, 2.0]] * (X.shape[0] - 1)

    def __repr__(self) -> str:
        return "[[1.0], [1.0, 2.0], ...]"


def check_vectorized_return(ret: Any, expected: tuple[str, Any], nan_policy: str) -> None:
    returned: list[np.ndarray] = []

    def f(X: np.ndarray) -> Any:
        F = ret.make(X) if hasattr(ret, "make") else ret
        if expected[0] == "real" and expected[1] is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                returned.append(np.asarray(F, dtype=np.float64).reshape(-1))
        else:
            returned.append(np.zeros(1))
        return F

    out = _outcome(lambda: minimize(f, B2, max_evals=MAX_EVALS, seed=0, vectorized=True, nan_policy=nan_policy))
    kind, arg = expected
    assert returned, "the objective was never called"
    if kind == "real":
        if arg is None:                          # numeric arrays: the run stops at the first bad batch
            for F in returned:
                if np.isnan(F).any() and nan_policy == "raise":
                    arg = np.nan
                    break
                if (np.where(np.isnan(F), np.inf, F) == -np.inf).any():
                    arg = -np.inf
                    break
            else:
                arg = min(float(np.min(np.where(np.isnan(F), np.inf, F), initial=np.inf)) for F in returned)
        check_accepted(out, arg, nan_policy)
    else:
        check_refused(out, arg, ShapeError if kind == "wrong shape" else None)


@given(case=vectorized_returns(), nan_policy=st.sampled_from(["raise", "inf"]))
def test_vectorized_objective_return_values(case, nan_policy):
    ret, expected = case
    check_vectorized_return(ret, expected, nan_policy)
