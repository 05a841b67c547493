"""Ray-cast pinhole camera: RGB, metric depth and object-instance images of a scene.

The camera pose follows :mod:`simkit.conventions`: rotation ``yaw_pitch_to_matrix(yaw, pitch)``, looking
along local -z with +x right and +y up (the listener's frame, pitched). One primary ray per pixel centre is
cast through :class:`simkit.scenes.raycast.RayCaster` (Embree); there are no shadows or reflections.

Colour of a hit (:func:`albedo`), first source that applies:

1. UV texture: ``scene.metadata["textures"]`` (list of uint8 (h, w, 3) images), ``["face_texture"]``
   ((m,) int, index into ``textures``, -1 = untextured face) and ``["face_uv"]`` ((m, 3, 2) float, the
   UV of each face corner, trimesh/OpenGL convention: v = 0 at the bottom row, wrapping repeat) - as
   written by :func:`simkit.scenes.loaders.load_mesh_scene` for glTF base-colour textures;
2. vertex colours: ``scene.metadata["vertex_color"]`` ((n, 3) uint8), interpolated barycentrically;
3. ``scene.face_color``, patterned by :func:`simkit.vision.textures.procedural_albedo` when
   ``scene.metadata.get("procedural_texture", True)`` - i.e. by default for every scene that has only
   face colours (procedural and box scenes); loaders set it False for real meshes without textures.

``scene.metadata["surface_detail"]`` (optional, default 0) multiplies the colour with world-anchored grain
(:func:`simkit.vision.textures.surface_detail`), the fine texture a feature matcher needs.

Shading is Lambertian: ``ambient + headlight * |n.v| + sun * max(0, n.l)`` with a headlight at the camera
and a fixed light from above; every factor is deterministic, so equal poses give equal bytes.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import numpy as np

from simkit.conventions import yaw_pitch_to_matrix
from simkit.scenes.raycast import RayCaster
from simkit.scenes.scene import Scene
from simkit.scenes.texture_sampling import sample_texture
from simkit.vision.config import CameraConfig
from simkit.vision.textures import FaceTable, face_table, procedural_albedo_y, surface_detail

_SUN = np.array([0.35, 1.0, 0.55]) / np.linalg.norm([0.35, 1.0, 0.55])
_SUN32 = _SUN.astype(np.float32)


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


@functools.lru_cache(maxsize=8)
def _rays_and_axis_cos_cached(width: int, height: int, hfov_deg: float) -> tuple[np.ndarray, np.ndarray]:
    local = _pixel_rays(width, height, hfov_deg).reshape(-1, 3)
    axis_cos = (-local[:, 2]).astype(np.float32)
    axis_cos.setflags(write=False)
    return local, axis_cos


def _rays_and_axis_cos(cfg: CameraConfig) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame pixel rays (H*W, 3) float64 and their cosine to the optical axis (H*W,) float32."""
    return _rays_and_axis_cos_cached(cfg.width, cfg.height, float(cfg.hfov_deg))


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


def albedo(
    scene: Scene, faces: np.ndarray, points: np.ndarray, normals: np.ndarray, table: FaceTable | None = None
) -> np.ndarray:
    """Surface colour (n, 3) in [0, 1] at hits (see the module docstring for the order of sources).

    ``table`` is the scene's precomputed :class:`simkit.vision.textures.FaceTable` (built here when None).
    """
    return _albedo(scene, faces, points, np.asarray(normals)[:, 1], table)


def _albedo(
    scene: Scene, faces: np.ndarray, points: np.ndarray, normal_y: np.ndarray, table: FaceTable | None
) -> np.ndarray:
    """:func:`albedo` given the y component of the viewer-side normals (all the procedural pattern uses)."""
    md = scene.metadata
    textures = md.get("textures")
    vertex_color = md.get("vertex_color")
    if md.get("procedural_texture", True) and textures is None and vertex_color is None:
        out = procedural_albedo_y(scene, faces, points, normal_y, table)
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
            for t in np.unique(tid):  # one lookup per texture image, not per pixel
                sel = tid == t
                cols[sel] = sample_texture(textures[int(t)], uv[sel])
            out[textured] = cols
    detail = float(md.get("surface_detail", 0.0) or 0.0)
    if detail > 0:
        out = np.clip(out * surface_detail(points, detail)[:, None], 0.0, 1.0)
    return out


# Rows per float64 matmul: OpenBLAS threads a GEMM above M*N*K = 262144 and its idle threads then spin,
# which tripled the CPU time of a view on a 2-core machine. Each output element's arithmetic (one
# 3-term dot product) is the same in a chunk as in the whole product, so the bytes do not change.
_MATMUL_ROWS = 16384


def _rotate_rays(local: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """``(local @ rot.T).astype(float32)`` in chunks below OpenBLAS's threading threshold."""
    out = np.empty(local.shape, dtype=np.float32)
    rt = rot.T
    for s in range(0, len(local), _MATMUL_ROWS):
        out[s:s + _MATMUL_ROWS] = local[s:s + _MATMUL_ROWS] @ rt
    return out


@dataclass
class _CameraTables:
    """Per-scene (per caster) tables the camera reuses across views: computed once, gathered per pixel."""

    normal_cols: tuple[np.ndarray, np.ndarray, np.ndarray]  # x, y, z (m,) float32 of RayCaster.face_normals
    sun: np.ndarray  # (m,) float32 face normal . sun direction
    instance: np.ndarray  # (m,) uint16 scene.face_instance
    faces: FaceTable  # procedural texture parameters of every face


_TABLES: weakref.WeakKeyDictionary[RayCaster, _CameraTables] = weakref.WeakKeyDictionary()


def _tables(scene: Scene, caster: RayCaster) -> _CameraTables:
    t = _TABLES.get(caster)
    if t is None or t.faces.scene is not scene:
        normals = caster.face_normals.astype(np.float32)
        sun = np.empty(len(normals), dtype=np.float32)
        for s in range(0, len(normals), _MATMUL_ROWS):  # same product as per pixel, one row per face
            sun[s:s + _MATMUL_ROWS] = normals[s:s + _MATMUL_ROWS] @ _SUN32
        cols = tuple(np.ascontiguousarray(normals[:, k]) for k in range(3))
        t = _CameraTables(cols, sun, scene.face_instance.astype(np.uint16), face_table(scene))
        _TABLES[caster] = t
    return t


# Pixels per pass through the pipeline: the per-pixel temporaries of one pass (a dozen arrays of 4-24 bytes
# a pixel) stay in the CPU cache instead of streaming a whole view's worth through memory per operation.
_CHUNK = 25600


def _render_into(
    scene: Scene, caster: RayCaster, position: np.ndarray, yaw_deg: float, cfg: CameraConfig,
    rgb: np.ndarray, depth: np.ndarray, instance: np.ndarray,
) -> None:
    """Render one view into flat (H*W, 3) / (H*W,) output arrays."""
    tables = _tables(scene, caster)
    local, axis_cos = _rays_and_axis_cos(cfg)
    rot = yaw_pitch_to_matrix(yaw_deg, cfg.pitch_deg)
    origin = np.asarray(position, dtype=np.float64)
    background = np.asarray(cfg.background, dtype=np.uint8)
    # rays rotated per run, not per view: freeing a whole view's directions (0.9 MB) let glibc trim its heap,
    # and every run then page-faulted its temporaries back in (CPU time in the kernel)
    for s in range(0, len(local), _CHUNK):
        e = s + _CHUNK
        dirs = _rotate_rays(local[s:e], rot)
        dist, face = _cast_pixels(caster, tables, origin, dirs, axis_cos[s:e], depth[s:e], instance[s:e])
        _shade_pixels(scene, tables, origin, dirs, dist, face, cfg, background, rgb[s:e])


def _cast_pixels(
    caster: RayCaster, tables: _CameraTables, origin: np.ndarray, dirs: np.ndarray, axis_cos: np.ndarray,
    depth: np.ndarray, instance: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Cast a run of pixels: fills its depth and instance outputs, returns the hit distances and faces
    (what :func:`_shade_pixels` colours)."""
    dist, face = caster.first_hit(origin, dirs)
    # depth along the optical axis = hit distance * cos(angle to the axis) = distance * (-local z)
    np.multiply(dist, axis_cos, out=depth)
    if bool((face >= 0).all()):  # indoors every ray usually hits: no mask
        np.take(tables.instance, face, out=instance)
    else:
        hit = face >= 0
        depth[~hit] = 0.0
        instance[:] = 0
        hi = np.flatnonzero(hit)
        np.put(instance, hi, np.take(tables.instance, np.take(face, hi)))
    return dist, face


def _shade_pixels(
    scene: Scene, tables: _CameraTables, origin: np.ndarray, dirs: np.ndarray, dist: np.ndarray,
    face: np.ndarray, cfg: CameraConfig, background: np.ndarray, rgb: np.ndarray,
) -> None:
    """Colour a run of cast pixels (every step is per pixel, so runs give the bytes of the whole)."""
    hit = face >= 0
    # np.take with an index array is several times faster than boolean-mask indexing on (N, 3) arrays;
    # indoors every ray usually hits, and then no gather or mask is needed at all
    everything = bool(hit.all())
    if everything:
        fh, d, dh = face, dirs, dist
    else:
        rgb[:] = background
        hi = np.flatnonzero(hit)
        if len(hi) == 0:
            return
        fh, d, dh = np.take(face, hi), np.take(dirs, hi, axis=0), np.take(dist, hi)
    # hit points origin + d * t in float64 (as the colour sources expect), column by column; the
    # procedural pattern and the surface grain read them as float32, the texture paths as float64
    md = scene.metadata
    keep64 = md.get("textures") is not None or md.get("vertex_color") is not None
    pts = np.empty((len(fh), 3), dtype=np.float64 if keep64 else np.float32)
    t64 = dh.astype(np.float64)
    for c in range(3):
        col_c = d[:, c].astype(np.float64)
        col_c *= t64
        col_c += origin[c]
        pts[:, c] = col_c
    # n . d as einsum("ij,ij->i") computes it for 3 terms: ((n0 d0 + n1 d1) + n2 d2) in float32, no FMA
    # (checked bit for bit on 2M random pairs); plain IEEE operations, so the same on every CPU
    ny = np.take(tables.normal_cols[1], fh)
    facing = np.take(tables.normal_cols[0], fh)
    facing *= d[:, 0]
    facing += ny * d[:, 1]
    facing += np.take(tables.normal_cols[2], fh) * d[:, 2]
    # the side the camera sees; flipping a normal flips its terms exactly (IEEE negation is exact)
    sign = np.where(facing > 0, np.float32(-1.0), np.float32(1.0))
    ny *= sign
    col = _albedo(scene, fh, pts, ny, tables.faces)
    # ambient + headlight * |n.v| + sun * max(0, n.l), in float32 (the weights round to float32 as
    # Python scalars do against float32 arrays), then * 255; same operations, fewer temporaries
    shade = np.abs(facing)
    shade *= np.float32(cfg.headlight)
    shade += np.float32(cfg.ambient)
    sun = np.take(tables.sun, fh)
    sun *= sign
    np.maximum(sun, 0, out=sun)
    sun *= np.float32(cfg.sun)
    shade += sun
    shade *= np.float32(255.0)
    col *= shade[:, None]
    np.rint(col, out=col)
    np.clip(col, 0, 255, out=col)
    if everything:
        rgb[:] = col
    else:
        rgb[hi] = col.astype(np.uint8)


def render_views(
    scene: Scene,
    caster: RayCaster,
    positions: np.ndarray,
    yaws_deg: np.ndarray,
    cfg: CameraConfig | None = None,
) -> View:
    """Render V views: positions (V, 3) world metres, yaws (V,) degrees; arrays get a leading V dimension.

    Views are cast and shaded one at a time, each in runs of ``_CHUNK`` pixels: one batched cast of all V
    views, or of a whole view before shading it, was measured slower per view (the per-ray working set
    falls out of cache). Per-scene tables are built on the first view of a caster and reused.
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


@dataclass
class ViewHits:
    """First hits of one view, cast but not shaded (:func:`cast_view`): its depth and instance images,
    which are all the view filters read, and the per-pixel hits :func:`shade_views` colours."""

    position: np.ndarray  # (3,) float64
    yaw_deg: float
    depth: np.ndarray  # (H, W) float32, as View.depth
    instance: np.ndarray  # (H, W) uint16, as View.instance
    dist: np.ndarray  # (H*W,) float32 hit distance along the unit ray (inf on a miss)
    face: np.ndarray  # (H*W,) int64 hit face (-1 on a miss)


def cast_view(
    scene: Scene, caster: RayCaster, position: np.ndarray, yaw_deg: float, cfg: CameraConfig | None = None
) -> ViewHits:
    """Cast one view without colouring it: depth and instances as :func:`render_views` gives them.

    A filtered draw is judged on these alone; only a kept one is shaded (:func:`shade_views`), and the
    bytes are those of :func:`render_views` because both run the same per-run steps on the same runs."""
    cfg = cfg or CameraConfig()
    cfg.validate()
    tables = _tables(scene, caster)
    local, axis_cos = _rays_and_axis_cos(cfg)
    origin = np.asarray(position, dtype=np.float64).reshape(3)
    rot = yaw_pitch_to_matrix(float(yaw_deg), cfg.pitch_deg)
    n = cfg.height * cfg.width
    depth = np.empty(n, dtype=np.float32)
    instance = np.empty(n, dtype=np.uint16)
    dist = np.empty(n, dtype=np.float32)
    face = np.empty(n, dtype=np.int64)
    for s in range(0, n, _CHUNK):
        e = s + _CHUNK
        dist[s:e], face[s:e] = _cast_pixels(caster, tables, origin, _rotate_rays(local[s:e], rot), axis_cos[s:e],
                                            depth[s:e], instance[s:e])
    return ViewHits(origin, float(yaw_deg), depth.reshape(cfg.height, cfg.width),
                    instance.reshape(cfg.height, cfg.width), dist, face)


def shade_views(scene: Scene, caster: RayCaster, hits: list[ViewHits], cfg: CameraConfig | None = None) -> View:
    """The views of :func:`cast_view` results (cast with the same scene, caster and ``cfg``), coloured:
    byte for byte what :func:`render_views` gives for their poses."""
    cfg = cfg or CameraConfig()
    cfg.validate()
    tables = _tables(scene, caster)
    local, _ = _rays_and_axis_cos(cfg)
    background = np.asarray(cfg.background, dtype=np.uint8)
    v, h, w = len(hits), cfg.height, cfg.width
    rgb = np.empty((v, h * w, 3), dtype=np.uint8)
    for i, hit in enumerate(hits):
        if hit.dist.shape != (h * w,):
            raise ValueError(f"hits of {hit.dist.shape} pixels for a {w}x{h} camera")
        rot = yaw_pitch_to_matrix(hit.yaw_deg, cfg.pitch_deg)
        for s in range(0, h * w, _CHUNK):
            e = s + _CHUNK  # the rays and runs cast_view cast: the same directions, bit for bit
            _shade_pixels(scene, tables, hit.position, _rotate_rays(local[s:e], rot), hit.dist[s:e],
                          hit.face[s:e], cfg, background, rgb[i, s:e])
    return View(rgb=rgb.reshape(v, h, w, 3), depth=np.stack([x.depth for x in hits]),
                instance=np.stack([x.instance for x in hits]))


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
    local, axis_cos = _rays_and_axis_cos(cfg)
    out = np.empty((len(yaws), cfg.height * cfg.width), dtype=np.float32)
    for i, yaw in enumerate(yaws):
        dirs = _rotate_rays(local, yaw_pitch_to_matrix(float(yaw), cfg.pitch_deg))
        dist, face = caster.first_hit(positions[i], dirs)
        np.multiply(dist, axis_cos, out=out[i])
        out[i][face < 0] = 0.0
    return out.reshape(len(yaws), cfg.height, cfg.width)
