"""Seeded random state: one ``numpy.random.Generator`` per optimizer, serialisable exactly."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import CheckpointError, ConfigError

SeedLike = int | np.random.Generator | np.random.SeedSequence | None


def make_rng(seed: SeedLike) -> np.random.Generator:
    """Return a PCG64 generator from an int, a SeedSequence, a Generator (used as is) or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.Generator(np.random.PCG64(seed))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, a numpy Generator or None, got {seed!r}")
    return np.random.Generator(np.random.PCG64(int(seed)))


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's exact state as plain JSON-able data (ints, strings, dicts)."""
    return dict(rng.bit_generator.state)


def rng_from_state(state: dict[str, Any]) -> np.random.Generator:
    """Rebuild a generator from :func:`rng_state` output; only PCG64 states are accepted."""
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        raise CheckpointError("random state in checkpoint is not a PCG64 state")
    bg: np.random.BitGenerator = np.random.PCG64()   # its state setter takes any mapping and checks it
    try:
        bg.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"random state in checkpoint is corrupt: {exc}") from exc
    return np.random.Generator(bg)
