"""Real scene meshes (HM3D, Replica, Matterport3D, Gibson, any glTF/PLY/OBJ) as simkit :class:`Scene` objects.

Frames and units. Every dataset here is in metres; they differ in the up axis of the file. simkit's world
is y-up (:mod:`simkit.conventions`), so a z-up file is rotated by -90 deg about x, ``(x, y, z) -> (x, z, -y)``
(the rotation habitat-sim applies, so positions agree with habitat's). Defaults (override with ``up_axis``):

============  =====================================================  =======
format        files                                                  up axis
============  =====================================================  =======
``hm3d``      ``<NNNNN-id>/<id>.glb`` (+ ``.semantic.glb/.txt``)     y (glTF; HM3D stage configs say up = +y)
``replica``   ``<scene>/habitat/mesh_semantic.ply`` or ``mesh.ply``  z (Replica ships z-up, like Blender)
``mp3d``      ``<scene>/<scene>.glb`` (habitat) or                   z (habitat's MP3D glb/semantic ply are
              ``<scene>/house_segmentations/<scene>.ply`` (raw)        z-up; habitat rotates them to -y gravity)
``gibson``    ``<scene>.glb`` (habitat) or ``<scene>/mesh_z_up.obj``  z
``mesh``      any ``*.glb|*.gltf|*.ply|*.obj`` under the directory    y
============  =====================================================  =======

Semantics (object instances and acoustic materials), where the dataset provides them:

* HM3D: ``<id>.semantic.txt`` lines ``object_id,HEXCOLOUR,"category",region`` and ``<id>.semantic.glb``
  whose faces carry those colours (vertex colours, or a texture sampled at the face's UV centroid);
* Replica: ``habitat/mesh_semantic.ply`` face property ``object_id`` and ``habitat/info_semantic.json``
  (``objects[].id/class_name``, or ``classes`` + ``id_to_label``);
* MP3D: face property ``object_id`` (habitat ``<scene>_semantic.ply``) or ``category_id`` (raw
  house_segmentations ply) resolved through the ``.house`` file's ``O``/``C`` records (mpcat40 names).

When the semantic mesh is a different mesh from the render mesh (HM3D, habitat MP3D), each render face takes
the label of the semantic face nearest to its centroid. The category becomes the face's acoustic material
through ``materials.for_label`` unless ``category_materials`` maps it (a ``{category: material}`` JSON or
dict, or a SoundSpaces material config ``{"materials": [{"name", "labels": [...]}]}``); unlabelled faces
get the database default. Objects whose category is structural (wall, floor, ceiling, ...) are instance 0.

Colour for the camera goes to ``Scene.metadata`` (see :mod:`simkit.vision.camera`): ``textures``,
``face_texture``, ``face_uv`` for glTF/OBJ base-colour textures, ``vertex_color`` for coloured PLY/glTF, and
``procedural_texture = False``. Real meshes have no flat floor: ``floor_y`` is None; use
:func:`floor_candidates` for camera and source placement.

By concern: :mod:`simkit.scenes.mesh_io` reads the files, :mod:`simkit.scenes.semantics` the datasets'
annotations and material mapping, :mod:`simkit.scenes.scene_files` finds scenes and reads split files,
:mod:`simkit.scenes.free_floor` searches free floor; this module turns a file into a :class:`Scene` and
re-exports ``find_scenes``, ``load_split_file`` and ``floor_candidates``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import SimkitError
from simkit.scenes.free_floor import floor_candidates  # noqa: F401  (re-exported)
from simkit.scenes.mesh_io import _read_raw
from simkit.scenes.scene import Scene
from simkit.scenes.scene_files import _scene_name, find_scenes, load_split_file  # noqa: F401  (re-exported)
from simkit.scenes.semantics import _category_map, _hm3d_semantics, _materials_for, _mp3d_semantics, _replica_semantics

FORMATS = ("hm3d", "replica", "mp3d", "gibson", "mesh")
DEFAULT_UP = {"hm3d": "y", "replica": "z", "mp3d": "z", "gibson": "z", "mesh": "y"}
# Categories that are building structure rather than objects: instance 0.
STRUCTURE_LABELS = frozenset({
    "", "wall", "walls", "floor", "ceiling", "void", "unlabeled", "unlabelled", "unknown", "undefined",
    "structure", "background", "misc", "objects", "remove",
})
# Rotation R (new = old @ R.T) taking each file up axis to +y, all proper rotations.
_UP_ROTATIONS = {
    "y": np.eye(3),
    "-y": np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]),
    "z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "x": np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),
    "-x": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
}


# ------------------------------------------------------------------------------------------------ loading
def up_rotation(up_axis: str) -> np.ndarray:
    """Rotation R (world = file @ R.T) that takes a file's ``up_axis`` (x, y, z, -x, -y, -z) to +y."""
    key = up_axis.strip().lower().lstrip("+")
    if key not in _UP_ROTATIONS:
        raise SimkitError(f"unknown up axis {up_axis!r} (use one of x, y, z, -x, -y, -z)")
    return _UP_ROTATIONS[key]


def load_mesh_scene(
    path: str | Path,
    fmt: str,
    materials: Any,
    scene_id: str | None = None,
    up_axis: str | None = None,
    unit_scale: float = 1.0,
    category_materials: dict[str, str] | str | Path | None = None,
    load_textures: bool = True,
) -> Scene:
    """Load a real mesh as a y-up, metre-scale :class:`Scene` with materials and instances.

    ``materials`` is a :class:`simkit.acoustics.materials.MaterialDatabase`; ``up_axis`` overrides the
    format's default (module table); ``unit_scale`` multiplies coordinates into metres;
    ``load_textures=False`` keeps only base colours (e.g. for Basis-compressed HM3D files). Bad input
    (missing, empty or corrupt mesh, a texture that does not decode, bad semantic files) raises a
    one-line SimkitError naming the file.
    """
    if fmt not in FORMATS:
        raise SimkitError(f"unknown scene format {fmt!r} (use one of {', '.join(FORMATS)})")
    p = Path(path)
    if not (isinstance(unit_scale, (int, float)) and np.isfinite(unit_scale) and unit_scale > 0):
        raise SimkitError(f"unit_scale must be a positive number, got {unit_scale!r}")
    rot = up_rotation(up_axis or DEFAULT_UP[fmt])
    name = _scene_name(p, fmt)
    sid = scene_id or name
    raw = _read_raw(p, load_textures)

    sem: tuple[np.ndarray, dict[int, str]] | None = None
    if fmt == "hm3d" and p.suffix.lower() == ".glb":
        sem = _hm3d_semantics(p, raw, load_textures)
    elif fmt == "replica":
        sem = _replica_semantics(p, raw)
    elif fmt == "mp3d":
        sem = _mp3d_semantics(p, raw, name)

    m = len(raw.faces)
    face_label = [""] * m
    face_instance = np.zeros(m, dtype=np.int64)
    instance_labels = ["structure"]
    if sem is not None:
        obj, labels = sem
        uniq, inverse = np.unique(obj, return_inverse=True)
        inst_of: dict[int, int] = {}
        for oid in uniq.tolist():
            cat = labels.get(int(oid), "")
            if int(oid) > 0 and cat.strip().lower() not in STRUCTURE_LABELS:
                inst_of[int(oid)] = len(instance_labels)
                instance_labels.append(f"{cat or 'object'}#{int(oid)}")
        face_instance = np.array([inst_of.get(int(o), 0) for o in uniq], dtype=np.int64)[inverse]
        cats = [labels.get(int(o), "") for o in uniq]
        face_label = [cats[i] for i in inverse]

    uniq_labels = sorted(set(face_label))
    mat_names = _materials_for(uniq_labels, materials, _category_map(category_materials), p)
    material_names = sorted(set(mat_names))
    label_to_mat = {lab: material_names.index(mn) for lab, mn in zip(uniq_labels, mat_names, strict=True)}
    face_material = np.array([label_to_mat[lab] for lab in face_label], dtype=np.int64)

    vertices = (raw.vertices @ rot.T) * float(unit_scale)
    metadata: dict[str, Any] = {
        "source": fmt, "source_path": str(p), "up_axis": up_axis or DEFAULT_UP[fmt],
        "unit_scale": float(unit_scale), "procedural_texture": False,
    }
    if raw.face_texture is not None and load_textures:
        metadata.update(textures=raw.textures, face_texture=raw.face_texture, face_uv=raw.face_uv)
    if raw.vertex_color is not None:
        metadata["vertex_color"] = raw.vertex_color
    return Scene(
        scene_id=sid, vertices=vertices, faces=raw.faces, face_material=face_material,
        material_names=material_names, face_instance=face_instance, face_color=raw.face_color,
        instance_labels=instance_labels, floor_y=None, metadata=metadata,
    )
