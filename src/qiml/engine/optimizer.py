"""The QiML optimizer: a self-consistent loop of potentials, packets and read-outs, as ask/tell.

Each slice direction is a particle in a 1-D box (its current *window* along the direction). One
iteration of the quantum phase:

1. the direction strategy (:mod:`qiml.engine.directions`: coordinate axes, an adapted basis,
   lines) proposes a block of directions ``d_j`` with a window each;
2. ask for the loss along each slice ``x + t d_j`` through the current position ``x`` (the
   potential ``V_j``, see :mod:`qiml.requests`), rescale each slice to [0, 1] and multiply by ``alpha``;
3. let the solver evolve the packets ``psi_j`` under ``V_j`` with the annealed ``hbar``;
4. read the steps ``t_j`` out of ``|psi_j|^2``; the strategy moves ``x``, adapts each window
   (axes: re-centred on the packet, shrinking at most by ``shrink`` and not below ``window`` packet
   widths; adapted directions: about four steps wide) and learns from the moves;
5. keep the best point ever evaluated (``noisy``: the latest request's best point); when ``patience``
   sweeps bring no new best, reopen every window to the full box around the best point, restart
   the ``hbar`` anneal (``reheat``) and, with ``stall_lines``, sweep once along a random orthonormal
   basis, since the best point is already optimal along every direction it was sliced on.

The option ``search`` chooses between these slices and a **walker ensemble** that solves the
imaginary-time equation in all P dimensions at once (:mod:`qiml.engine.walkers`): ``"walkers"``
runs the ensemble alone (restarts with twice the walkers), ``"hybrid"`` hands the basin each
ensemble restart found to adapted slices along the ensemble's covariance and, when the slices
stall, starts the next ensemble, and the default ``"auto"`` runs slices until their first stall
(separable and unimodal losses are usually solved by then) and then shares the budget: each stall
of either hands over to the walkers while they have had less than half the evaluations, else to
the slices' own restart (IPOP-style, twice the grid points).

With ``search="slices"``, the last ``refine`` fraction of the budget runs a small GA seeded from the best point with the
packets' spreads (:mod:`qiml.engine.refine`). Every random choice comes from one seeded
generator whose state is part of :meth:`QiML.state_dict`, so a run stopped, saved and resumed
continues exactly as if it had never stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._version import __version__
from ..errors import BoundsError, CheckpointError, ConfigError, ShapeError
from ..parallel import MIN_PARALLEL_SECONDS, check_workers, parallel_map
from ..random import SeedLike, make_rng, rng_from_state, rng_state
from ..requests import PopulationRequest, SliceRequest, check_values
from ..result import OptimizeResult
from ..solvers import Solver, density, get_solver, normalize, setting_names, unit_dx
from ..spaces import as_space
from ..validation import finite_float, optional_positive_float, optional_positive_int
from . import checkpoint, readout, refine
from .directions import AUTO_MAX_DIM, Block, CurvatureFn, make_strategy
from .options import MAX_NX, Options, split_options
from .walkers import MAX_WALKERS, Walkers, default_walkers

__all__ = ["QiML", "default_max_evals"]

Request = SliceRequest | PopulationRequest

#: version of the state_dict layout; checkpoints of another layout are refused with a clear message
STATE_LAYOUT = 3

#: ``search="auto"``: after the slices' first stall, each stall hands over to the walkers while they have
#: had less than this share of the evaluations, else to the slices' own restart (a portfolio of the two;
#: on bbob 5-D instances 1-5 a share of 0.5 beat 0.7 and handing over for good at the first stall)
AUTO_WALKER_SHARE = 0.5

# packets per solver task for stochastic solvers (fixed, so results do not depend on workers)
_CHUNK_PACKETS = 8


def default_max_evals(dim: int, nx: int = 64) -> int:
    """Budget used when none is given: 20 full sweeps of axis slices of ``nx`` points (adapted
    directions, with fewer points per slice, make more sweeps of it)."""
    return 20 * dim * (nx + 1)


class QiML:
    """Quantum-inspired optimizer with a batched ask/tell interface.

    Parameters
    ----------
    bounds : Space, scipy Bounds, or sequence of (low, high)
        The finite box (and lattice) each parameter lives in.
    x0 : array_like (P,), optional
        Starting positions; a uniform random point of the box by default.
    solver : str or Solver
        ``"fd"`` (finite differences) or a :class:`qiml.solvers.Solver` instance.
    seed : int, Generator or None
        Seed of the one random generator the run uses.
    blocks : sequence of index arrays, optional
        A partition of the parameters: adapted directions then each move one block (a block-diagonal
        basis, e.g. one neuron's fan-in per block).
    curvature : callable, optional
        ``curvature(x, params)``: the eigenvectors (m, m) of the loss's curvature in the block
        ``params`` at ``x``, or None; what ``directions="curvature"`` slices along (see
        :meth:`qiml.objective.Objective.curvature`; :func:`qiml.minimize` passes the objective's).
    max_evals, max_iter, max_time, target : optional
        Stopping rules: evaluation budget, iterations, wall seconds, loss to reach. When no
        budget is given, ``max_evals = default_max_evals(P, nx)``. Schedules advance with the
        fraction of the budget used (the largest fraction over the budgets that are set).
    **options
        Engine options (see :mod:`qiml.engine.options`) and solver settings.

    Examples
    --------
    >>> opt = QiML([(-5, 5)] * 3, seed=0, max_evals=2000)
    >>> while not opt.stop():
    ...     X = opt.ask()
    ...     opt.tell(X, np.sum(X**2, axis=1))
    >>> opt.result.fun < 1e-2
    True
    """

    def __init__(self, bounds: Any, x0: ArrayLike | None = None, *, solver: str | Solver = "fd",
                 seed: SeedLike = None, max_evals: int | None = None, max_iter: int | None = None,
                 max_time: float | None = None, target: float | None = None,
                 blocks: Sequence[ArrayLike] | None = None, curvature: CurvatureFn | None = None,
                 **options: Any) -> None:
        engine_opts, solver_opts = split_options(options, setting_names(solver))
        self.space = as_space(bounds)
        self.options = Options(**engine_opts)
        self.solver = get_solver(solver, **solver_opts)
        P, nx = self.space.dim, self.options.nx or 64
        self.max_evals = optional_positive_int("max_evals", max_evals)
        self.max_iter = optional_positive_int("max_iter", max_iter)
        self.max_time = optional_positive_float("max_time", max_time)
        self.target = None if target is None else finite_float("target", target)
        if self.max_evals is None and self.max_iter is None and self.max_time is None:
            self.max_evals = default_max_evals(P, nx)
        self.popsize = self.options.popsize or refine.default_popsize(P)
        self.rng = make_rng(seed)
        if x0 is None:
            x = self.space.sample(self.rng, 1)[0]
        else:
            raw = np.asarray(x0)
            if raw.dtype.kind not in "iuf":
                raise ShapeError(f"x0 must be real numbers, got an array of dtype {raw.dtype}: {x0!r:.60}")
            x = raw.astype(float)
            if x.shape != (P,):
                raise ShapeError(f"x0 must have shape ({P},) to match the bounds, got {x.shape}")
            if not np.all(np.isfinite(x)):
                raise ShapeError("x0 must be finite")
            sp = self.space
            # a lattice's top level may sit up to one step below the upper bound the user gave
            outside = (x < sp.lower) | ((x > sp.upper) & ((sp.step == 0) | (x >= sp.upper + sp.step)))
            if np.any(outside):
                bad = np.flatnonzero(outside)[:5]
                raise BoundsError(f"x0 lies outside the bounds at parameter(s) {bad.tolist()}: x0={x[bad].tolist()}, "
                                  f"lower={self.space.lower[bad].tolist()}, upper={self.space.upper[bad].tolist()}")
            x = self.space.snap(x)      # onto the lattice, where there is one
        self.x = x
        self.blocks = _check_blocks(blocks, P)
        if curvature is not None and not callable(curvature):
            raise ConfigError(f"curvature must be a callable (x, params) -> eigenvectors or None, got {curvature!r}")
        self._curvature = curvature
        self.strategy = make_strategy(self.space, self.options, x, self.blocks, curvature)
        self.mode = _resolve_search(self.options, P, curvature)
        self.ensemble = None if self.mode == "slices" else self._new_ensemble()
        if self.max_evals is not None and self.max_evals < self.strategy.nx + 1:
            raise ConfigError(f"max_evals={self.max_evals} is smaller than one slice of the loss (nx + 1 = "
                              f"{self.strategy.nx + 1} evaluations); raise the budget or lower nx")
        self.nfev = 0
        self.walker_nfev = 0      # of them in the walker phase (search="auto" shares the budget by it)
        self.nit = 0
        self.best_x = x.copy()
        self.best_f = np.inf
        self.history: list[tuple[int, float]] = []
        self.phase = "quantum"
        if self.ensemble is not None and self.mode != "auto":   # "auto" starts with slices
            self.phase = "walkers"
            self.ensemble.restart(self.rng, x)
        self.since_improve = 0                    # slices since the last new best
        self.restarts = 0
        self.cycle_start = 0.0                    # quantum-phase progress at which the current anneal began
        self.last_hbar = float(self.options.hbar_schedule(0.0))
        self.ga_pop = np.zeros((0, P))
        self.ga_fit = np.zeros(0)
        self.ga_sigma = np.zeros(P)
        self._block: Block | None = None          # the directions of the pending slice request
        self._pending: Request | None = None
        self._elapsed_before = 0.0
        self._t_start = time.perf_counter()
        self._user_stop: str | None = None
        self._seconds_per_packet = 0.0   # of serial solver calls; decides whether workers are worth it

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> NDArray[np.float64]:
        """Points to evaluate next, shape (n, P). Calling ``ask`` again before ``tell`` returns the same points.

        In the quantum phase row 0 is the current position and the other rows lay out the
        slices of the parameters being updated; in the walker phase they are the walkers'
        children, in the refinement phase a GA generation. For large P use :meth:`ask_request` to avoid
        materialising all rows.
        """
        return self.ask_request().rows()

    def ask_request(self) -> Request:
        """The pending request (:class:`SliceRequest` or :class:`PopulationRequest`)."""
        if self._pending is None:
            self._pending = self._next_request()
        return self._pending

    def tell(self, X: ArrayLike, F: ArrayLike) -> None:
        """Report losses ``F`` (n,) of the points ``X`` (n, P) returned by the last :meth:`ask`."""
        req = self.ask_request()
        X = np.asarray(X, dtype=float)
        expected = (req.n_rows, self.space.dim)
        if X.shape != expected:
            raise ShapeError(f"tell() needs the {expected[0]} x {expected[1]} points returned by the last ask(), "
                             f"got an array of shape {X.shape}")
        chunk = max(1, self.options.max_batch_bytes // (8 * self.space.dim))   # bound the memory of the check
        if not all(np.array_equal(X[i:i + chunk], req.rows(i, min(i + chunk, req.n_rows)))
                   for i in range(0, req.n_rows, chunk)):
            raise ShapeError(f"tell() needs the points returned by the last ask(); got an array of shape "
                             f"{X.shape} with other values")
        self.tell_values(F)

    def tell_values(self, F: ArrayLike) -> None:
        """Report the losses of all rows of the pending request, shape (n_rows,)."""
        req = self.ask_request()
        F = check_values(F, req.n_rows, self.options.nan_policy)
        if isinstance(req, SliceRequest):
            self._tell_slices(req, *req.split(F))
        else:
            self._tell_population(req, F)

    def tell_potentials(self, fx: float, V: ArrayLike) -> None:
        """Report the pending slice request's answer directly: ``f(x)`` and ``V`` (k, nx).

        This is the entry point for structured models that compute slices incrementally
        without building candidate rows (see :meth:`qiml.objective.Objective.potentials`).
        """
        req = self.ask_request()
        if not isinstance(req, SliceRequest):
            raise ShapeError("the pending request is a population, not slices: use tell_values()")
        V = np.asarray(V, dtype=float)
        if V.shape != req.grid.shape:
            raise ShapeError(f"V must have shape {req.grid.shape} (slices x grid points), got {V.shape}")
        flat = check_values(np.concatenate([[fx], V.ravel()]), V.size + 1, self.options.nan_policy)
        self._tell_slices(req, float(flat[0]), flat[1:].reshape(V.shape))

    def tell_partial(self, F: ArrayLike) -> None:
        """Report the losses (m,) of the first m < n_rows rows of the pending request, when the time
        budget ran out before the others were evaluated (see :meth:`deadline`).

        They count as evaluations and their best point is kept, but the request stays pending: the
        packets need every row. A run resumed from here asks the whole request again.
        """
        req = self.ask_request()
        F = np.asarray(F, dtype=float).reshape(-1)
        if not 0 < F.size < req.n_rows:
            raise ShapeError(f"tell_partial() takes the losses of 1 to {req.n_rows - 1} leading rows of the pending "
                             f"request, got {F.size}; use tell_values() for all of them")
        F = check_values(F, F.size, self.options.nan_policy)
        i = int(np.argmin(F))
        self.nfev += F.size
        if F[i] < self.best_f or self.options.noisy:
            self.best_f, self.best_x = float(F[i]), req.rows(i, i + 1)[0].copy()
        self.history.append((self.nfev, self.best_f))

    def deadline(self) -> float | None:
        """The :func:`time.perf_counter` value at which ``max_time`` runs out (None without one): an
        objective evaluating a request may stop there (:meth:`qiml.objective.Objective.evaluate`)."""
        return None if self.max_time is None else time.perf_counter() + self.max_time - self.elapsed

    # ------------------------------------------------------------------ stopping and results
    def request_stop(self, reason: str = "stopped on request") -> None:
        """Make :meth:`stop` report ``reason`` (used by callbacks and Ctrl-C handling)."""
        self._user_stop = reason

    @property
    def elapsed(self) -> float:
        """Wall seconds of optimisation so far, including time before a resume."""
        return self._elapsed_before + time.perf_counter() - self._t_start

    def stop(self) -> dict[str, Any]:
        """Triggered stopping rules (empty, hence falsy, while the run should go on)."""
        out: dict[str, Any] = {}
        if self._user_stop:
            out["user"] = self._user_stop
        if self.target is not None and self.best_f <= self.target:
            out["target"] = self.target
        if self.max_iter is not None and self.nit >= self.max_iter:
            out["max_iter"] = self.max_iter
        if self.max_time is not None and self.elapsed >= self.max_time:
            out["max_time"] = self.max_time
        if self.max_evals is not None and self.nfev + self.ask_request().n_rows > self.max_evals:
            out["max_evals"] = self.max_evals  # the next request would overrun the budget
        return out

    @property
    def result(self) -> OptimizeResult:
        """SciPy-style result of the run so far (see :mod:`qiml.result`)."""
        reasons = self.stop()
        user = "user" in reasons
        message = ("; ".join(f"{k} reached" if k != "user" else str(v) for k, v in reasons.items())
                   or "still running")
        return OptimizeResult(
            x=self.best_x.copy(), fun=float(self.best_f), nfev=self.nfev, nit=self.nit,
            success=bool(np.isfinite(self.best_f)) and bool(reasons) and not user,
            status=1 if user else 0, message=message,
            history=np.array(self.history, dtype=float).reshape(-1, 2),
            hbar=self.last_hbar, restarts=self.restarts, elapsed=self.elapsed,
        )

    def progress(self) -> float:
        """Fraction of the budget used, in [0, 1] (largest over the budgets that are set)."""
        parts = [0.0]
        if self.max_evals is not None:
            parts.append(self.nfev / self.max_evals)
        if self.max_iter is not None:
            parts.append(self.nit / self.max_iter)
        if self.max_time is not None:
            parts.append(self.elapsed / self.max_time)
        return min(1.0, max(parts))

    def packets(self, idx: ArrayLike | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Grids (k, nx) and densities (k, nx) of the packets of parameters ``idx`` (all by default;
        axis directions only)."""
        idx = np.arange(self.space.dim) if idx is None else np.atleast_1d(np.asarray(idx, dtype=np.intp))
        return self.strategy.packets(idx)

    # ------------------------------------------------------------------ the loop
    @property
    def _refine(self) -> float:
        """Fraction of the budget the GA refinement gets (slices only: walkers are a population already)."""
        return self.options.refine if self.mode == "slices" else 0.0

    def _next_request(self) -> Request:
        if self.phase == "quantum" and self._refine > 0 and self.progress() >= 1.0 - self._refine:
            self._start_refinement()
        if self.phase == "walkers":
            assert self.ensemble is not None
            X = self.ensemble.ask(self.rng)
            return PopulationRequest(X[: self._remaining(X.shape[0])])
        if self.phase == "refine":
            if self.ga_fit.size == 0:
                return PopulationRequest(self.ga_pop.copy())
            kids = refine.offspring(self.rng, self.ga_pop, self.ga_fit, self.ga_sigma, self.space)
            return PopulationRequest(kids[: self._remaining(kids.shape[0])])
        self._block = b = self.strategy.propose(self)
        return SliceRequest(self.x.copy(), b.support, b.coef, b.grid, b.counts, self.space, b.centre)

    def _remaining(self, n: int) -> int:
        if self.max_evals is None:
            return n
        return max(1, min(n, self.max_evals - self.nfev))

    def _record(self, n_rows: int, f: float, x: NDArray[np.float64], improved: bool = False) -> None:
        """Count evaluations and keep the best point seen (``noisy``: the latest request's best point).

        ``improved``: the request found a point better than its centre on its own sample.
        """
        self.nfev += n_rows
        self.nit += 1
        if self.options.noisy:
            # Scores of different mini-batches are not comparable: keeping the lowest one ever seen
            # keeps a lucky batch's point and stalls on it, so more iterations would make it worse.
            self.best_f, self.best_x = float(f), x.copy()
            if improved:
                self.since_improve = 0
        elif f < self.best_f:
            self.best_f, self.best_x = float(f), x.copy()
            self.since_improve = 0
        self.history.append((self.nfev, self.best_f))

    def _record_slices(self, req: SliceRequest, fx: float, V: NDArray[np.float64]) -> float:
        """Count a slice request, keep its best point; return the quantum-phase progress."""
        valid = np.arange(V.shape[1])[None, :] < req.counts[:, None]
        Vv = np.where(valid, V, np.inf)
        j, g = np.unravel_index(np.argmin(Vv), Vv.shape)
        best_here, best_point = fx, req.x
        improved = bool(Vv[j, g] < fx)
        if improved:
            best_here, best_point = Vv[j, g], req.point(int(j), int(g))
        self.since_improve += req.counts.size
        self._record(req.n_rows, best_here, best_point, improved)
        return min(1.0, self.progress() / (1.0 - self._refine))

    def _relax(self, psi: NDArray[np.complex128], V: NDArray[np.float64], grid: NDArray[np.float64],
               counts: NDArray[np.intp], tq: float
               ) -> tuple[NDArray[np.complex128], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Evolve packets under the rescaled slices ``V``; return them, their densities, the potentials
        they felt and their positions."""
        opts = self.options
        cycle = min(1.0, (tq - self.cycle_start) / max(1e-12, 1.0 - self.cycle_start))  # of this anneal
        hbar = opts.hbar_schedule(cycle)
        alpha = opts.alpha_schedule(cycle)
        self.last_hbar = hbar
        valid = np.arange(V.shape[1])[None, :] < counts[:, None]
        pot = alpha * (_unit_range(V, valid) if opts.normalize else np.where(np.isfinite(V), V, _finite_max(V) + 1.0))
        for c in np.unique(counts):
            rows = np.flatnonzero(counts == c)
            psi[rows, :c] = self._evolve(psi[rows, :c], pot[rows, :c], hbar)
        rho = density(psi)
        return psi, rho, pot, readout.position(rho, grid, counts, opts.readout)

    def _evolve(self, psi: NDArray[np.complex128], V: NDArray[np.float64], hbar: float) -> NDArray[np.complex128]:
        """Run the solver on packets (k, n), in parallel chunks when there are several workers.

        A stochastic solver always gets chunks of ``_CHUNK_PACKETS`` packets, each with a generator
        seeded from the run's, so the result is the same for any number of workers. Work expected
        to be quick (from the time per packet of serial calls so far) stays in this process.
        """
        k = psi.shape[0]
        workers = check_workers(self.options.workers)
        if k * self._seconds_per_packet < MIN_PARALLEL_SECONDS:
            workers = 1
        if self.solver.stochastic:
            size = _CHUNK_PACKETS
            rngs = [np.random.default_rng(int(s)) for s in self.rng.integers(0, 2**63, size=-(-k // size))]
        else:
            size, rngs = -(-k // workers), [self.rng] * workers
        tasks = [(psi[a:a + size], V[a:a + size], hbar, rng) for a, rng in zip(range(0, k, size), rngs, strict=False)]
        t0 = time.perf_counter()
        out = np.concatenate(parallel_map(self.solver.evolve, tasks, workers))
        if workers == 1:
            self._seconds_per_packet = (time.perf_counter() - t0) / k
        return out

    def _tell_slices(self, req: SliceRequest, fx: float, V: NDArray[np.float64]) -> None:
        block = self._block
        assert block is not None
        tq = self._record_slices(req, fx, V)
        k, n = V.shape
        psi = block.psi if block.psi is not None else normalize(np.ones((k, n), dtype=np.complex128), unit_dx(n))
        psi, rho, pot, t = self._relax(psi.copy(), V, req.grid, req.counts, tq)
        spread = readout.spread(rho, req.grid, req.counts)
        self.x = self.strategy.tell(self, block, pot, psi, t, spread)
        stalled = self.strategy.stalled(self)
        if stalled and self.mode == "hybrid":
            # the slices converged in their basin: a fresh walker ensemble (twice as many) searches for another
            self._start_walkers()
        elif stalled:
            # Stalled: reopen all windows around the best point (or restart elsewhere). The best
            # point is the global minimum of every slice through it, so with the same small hbar the
            # packets would land on it again; with `reheat` a new anneal starts, and broad packets move it.
            self.x = self.best_x.copy()
            self.x = self.strategy.reopen(self)
            if self.options.reheat:
                self.cycle_start = tq
            self.since_improve = 0
            self.restarts += 1
            if self.mode == "auto" and self._walkers_due():
                self._start_walkers()     # the slices go on from their restart when it is their turn again
        self._pending = self._block = None

    def _new_ensemble(self) -> Walkers:
        """A walker ensemble (no restart yet) with this run's options."""
        opts, P = self.options, self.space.dim
        return Walkers(self.space, opts.walkers or default_walkers(P), opts.walker_sigma, opts.walker_hbar_schedule,
                       opts.max_batch_bytes // (8 * P), opts.walker_drift)

    def _walkers_due(self) -> bool:
        """``search="auto"``: whether the walkers have had less than :data:`AUTO_WALKER_SHARE` of the
        evaluations so far (the slices have had the rest)."""
        return self.walker_nfev <= AUTO_WALKER_SHARE * self.nfev

    def _start_walkers(self) -> None:
        assert self.ensemble is not None
        self.phase = "walkers"
        self.ensemble.restart(self.rng)
        self.since_improve = 0
        if self.mode == "hybrid":
            self.restarts += 1

    def _start_refinement(self) -> None:
        self.phase = "refine"
        self.ga_sigma = np.maximum(self.strategy.spreads(), self._sigma_floor())
        self.ga_pop = refine.initial_population(self.rng, self.best_x, self.ga_sigma, self.space, self.popsize)
        self.ga_fit = np.zeros(0)

    def _sigma_floor(self) -> NDArray[np.float64]:
        """Smallest GA mutation scale per parameter: one lattice step, or a tiny fraction of the range."""
        return np.where(self.space.is_lattice, self.space.step, self.space.width * 1e-12)

    def _tell_population(self, req: PopulationRequest, F: NDArray[np.float64]) -> None:
        i = int(np.argmin(F))
        self._record(req.n_rows, float(F[i]), req.X[i], improved=True)
        if self.phase == "walkers":
            self.walker_nfev += req.n_rows
            self._tell_walkers(F)
        elif self.ga_fit.size == 0:
            self.ga_fit = F.copy()
        else:
            pop, fit, kept_kids = refine.survivors(self.ga_pop, self.ga_fit, req.X, F)
            self.ga_sigma = refine.adapt_sigma(self.ga_sigma, kept_kids / max(1, req.n_rows), self._sigma_floor())
            self.ga_pop, self.ga_fit = pop, fit
        self._pending = None

    def _tell_walkers(self, F: NDArray[np.float64]) -> None:
        """Branch the ensemble; when its restart is over, restart it ("walkers") or hand its basin to the slices."""
        ens = self.ensemble
        assert ens is not None
        full = np.full(ens.children.shape[0], np.inf)   # children past the budget were never evaluated
        full[:F.size] = F
        ens.tell(full, self.rng)
        self.last_hbar = ens.hbar
        if not ens.stalled:
            return
        self.restarts += 1
        if self.mode == "walkers" or (self.mode == "auto" and self._walkers_due()):
            ens.restart(self.rng)
            return
        if self.mode == "auto":
            self.phase = "quantum"    # the slices' turn: they go on from their own last restart
            self.since_improve = 0
            return
        # hybrid: adapted slices converge in the basin the walkers found, along the diffusion's shape
        self.x = ens.best_x()
        self.strategy = make_strategy(self.space, self.options, self.x, self.blocks, self._curvature)
        self.strategy.adopt(self.x, ens.covariance())
        self.phase = "quantum"
        self.since_improve = 0

    # ------------------------------------------------------------------ state
    def _config(self) -> dict[str, Any]:
        """What must match for a checkpoint to be loaded into this optimizer."""
        sp = self.space.to_arrays()
        digest = hashlib.sha256(b"".join(a.tobytes() for a in sp.values())).hexdigest()
        blocks = (None if self.blocks is None
                  else hashlib.sha256(b"|".join(g.tobytes() for g in self.blocks)).hexdigest())
        options = self.options.describe()
        del options["workers"]   # results do not depend on it, so a run may resume with other workers
        return {"space": digest, "blocks": blocks, "dim": self.space.dim, "options": options,
                "solver": {"name": self.solver.name, **self.solver.settings()},
                "max_evals": self.max_evals, "max_iter": self.max_iter, "max_time": self.max_time,
                "target": self.target, "popsize": self.popsize}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly: arrays plus JSON-able metadata.

        The entries follow from the declared fields :data:`_SCALARS` and :data:`_VECTORS`, the
        strategy's own state (prefixed ``dir.``), the GA population and the pending request.
        """
        req = self._pending
        state: dict[str, Any] = {
            "qiml_version": __version__, "layout": STATE_LAYOUT, "config": json.loads(json.dumps(self._config())),
            "elapsed": self.elapsed, "rng": rng_state(self.rng),
            "history": np.array(self.history, dtype=float).reshape(-1, 2),
            "ga_pop": self.ga_pop.copy(), "ga_fit": self.ga_fit.copy(),
            **{k: getattr(self, k) for k in _SCALARS}, **{k: getattr(self, k).copy() for k in _VECTORS},
            **{f"dir.{k}": v for k, v in self.strategy.state_dict().items()},
            **({} if self.ensemble is None else {f"walk.{k}": v for k, v in self.ensemble.state_dict().items()}),
            "pending": None if req is None else "slices" if isinstance(req, SliceRequest) else "population",
        }
        if isinstance(req, SliceRequest):
            assert self._block is not None
            state["req_x"] = req.x.copy()
            state.update({f"block.{k}": v if isinstance(v, str) else v.copy() for k, v in self._block.arrays().items()})
        elif isinstance(req, PopulationRequest):
            state["req_X"] = req.X.copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` output of an optimizer built with the same arguments."""
        if not isinstance(state, dict):
            raise CheckpointError(f"state must be a dict, got {type(state).__name__}")
        if state.get("layout") != STATE_LAYOUT:
            raise CheckpointError(f"checkpoint has engine state layout {state.get('layout', 1)!r} (written by qiml "
                                  f"{state.get('qiml_version', 'unknown')}); this qiml ({__version__}) reads layout "
                                  f"{STATE_LAYOUT}: start the run afresh")
        P = self.space.dim
        try:
            mine = json.loads(json.dumps(self._config()))
            theirs = state["config"]
            if not isinstance(theirs, dict):
                raise CheckpointError(f"checkpoint's config is a {type(theirs).__name__}, not a mapping; it is corrupt")
            if theirs != mine:
                diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                raise CheckpointError(f"checkpoint was made with other settings (differs in {diff}); "
                                      "build the optimizer with the same bounds, solver, options and budgets")
            vectors = {k: checkpoint.as_array(state[k], k) for k in _VECTORS}
            for k, a in vectors.items():
                _expect(a, (P,), k)
            self._expect_points(vectors["x"][None], "x")
            self._expect_points(vectors["best_x"][None], "best_x")
            if np.any(vectors["ga_sigma"] < 0):
                raise CheckpointError("state entry 'ga_sigma' holds negative spreads")
            scalars = {k: kind(state[k]) for k, kind in _SCALARS.items()}
            self._check_scalars(scalars)
            history = checkpoint.as_array(state["history"], "history").reshape(-1, 2)
            if not np.all(np.isfinite(history[:, 0]) & (history[:, 0] >= 0)) or np.any(np.isnan(history[:, 1])):
                raise CheckpointError("state entry 'history' holds invalid evaluation counts or NaN losses")
            history_rows = [(int(n), float(f)) for n, f in history]
            ga_pop, ga_fit = (checkpoint.as_array(state[k], k) for k in ("ga_pop", "ga_fit"))
            if ga_pop.ndim != 2 or ga_pop.shape[1] != P:
                raise CheckpointError(f"ga_pop has shape {ga_pop.shape}, expected (n, {P})")
            if ga_fit.shape not in ((0,), (ga_pop.shape[0],)) or np.any(np.isnan(ga_fit)):
                raise CheckpointError(f"ga_fit has shape {ga_fit.shape} or NaN values; expected (0,) or "
                                      f"({ga_pop.shape[0]},) losses")
            if scalars["phase"] == "refine":
                if ga_pop.shape[0] < 2:
                    raise CheckpointError("the GA refinement phase needs a population; the checkpoint has none")
                self._expect_points(ga_pop, "ga_pop")
            rng = rng_from_state(state["rng"])
            elapsed = float(state["elapsed"])
            if not (np.isfinite(elapsed) and elapsed >= 0):
                raise CheckpointError(f"state entry 'elapsed' must be finite seconds >= 0, got {elapsed!r}")
            strategy = make_strategy(self.space, self.options, vectors["x"], self.blocks, self._curvature)
            strategy.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("dir.")})
            ensemble = None
            if self.ensemble is not None:
                ensemble = self._new_ensemble()
                ensemble.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("walk.")})
            pending, block = self._pending_from_state(state, strategy)
        except KeyError as exc:
            raise CheckpointError(f"state dict lacks entry {exc}") from exc
        except CheckpointError:
            raise
        except (TypeError, ValueError, OverflowError, AttributeError, IndexError, ZeroDivisionError,
                np.linalg.LinAlgError) as exc:
            # OverflowError: an infinite count; AttributeError/IndexError: an entry of the wrong kind or shape
            raise CheckpointError(f"state dict is corrupt: {type(exc).__name__}: {exc}") from exc
        for k, v in {**vectors, **scalars}.items():
            setattr(self, k, v)
        self.history = history_rows
        self.ga_pop, self.ga_fit = ga_pop, ga_fit
        self.strategy, self._block, self.ensemble = strategy, block, ensemble
        self.rng, self._pending = rng, pending
        self._elapsed_before = elapsed
        self._t_start = time.perf_counter()
        self._user_stop = None

    def _expect_points(self, X: NDArray[np.float64], name: str) -> None:
        """Refuse points (n, P) of a checkpoint that are not finite, lie outside the box or off its lattice."""
        if X.ndim != 2 or X.shape[1] != self.space.dim:
            raise CheckpointError(f"state entry {name!r} has shape {X.shape}, expected (n, {self.space.dim})")
        if not np.all(np.isfinite(X)) or not np.array_equal(self.space.snap(X), X):
            raise CheckpointError(f"state entry {name!r} holds points that are not finite, outside the bounds "
                                  "or off the lattice; it does not belong to this run")

    def _check_scalars(self, scalars: dict[str, Any]) -> None:
        """Counts >= 0, a best loss that is a number (inf before the first evaluation) and a phase this
        run's search has."""
        for k in ("nfev", "walker_nfev", "nit", "since_improve", "restarts"):
            if scalars[k] < 0:
                raise CheckpointError(f"state entry {k!r} must be >= 0, got {scalars[k]}")
        if np.isnan(scalars["best_f"]) or scalars["best_f"] == -np.inf:
            raise CheckpointError(f"state entry 'best_f' must be a loss or +inf, got {scalars['best_f']}")
        if not (np.isfinite(scalars["cycle_start"]) and np.isfinite(scalars["last_hbar"])):
            raise CheckpointError("state entries 'cycle_start' and 'last_hbar' must be finite")
        phases = {"quantum"} | ({"refine"} if self._refine > 0 else set()) | (
            {"walkers"} if self.ensemble is not None else set())
        if scalars["phase"] not in phases:
            raise CheckpointError(f"phase {scalars['phase']!r} is not one of this run's ({sorted(phases)})")

    def _pending_from_state(self, state: dict[str, Any], strategy: Any) -> tuple[Request | None, Block | None]:
        """The pending request of a checkpoint, checked: directions inside the parameters, grids that are
        finite with 2..nx valid points, a centre inside them, points in the box."""
        P = self.space.dim
        kind = state["pending"]
        if kind is None:
            return None, None
        if kind == "population":
            X = checkpoint.as_array(state["req_X"], "req_X")
            self._expect_points(X, "req_X")
            if X.shape[0] < 1:
                raise CheckpointError("the pending population is empty")
            return PopulationRequest(X), None
        if kind != "slices":
            raise CheckpointError(f"unknown pending request kind {kind!r}")
        block = Block.from_arrays({k[6:]: v for k, v in state.items() if k.startswith("block.")})
        k = block.counts.shape[0] if block.counts.ndim == 1 else -1
        if (k < 1 or block.support.ndim != 2 or block.support.shape[0] != k or block.coef.shape != block.support.shape
                or block.grid.ndim != 2 or block.grid.shape[0] != k or block.tag.shape != (k,)
                or (block.centre is not None and block.centre.shape != (k,))):
            raise CheckpointError("the pending directions' arrays do not agree in shape")
        if np.any((block.support < 0) | (block.support >= P)):
            raise CheckpointError(f"pending directions must index parameters in [0, {P})")
        if np.any((block.counts < 2) | (block.counts > block.grid.shape[1])):
            raise CheckpointError(f"pending slices must have 2..{block.grid.shape[1]} grid points")
        if block.centre is not None and np.any((block.centre < -1) | (block.centre >= block.counts)):
            raise CheckpointError("a pending slice's centre lies outside its grid")
        if not (np.all(np.isfinite(block.grid)) and np.all(np.isfinite(block.coef))):
            raise CheckpointError("pending slices hold NaN or infinite grid points or directions")
        req_x = checkpoint.as_array(state["req_x"], "req_x")
        _expect(req_x, (P,), "req_x")
        self._expect_points(req_x[None], "req_x")
        strategy.check_block(block)
        return SliceRequest(req_x, block.support, block.coef, block.grid, block.counts, self.space, block.centre), block

    def save(self, path: Any) -> Any:
        """Write :meth:`state_dict` atomically to ``path`` (see :mod:`qiml.engine.checkpoint`)."""
        return checkpoint.save(self.state_dict(), path)

    def load(self, path: Any) -> None:
        """Continue from a checkpoint file written by :meth:`save`.

        Memory is bounded by :meth:`checkpoint_bytes`: a file declaring larger arrays is refused
        with :class:`qiml.CheckpointError` before anything is read."""
        self.load_state_dict(checkpoint.load(path, max_bytes=self.checkpoint_bytes()))

    def checkpoint_bytes(self) -> int:
        """The most bytes of arrays a checkpoint of this run can hold, from its shapes: P x P matrices
        (bases, covariances), P-vectors per walker, GA member and slice grid point, and one history row
        per iteration (at most ``max_iter`` or ``max_evals``; 2**22 rows when only time is budgeted)."""
        P = self.space.dim
        walkers = 0 if self.ensemble is None else MAX_WALKERS
        rows = self.max_iter or self.max_evals or 2**22
        return 8 * (16 * P * P + 8 * P * (walkers + self.popsize + MAX_NX) + 2 * rows) + 2**22


# ---------------------------------------------------------------------- helpers
def _resolve_search(options: Options, P: int, curvature: CurvatureFn | None) -> str:
    """The search the options name; "auto" means slices alone above :data:`AUTO_MAX_DIM` parameters or
    where the model slices along its own curvature (a dense ensemble costs O(P^2) memory)."""
    if options.search == "auto" and (P > AUTO_MAX_DIM or (curvature is not None and options.directions == "curvature")):
        return "slices"
    return options.search


#: the engine's own state (besides the strategy's, the GA's and the pending request): name -> type
_SCALARS: dict[str, type] = {"nfev": int, "walker_nfev": int, "nit": int, "best_f": float, "phase": str,
                             "since_improve": int, "restarts": int, "cycle_start": float, "last_hbar": float}
_VECTORS = ("x", "best_x", "ga_sigma")   # (P,) each


def _unit_range(V: NDArray[np.float64], valid: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Rescale each row's valid, finite values to [0, 1]; +inf (infeasible) becomes a wall of 1."""
    finite = valid & np.isfinite(V)
    lo = np.min(np.where(finite, V, np.inf), axis=1, keepdims=True)
    hi = np.max(np.where(finite, V, -np.inf), axis=1, keepdims=True)
    span = hi - lo
    ok = np.isfinite(span) & (span > 0)
    out = np.where(ok, (V - np.where(ok, lo, 0.0)) / np.where(ok, span, 1.0), 0.0)
    return np.where(np.isfinite(V), out, 1.0)


def _finite_max(V: NDArray[np.float64]) -> float:
    f = V[np.isfinite(V)]
    return float(f.max()) if f.size else 0.0


def _expect(a: NDArray[Any], shape: tuple[int, ...], name: str) -> None:
    if a.shape != shape:
        raise CheckpointError(f"state entry {name!r} has shape {a.shape}, expected {shape}")
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        raise CheckpointError(f"state entry {name!r} holds NaN or infinite values")


def _check_blocks(blocks: Sequence[ArrayLike] | None, P: int) -> list[NDArray[np.intp]] | None:
    """Parameter blocks for adapted directions: index arrays that partition ``range(P)``."""
    if blocks is None:
        return None
    try:
        out = [np.asarray(g).reshape(-1) for g in blocks]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"blocks must be a sequence of index arrays: {exc}") from exc
    if not out or any(g.size == 0 or g.dtype.kind not in "iu" for g in out):
        raise ConfigError("blocks must be non-empty arrays of integer parameter indices")
    allidx = np.sort(np.concatenate(out))
    if allidx.size != P or np.any(allidx != np.arange(P)):
        raise ConfigError(f"blocks must partition the {P} parameters: every index in [0, {P}) exactly once")
    return [g.astype(np.intp) for g in out]
