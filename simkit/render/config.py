"""A whole ``simkit render`` run (:class:`RenderConfig`), composed of the packages' configs, its checks and
its loader (docs/configuration.md).

Every sub-config lives with the package that uses it (:mod:`simkit.acoustics.config`,
:mod:`simkit.audio.config`, :mod:`simkit.vision.config`, :mod:`simkit.scenes.config`,
:mod:`simkit.data.storage`); :class:`SamplingConfig` is this package's (:mod:`simkit.render.sampling`).
Every run writes its resolved config and hash next to its outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simkit.acoustics.config import AcousticsConfig, acoustics_content, check_acoustics_config
from simkit.audio.config import SpeechConfig, check_speech_config
from simkit.audio.mix import MixConfig, check_mix_config, check_mix_sources
from simkit.config import config_hash, deep_merge, from_dict, read_json_object, set_dotted, setting, to_dict, validate
from simkit.data.storage import FLOAT32, StorageConfig
from simkit.errors import SimkitError
from simkit.render.recipes import get_recipe
from simkit.scenes.config import ScenesConfig
from simkit.vision.config import ViewsConfig, check_views_config


@dataclass
class SamplingConfig:
    """Where cameras and sources go (HM3D-SS protocol); the rules between fields: ``check_sampling_config``."""

    # V views per view set, at one camera position (>= 2: the views of a set give the camera motion)
    views: int = setting(4, min=2, label="sampling.views (--views)")
    sources: int = setting(3, min=1, label="sampling.sources (--sources)")  # S sources per view set
    sensor_height: float = 1.5  # m above the floor (listener ears and camera)
    min_yaw_diff: float = 10.0  # deg, smallest pairwise yaw difference within a view set
    max_yaw_diff: float = 90.0  # deg, largest pairwise yaw difference within a view set
    max_translation: float = setting(0.0, min=0)  # m, optional small random translation of each view
    wall_clearance: float = setting(0.5, min=0)  # m, free horizontal distance from the camera to any obstacle
    source_max_distance: float = 3.0  # m, sources lie within this distance of every camera of the set
    source_min_distance: float = 0.5  # m
    source_height_min: float = 0.7  # m above the floor
    source_height_max: float = 1.7  # m above the floor
    max_tries: int = setting(2000, min=1)  # rejection-sampling budget per view set, then the scene is too small
    # each source is a visible sounding object (simkit.scenes.emitters) standing at its position; its kind
    # sets the source height (source_height_min/max then do not apply)
    visible_sources: bool = False
    # with visible_sources: every source lies inside the camera's field of view of at least this share of
    # the views of its set (rejection sampling); 0 = no requirement
    min_visible_share: float = setting(0.0, min=0, max=1)


# Sampling fields added after the default config's hash was fixed, with their defaults: left out of
# ``content_dict`` at their default so earlier renders keep their hash and bytes.
SAMPLING_ADDED = {"visible_sources": False, "min_visible_share": 0.0}


@dataclass
class RenderConfig:
    """A whole ``simkit render`` run."""

    scenes: list[str] = field(default_factory=list)  # resolved scene ids (empty = the whole embedded set)
    sets_per_scene: int = setting(10, min=1)  # view sets per scene
    seed: int = setting(0, min=0)  # every random choice flows from this seed
    acoustics: AcousticsConfig = field(default_factory=AcousticsConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    scene_set: ScenesConfig = field(default_factory=ScenesConfig)
    compression: int = setting(4, min=0, max=9)  # gzip level of HDF5 datasets
    storage: StorageConfig = field(default_factory=StorageConfig)  # compact: clips derived on read, int16
    recipe: str = ""  # the render recipe the values started from (simkit.render.recipes); "" = none
    mix: MixConfig = field(default_factory=MixConfig)  # the mixed clip per view, distractors, noise (off)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def content_dict(self) -> dict[str, Any]:
        """The part of the config that determines shard contents: not the scene list (shards are per scene)
        nor where the mesh dataset lies on disk (moving it does not change the data)."""
        d = self.to_dict()
        d.pop("scenes")
        d["scene_set"].pop("scene_dir")
        acoustics_content(d["acoustics"])  # the binaural default keeps the hash it had before microphone models
        if not self.recipe:
            d.pop("recipe")  # configs without a recipe keep the bytes and hash they had before recipes existed
        for key, default in SAMPLING_ADDED.items():  # fields added later: absent at their default, as recipe
            if d["sampling"][key] == default:
                d["sampling"].pop(key)
        if self.mix.is_default():
            d.pop("mix")  # likewise renders without a mix
        return d

    def config_hash(self) -> str:
        """Hash of :meth:`content_dict`; float32 storage is left out of it, so renders made before the
        storage option existed keep their hash and resume with ``--storage float32``."""
        d = self.content_dict()
        if self.storage == FLOAT32:
            d.pop("storage")
        return config_hash(d)


def validate_render_config(cfg: RenderConfig) -> None:
    """Every type and range rule of a render config, one SimkitError naming the first field that breaks one.

    The CLI and the Python API both go through here (``render_dataset`` calls it before anything is
    written), so they accept exactly the same configs: the declared types and ranges of every field
    (:func:`simkit.config.validate`), then the rules that need a package's knowledge.
    """
    validate(cfg)
    cfg.storage.validate()
    check_acoustics_config(cfg.acoustics)
    from simkit.render.sampling import check_sampling_config

    check_sampling_config(cfg.sampling)
    check_speech_config(cfg.speech)
    check_views_config(cfg.views)
    check_mix_config(cfg.mix)
    check_mix_sources(cfg.sampling.sources, cfg.mix)


def load_render_config(
    path: Path | str | Mapping[str, Any] | None = None, overrides: dict[str, Any] | None = None,
    recipe: str | None = None,
) -> RenderConfig:
    """The render config of ``simkit render`` (and ``simkit.render``): defaults, the values of ``recipe`` (a
    name of :mod:`simkit.render.recipes`; None = the file's ``recipe``, if any), the JSON file ``path`` or a
    mapping (any subset, nested as ``manifest.json``'s ``config``), then dotted ``overrides`` (None = not
    given), checked.

    The recipe's name is recorded in the config (``recipe``), so a manifest's config reloads to the same hash.
    """
    file = dict(path) if isinstance(path, Mapping) else read_json_object(path) if path is not None else {}
    name = recipe if recipe is not None else file.get("recipe")
    if name is not None and not isinstance(name, str):
        where = "config" if isinstance(path, Mapping) else path
        raise SimkitError(f"{where}: recipe must be a recipe name (got {name!r})")
    d = to_dict(RenderConfig())
    for key, value in (get_recipe(name).overrides() if name else {}).items():
        set_dotted(d, key, value)
    d = deep_merge(d, file)
    d["recipe"] = name or ""
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(d, key, value)
    cfg: RenderConfig = from_dict(RenderConfig, d)
    validate_render_config(cfg)
    return cfg
