"""Seeded generator of the embedded procedural apartments: 1-4 rectangular rooms on a grid, doorways, furniture.

:func:`generate_layout` turns a scene id (``proc_000`` ... ``proc_099``) into a compact JSON-able layout
(rooms, doors, furniture, surface patches, materials and colours), deterministically from a sha256 of the id.
:mod:`simkit.scenes.boxmesh` meshes a layout and :mod:`simkit.scenes.layout_io` reads and writes the shipped
``scenes/procedural/<id>.json``; ``simkit scenes generate --write scenes/procedural`` regenerates them.

Walls have real thickness (the gap between neighbouring rooms), doorways are passages through it, windows,
curtains, rugs and the entrance door are material patches on the boundary. Floor at y = 0, +y up.

Each room's dressing is steered towards an RT60 target by a room-RT60 estimate the caller passes
(``room_rt60``): the estimate is acoustics (:func:`simkit.acoustics.rt60.eyring_rt60_1k`, with the absorption
of the material database), which scenes may not import; the shipped layouts were made with that one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import SimkitError
from simkit.scenes.boxmesh import build_scene
from simkit.scenes.layout_io import (
    LAYOUT_SCHEMA,
    N_SCENES,
    SCENE_PREFIX,
    layout_json,
    layout_path,
    procedural_scene_ids,
)
from simkit.scenes.scene import Scene

GENERATOR_VERSION = 1

# Steering estimate of one room: (room, surfaces, patches, obstacles, door_area) -> RT60 (s).
RoomRT60 = Callable[[dict[str, Any], dict[str, dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], float],
                    float]

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


def generate_layout(scene_id: str, room_rt60: RoomRT60) -> dict[str, Any]:
    """The compact layout of procedural scene ``scene_id``: deterministic from the id alone (and the
    steering estimate ``room_rt60``; the shipped layouts use :func:`simkit.acoustics.rt60.eyring_rt60_1k`)."""
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
            est = room_rt60(rm, surfaces, cand_patches, furniture, door_area[i])
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


def generate_scene(scene_id: str, room_rt60: RoomRT60) -> Scene:
    """Generate procedural scene ``scene_id`` (``proc_000`` ... ``proc_099``) from its id alone."""
    return build_scene(generate_layout(scene_id, room_rt60))


def write_layouts(directory: Path | str, room_rt60: RoomRT60, scene_ids: Sequence[str] | None = None) -> list[Path]:
    """Regenerate the shipped layout JSON files; returns the paths written."""
    from simkit.io import atomic_write_text

    ids = list(scene_ids) if scene_ids is not None else procedural_scene_ids()
    for sid in ids:
        _check_id(sid)  # every id before the first file is written
    out = []
    for sid in ids:
        path = layout_path(sid, directory)
        atomic_write_text(path, layout_json(generate_layout(sid, room_rt60)))
        out.append(path)
    return out
