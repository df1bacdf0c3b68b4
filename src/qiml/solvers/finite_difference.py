"""Finite-difference solver: batched Crank–Nicolson (theta scheme) and the exact ground state.

The Hamiltonian of each packet on its grid is the tridiagonal matrix

    H = -(hbar^2 / 2m) D2 + V,   D2 = (psi[j-1] - 2 psi[j] + psi[j+1]) / dx^2,

with ``psi = 0`` just outside the grid (hard walls). Time stepping uses the theta scheme

    (I + theta z H) psi_new = (I - (1 - theta) z H) psi,   z = i dt / hbar (real time)
                                                            z = dt / hbar   (imaginary time),

where ``theta = 1/2`` is Crank–Nicolson: unitary in real time, so the norm is conserved to
round-off. In imaginary time the row is renormalised after each step; the energy then never
increases for ``theta = 1`` (backward Euler, any ``dt``) and for ``theta = 1/2`` when
``dt * E_max / (2 hbar) <= 1`` (``E_max`` the largest eigenvalue of H). The infinite-time limit
of imaginary time, the ground state of H, is computed exactly by :func:`ground_state`.
All functions are batched over rows (packets); the tridiagonal solves run the Thomas algorithm
vectorised across rows, factorised once per call because V is fixed during a call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import eigh_tridiagonal
from scipy.linalg.lapack import zgttrf, zgttrs

from ..errors import ConfigError
from ..validation import positive_int
from .base import Solver, normalize, unit_dx

__all__ = ["FiniteDifference", "kinetic_coefficient", "apply_hamiltonian", "energy",
           "theta_steps", "ground_state", "max_eigenvalue_bound"]


def kinetic_coefficient(dx: float, hbar: float, mass: float) -> float:
    """``t = hbar^2 / (2 m dx^2)``: H has ``2t + V`` on the diagonal and ``-t`` off it."""
    return hbar * hbar / (2.0 * mass * dx * dx)


def apply_hamiltonian(psi: NDArray[Any], V: NDArray[np.float64], dx: float, hbar: float,
                      mass: float) -> NDArray[Any]:
    """``H psi`` for each row, hard walls; shapes (k, n)."""
    t = kinetic_coefficient(dx, hbar, mass)
    out = (2.0 * t + V) * psi
    out[:, 1:] -= t * psi[:, :-1]
    out[:, :-1] -= t * psi[:, 1:]
    return out


def energy(psi: NDArray[Any], V: NDArray[np.float64], dx: float, hbar: float, mass: float) -> NDArray[np.float64]:
    """Rayleigh quotient ``<psi|H|psi> / <psi|psi>`` per row, shape (k,)."""
    h_psi = apply_hamiltonian(psi, V, dx, hbar, mass)
    return np.real(np.sum(np.conj(psi) * h_psi, axis=1)) / np.sum(np.abs(psi) ** 2, axis=1)


def max_eigenvalue_bound(V: NDArray[np.float64], dx: float, hbar: float, mass: float) -> float:
    """Gershgorin upper bound on the largest eigenvalue of H over all rows."""
    return 4.0 * kinetic_coefficient(dx, hbar, mass) + float(np.max(V))


def theta_steps(psi: NDArray[Any], V: NDArray[np.float64], dx: float, hbar: float, mass: float,
                dt: float, steps: int, *, imaginary: bool, theta: float = 0.5,
                observe: Any = None) -> NDArray[np.complex128]:
    """Advance rows of ``psi`` by ``steps`` theta-scheme steps of length ``dt``.

    ``observe(step, psi)``, if given, is called after every step (used by tests and plots).
    Imaginary-time rows are renormalised after each step; real-time rows are not touched.
    """
    psi = np.array(psi, dtype=np.complex128)
    k, n = psi.shape
    t = kinetic_coefficient(dx, hbar, mass)
    z = (dt / hbar) if imaginary else (1j * dt / hbar)
    diag = 2.0 * t + V                          # (k, n) diagonal of H
    # Left matrix A = I + theta z H: diagonal b, constant off-diagonal a (both sides).
    a = -theta * z * t
    b = 1.0 + theta * z * diag
    # Thomas factorisation, done once: inv_den[j] = 1 / (b[j] - a * cp[j-1]), cp[j] = a * inv_den[j].
    r = (1.0 - theta) * z                       # right matrix B = I - r H
    roff = r * t                                # B's off-diagonal is +r t
    if k <= _LAPACK_ROWS:
        return _steps_lapack(psi, a, b, 1.0 - r * diag, roff, dx, steps, imaginary, observe)
    # Thomas factorisation, done once: inv_den[j] = 1 / (b[j] - a * cp[j-1]), cp[j] = a * inv_den[j].
    bt = np.ascontiguousarray(b.T)             # (n, k): contiguous per grid index
    inv_den = np.empty_like(bt)
    cp = np.empty_like(bt)
    inv_den[0] = 1.0 / bt[0]
    cp[0] = a * inv_den[0]
    for j in range(1, n):
        inv_den[j] = 1.0 / (bt[j] - a * cp[j - 1])
        cp[j] = a * inv_den[j]
    rdiag = (1.0 - r * diag).T                  # (n, k)
    y = np.ascontiguousarray(psi.T)             # (n, k)
    d = np.empty_like(y)
    for step in range(steps):
        d[:] = rdiag * y
        if roff != 0:
            d[1:] += roff * y[:-1]
            d[:-1] += roff * y[1:]
        # forward sweep
        d[0] *= inv_den[0]
        for j in range(1, n):
            d[j] = (d[j] - a * d[j - 1]) * inv_den[j]
        # back substitution
        for j in range(n - 2, -1, -1):
            d[j] -= cp[j] * d[j + 1]
        y, d = d, y
        if imaginary:
            y /= np.sqrt(np.sum(np.abs(y) ** 2, axis=0) * dx)
        if observe is not None:
            observe(step, y.T)
    return np.ascontiguousarray(y.T)


# Below this many rows a LAPACK factorisation per row beats the row-vectorised Thomas sweep,
# whose cost is ~2n NumPy calls per step whatever the number of rows.
_LAPACK_ROWS = 48


def _steps_lapack(psi: NDArray[np.complex128], a: complex, b: NDArray[Any], rdiag: NDArray[Any],
                  roff: complex, dx: float, steps: int, imaginary: bool, observe: Any
                  ) -> NDArray[np.complex128]:
    """Same steps as the Thomas path, one ``zgttrf`` factorisation and ``zgttrs`` solve per row."""
    k, n = psi.shape
    off = np.full(n - 1, a, dtype=np.complex128)
    factors = [zgttrf(off, b[row].astype(np.complex128), off) for row in range(k)]
    y = psi.copy()
    for step in range(steps):
        d = rdiag * y
        if roff != 0:
            d[:, 1:] += roff * y[:, :-1]
            d[:, :-1] += roff * y[:, 1:]
        for row, (dl, du_, du, du2, ipiv, _info) in enumerate(factors):
            y[row] = zgttrs(dl, du_, du, du2, ipiv, d[row])[0]
        if imaginary:
            y /= np.sqrt(np.sum(np.abs(y) ** 2, axis=1, keepdims=True) * dx)
        if observe is not None:
            observe(step, y)
    return y


#: grids of at most this many points are solved as one batch of dense symmetric eigenproblems
_DENSE_N = 24


def ground_state(V: NDArray[np.float64], dx: float, hbar: float, mass: float
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lowest eigenpair of H per row: energies (k,) and positive, normalised states (k, n).

    This is the exact infinite-imaginary-time limit. Each row is a symmetric tridiagonal
    eigenproblem solved by LAPACK (bisection + inverse iteration for the one wanted pair).
    """
    k, n = V.shape
    t = kinetic_coefficient(dx, hbar, mass)
    if n <= _DENSE_N:
        # small grids: one batched dense eigensolve beats a LAPACK call per row
        H = np.zeros((k, n, n))
        H[:, np.arange(n), np.arange(n)] = 2.0 * t + V
        H[:, np.arange(n - 1), np.arange(1, n)] = H[:, np.arange(1, n), np.arange(n - 1)] = -t
        w, v = np.linalg.eigh(H)
        states = v[:, :, 0]
        states = np.where(states.sum(axis=1, keepdims=True) >= 0, states, -states)
        states /= np.sqrt(np.sum(states ** 2, axis=1, keepdims=True) * dx)
        return w[:, 0].copy(), states
    off = np.full(n - 1, -t)
    energies = np.empty(k)
    states = np.empty((k, n))
    for row in range(k):
        w, v = eigh_tridiagonal(2.0 * t + V[row], off, select="i", select_range=(0, 0))
        vec = v[:, 0]
        energies[row] = w[0]
        states[row] = vec if vec.sum() >= 0 else -vec
    states /= np.sqrt(np.sum(states ** 2, axis=1, keepdims=True) * dx)
    return energies, states


class FiniteDifference(Solver):
    """Deterministic grid solver for all packets at once.

    Parameters
    ----------
    time : {"ground", "imaginary", "real"}
        ``"ground"`` jumps to the exact imaginary-time limit (the ground state of each slice);
        ``"imaginary"`` takes ``steps`` renormalised steps from the current packets;
        ``"real"`` takes ``steps`` unitary Crank–Nicolson steps (packets oscillate and tunnel).
    steps : int
        Time steps per engine iteration (ignored for ``"ground"``).
    dt : float
        Time step in the units where the box has length 1 and ``mass`` is the particle mass.
    theta : float, optional
        Implicitness of the theta scheme in imaginary time (``0.5`` Crank–Nicolson, ``1.0``
        backward Euler, the default, which never raises the energy for any ``dt``). Real time
        always uses ``0.5``, the only unitary choice.
    mass : float
        Particle mass ``m``.
    """

    name = "fd"

    def __init__(self, time: str = "ground", steps: int = 10, dt: float = 0.5, theta: float | None = None,
                 mass: float = 1.0) -> None:
        super().__init__(mass)
        if time not in ("ground", "imaginary", "real"):
            raise ConfigError(f"time must be 'ground', 'imaginary' or 'real', got {time!r}")
        positive_int("steps", steps)
        if not np.isfinite(dt) or dt <= 0:
            raise ConfigError(f"dt must be finite and > 0, got {dt!r}")
        if theta is None:
            theta = 0.5 if time == "real" else 1.0
        if time == "real" and theta != 0.5:
            raise ConfigError("real time needs theta = 0.5 (Crank–Nicolson), the only unitary theta")
        if not 0.5 <= theta <= 1.0:
            raise ConfigError(f"theta must be in [0.5, 1], got {theta!r}")
        self.time, self.steps, self.dt, self.theta = time, int(steps), float(dt), float(theta)
        self.stateful = time != "ground"

    def evolve(self, psi: NDArray[np.complex128], V: NDArray[np.float64], hbar: float,
               rng: np.random.Generator) -> NDArray[np.complex128]:
        dx = unit_dx(V.shape[1])
        if self.time == "ground":
            return ground_state(V, dx, hbar, self.mass)[1].astype(np.complex128)
        out = theta_steps(psi, V, dx, hbar, self.mass, self.dt, self.steps,
                          imaginary=self.time == "imaginary", theta=self.theta)
        return normalize(out, dx) if self.time == "imaginary" else out

    def settings(self) -> dict[str, Any]:
        return {"time": self.time, "steps": self.steps, "dt": self.dt, "theta": self.theta, "mass": self.mass}
