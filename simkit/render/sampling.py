"""Viewpoint and source sampling for one view set (HM3D-SS / Sound Localization from Motion protocol).

A view set is one camera position on free floor (sensor at ``sensor_height``), ``views`` yaws whose pairwise
differences all lie in ``[min_yaw_diff, max_yaw_diff]`` (optionally each view nudged by up to
``max_translation``), and ``sources`` static sources that every view can see, each within
``[source_min_distance, source_max_distance]`` of every view and ``source_height_min..max`` above the floor.

Every geometric test is a ray cast (:class:`~simkit.scenes.raycast.RayCaster`), so meshes without a
procedural layout reuse the sampler. When a procedural layout is present, its free-floor rectangles drive
floor sampling and the camera's wall clearance is measured exactly against its rooms and obstacles (a ray
ring can slip past a furniture corner).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simkit import conventions
from simkit.config import validate
from simkit.data.labels import ViewLabels
from simkit.errors import SimkitError
from simkit.render.config import SamplingConfig
from simkit.scenes.emitters import WALL, Emitter, draw_emitter, fits, snap_to_wall
from simkit.scenes.raycast import RayCaster, fibonacci_directions
from simkit.scenes.scene import Scene
from simkit.vision.camera import project_points
from simkit.vision.config import CameraConfig

CLEARANCE_RAYS = 64  # horizontal rays per clearance ring around a camera (meshes without a layout)
KNEE_HEIGHT = 0.3  # m above the floor: second clearance ring, so low furniture also keeps its distance
SOURCE_SURFACE_CLEARANCE = 0.2  # m, a source keeps this distance from every surface (ray-fan estimate)
SOURCE_MIN_SEPARATION = 0.3  # m between two sources of one set
CAMERA_BATCH = 32  # floor candidates tested per ray-cast batch
SOURCE_BATCH = 128  # source candidates tested per batch
SOURCE_BATCHES = 4  # source batches tried around one camera before moving the camera
TRANSLATION_TRIES = 8  # draws per view for its offset before the camera position is given up
FLOOR_CELL = 0.25  # m, grid cell of the free-floor search on meshes without a layout
EMITTER_KEEPOUT = 0.3  # m between a visible source's footprint and a camera (the listener's body)
EMITTER_GAP = 0.05  # m between the footprints of two visible sources


@dataclass
class ViewSet:
    """One camera position seen under V yaws, with S static sources (world frame, metres, degrees)."""

    positions: np.ndarray  # (V, 3) sensor positions
    yaws_deg: np.ndarray  # (V,) + = turned left
    quats: np.ndarray  # (V, 4) [w, x, y, z], local -> world
    source_positions: np.ndarray  # (S, 3)
    # with sampling.visible_sources: the object at each source (its body's centre is the source position)
    emitters: list[Emitter] = field(default_factory=list)

    @classmethod
    def from_yaws(cls, positions: np.ndarray, yaws_deg: np.ndarray, source_positions: np.ndarray,
                  emitters: list[Emitter] | None = None) -> ViewSet:
        """Build a view set from positions and yaws (quaternions via :mod:`simkit.conventions`)."""
        yaws = np.asarray(yaws_deg, dtype=np.float64).reshape(-1)
        return cls(
            positions=np.asarray(positions, dtype=np.float64).reshape(-1, 3),
            yaws_deg=yaws,
            quats=conventions.yaw_to_quat(yaws),
            source_positions=np.asarray(source_positions, dtype=np.float64).reshape(-1, 3),
            emitters=list(emitters or []),
        )

    @property
    def n_views(self) -> int:
        return len(self.positions)

    @property
    def n_sources(self) -> int:
        return len(self.source_positions)

    def labels(self) -> ViewLabels:
        """Azimuth/elevation/distance of every source from every view, and the pairwise camera motion."""
        return ViewLabels.from_poses(self.positions, self.yaws_deg, self.source_positions)


def check_sampling_config(cfg: SamplingConfig) -> None:
    """Reject inconsistent sampling settings with one SimkitError naming the option: the declared ranges of
    :class:`SamplingConfig`'s fields, then the rules between fields."""
    validate(cfg, "sampling")
    if not 0.0 <= cfg.min_yaw_diff <= cfg.max_yaw_diff <= 180.0:
        raise SimkitError(f"sampling yaw range needs 0 <= min_yaw_diff <= max_yaw_diff <= 180 "
                          f"(got {cfg.min_yaw_diff}, {cfg.max_yaw_diff})")
    if (cfg.views - 1) * cfg.min_yaw_diff > cfg.max_yaw_diff:
        raise SimkitError(f"sampling: {cfg.views} views cannot be {cfg.min_yaw_diff} deg apart pairwise "
                          f"within max_yaw_diff={cfg.max_yaw_diff} deg")
    if not 0.0 <= cfg.source_min_distance < cfg.source_max_distance:
        raise SimkitError(f"sampling needs 0 <= source_min_distance < source_max_distance "
                          f"(got {cfg.source_min_distance}, {cfg.source_max_distance})")
    if not 0.0 < cfg.source_height_min <= cfg.source_height_max:
        raise SimkitError(f"sampling needs 0 < source_height_min <= source_height_max "
                          f"(got {cfg.source_height_min}, {cfg.source_height_max})")
    if cfg.sensor_height <= KNEE_HEIGHT:
        raise SimkitError(f"sampling.sensor_height must exceed {KNEE_HEIGHT} m (got {cfg.sensor_height})")


def sample_yaws(rng: np.random.Generator, n: int, min_diff: float, max_diff: float) -> np.ndarray:
    """``n`` yaws (deg, wrapped) whose pairwise differences all lie in ``[min_diff, max_diff]`` (max <= 180).

    Sorted offsets are uniform order statistics on ``[0, max_diff - (n-1) min_diff]`` spread by ``min_diff``,
    so consecutive gaps are >= min_diff and the total span <= max_diff; the order of views is then shuffled.
    """
    base = rng.uniform(-180.0, 180.0)
    if n == 1:
        return np.array([float(conventions.wrap_deg(base))])
    slack = max_diff - (n - 1) * min_diff
    u = np.sort(rng.uniform(0.0, slack, size=n))
    offsets = (u - u[0]) + min_diff * np.arange(n)
    offsets = offsets[rng.permutation(n)]
    return np.asarray(conventions.wrap_deg(base + offsets), dtype=np.float64)


class FloorSampler:
    """Uniform points on walkable floor.

    Three sources, first that applies: a procedural layout's free-floor rectangles; for meshes without a
    known floor height (real scans, ``floor_y is None``) the reachable free-floor grid of
    :func:`simkit.scenes.loaders.floor_candidates` (computed once here, so build one sampler per scene);
    else the up-facing triangles at ``floor_y``.
    """

    def __init__(self, scene: Scene, caster: RayCaster, cfg: SamplingConfig | None = None) -> None:
        self.scene = scene
        self.rects: np.ndarray | None = None
        self.grid: np.ndarray | None = None
        rects = scene.metadata.get("free_floor")
        if rects:
            self.rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
            area = (self.rects[:, 2] - self.rects[:, 0]) * (self.rects[:, 3] - self.rects[:, 1])
            self.y = float(scene.floor_y or 0.0)
        elif scene.floor_y is None:
            from simkit.scenes.loaders import floor_candidates

            cfg = cfg or SamplingConfig()
            # clearance >= half a cell, so two neighbouring free cells cannot straddle a wall
            self.grid = floor_candidates(scene, caster, cell=FLOOR_CELL, sensor_height=cfg.sensor_height,
                                         wall_clearance=max(cfg.wall_clearance, FLOOR_CELL / 2))
            area = np.ones(len(self.grid))
        else:
            up = caster.face_normals[:, 1] > 0.9
            if scene.floor_y is not None:
                cy = scene.vertices[scene.faces].mean(axis=1)[:, 1]
                up &= np.abs(cy - scene.floor_y) < 0.05
            self.faces = np.nonzero(up)[0]
            area = caster.face_areas[self.faces]
        if len(area) == 0 or area.sum() <= 0:
            raise SimkitError(f"scene {scene.scene_id}: no floor to place a camera on")
        self.p = area / area.sum()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` floor points (n, 3)."""
        idx = rng.choice(len(self.p), size=n, p=self.p)
        if self.rects is not None:
            r = self.rects[idx]
            u = rng.random((n, 2))
            x = r[:, 0] + u[:, 0] * (r[:, 2] - r[:, 0])
            z = r[:, 1] + u[:, 1] * (r[:, 3] - r[:, 1])
            return np.stack([x, np.full(n, self.y), z], axis=1)
        if self.grid is not None:
            jitter = rng.uniform(-FLOOR_CELL / 2, FLOOR_CELL / 2, (n, 2))
            pts = self.grid[idx].copy()
            pts[:, 0] += jitter[:, 0]
            pts[:, 2] += jitter[:, 1]
            return pts
        tri = self.scene.vertices[self.scene.faces[self.faces[idx]]]
        u = rng.random((n, 2))
        flip = u.sum(axis=1) > 1.0
        u[flip] = 1.0 - u[flip]
        return tri[:, 0] + u[:, :1] * (tri[:, 1] - tri[:, 0]) + u[:, 1:] * (tri[:, 2] - tri[:, 0])


def layout_clearance(layout: dict, points: np.ndarray) -> np.ndarray:
    """Exact horizontal distance (m) from points (N, 3) to the walls of their room and to every obstacle.

    Uses a procedural layout: rooms are rectangles (doorways count as wall, which errs on the safe side),
    obstacles are floor-standing boxes. Points outside every room get 0.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    x, z = p[:, 0], p[:, 2]
    out = np.zeros(len(p))
    for r in layout["rooms"]:
        (x0, z0), (x1, z1) = r["min"], r["max"]
        inside = (x >= x0) & (x <= x1) & (z >= z0) & (z <= z1)
        d = np.minimum.reduce([x - x0, x1 - x, z - z0, z1 - z])
        out = np.where(inside, np.maximum(out, d), out)
    for o in layout["obstacles"]:
        dx = np.maximum.reduce([o["min"][0] - x, np.zeros_like(x), x - o["max"][0]])
        dz = np.maximum.reduce([o["min"][2] - z, np.zeros_like(z), z - o["max"][2]])
        out = np.minimum(out, np.hypot(dx, dz))
    return out


def cameras_ok(caster: RayCaster, floor: np.ndarray, cfg: SamplingConfig) -> np.ndarray:
    """Floor points whose sensor point is in free air, has head room and keeps ``wall_clearance``."""
    sensor = floor + np.array([0.0, cfg.sensor_height, 0.0])
    ok = caster.enclosed(sensor)
    up_dist, _ = caster.first_hit(floor + np.array([0.0, 0.01, 0.0]), np.array([0.0, 1.0, 0.0]))
    ok &= up_dist > cfg.sensor_height + 0.05
    if cfg.wall_clearance > 0:
        layout = caster.scene.metadata.get("layout")
        if layout is not None:
            ok &= layout_clearance(layout, floor) >= cfg.wall_clearance
        else:
            ring = fibonacci_directions(CLEARANCE_RAYS, horizontal=True)
            for h in (cfg.sensor_height, KNEE_HEIGHT):
                pts = floor + np.array([0.0, h, 0.0])
                ok &= caster.clearance(pts, ring, cfg.wall_clearance) >= np.float32(cfg.wall_clearance)
    return ok


def sample_sources(
    caster: RayCaster, views: np.ndarray, floor_y: float, cfg: SamplingConfig, rng: np.random.Generator
) -> np.ndarray | None:
    """``cfg.sources`` source positions valid for every view, or None if the batches run out."""
    chosen: list[np.ndarray] = []
    fan = fibonacci_directions(14)
    for _ in range(SOURCE_BATCHES):
        if len(chosen) == cfg.sources:
            break
        n = SOURCE_BATCH
        r = cfg.source_max_distance * np.sqrt(rng.random(n))
        a = rng.uniform(0.0, 2.0 * np.pi, n)
        y = floor_y + rng.uniform(cfg.source_height_min, cfg.source_height_max, n)
        cand = np.stack([views[0, 0] + r * np.cos(a), y, views[0, 2] + r * np.sin(a)], axis=1)
        d = np.linalg.norm(cand[:, None, :] - views[None, :, :], axis=2)
        keep = np.all((d >= cfg.source_min_distance) & (d <= cfg.source_max_distance), axis=1)
        cand = cand[keep]
        if len(cand) == 0:
            continue
        # free air with a margin: the whole ray fan hits front faces, none closer than the clearance
        o = np.repeat(cand, len(fan), axis=0)
        dd = np.tile(fan, (len(cand), 1))
        dist, face = caster.first_hit(o, dd)
        front = (face >= 0) & caster.hit_front(dd, face) & (dist >= SOURCE_SURFACE_CLEARANCE)
        cand = cand[front.reshape(len(cand), len(fan)).all(axis=1)]
        if len(cand) == 0:
            continue
        seen = caster.visible(np.repeat(views, len(cand), axis=0), np.tile(cand, (len(views), 1)))
        cand = cand[seen.reshape(len(views), len(cand)).all(axis=0)]
        for c in cand:
            if len(chosen) == cfg.sources:
                break
            if all(np.linalg.norm(c - q) >= SOURCE_MIN_SEPARATION for q in chosen):
                chosen.append(c)
    if len(chosen) < cfg.sources:
        return None
    return np.asarray(chosen, dtype=np.float64).reshape(-1, 3)


def in_view(points: np.ndarray, views: np.ndarray, yaws_deg: np.ndarray, camera: CameraConfig) -> np.ndarray:
    """(V, P) whether each point projects inside the image of each view (in front of the camera, within the
    horizontal and vertical field of view of ``camera``, pitch included); occlusion is not considered."""
    out = np.zeros((len(views), len(points)), dtype=bool)
    for i, (pos, yaw) in enumerate(zip(views, yaws_deg, strict=True)):
        px, front = project_points(points, pos, float(yaw), camera)
        out[i] = front & (px[:, 0] >= 0) & (px[:, 0] <= camera.width) & (px[:, 1] >= 0) & (px[:, 1] <= camera.height)
    return out


def sample_emitters(
    caster: RayCaster, views: np.ndarray, yaws_deg: np.ndarray, floor_y: float, cfg: SamplingConfig,
    rng: np.random.Generator, camera: CameraConfig,
) -> list[Emitter] | None:
    """``cfg.sources`` visible sound emitters (:mod:`simkit.scenes.emitters`) valid for every view, or None.

    Candidates lie in the disc of radius ``source_max_distance`` around the first view (with
    ``min_visible_share`` > 0, drawn inside the horizontal field of view of a random view of the set, then
    rejected on the rule itself); each gets a random kind, scale and facing, a wall kind is moved against its
    nearest wall. A candidate is kept when its source is within ``[source_min_distance, source_max_distance]``
    of every view and in line of sight of every view, its footprint keeps :data:`EMITTER_KEEPOUT` from every
    camera, it lies inside the field of view of at least ``min_visible_share`` of the views, it fits in free
    air (:func:`simkit.scenes.emitters.fits`) and keeps :data:`EMITTER_GAP` from the emitters chosen before.
    """
    chosen: list[Emitter] = []
    half_fov = 0.5 * float(camera.hfov_deg)
    for _ in range(SOURCE_BATCHES):
        if len(chosen) == cfg.sources:
            break
        n = SOURCE_BATCH
        r = cfg.source_max_distance * np.sqrt(rng.random(n))
        if cfg.min_visible_share > 0:
            heading = yaws_deg[rng.integers(0, len(yaws_deg), n)] + rng.uniform(-half_fov, half_fov, n)
            direction = conventions.azimuth_to_local_direction(heading)  # world: yaw adds to azimuth
        else:
            a = rng.uniform(0.0, 2.0 * np.pi, n)
            direction = np.stack([np.cos(a), np.zeros(n), np.sin(a)], axis=1)
        xz = views[0, [0, 2]] + r[:, None] * direction[:, [0, 2]]
        cands = [draw_emitter(rng, p, floor_y, views[0]) for p in xz]
        cands = [snap_to_wall(caster, e) if e.spec.mount == WALL else e for e in cands]
        cands = [e for e in cands if e is not None]
        if not cands:
            continue
        src = np.asarray([e.source_position for e in cands])
        radius = np.asarray([e.radius for e in cands])
        origin = np.asarray([e.origin for e in cands])
        d = np.linalg.norm(src[:, None, :] - views[None, :, :], axis=2)
        flat = np.hypot(origin[:, None, 0] - views[None, :, 0], origin[:, None, 2] - views[None, :, 2])
        keep = np.all((d >= cfg.source_min_distance) & (d <= cfg.source_max_distance), axis=1)
        keep &= np.all(flat >= radius[:, None] + EMITTER_KEEPOUT, axis=1)
        if cfg.min_visible_share > 0:
            share = in_view(src, views, yaws_deg, camera).mean(axis=0)
            keep &= share >= cfg.min_visible_share - 1e-9
        idx = np.flatnonzero(keep)
        if len(idx) == 0:
            continue
        seen = caster.visible(np.repeat(views, len(idx), axis=0), np.tile(src[idx], (len(views), 1)))
        idx = idx[seen.reshape(len(views), len(idx)).all(axis=0)]
        for k in idx:
            if len(chosen) == cfg.sources:
                break
            e = cands[int(k)]
            if all(np.hypot(e.origin[0] - q.origin[0], e.origin[2] - q.origin[2]) >= e.radius + q.radius + EMITTER_GAP
                   and np.linalg.norm(e.source_position - q.source_position) >= SOURCE_MIN_SEPARATION
                   for q in chosen) and fits(caster, e):
                chosen.append(e)
    return chosen if len(chosen) == cfg.sources else None


def _translated_feet(
    caster: RayCaster, base: np.ndarray, cfg: SamplingConfig, rng: np.random.Generator
) -> np.ndarray | None:
    """Feet (V, 3) of the views, each uniform in the disc of radius ``max_translation`` around ``base`` and
    valid (camera tests, seen from the set's position); a view that fails is redrawn on its own up to
    ``TRANSLATION_TRIES`` times, so tight rooms do not need all V draws to succeed at once."""
    feet = np.repeat(base[None, :], cfg.views, axis=0)
    head = np.array([0.0, cfg.sensor_height, 0.0])
    pending = np.arange(cfg.views)
    for _ in range(TRANSLATION_TRIES):
        n = len(pending)
        r = cfg.max_translation * np.sqrt(rng.random(n))
        a = rng.uniform(0.0, 2.0 * np.pi, n)
        cand = base + np.stack([r * np.cos(a), np.zeros(n), r * np.sin(a)], axis=1)
        ok = cameras_ok(caster, cand, cfg) & caster.visible(np.repeat((base + head)[None], n, axis=0), cand + head)
        feet[pending[ok]] = cand[ok]
        pending = pending[~ok]
        if len(pending) == 0:
            return feet
    return None


def sample_view_set(
    scene: Scene,
    cfg: SamplingConfig,
    rng: np.random.Generator,
    caster: RayCaster | None = None,
    floor: FloorSampler | None = None,
    camera: CameraConfig | None = None,
) -> ViewSet:
    """Sample one view set in ``scene``; deterministic for a given ``rng`` state.

    Pass a ``caster`` and a ``floor`` sampler to reuse them across calls (the free-floor search of a real
    mesh is the expensive part). ``camera`` (default: :class:`CameraConfig`) is the field of view
    ``cfg.min_visible_share`` refers to. Raises SimkitError naming the scene when ``cfg.max_tries`` camera
    candidates all fail.
    """
    check_sampling_config(cfg)
    caster = caster if caster is not None else RayCaster(scene)
    floor = floor if floor is not None else FloorSampler(scene, caster, cfg)
    tries = 0
    while tries < cfg.max_tries:
        batch = min(CAMERA_BATCH, cfg.max_tries - tries)
        cands = floor.sample(rng, batch)
        ok = cameras_ok(caster, cands, cfg)
        for k in range(batch):
            tries += 1
            if not ok[k]:
                continue
            base = cands[k]
            yaws = sample_yaws(rng, cfg.views, cfg.min_yaw_diff, cfg.max_yaw_diff)
            feet = np.repeat(base[None, :], cfg.views, axis=0)
            if cfg.max_translation > 0:
                moved = _translated_feet(caster, base, cfg, rng)
                if moved is None:
                    continue
                feet = moved
            views = feet + np.array([0.0, cfg.sensor_height, 0.0])
            if cfg.visible_sources:
                emitters = sample_emitters(caster, views, yaws, float(base[1]), cfg, rng, camera or CameraConfig())
                if emitters is None:
                    continue
                return ViewSet.from_yaws(views, yaws, [e.source_position for e in emitters], emitters)
            sources = sample_sources(caster, views, float(base[1]), cfg, rng)
            if sources is None:
                continue
            return ViewSet.from_yaws(views, yaws, sources)
    raise SimkitError(
        f"scene {scene.scene_id}: no valid view set in {cfg.max_tries} tries "
        f"(wall_clearance={cfg.wall_clearance} m, sources {cfg.source_min_distance}-"
        f"{cfg.source_max_distance} m, {cfg.views} views x {cfg.sources} sources); "
        "the scene is too small or cluttered for these sampling settings"
    )
