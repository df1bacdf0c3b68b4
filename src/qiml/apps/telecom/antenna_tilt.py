"""Antenna tilting: a physically grounded downlink SINR data set (15 features, 1 target).

The original 420,000-sample antenna-tilting data behind the "Adam needed about 280 neurons, QiML
about 6" claim are proprietary. :func:`make_dataset` builds an open stand-in from a standard
system-level model, so the claim can be tested; ``docs/telecom/antenna_tilt.md`` documents it.

Model (per *snapshot*, one random network configuration with :data:`USERS_PER_SNAPSHOT` users)
--------------------------------------------------------------------------------------------
* **Layout.** 19 three-sector sites on a hexagonal grid (two rings), inter-site distance 500 m,
  sector boresights 30, 150 and 270 degrees: 57 cells. Users are dropped uniformly over the
  hexagons of the 7 central sites (so every user has two rings of interferers), at least 35 m from
  every site.
* **Configuration** (per snapshot): each site's antenna height is uniform in 20-35 m; each cell's
  electrical downtilt uniform in 0-15 degrees, transmit power uniform in 40-49 dBm and load (the
  fraction of its resource blocks in use) uniform in 0.05-1.
* **Users.** 3GPP TR 38.901 UMa heights: 80 % indoor on floor ``U{1..N}`` with ``N ~ U{4..8}``,
  ``h_UT = 3 (floor - 1) + 1.5`` m; outdoor users at 1.5 m. Indoor users get the 38.901 low-loss
  outdoor-to-indoor penetration loss (glass/concrete wall, 0.5 dB/m over ``min(U(0,25), U(0,25))``
  m inside, 4.4 dB log-normal).
* **Antenna.** Each cell is a vertical column of :data:`ARRAY_ELEMENTS` 38.901 elements (Table
  7.3-1: 65-degree beamwidths, 30 dB front-to-back and side-lobe limits, 8 dBi) spaced half a
  wavelength, with electrical downtilt by phase steering: gain = element pattern + array factor
  ``sin^2(M psi / 2) / (M sin^2(psi / 2))``, ``psi = pi (cos theta - cos theta_tilt)`` (up to
  8 + 9 = 17 dBi on the beam).
* **Propagation.** 38.901 UMa path loss at 3.5 GHz (LOS with its breakpoint, NLOS; LOS drawn from
  the UMa LOS probability, which depends on the user's height) and log-normal shadowing of 4 dB
  (LOS) or 6 dB (NLOS), correlated 0.5 between the sites seen by one user.
* **Link budget.** Reference-signal received power per resource element, ``RSRP = P - 10
  log10(1200) + G - PL - shadowing - O2I`` (20 MHz, 1200 subcarriers), noise ``-174 dBm/Hz + 10
  log10(15 kHz) + 9 dB``. The serving cell is the strongest; every other cell interferes in
  proportion to its load: ``SINR = RSRP_s / (sum_c load_c RSRP_c + N)``.

Sample: one user in one snapshot, described by what an operator's measurement reports and its
configuration database hold (:data:`FEATURES`: geometry, heights, tilts, powers, loads and the
measured RSRP of the serving cell and the two strongest neighbours); the target is the user's
downlink SINR in dB, the quantity an operator predicts when tuning tilt. The interference of the
other 54 cells and the shadowing behind it are not in the features, so the target is not a
function of them: some error is irreducible (see the docs for its size).

Samples come in snapshot order, :data:`USERS_PER_SNAPSHOT` consecutive samples per snapshot; a
split at a multiple of that (e.g. the last 20 %) is a split by network configuration. The set is
generated in chunks of :data:`CHUNK_SNAPSHOTS` snapshots with their own seeds, so the first ``n``
samples do not depend on ``n_samples`` and the result does not depend on the machine.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ...errors import ConfigError
from ...files import atomic_write
from ...files import cache_dir as cache_folder
from ...validation import check_int

__all__ = ["make_dataset", "FEATURES", "TARGET", "USERS_PER_SNAPSHOT", "element_gain_db", "array_gain_db",
           "uma_path_loss_db", "uma_los_probability", "hex_sites"]

#: (name, unit and meaning) of the 15 input features, in column order
FEATURES: tuple[tuple[str, str], ...] = (
    ("serving_distance_m", "horizontal distance from the serving site to the user, m"),
    ("serving_azimuth_offset_deg", "user's bearing from the serving cell's boresight, degrees in [-180, 180)"),
    ("serving_bs_height_m", "serving antenna height, m"),
    ("ue_height_m", "user height, m (1.5 outdoors, 3 m per floor indoors)"),
    ("serving_tilt_deg", "serving cell's electrical downtilt, degrees below the horizon"),
    ("serving_tx_power_dbm", "serving cell's transmit power, dBm"),
    ("serving_rsrp_dbm", "measured RSRP of the serving cell, dBm per resource element"),
    ("neighbour1_rsrp_dbm", "measured RSRP of the strongest neighbour cell, dBm"),
    ("neighbour1_tilt_deg", "strongest neighbour's electrical downtilt, degrees"),
    ("neighbour1_load", "strongest neighbour's load (fraction of resource blocks in use)"),
    ("neighbour1_distance_m", "horizontal distance from the strongest neighbour's site, m"),
    ("neighbour2_rsrp_dbm", "measured RSRP of the second-strongest neighbour cell, dBm"),
    ("neighbour2_tilt_deg", "second-strongest neighbour's electrical downtilt, degrees"),
    ("neighbour2_load", "second-strongest neighbour's load"),
    ("mean_other_load", "mean load of all cells other than the serving one"),
)
TARGET = ("sinr_db", "the user's downlink SINR, dB")

VERSION = 1                    # bump when the model changes: it names the cache file
USERS_PER_SNAPSHOT = 100
CHUNK_SNAPSHOTS = 100          # snapshots per independently seeded chunk (10,000 samples)
ISD_M = 500.0                  # inter-site distance (38.901 UMa)
RINGS = 2                      # 19 sites
USER_SITES = 7                 # users are dropped around the central site and its first ring
MIN_DISTANCE_M = 35.0          # 38.901 UMa minimum 2-D distance
BORESIGHTS_DEG = (30.0, 150.0, 270.0)
FC_GHZ = 3.5
BS_HEIGHT_M = (20.0, 35.0)
TILT_DEG = (0.0, 15.0)
TX_POWER_DBM = (40.0, 49.0)
LOAD = (0.05, 1.0)
ARRAY_ELEMENTS = 8             # vertical column, half-wavelength spacing
ELEMENT_GAIN_DBI, BEAMWIDTH_DEG, SIDE_LOBE_DB = 8.0, 65.0, 30.0
SUBCARRIERS = 1200             # 20 MHz at 15 kHz
NOISE_DBM = -174.0 + 10 * np.log10(15e3) + 9.0    # per resource element, 9 dB noise figure
SHADOW_LOS_DB, SHADOW_NLOS_DB, SHADOW_SITE_CORRELATION = 4.0, 6.0, 0.5
INDOOR_FRACTION = 0.8


# -- the physics, as pure array functions ---------------------------------------------------------------
def hex_sites(rings: int = RINGS, isd: float = ISD_M) -> NDArray[np.float64]:
    """Site positions (n_sites, 2) in m on a hexagonal grid, the central site first, ordered by ring."""
    qq, rr = np.meshgrid(np.arange(-rings, rings + 1), np.arange(-rings, rings + 1), indexing="ij")
    q, r = qq.ravel(), rr.ravel()
    keep = np.maximum(np.abs(q), np.maximum(np.abs(r), np.abs(q + r))) <= rings
    q, r = q[keep], r[keep]
    xy = isd * np.stack([q + r / 2, r * np.sqrt(3) / 2], axis=1)
    ring = np.maximum(np.abs(q), np.maximum(np.abs(r), np.abs(q + r)))
    return xy[np.lexsort((np.arctan2(xy[:, 1], xy[:, 0]), ring))]


def element_gain_db(theta_deg: NDArray[np.float64], phi_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """38.901 Table 7.3-1 element gain, dBi, at zenith angle ``theta`` (90 = horizon) and azimuth ``phi``
    (degrees off boresight, in [-180, 180))."""
    a_v = -np.minimum(12.0 * ((theta_deg - 90.0) / BEAMWIDTH_DEG) ** 2, SIDE_LOBE_DB)
    a_h = -np.minimum(12.0 * (phi_deg / BEAMWIDTH_DEG) ** 2, SIDE_LOBE_DB)
    return ELEMENT_GAIN_DBI - np.minimum(-(a_v + a_h), SIDE_LOBE_DB)


def array_gain_db(theta_deg: NDArray[np.float64], tilt_deg: NDArray[np.float64],
                  elements: int = ARRAY_ELEMENTS) -> NDArray[np.float64]:
    """Array factor, dB (``10 log10(M)`` on the beam), of ``elements`` half-wavelength-spaced vertical
    elements phase-steered to ``tilt_deg`` below the horizon, at zenith angle ``theta_deg``."""
    psi = np.pi * (np.cos(np.radians(theta_deg)) - np.cos(np.radians(90.0 + tilt_deg)))
    half = psi / 2
    small = np.abs(np.sin(half)) < 1e-9            # on the beam: the ratio's limit is M^2
    ratio = np.where(small, float(elements) ** 2,
                     np.sin(elements * half) ** 2 / np.where(small, 1.0, np.sin(half) ** 2))
    return 10 * np.log10(np.maximum(ratio / elements, 1e-30))


def uma_los_probability(d2d: NDArray[np.float64], h_ut: NDArray[np.float64]) -> NDArray[np.float64]:
    """38.901 Table 7.4.2-1 UMa LOS probability at 2-D distance ``d2d`` (m) for user height ``h_ut`` (m)."""
    d = np.maximum(d2d, 1e-9)
    c = np.where(h_ut <= 13.0, 0.0, ((np.maximum(h_ut, 13.0) - 13.0) / 10.0) ** 1.5)
    p = (18.0 / d + np.exp(-d / 63.0) * (1 - 18.0 / d)) * (1 + c * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0))
    return np.where(d <= 18.0, 1.0, p)


def uma_path_loss_db(d2d: NDArray[np.float64], h_bs: NDArray[np.float64], h_ut: NDArray[np.float64],
                     los: NDArray[np.bool_], fc_ghz: float = FC_GHZ) -> NDArray[np.float64]:
    """38.901 Table 7.4.1-1 UMa path loss, dB (without shadowing), for LOS or NLOS links.

    ``d2d`` in m, heights in m, ``fc_ghz`` in GHz; the breakpoint uses the effective environment
    height 1 m.
    """
    d3d = np.sqrt(d2d ** 2 + (h_bs - h_ut) ** 2)
    d_bp = 4 * (h_bs - 1.0) * (h_ut - 1.0) * fc_ghz * 1e9 / 3e8
    pl1 = 28.0 + 22 * np.log10(d3d) + 20 * np.log10(fc_ghz)
    pl2 = 28.0 + 40 * np.log10(d3d) + 20 * np.log10(fc_ghz) - 9 * np.log10(d_bp ** 2 + (h_bs - h_ut) ** 2)
    pl_los = np.where(d2d <= d_bp, pl1, pl2)
    pl_nlos = np.maximum(pl_los, 13.54 + 39.08 * np.log10(d3d) + 20 * np.log10(fc_ghz) - 0.6 * (h_ut - 1.5))
    return np.where(los, pl_los, pl_nlos)


def _o2i_loss_db(rng: np.random.Generator, shape: tuple[int, ...], fc_ghz: float = FC_GHZ) -> NDArray[np.float64]:
    """38.901 low-loss outdoor-to-indoor penetration loss, dB (Table 7.4.3-2)."""
    l_glass, l_concrete = 2 + 0.2 * fc_ghz, 5 + 4 * fc_ghz
    wall = 5 - 10 * np.log10(0.3 * 10 ** (-l_glass / 10) + 0.7 * 10 ** (-l_concrete / 10))
    depth = np.minimum(rng.uniform(0, 25, shape), rng.uniform(0, 25, shape))
    return wall + 0.5 * depth + 4.4 * rng.standard_normal(shape)


def _drop_users(rng: np.random.Generator, sites: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``n`` user positions (n, 2), uniform over the hexagons of the first :data:`USER_SITES` sites."""
    radius = ISD_M / np.sqrt(3)                    # hexagon circumradius (pointy side towards y)
    out = np.empty((0, 2))
    while out.shape[0] < n:
        m = 2 * (n - out.shape[0]) + 16
        p = rng.uniform(-radius, radius, (m, 2))
        ax, ay = np.abs(p[:, 0]), np.abs(p[:, 1])
        inside = (ay <= radius * np.sqrt(3) / 2) & (np.sqrt(3) * ax + ay <= np.sqrt(3) * radius)
        # swap x and y: the sites' hexagons have a vertex towards +y (neighbours lie along x)
        p = p[inside][:, ::-1] + sites[rng.integers(0, USER_SITES, int(inside.sum()))]
        far = np.min(np.linalg.norm(p[:, None, :] - sites[None], axis=2), axis=1) >= MIN_DISTANCE_M
        out = np.concatenate([out, p[far]])
    return out[:n]


def _take(a: NDArray[np.float64], i: NDArray[np.intp]) -> NDArray[np.float64]:
    """``a[..., i]`` per (snapshot, user): ``a`` (S, U or 1, C), ``i`` (S, U) -> (S, U)."""
    return np.take_along_axis(a, i[..., None], axis=-1)[..., 0]


def _chunk(seed_seq: np.random.SeedSequence, snapshots: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Features (snapshots x users, 15) and SINR (snapshots x users,) of ``snapshots`` snapshots."""
    rng = np.random.default_rng(seed_seq)
    sites = hex_sites()
    n_sites, n_cells, S, U = sites.shape[0], 3 * sites.shape[0], snapshots, USERS_PER_SNAPSHOT
    site_of = np.repeat(np.arange(n_sites), 3)                              # (C,)
    boresight = np.tile(np.asarray(BORESIGHTS_DEG), n_sites)                # (C,)
    h_bs = rng.uniform(*BS_HEIGHT_M, (S, n_sites))
    tilt = rng.uniform(*TILT_DEG, (S, n_cells))
    power = rng.uniform(*TX_POWER_DBM, (S, n_cells))
    load = rng.uniform(*LOAD, (S, n_cells))

    xy = _drop_users(rng, sites, S * U).reshape(S, U, 2)
    indoor = rng.random((S, U)) < INDOOR_FRACTION
    floors = rng.integers(1, rng.integers(4, 9, (S, U)) + 1)                 # floor in 1..N, N in 4..8
    h_ut = np.where(indoor, 3.0 * (floors - 1) + 1.5, 1.5)
    o2i = np.where(indoor, _o2i_loss_db(rng, (S, U)), 0.0)

    delta = xy[:, :, None, :] - sites[None, None]                            # (S, U, sites, 2)
    d2d = np.hypot(delta[..., 0], delta[..., 1])
    bearing = np.degrees(np.arctan2(delta[..., 1], delta[..., 0]))
    hb = h_bs[:, None, :]
    hu = h_ut[:, :, None]
    los = rng.random(d2d.shape) < uma_los_probability(d2d, hu)
    shadow_z = (np.sqrt(SHADOW_SITE_CORRELATION) * rng.standard_normal((S, U, 1))
                + np.sqrt(1 - SHADOW_SITE_CORRELATION) * rng.standard_normal(d2d.shape))
    loss_site = (uma_path_loss_db(d2d, hb, hu, los)
                 + np.where(los, SHADOW_LOS_DB, SHADOW_NLOS_DB) * shadow_z + o2i[:, :, None])   # (S, U, sites)
    theta = 90.0 + np.degrees(np.arctan2(hb - hu, d2d))                      # zenith angle at the site

    # per cell: the site's link, the cell's azimuth and tilt
    phi = (bearing[..., site_of] - boresight + 180.0) % 360.0 - 180.0           # (S, U, C)
    th = theta[..., site_of]
    d2d_cell = d2d[..., site_of]
    gain = element_gain_db(th, phi) + array_gain_db(th, tilt[:, None, :])
    rsrp = power[:, None, :] - 10 * np.log10(SUBCARRIERS) + gain - loss_site[..., site_of]

    order = np.argsort(-rsrp, axis=2)[..., :3]                              # serving, neighbour 1, 2
    s, n1, n2 = order[..., 0], order[..., 1], order[..., 2]
    take = _take

    def cell(a: NDArray[np.float64], i: NDArray[np.intp]) -> NDArray[np.float64]:   # a snapshot's (S, C) setting
        return _take(a[:, None, :], i)

    lin = 10 ** (rsrp / 10)
    interference = np.sum(load[:, None, :] * lin, axis=2) - cell(load, s) * take(lin, s)
    sinr = 10 * np.log10(take(lin, s) / (interference + 10 ** (NOISE_DBM / 10)))
    mean_other = (load.sum(axis=1)[:, None] - cell(load, s)) / (n_cells - 1)

    X = np.stack([
        take(d2d_cell, s), take(phi, s), cell(h_bs[:, site_of], s), h_ut, cell(tilt, s), cell(power, s),
        take(rsrp, s),
        take(rsrp, n1), cell(tilt, n1), cell(load, n1), take(d2d_cell, n1),
        take(rsrp, n2), cell(tilt, n2), cell(load, n2),
        mean_other,
    ], axis=2)
    return X.reshape(S * U, len(FEATURES)), sinr.reshape(S * U)


def _generate(n_samples: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    per_chunk = CHUNK_SNAPSHOTS * USERS_PER_SNAPSHOT
    n_chunks = -(-n_samples // per_chunk)
    children = np.random.SeedSequence(seed).spawn(n_chunks)
    parts = []
    for i, ss in enumerate(children):
        need = min(per_chunk, n_samples - i * per_chunk)
        X, y = _chunk(ss, CHUNK_SNAPSHOTS)
        parts.append((X[:need], y[:need]))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def cache_path(n_samples: int, seed: int, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where :func:`make_dataset` caches a set: ``<cache>/telecom/antenna_tilt_v<VERSION>_n<n>_s<seed>.npz``."""
    return cache_folder(cache_dir) / "telecom" / f"antenna_tilt_v{VERSION}_n{n_samples}_s{seed}.npz"


def make_dataset(n_samples: int = 420_000, seed: int = 0, *, cache: bool = True,
                 cache_dir: str | os.PathLike[str] | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The antenna-tilting regression set: ``X`` (n_samples, 15) in the units of :data:`FEATURES` and
    ``y`` (n_samples,), the user's downlink SINR in dB.

    Deterministic in ``seed``; samples come in snapshot order (see the module docstring). With
    ``cache=True`` the set is read from (or written to) :func:`cache_path` under ``cache_dir``
    (default ``$QIML_CACHE`` or ``~/.cache/qiml``) as a pickle-free ``.npz``; an unreadable cache
    file is rebuilt with a warning.
    """
    n_samples = check_int("n_samples", n_samples, 1)
    seed = check_int("seed", seed, 0)
    path = cache_path(n_samples, seed, cache_dir) if cache else None
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                X, y = z["X"], z["y"]
            if X.shape == (n_samples, len(FEATURES)) and y.shape == (n_samples,) and np.isfinite(X).all():
                return X, y
            raise ValueError(f"arrays of shape {X.shape} and {y.shape}")
        except (OSError, ValueError, KeyError) as exc:
            warnings.warn(f"rebuilding the unreadable antenna-tilt cache {path} ({exc})", stacklevel=2)
    X, y = _generate(n_samples, seed)
    if not (np.isfinite(X).all() and np.isfinite(y).all()):     # the model must never produce these
        raise ConfigError("antenna-tilt generator produced non-finite values")
    if path is not None:
        atomic_write(path, lambda f: np.savez(f, X=X, y=y))
    return X, y
