"""Where simkit's package data lives: the material database, the embedded scenes, the bench reference rows.

The one finder of data files, at the bottom of the import graph (it imports nothing of simkit), in the way
pyroomacoustics' ``parameters.py`` locates its ``data/materials.json`` next to the package. Modules that
read package data ask this module for the path and parse the file themselves.

- Scene data (``materials.json``, ``splits.json``, ``procedural/<id>.json``): ``$SIMKIT_SCENES_DIR`` if set;
  else the copy a wheel ships inside the package (``simkit/_embedded/scenes``, made by ``setup.py``); else
  ``scenes/`` of the source checkout (editable installs read it in place).
- Bench reference rows: ``simkit/bench/references/*.csv`` (package data in both wheel and checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SCENES_ENV = "SIMKIT_SCENES_DIR"
_SHIPPED_SCENES = PACKAGE_DIR / "_embedded" / "scenes"
_REFERENCES = PACKAGE_DIR / "bench" / "references"


def scenes_dir() -> Path:
    """The scene data directory: ``$SIMKIT_SCENES_DIR``, else the wheel's copy, else the checkout's ``scenes/``."""
    env = os.environ.get(SCENES_ENV)
    if env:
        return Path(env).expanduser()
    return _SHIPPED_SCENES if _SHIPPED_SCENES.is_dir() else PACKAGE_DIR.parent / "scenes"


def materials_path() -> Path:
    """The embedded acoustic material database, ``<scenes_dir>/materials.json``."""
    return scenes_dir() / "materials.json"


def splits_path() -> Path:
    """The embedded scenes' train/val/test split file, ``<scenes_dir>/splits.json``."""
    return scenes_dir() / "splits.json"


def procedural_dir() -> Path:
    """The folder of the embedded procedural layouts, ``<scenes_dir>/procedural``."""
    return scenes_dir() / "procedural"


def reference_path(name: str) -> Path:
    """A bench reference-row file, ``simkit/bench/references/<name>`` (e.g. ``direction.csv``)."""
    return _REFERENCES / name
