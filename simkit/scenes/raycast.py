"""Vectorised ray casting against a scene mesh (Embree through ``embreex``), shared by sampling and views.

All queries take batches: origins and directions are (N, 3) arrays (a single (3,) row broadcasts). Embree
works in float32; distances come back as float32 metres along unit directions. Faces are hit from both
sides; :attr:`RayCaster.face_normals` (the right-hand winding normal, pointing into the free air for
procedural scenes) tells which side was hit.
"""

from __future__ import annotations

import numpy as np
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from simkit.scenes.scene import Scene

# Rays start this far along their direction so a point lying on a surface does not hit that surface.
SURFACE_EPS = 1e-3


def _rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"expected (N, 3) points or directions, got shape {a.shape}")
    return a


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two row arrays broadcast to a common length (a single row repeats)."""
    a, b = _rows(a), _rows(b)
    n = max(len(a), len(b))
    if len(a) not in (1, n) or len(b) not in (1, n):
        raise ValueError(f"cannot pair {len(a)} rows with {len(b)} rows")
    return np.broadcast_to(a, (n, 3)), np.broadcast_to(b, (n, 3))


def fibonacci_directions(n: int, horizontal: bool = False) -> np.ndarray:
    """``n`` unit directions spread evenly over the sphere (or the horizontal circle), deterministic."""
    if horizontal:
        a = 2.0 * np.pi * np.arange(n) / n
        return np.stack([np.cos(a), np.zeros(n), np.sin(a)], axis=1)
    i = np.arange(n) + 0.5
    y = 1.0 - 2.0 * i / n
    r = np.sqrt(np.maximum(0.0, 1.0 - y * y))
    phi = np.pi * (1.0 + 5.0**0.5) * i
    return np.stack([r * np.cos(phi), y, r * np.sin(phi)], axis=1)


class RayCaster:
    """First-hit and visibility queries against one scene's triangles."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        v = np.ascontiguousarray(scene.vertices, dtype=np.float32)
        f = np.ascontiguousarray(scene.faces, dtype=np.int32)
        self._embree = rtcore_scene.EmbreeScene()
        # embreex keeps the mesh alive through the scene; the reference here documents that dependency
        self._mesh = TriangleMesh(self._embree, v, f)
        tri = scene.vertices[scene.faces]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        norm = np.linalg.norm(n, axis=1, keepdims=True)
        self.face_normals: np.ndarray = n / np.where(norm > 0, norm, 1.0)
        self.face_areas: np.ndarray = 0.5 * norm[:, 0]

    def first_hit(
        self, origins: np.ndarray, directions: np.ndarray, max_distance: float | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distance (float32, inf on miss) and face index (int64, -1 on miss) of each ray's first hit.

        Directions need not be unit length; distances are metres along the normalised direction. Rays
        longer than ``max_distance`` (scalar or per ray) count as misses.
        """
        o, d = _rows(origins), np.asarray(directions)
        d = d[None, :] if d.ndim == 1 else d
        if d.ndim != 2 or d.shape[1] != 3:
            raise ValueError(f"expected (N, 3) points or directions, got shape {d.shape}")
        n = max(len(o), len(d))
        if len(o) not in (1, n) or len(d) not in (1, n):
            raise ValueError(f"cannot pair {len(o)} rows with {len(d)} rows")
        if n == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        if len(d) == 1:
            d = np.broadcast_to(d, (n, 3))
        # unit directions in float64, then float32 for Embree; column by column (contiguous passes),
        # the same operations in the same order as dividing by np.linalg.norm(d, axis=1)
        x, y, z = (d[:, k].astype(np.float64) for k in range(3))
        length = x * x
        sq = y * y
        length += sq
        np.multiply(z, z, out=sq)
        length += sq
        np.sqrt(length, out=length)
        if not length.min() > 0:  # one pass when no ray is degenerate (NaN min lands here too)
            length[~(length > 0)] = 1.0
        d32 = np.empty((n, 3), dtype=np.float32)
        for k, c in enumerate((x, y, z)):
            np.divide(c, length, out=d32[:, k], casting="same_kind")
        o32 = np.empty((n, 3), dtype=np.float32)
        if len(o) == 1:
            for k in range(3):  # one rounding, repeated down a column (a (1, 3) broadcast copies slowly)
                o32[:, k] = np.float32(o[0, k])
        else:
            o32[:] = o
        if max_distance is None:
            res = self._embree.run(o32, d32, output=1)
        else:
            dists = np.ascontiguousarray(np.broadcast_to(np.asarray(max_distance, np.float32), (n,)))
            res = self._embree.run(o32, d32, dists=dists.copy(), output=1)
        face = res["primID"].astype(np.int64)
        dist = res["tfar"]  # float32, Embree's own output array
        if face.min() < 0:
            dist[face < 0] = np.inf
        return dist, face

    def visible(self, a: np.ndarray, b: np.ndarray, eps: float = SURFACE_EPS) -> np.ndarray:
        """Whether each segment ``a[i] -> b[i]`` is unobstructed (ignoring ``eps`` at both ends)."""
        a, b = _pair(a, b)
        seg = b - a
        length = np.linalg.norm(seg, axis=1)
        short = length <= 2 * eps
        safe = np.where(short, 1.0, length)
        unit = seg / safe[:, None]
        origins = a + unit * eps
        _dist, face = self.first_hit(origins, unit, np.maximum(safe - 2 * eps, 1e-6))
        return short | (face < 0)

    def hit_front(self, directions: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """For hits (face >= 0): did the ray meet the face's front (the side its normal points to)?"""
        faces = np.asarray(faces)
        d = np.broadcast_to(_rows(directions), (len(faces), 3))
        ok = faces >= 0
        out = np.zeros(len(faces), dtype=bool)
        out[ok] = np.einsum("ij,ij->i", d[ok], self.face_normals[faces[ok]]) < 0
        return out

    def clearance(self, points: np.ndarray, directions: np.ndarray, max_distance: float) -> np.ndarray:
        """Smallest hit distance from each point over ``directions`` (K, 3), capped at ``max_distance``."""
        p = _rows(points)
        d = _rows(directions)
        if len(p) == 0:
            return np.zeros(0, np.float32)
        o = np.repeat(p, len(d), axis=0)
        dd = np.tile(d, (len(p), 1))
        dist, _face = self.first_hit(o, dd, max_distance)
        return np.minimum(dist.reshape(len(p), len(d)).min(axis=1), np.float32(max_distance))

    def enclosed(self, points: np.ndarray, n_directions: int = 14) -> np.ndarray:
        """Whether each point lies in free air: every ray of a fixed fan hits a surface from its front side.

        Relies on consistent normals pointing into the air (true for procedural scenes); a point inside
        furniture or a wall, or outside the building, sees back faces or escapes.
        """
        p = _rows(points)
        if len(p) == 0:
            return np.zeros(0, dtype=bool)
        d = fibonacci_directions(n_directions)
        o = np.repeat(p, len(d), axis=0)
        dd = np.tile(d, (len(p), 1))
        _dist, face = self.first_hit(o, dd)
        front = self.hit_front(dd, face) & (face >= 0)
        return front.reshape(len(p), len(d)).all(axis=1)
