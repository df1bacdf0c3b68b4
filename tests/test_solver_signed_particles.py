"""Physics of the signed-particle (Wigner Monte Carlo) solver, checked against Crank–Nicolson."""

from __future__ import annotations

import numpy as np
import pytest

import qiml.solvers.finite_difference as fd
import qiml.solvers.signed_particles as sp
from qiml.errors import ConfigError
from qiml.solvers import density, normalize, unit_dx
from qiml.solvers.signed_particles import SignedParticles


# ----------------------------------------------------------------------------- helpers
def gaussian(x: np.ndarray, x0: float, sigma: float, k0: float = 0.0) -> np.ndarray:
    """Packet with density std ``sigma`` and mean wave number ``k0``, shape (1, n)."""
    dx = x[1] - x[0]
    return normalize(np.exp(-((x - x0) / (2 * sigma)) ** 2 + 1j * k0 * x)[None, :].astype(np.complex128), dx)


def asymmetric_double_well(n: int) -> np.ndarray:
    """(y^2 - 1)^2 + y on y in [-2, 2], scaled to [0, 1]: deep well at x ~ 0.19, shallow at x ~ 0.72."""
    y = np.linspace(-2.0, 2.0, n)
    v = (y * y - 1.0) ** 2 + y
    return ((v - v.min()) / (v.max() - v.min()))[None, :]


def engine_packet(n: int) -> np.ndarray:
    """The engine's starting packet: a Gaussian centred in the box, amplitude width 0.2."""
    x = np.linspace(0.0, 1.0, n)
    return normalize(np.exp(-0.5 * ((x - 0.5) / 0.2) ** 2)[None, :].astype(np.complex128), unit_dx(n))


# ----------------------------------------------------------------------------- kernel and sampling
def test_kernel_is_odd_periodic_and_has_the_classical_limit():
    n, hbar, F = 200, 0.5, 3.0
    dx = unit_dx(n)
    x = np.arange(n) * dx
    errors = []
    for nk in (32, 64, 128):
        theta = sp.wigner_kernel((F * x)[None, :], dx, hbar, nk)
        assert theta.shape == (1, n, nk)
        mirror = (nk - np.arange(nk)) % nk                     # index of -M
        assert np.max(np.abs(theta + theta[:, :, mirror])) < 1e-12
        assert np.max(np.abs(theta[:, :, 0])) < 1e-12           # Nyquist cell: sin(pi M l) = 0
        # d<k>/dt = dk sum_M M Theta(x, M) must be the force / hbar = -F / hbar (sign and size)
        dk = np.pi / (nk * dx)
        M = np.arange(nk) - nk // 2
        errors.append(abs(dk * np.sum(M * theta[0, n // 2]) / (-F / hbar) - 1.0))
    assert errors[0] < 0.1 and errors[2] < 0.03 and errors[0] > errors[1] > errors[2]
    # a flat potential creates nothing
    gamma, cdf = sp.creation_table(sp.wigner_kernel(np.ones((2, 16)), unit_dx(16), 0.1, 8))
    assert np.all(gamma == 0) and cdf.shape == (2, 16, 8)


def test_wigner_function_marginal_and_momentum():
    n, nk, k0 = 128, 64, 30.0
    dx = unit_dx(n)
    x = np.arange(n) * dx
    psi = np.concatenate([gaussian(x, 0.4, 0.06, k0), gaussian(x, 0.6, 0.05, -k0)])
    W = sp.wigner_function(psi, dx, nk)
    assert W.shape == (2, n, nk)
    np.testing.assert_allclose(W.sum(axis=2), np.abs(psi) ** 2 * dx, atol=1e-14)   # exact marginal
    kM = (np.arange(nk) - nk // 2) * np.pi / (nk * dx)
    mean_k = np.sum(W * kM, axis=(1, 2)) / np.sum(W, axis=(1, 2))
    np.testing.assert_allclose(mean_k, [k0, -k0], rtol=0.02)
    rng = np.random.default_rng(0)
    p = sp.sample_particles(W, 5000, dx, rng)
    assert np.array_equal(p.count(2), [5000, 5000])
    assert np.all((p.x >= -dx / 2) & (p.x <= (n - 0.5) * dx))
    hist = sp.signed_histogram(p, 2, n, dx)
    rho = hist / hist.sum(axis=1, keepdims=True)
    assert np.max(np.abs(rho - density(psi))) < 0.01


# ----------------------------------------------------------------------------- particle steps
def _random_particles(rng, k=3, n=20, nk=16, count=4000):
    dx = unit_dx(n)
    return sp.Particles(rng.uniform(-dx / 2, (n - 0.5) * dx, count), rng.integers(0, nk, count),
                        rng.choice(np.array([-1, 1], dtype=np.int8), count), rng.integers(0, k, count)), dx


def test_creation_and_annihilation_conserve_the_net_sign_exactly():
    rng = np.random.default_rng(1)
    k, n, nk = 3, 20, 16
    p, dx = _random_particles(rng, k, n, nk)
    V = rng.uniform(0.0, 1.0, (k, n))
    gamma, cdf = sp.creation_table(sp.wigner_kernel(V, dx, 0.05, nk))
    q = sp.create_pairs(p, gamma, cdf, 0.01, dx, rng)
    assert len(q) > len(p) and np.array_equal(q.signed_count(k), p.signed_count(k))
    a = sp.annihilate(q, k, n, nk, dx, rng)
    assert len(a) < len(q) and np.array_equal(a.signed_count(k), q.signed_count(k))
    # the net sign of every (packet, cell, momentum) bin is untouched, and bins are now single-signed
    def bins(r):
        b = (r.tag * n + sp.cell_of(r.x, dx, n)) * nk + r.j
        return np.bincount(b, weights=r.s, minlength=k * n * nk), np.bincount(b, minlength=k * n * nk)
    net_q, _ = bins(q)
    net_a, cnt_a = bins(a)
    assert np.array_equal(net_a, net_q) and np.array_equal(np.abs(net_a), cnt_a)


def test_drift_boundaries():
    rng = np.random.default_rng(2)
    n, nk = 20, 16
    p, dx = _random_particles(rng, 1, n, nk, 2000)
    v = sp.velocities(nk, dx, 1.0, 1.0)
    r = sp.drift(p, v, 3 * dx / v.max(), n, dx, "reflecting")
    assert len(r) == len(p) and np.all((r.x >= -dx / 2) & (r.x <= (n - 0.5) * dx))
    flipped = r.j != p.j
    assert flipped.any() and np.array_equal(r.j[flipped], (nk - p.j[flipped]) % nk)
    a = sp.drift(p, v, 3 * dx / v.max(), n, dx, "absorbing")
    assert len(a) == len(p) - flipped.sum()
    with pytest.raises(ConfigError, match="boundary"):
        sp.drift(p, v, 0.1, n, dx, "sticky")


# ----------------------------------------------------------------------------- transmission vs Crank–Nicolson
# hbar = m = 1 on a 200-point box: packet at 0.22 (density std 0.05, k0 = 40, E = 800) on a square
# barrier of 8 cells (width 0.04) and height 880 at x = 0.45; T ~ 0.5, a sensitive case.
_N, _NK, _T_END = 200, 128, 0.0105


def _barrier():
    dx = unit_dx(_N)
    x = np.arange(_N) * dx
    V = np.where((x >= 0.45 - 1e-9) & (x < 0.49 - 1e-9), 880.0, 0.0)[None, :]
    return x, dx, V, x[V[0] > 0].min() - dx / 2, x[V[0] > 0].max() + dx / 2


def _crank_nicolson_transmission() -> float:
    """Probability beyond the barrier at _T_END on a grid twice as fine (same piecewise-constant barrier)."""
    _x, dx, V, _lo, hi = _barrier()
    nf = 2 * _N - 1
    xf = np.linspace(0.0, 1.0, nf)
    Vf = V[0][np.clip(np.floor(xf / dx + 0.5).astype(int), 0, _N - 1)][None, :]
    psi = fd.theta_steps(gaussian(xf, 0.22, 0.05, 40.0), Vf, unit_dx(nf), 1.0, 1.0, _T_END / 1000, 1000,
                         imaginary=False)
    return float(np.sum(np.abs(psi[0, xf > hi]) ** 2) * unit_dx(nf))


def _wmc_transmission(kernel, packets, seed=0, track_mass=False):
    """Mean transmission of independent packets (one particle array, 10^4 particles each), absorbing walls."""
    x, dx, V, _lo, hi = _barrier()
    rng = np.random.default_rng(seed)
    psi = np.repeat(gaussian(x, 0.22, 0.05, 40.0), packets, axis=0)
    theta = kernel(np.repeat(V, packets, axis=0), dx, 1.0, _NK)
    gamma, _ = sp.creation_table(theta)
    dt = sp.auto_dt(float(gamma.max()), dx, 1.0, 1.0)
    steps = int(np.ceil(_T_END / dt))
    p = sp.sample_particles(sp.wigner_function(psi, dx, _NK), 10_000, dx, rng)
    s0 = p.signed_count(packets)
    masses: list[float] = []

    def observe(step, q):
        # before anything can reach a wall: t <= 0.008 (the reference has < 1e-4 within 0.04 of either wall)
        if track_mass and (step + 1) * _T_END / steps <= 0.008:
            masses.append(abs(float(np.mean(sp.signed_histogram(q, packets, _N, dx).sum(1) / s0)) - 1.0))

    p, weight = sp.run_particles(p, theta, sp.velocities(_NK, dx, 1.0, 1.0), _T_END / steps, steps, dx, rng,
                                 annihilate_every=1, max_particles=10**7, boundary="absorbing", observe=observe)
    assert np.all(weight == 1.0)                       # no thinning in this run
    hist = sp.signed_histogram(p, packets, _N, dx) / s0[:, None]
    return float(np.mean(hist[:, x > hi].sum(axis=1))), masses


def _half_cell_kernel(shift):
    """Deliberately wrong kernel: the sine at offset l paired with V(x + (l + shift) dx) - V(x - (l + shift) dx)."""
    def kernel(V, dx, hbar, nk):
        half = nk // 2
        padded = np.pad(V, ((0, 0), (half + 1, half + 1)), mode="edge")
        i = np.arange(V.shape[1])[:, None] + half + 1
        l_ = np.arange(1, half + 1)[None, :]
        nxt = 1 if shift > 0 else -1                    # linear interpolation half-way to the next point
        plus = 0.5 * (padded[:, i + l_] + padded[:, i + l_ + nxt])
        minus = 0.5 * (padded[:, i - l_] + padded[:, i - l_ - nxt])
        sines = np.sin(2.0 * np.pi * np.outer(l_[0], np.arange(-half, half)) / nk)
        return (-2.0 / (hbar * nk)) * ((plus - minus) @ sines)
    return kernel


def test_transmission_matches_crank_nicolson_and_mass_is_conserved():
    reference = _crank_nicolson_transmission()
    assert 0.3 < reference < 0.7                        # a sensitive case, not all-or-nothing
    wmc, masses = _wmc_transmission(sp.wigner_kernel, 8, track_mass=True)
    print(f"transmission: WMC {wmc:.4f} vs Crank-Nicolson {reference:.4f}; max mass error {max(masses):.4f}")
    assert abs(wmc - reference) < 0.03, f"WMC transmission {wmc:.3f} vs Crank-Nicolson {reference:.3f}"
    assert len(masses) > 100 and max(masses) < 0.02, f"signed mass drifted by {max(masses):.3f}"


@pytest.mark.parametrize("shift", [-0.5, 0.5])
def test_half_cell_offset_in_the_kernel_fails_the_transmission_check(shift):
    reference = _crank_nicolson_transmission()
    wrong, _ = _wmc_transmission(_half_cell_kernel(shift), 4)
    print(f"half-cell shift {shift:+.1f}: WMC {wrong:.3f} vs Crank-Nicolson {reference:.3f}")
    assert abs(wrong - reference) > 0.03, f"half-cell kernel {wrong:.3f} vs Crank-Nicolson {reference:.3f}"


# ----------------------------------------------------------------------------- inside the engine
def test_deep_well_wins_through_evolve_with_defaults():
    """From the engine's starting packet, one default call moves probability into the deep well.

    Criterion (met by the Crank–Nicolson reference with the same mass and duration): the probability
    in the deep half exceeds the shallow half by a clear margin, the mean position moves towards the
    deep well, and both agree with Crank–Nicolson within 0.05 (mean of 8 independent packets).
    """
    n, hbar, k = 64, 0.01, 8
    x = np.linspace(0.0, 1.0, n)
    V = asymmetric_double_well(n)
    assert x[np.argmin(V[0])] < 0.5
    solver = SignedParticles()
    mass, dt, steps, _ = solver.resolve(V, hbar)
    out = solver.evolve(np.repeat(engine_packet(n), k, 0), np.repeat(V, k, 0), hbar, np.random.default_rng(3))
    rho = density(out)
    deep, mean_x = rho[:, x < 0.5].sum(axis=1).mean(), (rho @ x).mean()
    ref = density(fd.theta_steps(engine_packet(n), V, unit_dx(n), hbar, mass, dt / 4, 4 * steps, imaginary=False))
    ref_deep, ref_x = ref[0, x < 0.5].sum(), ref[0] @ x
    assert ref_deep > 0.55 and ref_x < 0.47               # the reference itself meets the criterion
    assert deep > 0.53 and mean_x < 0.48, f"deep {deep:.3f}, <x> {mean_x:.3f}"
    assert abs(deep - ref_deep) < 0.05 and abs(mean_x - ref_x) < 0.03


def test_auto_mass_and_duration_follow_the_lattice():
    V = asymmetric_double_well(64)
    dx = unit_dx(64)
    for hbar in (0.03, 1e-4):
        mass, dt, steps, theta = SignedParticles().resolve(V, hbar)
        pmax = hbar * np.pi / (2 * dx)
        assert np.isclose(np.sqrt(2 * mass * 1.0), pmax / 2)                   # V has unit range
        assert np.isclose(steps * dt, sp.quarter_period(V, mass), rtol=0.02)
        gamma, _ = sp.creation_table(theta)
        assert gamma.max() * dt <= 0.5 + 1e-12 and pmax / mass * dt <= dx * (1 + 1e-12)


# ----------------------------------------------------------------------------- solver contract
def test_evolve_contract_shapes_normalisation_inputs_untouched():
    n, k = 48, 3
    dx = unit_dx(n)
    rng = np.random.default_rng(4)
    V = rng.uniform(0.0, 1.0, (k, n))
    psi = normalize(rng.standard_normal((k, n)) + 1j * rng.standard_normal((k, n)), dx)
    psi[2, 30:] = 0.0                                      # the engine zeroes grid points beyond a short grid
    psi = normalize(psi, dx)
    keep_psi, keep_V = psi.copy(), V.copy()
    out = SignedParticles(particles=500, steps=20).evolve(psi, V, 0.01, rng)
    assert np.array_equal(psi, keep_psi) and np.array_equal(V, keep_V)
    assert out.shape == (k, n) and out.dtype == np.complex128 and np.all(np.isfinite(out))
    np.testing.assert_allclose(np.sum(np.abs(out) ** 2, axis=1) * dx, 1.0, rtol=1e-12)


def test_same_seed_same_result_different_seed_different_result():
    n = 32
    V = asymmetric_double_well(n).repeat(2, 0)
    psi = engine_packet(n).repeat(2, 0)
    s = SignedParticles(particles=800, steps=30)
    a = s.evolve(psi, V, 0.01, np.random.default_rng(7))
    b = s.evolve(psi, V, 0.01, np.random.default_rng(7))
    c = s.evolve(psi, V, 0.01, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a[0], a[1])                     # packets get independent samples


def test_particle_numbers_stay_under_the_cap_over_a_long_run():
    n, nk, k, cap = 64, 32, 2, 3000
    dx = unit_dx(n)
    x = np.linspace(0.0, 1.0, n)
    V = np.repeat(asymmetric_double_well(n), k, 0)
    psi = np.repeat(gaussian(x, 0.5, 0.14), k, 0)
    hbar = 0.01
    mass = sp.auto_mass(V, dx, hbar)
    theta = sp.wigner_kernel(V, dx, hbar, nk)
    dt = sp.auto_dt(float(sp.creation_table(theta)[0].max()), dx, hbar, mass)
    rng = np.random.default_rng(5)
    p = sp.sample_particles(sp.wigner_function(psi, dx, nk), 2000, dx, rng)
    peak = [0, 0]

    def observe(step, q):
        peak[0] = max(peak[0], int(q.count(k).max()))
        peak[1] = max(peak[1], q.x.nbytes + q.j.nbytes + q.s.nbytes + q.tag.nbytes)

    steps = 10 * 99                                         # about ten default evolve calls
    p, weight = sp.run_particles(p, theta, sp.velocities(nk, dx, hbar, mass), dt, steps, dx, rng,
                                 annihilate_every=1, max_particles=cap, observe=observe)
    assert peak[0] <= cap                                   # after every step (annihilation every step)
    assert peak[1] <= k * cap * 25                          # 25 bytes per particle
    assert np.all(weight > 1.0)                             # the cap did bite
    # and the early annihilation keeps memory bounded even when annihilate_every is huge
    sp.run_particles(p, theta, sp.velocities(nk, dx, hbar, mass), dt, 200, dx, rng,
                     annihilate_every=10**6, max_particles=cap, observe=lambda step, q: peak.append(len(q)))
    # annihilation triggers above 8 * cap * k; one step adds 2 gamma dt <= 1 particle per particle on average
    assert max(peak[2:]) <= 8 * cap * k * 2.5


def test_thinning_is_unbiased_for_the_signed_histogram():
    rng = np.random.default_rng(6)
    k, n, nk, cap = 2, 10, 8, 300
    p, dx = _random_particles(rng, k, n, nk, 2000)
    p = p.take(np.flatnonzero((p.tag == 1) | (p.x < 0.5)))   # packets of different sizes, one below the cap
    p = sp.Particles(p.x, p.j, np.where(p.x < 0.3, 1, p.s).astype(np.int8), p.tag)   # net positive on the left
    counts = p.count(k)
    exact = sp.signed_histogram(p, k, n, dx)
    acc = np.zeros_like(exact)
    for _ in range(200):
        q, scale = sp.cap_particles(p, k, cap, rng)
        assert np.all(q.count(k) == np.minimum(counts, cap))
        np.testing.assert_allclose(scale, np.maximum(counts / cap, 1.0))
        acc += sp.signed_histogram(q, k, n, dx) * scale[:, None]
    err = acc / 200 - exact
    assert np.max(np.abs(err)) < 0.1 * np.max(np.abs(exact))


# ----------------------------------------------------------------------------- settings
def test_settings_round_trip_and_defaults():
    s = SignedParticles()
    assert s.name == "signed-particles" and s.stateful and s.stochastic
    assert s.settings() == {"particles": 4000, "nk": 32, "steps": None, "dt": None, "annihilate_every": 1,
                            "max_particles": 40000, "mass": None}
    t = SignedParticles(particles=100, nk=16, steps=5, dt=0.01, annihilate_every=2, max_particles=500, mass=2.0)
    assert type(t)(**t.settings()) == t and type(s)(**s.settings()) == s and s != t
    assert hash(type(t)(**t.settings())) == hash(t)
    assert "SignedParticles(" in repr(t)
    import json
    assert json.loads(json.dumps(t.settings())) == t.settings()


@pytest.mark.parametrize("kwargs, match", [
    ({"particles": 0}, "particles must be a positive int"),
    ({"particles": 2.5}, "particles must be a positive int"),
    ({"particles": True}, "particles must be a positive int"),
    ({"nk": 31}, "nk must be an even int"),
    ({"nk": 2}, "nk must be an even int"),
    ({"nk": -4}, "nk must be a positive int"),
    ({"steps": 0}, "steps must be a positive int"),
    ({"dt": 0.0}, "dt must be a finite number > 0 or None"),
    ({"dt": float("nan")}, "dt must be a finite number > 0 or None"),
    ({"dt": "0.1"}, "dt must be a finite number > 0 or None"),
    ({"annihilate_every": 0}, "annihilate_every must be a positive int"),
    ({"max_particles": -1}, "max_particles must be a positive int"),
    ({"particles": 5000, "max_particles": 4000}, "max_particles"),
    ({"mass": 0.0}, "mass must be a finite number > 0 or None"),
    ({"mass": float("inf")}, "mass must be a finite number > 0 or None"),
])
def test_bad_settings_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SignedParticles(**kwargs)
