"""Reachable free floor of a mesh without a procedural layout: where cameras and sources can stand."""

from __future__ import annotations

from typing import Any

import numpy as np

from simkit.errors import SimkitError
from simkit.scenes.scene import Scene


# ------------------------------------------------------------------------------------------- free floor
def floor_candidates(
    scene: Scene,
    caster: Any,
    cell: float = 0.25,
    sensor_height: float = 1.5,
    head_room: float | None = None,
    wall_clearance: float = 0.5,
    max_step: float = 0.25,
    max_layers: int = 4,
) -> np.ndarray:
    """Reachable free-floor points (K, 3) of a mesh without a procedural layout, on a ``cell`` grid.

    Each grid column is cast downwards through up to ``max_layers`` surfaces (multi-storey houses); a hit
    is floor when its surface is within 25 deg of horizontal, a ceiling lies above it at least
    ``head_room`` away (default ``sensor_height + 0.2``; rays escaping to the sky mean outdoors), and
    horizontal rays at 0.3 m and at ``sensor_height`` find nothing closer than ``wall_clearance``. Free
    cells are linked to their 4-neighbours when floor heights differ by at most ``max_step``; the largest
    linked region is returned (deterministic order). ``caster`` is a
    :class:`simkit.scenes.raycast.RayCaster` of ``scene``. No free floor raises SimkitError.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from simkit.scenes.raycast import fibonacci_directions

    if cell <= 0 or wall_clearance < 0 or sensor_height <= 0:
        raise SimkitError(f"scene {scene.scene_id}: floor grid needs cell > 0, sensor_height > 0, clearance >= 0")
    head = sensor_height + 0.2 if head_room is None else head_room
    lo, hi = scene.bounds
    xs = np.arange(lo[0] + cell / 2, hi[0], cell)
    zs = np.arange(lo[2] + cell / 2, hi[2], cell)
    if len(xs) == 0 or len(zs) == 0:
        raise SimkitError(f"scene {scene.scene_id}: mesh is smaller than one {cell} m floor cell")
    gx, gz = np.meshgrid(np.arange(len(xs)), np.arange(len(zs)), indexing="ij")
    gx, gz = gx.ravel(), gz.ravel()
    n_col = len(gx)
    top = hi[1] + 1.0
    down = np.array([0.0, -1.0, 0.0])
    layer_y = np.full((max_layers, n_col), np.nan)
    origin_y = np.full(n_col, top)
    alive = np.arange(n_col)
    for layer in range(max_layers):
        if len(alive) == 0:
            break
        o = np.stack([xs[gx[alive]], origin_y[alive], zs[gz[alive]]], axis=1)
        dist, face = caster.first_hit(o, down)
        hit = face >= 0
        y = o[:, 1] - dist.astype(np.float64)
        flat = hit & (np.abs(caster.face_normals[np.where(hit, face, 0), 1]) > np.cos(np.deg2rad(25.0)))
        layer_y[layer, alive[flat]] = y[flat]
        origin_y[alive[hit]] = y[hit] - 0.02
        alive = alive[hit]

    li, ci = np.nonzero(np.isfinite(layer_y))
    if len(li):
        fy = layer_y[li, ci]
        feet = np.stack([xs[gx[ci]], fy, zs[gz[ci]]], axis=1)
        up_dist, up_face = caster.first_hit(feet + [0.0, 0.05, 0.0], np.array([0.0, 1.0, 0.0]))
        ok = (up_face >= 0) & (up_dist.astype(np.float64) + 0.05 >= head)
        fan = fibonacci_directions(16, horizontal=True)
        for hgt in (0.3, sensor_height):
            idx = np.flatnonzero(ok)
            if len(idx) == 0:
                break
            clear = caster.clearance(feet[idx] + [0.0, hgt, 0.0], fan, max(wall_clearance, 1e-3))
            ok[idx] = clear >= wall_clearance - 1e-6
        li, ci, fy = li[ok], ci[ok], fy[ok]
    if len(li) == 0:
        raise SimkitError(
            f"scene {scene.scene_id}: no free floor (need {head:.2f} m head room and {wall_clearance} m "
            "wall clearance on a horizontal surface under a ceiling)"
        )
    # link 4-neighbour cells whose floor heights differ by at most max_step
    n = len(li)
    key = np.full((len(xs), len(zs), max_layers), -1, dtype=np.int64)
    key[gx[ci], gz[ci], li] = np.arange(n)
    rows, cols = [], []
    for dx, dz in ((1, 0), (0, 1)):
        a = key[: len(xs) - dx, : len(zs) - dz, :]
        b = key[dx:, dz:, :]
        for la in range(max_layers):
            for lb in range(max_layers):
                ia, ib = a[:, :, la].ravel(), b[:, :, lb].ravel()
                sel = (ia >= 0) & (ib >= 0)
                ia, ib = ia[sel], ib[sel]
                near = np.abs(fy[ia] - fy[ib]) <= max_step
                rows.append(ia[near])
                cols.append(ib[near])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    _n_comp, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    best = int(np.argmax(sizes))  # ties -> lowest label, i.e. the component met first in grid order
    sel = np.flatnonzero(comp == best)
    return np.stack([xs[gx[ci[sel]]], fy[sel], zs[gz[ci[sel]]]], axis=1)
