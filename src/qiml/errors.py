"""Exception types of qiml.

Every error qiml raises on bad input derives from :class:`QimlError` and from the built-in
type a caller would catch anyway (``ValueError``, ``RuntimeError``), so both
``except qiml.QimlError`` and ``except ValueError`` work.
"""

from __future__ import annotations


class QimlError(Exception):
    """Base class of all qiml errors."""


class BoundsError(QimlError, ValueError):
    """Parameter bounds or lattice steps are invalid (inverted, infinite, NaN, wrong shape)."""


class ConfigError(QimlError, ValueError):
    """An option has an invalid value (grid too small, hbar <= 0, unknown solver, ...)."""


class ObjectiveError(QimlError, RuntimeError):
    """The objective raised, returned the wrong shape, or returned NaN / -inf."""


class ShapeError(QimlError, ValueError):
    """An array passed to qiml has the wrong shape (e.g. ``tell`` with other rows than ``ask``)."""


class CheckpointError(QimlError, ValueError):
    """A checkpoint or state dict is corrupt, truncated, of another version or another problem."""


class ModelFileError(QimlError, ValueError):
    """A model file is corrupt, truncated, of another version, or not a qiml model file."""


class DeployError(QimlError, RuntimeError):
    """A deployment step failed: a toolchain is missing, a compiler or an emulator failed."""
