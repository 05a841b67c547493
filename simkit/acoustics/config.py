"""How binaural RIRs are rendered (:class:`AcousticsConfig`); docs/configuration.md lists its fields."""

from __future__ import annotations

from dataclasses import dataclass

from simkit.audio.config import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from simkit.config import setting
from simkit.errors import SimkitError


@dataclass
class AcousticsConfig:
    """How binaural RIRs are rendered."""

    engine: str = "rlr"  # acoustic backend name (simkit.acoustics.BACKENDS)
    # ray-count preset: efficient | fast | default (the engine's / SoundSpaces 2.0's) | high (simkit.acoustics.presets)
    preset: str = "efficient"
    sample_rate: int = setting(16000, min=MIN_SAMPLE_RATE, max=MAX_SAMPLE_RATE, unit="Hz")  # as HM3D-SS
    indirect_gain: float = setting(0.2, min=0)  # mixed RIR = direct + indirect_gain * indirect (HM3D-SS)
    rir_seconds: float = setting(1.0, above=0, max=10)  # stored RIR length; longer tails cut, shorter zero-padded
    hrtf: str | None = None  # path to a SOFA HRTF; None = the engine's built-in HRTF
    # engine threads per context; output depends on it, so it is part of the config
    thread_count: int = setting(1, min=1)


def check_acoustics_config(ac: AcousticsConfig) -> None:
    """The rule that needs this package's knowledge: the preset exists."""
    from simkit.acoustics.presets import PRESETS

    if ac.preset not in PRESETS:
        raise SimkitError(f"acoustics.preset must be one of {', '.join(PRESETS)} (got {ac.preset!r})")
