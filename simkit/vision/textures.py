"""Procedural surface texture for scenes that carry only per-face base colours.

Flat-shaded boxes give a rotation model nothing to lock onto: two walls of one colour look the same from
every yaw. This module modulates each face's base colour (``scene.face_color``) with a pattern computed
from the world coordinates of the hit point, so every wall looks different and features stay put in the
world as the camera turns:

* floors (surface normal up): planks along x with per-plank shade and staggered joints;
* ceilings (normal down): square tiles with grout lines;
* walls (horizontal normal): a tint and stripe period chosen by the wall's compass direction, a dado rail
  at 0.9-1.0 m above the floor, and sparse dark/light panels (pictures, windows) placed by a hash of the
  position along the wall, which breaks the stripes' translational symmetry;
* objects (instance > 0): a per-instance colour jitter and a 3D checker at 10 cm.

It is a pure function of (scene, face, point, normal); the camera applies it as described in
:func:`simkit.vision.camera.albedo`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simkit.scenes.scene import Scene

_U32 = np.uint64(0xFFFFFFFF)


def _hash(*ints: np.ndarray) -> np.ndarray:
    """Deterministic integer hash of integer arrays -> floats in [0, 1)."""
    h = np.full(np.broadcast(*ints).shape, 2166136261, dtype=np.uint64)
    for k, a in enumerate(ints):
        a = np.asarray(a, dtype=np.int64).astype(np.uint64) & _U32
        h = (h ^ (a * np.uint64(2654435761 + 97 * k))) & _U32
        h = (h * np.uint64(16777619)) & _U32
        h ^= h >> np.uint64(15)
    h = (h * np.uint64(2246822519)) & _U32
    h ^= h >> np.uint64(13)
    return (h & _U32).astype(np.float64) / 4294967296.0


def _floor_height(scene: Scene) -> float:
    return float(scene.floor_y) if scene.floor_y is not None else float(scene.vertices[:, 1].min())


def _face_attributes(scene: Scene, faces: np.ndarray) -> dict[str, np.ndarray]:
    """Per-face pattern parameters (computed once per distinct face, not per pixel)."""
    tri = scene.vertices[scene.faces[faces]]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    sector = np.mod(np.round(np.arctan2(n[:, 0], n[:, 2]) / (np.pi / 4.0)).astype(np.int64), 8)
    tangent = np.stack([n[:, 2], np.zeros(len(n)), -n[:, 0]], axis=-1)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=-1, keepdims=True), 1e-9)
    inst = scene.face_instance[faces]
    return {
        "base": scene.face_color[faces].astype(np.float32) / 255.0,
        "structure": inst == 0,
        "sector": sector,
        "tangent": tangent.astype(np.float32),
        "tint": (0.75 + 0.5 * np.stack([_hash(sector, k) for k in range(3)], axis=-1)).astype(np.float32),
        "period": (0.25 + 0.35 * _hash(sector, 7)).astype(np.float32),
        "jitter": (0.8 + 0.4 * np.stack([_hash(inst, 30 + k) for k in range(3)], axis=-1)).astype(np.float32),
    }


def _hash_pairs(a: np.ndarray, b: np.ndarray, salt: int | None = None) -> np.ndarray:
    """``_hash(a, b[, salt])`` of two integer arrays, evaluated once per distinct pair on the grid of their
    ranges when that grid is smaller than the arrays (a view has few planks / wall cells, many pixels)."""
    extra = () if salt is None else (salt,)
    if len(a) == 0:
        return _hash(a, b, *extra)
    a0, b0 = int(a.min()), int(b.min())
    na, nb = int(a.max()) - a0 + 1, int(b.max()) - b0 + 1
    if na * nb >= len(a):
        return _hash(a, b, *extra)
    grid = _hash(np.arange(a0, a0 + na)[:, None], np.arange(b0, b0 + nb)[None, :], *extra).ravel()
    return np.take(grid, (a - a0) * nb + (b - b0))


@dataclass(eq=False)
class FaceTable:
    """Procedural-texture parameters of faces of one scene (:func:`face_table`), reused across views;
    the colour terms that depend only on the face are folded in once here."""

    scene: Scene
    floor_height: float
    base: np.ndarray  # (m, 3) float32 face colour in [0, 1]
    structure: np.ndarray  # (m,) bool, instance 0
    sector: np.ndarray  # (m,) int64 compass sector of a wall
    tangent: np.ndarray  # (m, 3) float32 horizontal direction along a wall
    tangent_cols: tuple[np.ndarray, np.ndarray, np.ndarray]  # its x, y, z columns, contiguous
    period: np.ndarray  # (m,) float32 wall stripe period
    wall: np.ndarray  # (m, 3) float32 clip(base * tint) of a wall
    obj: np.ndarray  # (m, 3) float32 clip(base * jitter) of an object
    colours: np.ndarray  # (3m, 3) float32 base, wall and obj stacked


def _table(scene: Scene, faces: np.ndarray) -> FaceTable:
    attrs = _face_attributes(scene, faces)
    wall = np.clip(attrs["base"] * attrs["tint"], 0.0, 1.0)
    obj = np.clip(attrs["base"] * attrs["jitter"], 0.0, 1.0)
    return FaceTable(
        scene=scene, floor_height=_floor_height(scene), base=attrs["base"], structure=attrs["structure"],
        sector=attrs["sector"], tangent=attrs["tangent"],
        tangent_cols=tuple(np.ascontiguousarray(attrs["tangent"][:, k]) for k in range(3)), period=attrs["period"],
        wall=wall, obj=obj, colours=np.concatenate([attrs["base"], wall, obj]),
    )


def face_table(scene: Scene) -> FaceTable:
    """The per-face pattern parameters of all of ``scene``'s faces, computed once for many views."""
    return _table(scene, np.arange(len(scene.faces)))


def procedural_albedo(
    scene: Scene, face_ids: np.ndarray, points: np.ndarray, normals: np.ndarray, table: FaceTable | None = None
) -> np.ndarray:
    """Albedo (n, 3) float32 in [0, 1] for ray hits on ``face_ids`` at world ``points`` with unit ``normals``
    (oriented towards the viewer). ``table``: the scene's :func:`face_table`, built here when None.
    """
    return procedural_albedo_y(scene, face_ids, points, np.asarray(normals)[:, 1], table)


_ROW = np.dtype((np.void, 12))  # one float32 RGB row as a single 12-byte item


def _put_rows(out: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``out[rows] = values`` for float32 (n, 3) arrays, copying 12-byte items (numpy's row-wise fancy
    assignment of 3-wide rows is about twice as slow)."""
    out.view(_ROW)[:, 0][rows] = np.ascontiguousarray(values, dtype=np.float32).view(_ROW)[:, 0]


def _frac(x: np.ndarray) -> np.ndarray:
    """``np.mod(x, 1.0)`` of finite floats, exactly (x - floor(x) is representable; numpy's remainder
    rounds the same sum once), without numpy's slower floating remainder."""
    return x - np.floor(x)


def _even(f: np.ndarray) -> np.ndarray:
    """``np.mod(f, 2) == 0`` for finite integer-valued floats (halving them is exact)."""
    half = f * 0.5
    return np.floor(half) == half


def procedural_albedo_y(
    scene: Scene, face_ids: np.ndarray, points: np.ndarray, normal_y: np.ndarray, table: FaceTable | None = None
) -> np.ndarray:
    """:func:`procedural_albedo` given only the y component (n,) of the viewer-side unit normals.

    Vectorised over pixels: one pass per pattern class (floor, ceiling, wall, object), the face-only
    terms gathered from the table; every float operation a pixel sees is the one of the per-class
    formulas (module docstring), in the same order and precision, so the bytes are those of the
    straightforward version (tests/test_vision.py checks them against the code before this one).
    """
    face_ids = np.asarray(face_ids, dtype=np.int64)
    if table is not None:
        idx = face_ids
    elif len(scene.faces) <= len(face_ids):
        table, idx = face_table(scene), face_ids
    else:
        uniq, idx = np.unique(face_ids, return_inverse=True)
        table = _table(scene, uniq)
    p = np.asarray(points, dtype=np.float32)
    ny = np.asarray(normal_y)
    # class per pixel: 0 floor, 1 ceiling, 2 wall (structure by normal), 3 object
    cls = np.full(len(idx), 2, dtype=np.int8)
    cls[ny > 0.7] = 0
    cls[ny < -0.7] = 1
    cls[~np.take(table.structure, idx)] = 3
    # each class's pixels in ascending order (what a stable sort of the keys gave, in fewer passes)
    floor, ceiling, wall, obj = (np.flatnonzero(cls == k) for k in range(4))
    # every class's colour is a per-face colour times per-pixel factors: base * (plank shade * gap) on
    # floors, base * grout on ceilings, clip(base * tint) * stripes * dado on walls, clip(base * jitter) *
    # checker on objects (then wall panels overwrite). The factors are 1-D per class; the (n, 3) work is
    # one gather and one or two products, in the order the per-class formulas multiply.
    factor = np.empty(len(idx), dtype=np.float32)
    dado = None
    panels = None

    if len(floor):
        pf = np.take(p, floor, axis=0)
        xf, zf = pf[:, 0], pf[:, 2]
        plank = np.floor(xf / 0.2).astype(np.int64)
        along = zf / 1.2 + 0.37 * plank
        fa = np.floor(along)
        joint = fa.astype(np.int64)
        shade = 0.78 + 0.3 * _hash_pairs(plank, joint).astype(np.float32)
        fa -= along
        gap = (np.mod(xf, 0.2) < 0.008) | (fa > -0.006)  # fa = -frac(along)
        shade *= np.where(gap, np.float32(0.55), np.float32(1.0))
        factor[floor] = shade

    if len(ceiling):
        pc = np.take(p, ceiling, axis=0)
        grout = (np.mod(pc[:, 0], 0.6) < 0.015) | (np.mod(pc[:, 2], 0.6) < 0.015)
        factor[ceiling] = np.where(grout, np.float32(0.75), np.float32(1.0))

    if len(wall):
        wi = np.take(idx, wall)
        pw = np.take(p, wall, axis=0)
        # p . tangent as einsum("ij,ij->i") computes 3 terms: ((x tx + y ty) + z tz) in float32, no FMA
        tx, ty, tz = (np.take(c, wi) for c in table.tangent_cols)
        t = pw[:, 0] * tx
        t += pw[:, 1] * ty
        t += pw[:, 2] * tz
        h = pw[:, 1] - np.float32(table.floor_height)
        period = np.take(table.period, wi)
        factor[wall] = np.where(_even(np.floor(t / period)), np.float32(1.0), np.float32(0.9))  # stripes
        dado = np.take(wall, np.flatnonzero((h > 0.9) & (h < 1.0)))  # dado rail: these pixels * 0.6
        u = _frac(t / 1.1)
        band = np.flatnonzero((u > 0.15) & (u < 0.85) & (h > 1.2) & (h < 2.0))
        if len(band):
            cell = np.floor(np.take(t, band) / 1.1).astype(np.int64)
            hp = _hash_pairs(np.take(table.sector, np.take(wi, band)), cell, 11)
            panel = hp < 0.45
            # one hash per panel, spread into three channels by irrational multiples
            rgb = (np.mod(hp[panel, None] * np.array([97.13, 57.71, 31.37]), 1.0) * 0.8 + 0.1).astype(np.float32)
            panels = (np.take(wall, band[panel]), rgb)

    if len(obj):
        # the parity of the cell sum, in float32: the cell indices and their sum are integers far below 2**24
        # (10 cm cells of a scene < 100 km), so the sum is exact and halving it decides parity as int64 & 1
        q = np.floor(np.take(p, obj, axis=0) / 0.1)
        cells = q[:, 0] + q[:, 1]
        cells += q[:, 2]
        factor[obj] = np.where(_even(cells), np.float32(1.0), np.float32(0.85))  # checker

    # per-face colour by class: rows [0, m) base (floor, ceiling), [m, 2m) wall, [2m, 3m) object
    source = _SOURCE[cls].astype(np.int64)
    source *= len(table.base)
    source += idx
    out = np.take(table.colours.view(_ROW)[:, 0], source).view(np.float32).reshape(-1, 3)  # 12-byte rows
    out *= factor[:, None]
    if dado is not None and len(dado):  # * 0.6 on the rail, * 1 (exact, so skipped) elsewhere
        rows = out.view(_ROW)[:, 0]
        rail = np.take(rows, dado).view(np.float32).reshape(-1, 3)
        rail *= np.float32(0.6)
        rows[dado] = rail.view(_ROW)[:, 0]
    if panels is not None:
        _put_rows(out, *panels)
    np.clip(out, 0.0, 1.0, out=out)
    return out


_SOURCE = np.array([0, 0, 1, 2], dtype=np.int8)  # class (floor, ceiling, wall, object) -> colour table block


_PERM: dict[int, np.ndarray] = {}


def _perm(salt: int) -> np.ndarray:
    """A fixed permutation of 0..255 (from :func:`_hash`, so it does not depend on numpy's generators), doubled."""
    if salt not in _PERM:
        p = np.argsort(_hash(np.arange(256), salt), kind="stable").astype(np.int64)
        _PERM[salt] = np.concatenate([p, p])
    return _PERM[salt]


def _value_noise(p: np.ndarray, cell: float, salt: int) -> np.ndarray:
    """Trilinear value noise in [0, 1] on a cubic lattice of ``cell`` metres (world-anchored, period 256 cells)."""
    perm = _perm(salt)
    q = p / np.float32(cell)
    fl = np.floor(q)
    i0 = fl.astype(np.int64) & 255
    f = (q - fl).astype(np.float32)
    f = f * f * (3 - 2 * f)  # smooth the lattice so features are blobs, not cube edges
    out = np.zeros(len(p), dtype=np.float32)
    for dx in (0, 1):
        wx = f[:, 0] if dx else 1 - f[:, 0]
        px = perm[i0[:, 0] + dx]
        for dy in (0, 1):
            wxy = wx * (f[:, 1] if dy else 1 - f[:, 1])
            pxy = perm[px + i0[:, 1] + dy]
            for dz in (0, 1):
                wz = f[:, 2] if dz else 1 - f[:, 2]
                out += wxy * wz * (perm[pxy + i0[:, 2] + dz] & 255).astype(np.float32) * np.float32(1 / 255)
    return out


def surface_detail(points: np.ndarray, amplitude: float) -> np.ndarray:
    """Multiplicative albedo grain (n,) around 1 from two octaves of world-anchored value noise (8 and 3 cm).

    Real walls and floors carry fine texture that feature matchers lock onto; the flat procedural patterns
    do not. Scenes opt in with ``metadata["surface_detail"] = amplitude`` (the egomotion video generator
    does); renders without the key are unchanged.
    """
    p = np.asarray(points, dtype=np.float32)
    n = 0.6 * _value_noise(p, 0.08, 1) + 0.4 * _value_noise(p, 0.03, 2)
    return (1.0 + np.float32(amplitude) * (2.0 * n - 1.0)).astype(np.float32)
