"""The shipped procedural layouts: their ids, their files (``scenes/procedural/<id>.json``) and canonical text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from simkit.errors import SimkitError
from simkit.scenes.boxmesh import build_scene
from simkit.scenes.scene import Scene

LAYOUT_SCHEMA = 1
SCENE_PREFIX = "proc_"
N_SCENES = 100


def procedural_scene_ids() -> list[str]:
    """The ids of the embedded procedural scenes, ``proc_000`` ... ``proc_099``."""
    return [f"{SCENE_PREFIX}{i:03d}" for i in range(N_SCENES)]


def layout_path(scene_id: str, directory: Path | str) -> Path:
    """Where the shipped layout of ``scene_id`` lives inside ``directory``."""
    return Path(directory) / f"{scene_id}.json"


def load_layout(scene_id: str, directory: Path | str) -> dict[str, Any]:
    """Read a shipped layout JSON; a missing or malformed file raises SimkitError naming it."""
    path = layout_path(scene_id, directory)
    try:
        layout = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SimkitError(f"scene {scene_id}: layout file {path} not found (regenerate with "
                          "`simkit scenes generate --write scenes/procedural`)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise SimkitError(f"scene {scene_id}: cannot read layout {path} ({e})") from None
    if not isinstance(layout, dict):
        raise SimkitError(f"scene {scene_id}: layout {path} is not a JSON object")
    if layout.get("scene_id") != scene_id:
        raise SimkitError(f"scene {scene_id}: layout {path} is for scene {layout.get('scene_id')!r}")
    return layout


def load_procedural_scene(scene_id: str, directory: Path | str) -> Scene:
    """Build the mesh of ``scene_id`` from its shipped layout JSON in ``directory``."""
    return build_scene(load_layout(scene_id, directory))


_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]")


def layout_json(layout: dict[str, Any]) -> str:
    """Canonical text of a layout file (sorted keys, 1-space indent, number lists on one line)."""
    text = json.dumps(layout, indent=1, sort_keys=True)
    text = _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    return text + "\n"


