"""Physics of the finite-difference solver on the unit box (dx = 1 / (n - 1))."""

from __future__ import annotations

import numpy as np
import pytest

import qiml
import qiml.solvers.finite_difference as fd
from qiml.errors import ConfigError
from qiml.functions import double_well
from qiml.solvers import FiniteDifference, density, get_solver, normalize, unit_dx


# ----------------------------------------------------------------------------- helpers
def norms(psi: np.ndarray, dx: float) -> np.ndarray:
    return np.sum(np.abs(psi) ** 2, axis=-1) * dx


def moving_packets(n: int, rows: int = 3) -> tuple[np.ndarray, np.ndarray, float]:
    """Gaussian packets with momentum (moving right) and a few different potentials."""
    dx = unit_dx(n)
    x = np.linspace(0.0, 1.0, n)
    centres = np.linspace(0.3, 0.4, rows)[:, None]
    psi = np.exp(-0.5 * ((x[None, :] - centres) / 0.05) ** 2 + 1j * 40.0 * x[None, :])
    psi = normalize(psi.astype(np.complex128), dx)
    V = 0.5 * (x[None, :] - 0.5) ** 2 * np.linspace(0.0, 5.0, rows)[:, None]
    return psi, V, dx


def mean_position(psi: np.ndarray) -> np.ndarray:
    x = np.linspace(0.0, 1.0, psi.shape[-1])
    return np.sum(density(psi) * x, axis=-1)


def ho_potential(n: int, omega: float, mass: float = 1.0) -> np.ndarray:
    x = np.linspace(0.0, 1.0, n)
    return (0.5 * mass * omega ** 2 * (x - 0.5) ** 2)[None, :]


# ----------------------------------------------------------------------------- real time
def _check_norm_conservation(monkeypatch, n: int, lapack_rows: int) -> np.ndarray:
    monkeypatch.setattr(fd, "_LAPACK_ROWS", lapack_rows)
    psi0, V, dx = moving_packets(n)
    worst = [0.0]

    def observe(step, psi):   # check along the way (every 50 steps keeps the test fast)
        if step % 50 == 0:
            worst[0] = max(worst[0], float(np.max(np.abs(norms(psi, dx) - 1.0))))

    out = fd.theta_steps(psi0, V, dx, 0.01, 1.0, 1e-3, 10_000, imaginary=False, observe=observe)
    assert out.shape == psi0.shape and out.dtype == np.complex128
    assert worst[0] < 1e-10, f"norm drifted by {worst[0]:.3g} during 10^4 Crank-Nicolson steps"
    assert np.max(np.abs(norms(out, dx) - 1.0)) < 1e-10
    # the packets really moved (not a trivially stationary state)
    assert np.all(np.abs(mean_position(out) - mean_position(psi0)) > 0.05)
    return out


def test_real_time_norm_conserved_lapack_path(monkeypatch):
    _check_norm_conservation(monkeypatch, n=101, lapack_rows=10**6)


def test_real_time_norm_conserved_thomas_path(monkeypatch):
    _check_norm_conservation(monkeypatch, n=64, lapack_rows=0)


@pytest.mark.parametrize("imaginary, theta, dt", [(False, 0.5, 1e-3), (True, 0.5, 1e-3), (True, 1.0, 0.05)])
def test_lapack_and_thomas_paths_agree(monkeypatch, imaginary, theta, dt):
    psi0, V, dx = moving_packets(64, rows=4)
    monkeypatch.setattr(fd, "_LAPACK_ROWS", 10**6)
    a = fd.theta_steps(psi0, V, dx, 0.01, 1.0, dt, 1000, imaginary=imaginary, theta=theta)
    monkeypatch.setattr(fd, "_LAPACK_ROWS", 0)
    b = fd.theta_steps(psi0, V, dx, 0.01, 1.0, dt, 1000, imaginary=imaginary, theta=theta)
    assert np.max(np.abs(a - b)) < 1e-12
    assert not np.allclose(a, psi0)   # something happened


def test_theta_steps_does_not_modify_input():
    psi0, V, dx = moving_packets(40)
    keep = psi0.copy()
    fd.theta_steps(psi0, V, dx, 0.01, 1.0, 1e-3, 5, imaginary=False)
    assert np.array_equal(psi0, keep)


def test_real_time_conserves_energy():
    psi0, V, dx = moving_packets(80)
    e0 = fd.energy(psi0, V, dx, 0.01, 1.0)
    out = fd.theta_steps(psi0, V, dx, 0.01, 1.0, 1e-3, 500, imaginary=False)
    np.testing.assert_allclose(fd.energy(out, V, dx, 0.01, 1.0), e0, rtol=1e-10)


# ----------------------------------------------------------------------------- imaginary time
def _energies(psi0, V, dx, hbar, dt, steps, theta):
    es = [fd.energy(psi0, V, dx, hbar, 1.0)]
    fd.theta_steps(psi0, V, dx, hbar, 1.0, dt, steps, imaginary=True, theta=theta,
                   observe=lambda step, psi: es.append(fd.energy(psi, V, dx, hbar, 1.0)))
    return np.array(es)   # (steps + 1, k)


def test_imaginary_time_energy_never_increases_backward_euler_large_dt():
    n, hbar = 101, 0.01
    dx = unit_dx(n)
    x = np.linspace(0.0, 1.0, n)
    rng = np.random.default_rng(0)
    V = np.stack([ho_potential(n, 10.0)[0], double_well((4 * x - 2)[:, None]) + 1.0, rng.uniform(0, 1, n)])
    psi0 = normalize(rng.standard_normal((3, n)) + 1j * rng.standard_normal((3, n)), dx)
    es = _energies(psi0, V, dx, hbar, dt=50.0, steps=60, theta=1.0)
    assert es.shape == (61, 3)
    assert np.all(np.diff(es, axis=0) <= 1e-12 * np.abs(es[:-1]))
    assert np.all(es[-1] < es[0])


@pytest.mark.parametrize("fraction", [1.0, 0.3])
def test_imaginary_time_energy_never_increases_crank_nicolson_within_bound(fraction):
    n, hbar = 101, 0.01
    dx = unit_dx(n)
    x = np.linspace(0.0, 1.0, n)
    V = np.stack([ho_potential(n, 10.0)[0], double_well((4 * x - 2)[:, None]) + 1.0])
    emax = fd.max_eigenvalue_bound(V, dx, hbar, 1.0)
    dt = fraction * 2.0 * hbar / emax           # dt * E_max / (2 hbar) = fraction <= 1
    assert dt * emax / (2 * hbar) <= 1.0 + 1e-12
    rng = np.random.default_rng(1)
    psi0 = normalize(rng.standard_normal((2, n)).astype(np.complex128), dx)
    es = _energies(psi0, V, dx, hbar, dt=dt, steps=400, theta=0.5)
    assert np.all(np.diff(es, axis=0) <= 1e-12 * np.abs(es[:-1]))
    assert np.all(es[-1] < es[0])


def test_max_eigenvalue_bound_is_an_upper_bound():
    n, hbar = 60, 0.05
    dx = unit_dx(n)
    rng = np.random.default_rng(2)
    V = rng.uniform(0.0, 3.0, (2, n))
    t = fd.kinetic_coefficient(dx, hbar, 1.0)
    bound = fd.max_eigenvalue_bound(V, dx, hbar, 1.0)
    for row in V:
        H = np.diag(2 * t + row) - t * np.eye(n, k=1) - t * np.eye(n, k=-1)
        assert np.linalg.eigvalsh(H).max() <= bound + 1e-12


# ----------------------------------------------------------------------------- harmonic oscillator
def test_harmonic_oscillator_ground_state_energy():
    n, hbar, mass, omega = 201, 0.01, 1.0, 10.0
    dx = unit_dx(n)
    V = ho_potential(n, omega, mass)
    E, states = fd.ground_state(V, dx, hbar, mass)
    assert E.shape == (1,) and states.shape == (1, n)
    assert abs(E[0] / (0.5 * hbar * omega) - 1.0) < 0.01
    # the state is an eigenvector with that energy
    residual = fd.apply_hamiltonian(states, V, dx, hbar, mass) - E[:, None] * states
    assert np.max(np.abs(residual)) < 1e-8 * np.max(np.abs(states))
    np.testing.assert_allclose(fd.energy(states, V, dx, hbar, mass), E, rtol=1e-10)
    # a Gaussian of width sqrt(hbar / (m omega)) centred at 0.5
    x = np.linspace(0.0, 1.0, n)
    rho = states[0] ** 2 * dx
    assert abs(np.sum(rho * x) - 0.5) < 1e-8
    sigma = np.sqrt(np.sum(rho * (x - 0.5) ** 2))
    assert abs(sigma / np.sqrt(hbar / (2 * mass * omega)) - 1.0) < 0.01


def test_imaginary_time_converges_to_ground_state_energy():
    n, hbar, mass, omega = 201, 0.01, 1.0, 10.0
    dx = unit_dx(n)
    V = ho_potential(n, omega, mass)
    E, ground = fd.ground_state(V, dx, hbar, mass)
    x = np.linspace(0.0, 1.0, n)
    psi0 = normalize(np.exp(-0.5 * ((x - 0.3) / 0.1) ** 2)[None, :].astype(np.complex128), dx)
    out = fd.theta_steps(psi0, V, dx, hbar, mass, 1.0, 200, imaginary=True, theta=1.0)
    e = fd.energy(out, V, dx, hbar, mass)
    assert abs(e[0] - E[0]) < 1e-9 * E[0]
    assert abs(e[0] / (0.5 * hbar * omega) - 1.0) < 0.01
    overlap = abs(np.sum(np.conj(out[0]) * ground[0]) * dx)
    assert overlap > 1.0 - 1e-9


def test_solver_class_ground_and_imaginary_agree():
    n, hbar = 121, 0.01
    dx = unit_dx(n)
    V = ho_potential(n, 10.0)
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 1.0, n)
    psi0 = normalize(np.exp(-0.5 * ((x - 0.7) / 0.1) ** 2)[None, :].astype(np.complex128), dx)
    ground = FiniteDifference("ground").evolve(psi0, V, hbar, rng)
    imag = FiniteDifference("imaginary", steps=300, dt=1.0).evolve(psi0, V, hbar, rng)
    np.testing.assert_allclose(norms(imag, dx), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(imag), np.abs(ground), atol=1e-7)
    real = FiniteDifference("real", steps=50, dt=1e-3).evolve(psi0, V, hbar, rng)
    np.testing.assert_allclose(norms(real, dx), 1.0, atol=1e-12)
    assert not np.allclose(real, psi0)


# ----------------------------------------------------------------------------- double well
def test_packet_tunnels_from_shallow_to_deep_well_in_imaginary_time():
    n, hbar = 201, 0.01
    dx = unit_dx(n)
    x = np.linspace(0.0, 1.0, n)
    v = double_well((4.0 * x - 2.0)[:, None])          # deep well at x = 0.24, shallow at x = 0.74
    V = ((v - v.min()) / (v.max() - v.min()))[None, :]
    assert x[np.argmin(V[0])] < 0.5
    psi0 = normalize(np.exp(-0.5 * ((x - 0.74) / 0.05) ** 2)[None, :].astype(np.complex128), dx)
    rho0 = density(psi0)[0]
    assert rho0[x > 0.5].sum() > 0.9                   # starts in the shallow well
    out = fd.theta_steps(psi0, V, dx, hbar, 1.0, 1.0, 200, imaginary=True, theta=1.0)
    rho = density(out)[0]
    assert rho[x < 0.5].sum() > 0.9                    # ends in the deep well
    assert abs(x[np.argmax(rho)] - 0.24) < 0.02


# ----------------------------------------------------------------------------- ground_state
def test_ground_state_positive_and_normalised_for_many_rows():
    n, hbar = 50, 0.05
    dx = unit_dx(n)
    rng = np.random.default_rng(4)
    V = rng.uniform(-1.0, 1.0, (6, n))
    E, states = fd.ground_state(V, dx, hbar, 2.0)
    assert E.shape == (6,) and states.shape == (6, n)
    assert np.all(states > 0)                                  # nodeless, sign fixed
    np.testing.assert_allclose(np.sum(states ** 2, axis=1) * dx, 1.0, rtol=1e-12)
    t = fd.kinetic_coefficient(dx, hbar, 2.0)
    for row in range(6):
        H = np.diag(2 * t + V[row]) - t * np.eye(n, k=1) - t * np.eye(n, k=-1)
        assert abs(E[row] - np.linalg.eigvalsh(H)[0]) < 1e-10


def test_normalize_and_density():
    dx = unit_dx(10)
    psi = np.zeros((2, 10), dtype=np.complex128)
    psi[0, 3] = 2.0 + 1.0j
    out = normalize(psi, dx)
    np.testing.assert_allclose(norms(out, dx), 1.0)
    np.testing.assert_allclose(np.abs(out[1]), np.abs(out[1, 0]))  # dead row becomes uniform
    np.testing.assert_allclose(density(out).sum(axis=1), 1.0)


# ----------------------------------------------------------------------------- configuration
def test_finite_difference_defaults_and_settings():
    assert FiniteDifference().time == "ground"
    assert FiniteDifference("imaginary").theta == 1.0
    assert FiniteDifference("real").theta == 0.5
    s = FiniteDifference("imaginary", steps=7, dt=0.25, theta=0.75, mass=2.0).settings()
    assert s == {"time": "imaginary", "steps": 7, "dt": 0.25, "theta": 0.75, "mass": 2.0}
    assert "FiniteDifference(" in repr(FiniteDifference())


@pytest.mark.parametrize("kwargs, match", [
    (dict(time="bogus"), "time must be"),
    (dict(steps=0), "steps must be a positive int"),
    (dict(steps=2.5), "steps must be a positive int"),
    (dict(dt=-0.1), "dt must be finite and > 0"),
    (dict(dt=0.0), "dt must be finite and > 0"),
    (dict(dt=float("nan")), "dt must be finite and > 0"),
    (dict(time="imaginary", theta=0.3), "theta must be in"),
    (dict(time="imaginary", theta=1.5), "theta must be in"),
    (dict(time="real", theta=1.0), "real time needs theta = 0.5"),
    (dict(mass=0.0), "mass must be finite and > 0"),
    (dict(mass=float("inf")), "mass must be finite and > 0"),
])
def test_finite_difference_rejects_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FiniteDifference(**kwargs)


def test_get_solver():
    s = get_solver("fd", time="imaginary", steps=3)
    assert isinstance(s, FiniteDifference) and s.steps == 3
    assert isinstance(get_solver("finite-differences"), FiniteDifference)
    inst = FiniteDifference("real")
    assert get_solver(inst) is inst
    with pytest.raises(ConfigError, match="unknown solver"):
        get_solver("bogus")
    with pytest.raises(ConfigError, match="bad settings for solver"):
        get_solver("fd", colour="red")
    with pytest.raises(ConfigError, match="given with a solver instance"):
        get_solver(inst, dt=0.1)
    assert issubclass(ConfigError, qiml.QimlError)
