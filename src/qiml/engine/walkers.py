"""A walker ensemble: the imaginary-time Schrödinger equation in all P dimensions at once (diffusion Monte Carlo).

The slices solve one 1-D equation per direction with the other parameters frozen (a mean-field
picture). Here the whole wave function is represented by ``N`` walkers, points of the box, and one
generation is one step ``dtau`` of the imaginary-time equation split into its two parts:

1. **diffusion** (the kinetic term): every walker ``x_i`` makes one child
   ``x_i + sigma * B D z_i``, ``z_i ~ N(0, I)``, clipped to the box. The diffusion covariance
   ``sigma^2 C`` (``C = B D^2 B^T``) is adapted from the ensemble, so the diffusion is invariant
   under rotations and learns the landscape's scales;
2. **branching** (the potential term): each child is weighted by ``exp(-(V - E_ref) dtau / hbar)``
   with ``V`` the rank-normalised loss in [0, 1] and ``E_ref`` the reference energy that keeps the
   population at ``N`` exactly; systematic resampling then draws the next ``N - 1`` walkers from the
   children by these weights, and the best point of the current restart stays as an immortal walker;
3. **drift**: the walkers then move a fraction ``drift`` (default 0.5) of the way to the children's
   Boltzmann-weighted centroid, a drift towards where the weight is, as importance-sampled DMC
   drifts walkers along its guiding function. It adds the recombination that walkers which each
   diffuse from their own parent lack (measured in ``docs/results/bbob``: ``qiml_*_nodrift``).

``dtau / hbar`` is annealed from ``1 / hbar_start`` to ``1 / hbar_end`` (option ``walker_hbar``,
default 1 -> 0.05) over the first ``30 + 10 P`` generations of each restart: a large ``hbar`` lets
walkers spread (tunnel) across barriers, a small one concentrates them in the deepest basin found.

The covariance and ``sigma`` follow CMA-ES's rules (Hansen's tutorial, 2016) applied to the best
half of the children's *realised* steps (after clipping to the box; the unclipped step made
``sigma`` diverge in a probe): evolution paths, rank-one and rank-mu updates and cumulative
step-size control. When the restart stagnates, its ``sigma`` collapses or its children are all
equal, the ensemble restarts from uniform walkers with twice as many of them, as IPOP-CMA-ES
doubles its population. All of it is vectorised over walkers; every random number comes from the
generator the caller passes (the run's), and :meth:`Walkers.state_dict` holds everything needed to
resume exactly.

Coordinates are the box's own unit cube, ``u = (x - lower) / width``, so the diffusion starts
round whatever the parameters' units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import CheckpointError
from ..spaces import Space
from .checkpoint import as_array

__all__ = ["Walkers", "default_walkers"]

#: most walkers per generation: 16 x 2^9, as far as IPOP's nine doublings go
MAX_WALKERS = 16 * 2**9
_TOLX = 1e-12          # restart when sigma * sqrt(max eigenvalue) falls below this (unit-cube units)
_TOLFUN = 1e-12        # ... or the children's losses span less than this (relative) for a few generations
_FLAT_GENERATIONS = 3
_MAX_CONDITION = 1e14
_MAX_MAGNITUDE = 1e100   # the largest entry a loaded walker state may hold (see load_state_dict)


def default_walkers(dim: int) -> int:
    """Walkers in the first restart: CMA-ES's ``4 + 3 ln P`` population, at least 16."""
    return max(16, 4 + int(3 * np.log(dim)))


class Walkers:
    """A diffusion Monte Carlo ensemble with a CMA-adapted diffusion covariance and IPOP restarts.

    Parameters
    ----------
    space : Space
        The box (lattice parameters are snapped after each diffusion step).
    n0 : int
        Walkers in the first restart; restart ``r`` has ``n0 * 2**r`` (at most :data:`MAX_WALKERS`).
    sigma0 : float
        Initial diffusion step, a fraction of the box's width (walkers start uniform in the box).
    hbar : Schedule
        ``hbar`` (with ``dtau = 1``) as a function of the restart's anneal progress in [0, 1].
    max_rows : int
        Bound on the walkers per generation (memory of one batch of rows).
    drift : float
        After branching, every walker but the immortal one moves this fraction of the way to the
        Boltzmann-weighted centroid of the children (0: pure branching and diffusion).

    Use :meth:`ask` for the children (N, P) to evaluate and :meth:`tell` with their losses;
    :attr:`stalled` says that the current restart is over (call :meth:`restart`).
    """

    #: arrays and scalars of :meth:`state_dict`
    state_keys = ("walkers", "B", "D", "C", "ps", "pc", "sigma", "gen", "restarts", "best_u", "best_f",
                  "since_best", "flat", "children", "steps", "eig_gen")

    def __init__(self, space: Space, n0: int, sigma0: float, hbar: Any, max_rows: int, drift: float = 0.5) -> None:
        self.space, self.n0, self.sigma0, self.hbar_schedule = space, int(n0), float(sigma0), hbar
        self.drift = float(drift)
        self.max_rows = max(4, int(max_rows))
        P = space.dim
        self.anneal_generations = 30 + 10 * P
        self.restarts = -1
        self.walkers = np.zeros((0, P))
        self.children = np.zeros((0, P))     # the pending generation (unit cube) and its realised steps
        self.steps = np.zeros((0, P))
        self.B, self.D, self.C = np.eye(P), np.ones(P), np.eye(P)
        self.ps, self.pc = np.zeros(P), np.zeros(P)
        self.sigma, self.gen, self.eig_gen = self.sigma0, 0, 0
        self.best_u, self.best_f = np.full(P, 0.5), np.inf
        self.since_best, self.flat = 0, 0

    # ------------------------------------------------------------------ population
    @property
    def n(self) -> int:
        """Walkers per generation in the current restart."""
        return min(self.n0 * 2 ** max(self.restarts, 0), MAX_WALKERS, self.max_rows)

    def restart(self, rng: np.random.Generator, x0: NDArray[np.float64] | None = None) -> None:
        """Start a restart: uniform walkers (the first at ``x0`` if given), a round covariance, ``sigma0``."""
        P = self.space.dim
        self.restarts += 1
        self.walkers = rng.random((self.n, P))
        if x0 is not None:
            self.walkers[0] = self._to_unit(x0)
        self.B, self.D, self.C = np.eye(P), np.ones(P), np.eye(P)
        self.ps, self.pc = np.zeros(P), np.zeros(P)
        self.sigma, self.gen, self.eig_gen = self.sigma0, 0, 0
        self.best_u, self.best_f = self.walkers[0].copy(), np.inf
        self.since_best, self.flat = 0, 0
        self.children, self.steps = np.zeros((0, P)), np.zeros((0, P))

    @property
    def anneal(self) -> float:
        """Progress of this restart's ``hbar`` anneal, in [0, 1]."""
        return min(1.0, self.gen / self.anneal_generations)

    @property
    def hbar(self) -> float:
        return float(self.hbar_schedule(self.anneal))

    def ask(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """The next generation's children (N, P) in the box's units (the same until :meth:`tell`)."""
        if self.children.shape[0] == 0:
            z = rng.standard_normal(self.walkers.shape)
            step = self.sigma * (z * self.D) @ self.B.T
            child = self._to_unit(self._from_unit(np.clip(self.walkers + step, 0.0, 1.0)))   # snapped to any lattice
            self.children = child
            self.steps = (child - self.walkers) / self.sigma       # the realised step, what adaptation learns from
        return self._from_unit(self.children)

    def tell(self, F: NDArray[np.float64], rng: np.random.Generator) -> None:
        """Branch on the children's losses ``F`` (N,) and adapt the diffusion from them."""
        N, P = self.children.shape
        order = np.argsort(F, kind="stable")
        i0 = int(order[0])
        if F[i0] < self.best_f:
            self.best_f, self.best_u = float(F[i0]), self.children[i0].copy()
            self.since_best = 0
        else:
            self.since_best += 1
        finite = F[np.isfinite(F)]
        span = float(finite.max() - finite.min()) if finite.size else 0.0
        self.flat = self.flat + 1 if span <= _TOLFUN * max(1.0, abs(self.best_f)) else 0
        # branching: rank-normalised potential in [0, 1]; E_ref is whatever normalises the weights to N
        rank = np.empty(N)
        rank[order] = np.arange(N) / max(1, N - 1)
        w = np.exp(-rank / self.hbar)
        parents = _systematic(w, N - 1, rng)
        self.walkers = np.vstack([self.best_u[None, :], self.children[parents]])
        if self.drift > 0:
            # drift towards the Boltzmann-weighted centroid: recombination, which walkers that each
            # diffuse from their own parent lack (without it: bbob 20-D area 0.15 against 0.21)
            centre = (w / w.sum()) @ self.children
            self.walkers[1:] += self.drift * (centre - self.walkers[1:])
        self._adapt(self.steps[order[: N // 2]])
        self.children, self.steps = np.zeros((0, P)), np.zeros((0, P))
        self.gen += 1

    def _adapt(self, y: NDArray[np.float64]) -> None:
        """CMA-ES's covariance and step-size rules on the selected realised steps ``y`` (mu, P), best first."""
        mu, P = y.shape
        wts = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
        wts /= wts.sum()
        mueff = 1.0 / np.sum(wts**2)
        cs = (mueff + 2) / (P + mueff + 5)
        ds = 1 + 2 * max(0.0, np.sqrt((mueff - 1) / (P + 1)) - 1) + cs
        cc = (4 + mueff / P) / (P + 4 + 2 * mueff / P)
        c1 = 2 / ((P + 1.3) ** 2 + mueff)
        cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((P + 2) ** 2 + mueff))
        chi = np.sqrt(P) * (1 - 1 / (4 * P) + 1 / (21 * P**2))
        ymean = wts @ y
        self.ps = (1 - cs) * self.ps + np.sqrt(cs * (2 - cs) * mueff) * (self.B @ ((self.B.T @ ymean) / self.D))
        norm_ps = float(np.linalg.norm(self.ps))
        hsig = norm_ps / np.sqrt(1 - (1 - cs) ** (2 * (self.gen + 1))) < (1.4 + 2 / (P + 1)) * chi
        self.pc = (1 - cc) * self.pc + hsig * np.sqrt(cc * (2 - cc) * mueff) * ymean
        rank_mu = (y * wts[:, None]).T @ y
        self.C = ((1 - c1 - cmu) * self.C + c1 * (np.outer(self.pc, self.pc) + (1 - hsig) * cc * (2 - cc) * self.C)
                  + cmu * rank_mu)
        self.sigma *= float(np.exp(min(1.0, (cs / ds) * (norm_ps / chi - 1))))
        # eigendecomposition at most every 1 / (10 P (c1 + cmu)) generations, as pycma does: O(P^3) each
        if self.gen - self.eig_gen >= 1.0 / (10 * P * (c1 + cmu)) or P <= 20:
            self.C = (self.C + self.C.T) / 2
            d2, B = np.linalg.eigh(self.C)
            d2 = np.maximum(d2, d2.max() * 1e-20)
            self.B, self.D, self.eig_gen = B, np.sqrt(d2), self.gen

    @property
    def stalled(self) -> bool:
        """Whether this restart is over: ``sigma`` collapsed, flat children, stagnation or a degenerate ``C``."""
        P = self.space.dim
        if self.restarts < 0:
            return True
        stagnation = 10 + self.anneal_generations // 2 + int(30 * P / self.n)
        return bool(self.sigma * self.D.max() < _TOLX or self.flat >= _FLAT_GENERATIONS
                    or self.since_best > stagnation or self.D.max() > np.sqrt(_MAX_CONDITION) * self.D.min()
                    or not np.isfinite(self.sigma))

    @property
    def converged_scale(self) -> float:
        """The diffusion's largest standard deviation, in box widths."""
        return float(self.sigma * self.D.max())

    def best_x(self) -> NDArray[np.float64]:
        """This restart's best point, in the box's units."""
        return self._from_unit(self.best_u[None, :])[0]

    def covariance(self) -> NDArray[np.float64]:
        """The diffusion covariance ``sigma^2 C`` (P, P) in the box's units."""
        w = self.space.width
        return self.sigma**2 * self.C * np.outer(w, w)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in self.state_keys}
        return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        P = self.space.dim
        out: dict[str, Any] = {}
        for k in self.state_keys:
            mine, v = getattr(self, k), state[k]
            if isinstance(mine, np.ndarray):
                v = as_array(v, f"walk.{k}")
                if v.ndim != mine.ndim or v.shape[1:] != mine.shape[1:] or (mine.ndim == 1 and v.shape != mine.shape):
                    raise CheckpointError(f"walker state {k!r} has shape {v.shape}, expected (*, {P})")
                if not np.all(np.isfinite(v)) and k != "best_f":
                    raise CheckpointError(f"walker state {k!r} holds NaN or infinite values")
            else:
                v = type(mine)(v)
            out[k] = v
        if out["children"].shape != out["steps"].shape or out["walkers"].shape[0] > MAX_WALKERS:
            raise CheckpointError("walker state is inconsistent (children, steps or walker count)")
        # positions live in the unit cube; the diffusion's scale and spectrum are positive
        for k in ("walkers", "children", "best_u"):
            if np.any((out[k] < 0) | (out[k] > 1)):
                raise CheckpointError(f"walker state {k!r} lies outside the unit cube of the box")
        if not (0 <= out["sigma"] <= _MAX_MAGNITUDE) or np.any(out["D"] <= 0) or not np.allclose(out["C"], out["C"].T):
            raise CheckpointError("walker state has a negative or huge step, a spectrum not > 0 or a covariance "
                                  "that is not symmetric")
        # far beyond any state a run reaches; squared (outer products, covariances) it still fits in a float
        huge = [k for k in ("B", "D", "C", "ps", "pc", "steps") if np.any(np.abs(out[k]) > _MAX_MAGNITUDE)]
        if huge:
            raise CheckpointError(f"walker state {huge[0]!r} holds values beyond {_MAX_MAGNITUDE:g}")
        for k, v in out.items():
            setattr(self, k, v)

    # ------------------------------------------------------------------ helpers
    def _to_unit(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return (np.asarray(x, dtype=float) - self.space.lower) / self.space.width

    def _from_unit(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.space.snap(self.space.lower + u * self.space.width)


def _systematic(w: NDArray[np.float64], n: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """Indices of ``n`` draws by systematic resampling with weights ``w`` (one uniform number)."""
    c = np.cumsum(w)
    pos = (rng.random() + np.arange(n)) * (c[-1] / n)
    return np.minimum(np.searchsorted(c, pos, side="right"), w.size - 1).astype(np.intp)
