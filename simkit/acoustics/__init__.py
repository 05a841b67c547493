"""Acoustic engines: binaural RIRs for a scene, materials, ray-count presets and RT60 analysis.

Importing this package registers every backend in :data:`BACKENDS` (``rlr``, ``pyroomacoustics``).
"""

from simkit.acoustics import pyroom as _pyroom  # noqa: F401  (registers "pyroomacoustics")
from simkit.acoustics import rlr as _rlr  # noqa: F401  (registers the "rlr" backend)
from simkit.acoustics.backend import BACKENDS, AcousticBackend, BinauralRIRs, make_backend
from simkit.acoustics.materials import Material, MaterialDatabase
from simkit.acoustics.presets import PRESETS, Preset
from simkit.acoustics.rt60 import rt60_t30, rt60_t30_batch

__all__ = [
    "BACKENDS",
    "PRESETS",
    "AcousticBackend",
    "BinauralRIRs",
    "Material",
    "MaterialDatabase",
    "Preset",
    "make_backend",
    "rt60_t30",
    "rt60_t30_batch",
]
