"""Typed configuration: every default of a render lives here, documented once (see docs/configuration.md).

Configs are plain dataclasses so they serialise to JSON (``to_dict``) and hash stably (``config_hash``);
every run writes its resolved config and hash next to its outputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from simkit.io import stable_hash


@dataclass
class AcousticsConfig:
    """How binaural RIRs are rendered."""

    engine: str = "rlr"  # acoustic backend name (simkit.acoustics.BACKENDS)
    preset: str = "default"  # ray-count preset: fast | default | high (simkit.acoustics.presets)
    sample_rate: int = 16000  # Hz, as HM3D-SS
    indirect_gain: float = 0.2  # mixed RIR = direct + indirect_gain * indirect (HM3D-SS)
    rir_seconds: float = 1.0  # stored RIR length; longer tails are cut, shorter ones zero-padded
    hrtf: str | None = None  # path to a SOFA HRTF; None = the engine's built-in HRTF
    thread_count: int = 1  # engine threads per context; output depends on it, so it is part of the config


@dataclass
class SamplingConfig:
    """Where cameras and sources go (HM3D-SS protocol)."""

    views: int = 4  # V views per view set, at one camera position
    sources: int = 3  # S sources per view set
    sensor_height: float = 1.5  # m above the floor (listener ears and camera)
    min_yaw_diff: float = 10.0  # deg, smallest pairwise yaw difference within a view set
    max_yaw_diff: float = 90.0  # deg, largest pairwise yaw difference within a view set
    max_translation: float = 0.0  # m, optional small random translation of each view from the position
    wall_clearance: float = 0.5  # m, free horizontal distance from the camera to any wall or obstacle
    source_max_distance: float = 3.0  # m, sources lie within this distance of every camera of the set
    source_min_distance: float = 0.5  # m
    source_height_min: float = 0.7  # m above the floor
    source_height_max: float = 1.7  # m above the floor
    max_tries: int = 2000  # rejection-sampling budget per view set before the scene is reported as too small


@dataclass
class SpeechConfig:
    """What the sources say."""

    corpus: str | None = None  # LibriSpeech root (the folder holding train-clean-100/ etc.); None = espeak-ng
    clip_seconds: float = 2.55  # length of every mono/binaural clip (SLfM)
    min_utterance_seconds: float = 10.0  # LibriSpeech utterances shorter than this are skipped (SLfM)
    speaker_split: tuple[float, float, float] = (0.7, 0.2, 0.1)  # train/val/test share of speakers (SLfM)


@dataclass
class RenderConfig:
    """A whole ``simkit render`` run."""

    scenes: list[str] = field(default_factory=list)  # resolved scene ids (empty = the whole embedded set)
    sets_per_scene: int = 10  # view sets per scene
    seed: int = 0  # every random choice flows from this seed
    acoustics: AcousticsConfig = field(default_factory=AcousticsConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    compression: int = 4  # gzip level of HDF5 datasets

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def content_dict(self) -> dict[str, Any]:
        """The part of the config that determines shard contents (the scene list is not: shards are per scene)."""
        d = self.to_dict()
        d.pop("scenes")
        return d

    def config_hash(self) -> str:
        return stable_hash(self.content_dict())


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (nested) config dataclass from ``to_dict`` output; unknown keys raise ValueError."""
    kwargs = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in fields:
            raise ValueError(f"unknown config field {cls.__name__}.{key}")
        ftype = fields[key].type
        sub = _DATACLASSES.get(ftype if isinstance(ftype, str) else getattr(ftype, "__name__", ""))
        if sub is not None and isinstance(value, dict):
            value = from_dict(sub, value)
        elif isinstance(value, list) and key == "speaker_split":
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


_DATACLASSES: dict[str, type] = {
    "AcousticsConfig": AcousticsConfig,
    "SamplingConfig": SamplingConfig,
    "SpeechConfig": SpeechConfig,
}
