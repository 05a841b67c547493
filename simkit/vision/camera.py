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
from dataclasses import dataclass

import numpy as np

from simkit.conventions import yaw_pitch_to_matrix
from simkit.scenes.raycast import RayCaster
from simkit.scenes.scene import Scene
from simkit.vision.config import CameraConfig
from simkit.vision.textures import procedural_albedo, sample_texture, surface_detail

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
    dist, face = caster.first_hit(origin, dirs)
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
        dist, face = caster.first_hit(positions[i], dirs)
        out[i] = np.where(face >= 0, dist * axis_cos, np.float32(0.0))
    return out.reshape(len(yaws), cfg.height, cfg.width)
