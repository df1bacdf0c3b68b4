"""Slice directions: which lines through the current point the engine slices next, and what they learn.

A :class:`Strategy` proposes a :class:`Block` of directions, each with a window in its own units
(step lengths ``t`` from the current point ``x``, so the slice is ``x + t d``), and is told what
the packets found along them. The engine knows nothing else about directions, so the optimizer,
``minimize``, the torch optimizer and the network objective see one request type for all slices.

Strategies (:data:`STRATEGIES`, option ``directions``):

* ``"axes"``: one parameter per slice (:class:`Axes`): sequential sweeps in a fresh random order,
  random subsets or all at once (Jacobi), as the option ``update`` says. Works on lattices.
* ``"adapted"``: an orthonormal basis learned from the run's own displacements (:class:`Adapted`):
  the adaptive encoding of ACiD (Loshchilov et al., GECCO 2011), an evolution path of the sweeps'
  net displacements and a rank-one update of a covariance whose eigenvectors are the directions.
  Each direction has its own window, which shrinks with its packets as an axis window does.
* ``"auto"``: axes until the first stall while the covariance already learns from the sweeps, then
  the adapted basis; on spaces with lattice parameters, plain axes.
* ``"curvature"``: each block's directions are the eigenvectors of the model's own curvature there
  (:class:`Curvature`; a network gives each neuron's Gauss-Newton block), re-asked at every visit;
  blocks the model has none for learn theirs as ``"adapted"`` does.

The option ``sweep_lines`` (one slice along each sweep's net displacement, Powell's conjugate
direction) and ``stall_lines`` (a sweep along a random orthonormal basis when the run stalls)
wrap any strategy in :class:`Lines`. Adding a strategy is one class here plus a registry line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import CheckpointError, ConfigError
from ..solvers import density, normalize, unit_dx
from ..spaces import Space
from .checkpoint import as_array

if TYPE_CHECKING:
    from .optimizer import QiML

__all__ = ["Block", "Strategy", "Axes", "Adapted", "Curvature", "Lines", "STRATEGIES", "make_strategy"]


@dataclass
class Block:
    """One request's directions: sparse rows ``support``/``coef`` (k, m), grids of steps ``t`` (k, nx).

    ``tag`` (k,) is the proposing strategy's own index of each direction (a parameter, a basis
    column, -1 for a line) and ``source`` names that strategy, so :meth:`Strategy.tell` knows what
    it asked. ``psi`` (k, nx) are the packets to start from, or None to start flat.
    """

    support: NDArray[np.intp]
    coef: NDArray[np.float64]
    grid: NDArray[np.float64]
    counts: NDArray[np.intp]
    tag: NDArray[np.intp]
    source: str
    psi: NDArray[np.complex128] | None = None
    centre: NDArray[np.intp] | None = None     # grid index of t = 0 per direction (see SliceRequest)

    def arrays(self) -> dict[str, Any]:
        out: dict[str, Any] = {"support": self.support, "coef": self.coef, "grid": self.grid,
                               "counts": self.counts, "tag": self.tag, "source": self.source}
        for k in ("psi", "centre"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    @classmethod
    def from_arrays(cls, d: dict[str, Any]) -> Block:
        psi, centre = d.get("psi"), d.get("centre")
        return cls(as_array(d["support"], "block.support", np.intp), as_array(d["coef"], "block.coef"),
                   as_array(d["grid"], "block.grid"),
                   as_array(d["counts"], "block.counts", np.intp), as_array(d["tag"], "block.tag", np.intp),
                   str(d["source"]), None if psi is None else as_array(psi, "block.psi", np.complex128),
                   None if centre is None else as_array(centre, "block.centre", np.intp))


class Strategy(ABC):
    """Proposes slice directions with windows and learns from what the packets found along them."""

    name: str = ""
    #: the state entries (arrays or scalars) that :meth:`state_dict` returns
    state_keys: tuple[str, ...] = ()

    #: grid points per slice when the option ``nx`` is None
    default_nx: int = 64

    def __init__(self, space: Space, options: Any) -> None:
        self.space, self.options = space, options
        self.nx = int(options.nx or self.default_nx)   #: grid points per slice

    @abstractmethod
    def propose(self, eng: QiML) -> Block:
        """The next block of directions through ``eng.x`` (may use ``eng.rng``)."""

    @abstractmethod
    def tell(self, eng: QiML, block: Block, V: NDArray[np.float64], psi: NDArray[np.complex128],
             t: NDArray[np.float64], spread: NDArray[np.float64]) -> NDArray[np.float64]:
        """Learn from the packets: read-out steps ``t`` (k,), their spreads (k,), the rescaled slices
        ``V`` (k, nx) and the packets ``psi``; return the new position (P,)."""

    @abstractmethod
    def reopen(self, eng: QiML) -> NDArray[np.float64]:
        """The run stalled at ``eng.x`` (the best point): reopen the windows; return where to go on from."""

    def stalled(self, eng: QiML) -> bool:
        """Whether the run is stuck: ``patience`` sweeps without a new best."""
        return eng.since_improve >= self.options.patience * self.space.dim

    @abstractmethod
    def spreads(self) -> NDArray[np.float64]:
        """Packet spread per parameter (P,), in parameter units (the GA's first mutation scale)."""

    def adopt(self, x: NDArray[np.float64], cov: NDArray[np.float64]) -> None:  # noqa: B027 (an optional hook)
        """Start converging at ``x`` in a basin whose shape a walker ensemble found: ``cov`` (P, P) is its
        diffusion covariance in parameter units (:meth:`qiml.engine.walkers.Walkers.covariance`).
        The default keeps the strategy's own windows."""

    @property
    def sweep_done(self) -> bool:
        """Whether the last block finished a sweep over all directions."""
        return False

    @property
    def converged(self) -> bool:
        """Whether every window has collapsed, so that only a reopening can move the run."""
        return False

    def packets(self, idx: NDArray[np.intp]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Grids (k, nx) and densities (k, nx) of the packets of parameters ``idx``."""
        raise ConfigError(f"the {self.name!r} directions keep no packet per parameter; use directions='axes'")

    def state_dict(self) -> dict[str, Any]:
        return {k: _copy(getattr(self, k)) for k in self.state_keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self.state_keys:
            mine = getattr(self, k)
            v = state[k]
            if isinstance(mine, np.ndarray):
                v = np.asarray(v)
                if v.ndim != mine.ndim or (v.ndim and v.shape[1:] != mine.shape[1:]) or (
                        k not in self._variable_length and v.shape != mine.shape):
                    raise CheckpointError(f"state entry {k!r} has shape {v.shape}, expected {mine.shape}")
                if v.dtype.kind in "fc" and not np.all(np.isfinite(v)):
                    raise CheckpointError(f"state entry {k!r} holds NaN or infinite values")
                v = as_array(v, f"dir.{k}", mine.dtype)
                if k == "order" and np.any((v < 0) | (v >= self.space.dim)):
                    raise CheckpointError(f"state entry 'order' must be indices in [0, {self.space.dim}), got {v!r}")
            else:
                v = type(mine)(v)
                # every scalar of a strategy is a count, a position in its order or a length: >= 0 and finite
                # (``scale``, the multiple of nx, >= 1)
                if isinstance(v, (int, float)) and not (np.isfinite(v) and v >= (1 if k == "scale" else 0)):
                    raise CheckpointError(f"state entry {k!r} must be finite and >= {1 if k == 'scale' else 0}, "
                                          f"got {v!r}")
            setattr(self, k, v)
        pos, order = getattr(self, "order_pos", 0), getattr(self, "order", None)
        if order is not None and pos > order.size:
            raise CheckpointError(f"state entry 'order_pos' ({pos}) lies past the sweep order")

    #: array entries whose first dimension may differ from a fresh strategy's
    _variable_length: tuple[str, ...] = ()

    def check_block(self, block: Block) -> None:
        """Refuse a checkpoint's pending block this strategy could not have proposed: another strategy's,
        or one whose tags (parameter or basis indices) lie outside ``[0, P)``."""
        if block.source != self.name:
            raise CheckpointError(f"the pending slices come from strategy {block.source!r}, not {self.name!r}")
        if np.any((block.tag < 0) | (block.tag >= self.space.dim)):
            raise CheckpointError(f"the pending slices' direction indices must lie in [0, {self.space.dim})")


# ---------------------------------------------------------------------- axes
class Axes(Strategy):
    """One parameter per slice; per-parameter windows that shrink with the packets (the classic engine).

    ``update``: ``"sequential"`` (blocks of ``block`` parameters in a fresh random order per sweep),
    ``"random"`` (a random subset of ``block`` per request) or ``"jacobi"`` (all parameters at once,
    moved by ``mixing`` of their read-out step). Packets are carried between windows for solvers
    that evolve from their current state.
    """

    name = "axes"
    state_keys = ("order", "order_pos", "low", "width", "spread", "psi", "psi_low", "psi_width", "requests")
    _variable_length = ("order",)

    def __init__(self, space: Space, options: Any, x: NDArray[np.float64]) -> None:
        super().__init__(space, options)
        P, nx = space.dim, self.nx
        self.low, self.width = space.lower.copy(), space.width.copy()
        self.spread = self.width / np.sqrt(12.0)
        self.psi_low, self.psi_width = self.low.copy(), self.width.copy()
        _, counts = space.window_grid(np.arange(P), self.low, self.width, nx)
        centre = (x - self.low) / self.width
        u = np.linspace(0.0, 1.0, nx)[None, :]
        self.psi = normalize(np.exp(-0.5 * ((u - centre[:, None]) / 0.2) ** 2).astype(np.complex128), unit_dx(nx))
        self.psi[np.arange(nx)[None, :] >= counts[:, None]] = 0.0
        self.order = np.zeros(0, dtype=np.intp)
        self.order_pos = 0
        self.requests = 0          # requests so far (random subsets: a sweep is ceil(P / block) of them)

    def _choose(self, eng: QiML) -> NDArray[np.intp]:
        P, opts = self.space.dim, self.options
        if opts.update == "jacobi":
            return np.arange(P)
        if opts.update == "random":
            return np.sort(eng.rng.choice(P, size=min(opts.block, P), replace=False))
        if self.order_pos >= self.order.size:
            self.order = eng.rng.permutation(P).astype(np.intp)
            self.order_pos = 0
        idx = self.order[self.order_pos:self.order_pos + opts.block]
        self.order_pos += idx.size
        return idx

    def propose(self, eng: QiML) -> Block:
        idx = self._choose(eng)
        self.requests += 1
        values, counts = self.space.window_grid(idx, self.low[idx], self.width[idx], self.nx)
        psi = None
        if eng.solver.stateful:   # carry the packets over to the windows they are asked about now
            old, old_counts = self.space.window_grid(idx, self.psi_low[idx], self.psi_width[idx], self.nx)
            psi = regrid(self.psi[idx], old, old_counts, values, counts)
        return Block(idx[:, None], np.ones((idx.size, 1)), values - eng.x[idx, None], counts, idx.copy(),
                     self.name, psi)

    def tell(self, eng: QiML, block: Block, V: NDArray[np.float64], psi: NDArray[np.complex128],
             t: NDArray[np.float64], spread: NDArray[np.float64]) -> NDArray[np.float64]:
        opts, idx = self.options, block.tag
        self.spread[idx] = spread
        self.psi[idx], self.psi_low[idx], self.psi_width[idx] = psi, self.low[idx], self.width[idx]
        new_x = eng.x.copy()
        new_x[idx] += t if opts.update != "jacobi" else opts.mixing * t
        new_x = self.space.snap(new_x)
        # re-centre each window on its packet; shrink it, but not below `window` packet widths,
        # and with `grow` let it grow again when the packet ends near its edge (the minimum lies beyond)
        full, lo, hi = self.space.width[idx], self.space.lower[idx], self.space.upper[idx]
        width = np.minimum(full, np.maximum(opts.shrink * self.width[idx], opts.window * spread))
        if opts.grow > 1.0:
            u = (new_x[idx] - self.low[idx]) / self.width[idx]
            width = np.where((u < 0.15) | (u > 0.85), np.minimum(full, self.width[idx] * opts.grow), width)
        width = np.maximum(width, full * 1e-12)
        self.width[idx] = width
        self.low[idx] = np.clip(new_x[idx] - width / 2, lo, hi - width)
        return new_x

    def packets(self, idx: NDArray[np.intp]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        grid, counts = self.space.window_grid(idx, self.psi_low[idx], self.psi_width[idx], self.nx)
        rho = density(self.psi[idx])
        rho[np.arange(rho.shape[1])[None, :] >= counts[:, None]] = 0.0
        return grid, rho

    def reopen(self, eng: QiML) -> NDArray[np.float64]:
        self.low, self.width = self.space.lower.copy(), self.space.width.copy()
        self.order_pos = self.order.size   # start a fresh sweep
        return eng.x.copy()

    def spreads(self) -> NDArray[np.float64]:
        return self.spread.copy()

    @property
    def sweep_done(self) -> bool:
        opts = self.options
        if opts.update == "jacobi":
            return True
        if opts.update == "random":
            return self.requests % -(-self.space.dim // opts.block) == 0
        return self.order_pos >= self.order.size


# ---------------------------------------------------------------------- adapted basis
class Adapted(Strategy):
    """Slices along the eigenvectors of a covariance adapted from the sweeps' net displacements.

    After each sweep over the ``P`` basis directions the net displacement ``dx`` of the sweep,
    normalised to length ``sqrt(P)`` in the metric of ``C`` (so only the shape is learned, the
    scale is left to the windows), enters an evolution path ``p <- (1 - cp) p + sqrt(cp (2 - cp)) z``
    and a rank-one update ``C <- (1 - c1) C + c1 p p^T`` (``cp = 1/sqrt(P)``, ``c1 = basis_rate / P``).
    ``C`` is then re-diagonalised with its condition capped at ``1e14``. Each basis direction has a
    window width ``w_j`` (in x units along it); when the basis turns, the widths are carried over
    by projecting the window ellipsoid ``B diag(w^2) B^T`` onto the new directions.

    ``blocks`` (index arrays partitioning the parameters, e.g. each neuron's fan-in) make the basis
    block-diagonal: each block learns its own ``C`` from its part of the displacement, and every
    direction moves one block only (so a network answers it with one incremental update). With
    ``frozen=True`` a block's directions stay its coordinate axes while its ``C`` already learns,
    until that ``C`` stops being round (the first phase of ``directions="auto"``). Windows are
    centred on x and kept in the box, a face within reach being a grid point. Continuous
    parameters only.
    """

    name = "adapted"
    default_nx = 3
    state_keys: tuple[str, ...] = ("B", "C", "path", "w", "spread_dir", "simple", "order", "order_pos", "sweep_x",
                                   "frozen", "scale")
    _variable_length = ("order",)

    def __init__(self, space: Space, options: Any, x: NDArray[np.float64], frozen: bool = False,
                 blocks: list[NDArray[np.intp]] | None = None) -> None:
        super().__init__(space, options)
        P = space.dim
        blocks = [np.arange(P, dtype=np.intp)] if blocks is None else [np.asarray(g, dtype=np.intp) for g in blocks]
        self.members = np.concatenate(blocks)                 # parameters in block order; direction k moves block_of[k]
        sizes = np.array([g.size for g in blocks], dtype=np.intp)
        self.start = np.concatenate([[0], np.cumsum(sizes)])  # block b: directions start[b]:start[b+1]
        self.mstart = np.concatenate([[0], np.cumsum(sizes**2)])   # its basis in B[mstart[b]:mstart[b+1]]
        self.block_of = np.repeat(np.arange(sizes.size), sizes)
        scale = (space.width / space.width.max())[self.members] ** 2    # the box's own scales to start
        self._C0 = np.concatenate([np.diag(scale[self.start[b]:self.start[b + 1]]).ravel() for b in range(sizes.size)])
        self._B0 = np.concatenate([np.eye(m).ravel() for m in sizes])
        self.B, self.C = self._B0.copy(), self._C0.copy()     # flat: the blocks' (m, m) matrices one after the other
        self.scale = 1     # grid points per slice, as a multiple of nx (doubled by "ipop" restarts)
        self.path = np.zeros(P)
        self.w = space.width[self.members].copy()
        self.spread_dir = self.w / np.sqrt(12.0)
        self.simple = np.zeros(P, dtype=bool)    # last slice along the direction had one local minimum
        self.order = np.zeros(0, dtype=np.intp)
        self.order_pos = 0
        self.sweep_x = x.copy()
        self.frozen = np.full(sizes.size, bool(frozen))

    def basis(self, b: int = 0) -> NDArray[np.float64]:
        """Block ``b``'s directions as the columns of an orthonormal (m, m) matrix (a view)."""
        m = self.start[b + 1] - self.start[b]
        return self.B[self.mstart[b]:self.mstart[b + 1]].reshape(m, m)

    def covariance(self, b: int = 0) -> NDArray[np.float64]:
        """Block ``b``'s learned covariance (m, m) (a view)."""
        m = self.start[b + 1] - self.start[b]
        return self.C[self.mstart[b]:self.mstart[b + 1]].reshape(m, m)

    def _directions(self, j: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Sparse rows (support, coef) (k, m) of directions ``j``; a frozen block's are single axes."""
        blocks = self.block_of[j]
        if np.all(blocks == blocks[0]) and not self.frozen[blocks[0]]:   # one block's basis: no padding
            b = int(blocks[0])
            support = self.members[self.start[b]:self.start[b + 1]]
            return np.repeat(support[None], j.size, axis=0), self.basis(b)[:, j - self.start[b]].T.copy()
        rows = []
        for k in j.tolist():
            b = int(self.block_of[k])
            c = k - self.start[b]
            if self.frozen[b]:
                rows.append((self.members[k:k + 1], np.ones(1)))
            else:
                rows.append((self.members[self.start[b]:self.start[b + 1]], self.basis(b)[:, c]))
        m = max(r[0].size for r in rows)
        support = np.array([np.pad(s, (0, m - s.size), mode="edge") for s, _ in rows], dtype=np.intp)
        coef = np.array([np.pad(c, (0, m - c.size)) for _, c in rows])
        return support, coef

    def _segment(self, x: NDArray[np.float64], support: NDArray[np.intp], coef: NDArray[np.float64]
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Step range (t_lo, t_hi) of each line x + t d inside the box (t = 0 included)."""
        t_lo, t_hi = line_segment(self.space, x, support, coef)
        return np.minimum(t_lo, 0.0), np.maximum(t_hi, 0.0)

    def _extent(self, support: NDArray[np.intp], coef: NDArray[np.float64]) -> NDArray[np.float64]:
        """The box's extent along each direction."""
        return np.sum(np.abs(coef) * self.space.width[support], axis=1)

    def check_block(self, block: Block) -> None:
        super().check_block(block)
        if block.centre is None or np.any(block.centre < 0):   # every slice here holds x itself
            raise CheckpointError("the pending slices lack the grid point at the current position")

    def _points(self, j: NDArray[np.intp]) -> NDArray[np.intp]:
        """Grid points of the slices along basis directions ``j``: odd, so that t = 0 is one of them."""
        nx = self.nx * self.scale
        full = nx if nx % 2 else nx - 1
        small = self.options.nx_min
        small = small if small % 2 else small - 1
        return np.where(self.simple[j], min(small, full), full).astype(np.intp)

    def propose(self, eng: QiML) -> Block:
        if self.order_pos >= self.order.size:
            self.order = eng.rng.permutation(self.space.dim).astype(np.intp)
            self.order_pos = 0
        j = self.order[self.order_pos:self.order_pos + self.options.block]
        self.order_pos += j.size
        return self._propose(eng, j)

    def _propose(self, eng: QiML, j: NDArray[np.intp]) -> Block:
        """The slices along basis directions ``j``, windows centred on x and kept in the box."""
        support, coef = self._directions(j)
        t_lo, t_hi = self._segment(eng.x, support, coef)
        counts = self._points(j)
        n1 = counts - 1
        width = np.minimum(self.w[j], (t_hi - t_lo) * (counts / n1))   # at most one interval more than the box
        h = width / n1                                                 # grid spacing
        # the window is centred on x (t = 0, always a grid point) and shifted to stay in the box; the
        # point nearest a face may poke out of it and is projected onto it, so faces and corners are
        # grid points (a linear slope has its minimum there)
        with np.errstate(divide="ignore", invalid="ignore"):
            left_max = np.ceil(-t_lo / h - 1e-9)                      # points left of x to reach the face
            right_max = np.ceil(t_hi / h - 1e-9)
        left_max = np.where(np.isfinite(left_max), left_max, n1)
        right_max = np.where(np.isfinite(right_max), right_max, n1)
        left = np.clip(np.maximum(n1 // 2, n1 - right_max), 0, np.minimum(left_max, n1))
        g = np.minimum(np.arange(counts.max())[None, :], (counts - 1)[:, None])
        grid = (g - left[:, None]) * h[:, None]
        return Block(support, coef, grid, counts, j.copy(), self.name, centre=left.astype(np.intp))

    def tell(self, eng: QiML, block: Block, V: NDArray[np.float64], psi: NDArray[np.complex128],
             t: NDArray[np.float64], spread: NDArray[np.float64]) -> NDArray[np.float64]:
        j, k = block.tag, block.tag.size
        valid = np.arange(V.shape[1])[None, :] < block.counts[:, None]
        Vv = np.where(valid, V, np.inf)
        g = np.argmin(Vv, axis=1)
        t_best = block.grid[np.arange(k), g]
        at_x = block.centre                          # the grid point at x itself (t = 0)
        h = (block.grid[np.arange(k), block.counts - 1] - block.grid[:, 0]) / (block.counts - 1)
        # the packet's read-out interpolates between grid points; trust it near the best grid point
        # only (a broad packet's mean can sit on a ridge), and stay put when no point beat x
        inner = (g > 0) & (g < block.counts - 1)     # at an end point the minimum may lie beyond: go there
        t = np.where(inner & (np.abs(t - t_best) <= h), t, t_best)
        t = np.where(Vv[np.arange(k), g] < Vv[np.arange(k), at_x], t, 0.0)
        new_x = eng.x.copy()
        np.add.at(new_x, block.support, t[:, None] * block.coef)
        new_x = self.space.snap(new_x)
        # the window follows the step: about four steps wide, at most halved or doubled per visit
        extent = self._extent(block.support, block.coef)
        w = self.w[j]
        width = np.clip(4.0 * np.abs(t) + h, 0.5 * w, self.options.grow_max * w)
        self.w[j] = np.clip(width, extent * 1e-13, extent)
        self.spread_dir[j] = spread
        if self.options.nx_min < self.nx * self.scale:   # coarse slices are possible: is this one simple?
            self.simple[j] = _one_minimum(V, block.counts)
        if self.order_pos >= self.order.size:
            dx = (new_x - self.sweep_x)[self.members]
            for b in range(self.frozen.size):
                self._learn(b, dx[self.start[b]:self.start[b + 1]])
            self.sweep_x = new_x.copy()
        return new_x

    def _extents(self) -> NDArray[np.float64]:
        """The box's extent along every direction (P,)."""
        width = self.space.width[self.members]
        out = width.copy()
        for b in np.flatnonzero(~self.frozen):
            ps = slice(self.start[b], self.start[b + 1])
            out[ps] = np.abs(self.basis(int(b)).T) @ width[ps]
        return out

    @property
    def converged(self) -> bool:
        return bool(np.all(self.w <= 1e-12 * self._extents()))

    def _learn(self, b: int, dx: NDArray[np.float64]) -> None:
        """Adaptive encoding of block ``b`` from its part ``dx`` (m,) of one sweep's net displacement."""
        m = dx.size
        if m == 1:
            return
        sl, ps = slice(self.mstart[b], self.mstart[b + 1]), slice(self.start[b], self.start[b + 1])
        C = self.C[sl].reshape(m, m)
        evals, evecs = np.linalg.eigh(C)
        evals = np.maximum(evals, evals.max() * 1e-14)
        length = float(np.linalg.norm((evecs.T @ dx) / np.sqrt(evals)))
        if not np.isfinite(length) or length <= 0:
            return
        cp = 1.0 / np.sqrt(m)
        c1 = min(1.0, self.options.basis_rate / m)
        z = np.sqrt(m) * dx / length
        self.path[ps] = (1 - cp) * self.path[ps] + np.sqrt(cp * (2 - cp)) * z
        C = (1 - c1) * C + c1 * np.outer(self.path[ps], self.path[ps])
        C = (C + C.T) / 2
        evals, evecs = np.linalg.eigh(C)
        evals = np.maximum(evals, evals.max() * 1e-14)
        self.C[sl] = ((evecs * evals) @ evecs.T).ravel()
        if self.frozen[b] and evals.max() > _UNFREEZE * evals.min():
            self.frozen[b] = False   # the sweeps have found a shape: now its eigenvectors mean something
        if not self.frozen[b]:
            self._turn(b, evecs)

    def _turn(self, b: int, B: NDArray[np.float64]) -> None:
        """New basis ``B`` (columns) of block ``b``; carry windows, spreads and slice sizes over by projection."""
        ps = slice(self.start[b], self.start[b + 1])
        overlap = (B.T @ self.basis(b)) ** 2             # (new, old): squared cosines, rows sum to 1
        self.w[ps] = np.sqrt(overlap @ self.w[ps] ** 2)
        self.spread_dir[ps] = np.sqrt(overlap @ self.spread_dir[ps] ** 2)
        self.simple[ps] = self.simple[ps][np.argmax(overlap, axis=1)]
        self.B[self.mstart[b]:self.mstart[b + 1]] = B.ravel()

    def stalled(self, eng: QiML) -> bool:
        # windows that fail halve, so a stuck run collapses them; until then failures are part of
        # following a curved valley, not a stall
        return self.converged or eng.since_improve >= 8 * self.options.patience * self.space.dim

    def reopen(self, eng: QiML) -> NDArray[np.float64]:
        x = eng.x.copy()
        if self.options.restart == "ipop":
            # a fresh start from a random point with a fresh basis and twice the grid points per slice,
            # as IPOP-CMA-ES restarts with twice the population
            x = self.space.sample(eng.rng, 1)[0]
            self.B, self.C, self.path = self._B0.copy(), self._C0.copy(), np.zeros(self.space.dim)
            self.scale = min(self.scale * 2, 8)
            self.frozen[:] = self.options.directions == "auto"
        self.w = self._extents()
        self.simple[:] = False
        self.order_pos = self.order.size
        self.sweep_x = x.copy()
        return x

    def adopt(self, x: NDArray[np.float64], cov: NDArray[np.float64]) -> None:
        # each block slices along the eigenvectors of its part of the ensemble's covariance, with
        # windows four standard deviations wide (what the walkers' diffusion spanned)
        for b in range(self.frozen.size):
            ps = slice(self.start[b], self.start[b + 1])
            idx = self.members[ps]
            evals, evecs = np.linalg.eigh(cov[np.ix_(idx, idx)])
            evals = np.maximum(evals, evals.max() * 1e-14)
            self.C[self.mstart[b]:self.mstart[b + 1]] = ((evecs * (evals / evals.max())) @ evecs.T).ravel()
            self.B[self.mstart[b]:self.mstart[b + 1]] = evecs.ravel()
            self.w[ps] = 4.0 * np.sqrt(evals)
        self.frozen[:] = False
        self.w = np.clip(self.w, 1e-13 * self._extents(), self._extents())
        self.spread_dir = self.w / 4.0
        self.path[:] = 0.0
        self.simple[:] = False
        self.order_pos = self.order.size
        self.sweep_x = x.copy()

    def spreads(self) -> NDArray[np.float64]:
        out = np.empty(self.space.dim)
        for b in range(self.frozen.size):
            ps = slice(self.start[b], self.start[b + 1])
            out[self.members[ps]] = np.sqrt((self.basis(b) ** 2) @ self.spread_dir[ps] ** 2)
        return out

    @property
    def sweep_done(self) -> bool:
        return self.order_pos >= self.order.size


class Curvature(Adapted):
    """Slices along the eigenvectors of each block's curvature, which the model gives at every visit.

    A sweep visits the blocks (e.g. the neurons) in a random order; on arriving at a block it asks
    ``curvature(x, params)`` for that block's curvature matrix's eigenvectors (for a network: the
    Gauss-Newton block of a neuron's fan-in, from forward quantities and the activations'
    derivatives, see :meth:`qiml.nn.NetworkObjective.curvature`) and slices along them, ``block``
    directions of that block per request (their moves add up, exact for a quadratic model in its
    eigenbasis; on networks 8 per request beat one, and 16 beat 8: ``docs/results/nn-levers``).
    Each window is at most twice the model's reach; windows carry over from visit to visit by
    projection, as a turning adapted basis does. A block the model has no curvature for (``None``: a step activation, a
    loss without a derivative) learns its directions from the sweeps as :class:`Adapted` does.
    """

    name = "curvature"
    state_keys = Adapted.state_keys + ("learned",)

    def __init__(self, space: Space, options: Any, x: NDArray[np.float64], blocks: list[NDArray[np.intp]] | None,
                 curvature: CurvatureFn | None) -> None:
        super().__init__(space, options, x, frozen=False, blocks=blocks)
        self.curvature = curvature
        self.learned = np.full(self.frozen.size, curvature is None)   # blocks without a model curvature

    def propose(self, eng: QiML) -> Block:
        if self.order_pos >= self.order.size:
            # a sweep: the blocks in a random order, each block's directions together
            perm = eng.rng.permutation(self.frozen.size)
            self.order = np.concatenate([np.arange(self.start[b], self.start[b + 1]) for b in perm]).astype(np.intp)
            self.order_pos = 0
        first = int(self.order[self.order_pos])
        b = int(self.block_of[first])
        end = self.order_pos + int(self.start[b + 1]) - first        # where this block's run in the order ends
        if first == self.start[b] and not self.learned[b]:          # arriving at the block: ask the model
            got = self.curvature(eng.x, self.members[self.start[b]:self.start[b + 1]]) if self.curvature else None
            if got is None:
                self.learned[b] = True
            else:
                vectors, reach = got
                B = _orthonormal(vectors)
                self._turn(b, B)
                ps = slice(self.start[b], self.start[b + 1])
                extent = np.abs(B.T) @ self.space.width[self.members[ps]]   # the box along each new direction
                # a window need not be wider than the model's reach on both sides
                self.w[ps] = np.maximum(np.minimum(self.w[ps], 2.0 * np.asarray(reach, dtype=float)), 1e-13 * extent)
        j = self.order[self.order_pos:min(end, self.order_pos + self.options.block)]
        self.order_pos += j.size
        return self._propose(eng, j)

    def _learn(self, b: int, dx: NDArray[np.float64]) -> None:
        if self.learned[b]:
            super()._learn(b, dx)


# ---------------------------------------------------------------------- line interjections
class Lines(Strategy):
    """Wraps a strategy with queued full lines: after each sweep one along its net displacement
    (``sweep``) and, when the run stalls, a sweep along a random orthonormal basis (``stall``)."""

    name = "lines"
    state_keys = ("lines", "line_span", "sweep_x")
    _variable_length = ("lines",)

    def __init__(self, inner: Strategy, x: NDArray[np.float64], sweep: bool, stall: bool) -> None:
        super().__init__(inner.space, inner.options)
        self.inner, self.sweep, self.stall = inner, sweep, stall
        self.nx = inner.nx
        self.lines = np.zeros((0, self.space.dim))    # queued directions (rows)
        self.line_span = 0.0                          # > 0: the queued line is a sweep line of this length
        self.sweep_x = x.copy()                       # where the current sweep started

    def propose(self, eng: QiML) -> Block:
        if not self.lines.shape[0]:
            return self.inner.propose(eng)
        D = self.lines[: self.options.block]
        self.lines = self.lines[D.shape[0]:]
        k, P = D.shape
        support = np.tile(np.arange(P, dtype=np.intp), (k, 1))
        t_lo, t_hi = line_segment(self.space, eng.x, support, D)
        if self.line_span > 0:
            # a sweep line: from a step back to three sweeps ahead, since in narrow valleys the
            # best step along the sweep's displacement is often longer than the sweep itself
            t_lo, t_hi = np.maximum(t_lo, -self.line_span), np.minimum(t_hi, 3.0 * self.line_span)
        nx = self.inner.nx
        grid = t_lo[:, None] + (t_hi - t_lo)[:, None] * np.linspace(0.0, 1.0, nx)[None, :]
        return Block(support, D.copy(), grid,
                     np.full(k, nx, dtype=np.intp), np.full(k, -1, dtype=np.intp), self.name)

    def check_block(self, block: Block) -> None:
        if block.source != self.name:      # the inner strategy's slices; a line's tags are unused
            self.inner.check_block(block)

    def tell(self, eng: QiML, block: Block, V: NDArray[np.float64], psi: NDArray[np.complex128],
             t: NDArray[np.float64], spread: NDArray[np.float64]) -> NDArray[np.float64]:
        if block.source != self.name:
            x = self.inner.tell(eng, block, V, psi, t, spread)
            if self.sweep and self.inner.sweep_done and not self.lines.shape[0]:
                d = x - self.sweep_x
                span = float(np.linalg.norm(d))
                if span > 0:
                    self.lines, self.line_span = (d / span)[None, :], span
                self.sweep_x = x.copy()
            return x
        x = self.space.snap(eng.x + t @ block.coef)     # orthogonal directions: independent moves
        if self.line_span > 0:
            self.line_span, self.sweep_x = 0.0, x.copy()
        elif not self.lines.shape[0]:
            x = eng.best_x.copy()   # stall lines explore on a coarse grid across the box: keep what improved
        return x

    def stalled(self, eng: QiML) -> bool:
        return self.inner.stalled(eng)

    def reopen(self, eng: QiML) -> NDArray[np.float64]:
        x = self.inner.reopen(eng)
        P = self.space.dim
        self.lines = np.zeros((0, P))
        if self.stall and P > 1:
            q, r = np.linalg.qr(eng.rng.standard_normal((P, P)))
            self.lines = (q * np.sign(np.diag(r))).T
        self.sweep_x, self.line_span = x.copy(), 0.0
        return x

    def spreads(self) -> NDArray[np.float64]:
        return self.inner.spreads()

    def adopt(self, x: NDArray[np.float64], cov: NDArray[np.float64]) -> None:
        self.inner.adopt(x, cov)
        self.lines = np.zeros((0, self.space.dim))
        self.sweep_x, self.line_span = x.copy(), 0.0

    def packets(self, idx: NDArray[np.intp]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return self.inner.packets(idx)

    @property
    def sweep_done(self) -> bool:
        return self.inner.sweep_done

    @property
    def converged(self) -> bool:
        return self.inner.converged

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), **{f"inner.{k}": v for k, v in self.inner.state_dict().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.inner.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("inner.")})


# ---------------------------------------------------------------------- registry
STRATEGIES = ("axes", "adapted", "auto", "curvature")

#: ``curvature(x, params) -> (eigenvectors (m, m) as columns, reach (m,)) or None``: a model's
#: curvature of the loss in the block ``params`` (m,) at ``x``, as :meth:`qiml.objective.Objective.curvature`
CurvatureFn = Callable[[NDArray[np.float64], NDArray[np.intp]],
                       "tuple[NDArray[np.float64], NDArray[np.float64]] | None"]


def make_strategy(space: Space, options: Any, x: NDArray[np.float64],
                  blocks: list[NDArray[np.intp]] | None = None, curvature: CurvatureFn | None = None) -> Strategy:
    """The strategy the options name, wrapped in :class:`Lines` when line options are on.

    ``blocks`` partition the parameters for adapted and curvature directions (see :class:`Adapted`);
    ``curvature`` is the model's curvature for ``directions="curvature"`` (see :class:`Curvature`)."""
    continuous = not space.is_lattice.any()
    name = options.directions
    if name in ("adapted", "curvature") and not continuous:
        raise ConfigError(f"directions={name!r} needs continuous parameters (a rotated line leaves the lattice); "
                          "use 'auto' or 'axes' on lattices")
    inner: Strategy
    if name == "curvature":
        inner = Curvature(space, options, x, blocks, curvature)
    elif name == "axes" or (name == "auto" and (not continuous or space.dim > AUTO_MAX_DIM)) or space.dim == 1:
        inner = Axes(space, options, x)
    else:
        inner = Adapted(space, options, x, frozen=name == "auto", blocks=blocks)
    # a learned basis already follows the sweeps' displacements: lines are for axes only
    axes = isinstance(inner, Axes)
    sweep = options.sweep_lines and continuous and axes and options.update == "sequential"
    stall = options.stall_lines and continuous and axes and space.dim > 1
    return Lines(inner, x, sweep, stall) if sweep or stall else inner


# ---------------------------------------------------------------------- helpers
#: "auto" leaves the axes once the learned covariance's condition number passes this: before, its
#: eigenvectors are arbitrary rotations of a round shape, which only lose what the axes win
_UNFREEZE = 10.0
#: "auto" keeps the axes above this many parameters: a dense basis costs O(P^2) memory and an
#: O(P^3) eigendecomposition per sweep, and structured models answer axis slices incrementally
AUTO_MAX_DIM = 1000


def line_segment(space: Space, x: NDArray[np.float64], support: NDArray[np.intp], coef: NDArray[np.float64]
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Step range ``(t_lo, t_hi)`` (k,) of each line ``x + t d`` inside the box, ``d`` given sparsely
    by ``support`` and ``coef`` (k, m) as in :class:`qiml.requests.SliceRequest`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (space.lower[support] - x[support]) / coef
        b = (space.upper[support] - x[support]) / coef
    moving = np.abs(coef) > 1e-12
    return (np.max(np.where(moving, np.minimum(a, b), -np.inf), axis=1),
            np.min(np.where(moving, np.maximum(a, b), np.inf), axis=1))


def _orthonormal(B: Any) -> NDArray[np.float64]:
    """A model's eigenvectors as an orthonormal basis (re-orthonormalised: a model's eigh may drift)."""
    q, r = np.linalg.qr(np.asarray(B, dtype=float))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def _copy(v: Any) -> Any:
    return v.copy() if isinstance(v, np.ndarray) else v


def _one_minimum(V: NDArray[np.float64], counts: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Whether each row's valid values (k, n) fall to one minimum and rise from it (no second dip)."""
    k, n = V.shape
    valid = np.arange(n)[None, :] < counts[:, None]
    with np.errstate(invalid="ignore"):   # inf - inf past a row's last point: masked below
        d = np.diff(np.where(valid, V, np.inf), axis=1)
    d_valid = valid[:, 1:]
    sign = np.where(d_valid, np.sign(d), 0.0)
    # a descent after an ascent means a second minimum
    rising = np.maximum.accumulate(np.where(sign > 0, 1, 0), axis=1)
    return ~np.any((rising[:, :-1] > 0) & (sign[:, 1:] < 0), axis=1)


def regrid(psi: NDArray[np.complex128], old_grid: NDArray[np.float64], old_counts: NDArray[np.intp],
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
