"""RLRAudioPropagation (the SoundSpaces 2.0 engine, CC-BY-NC 4.0) as a simkit acoustic backend.

Engine facts this module relies on (measured with rlr-audio-propagation 0.0.1, see docs/acoustics.md):

* a fresh ``Context`` with equal config and ``thread_count`` is bit-identical across calls and processes,
  but calling ``simulate()`` twice on one context is not, so every simulation builds a fresh context;
* ``set_material_database_json`` must run before meshes are added; per-face materials are several
  ``add_mesh_indices`` calls, one per material name;
* a missing or undecodable HRTF only prints an error and silently falls back to the built-in HRTF, so the
  file is validated first (:func:`simkit.acoustics.hrtf.validate_sofa`) and the engine's log is checked;
* the engine resamples an HRTF to the render rate, but *upsampling* one aborts the process (SIGABRT, exit 134,
  nothing printed), so a SOFA file at another rate is handed over resampled by simkit (soxr,
  :func:`simkit.acoustics.hrtf.resample_sofa`) and the built-in HRTF is refused above 48 kHz;
* the engine prints to the C-level stdout/stderr; that output is captured and sent to ``logging``;
* ``Context.sr`` is broken (reads a non-existent field); the sample rate comes from the config;
* an ``Ambisonics`` listener of 4 channels returns first-order ambisonics in the *world* frame whatever its
  orientation, N3D-normalised, channels ``(W, sqrt3*y, sqrt3*z, sqrt3*x)`` on the engine's axes (measured with
  a direct-only context), and costs what one binaural listener costs; the binaural indirect pass costs one
  trace per listener even when listeners share a position;
* a ``Mono`` listener of 1 channel is an omnidirectional receiver: its direct response equals the W channel of
  an ``Ambisonics`` listener at the same point bit for bit, and its orientation changes nothing beyond float
  rounding (measured: identical under yaw, 3e-13 relative energy under a 90 deg pitch). The
  omnidirectional microphone models (:mod:`simkit.acoustics.mics`) are one ``Mono`` listener per capsule.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
import rlr_audio_propagation as rlr

from simkit.acoustics.backend import BACKENDS, BinauralRIRs, check_rir_settings
from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.hrtf import (
    HrtfInfo,
    builtin_manifest_entry,
    check_builtin_rate,
    resample_sofa,
    validate_sofa,
)
from simkit.acoustics.materials import MaterialDatabase
from simkit.acoustics.mics import MicModel, capsule_positions, check_mic
from simkit.acoustics.presets import PRESETS, Preset
from simkit.conventions import quat_to_matrix
from simkit.errors import SimkitError
from simkit.io import file_sha256
from simkit.scenes.raycast import fibonacci_directions
from simkit.scenes.scene import Scene

log = logging.getLogger(__name__)

# Engine settings simkit pins instead of inheriting, so a changed engine default cannot silently change
# renders. Values are the engine's (and SoundSpaces 2.0's) defaults; hrtf_* state the listener frame of
# simkit.conventions (+x right, +y up, +z back).
ENGINE_FIXED: dict[str, object] = {
    "frequency_bands": 4,
    "direct_sh_order": 3,
    "indirect_sh_order": 1,
    "max_ir_length": 4.0,
    "unit_scale": 1.0,
    "global_volume": 1.0,
    "hrtf_right": [1.0, 0.0, 0.0],
    "hrtf_up": [0.0, 1.0, 0.0],
    "hrtf_back": [0.0, 0.0, 1.0],
    "diffraction": True,
    "transmission": True,
    "mesh_simplification": False,
    "temporal_coherence": False,
}

# Shared indirect field (Preset.shared_indirect): the first-order ambisonic -> binaural decoder is fitted to
# the engine's own direct path (same HRTF, same normalisation): sources on a sphere around a listener in a
# free-field box, FOA and binaural direct responses, least squares for 2 x 4 FIR filters.
DECODER_SECONDS = 0.008  # decoder FIR length (128 taps at 16 kHz; the HRIRs' energy lies within ~3 ms)
DECODER_LEAD_SECONDS = 0.001  # taps before zero lag, so the fit may place energy just before an onset
CALIBRATION_DIRECTIONS = 64  # Fibonacci directions on the sphere
CALIBRATION_DISTANCE = 2.0  # m, source distance from the calibration listener
CALIBRATION_BOX = 40.0  # m, edge of the calibration box (direct-only: its walls never contribute)
_DECODERS: dict[tuple, np.ndarray] = {}  # per process: one calibration per (HRTF, rate, threads, direct rays)

# engine log lines that mean a request was not honoured
_ENGINE_FAILURE_MARKERS = ("error", "was not found", "will be used instead")


@contextlib.contextmanager
def _engine_output() -> Iterator[list[str]]:
    """Capture what the native engine prints on fds 1/2; the list is filled when the block exits."""
    lines: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    libc = ctypes.CDLL(None)
    with tempfile.TemporaryFile() as tmp:
        saved = (os.dup(1), os.dup(2))
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            yield lines
        finally:
            libc.fflush(None)  # C stdio buffers a redirected stdout; flush before the fds move back
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            lines.extend(tmp.read().decode(errors="replace").splitlines())
    for line in lines:
        log.debug("rlr: %s", line)


def _engine_identity() -> str:
    try:
        version = metadata.version("rlr-audio-propagation")
    except metadata.PackageNotFoundError:
        version = "unknown"
    h = hashlib.sha256()
    spec = importlib.util.find_spec("_rlr_audio_propagation")
    if spec is not None and spec.origin:
        ext = Path(spec.origin)
        lib = ext.parent / "RLRAudioPropagationPkg" / "libs" / "linux" / "x64" / "libRLRAudioPropagation.so"
        for f in (ext, lib):
            if f.is_file():
                h.update(file_sha256(f).encode())
    return f"rlr-audio-propagation {version} (native sha256 {h.hexdigest()[:12]})"


@BACKENDS.register("rlr")
class RLRBackend:
    """Binaural RIRs from RLRAudioPropagation; direct and indirect parts rendered by separate contexts."""

    name = "rlr"

    def __init__(self, cfg: AcousticsConfig, materials: MaterialDatabase) -> None:
        if not isinstance(materials, MaterialDatabase):
            raise TypeError(f"RLRBackend needs a MaterialDatabase, got {type(materials).__name__}")
        self.cfg = cfg
        self.materials = materials
        self.preset: Preset = PRESETS.get(cfg.preset)
        self.n_samples = check_rir_settings(cfg)
        threads = cfg.thread_count
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise SimkitError(f"acoustics.thread_count must be an integer >= 1, got {cfg.thread_count!r}")
        self.mic: MicModel = check_mic(cfg.mic, cfg.mic_spacing, cfg.hrtf)
        self._capsules = self.mic.capsules(cfg.mic_spacing)  # (2, 3) listener frame, or None (HRTF ears)
        self._hrtf: Path | None = None  # the SOFA file the engine reads (at the render rate)
        self._hrtf_info: HrtfInfo | None = None
        self._hrtf_id = "builtin"
        self._tmp = tempfile.TemporaryDirectory(prefix="simkit-rlr-")
        if cfg.hrtf:
            info = validate_sofa(Path(cfg.hrtf).expanduser())
            self._hrtf_info, self._hrtf_id = info, info.hrtf_id
            self._hrtf = Path(info.path).resolve()
            if info.sample_rate != cfg.sample_rate:
                # never let the engine resample: its upsampler aborts the process (module docstring)
                self._hrtf = resample_sofa(self._hrtf, cfg.sample_rate,
                                           Path(self._tmp.name) / f"hrtf-{cfg.sample_rate}hz.sofa")
        else:
            # omni capsules included: the engine still holds its built-in HRTF, and whether a Mono listener
            # escapes its upsampling abort is not measured
            check_builtin_rate(cfg.sample_rate)
        self._material_json = Path(self._tmp.name) / "materials.json"
        self._material_json.write_text(materials.to_engine_json(), encoding="utf-8")

    def version(self) -> str:
        """Engine package version plus a hash of its native libraries."""
        return _engine_identity()

    def hrtf_id(self) -> str:
        """``builtin`` or ``<file name>@<sha256 prefix>`` of the SOFA file (simkit.acoustics.hrtf); ``none``
        for an omnidirectional microphone model, which uses no HRTF."""
        return "none" if self._capsules is not None else self._hrtf_id

    def hrtf_info(self) -> HrtfInfo | None:
        """The validated SOFA file's identity, or None for the built-in HRTF."""
        return self._hrtf_info

    def hrtf_manifest(self) -> dict | None:
        """The HRTF's identity, licence and rates as a render manifest records them; None without an HRTF
        (an omnidirectional microphone model)."""
        if self._capsules is not None:
            return None
        if self._hrtf_info is None:
            return builtin_manifest_entry(self.version(), self.cfg.sample_rate)
        return self._hrtf_info.manifest_entry(self.cfg.sample_rate)

    def engine_config(self, direct: bool) -> rlr.Config:
        """The engine config of the direct-only (``direct=True``) or indirect-only context."""
        c = rlr.Config()
        for key, value in {**ENGINE_FIXED, **self.preset.engine_fields()}.items():
            setattr(c, key, value)
        c.sample_rate = float(self.cfg.sample_rate)
        c.thread_count = self.cfg.thread_count
        c.direct = direct
        c.indirect = not direct
        return c

    def render(
        self,
        scene: Scene,
        listener_positions: np.ndarray,
        listener_quats: np.ndarray,
        source_positions: np.ndarray,
    ) -> BinauralRIRs:
        """Direct and indirect binaural RIRs (L, S, 2, T) float32; identical bytes for identical inputs."""
        lp = _points(listener_positions, "listener_positions")
        sp = _points(source_positions, "source_positions")
        lq = np.asarray(listener_quats, dtype=np.float64)
        if lq.shape != (len(lp), 4) or not np.all(np.isfinite(lq)):
            raise ValueError(f"listener_quats must be finite with shape ({len(lp)}, 4), got {lq.shape}")
        norms = np.linalg.norm(lq, axis=1, keepdims=True)
        if np.any(norms < 1e-9):
            raise ValueError("listener_quats holds a zero quaternion")
        lq = lq / norms
        vertices, groups = self._mesh(scene)
        if self._capsules is not None:
            return self._render_capsules(vertices, groups, lp, lq, sp)
        direct = self._simulate(vertices, groups, lp, lq, sp, direct=True)
        if self.preset.shared_indirect:
            indirect = self._shared_indirect(vertices, groups, lp, lq, sp)
        else:
            indirect = self._simulate(vertices, groups, lp, lq, sp, direct=False)
        return BinauralRIRs(direct=direct, indirect=indirect, sample_rate=self.cfg.sample_rate)

    def _render_capsules(
        self, vertices: list[float], groups: list[tuple[str, list[int]]], lp: np.ndarray, lq: np.ndarray,
        sp: np.ndarray,
    ) -> BinauralRIRs:
        """Two-channel RIRs of an omnidirectional capsule pair: one ``Mono`` listener per capsule, at the
        capsule's world position (the view's position plus its rotated offset), direct and indirect alike.

        The shared FOA trace of ``efficient`` is not used: the capsules of different views stand at different
        points, and a first-order field cannot be moved 7-9 cm at speech frequencies (its Taylor term holds
        below ~0.8 kHz for 0.067 m); so the indirect pass costs one trace per capsule (docs/acoustics.md).
        """
        at = capsule_positions(self._capsules, lp, quat_to_matrix(lq)).reshape(-1, 3)  # (L * 2, 3), left first
        identity = np.tile([1.0, 0.0, 0.0, 0.0], (len(at), 1))  # an omni listener has no orientation
        parts = []
        for direct in (True, False):
            r = self._simulate(vertices, groups, at, identity, sp, direct=direct, mono=True)  # (2L, S, 1, T)
            if not direct and self.preset.late_tail:
                from simkit.acoustics.late_tail import synthesise_late_tail

                r = synthesise_late_tail(r, self.cfg.sample_rate)
            r = r.reshape(len(lp), 2, len(sp), self.n_samples).transpose(0, 2, 1, 3)
            parts.append(np.ascontiguousarray(r, dtype=np.float32))
        return BinauralRIRs(direct=parts[0], indirect=parts[1], sample_rate=self.cfg.sample_rate)

    def _shared_indirect(
        self, vertices: list[float], groups: list[tuple[str, list[int]]], lp: np.ndarray, lq: np.ndarray,
        sp: np.ndarray,
    ) -> np.ndarray:
        """Indirect binaural RIRs from one first-order ambisonic trace per distinct listener position.

        The engine's indirect field is stored at SH order 1 (``indirect_sh_order``), so a world-frame FOA
        response holds what every orientation at that point hears; each view rotates it into its own frame
        and decodes it with :meth:`foa_decoder`. Views that share a position (the default view set) share
        the trace, which is what makes the ``efficient`` preset cheap.
        """
        positions, which = np.unique(lp, axis=0, return_inverse=True)
        identity = np.tile([1.0, 0.0, 0.0, 0.0], (len(positions), 1))
        foa = self._simulate(vertices, groups, positions, identity, sp, direct=False, ambisonic=True)
        if self.preset.late_tail:
            from simkit.acoustics.late_tail import synthesise_late_tail

            foa = synthesise_late_tail(foa, self.cfg.sample_rate)
        return decode_foa(foa[np.ravel(which)], quat_to_matrix(lq), self.foa_decoder(),
                          int(round(DECODER_LEAD_SECONDS * self.cfg.sample_rate)))

    def foa_decoder(self) -> np.ndarray:
        """The (2, 4, K) float32 FIR decoder from listener-frame FOA to binaural, fitted to this backend's
        direct path (its HRTF); computed once per process and setting."""
        source = self._hrtf_info.path if self._hrtf_info else None  # not self._hrtf: a per-backend temporary
        key = (self._hrtf_id, source, self.cfg.sample_rate, self.cfg.thread_count,
               tuple(sorted(self.preset.engine_fields().items())))
        if key not in _DECODERS:
            _DECODERS[key] = self._fit_decoder()
        return _DECODERS[key]

    def _fit_decoder(self) -> np.ndarray:
        sr = self.cfg.sample_rate
        half = CALIBRATION_BOX / 2.0
        corners = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)])
        quads = [[0, 4, 5, 1], [2, 3, 7, 6], [0, 1, 3, 2], [4, 6, 7, 5], [0, 2, 6, 4], [1, 5, 7, 3]]
        faces = [i for q in quads for i in (q[0], q[1], q[2], q[0], q[2], q[3])]
        box = (corners.ravel().tolist(), [(self.materials.lookup("default").name, faces)])
        sources = fibonacci_directions(CALIBRATION_DIRECTIONS) * CALIBRATION_DISTANCE
        at, ident = np.zeros((1, 3)), np.array([[1.0, 0.0, 0.0, 0.0]])
        foa = self._simulate(*box, at, ident, sources, direct=True, ambisonic=True)[0].astype(np.float64)
        binaural = self._simulate(*box, at, ident, sources, direct=True)[0].astype(np.float64)
        k = int(round(DECODER_SECONDS * sr))
        lead = int(round(DECODER_LEAD_SECONDS * sr))
        onset = CALIBRATION_DISTANCE / 343.0 * sr
        t = np.arange(max(0, int(onset - 0.002 * sr)), int(onset + 0.02 * sr))  # the direct sound only
        lags = np.arange(-lead, k - lead)
        padded = np.pad(foa, ((0, 0), (0, 0), (k, k)))
        # x[t - lag] for every window sample and lag: rows (direction, t), columns (channel, lag)
        cols = padded[:, :, t[:, None] - lags[None, :] + k]  # (D, 4, W, K)
        x = cols.transpose(0, 2, 1, 3).reshape(len(sources) * len(t), 4 * k)
        y = binaural[:, :, t].transpose(0, 2, 1).reshape(len(sources) * len(t), 2)
        h = np.linalg.solve(x.T @ x + 1e-9 * np.trace(x.T @ x) / x.shape[1] * np.eye(x.shape[1]), x.T @ y)
        # float32 so that last-bit differences of the solve (BLAS threading) cannot reach the rendered bytes
        return np.ascontiguousarray(h.T.reshape(2, 4, k), dtype=np.float32)

    def _mesh(self, scene: Scene) -> tuple[list[float], list[tuple[str, list[int]]]]:
        v = np.asarray(scene.vertices, dtype=np.float64)
        f = np.asarray(scene.faces)
        fm = np.asarray(scene.face_material)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) < 3 or not np.all(np.isfinite(v)):
            raise SimkitError(f"scene {scene.scene_id}: vertices must be a finite (n>=3, 3) array")
        if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or not np.issubdtype(f.dtype, np.integer):
            raise SimkitError(f"scene {scene.scene_id}: faces must be a non-empty (m, 3) integer array")
        if f.min() < 0 or f.max() >= len(v):
            raise SimkitError(f"scene {scene.scene_id}: a face indexes a vertex outside 0..{len(v) - 1}")
        if fm.min() < 0 or fm.max() >= len(scene.material_names):
            raise SimkitError(f"scene {scene.scene_id}: face_material indexes outside material_names")
        groups = []
        for m in np.unique(fm):
            name = scene.material_names[int(m)]
            if name not in self.materials:
                raise SimkitError(
                    f"scene {scene.scene_id}: material {name!r} is not in material database "
                    f"{self.materials.source}"
                )
            # the engine resolves categories case-insensitively; pass the database's own spelling
            groups.append((self.materials.lookup(name).name, f[fm == m].astype(np.int64).ravel().tolist()))
        return v.ravel().tolist(), groups

    def _simulate(
        self,
        vertices: list[float],
        groups: list[tuple[str, list[int]]],
        lp: np.ndarray,
        lq: np.ndarray,
        sp: np.ndarray,
        direct: bool,
        ambisonic: bool = False,
        mono: bool = False,
    ) -> np.ndarray:
        """(L, S, C, T) float32 responses of a fresh context: C = 2 (binaural), 4 (world-frame FOA) or 1
        (``mono``: an omnidirectional receiver)."""
        n_out, layout = (4, rlr.ChannelLayoutType.Ambisonics) if ambisonic else \
            (1, rlr.ChannelLayoutType.Mono) if mono else (2, rlr.ChannelLayoutType.Binaural)
        out = np.zeros((len(lp), len(sp), n_out, self.n_samples), dtype=np.float32)
        failure: str | None = None
        with _engine_output() as engine_log:
            ctx = rlr.Context(self.engine_config(direct))
            try:
                ctx.set_material_database_json(str(self._material_json))
                ctx.add_object()
                ctx.add_mesh_vertices(vertices)
                for name, indices in groups:
                    ctx.add_mesh_indices(indices, 3, name)
                ctx.finalize_object_mesh(0)
                for i in range(len(lp)):
                    ctx.add_listener(rlr.ChannelLayout(layout, n_out))
                    if self._hrtf is not None and not ambisonic and not mono:
                        ctx.set_listener_hrtf(i, str(self._hrtf))
                    ctx.set_listener_position(i, lp[i].tolist())
                    ctx.set_listener_orientation_quaternion(i, lq[i].tolist())
                for j in range(len(sp)):
                    ctx.add_source()
                    ctx.set_source_position(j, sp[j].tolist())
                ctx.simulate()
                for i in range(len(lp)):
                    for j in range(len(sp)):
                        n_ch = ctx.get_ir_channel_count(i, j)
                        if n_ch != n_out:
                            failure = f"engine returned {n_ch} channels for a {n_out}-channel listener"
                            break
                        for c in range(n_out):
                            ir = np.asarray(ctx.get_ir_channel(i, j, c), dtype=np.float32)
                            n = min(len(ir), self.n_samples)
                            out[i, j, c, :n] = ir[:n]
            except SystemError:
                failure = "engine call failed"
            finally:
                del ctx
        problems = [ln for ln in engine_log if any(m in ln.lower() for m in _ENGINE_FAILURE_MARKERS)]
        if problems and self._hrtf is not None and any("hrtf" in ln.lower() for ln in problems):
            named = self._hrtf_info.path if self._hrtf_info else self._hrtf
            raise SimkitError(f"HRTF file {named} was rejected by the engine: {problems[-1].strip()}")
        if failure or problems:
            detail = "; ".join(ln.strip() for ln in (problems or engine_log)[-3:])
            raise RuntimeError(f"RLRAudioPropagation: {failure or 'engine reported a problem'}: {detail}")
        return out


def decode_foa(foa: np.ndarray, rotations: np.ndarray, decoder: np.ndarray, lead: int) -> np.ndarray:
    """Binaural (L, S, 2, T) float32 from world-frame engine FOA (L, S, 4, T) heard by listeners whose
    local -> world rotations are ``rotations`` (L, 3, 3), with a (2, 4, K) decoder whose zero lag is tap
    ``lead``."""
    n = foa.shape[-1]
    a = foa.astype(np.float64)
    world = a[:, :, [3, 1, 2]]  # engine (x, y, z) components
    local = np.einsum("lji,lsjt->lsit", rotations, world)  # R^T v: the field in each listener's frame
    a = np.concatenate([a[:, :, :1], local[:, :, [1, 2, 0]]], axis=2)  # back to (W, y, z, x)
    k = decoder.shape[-1]
    size = 1 << int(np.ceil(np.log2(n + k)))
    spec = np.einsum("lskf,ckf->lscf", np.fft.rfft(a, size, axis=-1),
                     np.fft.rfft(decoder.astype(np.float64), size, axis=-1))
    return np.ascontiguousarray(np.fft.irfft(spec, size, axis=-1)[..., lead:lead + n], dtype=np.float32)


def _points(x: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or len(a) == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"{what} must be a finite (n>=1, 3) array, got shape {a.shape}")
    return a
