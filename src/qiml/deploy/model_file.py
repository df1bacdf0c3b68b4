"""Model files: a trained network saved and loaded without pickle.

A model file is an ``.npz`` archive (the checkpoint format of :mod:`qiml.engine.checkpoint`, with its
atomic write and its bounded, pickle-free loading) holding one array, the parameters ``theta`` (P,)
float64, and a JSON header:

=================  ================================================================================
``format``         ``"qiml-model-1"``; any other tag is refused
``qiml_version``   the version that wrote it
``architecture``   ``{"type": "MLP", "layer_sizes": [...], "activations": [[name per neuron], ...]}``
``quantization``   ``null`` for a float network, else ``{"bits": 8, "scales": [s_l per layer]}``:
                   every parameter of layer ``l`` is ``s_l * k`` with an integer ``|k| <= 127``
``input_range``    inputs are expected in ``[-input_range, input_range]`` (the int8 input scale is
                   ``input_range / 127``)
``metadata``       the caller's JSON mapping (trainer, data, accuracy, ...)
=================  ================================================================================

Loading checks everything a deployment relies on and raises :class:`qiml.errors.ModelFileError`
naming the problem: a corrupt or foreign file, a header that does not describe a network, a
``theta`` of the wrong length, or weights off their declared lattice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._version import __version__
from ..engine import checkpoint
from ..errors import ConfigError, ModelFileError, QimlError
from ..nn import MLP

__all__ = ["FORMAT", "SavedModel", "save_model", "load_model", "lattice_scales"]

FORMAT = "qiml-model-1"
_NOUN = "model file"
#: what loading a model file may allocate: 64 MiB, 8 million float64 parameters, far above any network a
#: microcontroller holds; a file declaring more is refused before anything is decompressed
MAX_BYTES = 2**26
LEVELS = 127


@dataclass(frozen=True)
class SavedModel:
    """What a model file holds: the architecture, the parameters and how they are quantized."""

    net: MLP
    theta: NDArray[np.float64]
    #: per-layer lattice steps (n_layers,), or None for a float network
    scales: NDArray[np.float64] | None = None
    input_range: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)


def lattice_scales(net: MLP, theta: ArrayLike, bound: float | Sequence[float]) -> NDArray[np.float64]:
    """The per-layer steps ``bound_l / 127`` of the int8 lattice ``net.space(bound, bits=8)``, checked:
    :class:`qiml.ConfigError` unless every parameter of ``theta`` is on it (an integer multiple of its
    layer's step, at most 127 of them)."""
    t = net.check_theta(theta)
    steps = net.space(bound, bits=8).step
    scales = np.array([steps[net.offsets[l]] for l in range(net.n_layers)])
    check_lattice(net, t, scales, ConfigError)
    return scales


def check_lattice(net: MLP, theta: NDArray[np.float64], scales: NDArray[np.float64],
                  error: type[QimlError]) -> None:
    """Raise ``error`` naming the first parameter of ``theta`` that is not ``scales[layer] * k``, |k| <= 127."""
    for l in range(net.n_layers):
        k = theta[net.offsets[l]:net.offsets[l + 1]] / scales[l]
        off = np.abs(k - np.round(k))
        if np.any(off > 1e-6) or np.any(np.abs(np.round(k)) > LEVELS):
            worst = int(np.argmax(np.where(np.abs(np.round(k)) > LEVELS, np.inf, off)))
            raise error(f"layer {l} is not on its int8 lattice of step {scales[l]:.6g}: parameter "
                        f"{net.offsets[l] + worst} is {k[worst]:.6g} steps (integers in [-127, 127] expected)")


def save_model(path: str | os.PathLike[str], net: Any, theta: ArrayLike | None = None, *,
               scales: ArrayLike | None = None, input_range: float = 1.0,
               metadata: dict[str, Any] | None = None) -> Path:
    """Write ``net`` with parameters ``theta`` (P,) to ``path`` atomically; return the path.

    ``scales`` (n_layers,): the int8 lattice steps when ``theta`` is quantized (from
    :func:`lattice_scales` for a network trained on the lattice, or :func:`qiml.nn.mlp.quantize` for
    post-training quantization); checked, like everything else, before anything is written.
    ``net`` may also be a fitted :class:`qiml.sklearn.QiMLClassifier` (or regressor): its network,
    parameters and lattice (``bits=8`` or 4) are taken, and its ``classes_`` go into the metadata, so
    that class ``k`` of a device means ``classes[k]``.
    """
    if theta is None and hasattr(net, "params_") and isinstance(getattr(net, "net_", None), MLP):
        est = net
        net, theta = est.net_, est.params_
        scales = est.scales_ if scales is None else scales
        extra = {"estimator": type(est).__name__}
        if hasattr(est, "classes_"):
            extra["classes"] = np.asarray(est.classes_).tolist()
        metadata = {**extra, **(metadata or {})}
    if theta is None:
        raise ConfigError("theta is required with a network (or pass a fitted qiml estimator)")
    if not isinstance(net, MLP):
        raise ConfigError(f"model files hold qiml.nn.MLP networks, got {type(net).__name__}")
    t = net.check_theta(theta)
    if not np.isfinite(input_range) or input_range <= 0:
        raise ConfigError(f"input_range must be a finite number > 0, got {input_range!r}")
    quant = None
    if scales is not None:
        s = np.asarray(scales, dtype=float)
        if s.shape != (net.n_layers,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ConfigError(f"scales must be {net.n_layers} finite steps > 0 (one per layer), got {scales!r}")
        check_lattice(net, t, s, ConfigError)
        quant = {"bits": 8, "scales": s.tolist()}
    header = {"qiml_version": __version__,
              "architecture": {"type": "MLP", "layer_sizes": list(net.layer_sizes),
                               "activations": [list(a.names) for a in net.activations]},
              "quantization": quant, "input_range": float(input_range), "metadata": dict(metadata or {})}
    return checkpoint.save({"theta": t, **header}, path, format=FORMAT, noun=_NOUN, error=ModelFileError)


def load_model(path: str | os.PathLike[str]) -> SavedModel:
    """Read a model file written by :func:`save_model`; :class:`qiml.errors.ModelFileError` if it is not one."""
    state = checkpoint.load(path, MAX_BYTES, format=FORMAT, noun=_NOUN, error=ModelFileError)
    arch = state.get("architecture")
    if not isinstance(arch, dict) or arch.get("type") != "MLP":
        raise ModelFileError(f"{path}: the header's architecture is {arch!r}; this version reads MLP networks")
    try:
        net = MLP(arch["layer_sizes"], activation=arch["activations"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise ModelFileError(f"{path}: the header's architecture does not describe a network: {exc}") from exc
    theta = checkpoint.as_array(state.get("theta"), "theta", float) if "theta" in state else None
    if theta is None or theta.shape != (net.n_params,) or not np.all(np.isfinite(theta)):
        raise ModelFileError(f"{path}: theta must be {net.n_params} finite numbers for {net!r}, got "
                             f"{None if theta is None else theta.shape}")
    input_range = state.get("input_range")
    if not isinstance(input_range, (int, float)) or not np.isfinite(input_range) or input_range <= 0:
        raise ModelFileError(f"{path}: input_range must be a number > 0, got {input_range!r}")
    quant, scales = state.get("quantization"), None
    if quant is not None:
        raw = quant.get("scales") if isinstance(quant, dict) else None
        try:
            scales = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            scales = np.full(0, np.nan)
        if (not isinstance(quant, dict) or quant.get("bits") != 8 or scales.shape != (net.n_layers,)
                or not np.all(np.isfinite(scales)) or np.any(scales <= 0)):
            raise ModelFileError(f"{path}: quantization must be {{'bits': 8, 'scales': {net.n_layers} steps > 0}}, "
                                 f"got {quant!r}")
        check_lattice(net, theta, scales, ModelFileError)
    metadata = state.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: metadata must be a mapping, got {type(metadata).__name__}")
    return SavedModel(net, theta, scales, float(input_range), metadata)
