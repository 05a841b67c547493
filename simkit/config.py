"""Typed configuration: every default of a render lives here, documented once (see docs/configuration.md).

Configs are plain dataclasses so they serialise to JSON (``to_dict``) and hash stably (``config_hash``);
every run writes its resolved config and hash next to its outputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from simkit.data.storage import StorageConfig
from simkit.errors import SimkitError
from simkit.io import stable_hash


@dataclass
class AcousticsConfig:
    """How binaural RIRs are rendered."""

    engine: str = "rlr"  # acoustic backend name (simkit.acoustics.BACKENDS)
    # ray-count preset: efficient | fast | default (the engine's / SoundSpaces 2.0's) | high (simkit.acoustics.presets)
    preset: str = "efficient"
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
class CameraConfig:
    """Pinhole camera of the views (HM3D-SS: 320x240, 60 deg horizontal FOV, pitched 22.5 deg down)."""

    width: int = 320  # pixels
    height: int = 240  # pixels
    hfov_deg: float = 60.0  # horizontal field of view
    pitch_deg: float = -22.5  # camera tilt about its right axis, negative = looking down
    ambient: float = 0.35  # shading: constant term
    headlight: float = 0.45  # shading: light at the camera, weight of |n . view|
    sun: float = 0.25  # shading: fixed light from above, weight of max(0, n . l)
    background: tuple[int, int, int] = (0, 0, 0)  # RGB where a ray hits nothing (depth 0, instance 0)

    def validate(self) -> None:
        if self.width < 1 or self.height < 1:
            raise SimkitError(f"camera size must be positive (got {self.width}x{self.height})")
        if not 0.0 < self.hfov_deg < 180.0:
            raise SimkitError(f"camera hfov_deg must be in (0, 180) (got {self.hfov_deg})")
        if not -90.0 <= self.pitch_deg <= 90.0:
            raise SimkitError(f"camera pitch_deg must be in [-90, 90] (got {self.pitch_deg})")

    @property
    def focal_px(self) -> float:
        """Focal length in pixels."""
        import math

        return 0.5 * self.width / math.tan(math.radians(self.hfov_deg) / 2.0)


@dataclass
class ViewFilterConfig:
    """Thresholds of the HM3D-SS view filters (:mod:`simkit.vision.filters`)."""

    min_max_depth: float = 4.0  # m, the farthest visible surface must be at least this far
    min_mean_depth: float = 1.0  # m, mean depth over pixels that hit a surface
    min_valid_fraction: float = 0.9  # share of pixels that must hit a surface (mesh holes read as depth 0)
    min_shared_instances: int = 1  # K: objects both partner views must show
    min_instance_pixels: int = 200  # P: pixels an object needs in a view to count as visible (at 320x240)


@dataclass
class ViewsConfig:
    """Whether and how the RGB / depth / instance views of every view set are rendered and filtered."""

    enabled: bool = True  # False = --no-views: no images, no view filters
    camera: CameraConfig = field(default_factory=CameraConfig)
    filters: ViewFilterConfig = field(default_factory=ViewFilterConfig)
    apply_filters: bool = True  # resample view sets that fail the filters (up to filter_tries)
    filter_tries: int = 20  # view sets sampled per kept set; if none passes, the first is kept and flagged


@dataclass
class ScenesConfig:
    """Where scenes come from: the embedded procedural set, or a directory of real meshes."""

    format: str = "procedural"  # procedural | hm3d | replica | mp3d | gibson | mesh
    scene_dir: str | None = None  # root of the mesh dataset (required unless format is procedural)
    split_file: str | None = None  # train/val/test lists (JSON or txt); None = embedded splits / seeded 81:9:10
    up_axis: str | None = None  # override the format's up axis (x, y, z, -x, -y, -z)
    unit_scale: float = 1.0  # multiply mesh coordinates into metres
    category_materials: str | None = None  # {category: material} JSON or SoundSpaces material config
    load_textures: bool = True  # False keeps base colours only (e.g. Basis-compressed HM3D .basis.glb)


@dataclass
class RenderConfig:
    """A whole ``simkit render`` run."""

    scenes: list[str] = field(default_factory=list)  # resolved scene ids (empty = the whole embedded set)
    sets_per_scene: int = 10  # view sets per scene
    seed: int = 0  # every random choice flows from this seed
    acoustics: AcousticsConfig = field(default_factory=AcousticsConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    scene_set: ScenesConfig = field(default_factory=ScenesConfig)
    compression: int = 4  # gzip level of HDF5 datasets
    storage: StorageConfig = field(default_factory=StorageConfig)  # audio codec (simkit.data.storage)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def content_dict(self) -> dict[str, Any]:
        """The part of the config that determines shard contents: not the scene list (shards are per scene)
        nor where the mesh dataset lies on disk (moving it does not change the data)."""
        d = self.to_dict()
        d.pop("scenes")
        d["scene_set"].pop("scene_dir")
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
        elif isinstance(value, list) and key in ("speaker_split", "background"):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


_DATACLASSES: dict[str, type] = {
    "AcousticsConfig": AcousticsConfig,
    "SamplingConfig": SamplingConfig,
    "SpeechConfig": SpeechConfig,
    "CameraConfig": CameraConfig,
    "ViewFilterConfig": ViewFilterConfig,
    "ViewsConfig": ViewsConfig,
    "ScenesConfig": ScenesConfig,
    "StorageConfig": StorageConfig,
}
