"""The scene type every engine, sampler and renderer consumes: a triangle mesh in the simkit world frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Scene:
    """A triangle mesh with per-face acoustic material, object instance and colour.

    Coordinates are metres in the world frame of :mod:`simkit.conventions` (+y up). ``face_instance`` is 0
    for structure (walls, floor, ceiling) and 1.. for objects; ``instance_labels`` names them (index 0 =
    "structure"). ``face_material`` indexes ``material_names`` (names from the material database).
    ``floor_y`` is the floor height used for sensor/source heights when the floor is flat; real meshes may
    leave it None and rely on ray-cast floor sampling.
    """

    scene_id: str
    vertices: np.ndarray  # (n, 3) float64
    faces: np.ndarray  # (m, 3) int64
    face_material: np.ndarray  # (m,) int64 into material_names
    material_names: list[str]
    face_instance: np.ndarray  # (m,) int64, 0 = structure
    face_color: np.ndarray  # (m, 3) uint8 base colour
    instance_labels: list[str] = field(default_factory=lambda: ["structure"])
    floor_y: float | None = 0.0
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = len(self.faces)
        for name in ("face_material", "face_instance", "face_color"):
            if len(getattr(self, name)) != m:
                raise ValueError(f"scene {self.scene_id}: {name} has {len(getattr(self, name))} rows, faces {m}")

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corner."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])
