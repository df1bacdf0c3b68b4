"""Equal evaluation budgets for comparisons: a counting wrapper and the baselines run through it.

Every method in a comparison sees the objective only through :class:`Budgeted`, which counts
evaluations, evaluates only the rows that still fit in the budget and then stops the method with
:class:`BudgetExhausted`, and records the best value seen, so figures compare best-of-budget for
every method, whatever each method reports about itself.

Baselines (all seeded with the run's seed; settings in :data:`SETTINGS`):

- ``qiml``: ``qiml.minimize(f, bounds, vectorized=True, max_evals=budget, seed=s)``, default options;
- ``dual_annealing``: SciPy, default temperatures and L-BFGS-B local search (its finite-difference
  evaluations count), ``maxiter`` past the budget so the budget binds;
- ``differential_evolution``: SciPy best1bin, population :data:`DE_POPSIZE` x D, dithered mutation,
  Latin-hypercube start, no polish, vectorised;
- ``cma_ipop``: pycma with IPOP restarts (9 restarts, population doubling), box bounds,
  ``sigma0 = 0.3 x range``, a fresh uniform start per restart (needs the ``bench`` extra);
- ``random``: uniform random search.

The gradient baseline of the network studies, :func:`adam`, is here too: one PyTorch training loop
for an :class:`~qiml.nn.MLP` (a wall-clock or epoch budget, mini-batches, an optional cosine decay,
optional early stopping on a validation set), so every study's "Adam" is the same code.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from ..nn import MLP

__all__ = ["Budgeted", "BudgetExhausted", "run_method", "METHODS", "LABELS", "SETTINGS", "checkpoints",
           "adam", "AdamResult", "torch_mlp"]

N_CHECKPOINTS = 50
DE_POPSIZE = 5   # tuned for the baseline: best of {5, 10, 15} over the 10-D and 30-D problems
CMA_RESTARTS, CMA_INCPOPSIZE, CMA_SIGMA_FRAC = 9, 2, 0.3
RANDOM_BATCH = 1024


class BudgetExhausted(Exception):
    """Raised inside a method when its evaluation budget is spent."""


def checkpoints(budget: int, n: int = N_CHECKPOINTS) -> NDArray[np.int64]:
    """About ``n`` log-spaced evaluation counts in ``[1, budget]`` (distinct integers, ``budget`` last)."""
    return np.unique(np.round(np.geomspace(1, budget, n)).astype(np.int64))


class Budgeted:
    """Vectorised objective ``f(X: (n, d)) -> (n,)`` with a hard budget and a best-so-far trace.

    ``trace[i]`` is the best value among the first ``evals[i]`` evaluations (log-spaced
    checkpoints); ``f_seconds`` the time spent inside ``f``; ``exhausted`` whether the budget ran out.
    With a ``target``, the method is also stopped (``reached``) as soon as a value ``<= target`` is
    seen, as COCO stops a run at its final target: the rest of the budget could only repeat a success.
    """

    def __init__(self, fun: Callable[[NDArray[np.float64]], NDArray[np.float64]], budget: int,
                 target: float | None = None) -> None:
        self.fun, self.budget, self.target = fun, int(budget), target
        self.nfev, self.best, self.exhausted, self.reached, self.f_seconds = 0, np.inf, False, False, 0.0
        self.evals = checkpoints(self.budget)
        self.trace = np.full(self.evals.size, np.nan)
        self._next = 0

    def __call__(self, X: Any) -> NDArray[np.float64]:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        remaining = self.budget - self.nfev
        if remaining <= 0:
            self.exhausted = True
            raise BudgetExhausted
        cut = X.shape[0] > remaining
        if cut:
            X = X[:remaining]
        t0 = time.perf_counter()
        F = np.asarray(self.fun(X), dtype=float).reshape(-1)
        self.f_seconds += time.perf_counter() - t0
        self._record(F)
        if cut:
            self.exhausted = True
            raise BudgetExhausted
        if self.target is not None and self.best <= self.target:
            self.reached = True
            raise BudgetExhausted
        return F

    def scalar(self, x: Any) -> float:
        """One-point form for optimisers that call ``f(x) -> float``."""
        return float(self(np.asarray(x, dtype=float).reshape(1, -1))[0])

    def _record(self, F: NDArray[np.float64]) -> None:
        if F.size == 0:
            return
        run = np.minimum(np.minimum.accumulate(np.where(np.isnan(F), np.inf, F)), self.best)
        start, self.nfev = self.nfev, self.nfev + F.size
        while self._next < self.evals.size and self.evals[self._next] <= self.nfev:
            self.trace[self._next] = run[self.evals[self._next] - start - 1]
            self._next += 1
        self.best = float(run[-1])

    def finish(self) -> None:
        """A method that stopped before the budget keeps its best value to the end of the trace."""
        self.trace[self._next:] = self.best


Runner = Callable[[Budgeted, NDArray[np.float64], NDArray[np.float64], int], None]


def _qiml(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    from ..engine import minimize
    minimize(f, list(zip(lo.tolist(), hi.tolist(), strict=True)), vectorized=True, max_evals=f.budget, seed=seed)


def _dual_annealing(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    from scipy.optimize import dual_annealing
    dual_annealing(f.scalar, list(zip(lo, hi, strict=True)), maxfun=f.budget, maxiter=10**9, rng=seed)


def _differential_evolution(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    from scipy.optimize import differential_evolution

    def fun(x: NDArray[np.float64]) -> Any:  # vectorized DE passes x as (d, S)
        x = np.asarray(x)
        return f(x.T) if x.ndim == 2 else f.scalar(x)

    maxiter = f.budget // (DE_POPSIZE * lo.size) + 2   # generations: more than the budget allows
    differential_evolution(fun, list(zip(lo, hi, strict=True)), strategy="best1bin", popsize=DE_POPSIZE,
                           maxiter=maxiter,
                           tol=0.0, atol=0.0, mutation=(0.5, 1.0), recombination=0.7, init="latinhypercube",
                           polish=False, updating="deferred", vectorized=True, rng=seed)


def _cma_ipop(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    import cma
    rng = np.random.default_rng(seed)

    def x0() -> NDArray[np.float64]:  # called once per (re)start: a fresh uniform point in the box
        return rng.uniform(lo, hi)

    sigma0 = CMA_SIGMA_FRAC * float(np.max(hi - lo))
    opts = {"bounds": [lo.tolist(), hi.tolist()], "maxfevals": f.budget, "seed": seed + 1, "verbose": -9}
    cma.fmin2(None, x0, sigma0, opts, restarts=CMA_RESTARTS, incpopsize=CMA_INCPOPSIZE,
              parallel_objective=lambda X, *args: f(np.asarray(X)).tolist())


def _random(f: Budgeted, lo: NDArray[np.float64], hi: NDArray[np.float64], seed: int) -> None:
    rng = np.random.default_rng(seed)
    while f.nfev < f.budget:
        f(rng.uniform(lo, hi, size=(min(RANDOM_BATCH, f.budget - f.nfev), lo.size)))


METHODS: dict[str, Runner] = {
    "qiml": _qiml, "dual_annealing": _dual_annealing, "differential_evolution": _differential_evolution,
    "cma_ipop": _cma_ipop, "random": _random,
}
LABELS = {"qiml": "qiml", "dual_annealing": "SciPy dual annealing", "differential_evolution": "SciPy DE",
          "cma_ipop": "IPOP-CMA-ES", "random": "random search"}
SETTINGS = {
    "qiml": "`qiml.minimize(f, bounds, vectorized=True, max_evals=budget, seed=s)`, default options",
    "dual_annealing": "`dual_annealing(maxfun=budget, maxiter=1e9, rng=s)`, default temperatures and "
                      "L-BFGS-B local search (finite-difference gradients count as evaluations)",
    "differential_evolution": f"`differential_evolution(strategy='best1bin', popsize={DE_POPSIZE}, "
                              "mutation=(0.5, 1), recombination=0.7, init='latinhypercube', tol=0, atol=0, "
                              "polish=False, updating='deferred', vectorized=True, rng=s)`, maxiter past the budget",
    "cma_ipop": f"`cma.fmin2(restarts={CMA_RESTARTS}, incpopsize={CMA_INCPOPSIZE})` (IPOP), box bounds, "
                f"sigma0 = {CMA_SIGMA_FRAC} x range, uniform random x0 per restart, maxfevals=budget, seed=s+1",
    "random": "uniform random points in the box",
}


def run_method(method: str, fun: Callable[[NDArray[np.float64]], NDArray[np.float64]],
               bounds: Any, budget: int, seed: int, runner: Runner | None = None,
               target: float | None = None) -> Budgeted:
    """Run ``method`` (or the given ``runner``) on ``fun`` within ``budget`` evaluations; return the wrapper.

    Once the budget is spent (or ``target`` reached) the method is stopped; an exception raised
    after that (qiml wraps the stop in its ``ObjectiveError``) is part of stopping, any earlier one
    propagates.
    """
    f = Budgeted(fun, budget, target)
    lo, hi = (np.asarray(b, dtype=float) for b in zip(*bounds, strict=True))
    try:
        (runner or METHODS[method])(f, lo, hi, seed)
    except Exception:
        if not (f.exhausted or f.reached):
            raise
    f.finish()
    return f


# -- the gradient baseline: Adam on an MLP (PyTorch) ---------------------------------------------------------
@dataclass
class AdamResult:
    """What :func:`adam` returns.

    ``theta``: the trained weights packed as :meth:`qiml.nn.MLP.pack` (float64), the best-validation
    weights when a validation set was given; ``seconds``: wall time of the training loop (the model and
    tensors are built before the clock starts); ``epochs``: passes over the training set (samples seen / n);
    ``steps``: optimiser steps; ``train_loss``: the last mini-batch's loss; ``val``: the best validation
    score (None without validation, inf when no score was finite); ``stopped``: why training ended
    (``"seconds"``, ``"epochs"``, ``"patience"`` or ``"diverged"``).
    """

    theta: NDArray[np.float64]
    seconds: float
    epochs: float
    steps: int
    train_loss: float
    val: float | None
    stopped: str


@functools.lru_cache(maxsize=1)
def _torch_activations() -> dict[str, Any]:
    """Torch modules for the MLP activations the baseline supports; ``step`` is the straight-through
    estimator (Heaviside forward, hard-tanh window gradient backward)."""
    import torch

    class STEStep(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, z: Any) -> Any:
            ctx.save_for_backward(z)
            return (z > 0).to(z.dtype)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (z,) = ctx.saved_tensors
            return g * (z.abs() <= 1).to(g.dtype)

    class Step(torch.nn.Module):
        def forward(self, z: Any) -> Any:
            return STEStep.apply(z)

    return {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid,
            "identity": torch.nn.Identity, "hard_tanh": torch.nn.Hardtanh, "step": Step}


def torch_mlp(net: MLP, dtype: str = "float64", x0: ArrayLike | None = None) -> Any:
    """A ``torch.nn.Sequential`` with ``net``'s layers and (per-layer, uniform) activations, in ``dtype``.

    Its weights are PyTorch's default initialisation (drawn in float32 from torch's global generator,
    then cast), or ``x0`` (packed as :meth:`~qiml.nn.MLP.pack`) copied in after that draw.
    """
    import torch

    acts = _torch_activations()
    layers: list[Any] = []
    for i, (fi, fo) in enumerate(net.shapes):
        layers.append(torch.nn.Linear(fi, fo))
        if i < net.n_layers - 1:
            act = net.activations[i]
            if not act.uniform or act.names[0] not in acts:
                raise ValueError(f"the Adam baseline supports one activation per layer among {sorted(acts)}, "
                                 f"got {sorted(set(act.names))} in hidden layer {i + 1}")
            layers.append(acts[act.names[0]]())
    model = torch.nn.Sequential(*layers).to(getattr(torch, dtype))
    if x0 is not None:
        lin = [m for m in model if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for m, (W, b) in zip(lin, net.unpack(net.check_theta(x0)), strict=True):
                m.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                m.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
    return model


def _packed(net: MLP, model: Any) -> NDArray[np.float64]:
    import torch

    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    return net.pack([(m.weight.detach().double().numpy().T, m.bias.detach().double().numpy()) for m in lin])


def adam(net: MLP, X: ArrayLike, y: ArrayLike, *, loss: str = "mse", lr: float = 1e-3, batch: int | None = None,
         seed: int = 0, seconds: float | None = None, epochs: int | None = None, decay: bool = False,
         validation: tuple[ArrayLike, Callable[[NDArray[np.float64]], float]] | None = None,
         patience: int | None = None, min_delta: float = 1e-4, x0: ArrayLike | None = None,
         dtype: str = "float64") -> AdamResult:
    """Train ``net`` with Adam (PyTorch, one thread) on ``(X, y)``: the tuned gradient baseline of the studies.

    * ``loss``: ``"mse"`` (``y`` (n,) or (n, outputs)) or ``"cross_entropy"`` (``y`` integer labels, the
      network's outputs are logits);
    * ``batch``: mini-batch size, a fresh permutation of the samples per epoch (None or ``>= n``: full
      batch, samples in order); ``lr``: Adam's learning rate; ``seed`` seeds torch's global generator
      (the default initialisation) and the permutations;
    * the budget: ``seconds`` of wall clock (checked before every epoch and after every step) and/or at
      most ``epochs`` passes over the data; at least one must be given;
    * ``decay``: the learning rate follows a cosine from ``lr`` to 0 over the budget (the fraction of
      ``seconds`` elapsed when a wall-clock budget is given, else of the ``epochs`` steps);
    * ``validation = (X_val, score)``: after every epoch (and after a last, partial one) ``score(outputs)``
      is called with the network's float64 outputs on ``X_val`` (lower is better); the weights of the best
      score are kept and returned. With ``patience``, training stops after that many epochs without a
      score below ``best x (1 - min_delta)``, and at the first non-finite score (divergence);
    * ``x0``: start from these weights (packed) instead of PyTorch's initialisation (drawn all the same,
      so the generator's state does not depend on ``x0``); ``dtype``: ``"float64"`` or ``"float32"``.

    Quantisation (e.g. post-training int8 with :func:`qiml.nn.quantize`) and test scores are the
    caller's: this returns the weights.
    """
    import torch

    if seconds is None and epochs is None:
        raise ValueError("adam needs a budget: seconds and/or epochs")
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = torch_mlp(net, dtype, x0)
    tdt = getattr(torch, dtype)
    Xt = torch.tensor(np.asarray(X, dtype=float), dtype=tdt)
    ya = np.asarray(y)
    if loss == "mse":
        yt = torch.tensor(ya[:, None] if ya.ndim == 1 else ya, dtype=tdt)
        lossf: Any = torch.nn.MSELoss()
    elif loss == "cross_entropy":
        yt = torch.tensor(ya.astype(np.int64))
        lossf = torch.nn.CrossEntropyLoss()
    else:
        raise ValueError(f"adam supports loss 'mse' or 'cross_entropy', got {loss!r}")
    Xv = None if validation is None else torch.tensor(np.asarray(validation[0], dtype=float), dtype=tdt)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = Xt.shape[0]
    bs = n if batch is None or batch >= n else int(batch)
    per_epoch = -(-n // bs)
    total_steps = None if epochs is None else epochs * per_epoch
    best, best_state, since = math.inf, None, 0
    seen = steps = done = 0
    stopped = "epochs"
    t0 = time.perf_counter()

    def out_of_time() -> bool:
        return seconds is not None and time.perf_counter() - t0 >= seconds

    while True:
        if out_of_time():
            stopped = "seconds"
            break
        if epochs is not None and done >= epochs:
            break
        perm = torch.randperm(n, generator=gen) if bs < n else None
        cut = False
        for s in range(0, n, bs):
            idx = perm[s:s + bs] if perm is not None else slice(None)
            if decay:
                frac = (min(1.0, (time.perf_counter() - t0) / seconds) if seconds is not None
                        else steps / total_steps)                                   # type: ignore[operator]
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * frac))
            opt.zero_grad()
            batch_loss = lossf(model(Xt[idx]), yt[idx])
            batch_loss.backward()
            opt.step()
            steps += 1
            seen += min(bs, n - s)
            if out_of_time():
                cut = True
                break
        if not cut:
            done += 1
        if validation is not None:
            with torch.no_grad():
                score = float(validation[1](model(Xv).double().numpy()))
            if not math.isfinite(score):
                if patience is not None:
                    stopped = "diverged"
                    break                           # keep the best weights so far
            elif score < best * (1 - min_delta):
                best, best_state, since = score, {k: v.clone() for k, v in model.state_dict().items()}, 0
            else:
                since += 1
                if patience is not None and since >= patience:
                    stopped = "patience"
                    break
        if cut:
            stopped = "seconds"
            break
    elapsed = time.perf_counter() - t0
    last = float(batch_loss.item()) if steps else math.nan
    if best_state is not None:
        model.load_state_dict(best_state)
    return AdamResult(theta=_packed(net, model), seconds=elapsed, epochs=seen / n, steps=steps, train_loss=last,
                      val=None if validation is None else best, stopped=stopped)
