"""Seeded procedural indoor scenes: apartments of 1-4 rectangular rooms on a grid, with doorways, furniture.

A scene is generated in two steps:

1. :func:`generate_layout` turns a scene id (``proc_000`` ... ``proc_099``) into a compact JSON-able layout
   (rooms, doors, furniture, surface patches, materials and colours), deterministically from a sha256 of the
   id. The layouts ship as ``scenes/procedural/<id>.json`` and are regenerated with
   ``python -m simkit.scenes.procedural --write scenes/procedural``.
2. :func:`build_scene` turns a layout into a :class:`~simkit.scenes.scene.Scene` mesh. The free air of the
   apartment is the union of room boxes and door passages minus furniture boxes; the mesh is the exact
   boundary of that air volume (closed, every face normal pointing into the air), built on the grid of all
   box coordinates and merged into large rectangles, so a 4-room furnished apartment stays at a few hundred
   triangles.

Walls have real thickness (the gap between neighbouring rooms), doorways are passages through it, windows,
curtains, rugs and the entrance door are material patches on the boundary. Floor at y = 0, +y up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import SimkitError
from simkit.scenes.scene import Scene

GENERATOR_VERSION = 1
LAYOUT_SCHEMA = 1
SCENE_PREFIX = "proc_"
N_SCENES = 100

# The acoustic material names of scenes/materials.json; face_material indexes this list in every scene.
MATERIAL_NAMES: list[str] = [
    "plaster", "concrete", "brick", "woodfloor", "carpet", "ceramic", "acoustictile", "curtain", "glass",
    "woodpanel", "sofa", "furniture", "metal", "default",
]
_MAT_INDEX = {m: i for i, m in enumerate(MATERIAL_NAMES)}

ROOM_SIDE = (2.5, 7.0)  # m, interior side lengths
CEILING = (2.4, 3.5)  # m
WALL_THICKNESS = (0.10, 0.20)  # m, interior walls
DOOR_HEIGHT = (2.0, 2.15)  # m
DOOR_CLEARANCE = 0.9  # m kept free of furniture in front of every doorway (both sides)
MAX_FURNITURE_COVER = 0.4  # share of a room's floor that furniture may cover
# Acoustic steering (see docs/scenes.md): per-scene RT60 targets ~ log-normal(median, sigma), per-room spread
# on top; each room keeps the best of ROOM_CANDIDATES random dressings. Tuned with the RLR engine so the
# set's mean RT60 lands near HM3D-SS's 0.4 s.
RT60_TARGET_MEDIAN = 0.27  # s
RT60_TARGET_SIGMA = 0.45  # log-normal sigma across scenes
RT60_ROOM_SIGMA = 0.1  # extra log spread between the rooms of one scene
ROOM_CANDIDATES = 8
# Nominal 1 kHz absorption per material, used only to steer the generator (the engine reads
# scenes/materials.json); values as that file's 1 kHz band so the steering estimate tracks the engine.
NOMINAL_ABSORPTION_1K: dict[str, float] = {
    "plaster": 0.03, "concrete": 0.02, "brick": 0.04, "woodfloor": 0.07, "carpet": 0.37, "ceramic": 0.02,
    "acoustictile": 0.92, "curtain": 0.72, "glass": 0.12, "woodpanel": 0.09, "sofa": 0.89, "furniture": 0.08,
    "metal": 0.1, "default": 0.1,
}

# label: (along-wall width range, depth range, height range, material choices, placement)
_Range = tuple[float, float]
_FURNITURE: dict[str, tuple[_Range, _Range, _Range, tuple[str, ...], str]] = {
    "sofa": ((1.6, 2.3), (0.85, 1.0), (0.75, 0.9), ("sofa",), "wall"),
    "armchair": ((0.75, 0.95), (0.75, 0.95), (0.8, 0.95), ("sofa",), "any"),
    "table": ((0.9, 1.8), (0.7, 1.0), (0.72, 0.78), ("furniture",), "free"),
    "coffee_table": ((0.8, 1.2), (0.5, 0.7), (0.4, 0.5), ("furniture", "glass"), "free"),
    "desk": ((1.0, 1.6), (0.6, 0.8), (0.72, 0.76), ("furniture",), "wall"),
    "bed": ((0.9, 1.8), (1.95, 2.1), (0.45, 0.6), ("sofa",), "wall"),
    "bookshelf": ((0.8, 1.6), (0.3, 0.4), (1.8, 2.2), ("furniture", "woodpanel"), "wall"),
    "wardrobe": ((1.0, 2.0), (0.55, 0.65), (1.9, 2.3), ("furniture", "woodpanel"), "wall"),
    "cabinet": ((0.6, 1.2), (0.4, 0.6), (0.8, 1.1), ("furniture", "metal"), "wall"),
    "counter": ((1.5, 3.0), (0.6, 0.65), (0.88, 0.92), ("furniture", "ceramic"), "wall"),
    "fridge": ((0.6, 0.75), (0.65, 0.7), (1.7, 1.9), ("metal",), "wall"),
    "bathtub": ((1.5, 1.7), (0.7, 0.8), (0.55, 0.6), ("ceramic",), "wall"),
    "vanity": ((0.6, 1.0), (0.45, 0.55), (0.82, 0.88), ("ceramic",), "wall"),
}
# room kind: (pieces always placed first, optional pieces)
_ROOM_FURNITURE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "living": (("sofa",), ("armchair", "coffee_table", "table", "bookshelf", "cabinet", "armchair")),
    "bedroom": (("bed",), ("wardrobe", "desk", "cabinet", "armchair", "bookshelf")),
    "kitchen": (("counter",), ("fridge", "table", "cabinet")),
    "bathroom": (("bathtub",), ("vanity", "cabinet")),
    "office": (("desk",), ("bookshelf", "cabinet", "armchair", "bookshelf")),
    "dining": (("table",), ("cabinet", "bookshelf")),
    "hall": ((), ("cabinet", "bookshelf", "armchair")),
}

# Base RGB per material; rooms and pieces jitter these so neighbouring surfaces stay distinguishable.
_BASE_COLOR: dict[str, tuple[int, int, int]] = {
    "plaster": (232, 228, 218), "concrete": (150, 150, 146), "brick": (160, 84, 62),
    "woodfloor": (150, 104, 64), "carpet": (120, 110, 100), "ceramic": (218, 218, 212),
    "acoustictile": (238, 238, 234), "curtain": (140, 120, 150), "glass": (170, 200, 215),
    "woodpanel": (170, 120, 76), "sofa": (90, 100, 120), "furniture": (135, 95, 60),
    "metal": (182, 184, 188), "default": (128, 128, 128),
}
# Materials whose colour varies a lot between instances (fabrics).
_FABRIC = {"carpet", "curtain", "sofa"}


def _r(v: float) -> float:
    """Round to millimetres so layouts serialise compactly and round-trip exactly through JSON."""
    return round(float(v), 3)


def scene_seed(scene_id: str) -> int:
    """Stable 64-bit seed of a scene id (sha256; independent of Python's randomised ``hash``)."""
    digest = hashlib.sha256(f"simkit-procedural-v{GENERATOR_VERSION}/{scene_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def procedural_scene_ids() -> list[str]:
    """The ids of the embedded procedural scenes, ``proc_000`` ... ``proc_099``."""
    return [f"{SCENE_PREFIX}{i:03d}" for i in range(N_SCENES)]


def _check_id(scene_id: str) -> None:
    if scene_id not in set(procedural_scene_ids()):
        last = f"{SCENE_PREFIX}{N_SCENES - 1:03d}"
        raise SimkitError(f"unknown procedural scene {scene_id!r} (expected {SCENE_PREFIX}000 .. {last})")


def _color(rng: np.random.Generator, material: str) -> list[int]:
    base = np.array(_BASE_COLOR[material], dtype=np.float64)
    if material in _FABRIC:
        # fabrics: a random muted hue mixed with the base colour
        hue = rng.uniform(40, 220, size=3)
        base = 0.5 * base + 0.5 * hue
    jitter = rng.uniform(-18, 18, size=3)
    return [int(c) for c in np.clip(np.round(base + jitter), 0, 255)]


def _pick(rng: np.random.Generator, options: Sequence[str], weights: Sequence[float]) -> str:
    w = np.asarray(weights, dtype=np.float64)
    return str(options[int(rng.choice(len(options), p=w / w.sum()))])


def _grid_cells(rng: np.random.Generator, n_rooms: int) -> tuple[int, int, list[tuple[int, int]]]:
    """Columns, rows and occupied (col, row) cells of the room grid."""
    if n_rooms == 1:
        return 1, 1, [(0, 0)]
    if n_rooms == 2:
        return (2, 1, [(0, 0), (1, 0)]) if rng.random() < 0.5 else (1, 2, [(0, 0), (0, 1)])
    if n_rooms == 3:
        u = rng.random()
        if u < 0.25:
            return 3, 1, [(0, 0), (1, 0), (2, 0)]
        if u < 0.5:
            return 1, 3, [(0, 0), (0, 1), (0, 2)]
        cells = [(0, 0), (1, 0), (0, 1), (1, 1)]
        del cells[int(rng.integers(4))]
        return 2, 2, cells
    return 2, 2, [(0, 0), (1, 0), (0, 1), (1, 1)]


def _room_kinds(rng: np.random.Generator, areas: list[float]) -> list[str]:
    order = np.argsort(areas)[::-1]
    kinds = [""] * len(areas)
    kinds[int(order[0])] = "living"
    others = ["bedroom", "kitchen", "bathroom", "office", "dining", "hall"]
    for i in order[1:]:
        i = int(i)
        if areas[i] < 9.0:
            kinds[i] = _pick(rng, ["bathroom", "hall", "office", "kitchen"], [0.45, 0.2, 0.15, 0.2])
        else:
            kinds[i] = _pick(rng, others, [0.35, 0.2, 0.05, 0.15, 0.15, 0.1])
    return kinds


def _surfaces(rng: np.random.Generator, kind: str, soft: float) -> dict[str, dict[str, Any]]:
    """Floor, wall and ceiling materials of one room; ``soft`` in [0, 1] pushes towards absorbent choices."""
    hard = 1.0 - soft
    if kind == "bathroom":
        floor, walls = "ceramic", _pick(rng, ["ceramic", "plaster"], [0.7, 0.3])
    elif kind == "kitchen":
        floor = _pick(rng, ["ceramic", "woodfloor", "carpet"], [0.3 + 0.4 * hard, 0.4, 0.5 * soft])
        walls = _pick(rng, ["plaster", "ceramic", "woodpanel"], [0.6, 0.1 + 0.2 * hard, 0.6 * soft])
    else:
        floor = _pick(rng, ["carpet", "woodfloor", "ceramic", "concrete"],
                      [0.1 + 0.8 * soft, 0.5, 0.1 * hard, 0.1 * hard * hard])
        walls = _pick(rng, ["plaster", "woodpanel", "brick", "concrete"],
                      [0.5, 0.1 + 0.8 * soft, 0.15 * hard, 0.1 * hard * hard])
    ceiling = _pick(rng, ["plaster", "acoustictile", "concrete", "woodpanel"],
                    [0.6, 0.05 + 1.5 * soft * soft, 0.1 * hard * hard, 0.05 + 0.2 * soft])
    return {
        "floor": {"material": floor, "color": _color(rng, floor)},
        "walls": {"material": walls, "color": _color(rng, walls)},
        "ceiling": {"material": ceiling, "color": _color(rng, ceiling)},
    }


def _overlap(a: Sequence[float], b: Sequence[float], gap: float = 0.0) -> bool:
    """Do 2-D rectangles ``[x0, z0, x1, z1]`` overlap (closer than ``gap``)?"""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _wall_rect(room: dict, side: str, start: float, width: float, depth: float) -> list[float]:
    """Footprint of a piece ``width`` long along wall ``side`` from ``start``, ``depth`` into the room."""
    (x0, z0), (x1, z1) = room["min"], room["max"]
    if side == "-x":
        return [x0, start, x0 + depth, start + width]
    if side == "+x":
        return [x1 - depth, start, x1, start + width]
    if side == "-z":
        return [start, z0, start + width, z0 + depth]
    return [start, z1 - depth, start + width, z1]


def _wall_span(room: dict, side: str) -> tuple[float, float]:
    (x0, z0), (x1, z1) = room["min"], room["max"]
    return (z0, z1) if side in ("-x", "+x") else (x0, x1)


def _place_furniture(
    rng: np.random.Generator, room: dict, room_index: int, kind: str, keep_clear: list[list[float]],
    soft: float,
) -> list[dict[str, Any]]:
    (x0, z0), (x1, z1) = room["min"], room["max"]
    area = (x1 - x0) * (z1 - z0)
    must, optional = _ROOM_FURNITURE[kind]
    # furnished (soft) rooms hold more pieces
    n_opt = int(rng.integers(1, 3 + int(area // 6.0) + int(3 * soft)))
    labels = list(must) + [str(optional[int(rng.integers(len(optional)))]) for _ in range(min(n_opt, 7))]
    if kind == "bathroom" and area < 4.5:
        labels = ["vanity"] + labels[1:]
    placed: list[dict[str, Any]] = []
    rects: list[list[float]] = []
    covered = 0.0
    for label in labels:
        (w_lo, w_hi), (d_lo, d_hi), (h_lo, h_hi), mats, mode = _FURNITURE[label]
        for _ in range(40):
            w, d = rng.uniform(w_lo, w_hi), rng.uniform(d_lo, d_hi)
            h = min(rng.uniform(h_lo, h_hi), room["height"] - 0.15)
            use_wall = mode == "wall" or (mode == "any" and rng.random() < 0.5)
            if use_wall:
                side = ["-x", "+x", "-z", "+z"][int(rng.integers(4))]
                lo, hi = _wall_span(room, side)
                if hi - lo < w + 0.1:
                    continue
                start = rng.uniform(lo, hi - w)
                rect = _wall_rect(room, side, start, w, d)
            else:
                if rng.random() < 0.5:
                    w, d = d, w
                if x1 - x0 < w + 1.2 or z1 - z0 < d + 1.2:
                    continue
                cx = rng.uniform(x0 + 0.6 + w / 2, x1 - 0.6 - w / 2)
                cz = rng.uniform(z0 + 0.6 + d / 2, z1 - 0.6 - d / 2)
                rect = [cx - w / 2, cz - d / 2, cx + w / 2, cz + d / 2]
            rect = [_r(v) for v in rect]
            if rect[0] < x0 or rect[1] < z0 or rect[2] > x1 or rect[3] > z1:
                continue
            foot = (rect[2] - rect[0]) * (rect[3] - rect[1])
            if covered + foot > MAX_FURNITURE_COVER * area:
                continue
            if any(_overlap(rect, k) for k in keep_clear) or any(_overlap(rect, o, 0.1) for o in rects):
                continue
            # soft rooms get upholstered/wooden variants, hard rooms glass/metal ones
            mat = mats[0] if len(mats) == 1 or rng.random() < 0.5 + 0.4 * soft else mats[1]
            placed.append({
                "label": label, "room": room_index, "material": mat, "color": _color(rng, mat),
                "min": [rect[0], 0.0, rect[1]], "max": [rect[2], _r(h), rect[3]],
            })
            rects.append(rect)
            covered += foot
            break
    return placed


PATCH_DEPTH = 0.02  # m: patches sit just behind the boundary surface they recolour


def _exterior_sides(rooms: list[dict[str, Any]], i: int) -> list[str]:
    cells = {tuple(rm["cell"]) for rm in rooms}
    c, r = rooms[i]["cell"]
    return [side for side, (dc, dr) in (("-x", (-1, 0)), ("+x", (1, 0)), ("-z", (0, -1)), ("+z", (0, 1)))
            if (c + dc, r + dr) not in cells]


def _wall_patch(room: dict, side: str, s0: float, s1: float, y0: float, y1: float) -> tuple[list, list]:
    """Box just behind wall ``side`` spanning ``[s0, s1]`` along it and ``[y0, y1]`` in height."""
    (x0, z0), (x1, z1) = room["min"], room["max"]
    if side == "-x":
        return [_r(x0 - PATCH_DEPTH), y0, s0], [x0, y1, s1]
    if side == "+x":
        return [x1, y0, s0], [_r(x1 + PATCH_DEPTH), y1, s1]
    if side == "-z":
        return [s0, y0, _r(z0 - PATCH_DEPTH)], [s1, y1, z0]
    return [s0, y0, z1], [s1, y1, _r(z1 + PATCH_DEPTH)]


def _windows(
    rng: np.random.Generator, rooms: list[dict[str, Any]], i: int, soft: float,
    used_spans: dict[str, list[tuple[float, float]]],
) -> list[dict[str, Any]]:
    """Windows (glass) or curtained windows on the exterior walls of room ``i``."""
    rm = rooms[i]
    out = []
    for side in _exterior_sides(rooms, i):
        if rng.random() >= 0.65:
            continue
        lo, hi = _wall_span(rm, side)
        if hi - lo < 1.6:
            continue
        w = rng.uniform(0.8, min(2.5, hi - lo - 0.6))
        s0 = _r(rng.uniform(lo + 0.3, hi - 0.3 - w))
        s1 = _r(s0 + w)
        if any(s0 < b + 0.2 and a < s1 + 0.2 for a, b in used_spans.get(side, [])):
            continue
        sill = rng.uniform(0.75, 1.0)
        top = min(sill + rng.uniform(1.0, 1.5), rm["height"] - 0.25)
        if rng.random() < 0.2 + 0.8 * soft:
            # curtains cover the window generously, nearly floor to ceiling
            s0c, s1c = _r(max(lo + 0.05, s0 - 0.25)), _r(min(hi - 0.05, s1 + 0.25))
            y0c, y1c = _r(max(0.05, sill - 0.6)), _r(min(rm["height"] - 0.1, top + 0.2))
            mn, mx = _wall_patch(rm, side, s0c, s1c, y0c, y1c)
            label, mat = "curtain", "curtain"
        else:
            mn, mx = _wall_patch(rm, side, s0, s1, _r(sill), _r(top))
            label, mat = "window", "glass"
        out.append({"label": label, "room": i, "material": mat, "color": _color(rng, mat),
                    "min": mn, "max": mx})
    return out


def _rug(rng: np.random.Generator, room: dict[str, Any], i: int) -> dict[str, Any]:
    (x0, z0), (x1, z1) = room["min"], room["max"]
    fw, fd = rng.uniform(0.4, 0.75) * (x1 - x0), rng.uniform(0.4, 0.75) * (z1 - z0)
    cx, cz = rng.uniform(x0 + fw / 2, x1 - fw / 2), rng.uniform(z0 + fd / 2, z1 - fd / 2)
    return {"label": "rug", "room": i, "material": "carpet", "color": _color(rng, "carpet"),
            "min": [_r(cx - fw / 2), -PATCH_DEPTH, _r(cz - fd / 2)],
            "max": [_r(cx + fw / 2), 0.0, _r(cz + fd / 2)]}


def _patch_area(p: dict[str, Any]) -> float:
    """Visible area of a patch box (its two largest extents)."""
    ext = sorted(np.subtract(p["max"], p["min"]))
    return float(ext[1] * ext[2])


def eyring_rt60_1k(
    room: dict[str, Any], surfaces: dict[str, dict[str, Any]], patches: list[dict[str, Any]],
    obstacles: list[dict[str, Any]], door_area: float = 0.0,
) -> float:
    """Eyring RT60 (s) of one room at 1 kHz from its layout, with the nominal absorption table.

    Doorways count as non-reflecting openings of ``door_area`` m^2 excluded from the surface. It is the
    generator's steering estimate; the engine's RT60 of single rooms matches it within ~10 % (docs/scenes.md).
    """
    (x0, z0), (x1, z1) = room["min"], room["max"]
    h = room["height"]
    floor = (x1 - x0) * (z1 - z0)
    walls = 2.0 * ((x1 - x0) + (z1 - z0)) * h - door_area
    volume = floor * h
    area = {"floor": floor, "walls": walls, "ceiling": floor}
    absorb = 0.0
    extra = 0.0
    for o in obstacles:
        w, hh, d = np.subtract(o["max"], o["min"])
        area["floor"] -= w * d
        volume -= w * d * hh
        s = w * d + 2.0 * (w + d) * hh
        extra += s
        absorb += s * NOMINAL_ABSORPTION_1K[o["material"]]
    for p in patches:
        a = _patch_area(p)
        area["floor" if p["label"] == "rug" else "walls"] -= a
        extra += a
        absorb += a * NOMINAL_ABSORPTION_1K[p["material"]]
    for key, a in area.items():
        absorb += max(a, 0.0) * NOMINAL_ABSORPTION_1K[surfaces[key]["material"]]
    total = sum(max(a, 0.0) for a in area.values()) + extra
    alpha = min(absorb / total, 0.95)
    return float(0.161 * volume / (-total * np.log1p(-alpha)))


def generate_layout(scene_id: str) -> dict[str, Any]:
    """The compact layout of procedural scene ``scene_id``: deterministic from the id alone."""
    _check_id(scene_id)
    rng = np.random.default_rng(scene_seed(scene_id))
    n_rooms = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.3, 0.25, 0.25]))
    ncols, nrows, cells = _grid_cells(rng, n_rooms)
    widths = [_r(rng.uniform(*ROOM_SIDE)) for _ in range(ncols)]
    depths = [_r(rng.uniform(*ROOM_SIDE)) for _ in range(nrows)]
    t = _r(rng.uniform(*WALL_THICKNESS))
    # centre the apartment on the origin
    total_w = sum(widths) + t * (ncols - 1)
    total_d = sum(depths) + t * (nrows - 1)
    col_x = [-total_w / 2 + sum(widths[:c]) + t * c for c in range(ncols)]
    row_z = [-total_d / 2 + sum(depths[:r]) + t * r for r in range(nrows)]
    base_h = rng.uniform(*CEILING)

    rooms: list[dict[str, Any]] = []
    for c, r in cells:
        h = base_h if rng.random() < 0.75 else rng.uniform(*CEILING)
        x0, z0 = _r(col_x[c]), _r(row_z[r])
        rooms.append({"cell": [c, r], "min": [x0, z0], "max": [_r(x0 + widths[c]), _r(z0 + depths[r])],
                      "height": _r(h)})
    areas = [(rm["max"][0] - rm["min"][0]) * (rm["max"][1] - rm["min"][1]) for rm in rooms]
    for rm, kind in zip(rooms, _room_kinds(rng, areas), strict=True):
        rm["kind"] = kind

    # doors: a random spanning tree over grid neighbours plus occasional extra doors (loops)
    cell_index = {tuple(rm["cell"]): i for i, rm in enumerate(rooms)}
    edges = []
    for i, rm in enumerate(rooms):
        c, r = rm["cell"]
        for dc, dr in ((1, 0), (0, 1)):
            j = cell_index.get((c + dc, r + dr))
            if j is not None:
                edges.append((i, j))
    edges = [edges[int(k)] for k in rng.permutation(len(edges))]
    parent = list(range(len(rooms)))

    def find(a: int) -> int:
        while parent[a] != a:
            a = parent[a]
        return a

    chosen = []
    for i, j in edges:
        if find(i) != find(j):
            parent[find(i)] = find(j)
            chosen.append((i, j))
        elif rng.random() < 0.3:
            chosen.append((i, j))
    doors: list[dict[str, Any]] = []
    keep_clear: list[list[list[float]]] = [[] for _ in rooms]
    door_area = [0.0] * len(rooms)
    for i, j in sorted(chosen):
        a, b = rooms[i], rooms[j]  # b is the +x or +z neighbour of a
        horizontal = a["cell"][1] == b["cell"][1]  # neighbours along x share a wall of constant x
        lo, hi = (a["min"][1], a["max"][1]) if horizontal else (a["min"][0], a["max"][0])
        w = rng.uniform(0.8, 1.0) if rng.random() < 0.8 else rng.uniform(1.2, min(2.0, hi - lo - 0.6))
        center = rng.uniform(lo + 0.3 + w / 2, hi - 0.3 - w / 2)
        s0, s1 = _r(center - w / 2), _r(center + w / 2)
        dh = _r(min(rng.uniform(*DOOR_HEIGHT), min(a["height"], b["height"]) - 0.15))
        if horizontal:
            doors.append({"rooms": [i, j], "min": [a["max"][0], 0.0, s0], "max": [b["min"][0], dh, s1]})
            keep_clear[i].append([a["max"][0] - DOOR_CLEARANCE, s0 - 0.3, a["max"][0], s1 + 0.3])
            keep_clear[j].append([b["min"][0], s0 - 0.3, b["min"][0] + DOOR_CLEARANCE, s1 + 0.3])
        else:
            doors.append({"rooms": [i, j], "min": [s0, 0.0, a["max"][1]], "max": [s1, dh, b["min"][1]]})
            keep_clear[i].append([s0 - 0.3, a["max"][1] - DOOR_CLEARANCE, s1 + 0.3, a["max"][1]])
            keep_clear[j].append([s0 - 0.3, b["min"][1], s1 + 0.3, b["min"][1] + DOOR_CLEARANCE])
        door_area[i] += (s1 - s0) * dh
        door_area[j] += (s1 - s0) * dh

    # entrance door: a closed door panel on an exterior wall of the living room
    fixed_patches: list[list[dict[str, Any]]] = [[] for _ in rooms]
    used_spans: list[dict[str, list[tuple[float, float]]]] = [{} for _ in rooms]
    living = [rm["kind"] for rm in rooms].index("living")
    sides = _exterior_sides(rooms, living)
    if sides:
        side = sides[int(rng.integers(len(sides)))]
        lo, hi = _wall_span(rooms[living], side)
        w = rng.uniform(0.85, 1.0)
        s0 = _r(rng.uniform(lo + 0.2, hi - 0.2 - w))
        s1 = _r(s0 + w)
        dh = _r(min(rng.uniform(*DOOR_HEIGHT), rooms[living]["height"] - 0.15))
        mn, mx = _wall_patch(rooms[living], side, s0, s1, 0.0, dh)
        fixed_patches[living].append({"label": "door", "room": living, "material": "woodpanel",
                                      "color": _color(rng, "woodpanel"), "min": mn, "max": mx})
        used_spans[living][side] = [(s0, s1)]
        keep_clear[living].append(_wall_rect(rooms[living], side, s0 - 0.3, s1 - s0 + 0.6, DOOR_CLEARANCE))

    # Acoustic steering: each room draws ROOM_CANDIDATES plausible dressings (materials, windows/curtains,
    # furniture, rug) at random softness and keeps the one whose Eyring RT60 is nearest its target; the
    # targets are log-normal per scene with a little per-room spread (coupled rooms then agree roughly).
    scene_target = float(np.exp(rng.normal(np.log(RT60_TARGET_MEDIAN), RT60_TARGET_SIGMA)))
    obstacles: list[dict[str, Any]] = []
    patches: list[dict[str, Any]] = []
    for i, rm in enumerate(rooms):
        target = scene_target * float(np.exp(rng.normal(0.0, RT60_ROOM_SIGMA)))
        best: tuple[float, Any] | None = None
        for _ in range(ROOM_CANDIDATES):
            crng = np.random.default_rng(int(rng.integers(2**63)))
            soft = float(crng.random())
            surfaces = _surfaces(crng, rm["kind"], soft)
            cand_patches = list(fixed_patches[i]) + _windows(crng, rooms, i, soft, used_spans[i])
            furniture = _place_furniture(crng, rm, i, rm["kind"], keep_clear[i], soft)
            if surfaces["floor"]["material"] != "carpet" and rm["kind"] not in ("bathroom", "kitchen") \
                    and crng.random() < 0.2 + 0.75 * soft:
                cand_patches.append(_rug(crng, rm, i))
            est = eyring_rt60_1k(rm, surfaces, cand_patches, furniture, door_area[i])
            score = abs(np.log(est / target))
            if best is None or score < best[0]:
                best = (score, (soft, surfaces, cand_patches, furniture, est, target))
        assert best is not None
        soft, surfaces, cand_patches, furniture, est, target = best[1]
        rm["softness"] = _r(soft)
        rm["surfaces"] = surfaces
        rm["rt60_target"] = _r(target)
        rm["rt60_eyring_1k"] = _r(est)
        obstacles.extend(furniture)
        patches.extend(cand_patches)

    # instance ids: 0 is structure, then furniture, then patches, in layout order
    for k, obj in enumerate(obstacles + patches, start=1):
        obj["instance"] = k
    return {
        "schema": LAYOUT_SCHEMA,
        "generator_version": GENERATOR_VERSION,
        "scene_id": scene_id,
        "seed": scene_seed(scene_id),
        "wall_thickness": t,
        "rooms": rooms,
        "doors": doors,
        "obstacles": obstacles,
        "patches": patches,
    }


# ----------------------------------------------------------------------------------------------------- mesh


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


def generate_scene(scene_id: str) -> Scene:
    """Generate procedural scene ``scene_id`` (``proc_000`` ... ``proc_099``) from its id alone."""
    return build_scene(generate_layout(scene_id))


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
                          "`python -m simkit.scenes.procedural --write scenes/procedural`)") from None
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


def write_layouts(directory: Path | str, scene_ids: Sequence[str] | None = None) -> list[Path]:
    """Regenerate the shipped layout JSON files; returns the paths written."""
    from simkit.io import atomic_write_text

    out = []
    for sid in scene_ids if scene_ids is not None else procedural_scene_ids():
        path = layout_path(sid, directory)
        atomic_write_text(path, layout_json(generate_layout(sid)))
        out.append(path)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m simkit.scenes.procedural --write scenes/procedural [--splits scenes/splits.json]``."""
    parser = argparse.ArgumentParser(description="Regenerate the embedded procedural scene layouts.")
    parser.add_argument("--write", type=Path, help="directory for <scene_id>.json layouts")
    parser.add_argument("--splits", type=Path, help="also write the train/val/test split file here")
    args = parser.parse_args(argv)
    if args.write is None and args.splits is None:
        parser.error("nothing to do: pass --write DIR and/or --splits FILE")
    if args.write is not None:
        paths = write_layouts(args.write)
        print(f"wrote {len(paths)} layouts to {args.write}")
    if args.splits is not None:
        from simkit.scenes.catalog import write_splits

        write_splits(args.splits)
        print(f"wrote {args.splits}")


if __name__ == "__main__":
    main()
