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


def sample_texture(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear, wrap-around lookup of an (h, w, 3) uint8 image at trimesh-convention UVs -> float [0, 1]."""
    h, w = image.shape[:2]
    x = np.mod(uv[:, 0], 1.0) * w - 0.5
    y = (1.0 - np.mod(uv[:, 1], 1.0)) * h - 0.5
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    x0m, x1m = np.mod(x0, w), np.mod(x0 + 1, w)
    y0m, y1m = np.mod(y0, h), np.mod(y0 + 1, h)
    img = image.astype(np.float64) / 255.0
    top = img[y0m, x0m] * (1 - fx) + img[y0m, x1m] * fx
    bot = img[y1m, x0m] * (1 - fx) + img[y1m, x1m] * fx
    return top * (1 - fy) + bot * fy


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


def procedural_albedo(scene: Scene, face_ids: np.ndarray, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Albedo (n, 3) in [0, 1] for ray hits on ``face_ids`` at world ``points`` with unit ``normals``
    (oriented towards the viewer)."""
    face_ids = np.asarray(face_ids, dtype=np.int64)
    if len(scene.faces) <= len(face_ids):
        attrs = _face_attributes(scene, np.arange(len(scene.faces)))
        idx = face_ids
    else:
        uniq, idx = np.unique(face_ids, return_inverse=True)
        attrs = _face_attributes(scene, uniq)
    p = np.asarray(points, dtype=np.float32)
    ny = np.asarray(normals)[:, 1]
    base = np.take(attrs["base"], idx, axis=0)
    out = base.copy()
    structure = np.take(attrs["structure"], idx)
    # index arrays + np.take: boolean-mask indexing of (N, 3) arrays is several times slower
    floor = np.flatnonzero(structure & (ny > 0.7))
    ceiling = np.flatnonzero(structure & (ny < -0.7))
    wall = np.flatnonzero(structure & (ny <= 0.7) & (ny >= -0.7))
    obj = np.flatnonzero(~structure)

    if len(floor):
        pf = np.take(p, floor, axis=0)
        xf, zf = pf[:, 0], pf[:, 2]
        plank = np.floor(xf / 0.2).astype(np.int64)
        along = zf / 1.2 + 0.37 * plank
        joint = np.floor(along).astype(np.int64)
        shade = 0.78 + 0.3 * _hash(plank, joint).astype(np.float32)
        gap = (np.mod(xf, 0.2) < 0.008) | (np.mod(along, 1.0) < 0.006)
        out[floor] = np.take(base, floor, axis=0) * (shade * np.where(gap, 0.55, 1.0).astype(np.float32))[:, None]

    if len(ceiling):
        pc = np.take(p, ceiling, axis=0)
        grout = (np.mod(pc[:, 0], 0.6) < 0.015) | (np.mod(pc[:, 2], 0.6) < 0.015)
        out[ceiling] = np.take(base, ceiling, axis=0) * np.where(grout, 0.75, 1.0).astype(np.float32)[:, None]

    if len(wall):
        wi = np.take(idx, wall)
        pw = np.take(p, wall, axis=0)
        t = np.einsum("ij,ij->i", pw, np.take(attrs["tangent"], wi, axis=0))
        h = pw[:, 1] - np.float32(_floor_height(scene))
        period = np.take(attrs["period"], wi)
        stripes = np.where(np.mod(np.floor(t / period), 2) == 0, 1.0, 0.9).astype(np.float32)
        col = np.clip(np.take(base, wall, axis=0) * np.take(attrs["tint"], wi, axis=0), 0.0, 1.0)
        col *= stripes[:, None]
        col[(h > 0.9) & (h < 1.0)] *= 0.6  # dado rail
        u = np.mod(t / 1.1, 1.0)
        band = np.flatnonzero((u > 0.15) & (u < 0.85) & (h > 1.2) & (h < 2.0))
        if len(band):
            cell = np.floor(np.take(t, band) / 1.1).astype(np.int64)
            hp = _hash(np.take(attrs["sector"], np.take(wi, band)), cell, 11)
            panel = hp < 0.45
            # one hash per panel, spread into three channels by irrational multiples
            rgb = (np.mod(hp[panel, None] * np.array([97.13, 57.71, 31.37]), 1.0) * 0.8 + 0.1).astype(np.float32)
            col[band[panel]] = rgb
        out[wall] = col

    if len(obj):
        oi = np.take(idx, obj)
        q = np.floor(np.take(p, obj, axis=0) / 0.1).astype(np.int64)
        checker = np.where(np.mod(q.sum(axis=-1), 2) == 0, 1.0, 0.85).astype(np.float32)
        jit = np.take(base, obj, axis=0) * np.take(attrs["jitter"], oi, axis=0)
        out[obj] = np.clip(jit, 0.0, 1.0) * checker[:, None]

    np.clip(out, 0.0, 1.0, out=out)
    return out


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
