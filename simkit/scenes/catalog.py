"""Which scenes exist, which split each belongs to, and how a scene id becomes a :class:`Scene`.

Two levels. The embedded procedural set resolves through a small registry of *scene sources*; its data
files live in :func:`simkit.resources.scenes_dir` (``<repo>/scenes``, or ``$SIMKIT_SCENES_DIR``) and
``splits.json`` assigns every embedded scene to train/val/test (81/9/10) by a fixed seeded permutation. A
render works on a :class:`SceneSet` built from :class:`simkit.scenes.config.ScenesConfig`: the embedded set, or a
directory of real meshes (HM3D, Replica, Matterport3D, Gibson, any glTF/PLY/OBJ) with a user split file or,
without one, a seeded 81:9:10 split of the scenes found.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simkit.conventions import SPLITS
from simkit.errors import SimkitError
from simkit.registry import Registry
from simkit.resources import procedural_dir, scenes_dir, splits_path
from simkit.scenes.config import ScenesConfig
from simkit.scenes.layout_io import load_procedural_scene, procedural_scene_ids
from simkit.scenes.scene import Scene

log = logging.getLogger(__name__)

SPLIT_SIZES = {"train": 81, "val": 9, "test": 10}
SPLIT_SEED_KEY = "simkit-splits-v1"  # the permutation's seed is the sha256 of this string


@dataclass(frozen=True)
class SceneSource:
    """A family of scenes: the ids it provides and how to load one."""

    name: str
    ids: Callable[[], list[str]]
    load: Callable[[str], Scene]


SCENE_SOURCES: Registry[SceneSource] = Registry("scene source")


def _load_procedural(scene_id: str) -> Scene:
    return load_procedural_scene(scene_id, procedural_dir())


SCENE_SOURCES.add("procedural", SceneSource("procedural", procedural_scene_ids, _load_procedural))


def embedded_scene_ids() -> list[str]:
    """The 100 embedded procedural scene ids, sorted."""
    return procedural_scene_ids()


def known_scene_ids() -> list[str]:
    """Every scene id any registered source provides, sorted."""
    return sorted({sid for name in SCENE_SOURCES for sid in SCENE_SOURCES.get(name).ids()})


def load_scene(scene_id: str) -> Scene:
    """Load a scene by id from whichever registered source provides it."""
    for name in SCENE_SOURCES:
        source = SCENE_SOURCES.get(name)
        if scene_id in source.ids():
            return source.load(scene_id)
    raise SimkitError(f"unknown scene {scene_id!r} (embedded scenes are proc_000 .. proc_099)")


def make_splits(scene_ids: list[str] | None = None) -> dict[str, list[str]]:
    """The fixed seeded 81/9/10 assignment of the embedded scenes (what ``splits.json`` holds)."""
    ids = sorted(scene_ids if scene_ids is not None else embedded_scene_ids())
    if len(ids) != sum(SPLIT_SIZES.values()):
        raise ValueError(f"split sizes {SPLIT_SIZES} need {sum(SPLIT_SIZES.values())} scenes, got {len(ids)}")
    seed = int.from_bytes(hashlib.sha256(SPLIT_SEED_KEY.encode()).digest()[:8], "little")
    perm = np.random.default_rng(seed).permutation(len(ids))
    out, start = {}, 0
    for split in SPLITS:
        n = SPLIT_SIZES[split]
        out[split] = sorted(ids[int(i)] for i in perm[start:start + n])
        start += n
    return out


def write_splits(path: Path | str | None = None) -> Path:
    """Write :func:`make_splits` to ``path`` (default ``scenes_dir()/splits.json``)."""
    from simkit.io import atomic_write_json

    p = Path(path) if path is not None else splits_path()
    atomic_write_json(p, make_splits())
    return p


def load_splits(path: Path | str | None = None) -> dict[str, list[str]]:
    """Read the split file: ``{"train": [...], "val": [...], "test": [...]}``, disjoint id lists."""
    p = Path(path) if path is not None else splits_path()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SimkitError(f"split file {p} not found") from None
    except (OSError, json.JSONDecodeError) as e:
        raise SimkitError(f"cannot read split file {p} ({e})") from None
    if not isinstance(data, dict) or set(data) != set(SPLITS):
        raise SimkitError(f"split file {p} must hold exactly the keys train, val, test")
    seen: dict[str, str] = {}
    for split in SPLITS:
        ids = data[split]
        if not isinstance(ids, list) or not all(isinstance(s, str) for s in ids):
            raise SimkitError(f"split file {p}: {split!r} must be a list of scene ids")
        for sid in ids:
            if sid in seen:
                raise SimkitError(f"split file {p}: scene {sid} is in both {seen[sid]} and {split}")
            seen[sid] = split
    return {split: list(data[split]) for split in SPLITS}


def split_of(scene_id: str, splits: dict[str, list[str]] | None = None) -> str:
    """The split (train/val/test) of ``scene_id`` according to the split file."""
    splits = splits if splits is not None else load_splits()
    for split in SPLITS:
        if scene_id in splits[split]:
            return split
    raise SimkitError(f"scene {scene_id!r} is in no split of the split file")


def proportional_split(scene_ids: list[str]) -> dict[str, list[str]]:
    """A seeded 81:9:10 split of any scene list, at least one scene per split when there are three or more
    (fewer scenes all go to train). Used for mesh directories that come without a split file."""
    ids = sorted(set(scene_ids))
    n = len(ids)
    if n < len(SPLITS):
        return {"train": ids, "val": [], "test": []}
    total = sum(SPLIT_SIZES.values())
    n_val = max(1, round(n * SPLIT_SIZES["val"] / total))
    n_test = max(1, round(n * SPLIT_SIZES["test"] / total))
    n_val, n_test = min(n_val, n - 2), min(n_test, n - 1 - min(n_val, n - 2))
    seed = int.from_bytes(hashlib.sha256(SPLIT_SEED_KEY.encode()).digest()[:8], "little")
    perm = [ids[int(i)] for i in np.random.default_rng(seed).permutation(n)]
    return {
        "train": sorted(perm[n_val + n_test:]),
        "val": sorted(perm[:n_val]),
        "test": sorted(perm[n_val:n_val + n_test]),
    }


@dataclass
class SceneSet:
    """The scenes a render can draw on: their ids, splits and loader (see :meth:`from_config`)."""

    cfg: ScenesConfig
    splits: dict[str, list[str]]
    paths: dict[str, Path]  # scene id -> mesh file; empty for the procedural set
    unlisted: list[str]  # mesh scenes found on disk but absent from the split file (not rendered)
    absent: list[str]  # scenes the split file lists that are not on disk

    @classmethod
    def from_config(cls, cfg: ScenesConfig | None = None) -> SceneSet:
        """Resolve a :class:`ScenesConfig`; bad directories, formats and split files raise SimkitError."""
        from simkit.scenes.loaders import FORMATS, find_scenes, load_split_file

        cfg = cfg or ScenesConfig()
        if cfg.format == "procedural":
            if cfg.scene_dir:
                raise SimkitError("--scene-dir needs --scene-format (hm3d, replica, mp3d, gibson or mesh)")
            splits = load_split_file(cfg.split_file) if cfg.split_file else load_splits()
            known = set(embedded_scene_ids())
            absent = sorted(s for ids in splits.values() for s in ids if s not in known)
            if absent:
                raise SimkitError(f"split file {cfg.split_file or scenes_dir() / 'splits.json'} names "
                                  f"{len(absent)} scene(s) that do not exist: {', '.join(absent[:5])}"
                                  f"{', ...' if len(absent) > 5 else ''} (embedded scenes are proc_000 .. proc_099)")
            return cls(cfg, splits, {}, [], [])
        if cfg.format not in FORMATS:
            raise SimkitError(f"unknown scene format {cfg.format!r} (use procedural, {', '.join(FORMATS)})")
        if not cfg.scene_dir:
            raise SimkitError(f"--scene-format {cfg.format} needs --scene-dir PATH")
        paths = find_scenes(cfg.scene_dir, cfg.format)
        if cfg.split_file:
            listed = load_split_file(cfg.split_file)
            splits = {k: [s for s in v if s in paths] for k, v in listed.items()}
            absent = sorted(s for v in listed.values() for s in v if s not in paths)
            if absent:  # deliberate: official split files list whole datasets, labs often hold a subset
                log.warning("split file %s lists %d scene(s) not found under %s, left out: %s%s", cfg.split_file,
                            len(absent), cfg.scene_dir, ", ".join(absent[:5]), ", ..." if len(absent) > 5 else "")
            in_split = {s for v in splits.values() for s in v}
            unlisted = sorted(s for s in paths if s not in in_split)
            if not in_split:
                raise SimkitError(f"split file {cfg.split_file} lists none of the {len(paths)} {cfg.format} "
                                  f"scenes under {cfg.scene_dir} (e.g. {next(iter(paths))})")
        else:
            splits, unlisted, absent = proportional_split(list(paths)), [], []
        return cls(cfg, splits, paths, unlisted, absent)

    def ids(self) -> list[str]:
        """Every scene id of the set, sorted."""
        return sorted(s for ids in self.splits.values() for s in ids)

    def split_of(self, scene_id: str) -> str:
        return split_of(scene_id, self.splits)

    def load(self, scene_id: str, materials: Any = None) -> Scene:
        """Load one scene: procedural, or its mesh with ``materials``, a
        :class:`simkit.acoustics.materials.MaterialDatabase` (scenes do not import acoustics: the caller, e.g.
        the render pipeline, passes the embedded database); a mesh scene without one raises SimkitError."""
        if not self.paths:
            return load_scene(scene_id)
        if scene_id not in self.paths:
            raise SimkitError(f"unknown scene {scene_id!r} under {self.cfg.scene_dir}")
        if materials is None:
            raise SimkitError(f"scene {scene_id}: loading a {self.cfg.format} mesh needs a material database")
        from simkit.scenes.loaders import load_mesh_scene

        c = self.cfg
        return load_mesh_scene(
            self.paths[scene_id], c.format, materials, scene_id=scene_id, up_axis=c.up_axis,
            unit_scale=c.unit_scale, category_materials=c.category_materials, load_textures=c.load_textures,
        )

    def describe(self) -> str:
        if not self.paths:
            return "embedded procedural scenes"
        return f"{self.cfg.format} scenes under {self.cfg.scene_dir}"

    def resolve(self, spec: str | None) -> list[str]:
        """Turn a ``--scenes`` value into scene ids of this set.

        ``None``/empty/``all`` -> every scene; an integer N -> the first scenes of each split in proportion
        81/9/10 with at least one per split (nested: a smaller N is a subset of a larger one); otherwise a
        comma list of scene ids (unknown ids raise SimkitError naming them).
        """
        all_ids = self.ids()
        if spec is None or not spec.strip() or spec.strip().lower() == "all":
            if not all_ids:
                raise SimkitError(f"no scenes to render among the {self.describe()}")
            return all_ids
        text = spec.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            n = int(text)
            total = len(all_ids)
            nonempty = [sp for sp in SPLITS if self.splits[sp]]
            if n < len(nonempty):
                raise SimkitError(f"--scenes {n}: need at least {len(nonempty)} scenes (one per non-empty split)")
            if n > total:
                raise SimkitError(f"--scenes {n}: only {total} {self.describe()} exist")
            counts = {sp: max(1, round(n * len(self.splits[sp]) / total)) if self.splits[sp] else 0
                      for sp in ("val", "test")}
            counts["train"] = n - counts["val"] - counts["test"]
            return sorted(sid for sp in SPLITS for sid in sorted(self.splits[sp])[: counts[sp]])
        ids: list[str] = []
        for part in text.split(","):
            sid = part.strip()
            if sid and sid not in ids:
                ids.append(sid)
        known = set(all_ids)
        unknown = [s for s in ids if s not in known]
        if unknown:
            hint = "embedded scenes are proc_000 .. proc_099" if not self.paths else \
                f"{len(known)} scenes in the split under {self.cfg.scene_dir}, e.g. {', '.join(all_ids[:3])}"
            raise SimkitError(f"unknown scene id(s): {', '.join(unknown)} ({hint})")
        if not ids:
            raise SimkitError(f"--scenes {spec!r} names no scene")
        return ids


def resolve_scenes(spec: str | None, scene_set: SceneSet | None = None) -> list[str]:
    """Turn a ``--scenes`` value into scene ids (of the embedded set unless ``scene_set`` is given);
    see :meth:`SceneSet.resolve`."""
    return (scene_set or SceneSet.from_config()).resolve(spec)
