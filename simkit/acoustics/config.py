"""How RIRs are rendered and recorded (:class:`AcousticsConfig`); docs/configuration.md lists its fields."""

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
    # microphone model (simkit.acoustics.mics): binaural (HRTF ears) | phone-stereo | spaced-pair (omni capsules)
    mic: str = "binaural"
    mic_spacing: float | None = setting(None, above=0, unit="m")  # spaced-pair spacing; None = the model's


# fields left out of a config's content dict (and hash) while at these defaults, so configs from before the
# microphone models keep their hash (RenderConfig.content_dict, EgoVideoConfig.config_hash)
OMITTED_AT_DEFAULT = {"mic": "binaural", "mic_spacing": None}


def acoustics_content(d: dict) -> dict:
    """``d`` (an :class:`AcousticsConfig` as a dict) without the fields that are at their omitted default."""
    for key, default in OMITTED_AT_DEFAULT.items():
        if key in d and d[key] == default:
            d.pop(key)
    return d


def check_acoustics_config(ac: AcousticsConfig) -> None:
    """The rules that need this package's knowledge: the preset and the microphone model exist, and the
    microphone settings fit together (simkit.acoustics.mics.check_mic)."""
    from simkit.acoustics.mics import check_mic
    from simkit.acoustics.presets import PRESETS

    check_mic(ac.mic, ac.mic_spacing, ac.hrtf)

    if ac.preset not in PRESETS:
        raise SimkitError(f"acoustics.preset must be one of {', '.join(PRESETS)} (got {ac.preset!r})")
