"""The acoustic backend interface: a scene plus listener and source poses in, binaural RIRs out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simkit.acoustics.config import AcousticsConfig
from simkit.errors import SimkitError
from simkit.registry import Registry
from simkit.scenes.scene import Scene


@dataclass
class BinauralRIRs:
    """Direct and indirect two-channel RIRs for every listener x source pair: the ears of a binaural listener
    or the capsules of a microphone model (``acoustics.mic``, :mod:`simkit.acoustics.mics`).

    ``direct`` and ``indirect`` are float32 arrays (L, S, 2, T) with channel 0 = left; T is
    ``round(rir_seconds * sample_rate)`` (tails cut, short responses zero-padded).
    """

    direct: np.ndarray
    indirect: np.ndarray
    sample_rate: int

    def mixed(self, indirect_gain: float) -> np.ndarray:
        """HM3D-SS mixing: direct + gain * indirect."""
        return (self.direct + np.float32(indirect_gain) * self.indirect).astype(np.float32)


class AcousticBackend(Protocol):
    """What a render needs from an acoustic engine."""

    name: str

    def version(self) -> str:
        """Engine identity recorded in the manifest."""

    def hrtf_id(self) -> str:
        """Identity of the HRTF in use (file name + sha256, or ``builtin``)."""

    def hrtf_manifest(self) -> dict | None:
        """The HRTF's identity, licence and rates for the manifest (:meth:`HrtfInfo.manifest_entry`); None when
        the microphone model (``acoustics.mic``) uses no HRTF."""

    def render(
        self,
        scene: Scene,
        listener_positions: np.ndarray,  # (L, 3) world
        listener_quats: np.ndarray,  # (L, 4) [w, x, y, z], local -> world
        source_positions: np.ndarray,  # (S, 3) world
    ) -> BinauralRIRs:
        """Render every listener x source pair; deterministic for equal inputs and config."""


BackendFactory = type  # a class taking (AcousticsConfig, MaterialDatabase)
# Engines register themselves (``@BACKENDS.register("name")`` on the backend class) in any module of
# simkit.acoustics; the registry imports them all the first time it is read, so none needs an import line.
BACKENDS: Registry = Registry("acoustic engine", package="simkit.acoustics")


def make_backend(cfg: AcousticsConfig, materials: object) -> AcousticBackend:
    """Instantiate the backend named by ``cfg.engine``."""
    return BACKENDS.get(cfg.engine)(cfg, materials)


def check_rir_settings(cfg: AcousticsConfig) -> int:
    """Validate the settings every backend shares; returns the RIR length in samples."""
    if isinstance(cfg.sample_rate, bool) or not isinstance(cfg.sample_rate, int) or cfg.sample_rate <= 0:
        raise SimkitError(f"acoustics.sample_rate must be a positive integer, got {cfg.sample_rate!r}")
    if not (isinstance(cfg.rir_seconds, (int, float)) and math.isfinite(cfg.rir_seconds) and cfg.rir_seconds > 0):
        raise SimkitError(f"acoustics.rir_seconds must be positive, got {cfg.rir_seconds!r}")
    return int(round(cfg.rir_seconds * cfg.sample_rate))
