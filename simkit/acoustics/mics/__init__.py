"""Microphone models: what records the two channels of a render (``acoustics.mic``; docs/acoustics.md,
"Microphones").

A model is one module of this package that registers a :class:`MicModel` with ``MICS.add(...)``
(``binaural.py``, ``phone_stereo.py``, ``spaced_pair.py``); :data:`MICS` imports the package's modules the
first time it is read, so a new model is one new file. ``binaural`` is the engine's HRTF listener (two ears on
a head); every other model is a set of omnidirectional capsules at fixed offsets in the listener frame
(:mod:`simkit.conventions`: +x right, +y up, -z front), which the engines render as one omnidirectional
listener per capsule, rotated and moved with the view. Channel 0 is always the left capsule (+90 deg side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simkit.conventions import RIGHT
from simkit.errors import SimkitError
from simkit.registry import Registry

BINAURAL = "binaural"  # the default model: the engine's HRTF listener
MAX_SPACING = 10.0  # m, largest acoustics.mic_spacing accepted (a pair wider than a room is a typo)


@dataclass(frozen=True)
class MicModel:
    """A two-channel microphone: an HRTF listener (``spacing is None`` and not ``spacing_option``) or two
    omnidirectional capsules on the listener's left-right axis, ``spacing`` metres apart, centred on the
    listener position (the camera)."""

    name: str
    description: str
    source: str  # where the geometry comes from (spec, teardown, or why simkit chose it)
    spacing: float | None = None  # m between the capsules; None = not a capsule pair (binaural)
    spacing_option: bool = False  # acoustics.mic_spacing may replace ``spacing``

    @property
    def omni(self) -> bool:
        """True for a pair of omnidirectional capsules (no HRTF)."""
        return self.spacing is not None

    def resolved_spacing(self, mic_spacing: float | None) -> float | None:
        """The capsule spacing (m) with ``acoustics.mic_spacing`` applied; None for binaural."""
        if mic_spacing is not None and self.spacing_option:
            return float(mic_spacing)
        return self.spacing

    def capsules(self, mic_spacing: float | None = None) -> np.ndarray | None:
        """(2, 3) capsule offsets in the listener frame, row 0 = left (channel 0); None for binaural."""
        d = self.resolved_spacing(mic_spacing)
        if d is None:
            return None
        return np.stack([-0.5 * d * RIGHT, 0.5 * d * RIGHT]) + 0.0  # + 0.0: no -0.0 in manifests

    def manifest_entry(self, mic_spacing: float | None = None) -> dict[str, Any]:
        """What a render manifest records about the microphone."""
        entry: dict[str, Any] = {"name": self.name, "description": self.description, "source": self.source}
        d = self.resolved_spacing(mic_spacing)
        if d is not None:
            entry.update(kind="omni-pair", spacing_m=d, capsules_listener_frame=self.capsules(mic_spacing).tolist(),
                         channels=["left capsule (+90 deg side)", "right capsule (-90 deg side)"])
        else:
            entry.update(kind="binaural", channels=["left ear", "right ear"])
        return entry


MICS: Registry[MicModel] = Registry("microphone model", package="simkit.acoustics.mics")


def add_mic(model: MicModel) -> MicModel:
    """Register ``model`` under its name."""
    MICS.add(model.name, model)
    return model


def get_mic(name: str) -> MicModel:
    """The model called ``name`` (one SimkitError listing the known ones otherwise)."""
    return MICS.get(name)


def check_mic(mic: str, mic_spacing: float | None, hrtf: str | None) -> MicModel:
    """The rules of ``acoustics.mic`` / ``mic_spacing`` / ``hrtf`` together; returns the model."""
    if not isinstance(mic, str):
        raise SimkitError(f"acoustics.mic must be a microphone model name (got {mic!r})")
    model = get_mic(mic)
    if mic_spacing is not None:
        if not model.spacing_option:
            settable = ", ".join(n for n, m in MICS.items() if m.spacing_option)
            raise SimkitError(f"acoustics.mic_spacing (--mic-spacing) applies to {settable} only, not to "
                              f"--mic {mic}")
        if (isinstance(mic_spacing, bool) or not isinstance(mic_spacing, (int, float))
                or not math.isfinite(mic_spacing) or not 0 < mic_spacing <= MAX_SPACING):
            raise SimkitError(f"acoustics.mic_spacing must be in (0, {MAX_SPACING:g}] m (got {mic_spacing!r})")
    if hrtf and model.omni:
        raise SimkitError(f"acoustics.hrtf (--hrtf) applies to --mic {BINAURAL} only; --mic {mic} records with "
                          "omnidirectional capsules")
    return model


def capsule_offsets(mic: str, mic_spacing: float | None) -> np.ndarray | None:
    """(2, 3) listener-frame capsule offsets of ``mic`` (row 0 = left), or None for an HRTF listener."""
    return get_mic(mic).capsules(mic_spacing)


def capsule_positions(offsets: np.ndarray, positions: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """World positions (L, C, 3) of capsules at listener-frame ``offsets`` (C, 3) for listeners at
    ``positions`` (L, 3) with local -> world ``rotations`` (L, 3, 3)."""
    return np.asarray(positions, dtype=np.float64)[:, None, :] + np.einsum("lij,cj->lci", rotations, offsets)
