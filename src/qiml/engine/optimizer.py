"""The QiML optimizer: a self-consistent loop of potentials, packets and read-outs, as ask/tell.

Each parameter ``i`` is a particle in a 1-D box (its current *window* of the bounds). One
iteration of the quantum phase:

1. pick parameters ``idx`` (a sequential sweep block, a random subset, or all for Jacobi);
2. ask for the loss along each one's slice through the current positions ``x`` (the potential
   ``V_i``, see :mod:`qiml.potentials`), rescale each slice to [0, 1] and multiply by ``alpha``;
3. let the solver evolve the packets ``psi_i`` under ``V_i`` with the annealed ``hbar``;
4. read the new positions out of ``|psi_i|^2``; re-centre each window on its packet and shrink
   it (never faster than ``shrink`` per update, never below ``window`` packet widths);
5. keep the best point ever evaluated (``noisy``: the latest request's best point); when ``patience``
   sweeps bring no new best, reopen every window to the full box around the best point, restart
   the ``hbar`` anneal (``reheat``) and sweep once along a random orthonormal basis
   (``stall_lines``, :class:`LineRequest`), since the best point is already optimal along every axis.

The last ``refine`` fraction of the budget runs a small GA seeded from the best point with the
packets' spreads (:mod:`qiml.engine.refine`). Every random choice comes from one seeded
generator whose state is part of :meth:`QiML.state_dict`, so a run stopped, saved and resumed
continues exactly as if it had never stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import __version__
from ..errors import CheckpointError, ConfigError, ShapeError
from ..parallel import MIN_PARALLEL_SECONDS, check_workers, parallel_map
from ..potentials import LineRequest, PopulationRequest, SliceRequest, check_values
from ..random import SeedLike, make_rng, rng_from_state, rng_state
from ..result import OptimizeResult
from ..solvers import Solver, density, get_solver, normalize, setting_names, unit_dx
from ..spaces import as_space
from . import checkpoint, readout, refine
from .options import Options, split_options

__all__ = ["QiML", "default_max_evals"]

Request = SliceRequest | LineRequest | PopulationRequest

# packets per solver task for stochastic solvers (fixed, so results do not depend on workers)
_CHUNK_PACKETS = 8


def default_max_evals(dim: int, nx: int) -> int:
    """Budget used when none is given: 20 full sweeps of slices."""
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
                 max_time: float | None = None, target: float | None = None, **options: Any) -> None:
        engine_opts, solver_opts = split_options(options, setting_names(solver))
        self.space = as_space(bounds)
        self.options = Options(**engine_opts)
        self.solver = get_solver(solver, **solver_opts)
        P, nx = self.space.dim, self.options.nx
        self.max_evals = _positive_int(max_evals, "max_evals")
        self.max_iter = _positive_int(max_iter, "max_iter")
        self.max_time = _positive_float(max_time, "max_time")
        self.target = None if target is None else _finite_float(target, "target")
        if self.max_evals is None and self.max_iter is None and self.max_time is None:
            self.max_evals = default_max_evals(P, nx)
        if self.max_evals is not None and self.max_evals < nx + 1:
            raise ConfigError(f"max_evals={self.max_evals} is smaller than one slice of the loss (nx + 1 = {nx + 1} "
                              "evaluations); raise the budget or lower nx")
        self.popsize = self.options.popsize or refine.default_popsize(P)
        self.rng = make_rng(seed)
        if x0 is None:
            x = self.space.sample(self.rng, 1)[0]
        else:
            x = np.asarray(x0, dtype=float)
            if x.shape != (P,):
                raise ShapeError(f"x0 must have shape ({P},) to match the bounds, got {x.shape}")
            if not np.all(np.isfinite(x)):
                raise ShapeError("x0 must be finite")
            x = self.space.snap(x)
        self.x = x
        self.low = self.space.lower.copy()
        self.width = self.space.width.copy()
        self.spread = self.width / np.sqrt(12.0)
        # packets live on the grid of the window they were last evolved in
        self.psi_low, self.psi_width = self.low.copy(), self.width.copy()
        grid, counts = self._grids(np.arange(P))
        centre = (x - self.low) / self.width
        u = np.linspace(0.0, 1.0, nx)[None, :]
        self.psi = normalize(np.exp(-0.5 * ((u - centre[:, None]) / 0.2) ** 2).astype(np.complex128), unit_dx(nx))
        self.psi[np.arange(nx)[None, :] >= counts[:, None]] = 0.0
        self.nfev = 0
        self.nit = 0
        self.best_x = x.copy()
        self.best_f = np.inf
        self.history: list[tuple[int, float]] = []
        self.phase = "quantum"
        self.order = np.zeros(0, dtype=np.intp)   # current sweep's parameter order
        self.order_pos = 0
        self.since_improve = 0                    # parameter updates since the last new best
        self.restarts = 0
        self.cycle_start = 0.0                    # quantum-phase progress at which the current anneal began
        self.lines = np.zeros((0, P))             # queued line directions (rows), see `stall_lines`
        self.line_span = 0.0                      # > 0: the queued line is a sweep line of this length
        self.sweep_x = x.copy()                   # where the current sweep started (`sweep_lines`)
        self.last_hbar = float(self.options.hbar_schedule(0.0))
        self.ga_pop = np.zeros((0, P))
        self.ga_fit = np.zeros(0)
        self.ga_sigma = np.zeros(P)
        self._pending: Request | None = None
        self._elapsed_before = 0.0
        self._t_start = time.perf_counter()
        self._user_stop: str | None = None
        self._seconds_per_packet = 0.0   # of serial solver calls; decides whether workers are worth it

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> NDArray[np.float64]:
        """Points to evaluate next, shape (n, P). Calling ``ask`` again before ``tell`` returns the same points.

        In the quantum phase row 0 is the current position and the other rows lay out the
        slices of the parameters being updated; in the refinement phase they are a GA
        generation. For large P use :meth:`ask_request` to avoid materialising all rows.
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
        elif isinstance(req, LineRequest):
            self._tell_lines(req, *req.split(F))
        else:
            self._tell_population(req, F)

    def tell_potentials(self, fx: float, V: ArrayLike) -> None:
        """Report the pending slice request's answer directly: ``f(x)`` and ``V`` (k, nx).

        This is the entry point for structured models that compute slices incrementally
        without building candidate rows (see :meth:`qiml.potentials.Objective.potentials`).
        """
        req = self.ask_request()
        if not isinstance(req, SliceRequest):
            raise ShapeError("the pending request is a population, not slices: use tell_values()")
        V = np.asarray(V, dtype=float)
        if V.shape != req.grid.shape:
            raise ShapeError(f"V must have shape {req.grid.shape} (slices x grid points), got {V.shape}")
        flat = check_values(np.concatenate([[fx], V.ravel()]), V.size + 1, self.options.nan_policy)
        self._tell_slices(req, float(flat[0]), flat[1:].reshape(V.shape))

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
        """Grids (k, nx) and densities (k, nx) of the packets of parameters ``idx`` (all by default)."""
        idx = np.arange(self.space.dim) if idx is None else np.atleast_1d(np.asarray(idx, dtype=np.intp))
        grid, counts = self._psi_grids(idx)
        rho = density(self.psi[idx])
        rho[np.arange(rho.shape[1])[None, :] >= counts[:, None]] = 0.0
        return grid, rho

    # ------------------------------------------------------------------ the loop
    def _grids(self, idx: NDArray[np.intp]) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        return self.space.window_grid(idx, self.low[idx], self.width[idx], self.options.nx)

    def _psi_grids(self, idx: NDArray[np.intp]) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        return self.space.window_grid(idx, self.psi_low[idx], self.psi_width[idx], self.options.nx)

    def _next_request(self) -> Request:
        opts = self.options
        if self.phase == "quantum" and opts.refine > 0 and self.progress() >= 1.0 - opts.refine:
            self._start_refinement()
        if self.phase == "refine":
            if self.ga_fit.size == 0:
                return PopulationRequest(self.ga_pop.copy())
            kids = refine.offspring(self.rng, self.ga_pop, self.ga_fit, self.ga_sigma, self.space)
            return PopulationRequest(kids[: self._remaining(kids.shape[0])])
        if self.lines.shape[0]:
            return self._line_request()
        idx = self._choose_parameters()
        grid, counts = self._grids(idx)
        return SliceRequest(self.x.copy(), idx, grid, counts)

    def _remaining(self, n: int) -> int:
        if self.max_evals is None:
            return n
        return max(1, min(n, self.max_evals - self.nfev))

    def _choose_parameters(self) -> NDArray[np.intp]:
        P, opts = self.space.dim, self.options
        if opts.update == "jacobi":
            return np.arange(P)
        if opts.update == "random":
            return np.sort(self.rng.choice(P, size=min(opts.block, P), replace=False))
        if self.order_pos >= self.order.size:
            self.order = self.rng.permutation(P)
            self.order_pos = 0
        idx = self.order[self.order_pos:self.order_pos + opts.block]
        self.order_pos += idx.size
        return idx

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

    def _line_request(self) -> LineRequest:
        """The next block of queued directions, each slice spanning the whole box along its line."""
        D = self.lines[: self.options.block]
        self.lines = self.lines[D.shape[0]:]
        with np.errstate(divide="ignore", invalid="ignore"):
            a = (self.space.lower - self.x)[None, :] / D
            b = (self.space.upper - self.x)[None, :] / D
        moving = np.abs(D) > 1e-12
        t_lo = np.max(np.where(moving, np.minimum(a, b), -np.inf), axis=1)
        t_hi = np.min(np.where(moving, np.maximum(a, b), np.inf), axis=1)
        if self.line_span > 0:
            # a sweep line: from a step back to three sweeps ahead, since in narrow valleys the
            # best step along the sweep's displacement is often longer than the sweep itself
            t_lo, t_hi = np.maximum(t_lo, -self.line_span), np.minimum(t_hi, 3.0 * self.line_span)
        grid = t_lo[:, None] + (t_hi - t_lo)[:, None] * np.linspace(0.0, 1.0, self.options.nx)[None, :]
        return LineRequest(self.x.copy(), D, grid, np.full(D.shape[0], self.options.nx, dtype=np.intp))

    def _record_slices(self, req: SliceRequest | LineRequest, fx: float, V: NDArray[np.float64]) -> float:
        """Count a slice request, keep its best point; return the quantum-phase progress."""
        valid = np.arange(V.shape[1])[None, :] < req.counts[:, None]
        Vv = np.where(valid, V, np.inf)
        j, g = np.unravel_index(np.argmin(Vv), Vv.shape)
        best_here, best_point = fx, req.x
        improved = bool(Vv[j, g] < fx)
        if improved:
            row = 1 + int(np.sum(req.counts[:j])) + int(g)
            best_here, best_point = Vv[j, g], req.rows(row, row + 1)[0]
        self.since_improve += req.counts.size
        self._record(req.n_rows, best_here, best_point, improved)
        return min(1.0, self.progress() / (1.0 - self.options.refine))

    def _relax(self, psi: NDArray[np.complex128], V: NDArray[np.float64], grid: NDArray[np.float64],
               counts: NDArray[np.intp], tq: float
               ) -> tuple[NDArray[np.complex128], NDArray[np.float64], NDArray[np.float64]]:
        """Evolve packets under the rescaled slices ``V``; return them, their densities and positions."""
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
        return psi, rho, readout.position(rho, grid, counts, opts.readout)

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
        opts = self.options
        idx, grid, counts = req.idx, req.grid, req.counts
        tq = self._record_slices(req, fx, V)
        psi = self.psi[idx]
        if self.solver.stateful:  # carry the packets over to the windows they are asked about now
            psi = _regrid(psi, *self._psi_grids(idx), grid, counts)
        psi, rho, pos = self._relax(psi, V, grid, counts, tq)
        self.spread[idx] = readout.spread(rho, grid, counts)
        self.psi[idx], self.psi_low[idx], self.psi_width[idx] = psi, self.low[idx], self.width[idx]
        new_x = self.x.copy()
        new_x[idx] = pos if opts.update != "jacobi" else (1 - opts.mixing) * self.x[idx] + opts.mixing * pos
        self.x = self.space.snap(new_x)

        # re-centre each window on its packet; shrink it, but not below `window` packet widths,
        # and with `grow` let it grow again when the packet ends near its edge (the minimum lies beyond)
        full, lo, hi = self.space.width[idx], self.space.lower[idx], self.space.upper[idx]
        width = np.minimum(full, np.maximum(opts.shrink * self.width[idx], opts.window * self.spread[idx]))
        if opts.grow > 1.0:
            u = (self.x[idx] - self.low[idx]) / self.width[idx]
            width = np.where((u < 0.15) | (u > 0.85), np.minimum(full, self.width[idx] * opts.grow), width)
        width = np.maximum(width, full * 1e-12)
        self.width[idx] = width
        self.low[idx] = np.clip(self.x[idx] - width / 2, lo, hi - width)
        self._after_slices(tq)

    def _tell_lines(self, req: LineRequest, fx: float, V: NDArray[np.float64]) -> None:
        tq = self._record_slices(req, fx, V)
        k, n = V.shape
        flat = normalize(np.ones((k, n), dtype=np.complex128), unit_dx(n))   # line packets start spread out
        _, _, t = self._relax(flat, V, req.grid, req.counts, tq)
        self.x = self.space.snap(req.x + t @ req.directions)   # orthogonal directions: independent moves
        if self.line_span > 0:
            self.line_span, self.sweep_x = 0.0, self.x.copy()
        elif not self.lines.shape[0]:
            # lines explore on a coarse grid across the whole box: keep only what they improved
            self.x = self.best_x.copy()
        self._after_slices(tq)

    def _after_slices(self, tq: float) -> None:
        opts, P = self.options, self.space.dim
        if self.since_improve >= opts.patience * P:
            # Stalled: reopen all windows around the best point. The best point is the global
            # minimum of every axis slice through it, so with the same small hbar the packets would
            # land on it again; with `reheat` a new anneal starts, and broad packets move it; with
            # `stall_lines` a sweep along a random orthonormal basis looks off the axes first.
            self.x = self.best_x.copy()
            self.low, self.width = self.space.lower.copy(), self.space.width.copy()
            if opts.reheat:
                self.cycle_start = tq
            if opts.stall_lines and not self.space.is_lattice.any() and P > 1:
                q, r = np.linalg.qr(self.rng.standard_normal((P, P)))
                self.lines = (q * np.sign(np.diag(r))).T
            self.since_improve = 0
            self.restarts += 1
            self.order_pos = self.order.size   # start a fresh sweep
            self.sweep_x, self.line_span = self.x.copy(), 0.0
        elif (opts.sweep_lines and opts.update == "sequential" and self.order_pos >= self.order.size
              and not self.lines.shape[0] and not self.space.is_lattice.any()):
            d = self.x - self.sweep_x
            span = float(np.linalg.norm(d))
            if span > 0:
                self.lines, self.line_span = (d / span)[None, :], span
            self.sweep_x = self.x.copy()
        self._pending = None

    def _start_refinement(self) -> None:
        self.phase = "refine"
        self.ga_sigma = np.maximum(self.spread, self._sigma_floor())
        self.ga_pop = refine.initial_population(self.rng, self.best_x, self.ga_sigma, self.space, self.popsize)
        self.ga_fit = np.zeros(0)

    def _sigma_floor(self) -> NDArray[np.float64]:
        """Smallest GA mutation scale per parameter: one lattice step, or a tiny fraction of the range."""
        return np.where(self.space.is_lattice, self.space.step, self.space.width * 1e-12)

    def _tell_population(self, req: PopulationRequest, F: NDArray[np.float64]) -> None:
        i = int(np.argmin(F))
        self._record(req.n_rows, float(F[i]), req.X[i], improved=True)
        if self.ga_fit.size == 0:
            self.ga_fit = F.copy()
        else:
            pop, fit, kept_kids = refine.survivors(self.ga_pop, self.ga_fit, req.X, F)
            self.ga_sigma = refine.adapt_sigma(self.ga_sigma, kept_kids / max(1, req.n_rows), self._sigma_floor())
            self.ga_pop, self.ga_fit = pop, fit
        self._pending = None

    # ------------------------------------------------------------------ state
    def _config(self) -> dict[str, Any]:
        """What must match for a checkpoint to be loaded into this optimizer."""
        sp = self.space.to_arrays()
        digest = hashlib.sha256(b"".join(a.tobytes() for a in sp.values())).hexdigest()
        options = self.options.describe()
        del options["workers"]   # results do not depend on it, so a run may resume with other workers
        return {"space": digest, "dim": self.space.dim, "options": options,
                "solver": {"name": self.solver.name, **self.solver.settings()},
                "max_evals": self.max_evals, "max_iter": self.max_iter, "max_time": self.max_time,
                "target": self.target, "popsize": self.popsize}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly: arrays plus JSON-able metadata."""
        req = self._pending
        state: dict[str, Any] = {
            "qiml_version": __version__, "config": json.loads(json.dumps(self._config())),
            "nfev": self.nfev, "nit": self.nit, "best_f": float(self.best_f), "phase": self.phase,
            "order_pos": self.order_pos, "since_improve": self.since_improve, "restarts": self.restarts,
            "cycle_start": self.cycle_start, "lines": self.lines.copy(), "line_span": self.line_span,
            "sweep_x": self.sweep_x.copy(),
            "last_hbar": self.last_hbar, "elapsed": self.elapsed, "rng": rng_state(self.rng),
            "pending": None if req is None else {SliceRequest: "slices", LineRequest: "lines",
                                                 PopulationRequest: "population"}[type(req)],
            "x": self.x.copy(), "low": self.low.copy(), "width": self.width.copy(), "psi": self.psi.copy(),
            "psi_low": self.psi_low.copy(), "psi_width": self.psi_width.copy(),
            "spread": self.spread.copy(), "best_x": self.best_x.copy(),
            "history": np.array(self.history, dtype=float).reshape(-1, 2), "order": self.order.copy(),
            "ga_pop": self.ga_pop.copy(), "ga_fit": self.ga_fit.copy(), "ga_sigma": self.ga_sigma.copy(),
        }
        if isinstance(req, SliceRequest):
            state.update(req_x=req.x.copy(), req_idx=req.idx.copy(), req_grid=req.grid.copy(),
                         req_counts=req.counts.copy())
        elif isinstance(req, LineRequest):
            state.update(req_x=req.x.copy(), req_directions=req.directions.copy(), req_grid=req.grid.copy(),
                         req_counts=req.counts.copy())
        elif isinstance(req, PopulationRequest):
            state.update(req_X=req.X.copy())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` output of an optimizer built with the same arguments."""
        if not isinstance(state, dict):
            raise CheckpointError(f"state must be a dict, got {type(state).__name__}")
        try:
            mine = json.loads(json.dumps(self._config()))
            theirs = state["config"]
            if theirs != mine:
                diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                raise CheckpointError(f"checkpoint was made with other settings (differs in {diff}); "
                                      "build the optimizer with the same bounds, solver, options and budgets")
            P, nx = self.space.dim, self.options.nx
            arr = {k: np.asarray(state[k]) for k in ("x", "low", "width", "psi_low", "psi_width", "spread",
                                                     "best_x", "ga_sigma", "sweep_x")}
            for k, a in arr.items():
                _expect(a, (P,), k)
            psi = np.asarray(state["psi"])
            _expect(psi, (P, nx), "psi")
            history = np.asarray(state["history"], dtype=float).reshape(-1, 2)
            ga_pop, ga_fit = np.asarray(state["ga_pop"], float), np.asarray(state["ga_fit"], float)
            if ga_pop.ndim != 2 or ga_pop.shape[1] != P:
                raise CheckpointError(f"ga_pop has shape {ga_pop.shape}, expected (n, {P})")
            lines = np.asarray(state["lines"], float)
            if lines.ndim != 2 or lines.shape[1] != P or not np.all(np.isfinite(lines)):
                raise CheckpointError(f"state entry 'lines' has shape {lines.shape}, expected finite (m, {P})")
            order = np.asarray(state["order"])
            if order.ndim != 1 or order.dtype.kind not in "iu" or np.any((order < 0) | (order >= P)):
                raise CheckpointError(f"state entry 'order' must be parameter indices in [0, {P}), got {order!r}")
            rng = rng_from_state(state["rng"])
            pending: Request | None = None
            if state["pending"] == "slices":
                pending = SliceRequest(np.asarray(state["req_x"], float), np.asarray(state["req_idx"], np.intp),
                                       np.asarray(state["req_grid"], float), np.asarray(state["req_counts"], np.intp))
            elif state["pending"] == "lines":
                pending = LineRequest(np.asarray(state["req_x"], float), np.asarray(state["req_directions"], float),
                                      np.asarray(state["req_grid"], float), np.asarray(state["req_counts"], np.intp))
            elif state["pending"] == "population":
                pending = PopulationRequest(np.asarray(state["req_X"], float))
            elif state["pending"] is not None:
                raise CheckpointError(f"unknown pending request kind {state['pending']!r}")
            if state["phase"] not in ("quantum", "refine"):
                raise CheckpointError(f"unknown phase {state['phase']!r}")
            scalars = (int(state["nfev"]), int(state["nit"]), float(state["best_f"]), int(state["order_pos"]),
                       int(state["since_improve"]), int(state["restarts"]), float(state["cycle_start"]),
                       float(state["last_hbar"]), float(state["elapsed"]), float(state["line_span"]))
        except KeyError as exc:
            raise CheckpointError(f"state dict lacks entry {exc}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"state dict is corrupt: {exc}") from exc
        self.x, self.low, self.width, self.spread = (arr[k].astype(float) for k in ("x", "low", "width", "spread"))
        self.best_x, self.ga_sigma = arr["best_x"].astype(float), arr["ga_sigma"].astype(float)
        self.psi_low, self.psi_width = arr["psi_low"].astype(float), arr["psi_width"].astype(float)
        self.psi = psi.astype(np.complex128)
        self.history = [(int(n), float(f)) for n, f in history]
        self.ga_pop, self.ga_fit, self.lines = ga_pop, ga_fit, lines
        self.order = order.astype(np.intp)
        self.rng, self._pending, self.phase = rng, pending, str(state["phase"])
        (self.nfev, self.nit, self.best_f, self.order_pos, self.since_improve, self.restarts, self.cycle_start,
         self.last_hbar, self._elapsed_before, self.line_span) = scalars
        self.sweep_x = arr["sweep_x"].astype(float)
        self._t_start = time.perf_counter()
        self._user_stop = None

    def save(self, path: Any) -> Any:
        """Write :meth:`state_dict` atomically to ``path`` (see :mod:`qiml.engine.checkpoint`)."""
        return checkpoint.save(self.state_dict(), path)

    def load(self, path: Any) -> None:
        """Continue from a checkpoint file written by :meth:`save`."""
        self.load_state_dict(checkpoint.load(path))


# ---------------------------------------------------------------------- helpers
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


def _regrid(psi: NDArray[np.complex128], old_grid: NDArray[np.float64], old_counts: NDArray[np.intp],
            new_grid: NDArray[np.float64], new_counts: NDArray[np.intp]) -> NDArray[np.complex128]:
    """Linearly interpolate packets from old to new uniform grids; zero outside the old window."""
    k, n = psi.shape
    rows = np.arange(k)[:, None]
    span = old_grid[np.arange(k), old_counts - 1] - old_grid[:, 0]
    u = (new_grid - old_grid[:, :1]) / np.where(span > 0, span, 1.0)[:, None] * (old_counts - 1)[:, None]
    inside = (u >= -1e-9) & (u <= (old_counts - 1)[:, None] + 1e-9) & (np.arange(n)[None, :] < new_counts[:, None])
    u = np.clip(u, 0, (old_counts - 1)[:, None])
    i0 = np.minimum(np.floor(u).astype(np.intp), np.maximum(old_counts - 2, 0)[:, None])
    w = u - i0
    out = (1 - w) * psi[rows, i0] + w * psi[rows, np.minimum(i0 + 1, n - 1)]
    out = np.where(inside, out, 0.0)
    norm = np.sqrt(np.sum(np.abs(out) ** 2, axis=1, keepdims=True) / np.maximum(new_counts - 1, 1)[:, None])
    out = np.where(norm > 1e-150, out / np.where(norm > 1e-150, norm, 1.0), 0.0)
    empty = norm[:, 0] <= 1e-150   # packet fell outside the new window: restart it flat
    if empty.any():
        out[empty] = np.where(np.arange(n)[None, :] < new_counts[empty, None], 1.0, 0.0)
        out[empty] /= np.sqrt(new_counts[empty, None] / np.maximum(new_counts[empty, None] - 1, 1))
    return out


def _expect(a: NDArray[Any], shape: tuple[int, ...], name: str) -> None:
    if a.shape != shape:
        raise CheckpointError(f"state entry {name!r} has shape {a.shape}, expected {shape}")
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        raise CheckpointError(f"state entry {name!r} holds NaN or infinite values")


def _positive_int(v: Any, name: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ConfigError(f"{name} must be a positive int or None, got {v!r}")
    return int(v)


def _positive_float(v: Any, name: str) -> float | None:
    if v is None:
        return None
    f = _finite_float(v, name)
    if f <= 0:
        raise ConfigError(f"{name} must be > 0, got {v!r}")
    return f


def _finite_float(v: Any, name: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number, got {v!r}") from exc
    if not np.isfinite(f):
        raise ConfigError(f"{name} must be finite, got {v!r}")
    return f
