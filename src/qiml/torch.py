"""PyTorch integration: :class:`QiMLOptimizer`, a gradient-free ``torch.optim.Optimizer``.

Every trainable scalar of the model becomes one QiML parameter: the parameters with
``requires_grad=True`` of all groups are flattened, in group order and within a group in the
order given, into one vector of length P (as :func:`torch.nn.utils.parameters_to_vector`
would); frozen parameters (``requires_grad=False``) are left untouched. Each group contributes its
own box ``bounds = (low, high)`` and optional ``lattice`` spacing. One :meth:`QiMLOptimizer.step`
is one iteration of the :class:`qiml.QiML` ask/tell engine: the candidate points of the
engine's request (usually ``nx + 1`` points: the current position, then one slice of ``nx``
values of one parameter) are written into the model in turn and the closure is evaluated at
each of them under :func:`torch.no_grad`; the losses are told to the engine, and the model is
left holding the engine's new position.

>>> import torch
>>> from qiml.torch import QiMLOptimizer
>>> model = torch.nn.Linear(2, 1)
>>> X, y = torch.randn(32, 2), torch.randn(32, 1)
>>> opt = QiMLOptimizer(model.parameters(), bounds=(-2.0, 2.0), max_evals=650, seed=0)
>>> def closure():
...     return torch.nn.functional.mse_loss(model(X), y)
>>> while not opt.stop():
...     loss = opt.step(closure)
>>> best = opt.load_best()     # the best parameters seen go into the model

The maths lives in :mod:`qiml.engine`; this file only lays parameters out, writes candidate
rows into them and converts the engine's state to tensors (so ``torch.save`` /
``torch.load(weights_only=True)`` work on :meth:`QiMLOptimizer.state_dict`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.optim import Optimizer

from .engine.optimizer import QiML
from .errors import BoundsError, CheckpointError, ConfigError, ObjectiveError, ShapeError
from .requests import PopulationRequest, SliceRequest
from .result import OptimizeResult
from .spaces import Space
from .validation import real_scalar

__all__ = ["ParameterLayout", "QiMLOptimizer", "evaluate_request", "state_from_torch", "state_to_torch"]

Request = SliceRequest | PopulationRequest
Closure = Callable[[], Any]


# ---------------------------------------------------------------------- plain functions
class ParameterLayout:
    """Fixed flat layout of a list of tensors: parameter ``i`` of the vector is one scalar of one tensor.

    Parameters
    ----------
    params : sequence of Tensor
        Floating-point tensors, all on one device. Their elements are laid out in order,
        each tensor row-major (as :func:`torch.nn.utils.parameters_to_vector`).
    """

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        self.params = list(params)
        self.sizes = np.array([p.numel() for p in self.params], dtype=np.intp)
        self.ends = np.cumsum(self.sizes)
        self.starts = self.ends - self.sizes
        self.dim = int(self.sizes.sum())
        self.device = self.params[0].device if self.params else torch.device("cpu")
        # flat views for single-element writes (None where a tensor is not contiguous)
        self._flat = [p.view(-1) if p.is_contiguous() else None for p in self.params]

    def read(self) -> NDArray[np.float64]:
        """The parameters as one float64 vector (P,) on the CPU."""
        if not self.params:
            return np.zeros(0)
        flat = torch.cat([p.detach().reshape(-1).to(device="cpu", dtype=torch.float64) for p in self.params])
        return flat.numpy().copy()

    def write(self, v: NDArray[np.float64] | torch.Tensor) -> None:
        """Copy the vector ``v`` (P,) into the parameters (cast to each one's dtype). Call under no_grad."""
        t = torch.as_tensor(np.array(v, dtype=np.float64)) if isinstance(v, np.ndarray) else v
        t = t.to(self.device)
        for p, a, b in zip(self.params, self.starts, self.ends, strict=True):
            p.copy_(t[a:b].view_as(p))

    def set_element(self, i: int, value: float) -> None:
        """Set scalar ``i`` of the vector (0 <= i < P) to ``value``. Call under no_grad."""
        k = int(np.searchsorted(self.ends, i, side="right"))
        local = int(i - self.starts[k])
        flat = self._flat[k]
        if flat is not None:
            flat[local] = value
        else:
            p = self.params[k]
            p[tuple(int(c) for c in np.unravel_index(local, tuple(p.shape)))] = value


def state_to_torch(state: Any) -> Any:
    """Copy of a QiML state dict in which NumPy arrays are CPU tensors and NumPy scalars Python numbers.

    The result holds only tensors, Python numbers, strings, ``None``, lists and dicts, so
    ``torch.load(..., weights_only=True)`` reads it back. Values keep their exact bits
    (float64, complex128 and int64 tensors).
    """
    if isinstance(state, np.ndarray):
        if state.dtype == object:
            raise CheckpointError("QiML state holds an object array; it cannot become a tensor")
        return torch.from_numpy(np.array(state, copy=True))
    if isinstance(state, np.generic):
        return state.item()
    if isinstance(state, dict):
        return {k: state_to_torch(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(state_to_torch(v) for v in state)
    return state


def state_from_torch(state: Any) -> Any:
    """Inverse of :func:`state_to_torch`: tensors (on any device) become NumPy arrays (copies)."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu().numpy().copy()
    if isinstance(state, dict):
        return {k: state_from_torch(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(state_from_torch(v) for v in state)
    return state


def _call_closure(closure: Closure) -> Any:
    """Evaluate the user's closure; turn the error of a ``loss.backward()`` under no_grad into a clear one."""
    try:
        return closure()
    except RuntimeError as exc:
        if "does not require grad" in str(exc):
            raise ObjectiveError(
                "the closure called loss.backward(), but QiMLOptimizer is gradient-free: it evaluates the "
                "closure under torch.no_grad() many times per step and needs only the loss. Remove "
                "loss.backward() from the closure (optimizer.zero_grad() is harmless) and return the loss"
            ) from exc
        raise


def _loss_value(out: Any) -> torch.Tensor | float:
    """The closure's return value as a 0-d tensor (kept on its device) or a float."""
    if isinstance(out, torch.Tensor):
        if out.numel() != 1:
            raise ObjectiveError(f"the closure must return a scalar loss, got a tensor of shape {tuple(out.shape)}")
        if out.is_complex():
            raise ObjectiveError("the closure must return a real loss, got a complex tensor")
        return out.detach().reshape(())
    if out is None:
        raise ObjectiveError("the closure returned None; it must return the loss (a scalar tensor or a number)")
    try:
        return float(out)
    except (TypeError, ValueError) as exc:
        raise ObjectiveError(f"the closure must return a scalar loss, got {type(out).__name__}") from exc


def evaluate_request(request: Request, layout: ParameterLayout, closure: Closure,
                     max_batch_bytes: int = 64 * 2**20) -> tuple[Any, NDArray[np.float64]]:
    """Evaluate ``closure`` at every candidate row of ``request``, written into the parameters.

    Returns the closure's raw return value at row 0 and the losses of all rows (n_rows,) as
    float64. For a slice request only the scalars its direction moves are written per row (one
    for an axis slice); other requests are copied in chunks of at most ``max_batch_bytes`` of
    float64 rows. Call under
    :func:`torch.no_grad`; the parameters are left holding the last row.
    """
    n = request.n_rows
    values = torch.empty(n, dtype=torch.float64, device=layout.device)   # no host sync per row
    first: Any = None
    if isinstance(request, SliceRequest):
        x = request.x
        layout.write(x)
        first = _call_closure(closure)
        values[0] = _loss_value(first)
        row = 1
        for j in range(request.counts.size):
            supp, vals = request.moved(j)
            for point in vals.tolist():
                for i, v in zip(supp.tolist(), point, strict=True):
                    layout.set_element(i, v)
                values[row] = _loss_value(_call_closure(closure))
                row += 1
            for i in supp.tolist():
                layout.set_element(i, float(x[i]))
    else:
        chunk = max(1, max_batch_bytes // (8 * max(1, layout.dim)))
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            rows = torch.as_tensor(np.require(request.rows(start, stop), np.float64, ["C", "W"])).to(layout.device)
            for r in range(stop - start):
                layout.write(rows[r])
                out = _call_closure(closure)
                if start + r == 0:
                    first = out
                values[start + r] = _loss_value(out)
    return first, values.cpu().numpy()


# ---------------------------------------------------------------------- the optimizer
class QiMLOptimizer(Optimizer):
    """Gradient-free ``torch.optim.Optimizer`` driven by the quantum-inspired :class:`qiml.QiML` engine.

    Parameters
    ----------
    params : iterable of Tensor or of dicts
        Parameters or parameter groups, as for any torch optimizer. All must be floating point,
        on one device and hold values (not on the ``meta`` device: materialise such a model
        first, e.g. ``model.to_empty(device="cpu")``, then initialise or load its weights). The
        parameters with ``requires_grad=True`` are optimised (no gradient is ever used); frozen
        ones (``requires_grad=False``) are excluded from the search and never written: they keep
        their values exactly through :meth:`step`, :meth:`load_best` and
        :meth:`load_state_dict`. If every parameter is frozen, :class:`qiml.ConfigError` is raised.
    bounds : (float, float)
        Default box ``(low, high)`` of every scalar parameter; a group may set its own
        ``"bounds"``. The search never leaves the box, so choose it wide enough (e.g. a few
        times the initial weight scale). Starting values outside it are clipped into it.
    lattice : float
        Default spacing of allowed values (``0`` = continuous). With ``lattice > 0`` a group's
        values are ``low + k * lattice``: e.g. ``bounds=(-128 * s, 127 * s), lattice=s`` with
        ``nx=256`` searches int8 weights of scale ``s`` directly.
    max_evals : int, optional
        Budget in closure evaluations; default ``qiml.engine.default_max_evals(P, nx)``
        (20 sweeps: ``20 * P * (nx + 1)``). One step costs about ``block * (nx + 1)``
        evaluations, so ``max_evals ~ steps * (nx + 1)`` for the default ``block=1``. The
        schedules (hbar anneal, final GA refinement) run over this budget.
    seed : int, optional
        Seed of the engine's random generator. With ``None`` one seed is drawn from torch's
        default generator when the engine is created (at the first step), so
        ``torch.manual_seed`` makes runs reproducible.
    **qiml_options
        Anything :class:`qiml.QiML` accepts besides bounds and ``x0``: engine options (``nx``,
        ``hbar``, ``block``, ``update``, ``refine``, ``nan_policy``, ...), solver settings,
        ``solver``, ``max_iter``, ``max_time``, ``target``. Unlike :func:`qiml.minimize`, the
        optimizer slices coordinate axes unless ``directions`` says otherwise.

    Notes
    -----
    - :meth:`step` needs a closure that evaluates the model and returns the loss (a scalar
      tensor or number). It is called ``n_rows`` times per step (``nx + 1`` by default) under
      :func:`torch.no_grad`; it must not call ``loss.backward()`` (that raises a clear
      :class:`qiml.ObjectiveError`). Like ``torch.optim`` optimizers, :meth:`step` returns the
      closure's loss at the parameters the step started from.
    - After each step the parameters hold the engine's position (the packets' read-out; in the
      final GA phase, the best point). The best point seen is :meth:`best`; :meth:`load_best`
      writes it into the parameters. The engine owns the position: changing the parameters
      between steps has no effect on the search (the next step overwrites them).
    - Candidates are written into the parameters in their own dtype, so a float32 model is
      evaluated at float32-rounded points while the engine keeps float64 positions.
    - Once the budget is spent (:meth:`stop` is non-empty), :meth:`step` only evaluates and
      returns the loss; parameters do not change.
    - :meth:`state_dict` holds the engine's whole state under ``"qiml"`` as CPU tensors and
      plain Python values; loading it (with the model's own state) continues a run bit for bit.
    - The set of trained parameters is fixed when the engine is created (at the first step, or
      the first use of :attr:`engine`): changing ``requires_grad`` afterwards makes :meth:`step`
      and :meth:`load_best` raise :class:`qiml.ConfigError` naming the parameters that changed
      (restore ``requires_grad``, or build a new optimizer for the new set). Before that, it may
      change freely.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], *,
                 bounds: tuple[float, float] = (-3.0, 3.0), lattice: float = 0.0, max_evals: int | None = None,
                 seed: int | None = None, **qiml_options: Any) -> None:
        if "x0" in qiml_options:
            raise ConfigError("QiMLOptimizer starts from the parameters' current values; it takes no x0")
        self._engine: QiML | None = None
        self._trainable: tuple[bool, ...] = ()   # requires_grad of every parameter when the engine was made
        self._max_evals = max_evals
        self._seed = seed
        self._options = dict(qiml_options)
        defaults = {"bounds": _check_bounds(bounds, "bounds"), "lattice": _check_lattice(lattice, "lattice")}
        super().__init__(params, defaults)
        # validate budgets, options and the seed now, with the real P; built for good at step 1 (a Generator
        # is not handed over twice: the engine would use it as is)
        self._new_engine(seed=0 if seed is None or isinstance(seed, np.random.Generator) else seed)

    # ------------------------------------------------------------------ torch.optim plumbing
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group (optional keys ``"bounds"``, ``"lattice"``); only before the first step."""
        engine = self.__dict__.get("_engine")
        if engine is not None and engine.nfev > 0:
            raise ConfigError("cannot add a parameter group once QiML has started: the number of parameters is "
                              "fixed for the run; build a new optimizer")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            _check_group(group, [p for g in self.param_groups[:-1] for p in g["params"]])
        except BaseException:
            self.param_groups.pop()
            raise
        self._engine = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(_engine=self._engine, _trainable=self._trainable, _max_evals=self._max_evals,
                     _seed=self._seed, _options=self._options)
        return state

    def _requires_grad(self) -> tuple[bool, ...]:
        """``requires_grad`` of every parameter, in group order."""
        return tuple(bool(p.requires_grad) for g in self.param_groups for p in g["params"])

    def _layout(self) -> ParameterLayout:
        """Layout of the trainable parameters (``requires_grad=True``), in group order."""
        return ParameterLayout([p for g in self.param_groups for p in g["params"] if p.requires_grad])

    def _run_layout(self, engine: QiML) -> ParameterLayout:
        """The layout of the running engine's parameters; refuses changes of ``requires_grad`` or of sizes."""
        now = self._requires_grad()
        if now != self._trainable:
            params = [p for g in self.param_groups for p in g["params"]]
            changed = [i for i, (a, b) in enumerate(zip(now, self._trainable, strict=True)) if a != b]
            what = ", ".join(f"parameter {i} (shape {tuple(params[i].shape)}) "
                             f"{'now requires grad' if now[i] else 'is now frozen'}" for i in changed[:5])
            more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
            n_now = sum(p.numel() for p, t in zip(params, now, strict=True) if t)
            raise ConfigError(f"requires_grad changed since the QiML run started: {what}{more} (parameters "
                              f"counted in group order); the run trains {engine.space.dim} elements, the "
                              f"parameters that now require grad hold {n_now}. The trained set is fixed when the "
                              "run starts: restore requires_grad, or build a new optimizer for the new set")
        layout = self._layout()
        if layout.dim != engine.space.dim:
            raise ShapeError(f"the parameters now hold {layout.dim} elements but the run has {engine.space.dim}")
        return layout

    def _new_engine(self, seed: Any) -> tuple[QiML, tuple[bool, ...]]:
        """A fresh engine over the groups' boxes, starting at the current trainable parameters; and the
        ``requires_grad`` of every parameter it was built with."""
        trainable = self._requires_grad()
        if not any(trainable):
            raise ConfigError("nothing to optimise: every parameter has requires_grad=False (QiMLOptimizer "
                              "leaves frozen parameters untouched)")
        layout = self._layout()
        if layout.dim == 0:
            raise ConfigError("the parameters that require grad hold no elements; there is nothing to optimise")
        reps = [(g["bounds"], g["lattice"], sum(p.numel() for p in g["params"] if p.requires_grad))
                for g in self.param_groups]
        lower = np.concatenate([np.full(n, b[0], dtype=float) for b, _, n in reps])
        upper = np.concatenate([np.full(n, b[1], dtype=float) for b, _, n in reps])
        step = np.concatenate([np.full(n, s, dtype=float) for _, s, n in reps])
        x0 = layout.read()
        if not np.all(np.isfinite(x0)):
            raise ShapeError("the model's parameters hold NaN or infinite values; QiML starts from them")
        # documented: starting values outside a group's box are clipped into it (minimize() refuses such an x0)
        x0 = np.clip(x0, lower, upper)
        # axis slices by default: one step is one slice of nx + 1 closure calls, written element-wise
        engine = QiML(Space(lower, upper, step), x0, seed=seed, max_evals=self._max_evals,
                      **{"search": "slices", "directions": "axes", **self._options})
        return engine, trainable

    @property
    def engine(self) -> QiML:
        """The :class:`qiml.QiML` engine (created on first use from the current parameters)."""
        if self._engine is None:
            seed = self._seed
            if seed is None:   # as torch.utils.data.RandomSampler: draw from torch's default generator
                seed = int(torch.empty((), dtype=torch.int64).random_().item())
            self._engine, self._trainable = self._new_engine(seed)
        return self._engine

    def _position(self) -> NDArray[np.float64]:
        engine = self.engine
        return engine.best_x if engine.phase in ("refine", "walkers") else engine.x

    # ------------------------------------------------------------------ the step
    def step(self, closure: Closure | None = None) -> Any:
        """Run one QiML iteration; return the closure's loss at the parameters the step started from.

        Parameters
        ----------
        closure : callable
            ``closure() -> loss``: evaluates the model at its current parameters and returns a
            scalar tensor (or number). Called about ``block * (nx + 1)`` times, under
            :func:`torch.no_grad`; it must not call ``backward()``. Required.
        """
        if closure is None:
            raise ConfigError("QiMLOptimizer.step() needs a closure: QiML is gradient-free and evaluates the loss "
                              "at many candidate parameters per step, e.g. "
                              "opt.step(lambda: loss_fn(model(X), y))")
        if not callable(closure):
            raise ConfigError(f"closure must be callable, got {type(closure).__name__}")
        engine = self.engine
        layout = self._run_layout(engine)
        with torch.no_grad():
            if engine.stop():
                return _call_closure(closure)
            request = engine.ask_request()
            try:
                if isinstance(request, PopulationRequest):   # no row is the current point: evaluate it first
                    layout.write(self._position())
                    first = _call_closure(closure)
                    _loss_value(first)
                    _, F = evaluate_request(request, layout, closure, engine.options.max_batch_bytes)
                else:
                    first, F = evaluate_request(request, layout, closure, engine.options.max_batch_bytes)
                engine.tell_values(F)
            finally:
                layout.write(self._position())
        return first

    # ------------------------------------------------------------------ results
    def stop(self) -> dict[str, Any]:
        """Triggered stopping rules of the engine (empty, hence falsy, while the run goes on)."""
        return self.engine.stop()

    @property
    def result(self) -> OptimizeResult:
        """SciPy-style result so far: ``x`` (P,) best flat parameters, ``fun``, ``nfev``, ``nit``, ..."""
        return self.engine.result

    @property
    def best_loss(self) -> float:
        """Lowest loss seen so far (``inf`` before the first step)."""
        return float(self.engine.best_f)

    def best(self) -> tuple[float, torch.Tensor]:
        """``(loss, vector)``: the best loss seen and its flat parameters, a float64 CPU tensor (P,)."""
        engine = self.engine
        return float(engine.best_f), torch.from_numpy(engine.best_x.copy())

    def load_best(self) -> float:
        """Write the best parameters seen into the trainable parameters; return their loss."""
        engine = self.engine
        layout = self._run_layout(engine)
        with torch.no_grad():
            layout.write(engine.best_x)
        return self.best_loss

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The torch optimizer state plus ``"qiml"``: the engine's state as CPU tensors and plain values,
        and ``"qiml_trainable"``: the ``requires_grad`` of every parameter (group order) the run trains."""
        state = super().state_dict()
        state["qiml"] = state_to_torch(self.engine.state_dict())
        state["qiml_trainable"] = list(self._trainable)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` output (also after ``torch.save`` / ``torch.load``).

        The optimizer must be built over parameters of the same sizes, with the same budgets
        and engine options, and the same parameters must require grad (``"qiml_trainable"``;
        checkpoints without it are checked by size only); otherwise :class:`qiml.CheckpointError`
        is raised and nothing changes. Group settings (``bounds``, ``lattice``) are taken from
        the state dict, as torch does with learning rates. The parameters are not touched: load the model's own
        state dict too (the next step overwrites them in any case).
        """
        if not isinstance(state_dict, dict) or "qiml" not in state_dict:
            raise CheckpointError("state dict has no 'qiml' entry; it was not made by QiMLOptimizer.state_dict()")
        rest = {k: v for k, v in state_dict.items() if k not in ("qiml", "qiml_trainable")}
        saved = (self.param_groups, self.state, self._engine)
        try:
            super().load_state_dict(rest)
            for group in self.param_groups:
                group["bounds"] = _check_bounds(group.get("bounds"), "bounds")
                group["lattice"] = _check_lattice(group.get("lattice", 0.0), "lattice")
            engine, trainable = self._new_engine(seed=0)   # the generator's state comes from the checkpoint
            if "qiml_trainable" in state_dict:
                theirs = state_dict["qiml_trainable"]
                if not (isinstance(theirs, (list, tuple)) and all(isinstance(t, bool) for t in theirs)):
                    raise CheckpointError(f"state dict entry 'qiml_trainable' must be a list of bools, got {theirs!r}")
                if tuple(theirs) != trainable:
                    raise CheckpointError(
                        f"checkpoint trained the parameters with requires_grad {list(theirs)} (group order), but "
                        f"here requires_grad is {list(trainable)}: freeze the same parameters as the saved run")
            engine.load_state_dict(state_from_torch(state_dict["qiml"]))
        except BaseException:
            self.param_groups, self.state, self._engine = saved
            raise
        self._engine, self._trainable = engine, trainable


# ---------------------------------------------------------------------- validation
def _check_bounds(bounds: Any, name: str) -> tuple[float, float]:
    """``bounds`` as ``(low, high)``: two real numbers (:func:`qiml.validation.real_scalar`: no strings or
    bools), finite, ``low < high``."""
    try:
        pair = None if isinstance(bounds, (str, bytes)) else list(bounds)
    except TypeError:
        pair = None
    lo, hi = (real_scalar(pair[0]), real_scalar(pair[1])) if pair is not None and len(pair) == 2 else (None, None)
    if lo is None or hi is None:
        raise BoundsError(f"{name} must be a pair (low, high) of real numbers (not strings or bools), "
                          f"got {bounds!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise BoundsError(f"{name} must be finite with low < high, got {bounds!r}")
    return lo, hi


def _check_lattice(lattice: Any, name: str) -> float:
    """``lattice`` as a float: one real number (no string or bool), finite and >= 0."""
    s = real_scalar(lattice)
    if s is None:
        raise BoundsError(f"{name} must be a real number >= 0 (0 = continuous; not a string or bool), "
                          f"got {lattice!r}")
    if not math.isfinite(s) or s < 0:
        raise BoundsError(f"{name} must be a finite number >= 0 (0 = continuous), got {lattice!r}")
    return s


def _check_group(group: dict[str, Any], others: list[torch.Tensor]) -> None:
    """Validate a parameter group in place: float tensors with values on one device, no duplicates, sane box."""
    params = group["params"]
    for p in params:
        if not torch.is_floating_point(p):
            raise ConfigError(f"QiMLOptimizer optimises floating-point tensors only, got dtype {p.dtype} "
                              f"(shape {tuple(p.shape)})")
        if p.is_sparse:
            raise ConfigError("QiMLOptimizer does not optimise sparse tensors")
        if p.is_meta:
            raise ConfigError(f"a parameter (shape {tuple(p.shape)}) is on the meta device: meta tensors hold no "
                              "values, so QiML has nothing to start from or write into. Materialise the model "
                              'first, e.g. model.to_empty(device="cpu"), then initialise its parameters (or load '
                              "a state dict)")
    if len({id(p) for p in params}) != len(params):
        raise ConfigError("a parameter appears twice in a parameter group")
    devices = {str(p.device) for p in [*others, *params]}
    if len(devices) > 1:
        raise ConfigError(f"all parameters must be on one device, got {sorted(devices)}")
    group["bounds"] = _check_bounds(group["bounds"], "bounds")
    group["lattice"] = _check_lattice(group["lattice"], "lattice")
