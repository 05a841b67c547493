"""Mesh of a procedural layout: the exact boundary of the apartment's free air as a :class:`Scene`.

The free air is the union of room boxes and door passages minus furniture boxes; the mesh is the exact
boundary of that air volume (closed, every face normal pointing into the air), built on the grid of all box
coordinates and merged into large rectangles, so a 4-room furnished apartment stays at a few hundred
triangles. Layout schema: docs/scenes.md; layouts come from :mod:`simkit.scenes.generator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simkit.errors import SimkitError
from simkit.scenes.scene import Scene

# The acoustic material names of scenes/materials.json; face_material indexes this list in every scene.
MATERIAL_NAMES: list[str] = [
    "plaster", "concrete", "brick", "woodfloor", "carpet", "ceramic", "acoustictile", "curtain", "glass",
    "woodpanel", "sofa", "furniture", "metal", "default",
]
_MAT_INDEX = {m: i for i, m in enumerate(MATERIAL_NAMES)}


def _greedy_rects(grid: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """Cover the cells of a 2-D key grid (-1 = empty) by maximal-ish rectangles of equal key.

    Returns ``(i0, i1, j0, j1, key)`` half-open index ranges.
    """
    used = grid < 0
    rows, cols = grid.shape
    out = []
    for i, j in zip(*np.nonzero(~used), strict=True):
        if used[i, j]:
            continue
        k = grid[i, j]
        j1 = j + 1
        while j1 < cols and not used[i, j1] and grid[i, j1] == k:
            j1 += 1
        i1 = i + 1
        while i1 < rows and np.all(grid[i1, j:j1] == k) and not np.any(used[i1, j:j1]):
            i1 += 1
        used[i:i1, j:j1] = True
        out.append((int(i), int(i1), int(j), int(j1), int(k)))
    return out


def _validate_layout(layout: dict[str, Any]) -> None:
    sid = layout.get("scene_id", "?")
    for key in ("rooms", "doors", "obstacles", "patches"):
        if not isinstance(layout.get(key), list):
            raise SimkitError(f"scene layout {sid}: missing list {key!r}")
    if not layout["rooms"]:
        raise SimkitError(f"scene layout {sid}: no rooms")
    mats = [o["material"] for o in layout["obstacles"] + layout["patches"]]
    mats += [s["material"] for rm in layout["rooms"] for s in rm["surfaces"].values()]
    for m in mats:
        if m not in _MAT_INDEX:
            known = ", ".join(MATERIAL_NAMES)
            raise SimkitError(f"scene layout {sid}: unknown material {m!r} (known: {known})")


def build_scene(layout: dict[str, Any]) -> Scene:
    """Mesh a layout: the closed boundary of the apartment's free air, normals pointing into the air."""
    _validate_layout(layout)
    rooms, doors = layout["rooms"], layout["doors"]
    objects = layout["obstacles"] + layout["patches"]

    def box3(mn: Sequence[float], mx: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        return np.round(np.asarray(mn, dtype=np.float64), 4), np.round(np.asarray(mx, dtype=np.float64), 4)

    room_boxes = [box3([rm["min"][0], 0.0, rm["min"][1]], [rm["max"][0], rm["height"], rm["max"][1]])
                  for rm in rooms]
    door_boxes = [box3(d["min"], d["max"]) for d in doors]
    obj_boxes = [box3(o["min"], o["max"]) for o in objects]
    all_boxes = room_boxes + door_boxes + obj_boxes
    coords = [np.unique(np.concatenate([[b[0][a], b[1][a]] for b in all_boxes])) for a in range(3)]
    shape = tuple(len(c) - 1 for c in coords)

    def cells(mn: np.ndarray, mx: np.ndarray) -> tuple[slice, slice, slice]:
        return tuple(  # type: ignore[return-value]
            slice(int(np.searchsorted(coords[a], mn[a])), int(np.searchsorted(coords[a], mx[a])))
            for a in range(3)
        )

    room_of = np.full(shape, -1, dtype=np.int64)  # air cell -> room index; -1 = solid
    passage = np.zeros(shape, dtype=bool)
    solid = np.zeros(shape, dtype=np.int64)  # solid cell -> instance id (0 = structure)
    for r, (mn, mx) in enumerate(room_boxes):
        room_of[cells(mn, mx)] = r
    for d, (mn, mx) in zip(doors, door_boxes, strict=True):
        sl = cells(mn, mx)
        room_of[sl] = int(d["rooms"][0])
        passage[sl] = True
    n_obstacles = len(layout["obstacles"])
    for n, (o, (mn, mx)) in enumerate(zip(objects, obj_boxes, strict=True)):
        sl = cells(mn, mx)
        inside_air = room_of[sl] >= 0
        if n < n_obstacles:
            room_of[sl] = -1
            solid[sl] = int(o["instance"])
        else:
            # patches only recolour the structure behind a boundary, never carve the air
            solid[sl] = np.where(inside_air, solid[sl], int(o["instance"]))

    # face keys: (material index, rgb, instance)
    key_table: list[tuple[int, tuple[int, int, int], int]] = []
    key_ids: dict[tuple[int, tuple[int, int, int], int], int] = {}

    def key(material: str, color: Sequence[int], instance: int) -> int:
        k = (_MAT_INDEX[material], (int(color[0]), int(color[1]), int(color[2])), int(instance))
        if k not in key_ids:
            key_ids[k] = len(key_table)
            key_table.append(k)
        return key_ids[k]

    n_inst = 1 + max([int(o["instance"]) for o in objects], default=0)
    obj_key = np.full(n_inst, -1, dtype=np.int64)
    for o in objects:
        obj_key[int(o["instance"])] = key(o["material"], o["color"], int(o["instance"]))
    surf_names = ("floor", "walls", "ceiling")
    room_key = np.array([[key(rm["surfaces"][s]["material"], rm["surfaces"][s]["color"], 0)
                          for s in surf_names]
                         for rm in rooms], dtype=np.int64)

    vert_ids: dict[tuple[int, int, int], int] = {}
    verts: list[tuple[float, float, float]] = []
    tris: list[tuple[int, int, int]] = []
    tri_key: list[int] = []

    def vid(idx: tuple[int, int, int]) -> int:
        if idx not in vert_ids:
            vert_ids[idx] = len(verts)
            verts.append((float(coords[0][idx[0]]), float(coords[1][idx[1]]), float(coords[2][idx[2]])))
        return vert_ids[idx]

    for axis in range(3):
        ra = np.pad(np.moveaxis(room_of, axis, 0), ((1, 1), (0, 0), (0, 0)), constant_values=-1)
        sa = np.pad(np.moveaxis(solid, axis, 0), ((1, 1), (0, 0), (0, 0)), constant_values=0)
        lo_r, hi_r, lo_s, hi_s = ra[:-1], ra[1:], sa[:-1], sa[1:]
        b_axis, c_axis = [a for a in range(3) if a != axis]
        for sign in (-1, 1):
            # sign -1: air on the low side, face normal -axis; +1: air on the high side, normal +axis
            if sign < 0:
                mask = (lo_r >= 0) & (hi_r < 0)
                air_room, solid_id = lo_r, hi_s
            else:
                mask = (lo_r < 0) & (hi_r >= 0)
                air_room, solid_id = hi_r, lo_s
            # surface index into room_key: 0 floor (air above), 1 walls, 2 ceiling (air below)
            surf = (2 if sign < 0 else 0) if axis == 1 else 1
            keys = np.where(solid_id > 0, obj_key[solid_id], room_key[np.maximum(air_room, 0), surf])
            keys = np.where(mask, keys, -1)
            for p in np.nonzero(keys.reshape(keys.shape[0], -1).max(axis=1) >= 0)[0]:
                for i0, i1, j0, j1, k in _greedy_rects(keys[p]):
                    corners = [(i0, j0), (i1, j0), (i1, j1), (i0, j1)]
                    ids = []
                    for bi, ci in corners:
                        idx = [0, 0, 0]
                        idx[axis], idx[b_axis], idx[c_axis] = int(p), bi, ci
                        ids.append(vid((idx[0], idx[1], idx[2])))
                    # winding so the right-hand normal points into the air (along sign * axis)
                    e1 = np.subtract(verts[ids[1]], verts[ids[0]])
                    e2 = np.subtract(verts[ids[2]], verts[ids[0]])
                    if np.cross(e1, e2)[axis] * sign < 0:
                        ids = ids[::-1]
                    tris.extend([(ids[0], ids[1], ids[2]), (ids[0], ids[2], ids[3])])
                    tri_key.extend([k, k])

    kt = [key_table[k] for k in tri_key]
    labels = ["structure"] + [""] * (n_inst - 1)
    for o in objects:
        labels[int(o["instance"])] = str(o["label"])

    # free floor: air cells standing on the floor, outside doorway passages and furniture
    iy0 = int(np.searchsorted(coords[1], 0.0))
    floor_cells = np.where(passage[:, iy0, :], -1, room_of[:, iy0, :])
    floor_rects = _greedy_rects(floor_cells)
    free_floor = [[float(coords[0][i0]), float(coords[2][j0]), float(coords[0][i1]), float(coords[2][j1])]
                  for i0, i1, j0, j1, _k in floor_rects]
    free_room = [k for *_ij, k in floor_rects]

    return Scene(
        scene_id=str(layout["scene_id"]),
        vertices=np.asarray(verts, dtype=np.float64),
        faces=np.asarray(tris, dtype=np.int64),
        face_material=np.asarray([k[0] for k in kt], dtype=np.int64),
        material_names=list(MATERIAL_NAMES),
        face_instance=np.asarray([k[2] for k in kt], dtype=np.int64),
        face_color=np.asarray([k[1] for k in kt], dtype=np.uint8).reshape(-1, 3),
        instance_labels=labels,
        floor_y=0.0,
        metadata={"source": "procedural", "layout": layout, "free_floor": free_floor,
                  "free_floor_room": free_room},
    )

