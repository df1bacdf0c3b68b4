"""The model contract: what :class:`qiml.nn.NetworkObjective`, :func:`qiml.training.fit_network`
and the scikit-learn estimators need from a trainable model.

A model is an architecture only: its parameters live in one flat float vector ``theta`` (P,)
that the engine moves, and the model maps a batch of inputs to outputs with them. Four members
make a :class:`Model`; anything else is an optional capability, found by name (``hasattr``) or by
the runtime-checkable protocols below, and each one switches on one feature:

==========================================  ==============================================================
optional member                             what it enables
==========================================  ==============================================================
``forward_rows(X, thetas)``                 many parameter vectors in one call (faster generic rows)
``weight_mask`` (P,) bool                   ``l2`` penalises only these (the weights, not the biases);
                                            default: every parameter
``width`` int                               floats per sample of the widest layer, sizes batches of rows
``neuron_blocks()``                         the parameter blocks for rotated directions (``"curvature"``,
                                            ``"adapted"``): a neuron's fan-in
``differentiable`` bool                     :func:`qiml.training.network_options` picks curvature
                                            directions (the slicer's ``curvature`` knows every unit)
:class:`QuantizedModel`                     ``bits=``: search on a signed int lattice
:class:`ReadoutModel`                       ``output="solve"``: a linear readout solved by least squares
:class:`SlicedModel`                        incremental slices (the fast path) and, through its
                                            slicer's ``curvature``, ``directions="curvature"``
==========================================  ==============================================================

Without :class:`SlicedModel` every slice request is answered by rows: each candidate parameter
vector is run through :meth:`Model.forward` (or ``forward_rows``) in chunks of bounded memory, as
:class:`qiml.Objective` does for any black box. :class:`qiml.nn.MLP` implements all of it.

Inputs ``X`` are float arrays (N, in_features) with N >= 1; outputs are (N, out_features) floats
in the units of the targets (regression) or logits (classification losses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError, ShapeError
from ..spaces import Space

if TYPE_CHECKING:  # only for annotations: objective.py imports this module
    from ..requests import SliceRequest
    from .objective import NetworkObjective

__all__ = ["Model", "QuantizedModel", "ReadoutModel", "SlicedModel", "Slicer", "REQUIRED", "check_model",
           "check_inputs", "check_theta", "forward_rows"]

#: the members every :class:`Model` has (attributes first, then methods)
REQUIRED = ("n_params", "in_features", "out_features", "init", "space", "forward")


@runtime_checkable
class Model(Protocol):
    """A trainable model: an architecture mapping inputs (N, in_features) to outputs (N, out_features)
    with a flat parameter vector ``theta`` (n_params,).

    ``n_params``, ``in_features`` and ``out_features`` may be plain attributes or properties.
    """

    @property
    def n_params(self) -> int:
        """P, the length of ``theta``."""
        ...

    @property
    def in_features(self) -> int:
        """Width of one input sample (as ``torch.nn.Linear``)."""
        ...

    @property
    def out_features(self) -> int:
        """Width of one output: regression targets per sample, or logits."""
        ...

    def init(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """An initial parameter vector (P,) drawn from ``rng`` (e.g. Glorot-uniform weights)."""
        ...

    def space(self, bound: float = 3.0) -> Space:
        """The search space of ``theta``: box bounds (P,) (``[-bound, bound]`` per parameter, or a
        per-parameter scale of it) and optionally a lattice step (P,)."""
        ...

    def forward(self, X: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
        """Outputs (N, out_features) for inputs ``X`` (N, in_features) and parameters ``theta`` (P,)."""
        ...


@runtime_checkable
class QuantizedModel(Model, Protocol):
    """A model with int lattices: enables ``bits=`` in :func:`qiml.training.fit_network` and the estimators."""

    def quantized_space(self, bound: float, bits: int) -> Space:
        """The search space with every parameter on a signed ``bits``-bit lattice inside ``[-bound, bound]``
        (the lattice step is the scale of one integer level)."""
        ...


@runtime_checkable
class ReadoutModel(Model, Protocol):
    """A model whose outputs are linear in its last parameters, enabling ``output="solve"``.

    ``forward(X, theta) = features @ W + b`` with ``features = readout_features(X, theta[None,
    :readout_offset])[0]`` (N, h), and ``theta[readout_offset:]`` holding ``W`` (h, out_features)
    row-major then ``b`` (out_features,). With ``output="solve"`` the engine moves only
    ``theta[:readout_offset]`` and ``W, b`` are solved by least squares wherever the loss is asked for.
    """

    @property
    def readout_offset(self) -> int:
        """Index of the first readout parameter (the engine moves ``theta[:readout_offset]`` under "solve")."""
        ...

    def readout_features(self, X: NDArray[np.float64], thetas: NDArray[np.float64]) -> NDArray[np.float64]:
        """Features the readout sees, (R, N, h), for ``thetas`` (R, readout_offset) and ``X`` (N, in_features)."""
        ...


@runtime_checkable
class Slicer(Protocol):
    """The incremental fast path of one :class:`qiml.nn.NetworkObjective` (made by :meth:`SlicedModel.slicer`).

    It may keep state (caches of the base point) between calls; every value it returns must be a
    function of the request and the objective's data alone, so a resumed run is bit-identical.
    A slicer may also define ``curvature(x, params) -> (eigenvectors (m, m), reach (m,)) | None``
    (see :meth:`qiml.Objective.curvature`), which enables ``directions="curvature"``.
    """

    def potentials(self, request: SliceRequest) -> tuple[float, NDArray[np.float64], NDArray[np.bool_]]:
        """``(f(x), V (k, nx), local (k,))``: the objective's value at ``request.x`` and along the
        slices marked ``local``, exactly as the objective defines it (mean loss on the request's
        batch, :meth:`~qiml.nn.NetworkObjective.penalty` included; padded grid points may hold
        anything). Rows not ``local`` are ignored: the objective answers them through rows."""
        ...


@runtime_checkable
class SlicedModel(Model, Protocol):
    """A model that answers slice requests incrementally (without building and running P x nx rows)."""

    def slicer(self, objective: NetworkObjective) -> Slicer:
        """A fresh :class:`Slicer` for ``objective`` (its data, loss, ``l2``, ``output`` and batches)."""
        ...


def check_model(model: Any, what: str = "model") -> None:
    """Raise :class:`qiml.ConfigError` naming the :class:`Model` members ``model`` lacks."""
    missing = [m for m in REQUIRED if not hasattr(model, m)]
    missing += [m for m in REQUIRED[3:] if m not in missing and not callable(getattr(model, m))]
    if missing:
        raise ConfigError(f"{what} {type(model).__name__} does not implement qiml.nn.Model: missing "
                          f"{', '.join(missing)} (a Model has n_params, in_features, out_features, init(rng), "
                          "space(bound) and forward(X, theta))")
    for name in REQUIRED[:3]:
        v = getattr(model, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{what} {type(model).__name__}.{name} must be a positive int, got {v!r}")


def check_inputs(model: Model, X: ArrayLike) -> NDArray[np.float64]:
    """``X`` as a finite float array (N >= 1, in_features), else :class:`qiml.ShapeError`."""
    Xa = np.asarray(X, dtype=float)
    if Xa.ndim != 2 or Xa.shape[1] != model.in_features or Xa.shape[0] == 0:
        raise ShapeError(f"{model!r} takes inputs of shape (n >= 1, {model.in_features}), got {Xa.shape}")
    if not np.all(np.isfinite(Xa)):
        raise ShapeError("inputs contain NaN or infinite values")
    return Xa


def check_theta(model: Model, theta: ArrayLike) -> NDArray[np.float64]:
    """``theta`` as a float vector (n_params,), else :class:`qiml.ShapeError`."""
    t = np.asarray(theta, dtype=float)
    if t.shape != (model.n_params,):
        raise ShapeError(f"{model!r} needs a parameter vector of shape ({model.n_params},), got {t.shape}")
    return t


def forward_rows(model: Model, X: NDArray[np.float64], thetas: NDArray[np.float64]) -> NDArray[np.float64]:
    """Outputs (R, N, out_features) of ``thetas`` (R, P): the model's ``forward_rows`` if it has one,
    else :meth:`Model.forward` row by row."""
    fast = getattr(model, "forward_rows", None)
    if fast is not None:
        return np.asarray(fast(X, thetas), dtype=float)
    outs: Sequence[Any] = [np.asarray(model.forward(X, t), dtype=float) for t in thetas]
    out = np.stack(outs) if len(outs) else np.empty((0, X.shape[0], model.out_features))
    if out.shape != (thetas.shape[0], X.shape[0], model.out_features):
        raise ShapeError(f"{model!r}.forward must return outputs of shape (n, {model.out_features}) = "
                         f"({X.shape[0]}, {model.out_features}), got {out.shape[1:]}")
    return out
