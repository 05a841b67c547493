"""Acoustic engines: binaural RIRs for a scene, materials, ray-count presets and RT60 analysis.

Every engine is one module of this package that registers its backend class with
``@BACKENDS.register("name")`` (``rlr.py``, ``pyroom.py``); :data:`BACKENDS` imports the package's modules
the first time it is read, so a new engine is one new file and no import line (docs/acoustics.md).
"""

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
