"""Visible sound sources: an embedded set of procedural sound-emitter meshes (loudspeaker, radio, speaker on a
stand, TV, wall speaker), placed at the source positions of a view set and added to the scene the views see.

Each emitter is a few boxes: the *body* that sounds (the source position is the centre of its body) and, for
kinds that stand on something, the *support* it stands on (a side table, a stand, a TV cabinet), so every
kind rests on the floor at a plausible height; the wall speaker alone hangs in the air, its back against a
wall. Sizes are catalogue-typical dimensions (docs/scenes.md, "Visible sources"), scaled per draw by
``scale``. The body's front face carries its own colour (grille, screen, dial) and the other faces the
kind's body colour; the camera's object texture (:mod:`simkit.vision.textures`) adds its per-instance jitter
and 10 cm checker, so every kind looks distinct.

The emitters enter the scene the camera sees (:func:`with_emitters`: RGB, depth and instance images), each
body and support with its own instance id and semantic label; they do not enter the acoustic mesh (docs/scenes.md,
"Visible sources": the source lies inside its own closed body, which would block its direct sound, and the
measured RT60 change of adding the boxes is small).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simkit.scenes.raycast import RayCaster
from simkit.scenes.scene import Scene

FLOOR, WALL = "floor", "wall"
FIT_SHRINK = 0.01  # m: the fit test probes a box shrunk by this much, so a box resting on the floor fits
WALL_GAP = 0.01  # m between a wall speaker's back and its wall
WALL_SEARCH = 1.5  # m: a wall speaker candidate looks this far for a wall
WALL_RAYS = 16  # horizontal directions searched for the nearest wall
FACE_JITTER_DEG = 20.0  # a floor emitter faces the camera position within this many degrees


@dataclass(frozen=True)
class Part:
    """One box of an emitter in its local frame (x right, y up from the floor or mount point, +z = front)."""

    role: str  # "body" (sounds) or "support"
    size: tuple[float, float, float]  # width (x), height (y), depth (z), m
    bottom: float  # m above the emitter's origin (floor, or the wall speaker's lowest point)
    colour: tuple[int, int, int]  # sides
    front: tuple[int, int, int]  # the +z face (grille, screen)
    label: str  # semantic label of the instance


@dataclass(frozen=True)
class EmitterKind:
    """A kind of sounding object: its parts, how it is mounted and the range of its random scale."""

    name: str
    mount: str  # FLOOR: stands on the floor (on its support); WALL: hung, back against a wall
    parts: tuple[Part, ...]  # parts[0] is the body
    scale: tuple[float, float] = (0.85, 1.15)
    mount_height: tuple[float, float] = (0.0, 0.0)  # WALL: height of the body's bottom above the floor, m

    @property
    def body(self) -> Part:
        return self.parts[0]


# Dimensions: catalogue-typical sizes of each product class (floor-standing loudspeaker ~0.25 x 0.9 x 0.3 m,
# portable radio ~0.3 x 0.18 x 0.12 m on a ~0.55 m side table, bookshelf speaker ~0.18 x 0.28 x 0.2 m on a
# ~0.8 m stand, 40" TV ~0.9 x 0.53 m on a ~0.5 m cabinet, wall speaker ~0.2 x 0.3 x 0.15 m hung at ~2 m).
KINDS: dict[str, EmitterKind] = {k.name: k for k in (
    EmitterKind("loudspeaker", FLOOR, (
        Part("body", (0.25, 0.90, 0.30), 0.0, (96, 62, 36), (28, 28, 30), "loudspeaker"),
    )),
    EmitterKind("radio", FLOOR, (
        Part("body", (0.30, 0.18, 0.12), 0.55, (176, 40, 36), (210, 200, 170), "radio"),
        Part("support", (0.45, 0.55, 0.40), 0.0, (150, 120, 80), (150, 120, 80), "side table"),
    )),
    EmitterKind("speaker_stand", FLOOR, (
        Part("body", (0.18, 0.28, 0.20), 0.80, (230, 230, 225), (60, 70, 90), "speaker"),
        Part("support", (0.06, 0.80, 0.06), 0.0, (40, 40, 40), (40, 40, 40), "speaker stand"),
    )),
    EmitterKind("tv", FLOOR, (
        Part("body", (0.90, 0.53, 0.08), 0.50, (20, 20, 22), (40, 70, 120), "tv"),
        Part("support", (1.00, 0.50, 0.40), 0.0, (90, 90, 96), (90, 90, 96), "tv stand"),
    ), scale=(0.8, 1.1)),
    EmitterKind("wall_speaker", WALL, (
        Part("body", (0.20, 0.30, 0.15), 0.0, (236, 236, 236), (70, 70, 70), "wall speaker"),
    ), mount_height=(1.7, 2.1)),
)}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)


@dataclass(frozen=True)
class Emitter:
    """One placed emitter: kind, world position of its origin (floor point, or the wall speaker's lowest
    centre point), yaw (deg, + = turned left; 0 = front facing +z) and scale."""

    kind: str
    origin: tuple[float, float, float]
    yaw_deg: float
    scale: float

    @property
    def spec(self) -> EmitterKind:
        return KINDS[self.kind]

    def boxes(self) -> list[tuple[Part, np.ndarray, np.ndarray]]:
        """Every part with its world centre (3,) and half extents (3,) in the emitter's local axes."""
        out = []
        o = np.asarray(self.origin, dtype=np.float64)
        for p in self.spec.parts:
            half = 0.5 * np.asarray(p.size) * self.scale
            centre = o + np.array([0.0, p.bottom * self.scale + half[1], 0.0])
            out.append((p, centre, half))
        return out

    @property
    def source_position(self) -> np.ndarray:
        """Where the sound comes from: the centre of the body."""
        return self.boxes()[0][1]

    @property
    def radius(self) -> float:
        """Horizontal radius of the emitter's footprint (largest part), m."""
        return float(max(np.hypot(p.size[0], p.size[2]) for p in self.spec.parts) * 0.5 * self.scale)

    def axes(self) -> np.ndarray:
        """(3, 3) rows: the emitter's local x, y, z axes in the world frame."""
        a = np.deg2rad(self.yaw_deg)
        return np.array([[np.cos(a), 0.0, -np.sin(a)], [0.0, 1.0, 0.0], [np.sin(a), 0.0, np.cos(a)]])


def yaw_facing(origin: np.ndarray, target: np.ndarray) -> float:
    """The emitter yaw (deg) whose front (+z local) points from ``origin`` towards ``target`` horizontally."""
    d = np.asarray(target, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    return float(np.rad2deg(np.arctan2(d[0], d[2])))


def box_points(centre: np.ndarray, half: np.ndarray, axes: np.ndarray, grid: int = 3) -> np.ndarray:
    """A ``grid``^3 lattice of points spanning the box (corners included), world frame (grid^3, 3)."""
    t = np.linspace(-1.0, 1.0, grid)
    u = np.stack(np.meshgrid(t, t, t, indexing="ij"), axis=-1).reshape(-1, 3) * half
    return centre + u @ axes


def box_edges(centre: np.ndarray, half: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 12 edges of the box as segment end points (12, 3) and (12, 3)."""
    corners = box_points(centre, half, axes, grid=2)  # index = 4 i + 2 j + k over (x, y, z) signs
    a, b = [], []
    for i in range(8):
        for bit in (4, 2, 1):
            if not i & bit:
                a.append(corners[i])
                b.append(corners[i | bit])
    return np.asarray(a), np.asarray(b)


def fits(caster: RayCaster, emitter: Emitter) -> bool:
    """Whether every part of ``emitter`` lies in free air of ``caster``'s scene and crosses no surface.

    Probes each part shrunk by :data:`FIT_SHRINK`: a 3x3x3 lattice of points must be in free air
    (:meth:`RayCaster.enclosed`), and the 12 edges and the segments from the centre to the lattice points must
    be unobstructed, so no wall or furniture plane cuts the box and no furniture corner sits inside it.
    """
    axes = emitter.axes()
    for _part, centre, half in emitter.boxes():
        h = np.maximum(half - FIT_SHRINK, 1e-3)
        pts = box_points(centre, h, axes)
        if not caster.enclosed(pts).all():
            return False
        a, b = box_edges(centre, h, axes)
        a = np.concatenate([a, np.repeat(centre[None], len(pts), axis=0)])
        b = np.concatenate([b, pts])
        if not caster.visible(a, b).all():
            return False
    return True


def snap_to_wall(caster: RayCaster, emitter: Emitter) -> Emitter | None:
    """A wall emitter moved so its back is :data:`WALL_GAP` from the nearest wall around its origin (facing
    away from it), or None when no wall lies within :data:`WALL_SEARCH` at its body's height."""
    half = 0.5 * np.asarray(emitter.spec.body.size) * emitter.scale
    o = np.asarray(emitter.origin, dtype=np.float64)
    probe = o + np.array([0.0, half[1], 0.0])
    a = 2.0 * np.pi * np.arange(WALL_RAYS) / WALL_RAYS
    dirs = np.stack([np.cos(a), np.zeros(WALL_RAYS), np.sin(a)], axis=1)
    dist, face = caster.first_hit(np.repeat(probe[None], WALL_RAYS, axis=0), dirs, WALL_SEARCH)
    n = caster.face_normals[np.maximum(face, 0)]
    wall = (face >= 0) & (np.abs(n[:, 1]) < 0.1) & caster.hit_front(dirs, face)
    if not wall.any():
        return None
    k = int(np.flatnonzero(wall)[np.argmin(dist[wall])])
    normal = n[k] * np.sign(-(dirs[k] @ n[k]))  # the side of the wall the probe is on
    hit = probe + dirs[k] * float(dist[k])
    centre = hit + normal * (half[2] + WALL_GAP)
    return replace(emitter, origin=(float(centre[0]), float(o[1]), float(centre[2])),
                   yaw_deg=float(np.rad2deg(np.arctan2(normal[0], normal[2]))))


def draw_emitter(rng: np.random.Generator, xz: np.ndarray, floor_y: float, facing: np.ndarray) -> Emitter:
    """A random emitter (kind uniform over :data:`KINDS`, scale uniform in its range) at horizontal point
    ``xz`` (2,) on the floor at ``floor_y`` (a wall kind at its mount height), facing ``facing`` within
    :data:`FACE_JITTER_DEG`; a wall kind still has to be snapped to its wall (:func:`snap_to_wall`)."""
    kind = KINDS[KIND_NAMES[int(rng.integers(len(KIND_NAMES)))]]
    scale = float(rng.uniform(*kind.scale))
    y = floor_y + (float(rng.uniform(*kind.mount_height)) if kind.mount == WALL else 0.0)
    origin = np.array([float(xz[0]), y, float(xz[1])])
    yaw = yaw_facing(origin, facing) + float(rng.uniform(-FACE_JITTER_DEG, FACE_JITTER_DEG))
    return Emitter(kind.name, (float(origin[0]), y, float(origin[2])), yaw, scale)


# ------------------------------------------------------------------------------------------------ meshes
# The 12 triangles of a unit box [-1, 1]^3 with outward normals (into the air around a solid object), as
# (corner index = 4 i + 2 j + k over the x, y, z signs, face key): key 0..5 = -x, +x, -y, +y, -z, +z.
_BOX_TRIS = np.array([
    [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5],  # -x, +x
    [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],  # -y, +y
    [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],  # -z, +z
], dtype=np.int64)
_BOX_FACE_KEY = np.repeat(np.arange(6), 2)


def emitter_mesh(emitter: Emitter) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (8 P, 3), faces (12 P, 3), face colours (12 P, 3) uint8 and face part index (12 P,) of
    ``emitter``'s P boxes, normals pointing out of the boxes."""
    axes = emitter.axes()
    verts, faces, cols, part = [], [], [], []
    for k, (p, centre, half) in enumerate(emitter.boxes()):
        verts.append(box_points(centre, half, axes, grid=2))
        faces.append(_BOX_TRIS + 8 * k)
        c = np.where((_BOX_FACE_KEY == 5)[:, None], np.asarray(p.front), np.asarray(p.colour))
        cols.append(c.astype(np.uint8))
        part.append(np.full(12, k, dtype=np.int64))
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(cols), np.concatenate(part)


def first_emitter_instance(scene: Scene) -> int:
    """The instance id the first emitter's body gets in :func:`with_emitters` (after every scene instance)."""
    top = int(scene.face_instance.max()) if len(scene.face_instance) else 0
    return max(top, len(scene.instance_labels) - 1) + 1


def with_emitters(scene: Scene, emitters: list[Emitter], material: str = "furniture") -> tuple[Scene, np.ndarray]:
    """``scene`` plus the meshes of ``emitters``, and the instance id of each emitter's body (S,) int64.

    Instances continue after the scene's: emitter s's parts get consecutive ids from
    ``first_emitter_instance(scene) + offset`` (the body first), labelled by the part's semantic label.
    The added faces use ``material`` (the camera ignores it; the acoustic mesh is ``scene`` itself).
    """
    if not emitters:
        return scene, np.zeros(0, dtype=np.int64)
    v, f = [scene.vertices], [scene.faces]
    inst, col = [scene.face_instance], [scene.face_color]
    labels = list(scene.instance_labels)
    nxt = first_emitter_instance(scene)
    labels += [""] * (nxt - len(labels))
    bodies = []
    nv = len(scene.vertices)
    for e in emitters:
        ev, ef, ec, ep = emitter_mesh(e)
        v.append(ev)
        f.append(ef + nv)
        nv += len(ev)
        col.append(ec)
        inst.append(nxt + ep)
        bodies.append(nxt)
        labels += [p.label for p in e.spec.parts]
        nxt += len(e.spec.parts)
    added = sum(len(x) for x in f[1:])
    mat = scene.material_names.index(material) if material in scene.material_names else 0
    md = dict(scene.metadata)
    if md.get("face_texture") is not None:  # textured meshes: the new faces carry no texture
        md["face_texture"] = np.concatenate([np.asarray(md["face_texture"]), np.full(added, -1, np.int64)])
        md["face_uv"] = np.concatenate([np.asarray(md["face_uv"]), np.zeros((added, 3, 2), np.float32)])
    if md.get("vertex_color") is not None:  # vertex colours: the new vertices take their face colour
        vc = np.zeros((nv - len(scene.vertices), 3), np.uint8)
        for ef, ec in zip(f[1:], col[1:], strict=True):
            vc[(ef - len(scene.vertices)).reshape(-1)] = np.repeat(ec, 3, axis=0)
        md["vertex_color"] = np.concatenate([np.asarray(md["vertex_color"]), vc])
    out = Scene(
        scene_id=scene.scene_id, vertices=np.concatenate(v), faces=np.concatenate(f),
        face_material=np.concatenate([scene.face_material, np.full(added, mat, np.int64)]),
        material_names=scene.material_names, face_instance=np.concatenate(inst), face_color=np.concatenate(col),
        instance_labels=labels, floor_y=scene.floor_y, metadata=md,
    )
    return out, np.asarray(bodies, dtype=np.int64)
