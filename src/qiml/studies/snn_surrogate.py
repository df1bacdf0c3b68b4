"""The surrogate-gradient baseline of the spiking-network studies: the same network, trained by Adam.

:class:`SurrogateSpikingClassifier` and :class:`SurrogateSpikingRegressor` take the parameters of
:class:`qiml.snn.SpikingClassifier` / :class:`qiml.snn.SpikingRegressor` that a gradient can train
and build the same network in PyTorch: the same per-channel standardisation, the same encoder (run
once in NumPy: its signals are fixed inputs), the same current-based LIF neurons step for step
(:func:`qiml.snn.neurons.lif`: synaptic current, membrane, spike at the threshold, reset by
subtraction or to zero, the membrane recorded before the reset), learnable thresholds and decays
kept in the same boxes, optional recurrence and deeper layers, and the same readout features. What
a gradient cannot train is frozen: the synaptic delays stay where they were drawn (uniform in
``0..max_delay``, as the QiML network starts; with ``max_delay=0`` the ``taps`` of one input add up to
one weight), and refractory periods are not offered.

Training is what snnTorch users do (its tutorials' recipe): the spike's derivative replaced by
snnTorch's fast-sigmoid surrogate (``snntorch.surrogate.fast_sigmoid(slope=25)``), the reset
detached from the graph, BatchNorm on the readout features before the linear readout (without it the
network hardly learned in the probe of issue 17), Adam on mini-batches. It is tuned as a careful user
would: a stratified validation split (``validation_fraction``) is held out of the training data and
scored after every epoch (accuracy, then loss, for the classifier; mean squared error for the
regressor); the learning rates ``lrs`` race by successive halving: each trains for an equal share of
half of ``max_time`` (and of ``max_epochs``), then the one with the best validation epoch trains on
for the other half; the best validation epoch of that run is the model. Whether training had
converged shows in ``best_epoch_`` against ``epochs_``.

This is a baseline for the studies (it needs the ``snn`` extra: ``snntorch`` and ``torch``), not a
front door: the estimators fit, predict and score as scikit-learn's do, without the estimator checks.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import ConfigError
from ..sklearn import (
    LogitClassifierMixin,
    StandardisedRegressorMixin,
    encode_labels,
    standardise_targets,
    validation_split,
)
from ..snn.encoders import Encoder, get_encoder
from ..snn.network import DECAY_BOX, THRESHOLD_BOX
from ..snn.neurons import RESETS
from ..validation import check_int, optional_positive_float, optional_positive_int, positive_int

__all__ = ["SurrogateSpikingClassifier", "SurrogateSpikingRegressor", "SurrogateNetwork"]

#: readouts a gradient flows through (the first-spike time is an argmax: no surrogate for it here)
SURROGATE_READOUTS = ("counts", "bins", "max_mem", "mean_mem")


def _torch() -> Any:
    try:
        import snntorch.surrogate  # noqa: F401  (imported here, before any clock starts)
        import torch
    except ImportError as exc:   # pragma: no cover - the test extra installs both
        raise ConfigError("the surrogate-gradient baseline needs the 'snn' extra: pip install 'qiml[snn]'") from exc
    return torch


def SurrogateNetwork(n_inputs: int, n_steps: int, hidden: Sequence[int], n_outputs: int, *, taps: int = 1,
                     max_delay: int = 0, recurrent: bool,
                     reset: str, readout: Sequence[str], bins: int, learn_threshold: bool, learn_leak: bool,
                     threshold: float = 1.0, beta: float = 0.9, alpha: float = 0.5, seed: int = 0,
                     dtype: Any = None) -> Any:
    """The spiking network as a ``torch.nn.Module``: signals (N, n_inputs, T) to outputs (N, n_outputs).

    Initialised as :meth:`qiml.snn.SpikingNetwork.init` does: weights uniform in ``±1 / sqrt(fan_in)``,
    recurrent weights and biases 0, thresholds and decays at ``threshold``, ``beta``, ``alpha``; the first
    layer reads ``taps`` synapses per input, each with a delay drawn uniformly from ``0..max_delay`` steps
    and frozen (a buffer: no gradient reaches an integer delay). ``dtype``:
    float32 by default (what snnTorch users train in, and faster on a CPU than float64).
    """
    _torch()
    import torch
    from snntorch import surrogate

    dtype = torch.float32 if dtype is None else dtype

    spike = surrogate.fast_sigmoid(slope=25)
    gen = torch.Generator().manual_seed(int(seed))

    class _Net(torch.nn.Module):
        delay: Any      # (h, m) long buffer: the frozen synaptic delays of the first layer

        def __init__(self) -> None:
            super().__init__()
            self.w, self.v, self.bias = torch.nn.ParameterList(), torch.nn.ParameterList(), torch.nn.ParameterList()
            self.th, self.beta, self.alpha = torch.nn.ParameterList(), torch.nn.ParameterList(), \
                torch.nn.ParameterList()
            fan = n_inputs * taps
            d = torch.randint(0, max_delay + 1, (hidden[0], fan), generator=gen) if max_delay else \
                torch.zeros(hidden[0], fan, dtype=torch.long)
            self.register_buffer("delay", d)
            self.taps = taps
            for h in hidden:
                self.w.append(torch.nn.Parameter((torch.rand(h, fan, generator=gen, dtype=dtype) * 2 - 1)
                                                 / np.sqrt(fan)))
                self.v.append(torch.nn.Parameter(torch.zeros(h, h, dtype=dtype),
                                                 requires_grad=recurrent))
                self.bias.append(torch.nn.Parameter(torch.zeros(h, dtype=dtype)))
                for plist, value, learn in ((self.th, threshold, learn_threshold), (self.beta, beta, learn_leak),
                                            (self.alpha, alpha, learn_leak)):
                    plist.append(torch.nn.Parameter(torch.full((h,), float(value), dtype=dtype),
                                                    requires_grad=learn))
                fan = h
            width = sum(hidden[-1] * bins if r == "bins" else hidden[-1] for r in readout)
            self.norm = torch.nn.BatchNorm1d(width, dtype=dtype)
            self.out = torch.nn.Linear(width, n_outputs, dtype=dtype)
            torch.nn.init.xavier_uniform_(self.out.weight, generator=gen)
            torch.nn.init.zeros_(self.out.bias)

        def clamp_(self) -> None:
            """Keep thresholds and decays in the boxes the QiML network searches."""
            with torch.no_grad():
                for l in range(len(hidden)):
                    self.th[l].clamp_(*THRESHOLD_BOX)
                    self.beta[l].clamp_(*DECAY_BOX)
                    self.alpha[l].clamp_(*DECAY_BOX)

        def forward(self, x: Any) -> Any:
            """Outputs (N, n_outputs) of signals (N, n_inputs, T)."""
            return self.out(self.norm(self.features(x)))

        def features(self, x: Any) -> Any:
            """Readout features (N, F) of signals (N, n_inputs, T), as :func:`qiml.snn.readouts.readout_features`."""
            x = x.repeat_interleave(self.taps, dim=1) if self.taps > 1 else x
            inp = x.transpose(1, 2)                                   # (N, T, m)
            for l, h in enumerate(hidden):
                if l == 0 and bool(self.delay.any()):
                    cur = self.bias[0] + inp.new_zeros(inp.shape[0], n_steps, h)
                    for dv in torch.unique(self.delay).tolist():      # one matmul per distinct delay
                        w = self.w[0] * (self.delay == dv)
                        cur[:, dv:] = cur[:, dv:] + inp[:, :n_steps - dv] @ w.T
                else:
                    cur = inp @ self.w[l].T + self.bias[l]            # (N, T, h)
                N = cur.shape[0]
                syn = cur.new_zeros(N, h)
                mem = cur.new_zeros(N, h)
                s = cur.new_zeros(N, h)
                spikes, mems = [], []
                for t in range(n_steps):
                    i_t = cur[:, t] + (s @ self.v[l] if recurrent else 0.0)
                    syn = self.alpha[l] * syn + i_t
                    mem = self.beta[l] * mem + syn
                    s = spike(mem - self.th[l]).to(dtype)   # the surrogate's spikes come as float32
                    spikes.append(s)
                    mems.append(mem)
                    fired = s.detach()                                # the reset is not differentiated
                    mem = mem - fired * self.th[l] if reset == "subtract" else mem * (1.0 - fired)
                inp = torch.stack(spikes, dim=1)                      # (N, T, h)
                mem_trace = torch.stack(mems, dim=1)
            feats = []
            for r in readout:
                if r == "counts":
                    feats.append(inp.mean(dim=1))
                elif r == "bins":
                    edges = np.linspace(0, n_steps, bins + 1).round().astype(int)
                    feats += [inp[:, a:b].sum(dim=1) / max(1, b - a) for a, b in zip(edges[:-1], edges[1:],
                                                                                      strict=True)]
                elif r == "max_mem":
                    feats.append(mem_trace.amax(dim=1) / self.th[-1])
                else:
                    feats.append(mem_trace.mean(dim=1) / self.th[-1])
            return torch.cat(feats, dim=1)

    return _Net()


@dataclass
class _Run:
    """One learning rate's training: its network, optimizer, epochs so far and best validation epoch."""

    net: Any
    opt: Any
    lr: float
    epoch: int = 0
    best_key: tuple[float, float] = (-np.inf, -np.inf)
    best_epoch: int = 0
    best_state: Any = None


class _SurrogateBase(BaseEstimator):
    """Parameters, standardisation, the validation split and the learning-rate search."""

    _regression: bool

    def __init__(self, hidden: Any = 16, *, encoder: str | Encoder = "current", taps: int = 1, max_delay: int = 0,
                 recurrent: bool = False, reset: str = "subtract", readout: Any = "counts", bins: int = 4,
                 learn_threshold: bool = True, learn_leak: bool = True, lrs: Sequence[float] = (1e-3, 3e-3, 1e-2),
                 batch_size: int = 32, validation_fraction: float = 0.25, max_time: float | None = 30.0,
                 max_epochs: int | None = None, n_threads: int = 1, random_state: int = 0) -> None:
        self.hidden = hidden
        self.encoder = encoder
        self.taps = taps
        self.max_delay = max_delay
        self.recurrent = recurrent
        self.reset = reset
        self.readout = readout
        self.bins = bins
        self.learn_threshold = learn_threshold
        self.learn_leak = learn_leak
        self.lrs = lrs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.max_time = max_time
        self.max_epochs = max_epochs
        self.n_threads = n_threads
        self.random_state = random_state

    # -- parameters and data -------------------------------------------------------------------
    def _check(self) -> tuple[tuple[int, ...], tuple[str, ...]]:
        hidden = (self.hidden,) if isinstance(self.hidden, int) else tuple(self.hidden)
        for h in hidden:
            positive_int("hidden", h)
        readout = (self.readout,) if isinstance(self.readout, str) else tuple(self.readout)
        bad = [r for r in readout if r not in SURROGATE_READOUTS]
        if bad or not readout:
            raise ConfigError(f"readout must name one or more of {SURROGATE_READOUTS} (a gradient flows through "
                              f"them), got {self.readout!r}")
        if self.reset not in RESETS:
            raise ConfigError(f"reset must be one of {RESETS}, got {self.reset!r}")
        lrs = tuple(float(lr) for lr in self.lrs)
        if not lrs or not all(np.isfinite(lr) and lr > 0 for lr in lrs):
            raise ConfigError(f"lrs must be positive learning rates, got {self.lrs!r}")
        positive_int("batch_size", self.batch_size)
        positive_int("bins", self.bins)
        positive_int("taps", self.taps)
        check_int("max_delay", self.max_delay, 0)
        optional_positive_float("max_time", self.max_time)
        optional_positive_int("max_epochs", self.max_epochs)
        if self.max_time is None and self.max_epochs is None:
            raise ConfigError("give max_time or max_epochs (or both): the training needs a budget")
        return hidden, readout

    def _series(self, X: ArrayLike) -> NDArray[np.float64]:
        X = np.asarray(X, dtype=np.float64)
        X = X[:, None, :] if X.ndim == 2 else X
        if X.ndim != 3 or not np.all(np.isfinite(X)):
            raise ConfigError(f"X must be finite (n_samples, n_timesteps) or (n_samples, n_channels, n_timesteps), "
                              f"got shape {X.shape}")
        return X

    def _signals(self, X: NDArray[np.float64]) -> Any:
        Z = (X - self.channel_mean_[None, :, None]) / self.channel_scale_[None, :, None]
        return _torch().from_numpy(np.ascontiguousarray(self.encoder_(Z), dtype=np.float32))

    # -- training ------------------------------------------------------------------------------
    def _loss(self, out: Any, target: Any) -> Any:
        F = _torch().nn.functional
        if self._regression:
            return F.mse_loss(out, target)
        if out.shape[1] == 1:
            return F.binary_cross_entropy_with_logits(out[:, 0], target.float())
        return F.cross_entropy(out, target)

    def _score(self, out: Any, target: Any) -> tuple[float, float]:
        """Validation ranking key, larger is better: (accuracy, -loss) or (-mse, 0)."""
        loss = float(self._loss(out, target))
        if self._regression:
            return -loss, 0.0
        pred = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(dim=1)
        return float((pred == target).double().mean()), -loss

    def _fit(self, X: NDArray[np.float64], targets: NDArray[Any], n_out: int) -> None:
        torch = _torch()
        hidden, readout = self._check()
        N, C, T = X.shape
        self.n_channels_, self.n_steps_ = C, T
        self.channel_mean_ = X.mean(axis=(0, 2))
        std = X.std(axis=(0, 2))
        self.channel_scale_ = np.where(std > 0, std, 1.0)
        self.encoder_ = get_encoder(self.encoder)
        rng = np.random.default_rng(int(self.random_state))
        tr, va = validation_split(targets, self.validation_fraction, rng, stratify=not self._regression)
        signals = self._signals(X)
        y = torch.from_numpy(np.asarray(targets, dtype=np.float32 if self._regression else np.int64))
        threads = torch.get_num_threads()
        torch.set_num_threads(int(self.n_threads))
        self._epochs_done = 0
        runs = []
        try:
            for k, lr in enumerate(self.lrs):
                net = SurrogateNetwork(signals.shape[1], T, hidden, n_out, taps=int(self.taps),
                                       max_delay=min(int(self.max_delay), T - 1), recurrent=self.recurrent,
                                       reset=self.reset,
                                       readout=readout, bins=min(int(self.bins), T),
                                       learn_threshold=self.learn_threshold, learn_leak=self.learn_leak,
                                       seed=int(self.random_state) * 1000 + k)
                runs.append(_Run(net, torch.optim.Adam([p for p in net.parameters() if p.requires_grad],
                                                       lr=float(lr)), float(lr)))
            t0 = time.perf_counter()      # the clock starts with training (imports and set-up are not the budget)
            # successive halving: every learning rate gets an equal share of half the budget, then the best
            # one (by its best validation epoch) goes on for the other half
            L = len(runs)
            for k, run in enumerate(runs):
                self._train(run, signals, y, tr, va, rng, t0, (k + 1) / (2 * L), (k + 1) / (2 * L))
            chosen = max(runs, key=lambda r: r.best_key)
            self._train(chosen, signals, y, tr, va, rng, t0, 1.0, 1.0)
        finally:
            torch.set_num_threads(threads)
        if chosen.best_state is None:
            raise ConfigError("the budget ended before one epoch; give a larger max_time")
        self.lr_, self.best_epoch_, self.validation_score_ = chosen.lr, chosen.best_epoch, chosen.best_key[0]
        self.epochs_ = [r.epoch for r in runs]
        self.best_epochs_ = [r.best_epoch for r in runs]
        state = chosen.best_state
        self.net_ = SurrogateNetwork(signals.shape[1], T, hidden, n_out, taps=int(self.taps),
                                     max_delay=min(int(self.max_delay), T - 1), recurrent=self.recurrent,
                                     reset=self.reset,
                                     readout=readout, bins=min(int(self.bins), T),
                                     learn_threshold=self.learn_threshold, learn_leak=self.learn_leak)
        self.net_.load_state_dict(state)
        self.net_.eval()
        self.n_iter_ = int(sum(self.epochs_))
        self.seconds_ = time.perf_counter() - t0

    def _train(self, run: _Run, signals: Any, y: Any, tr: NDArray[np.intp], va: NDArray[np.intp],
               rng: np.random.Generator, t0: float, time_share: float, epoch_share: float) -> None:
        """Train ``run`` until ``time_share`` of ``max_time`` since ``t0`` or ``epoch_share`` of ``max_epochs``
        (over all runs) is spent, scoring the validation split after every epoch and keeping the best."""
        torch = _torch()
        deadline = None if self.max_time is None else t0 + self.max_time * time_share
        last = None if self.max_epochs is None else max(1, round(self.max_epochs * epoch_share))
        net, opt = run.net, run.opt
        # at least one epoch in all, so that a tiny budget still returns a model (and overruns a little)
        while self._epochs_done == 0 or ((last is None or self._epochs_done < last)
                                         and (deadline is None or time.perf_counter() < deadline)):
            net.train()
            for idx in np.array_split(rng.permutation(tr), max(1, len(tr) // int(self.batch_size))):
                if len(idx) < 2:         # BatchNorm needs two samples in a batch
                    continue
                opt.zero_grad()
                self._loss(net(signals[idx]), y[idx]).backward()
                opt.step()
                net.clamp_()
            run.epoch += 1
            self._epochs_done += 1
            net.eval()
            with torch.no_grad():
                key = self._score(net(signals[va]), y[va])
            if run.best_state is None or key > run.best_key:
                run.best_key, run.best_epoch = key, run.epoch
                run.best_state = copy.deepcopy(net.state_dict())

    def _scores(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self)
        torch = _torch()
        Xv = self._series(X)
        if Xv.shape[1:] != (self.n_channels_, self.n_steps_):
            raise ConfigError(f"X has {Xv.shape[1]} channel(s) of {Xv.shape[2]} steps, but the estimator was fitted "
                              f"on {self.n_channels_} of {self.n_steps_}")
        with torch.no_grad():
            return np.asarray(self.net_(self._signals(Xv)).numpy(), dtype=np.float64)


class SurrogateSpikingClassifier(LogitClassifierMixin, ClassifierMixin, _SurrogateBase):
    """The spiking classifier of :class:`qiml.snn.SpikingClassifier` trained by surrogate gradients and Adam."""

    _regression = False

    def fit(self, X: ArrayLike, y: ArrayLike) -> SurrogateSpikingClassifier:
        """Train on series ``X`` (n, T) or (n, C, T) and labels ``y`` (n,); returns ``self``."""
        codes, n_out = encode_labels(self, y)
        self._fit(self._series(X), codes, n_out)
        return self


class SurrogateSpikingRegressor(StandardisedRegressorMixin, RegressorMixin, _SurrogateBase):
    """The spiking regressor of :class:`qiml.snn.SpikingRegressor` trained by surrogate gradients and Adam."""

    _regression = True

    def fit(self, X: ArrayLike, y: ArrayLike) -> SurrogateSpikingRegressor:
        """Train on series ``X`` (n, T) or (n, C, T) and targets ``y`` (n,) or (n, k); returns ``self``."""
        Y = standardise_targets(self, y)
        self._fit(self._series(X), Y, Y.shape[1])
        return self
