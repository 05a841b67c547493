"""Typed configuration: every default of a render lives here, documented once (see docs/configuration.md).

Configs are plain dataclasses so they serialise to JSON (``to_dict``) and hash stably (``config_hash``);
every run writes its resolved config and hash next to its outputs.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from simkit.data.storage import FLOAT32, StorageConfig
from simkit.errors import SimkitError
from simkit.io import stable_hash

# the audio rates simkit accepts anywhere (render, prepare): 192 kHz is the highest rate of studio audio, above
# it a clip's arrays grow without purpose
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000


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
    storage: StorageConfig = field(default_factory=StorageConfig)  # compact: clips derived on read, int16

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
        """Hash of :meth:`content_dict`; float32 storage is left out of it, so renders made before the
        storage option existed keep their hash and resume with ``--storage float32``."""
        d = self.content_dict()
        if self.storage == FLOAT32:
            d.pop("storage")
        return stable_hash(d)


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Rebuild a (nested) config dataclass from ``to_dict`` output (e.g. a ``--config`` JSON file), checking
    every value's type against the field's annotation. Unknown keys and wrong types raise SimkitError naming
    the dotted field; ranges are checked by :func:`validate_render_config`."""
    if not isinstance(data, dict):
        raise SimkitError(f"config {where or cls.__name__} must be a JSON object (got {_shown(data)})")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else key
        if key not in names:
            raise SimkitError(f"unknown config field {name} (known: {', '.join(sorted(names))})")
        kwargs[key] = _coerce(hints[key], value, name)
    return cls(**kwargs)


def _shown(value: Any) -> str:
    return f"{value!r}" if not isinstance(value, (dict, list)) else type(value).__name__


def _coerce(tp: Any, value: Any, name: str) -> Any:
    """``value`` as type ``tp`` (JSON types in, Python types out), or SimkitError naming ``name``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, str) and hasattr(tp, "named"):  # a preset by name, e.g. "storage": "float32"
            try:
                return tp.named(value)
            except SimkitError as e:
                raise SimkitError(f"config field {name}: {e}") from None
        return from_dict(tp, value, name)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, name) if len(inner) == 1 else value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise SimkitError(f"config field {name} must be a list (got {_shown(value)})")
        if origin is tuple and Ellipsis not in args:
            if len(value) != len(args):
                raise SimkitError(f"config field {name} must have {len(args)} elements (got {len(value)})")
            return tuple(_coerce(a, v, f"{name}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        return origin(_coerce(args[0], v, f"{name}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise SimkitError(f"config field {name} must be true or false (got {_shown(value)})")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SimkitError(f"config field {name} must be an integer (got {_shown(value)})")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SimkitError(f"config field {name} must be a number (got {_shown(value)})")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SimkitError(f"config field {name} must be a string (got {_shown(value)})")
        return value
    return value


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SimkitError(message)


def validate_render_config(cfg: RenderConfig) -> None:
    """Every range rule of a render config, one SimkitError naming the first field that breaks one.

    The CLI and the Python API both go through here (``render_dataset`` calls it before anything is
    written), so they accept exactly the same configs. Types are :func:`from_dict`'s job; a config built in
    Python with a wrong type is caught here too.
    """
    for where, sub in _walk(cfg):
        hints = typing.get_type_hints(type(sub))
        for f in dataclasses.fields(sub):
            value = getattr(sub, f.name)
            if not dataclasses.is_dataclass(value):  # nested configs are walked on their own
                _coerce(hints[f.name], value, f"{where}{f.name}")  # type check only
    _check(cfg.sets_per_scene >= 1, f"sets_per_scene must be >= 1 (got {cfg.sets_per_scene})")
    _check(cfg.seed >= 0, f"seed must be >= 0 (got {cfg.seed})")
    _check(0 <= cfg.compression <= 9, f"compression must be a gzip level 0..9 (got {cfg.compression})")
    cfg.storage.validate()
    ac = cfg.acoustics
    from simkit.acoustics.presets import PRESETS

    _check(ac.preset in PRESETS, f"acoustics.preset must be one of {', '.join(PRESETS)} (got {ac.preset!r})")
    _check(MIN_SAMPLE_RATE <= ac.sample_rate <= MAX_SAMPLE_RATE,
           f"acoustics.sample_rate must be in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz (got {ac.sample_rate})")
    _check(ac.indirect_gain >= 0, f"acoustics.indirect_gain must be >= 0 (got {ac.indirect_gain})")
    _check(0 < ac.rir_seconds <= 10, f"acoustics.rir_seconds must be in (0, 10] (got {ac.rir_seconds})")
    _check(ac.thread_count >= 1, f"acoustics.thread_count must be >= 1 (got {ac.thread_count})")
    from simkit.render.sampling import check_sampling_config

    check_sampling_config(cfg.sampling)
    sp = cfg.speech
    _check(0 < sp.clip_seconds <= 60, f"speech.clip_seconds must be in (0, 60] (got {sp.clip_seconds})")
    _check(sp.min_utterance_seconds >= 0, f"speech.min_utterance_seconds must be >= 0 "
                                          f"(got {sp.min_utterance_seconds})")
    _check(all(x >= 0 for x in sp.speaker_split) and abs(sum(sp.speaker_split) - 1) < 1e-6,
           f"speech.speaker_split must be three shares >= 0 summing to 1 (got {list(sp.speaker_split)})")
    vc = cfg.views
    vc.camera.validate()
    _check(all(0 <= c <= 255 for c in vc.camera.background),
           f"views.camera.background must be RGB values 0..255 (got {list(vc.camera.background)})")
    for k in ("ambient", "headlight", "sun"):
        _check(getattr(vc.camera, k) >= 0, f"views.camera.{k} must be >= 0 (got {getattr(vc.camera, k)})")
    fl = vc.filters
    _check(fl.min_max_depth >= 0 and fl.min_mean_depth >= 0, "views.filters depth thresholds must be >= 0")
    _check(0 <= fl.min_valid_fraction <= 1, f"views.filters.min_valid_fraction must be in [0, 1] "
                                            f"(got {fl.min_valid_fraction})")
    _check(fl.min_shared_instances >= 0 and fl.min_instance_pixels >= 0,
           "views.filters.min_shared_instances and min_instance_pixels must be >= 0")
    _check(vc.filter_tries >= 1, f"views.filter_tries must be >= 1 (got {vc.filter_tries})")
    sc = cfg.scene_set
    _check(sc.unit_scale > 0, f"scene_set.unit_scale must be > 0 (got {sc.unit_scale})")
    _check(sc.up_axis in (None, "x", "y", "z", "-x", "-y", "-z"),
           f"scene_set.up_axis must be one of x, y, z, -x, -y, -z (got {sc.up_axis!r})")


def _walk(obj: Any, where: str = "") -> list[tuple[str, Any]]:
    """``(dotted prefix, dataclass)`` for ``obj`` and every dataclass nested in it."""
    out = [(where, obj)]
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += _walk(value, f"{where}{f.name}.")
    return out
