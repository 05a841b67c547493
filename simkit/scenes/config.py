"""Where scenes come from (:class:`ScenesConfig`); docs/configuration.md lists its fields."""

from __future__ import annotations

from dataclasses import dataclass

from simkit.config import setting

UP_AXES = ("x", "y", "z", "-x", "-y", "-z")


@dataclass
class ScenesConfig:
    """Where scenes come from: the embedded procedural set, or a directory of real meshes."""

    format: str = "procedural"  # procedural | hm3d | replica | mp3d | gibson | mesh
    scene_dir: str | None = None  # root of the mesh dataset (required unless format is procedural)
    split_file: str | None = None  # train/val/test lists (JSON or txt); None = embedded splits / seeded 81:9:10
    up_axis: str | None = setting(None, choices=UP_AXES)  # override the format's up axis
    unit_scale: float = setting(1.0, above=0)  # multiply mesh coordinates into metres
    category_materials: str | None = None  # {category: material} JSON or SoundSpaces material config
    load_textures: bool = True  # False keeps base colours only (e.g. Basis-compressed HM3D .basis.glb)
