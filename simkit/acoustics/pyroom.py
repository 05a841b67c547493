"""pyroomacoustics (MIT) as a cross-check acoustic backend for shoebox rooms.

Only axis-aligned boxes are simulated: every face of the scene must lie on one of the six planes of its
bounding box and together they must cover all six walls (:func:`shoebox_of`); anything else (furniture,
several rooms) is refused with a SimkitError. Each wall's material is the area-weighted mean of the
absorption and scattering spectra of the faces on it (same :class:`MaterialDatabase` as the RLR backend).
The room is the hybrid image-source (orders ``0..max_order``) + ray-tracing model of
``pra.ShoeBox(..., ray_tracing=True, air_absorption=True)``, seeded per call so equal inputs give equal
bytes.

Ears. With a SOFA HRTF (``acoustics.hrtf``), both ears sit at the listener position and carry the
measured HRIRs as pyroomacoustics ``MeasuredDirectivity`` receivers, rotated into the listener's pose
(nearest measured direction, no interpolation; the HRIRs are resampled to the render rate). Without one,
the built-in model is two omnidirectional microphones 0.0875 m to the left and right of the listener
along its right axis (a head-width spaced pair: interaural time differences, no head shadow). An
omnidirectional microphone model (``acoustics.mic`` phone-stereo or spaced-pair, :mod:`simkit.acoustics.mics`)
puts its two capsules at their offsets instead.

Split. ``direct`` is the order-0 image source alone (a second, anechoic ``max_order=0`` room with the same
air absorption and ears) and ``indirect`` the full response minus it. Responses start at emission time:
pyroomacoustics' fractional-delay latency (``frac_delay_length // 2`` samples) is removed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from simkit.acoustics.backend import BACKENDS, BinauralRIRs, check_rir_settings
from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.hrtf import Hrir, load_hrir, resample_ir
from simkit.acoustics.materials import MaterialDatabase
from simkit.acoustics.mics import capsule_positions, check_mic
from simkit.conventions import RIGHT, quat_to_matrix
from simkit.errors import SimkitError
from simkit.scenes.scene import Scene

EAR_OFFSET = 0.0875  # m, half the spacing of the built-in two-microphone ears
AIR_ABSORPTION = True
BUILTIN_EARS_ID = "pyroomacoustics-two-omni-0.175m"
MIN_HRIR_TAPS = 128  # HRIRs are zero-padded to this length (see PyroomBackend.__init__)


@dataclass(frozen=True)
class PyroomPreset:
    """Cost/accuracy of the hybrid model."""

    max_order: int  # image-source reflection order
    n_rays: int  # ray-tracing rays per source
    receiver_radius: float  # m, ray-tracing receiver sphere


PYROOM_PRESETS = {
    "fast": PyroomPreset(max_order=3, n_rays=3000, receiver_radius=0.5),
    "default": PyroomPreset(max_order=3, n_rays=10000, receiver_radius=0.5),
    "high": PyroomPreset(max_order=5, n_rays=40000, receiver_radius=0.5),
}
# the render's default preset name; pyroomacoustics has no shared trace, so it means its fast setting
PYROOM_PRESETS["efficient"] = PYROOM_PRESETS["fast"]


@dataclass(frozen=True)
class Shoebox:
    """An axis-aligned box room: corner ``lo``, size, and per-wall spectra on ``freqs``."""

    lo: np.ndarray  # (3,) world min corner
    hi: np.ndarray  # (3,) world max corner
    freqs: tuple[float, ...]
    absorption: dict[str, tuple[float, ...]]  # pyroomacoustics wall name -> band values
    scattering: dict[str, tuple[float, ...]]


# simkit world plane (axis, side) -> pyroomacoustics wall name, for the frame map in _to_pra:
# pra x = x - xmin, pra y = zmax - z, pra z = y - ymin (a proper rotation: right-handed in both).
_WALLS = {(0, 0): "west", (0, 1): "east", (2, 1): "south", (2, 0): "north", (1, 0): "floor", (1, 1): "ceiling"}


def shoebox_of(scene: Scene, materials: MaterialDatabase, tol: float = 1e-3) -> Shoebox:
    """Recognise ``scene`` as an axis-aligned box and average its wall materials; else SimkitError."""
    v = np.asarray(scene.vertices, dtype=np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    size = hi - lo
    if np.any(size <= 10 * tol):
        raise SimkitError(f"scene {scene.scene_id} is flat; pyroomacoustics needs a 3-D shoebox room")
    tri = v[scene.faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    wall_of = np.full(len(tri), -1)
    for k, (axis, side) in enumerate(_WALLS):
        plane = lo[axis] if side == 0 else hi[axis]
        on = np.all(np.abs(tri[:, :, axis] - plane) <= tol, axis=1) & (wall_of < 0)
        wall_of[on] = k
    inner = np.flatnonzero((wall_of < 0) & (area > tol * tol))
    if len(inner):
        raise SimkitError(
            f"scene {scene.scene_id} is not a shoebox room: {len(inner)} faces lie inside its bounding box "
            "(the pyroomacoustics engine only simulates empty axis-aligned boxes; use --engine rlr)"
        )
    freqs = tuple(f for f, _ in materials.default.absorption)
    absorption: dict[str, tuple[float, ...]] = {}
    scattering: dict[str, tuple[float, ...]] = {}
    for k, ((axis, _side), name) in enumerate(_WALLS.items()):
        sel = wall_of == k
        others = [a for a in range(3) if a != axis]
        expected = size[others[0]] * size[others[1]]
        if abs(area[sel].sum() - expected) > 0.01 * expected:
            raise SimkitError(
                f"scene {scene.scene_id} is not a closed shoebox: its {name} wall covers "
                f"{area[sel].sum():.3f} of {expected:.3f} m^2"
            )
        w = area[sel] / area[sel].sum()
        mats = [materials.lookup(scene.material_names[int(m)]) for m in scene.face_material[sel]]
        absorption[name] = tuple(
            float(np.dot(w, [m.value_at("absorption", f) for m in mats])) for f in freqs
        )
        scattering[name] = tuple(
            float(np.dot(w, [m.value_at("scattering", f) for m in mats])) for f in freqs
        )
    return Shoebox(lo=lo, hi=hi, freqs=freqs, absorption=absorption, scattering=scattering)


def _to_pra(points: np.ndarray, box: Shoebox) -> np.ndarray:
    """simkit world points (..., 3) -> pyroomacoustics room coordinates."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0] - box.lo[0], box.hi[2] - p[..., 2], p[..., 1] - box.lo[1]], axis=-1)


def _dir_to_pra(d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64)
    return np.stack([d[..., 0], -d[..., 2], d[..., 1]], axis=-1)


def _seed(*arrays: np.ndarray) -> int:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return int.from_bytes(h.digest()[:8], "little")


@BACKENDS.register("pyroomacoustics")
class PyroomBackend:
    """Hybrid image-source + ray-tracing binaural RIRs of shoebox rooms (cross-check for ``rlr``)."""

    name = "pyroomacoustics"

    def __init__(self, cfg: AcousticsConfig, materials: MaterialDatabase) -> None:
        if not isinstance(materials, MaterialDatabase):
            raise TypeError(f"PyroomBackend needs a MaterialDatabase, got {type(materials).__name__}")
        if cfg.preset not in PYROOM_PRESETS:
            raise SimkitError(f"unknown preset {cfg.preset!r} for pyroomacoustics (known: {', '.join(PYROOM_PRESETS)})")
        self.n_samples = check_rir_settings(cfg)
        self.cfg = cfg
        self.materials = materials
        self.preset = PYROOM_PRESETS[cfg.preset]
        self.mic = check_mic(cfg.mic, cfg.mic_spacing, cfg.hrtf)
        self._capsules = self.mic.capsules(cfg.mic_spacing)  # (2, 3) listener frame, or None (ears)
        self.hrir: Hrir | None = None
        if cfg.hrtf:
            hrir = load_hrir(cfg.hrtf)
            if hrir.sample_rate != cfg.sample_rate:
                ir = resample_ir(hrir.ir, hrir.sample_rate, cfg.sample_rate)
                hrir = Hrir(ir=ir.astype(np.float32), directions=hrir.directions, sample_rate=cfg.sample_rate,
                            info=hrir.info)
            if hrir.ir.shape[-1] < MIN_HRIR_TAPS:
                # pyroomacoustics' octave-band energy analysis of a directivity fails on very short IRs
                pad = MIN_HRIR_TAPS - hrir.ir.shape[-1]
                hrir = Hrir(ir=np.pad(hrir.ir, ((0, 0), (0, 0), (0, pad))), directions=hrir.directions,
                            sample_rate=hrir.sample_rate, info=hrir.info)
            self.hrir = hrir

    def version(self) -> str:
        """Package version of pyroomacoustics."""
        return f"pyroomacoustics {metadata.version('pyroomacoustics')}"

    def hrtf_id(self) -> str:
        """``<file>@<sha256 prefix>`` of the SOFA HRTF, or the built-in two-microphone model's id; ``none`` for
        an omnidirectional microphone model."""
        if self._capsules is not None:
            return "none"
        return self.hrir.info.hrtf_id if self.hrir is not None else BUILTIN_EARS_ID

    def hrtf_manifest(self) -> dict | None:
        """The SOFA HRTF's identity, licence and rates as a manifest records them, or the built-in ears';
        None for an omnidirectional microphone model."""
        if self._capsules is not None:
            return None
        if self.hrir is not None:
            return self.hrir.info.manifest_entry(self.cfg.sample_rate)
        return {"kind": "builtin", "id": BUILTIN_EARS_ID, "render_rate": self.cfg.sample_rate,
                "description": f"two omnidirectional microphones {2 * EAR_OFFSET} m apart (no head shadow)",
                "licence": "simkit (MIT)"}

    def _ears(self, box: Shoebox, positions: np.ndarray, quats: np.ndarray):  # -> pra.MicrophoneArray
        import pyroomacoustics as pra
        from pyroomacoustics.directivities import MeasuredDirectivity, Rotation3D
        from pyroomacoustics.doa import GridSphere

        rots = quat_to_matrix(quats)
        if self._capsules is not None:  # channel 0 = the left capsule
            ears = capsule_positions(self._capsules, positions, rots)
            return pra.MicrophoneArray(_to_pra(ears.reshape(-1, 3), box).T, self.cfg.sample_rate)
        if self.hrir is None:
            right = np.einsum("lij,j->li", rots, RIGHT)
            # channel 0 = left ear = -right
            ears = np.stack([positions - EAR_OFFSET * right, positions + EAR_OFFSET * right], axis=1)
            return pra.MicrophoneArray(_to_pra(ears.reshape(-1, 3), box).T, self.cfg.sample_rate)
        locs, dirs = [], []
        identity = Rotation3D([0.0, 0.0, 0.0])
        for p, r in zip(positions, rots, strict=True):
            grid = GridSphere(cartesian_points=_dir_to_pra(self.hrir.directions @ r.T).T)
            for ch in range(2):
                locs.append(_to_pra(p, box))
                dirs.append(MeasuredDirectivity(identity, grid, self.hrir.ir[:, ch, :], self.cfg.sample_rate))
        return pra.MicrophoneArray(np.array(locs).T, self.cfg.sample_rate, directivity=dirs)

    def _simulate(self, box: Shoebox, lp: np.ndarray, lq: np.ndarray, sp: np.ndarray, direct: bool) -> np.ndarray:
        import pyroomacoustics as pra

        fs = self.cfg.sample_rate
        freqs = list(box.freqs)
        mats = {
            name: pra.Material(
                energy_absorption={"coeffs": list(box.absorption[name]), "center_freqs": freqs},
                scattering={"coeffs": list(box.scattering[name]), "center_freqs": freqs},
            )
            for name in box.absorption
        }
        pra.random.seed(numpy=_seed(lp, lq, sp, [direct]) % 2**32, libroom=_seed(sp, lp, [direct]))
        room = pra.ShoeBox(
            (box.hi - box.lo)[[0, 2, 1]], fs=fs, materials=mats,
            max_order=0 if direct else self.preset.max_order,
            air_absorption=AIR_ABSORPTION, use_rand_ism=False,
        )
        for s in sp:
            room.add_source(_to_pra(s, box))
        room.add_microphone_array(self._ears(box, lp, lq))
        if not direct:
            room.set_ray_tracing(n_rays=self.preset.n_rays, receiver_radius=self.preset.receiver_radius)
        room.compute_rir()
        lag = pra.constants.get("frac_delay_length") // 2
        out = np.zeros((len(lp), len(sp), 2, self.n_samples), dtype=np.float32)
        for m, per_mic in enumerate(room.rir):
            for j, h in enumerate(per_mic):
                h = np.asarray(h, dtype=np.float64)[lag:lag + self.n_samples]
                out[m // 2, j, m % 2, : len(h)] = h
        return out

    def render(
        self,
        scene: Scene,
        listener_positions: np.ndarray,
        listener_quats: np.ndarray,
        source_positions: np.ndarray,
    ) -> BinauralRIRs:
        """Direct and indirect binaural RIRs (L, S, 2, T) float32 of a shoebox scene."""
        lp = np.atleast_2d(np.asarray(listener_positions, dtype=np.float64))
        sp = np.atleast_2d(np.asarray(source_positions, dtype=np.float64))
        lq = np.atleast_2d(np.asarray(listener_quats, dtype=np.float64))
        if lq.shape != (len(lp), 4):
            raise ValueError(f"listener_quats must have shape ({len(lp)}, 4), got {lq.shape}")
        box = shoebox_of(scene, self.materials)
        half = EAR_OFFSET if self._capsules is None else float(np.linalg.norm(self._capsules, axis=1).max())
        margin = half + 1e-3
        for what, pts, m in (("listener", lp, margin), ("source", sp, 1e-3)):
            outside = np.any((pts < box.lo + m) | (pts > box.hi - m), axis=1)
            if outside.any():
                raise SimkitError(f"scene {scene.scene_id}: {what} {int(np.argmax(outside))} lies outside the room")
        direct = self._simulate(box, lp, lq, sp, direct=True)
        full = self._simulate(box, lp, lq, sp, direct=False)
        return BinauralRIRs(direct=direct, indirect=(full - direct).astype(np.float32),
                            sample_rate=self.cfg.sample_rate)
