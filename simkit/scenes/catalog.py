"""Which scenes exist, which split each belongs to, and how a scene id becomes a :class:`Scene`.

Scene ids resolve through a small registry of *scene sources* (the embedded procedural set today; real
meshes register another source). The data files live in :func:`scenes_dir` (``<repo>/scenes``, or
``$SIMKIT_SCENES_DIR``); the split file ``splits.json`` assigns every embedded scene to train/val/test
(81/9/10) by a fixed seeded permutation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import simkit
from simkit.errors import SimkitError
from simkit.registry import Registry
from simkit.scenes import procedural
from simkit.scenes.scene import Scene

SPLITS = ("train", "val", "test")
SPLIT_SIZES = {"train": 81, "val": 9, "test": 10}
SPLIT_SEED_KEY = "simkit-splits-v1"  # the permutation's seed is the sha256 of this string


def scenes_dir() -> Path:
    """The scene data directory: ``$SIMKIT_SCENES_DIR`` if set, else ``scenes/`` beside the package."""
    env = os.environ.get("SIMKIT_SCENES_DIR")
    if env:
        return Path(env).expanduser()
    return Path(simkit.__file__).resolve().parents[1] / "scenes"


@dataclass(frozen=True)
class SceneSource:
    """A family of scenes: the ids it provides and how to load one."""

    name: str
    ids: Callable[[], list[str]]
    load: Callable[[str], Scene]


SCENE_SOURCES: Registry[SceneSource] = Registry("scene source")


def _load_procedural(scene_id: str) -> Scene:
    return procedural.load_procedural_scene(scene_id, scenes_dir() / "procedural")


SCENE_SOURCES.add("procedural", SceneSource("procedural", procedural.procedural_scene_ids, _load_procedural))


def embedded_scene_ids() -> list[str]:
    """The 100 embedded procedural scene ids, sorted."""
    return procedural.procedural_scene_ids()


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

    p = Path(path) if path is not None else scenes_dir() / "splits.json"
    atomic_write_json(p, make_splits())
    return p


def load_splits(path: Path | str | None = None) -> dict[str, list[str]]:
    """Read the split file: ``{"train": [...], "val": [...], "test": [...]}``, disjoint id lists."""
    p = Path(path) if path is not None else scenes_dir() / "splits.json"
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


def resolve_scenes(spec: str | None) -> list[str]:
    """Turn a ``--scenes`` value into scene ids.

    ``None``/empty/``all`` -> all 100 embedded scenes; an integer N (3..100) -> the first scenes of each split
    in proportion 81/9/10 with at least one per split (nested: a smaller N is a subset of a larger one);
    otherwise a comma list of scene ids (unknown ids raise SimkitError naming them).
    """
    if spec is None or not spec.strip() or spec.strip().lower() == "all":
        return embedded_scene_ids()
    text = spec.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        n = int(text)
        total = len(embedded_scene_ids())
        if n < len(SPLITS):
            raise SimkitError(f"--scenes {n}: need at least 3 scenes (one per train/val/test split)")
        if n > total:
            raise SimkitError(f"--scenes {n}: only {total} embedded scenes exist")
        splits = load_splits()
        n_val = max(1, round(n * SPLIT_SIZES["val"] / total))
        n_test = max(1, round(n * SPLIT_SIZES["test"] / total))
        counts = {"train": n - n_val - n_test, "val": n_val, "test": n_test}
        return sorted(sid for split in SPLITS for sid in sorted(splits[split])[: counts[split]])
    ids: list[str] = []
    for part in text.split(","):
        sid = part.strip()
        if sid and sid not in ids:
            ids.append(sid)
    known = set(known_scene_ids())
    unknown = [s for s in ids if s not in known]
    if unknown:
        names = ", ".join(unknown)
        raise SimkitError(f"unknown scene id(s): {names} (embedded scenes are proc_000 .. proc_099)")
    if not ids:
        raise SimkitError(f"--scenes {spec!r} names no scene")
    return ids
