"""Scenes: the mesh type, the embedded procedural apartments, the scene catalog/splits and ray casting.

Names are imported lazily: importing the package does not load the catalog, the generator or the ray caster.
"""

from __future__ import annotations

import importlib
from typing import Any

from simkit.scenes.scene import Scene

_LAZY = {
    "embedded_scene_ids": "simkit.scenes.catalog",
    "load_scene": "simkit.scenes.catalog",
    "load_splits": "simkit.scenes.catalog",
    "resolve_scenes": "simkit.scenes.catalog",
    "split_of": "simkit.scenes.catalog",
    "generate_scene": "simkit.scenes.generator",
    "RayCaster": "simkit.scenes.raycast",
}

__all__ = ["Scene", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simkit.scenes' has no attribute {name!r}")
