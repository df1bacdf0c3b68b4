"""Deployment: trained int8 networks as model files, integer inference, portable C and 6502 programs.

:mod:`~qiml.deploy.model_file` saves and loads networks without pickle; :mod:`~qiml.deploy.integer`
is the integer reference every device reproduces bit for bit; :mod:`~qiml.deploy.c_export` writes
it as portable C99; :mod:`~qiml.deploy.m6502` builds it for a 6502 with cc65 and runs it in two
emulators (:mod:`~qiml.deploy.emulators`).
"""

from .integer import IntegerNetwork, integer_reference
from .model_file import SavedModel, lattice_scales, load_model, save_model

__all__ = ["IntegerNetwork", "integer_reference", "SavedModel", "save_model", "load_model", "lattice_scales"]
