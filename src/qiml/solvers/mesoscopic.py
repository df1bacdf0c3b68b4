"""Mesoscopic solver: imaginary time by a lattice-kinetic scheme or by a population of walkers.

Both methods relax each packet to the ground state of its slice,

    H = -(hbar^2 / 2m) d^2/dx^2 + V,   hard walls (psi = 0) just outside the grid,

by following the imaginary-time equation for the real, positive ground-state amplitude phi,

    d(phi)/d(tau) = D phi'' - (V / hbar) phi,   D = hbar / (2m),

and return ``psi = phi`` (real, cast to complex), so ``density(psi) = phi^2`` normalised is the
quantum density ``|psi_0|^2``. Walls sit at ``x = -dx`` and ``x = 1 + dx``, as in the
finite-difference Hamiltonian of :mod:`qiml.solvers.finite_difference`, whose exact ground state is
the reference for both methods.

``"lattice"`` (deterministic, kinetic)
    A D1Q3 lattice-Boltzmann scheme: populations ``f_{-1}, f_0, f_{+1}`` per node with
    ``phi = sum_i f_i``, lattice weights ``w = (1/6, 2/3, 1/6)`` and sound speed ``c_s^2 = 1/3``
    (lattice units). One step is: BGK collision towards ``w_i phi`` with relaxation time
    ``tau_relax``; multiplication by ``exp(-V dtau / hbar)``; streaming to the neighbours, with
    nothing streaming in from outside (the populations leaving through a wall are absorbed, which
    is ``psi = 0`` just outside the grid); renormalisation. Its diffusion coefficient is
    ``D = c_s^2 (tau_relax - 1/2) dx^2 / dtau``, so ``D = hbar / (2m)`` fixes the step

        dtau = c_s^2 (tau_relax - 1/2) dx^2 * 2m / hbar        (:func:`lattice_timestep`).

    For ``tau_relax = 1`` a step is exactly ``phi <- K exp(-V dtau/hbar) phi`` with
    ``K = 1 + (1/6) * (second difference)``, the explicit Euler diffusion step. The read-out is the
    symmetric (Strang) state ``exp(-V dtau / 2 hbar) phi``, whose fixed point is that of
    ``exp(-V dtau/2hbar) K exp(-V dtau/2hbar)``; the splitting error makes the fixed point differ
    from the exact ground state by an amount measured in ``tests/test_solver_mesoscopic.py``.
    The potential factor is applied exactly, so a huge ``V dtau / hbar`` (small hbar: 8400 for
    ``n = 64, hbar = 1e-4``) is stable and simply makes the packet collapse onto the lowest nodes
    within a few steps; where the factor would underflow a whole row it is shifted per step in log
    space by the current state, so rows sitting where ``exp(-V dtau/hbar)`` underflows survive.
    The splitting error is first order in ``dtau`` (the explicit kinetic step): on ``n = 64`` the
    fixed point is within L1 0.005..0.04 of the exact density at hbar = 0.01, up to 0.15 at
    hbar = 3e-3 and 1e-3, and within 1e-3 at hbar = 1e-4 except where two nodes are nearly
    degenerate; ``cs2`` scales it (and dtau) proportionally.

``"walkers"`` (stochastic, diffusion Monte Carlo)
    A population of walkers per packet, one flat array of positions tagged by packet. Each step the
    walkers take Gaussian steps of variance ``hbar dtau / m`` (the imaginary-time diffusion
    ``D = hbar/2m``), are killed outside the walls or, with the Brownian-bridge probability, when the
    path crossed a wall during the step; then each walker becomes ``floor(W + u)`` copies,

        W = exp(-(V_mid - E_ref) dtau / hbar),   V_mid = (V(x_old) + V(x_new)) / 2,

    with ``V`` taken at the nearest grid node and ``E_ref`` set per packet each step so that the
    expected population after branching is exactly the target (population feedback at full gain:
    the count fluctuates around the target and never drifts). A hard cap subsamples a packet at
    random when it holds more than ``max_walkers``. The walker density converges to phi (not
    phi^2); the returned amplitude is the walkers' nearest-node histogram averaged over the last
    half of the steps (time averaging is the only smoothing). ``dtau`` is set by the rms diffusion
    step in grid cells: ``sqrt(hbar dtau / m) = walker_step * dx``; one cell (the default) makes the
    walk hop like the grid Hamiltonian and matched its ground state best from hbar = 0.03 down to
    1e-4 (smaller steps resolve the continuum, which the grid does not at small hbar). The growth rate of the
    population gives the energy: ``E = -(hbar/dtau) log(sum W_0 / N)`` per step with ``E_ref = 0``.
    Walkers are drawn from the incoming ``|psi|`` at each call, so a warm start carries over.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from ..validation import positive_int
from .base import Solver, normalize, unit_dx

__all__ = [
    "METHODS",
    "LatticeResult",
    "Mesoscopic",
    "WalkerResult",
    "lattice_relax",
    "lattice_timestep",
    "sample_walkers",
    "walker_histogram",
    "walker_relax",
    "walker_timestep",
]

METHODS = ("lattice", "walkers")
#: steps per evolve call when not given (see the class notes for the measurements behind them)
_DEFAULT_STEPS = {"lattice": 1000, "walkers": 200}

_EXP_MAX = 700.0                                      # below log(float max) ~ 709.8


# ----------------------------------------------------------------------------- lattice method
def lattice_weights(cs2: float = 1.0 / 3.0) -> NDArray[np.float64]:
    """D1Q3 equilibrium weights ``(c_s^2/2, 1 - c_s^2, c_s^2/2)`` of the left, rest and right populations."""
    return np.array([0.5 * cs2, 1.0 - cs2, 0.5 * cs2])


def lattice_timestep(dx: float, hbar: float, mass: float, tau_relax: float = 1.0, cs2: float = 1.0 / 3.0) -> float:
    """Imaginary-time step of the D1Q3 scheme: ``dtau = c_s^2 (tau_relax - 1/2) dx^2 * 2m / hbar``.

    This makes the lattice diffusion coefficient ``c_s^2 (tau_relax - 1/2) dx^2 / dtau`` equal to
    ``hbar / 2m``. Units: the box has length 1, ``dtau`` is in the units of ``hbar / energy``.
    """
    return cs2 * (tau_relax - 0.5) * dx * dx * 2.0 * mass / hbar


class LatticeResult(NamedTuple):
    """Outcome of :func:`lattice_relax`."""

    #: (k, n) positive amplitudes phi, ``sum(phi^2) * dx == 1`` per row (the symmetric read-out)
    phi: NDArray[np.float64]
    #: (k,) energy from the norm decay of the last step, ``-(hbar/dtau) log(growth)``
    energy: NDArray[np.float64]
    #: steps taken by the slowest row (fewer than asked when every row met the tolerance)
    steps: int
    #: (k,) L1 change of the density phi^2 (normalised) over the last monitored step; nan if none
    change: NDArray[np.float64]


def _log_scaled(amp: NDArray[np.float64], log_factor: NDArray[np.float64]) -> NDArray[np.float64]:
    """``amp * exp(log_factor)`` per row, rescaled so that each row's largest value is 1.

    Done in log space so that neither factor over- nor underflows the whole row; zeros stay zero.
    """
    with np.errstate(divide="ignore"):
        lg = np.log(amp) + log_factor
    return np.exp(lg - np.max(lg, axis=1, keepdims=True))


def lattice_relax(phi: NDArray[Any], V: NDArray[np.float64], dx: float, hbar: float, mass: float, *,
                  steps: int, tau_relax: float = 1.0, cs2: float = 1.0 / 3.0, tol: float = 0.0,
                  check_every: int = 8) -> LatticeResult:
    """Advance amplitudes ``phi`` (k, n) by up to ``steps`` D1Q3 imaginary-time steps under ``V`` (k, n).

    ``phi`` is a non-negative amplitude (``abs(psi)`` of the incoming packets; rows all zero start
    uniform). Every ``check_every`` steps the L1 change of the density ``phi^2 / sum(phi^2)`` over
    one step is measured; a row stops (is frozen) once it is below ``tol``, and the run ends when
    every row has stopped (``tol = 0``: never).
    ``tau_relax >= 1`` keeps every population non-negative (the collision is then a convex mix).
    Returns the symmetric read-out ``exp(-V dtau / 2 hbar) phi``, normalised (see module notes).
    """
    phi = normalize(np.abs(np.asarray(phi, dtype=np.float64)), dx).real
    k = phi.shape[0]
    a = lattice_timestep(dx, hbar, mass, tau_relax, cs2) / hbar  # dtau / hbar
    w = lattice_weights(cs2)
    va = np.asarray(V, dtype=np.float64) * a                       # exponent of the potential factor
    omega = 1.0 / tau_relax
    # While every row's exponent range fits in a double, precompute the factor (shifted by the
    # row's minimum); otherwise (small hbar) shift it per step in log space by the current state.
    low = np.min(va, axis=1, keepdims=True)
    fast = float(np.max(np.max(va, axis=1, keepdims=True) - low)) < _EXP_MAX
    if fast:
        full, half = np.exp(-(va - low)), np.exp(-0.5 * (va - low))
    # Strang splitting without converting the state: the first step applies half the potential
    # factor and the read-out the other half, so N steps are (e^{-Va/2} K e^{-Va/2})^N exactly.
    rho = phi / np.sum(phi, axis=1, keepdims=True)
    f = w[:, None, None] * rho[None] if omega != 1.0 else None     # (3, k, n) populations
    log_growth = np.zeros(k)
    change = np.full(k, np.nan)
    active = np.ones(k, dtype=bool)      # rows still moving; converged rows are frozen, so a row's
    taken = 0                            # result never depends on the other rows of the batch
    for step in range(steps):
        monitor = tol > 0 and (step + 1) % check_every == 0
        if monitor:
            d_old = rho * rho / np.sum(rho * rho, axis=1, keepdims=True)
        # Potential factor exp(-V a) times exp(offset) per row (offset: a shift that keeps it finite).
        v_step = 0.5 * va if step == 0 else va
        if fast:
            factor = half if step == 0 else full
            offset = -(0.5 if step == 0 else 1.0) * low[:, 0]
        else:
            with np.errstate(divide="ignore"):
                lg = np.log(rho) - v_step
            top = np.max(lg, axis=1, keepdims=True)              # largest new amplitude becomes 1
            factor = np.exp(np.minimum(-v_step - top, _EXP_MAX))  # capped: empty nodes give 0, not nan
            offset = top[:, 0]
        if f is None:
            # tau = 1: collision goes straight to equilibrium w_i phi, so streaming the populations
            # is phi <- (1 - c_s^2) g + (c_s^2 / 2) (g shifted left + right) with g = factor * phi,
            # and nothing enters through the walls (psi = 0 just outside the grid).
            g = rho * factor
            new = w[1] * g
            new[:, 1:] += w[0] * g[:, :-1]
            new[:, :-1] += w[0] * g[:, 1:]
        else:
            f += omega * (w[:, None, None] * rho[None] - f)      # BGK collision
            f *= factor[None]
            f[0, :, :-1] = f[0, :, 1:]                           # stream left; wall: nothing enters
            f[0, :, -1] = 0.0
            f[2, :, 1:] = f[2, :, :-1]                           # stream right
            f[2, :, 0] = 0.0
            new = f.sum(axis=0)
        total = np.sum(new, axis=1)
        log_growth = np.where(active, offset + np.log(total / np.sum(rho, axis=1)), log_growth)
        rho = np.where(active[:, None], new / total[:, None], rho)   # renormalise (sum 1 per row)
        if f is not None:
            f = np.where(active[None, :, None], f / total[None, :, None], f)
        taken = step + 1
        if monitor:
            d_new = rho * rho / np.sum(rho * rho, axis=1, keepdims=True)
            change = np.where(active, np.sum(np.abs(d_new - d_old), axis=1), change)
            active &= ~(change < tol)
            if not np.any(active):
                break
    out = normalize(_log_scaled(rho, -0.5 * va), dx).real
    return LatticeResult(out, -log_growth / a, taken, change)


# ----------------------------------------------------------------------------- walker method
def walker_timestep(dx: float, hbar: float, mass: float, walker_step: float) -> float:
    """``dtau`` such that the rms diffusion step ``sqrt(hbar dtau / m)`` is ``walker_step * dx``."""
    return mass * (walker_step * dx) ** 2 / hbar


def sample_walkers(phi: NDArray[Any], count: int, dx: float, rng: np.random.Generator
                   ) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Draw ``count`` walkers per row from the amplitude ``phi`` (k, n) (not phi^2).

    A node ``j`` is chosen with probability ``phi_j / sum(phi)`` (inverse CDF, all rows in one
    search) and the walker is placed uniformly in its cell ``[x_j - dx/2, x_j + dx/2)``.
    Returns positions (k * count,) in box units and packet tags (k * count,), grouped by row.
    """
    phi = np.abs(np.asarray(phi, dtype=np.float64))
    k, n = phi.shape
    cdf = np.cumsum(phi, axis=1)
    total = cdf[:, -1:]
    cdf = np.where(total > 0, cdf / np.where(total > 0, total, 1.0), np.arange(1, n + 1) / n)  # empty: uniform
    cdf[:, -1] = 1.0
    rows = np.arange(k)
    # Offsetting row r by r keeps the flat array sorted, so one searchsorted serves every row.
    u = rng.random((k, count)) + rows[:, None]
    node = np.searchsorted((cdf + rows[:, None]).ravel(), u.ravel(), side="right") - np.repeat(rows * n, count)
    node = np.minimum(node, n - 1)
    x = (node + rng.random(k * count) - 0.5) * dx
    return x, np.repeat(rows, count)


def walker_histogram(x: NDArray[np.float64], tag: NDArray[np.intp], k: int, n: int, dx: float
                     ) -> NDArray[np.float64]:
    """Walkers per grid node (nearest node; the wall margins count for the end nodes), shape (k, n)."""
    node = np.clip(np.rint(x / dx).astype(np.intp), 0, n - 1)
    return np.bincount(tag * n + node, minlength=k * n).reshape(k, n).astype(np.float64)


def _node_values(Vflat: NDArray[np.float64], n: int, x: NDArray[np.float64], tag: NDArray[np.intp],
                 dx: float) -> NDArray[np.float64]:
    """``V`` of row ``tag`` at the grid node nearest to ``x`` (the end nodes cover the wall margins).

    Nearest-node values are the potential the grid Hamiltonian sees: their mean over a cell is
    ``V_j``, whereas linear interpolation adds ``V'' dx^2 / 8`` to every cell and biases the energy.
    """
    return Vflat[tag * n + np.clip(np.rint(x / dx).astype(np.intp), 0, n - 1)]


class WalkerResult(NamedTuple):
    """Outcome of :func:`walker_relax`."""

    #: (k, n) amplitudes phi from the time-averaged histogram, ``sum(phi^2) * dx == 1`` per row
    phi: NDArray[np.float64]
    #: (k,) growth estimate of the energy averaged over the last half of the steps
    energy: NDArray[np.float64]
    #: final walker positions and packet tags
    x: NDArray[np.float64]
    tag: NDArray[np.intp]
    #: (k,) largest walker count of each packet seen after any step (after the cap)
    max_count: NDArray[np.intp]
    #: (k,) packets re-seeded after their population died out
    reseeded: NDArray[np.intp]


def walker_relax(phi: NDArray[Any], V: NDArray[np.float64], dx: float, hbar: float, mass: float, *,
                 steps: int, rng: np.random.Generator, walkers: int = 500, max_walkers: int = 2000,
                 walker_step: float = 1.0) -> WalkerResult:
    """Diffusion Monte Carlo for ``steps`` steps, starting from walkers drawn from ``phi`` (k, n).

    ``walkers`` is the target per packet, ``max_walkers`` the hard cap per packet, ``walker_step``
    the rms diffusion step in grid cells (sets ``dtau``, see :func:`walker_timestep`). The amplitude
    and the energy are averaged over the last ``max(1, steps // 2)`` steps. A packet whose walkers
    all leave the box is re-seeded from its incoming ``phi``.
    """
    phi = normalize(np.abs(np.asarray(phi, dtype=np.float64)), dx).real
    V = np.asarray(V, dtype=np.float64)
    k, n = phi.shape
    dtau = walker_timestep(dx, hbar, mass, walker_step)
    a = dtau / hbar
    sigma = np.sqrt(hbar * dtau / mass)
    lo, hi = -dx, 1.0 + dx                               # the hard walls
    Vflat = np.ascontiguousarray(V).ravel()
    x, tag = sample_walkers(phi, walkers, dx, rng)
    v_old = _node_values(Vflat, n, x, tag, dx)
    average = max(1, steps // 2)
    hist = np.zeros((k, n))
    energy_sum = np.zeros(k)
    energy_count = np.zeros(k)
    max_count = np.zeros(k, dtype=np.intp)
    reseeded = np.zeros(k, dtype=np.intp)
    for step in range(steps):
        count_before = np.bincount(tag, minlength=k)
        x_new = x + sigma * rng.standard_normal(x.size)
        # Kill walkers outside the walls, and those whose Brownian path touched a wall in between
        # (bridge probability exp(-2 d_old d_new / sigma^2) for each wall).
        # Only walkers within 6 sigma of a wall can have touched it (probability < e^-72 otherwise).
        alive = (x_new > lo) & (x_new < hi)
        edge = (np.minimum(x, x_new) < lo + 6 * sigma) | (np.maximum(x, x_new) > hi - 6 * sigma)
        near = np.flatnonzero(alive & edge)
        if near.size:
            xa, xb = x[near], x_new[near]
            p_cross = (np.exp(-2.0 * (xa - lo) * (xb - lo) / sigma ** 2)
                       + np.exp(-2.0 * (hi - xa) * (hi - xb) / sigma ** 2))
            alive[near] = rng.random(near.size) >= p_cross
        x_new, tag, v_old = x_new[alive], tag[alive], v_old[alive]
        v_new = _node_values(Vflat, n, x_new, tag, dx)
        # Branching weights exp(-(V_mid - E_ref) a) with E_ref such that sum W = walkers per packet;
        # log-sum-exp per packet, shifted by the packet's largest log weight.
        lw = -0.5 * (v_old + v_new) * a
        top = np.full(k, -np.inf)
        np.maximum.at(top, tag, lw)
        e = np.exp(np.maximum(lw - top[tag], -_EXP_MAX))     # floor: no slow subnormals; gives 0 copies
        total = np.bincount(tag, weights=e, minlength=k)
        present = total > 0
        with np.errstate(divide="ignore"):
            log_sum = top + np.log(total)                # log sum_i exp(-V_mid a), -inf if empty
        weight = walkers * e / total[tag]
        copies = (weight + rng.random(weight.size)).astype(np.intp)
        x, tag, v_old = np.repeat(x_new, copies), np.repeat(tag, copies), np.repeat(v_new, copies)
        counts = np.bincount(tag, minlength=k)
        if np.any(counts > max_walkers):
            x, tag, v_old, counts = _cap(x, tag, v_old, counts, max_walkers, rng)
        if not np.all(present):                          # extinct packets start again from phi
            dead = np.flatnonzero(~present)
            xs, ts = sample_walkers(phi[dead], walkers, dx, rng)
            ts = dead[ts]
            x, tag = np.concatenate([x, xs]), np.concatenate([tag, ts])
            v_old = np.concatenate([v_old, _node_values(Vflat, n, xs, ts, dx)])
            counts = np.bincount(tag, minlength=k)
            reseeded[dead] += 1
        max_count = np.maximum(max_count, counts)
        if step >= steps - average:
            hist += walker_histogram(x, tag, k, n, dx)
            ok = present & (count_before > 0)
            energy_sum[ok] -= (log_sum[ok] - np.log(count_before[ok])) / a
            energy_count[ok] += 1
    with np.errstate(invalid="ignore"):
        energy = energy_sum / energy_count
    return WalkerResult(normalize(hist, dx).real, energy, x, tag, max_count, reseeded)


def _cap(x: NDArray[np.float64], tag: NDArray[np.intp], v: NDArray[np.float64], counts: NDArray[np.intp],
         cap: int, rng: np.random.Generator
         ) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.float64], NDArray[np.intp]]:
    """Keep a uniformly random ``cap`` walkers of every packet holding more (order preserved)."""
    order = np.lexsort((rng.random(x.size), tag))        # by packet, random within a packet
    start = np.cumsum(counts) - counts
    rank = np.arange(x.size) - start[tag[order]]
    keep = np.sort(order[rank < cap])
    return x[keep], tag[keep], v[keep], np.minimum(counts, cap)


# ----------------------------------------------------------------------------- solver
class Mesoscopic(Solver):
    """Imaginary-time relaxation to each slice's ground state, kinetic or by walkers.

    Defaults, measured on n = 64 with unit-range slices (the engine's setting): the lattice runs up
    to 1000 steps with ``tol = 1e-5``. At hbar = 0.03 its relaxation rate per step is only
    ``gap * dtau / hbar ~ 0.008`` (dtau is tied to dx^2 by the kinetic scheme), so 1000 steps take a
    cold Gaussian start to within L1 0.01 of the exact state in two calls, while a warm start stops
    early; at hbar <= 1e-3 a call converges in tens of steps. The walkers take 200 steps of one
    cell with 500 walkers per packet (cap 2000): the histogram noise costs about L1 0.03..0.1 in the
    density; more walkers cost proportionally more time. See the test file for the checks.

    Parameters
    ----------
    method : {"lattice", "walkers"}
        ``"lattice"`` (default): deterministic D1Q3 lattice-Boltzmann scheme. ``"walkers"``:
        diffusion Monte Carlo (stochastic; draws from ``rng``).
    steps : int, optional
        Most imaginary-time steps per :meth:`evolve` call (the walker method always takes all);
        default 1000 for the lattice, 200 for walkers.
    tol : float
        Lattice only: stop once the L1 change of the density ``phi^2`` (normalised, each row summing
        to 1) over one step is below ``tol`` in every row, checked every 8 steps; 0 never stops early.
    walkers : int
        Walkers only: target population per packet.
    max_walkers : int
        Walkers only: hard cap per packet (>= ``walkers``).
    tau_relax : float
        Lattice only: BGK relaxation time (>= 1 keeps populations non-negative); sets
        ``dtau = c_s^2 (tau_relax - 1/2) dx^2 2m / hbar``.
    cs2 : float
        Lattice only: lattice sound speed squared ``c_s^2`` in (0, 1], equilibrium weights
        ``(c_s^2/2, 1 - c_s^2, c_s^2/2)``; 1/3 is the standard D1Q3 set. ``dtau`` and the splitting
        error of the fixed point both scale with it; the steps needed scale with its inverse.
    walker_step : float
        Walkers only: rms diffusion step per time step, in grid cells; sets ``dtau``.
    mass : float
        Particle mass ``m``.
    """

    name = "mesoscopic"

    def __init__(self, method: str = "lattice", steps: int | None = None, tol: float = 1e-5, walkers: int = 500,
                 max_walkers: int = 2000, tau_relax: float = 1.0, cs2: float = 1.0 / 3.0,
                 walker_step: float = 1.0, mass: float = 1.0) -> None:
        super().__init__(mass)
        if method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
        if steps is None:
            steps = _DEFAULT_STEPS.get(method, 1)
        for key, value in (("steps", steps), ("walkers", walkers), ("max_walkers", max_walkers)):
            positive_int(key, value)
        if max_walkers < walkers:
            raise ConfigError(f"max_walkers must be >= walkers ({walkers}), got {max_walkers!r}")
        if not np.isfinite(tol) or tol < 0:
            raise ConfigError(f"tol must be finite and >= 0, got {tol!r}")
        if not np.isfinite(tau_relax) or tau_relax < 1.0:
            raise ConfigError(f"tau_relax must be finite and >= 1, got {tau_relax!r}")
        if not np.isfinite(cs2) or not 0 < cs2 <= 1:
            raise ConfigError(f"cs2 must be in (0, 1], got {cs2!r}")
        if not np.isfinite(walker_step) or walker_step <= 0:
            raise ConfigError(f"walker_step must be finite and > 0, got {walker_step!r}")
        self.method, self.steps, self.tol = method, int(steps), float(tol)
        self.walkers, self.max_walkers = int(walkers), int(max_walkers)
        self.tau_relax, self.cs2, self.walker_step = float(tau_relax), float(cs2), float(walker_step)
        self.stochastic = method == "walkers"

    def evolve(self, psi: NDArray[np.complex128], V: NDArray[np.float64], hbar: float,
               rng: np.random.Generator) -> NDArray[np.complex128]:
        dx = unit_dx(V.shape[1])
        if self.method == "lattice":
            phi = lattice_relax(np.abs(psi), V, dx, hbar, self.mass, steps=self.steps,
                                tau_relax=self.tau_relax, cs2=self.cs2, tol=self.tol).phi
        else:
            phi = walker_relax(np.abs(psi), V, dx, hbar, self.mass, steps=self.steps, rng=rng,
                               walkers=self.walkers, max_walkers=self.max_walkers,
                               walker_step=self.walker_step).phi
        return phi.astype(np.complex128)

    def settings(self) -> dict[str, Any]:
        return {"method": self.method, "steps": self.steps, "tol": self.tol, "walkers": self.walkers,
                "max_walkers": self.max_walkers, "tau_relax": self.tau_relax, "cs2": self.cs2,
                "walker_step": self.walker_step, "mass": self.mass}
