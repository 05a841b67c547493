"""The camera before the vectorised rewrite (simkit/vision/camera.py, textures.py and RayCaster.first_hit at
commit d056469), kept only so benchmarks/bench_views.py can time old against new in one run. Not used by simkit."""

# ruff: noqa

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from simkit.vision.config import CameraConfig
from simkit.conventions import yaw_pitch_to_matrix
from simkit.scenes.raycast import RayCaster, _pair
from simkit.scenes.scene import Scene

def first_hit(caster: RayCaster, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RayCaster.first_hit at d056469 (without max_distance)."""
    o, d = _pair(origins, directions)
    n = len(o)
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    length = np.linalg.norm(d, axis=1, keepdims=True)
    d = d / np.where(length > 0, length, 1.0)
    o32 = np.ascontiguousarray(o, dtype=np.float32)
    d32 = np.ascontiguousarray(d, dtype=np.float32)
    res = caster._embree.run(o32, d32, output=1)
    face = res["primID"].astype(np.int64)
    dist = np.where(face >= 0, res["tfar"], np.inf).astype(np.float32)
    return dist, face


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


_SUN = np.array([0.35, 1.0, 0.55]) / np.linalg.norm([0.35, 1.0, 0.55])


@dataclass
class View:
    """One rendered view (or a stack of views with leading dimensions)."""

    rgb: np.ndarray  # (..., H, W, 3) uint8
    depth: np.ndarray  # (..., H, W) float32, metres along the optical axis, 0 where nothing is hit
    instance: np.ndarray  # (..., H, W) uint16, scene.face_instance of the hit face, 0 = structure/none


def pixel_rays(cfg: CameraConfig) -> np.ndarray:
    """Camera-frame unit ray directions (H, W, 3) through the pixel centres (x right, y up, -z forward)."""
    return _pixel_rays(cfg.width, cfg.height, float(cfg.hfov_deg)).copy()


@functools.lru_cache(maxsize=8)
def _pixel_rays(width: int, height: int, hfov_deg: float) -> np.ndarray:
    f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2.0)
    u = (np.arange(width) + 0.5 - width / 2.0) / f
    v = -(np.arange(height) + 0.5 - height / 2.0) / f
    uu, vv = np.meshgrid(u, v)
    d = np.stack([uu, vv, -np.ones_like(uu)], axis=-1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    d.setflags(write=False)
    return d


def project_points(
    points: np.ndarray, position: np.ndarray, yaw_deg: float, cfg: CameraConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (n, 2) as (column, row), continuous, of world points, and whether each lies in
    front of the camera (inside or outside the image)."""
    rot = yaw_pitch_to_matrix(yaw_deg, cfg.pitch_deg)
    local = (np.atleast_2d(np.asarray(points, dtype=np.float64)) - np.asarray(position, dtype=np.float64)) @ rot
    z = -local[:, 2]
    front = z > 1e-6
    safe = np.where(front, z, 1.0)
    col = cfg.width / 2.0 + cfg.focal_px * local[:, 0] / safe
    row = cfg.height / 2.0 - cfg.focal_px * local[:, 1] / safe
    return np.stack([col, row], axis=-1), front


def _barycentric(scene: Scene, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Barycentric weights (n, 3) of ``points`` on triangles ``faces``."""
    tri = scene.vertices[scene.faces[faces]]
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, points - a
    d00 = np.einsum("ij,ij->i", v0, v0)
    d01 = np.einsum("ij,ij->i", v0, v1)
    d11 = np.einsum("ij,ij->i", v1, v1)
    d20 = np.einsum("ij,ij->i", v2, v0)
    d21 = np.einsum("ij,ij->i", v2, v1)
    den = d00 * d11 - d01 * d01
    den = np.where(np.abs(den) > 1e-20, den, 1.0)
    wv = (d11 * d20 - d01 * d21) / den
    ww = (d00 * d21 - d01 * d20) / den
    w = np.stack([1.0 - wv - ww, wv, ww], axis=-1)
    return np.clip(w, 0.0, 1.0)


def albedo(scene: Scene, faces: np.ndarray, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Surface colour (n, 3) in [0, 1] at hits (see the module docstring for the order of sources)."""
    md = scene.metadata
    textures = md.get("textures")
    vertex_color = md.get("vertex_color")
    if md.get("procedural_texture", True) and textures is None and vertex_color is None:
        out = procedural_albedo(scene, faces, points, normals)
    else:
        out = scene.face_color[faces].astype(np.float64) / 255.0
    if vertex_color is not None:
        w = _barycentric(scene, faces, points)
        corners = np.asarray(vertex_color)[scene.faces[faces]].astype(np.float64) / 255.0
        out = np.einsum("ij,ijk->ik", w, corners)
    if textures is not None:
        tex_id = np.asarray(md["face_texture"])[faces]
        textured = tex_id >= 0
        if textured.any():
            w = _barycentric(scene, faces[textured], points[textured])
            uv = np.einsum("ij,ijk->ik", w, np.asarray(md["face_uv"])[faces[textured]].astype(np.float64))
            cols = np.empty((int(textured.sum()), 3))
            tid = tex_id[textured]
            for t in np.unique(tid):
                sel = tid == t
                cols[sel] = sample_texture(textures[int(t)], uv[sel])
            out[textured] = cols
    detail = float(md.get("surface_detail", 0.0) or 0.0)
    if detail > 0:
        out = np.clip(out * surface_detail(points, detail)[:, None], 0.0, 1.0)
    return out


def _render_into(
    scene: Scene, caster: RayCaster, position: np.ndarray, yaw_deg: float, cfg: CameraConfig,
    rgb: np.ndarray, depth: np.ndarray, instance: np.ndarray,
) -> None:
    """Render one view into flat (H*W, 3) / (H*W,) output arrays."""
    local = _pixel_rays(cfg.width, cfg.height, float(cfg.hfov_deg)).reshape(-1, 3)
    rot = yaw_pitch_to_matrix(yaw_deg, cfg.pitch_deg)
    dirs = (local @ rot.T).astype(np.float32)
    origin = np.asarray(position, dtype=np.float64)
    dist, face = first_hit(caster, origin, dirs)
    hit = face >= 0
    # depth along the optical axis = hit distance * cos(angle to the axis) = distance * (-local z)
    depth[:] = np.where(hit, dist * (-local[:, 2]).astype(np.float32), np.float32(0.0))
    instance[:] = 0
    rgb[:] = np.asarray(cfg.background, dtype=np.uint8)
    # np.take with an index array is several times faster than boolean-mask indexing on (N, 3) arrays
    hi = np.flatnonzero(hit)
    if len(hi) == 0:
        return
    fh = np.take(face, hi)
    np.put(instance, hi, np.take(scene.face_instance, fh).astype(np.uint16))
    d = np.take(dirs, hi, axis=0)
    pts = origin + d * np.take(dist, hi)[:, None].astype(np.float64)
    nrm = np.take(caster.face_normals, fh, axis=0).astype(np.float32)
    facing = np.einsum("ij,ij->i", nrm, d)
    nrm *= np.where(facing > 0, -1.0, 1.0).astype(np.float32)[:, None]  # the side the camera sees
    col = albedo(scene, fh, pts, nrm)
    shade = cfg.ambient + cfg.headlight * np.abs(facing) + cfg.sun * np.maximum(nrm @ _SUN.astype(np.float32), 0)
    col *= shade[:, None] * 255.0
    rgb[hi] = np.clip(np.rint(col), 0, 255).astype(np.uint8)


def render_views(
    scene: Scene,
    caster: RayCaster,
    positions: np.ndarray,
    yaws_deg: np.ndarray,
    cfg: CameraConfig | None = None,
) -> View:
    """Render V views: positions (V, 3) world metres, yaws (V,) degrees; arrays get a leading V dimension.

    Views are cast one at a time: one batched cast of all V views was measured slower per view (the
    per-ray working set falls out of cache).
    """
    cfg = cfg or CameraConfig()
    cfg.validate()
    positions = np.atleast_2d(np.asarray(positions, dtype=np.float64))
    yaws = np.atleast_1d(np.asarray(yaws_deg, dtype=np.float64))
    if positions.shape != (len(yaws), 3):
        raise ValueError(f"positions {positions.shape} do not match {len(yaws)} yaws")
    v, h, w = len(yaws), cfg.height, cfg.width
    rgb = np.empty((v, h * w, 3), dtype=np.uint8)
    depth = np.empty((v, h * w), dtype=np.float32)
    instance = np.empty((v, h * w), dtype=np.uint16)
    for i in range(v):
        _render_into(scene, caster, positions[i], float(yaws[i]), cfg, rgb[i], depth[i], instance[i])
    return View(rgb=rgb.reshape(v, h, w, 3), depth=depth.reshape(v, h, w), instance=instance.reshape(v, h, w))


def render_view(
    scene: Scene, caster: RayCaster, position: np.ndarray, yaw_deg: float, cfg: CameraConfig | None = None
) -> View:
    """Render one view from ``position`` (world, m) at ``yaw_deg`` (deg, + = turned left)."""
    views = render_views(scene, caster, np.asarray(position, dtype=np.float64)[None], np.array([yaw_deg]), cfg)
    return View(rgb=views.rgb[0], depth=views.depth[0], instance=views.instance[0])


def render_depths(
    caster: RayCaster, positions: np.ndarray, yaws_deg: np.ndarray, cfg: CameraConfig | None = None
) -> np.ndarray:
    """Depth images only (V, H, W) float32, as :func:`render_views` computes them but without colour or
    instances: the cheap first look the render's view filter takes at a coarse resolution."""
    cfg = cfg or CameraConfig()
    cfg.validate()
    positions = np.atleast_2d(np.asarray(positions, dtype=np.float64))
    yaws = np.atleast_1d(np.asarray(yaws_deg, dtype=np.float64))
    local = _pixel_rays(cfg.width, cfg.height, float(cfg.hfov_deg)).reshape(-1, 3)
    axis_cos = (-local[:, 2]).astype(np.float32)
    out = np.empty((len(yaws), cfg.height * cfg.width), dtype=np.float32)
    for i, yaw in enumerate(yaws):
        dirs = (local @ yaw_pitch_to_matrix(float(yaw), cfg.pitch_deg).T).astype(np.float32)
        dist, face = first_hit(caster, positions[i], dirs)
        out[i] = np.where(face >= 0, dist * axis_cos, np.float32(0.0))
    return out.reshape(len(yaws), cfg.height, cfg.width)
