"""Microphone models (simkit.acoustics.mics) through the real engine: geometry, level differences, cost, and the
first-order-ambisonic alternative for the omnidirectional pairs' indirect sound.

1. ``geometry``: sources every 30 deg of azimuth, 2 m from a listener yawed 100 deg in a dead 6 x 3 x 5 m room
   (carpet, acoustic tile, curtains) and in a live one (plaster), ``fast`` preset, 16 kHz. Per model: the
   inter-channel delay of the direct RIR (cross-correlation peak, 8x upsampled; + = channel 0 / left leads)
   against the capsules' exact path difference / 343 m/s, and the broadband level difference (dB, left over
   right) of the direct and of the mixed RIR (direct + 0.2 indirect). pyroomacoustics places the capsules too.
2. ``cost``: CPU seconds of ``backend.render`` per view set (``efficient``, the render's sampler: 4 views at one
   position x 3 sources) for binaural (one FOA indirect trace per position) and phone-stereo (one Mono trace
   per capsule, 8 per set).
3. ``foa``: the alternative for the pairs' indirect sound: the ``efficient`` preset's shared world-frame FOA
   trace at the view position, decoded per view to the two displaced omnis with a 2 x 4 FIR decoder fitted by
   least squares to the engine's own Mono direct responses at the capsule offsets (64 directions, as the
   binaural decoder of simkit.acoustics.rlr is fitted). Compared with the per-capsule traces simkit uses on the
   same view sets: indirect level, inter-channel correlation per band, the mixed RIR's ILD.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_mics.py --scenes 4 --sets 2 --out bench_mics.json
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import scipy.signal as ss

from simkit.acoustics import MaterialDatabase, make_backend
from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.mics import capsule_positions, get_mic
from simkit.acoustics.rlr import (
    CALIBRATION_BOX,
    CALIBRATION_DIRECTIONS,
    CALIBRATION_DISTANCE,
    DECODER_LEAD_SECONDS,
    DECODER_SECONDS,
    decode_foa,
)
from simkit.conventions import SPEED_OF_SOUND, azimuth_to_local_direction, quat_to_matrix, yaw_to_quat
from simkit.io import atomic_write_json, package_versions
from simkit.render.config import SamplingConfig
from simkit.scenes.raycast import fibonacci_directions
from simkit.scenes.scene import Scene

SR = 16000
YAW = 100.0
LISTENER = np.array([3.0, 1.5, 2.5])
MODELS = (("binaural", None), ("phone-stereo", None), ("spaced-pair", None), ("spaced-pair", 0.5))
BANDS_HZ = ((125.0, 500.0), (500.0, 2000.0), (2000.0, 7000.0))


def shoebox(size: tuple[float, float, float], floor: str, ceiling: str, walls: str) -> Scene:
    """A closed box room with its floor at y = 0 (as tests/test_acoustics.py)."""
    w, h, d = size
    v = np.array([[x, y, z] for x in (0, w) for y in (0, h) for z in (0, d)], dtype=np.float64)
    quads = [([0, 4, 5, 1], floor), ([2, 3, 7, 6], ceiling), ([0, 1, 3, 2], walls), ([4, 6, 7, 5], walls),
             ([0, 2, 6, 4], walls), ([1, 5, 7, 3], walls)]
    names = sorted({floor, ceiling, walls})
    faces, mats = [], []
    for q, m in quads:
        faces += [[q[0], q[1], q[2]], [q[0], q[2], q[3]]]
        mats += [names.index(m)] * 2
    n = len(faces)
    return Scene(scene_id=f"box-{walls}", vertices=v, faces=np.array(faces, dtype=np.int64),
                 face_material=np.array(mats, dtype=np.int64), material_names=names,
                 face_instance=np.zeros(n, dtype=np.int64), face_color=np.zeros((n, 3), dtype=np.uint8))


def itd_s(left: np.ndarray, right: np.ndarray, up: int = 8, lowpass: bool = False) -> float:
    """Delay (s) from the cross-correlation peak, 8x upsampled; + = channel 0 leads. ``lowpass``: of the
    < 1.5 kHz parts (as tests/test_acoustics.py: broadband, the HRTF's high-frequency phase moves the binaural
    peak, to -0.156 ms for a source at +90 deg with the built-in HRTF)."""
    if lowpass:
        sos = ss.butter(4, 1500.0, fs=SR, output="sos")
        left, right = ss.sosfiltfilt(sos, left), ss.sosfiltfilt(sos, right)
    x, y = ss.resample_poly(left, up, 1), ss.resample_poly(right, up, 1)
    lags = ss.correlation_lags(len(x), len(y))
    return float(-lags[np.argmax(ss.correlate(x, y))] / (up * SR))


def ild_db(x: np.ndarray) -> np.ndarray:
    e = np.sum(np.asarray(x, dtype=np.float64) ** 2, axis=-1)
    return 10 * np.log10(np.maximum(e[..., 0], 1e-30) / np.maximum(e[..., 1], 1e-30))


def geometry() -> list[dict]:
    az = np.arange(-150.0, 181.0, 30.0)
    rot = quat_to_matrix(yaw_to_quat(YAW))
    sources = LISTENER + (azimuth_to_local_direction(az) * 2.0) @ rot.T
    rows = []
    for room, walls in (("dead", ("carpet", "acoustictile", "curtain")), ("live", ("woodfloor", "plaster", "plaster"))):
        scene = shoebox((6.0, 3.0, 5.0), *walls)
        for engine in ("rlr", "pyroomacoustics"):
            for mic, spacing in MODELS:
                if engine == "pyroomacoustics" and mic == "binaural":
                    continue  # its binaural is a SOFA file or a head-less pair; the rlr HRTF is the reference
                cfg = AcousticsConfig(engine=engine, preset="fast", sample_rate=SR, rir_seconds=0.5, mic=mic,
                                      mic_spacing=spacing)
                r = make_backend(cfg, MaterialDatabase.embedded()).render(
                    scene, LISTENER[None], yaw_to_quat(np.array([YAW])), sources)
                d, m = r.direct[0].astype(np.float64), r.mixed(0.2)[0].astype(np.float64)
                itd = np.array([itd_s(x[0], x[1], lowpass=mic == "binaural") for x in d])
                caps = get_mic(mic).capsules(spacing)
                if caps is not None:
                    at = capsule_positions(caps, LISTENER[None], rot[None])[0]
                    exact = (np.linalg.norm(sources - at[1], axis=1) - np.linalg.norm(sources - at[0], axis=1)) \
                        / SPEED_OF_SOUND
                else:
                    exact = np.full(len(az), np.nan)
                err = None if caps is None else float(np.max(np.abs(itd - exact)) * SR)
                rows.append({"room": room, "engine": engine, "mic": mic, "spacing": spacing, "azimuth": az.tolist(),
                             "itd_ms": (itd * 1e3).round(4).tolist(),
                             "expected_itd_ms": (exact * 1e3).round(4).tolist(), "max_itd_error_samples": err,
                             "ild_direct_db": ild_db(d).round(2).tolist(), "ild_mixed_db": ild_db(m).round(2).tolist()})
    return rows


def view_sets(n_scenes: int, sets: int, seed: int):
    from simkit.render.pipeline import scene_seed
    from simkit.render.sampling import sample_view_set
    from simkit.scenes.catalog import embedded_scene_ids, load_scene

    ids = embedded_scene_ids()
    for sid in [ids[int(i)] for i in np.linspace(0, len(ids) - 1, n_scenes).round()]:
        scene = load_scene(sid)
        for n in range(sets):
            yield sid, scene, sample_view_set(scene, SamplingConfig(), scene_seed(seed, sid, n))


def fit_displaced_decoder(backend, caps: np.ndarray) -> np.ndarray:
    """(2, 4, K) FIR decoder from listener-frame FOA at the centre to omnis at ``caps`` (2, 3): least squares
    against the engine's Mono direct responses at the capsules (the method of RLRBackend._fit_decoder)."""
    half = CALIBRATION_BOX / 2.0
    corners = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)])
    quads = [[0, 4, 5, 1], [2, 3, 7, 6], [0, 1, 3, 2], [4, 6, 7, 5], [0, 2, 6, 4], [1, 5, 7, 3]]
    faces = [i for q in quads for i in (q[0], q[1], q[2], q[0], q[2], q[3])]
    box = (corners.ravel().tolist(), [(backend.materials.lookup("default").name, faces)])
    sources = fibonacci_directions(CALIBRATION_DIRECTIONS) * CALIBRATION_DISTANCE
    ident = np.array([[1.0, 0.0, 0.0, 0.0]])
    foa = backend._simulate(*box, np.zeros((1, 3)), ident, sources, direct=True, ambisonic=True)[0].astype(np.float64)
    target = backend._simulate(*box, caps, np.repeat(ident, 2, 0), sources, direct=True, mono=True)[:, :, 0]
    target = target.transpose(1, 0, 2).astype(np.float64)  # (D, 2, T)
    k, lead = int(round(DECODER_SECONDS * SR)), int(round(DECODER_LEAD_SECONDS * SR))
    onset = CALIBRATION_DISTANCE / 343.0 * SR
    t = np.arange(max(0, int(onset - 0.002 * SR)), int(onset + 0.02 * SR))
    lags = np.arange(-lead, k - lead)
    padded = np.pad(foa, ((0, 0), (0, 0), (k, k)))
    x = padded[:, :, t[:, None] - lags[None, :] + k].transpose(0, 2, 1, 3).reshape(len(sources) * len(t), 4 * k)
    y = target[:, :, t].transpose(0, 2, 1).reshape(len(sources) * len(t), 2)
    h = np.linalg.solve(x.T @ x + 1e-9 * np.trace(x.T @ x) / x.shape[1] * np.eye(x.shape[1]), x.T @ y)
    fit = (x @ h - y)
    return np.ascontiguousarray(h.T.reshape(2, 4, k)), float(np.sum(fit ** 2) / np.sum(y ** 2))


def band_corr(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Zero-lag normalised correlation between the channels of (..., 2, T), band-passed."""
    sos = ss.butter(4, [lo, hi], btype="band", fs=SR, output="sos")
    y = ss.sosfilt(sos, x, axis=-1)
    left, right = y[..., 0, :], y[..., 1, :]
    return np.sum(left * right, -1) / np.sqrt(np.sum(left ** 2, -1) * np.sum(right ** 2, -1))


def foa_vs_capsules(n_scenes: int, sets: int, seed: int) -> dict:
    cfg = AcousticsConfig(preset="efficient", sample_rate=SR, mic="phone-stereo")
    backend = make_backend(cfg, MaterialDatabase.embedded())
    caps = get_mic("phone-stereo").capsules()
    decoder, residual = fit_displaced_decoder(backend, caps)
    binaural = make_backend(dataclasses.replace(cfg, mic="binaural"), MaterialDatabase.embedded())
    binaural.foa_decoder()  # fitted once, outside the timed renders
    acc: dict[str, list] = {k: [] for k in ("ild_ref", "ild_foa", "level_db", "cpu_caps", "cpu_foa", "cpu_binaural",
                                            *(f"corr_{b}_{v}" for b in range(len(BANDS_HZ)) for v in ("ref", "foa")))}
    lead = int(round(DECODER_LEAD_SECONDS * SR))
    for _sid, scene, vs in view_sets(n_scenes, sets, seed):
        c0 = time.process_time()
        ref = backend.render(scene, vs.positions, vs.quats, vs.source_positions)
        acc["cpu_caps"].append(time.process_time() - c0)
        c0 = time.process_time()
        binaural.render(scene, vs.positions, vs.quats, vs.source_positions)
        acc["cpu_binaural"].append(time.process_time() - c0)
        c0 = time.process_time()
        verts, groups = backend._mesh(scene)
        pos, which = np.unique(vs.positions, axis=0, return_inverse=True)
        foa = backend._simulate(verts, groups, pos, np.tile([1.0, 0, 0, 0], (len(pos), 1)), vs.source_positions,
                                direct=False, ambisonic=True)
        ind = decode_foa(foa[np.ravel(which)], quat_to_matrix(vs.quats), decoder.astype(np.float32), lead)
        acc["cpu_foa"].append(time.process_time() - c0 + acc["cpu_caps"][-1] / 9)  # + the direct pass (~1/9)
        a, b = ref.indirect.astype(np.float64), ind.astype(np.float64)
        acc["level_db"] += (10 * np.log10(np.sum(b ** 2, -1).sum(-1) / np.sum(a ** 2, -1).sum(-1))).ravel().tolist()
        acc["ild_ref"] += ild_db(ref.direct + 0.2 * a).ravel().tolist()
        acc["ild_foa"] += ild_db(ref.direct + 0.2 * b).ravel().tolist()
        for k, (lo, hi) in enumerate(BANDS_HZ):
            acc[f"corr_{k}_ref"] += band_corr(a, lo, hi).ravel().tolist()
            acc[f"corr_{k}_foa"] += band_corr(b, lo, hi).ravel().tolist()
    ild_ref, ild_foa = np.array(acc["ild_ref"]), np.array(acc["ild_foa"])
    return {
        "decoder_fit_residual": residual, "rirs": len(ild_ref),
        "indirect_level_foa_minus_capsules_db": {"mean": float(np.mean(acc["level_db"])),
                                                 "max_abs": float(np.max(np.abs(acc["level_db"])))},
        "mixed_ild_abs_db": {"capsules_mean": float(np.mean(np.abs(ild_ref))),
                             "foa_mean": float(np.mean(np.abs(ild_foa))),
                             "mean_abs_difference": float(np.mean(np.abs(ild_foa - ild_ref))),
                             "sign_agreement": float(np.mean(np.sign(ild_foa) == np.sign(ild_ref)))},
        "indirect_interchannel_correlation": {
            f"{lo:g}-{hi:g} Hz": {"capsules": float(np.mean(acc[f"corr_{k}_ref"])),
                                   "foa": float(np.mean(acc[f"corr_{k}_foa"]))}
            for k, (lo, hi) in enumerate(BANDS_HZ)},
        "cpu_s_per_set": {"phone-stereo (per-capsule traces)": float(np.mean(acc["cpu_caps"])),
                          "phone-stereo (shared FOA, decoded)": float(np.mean(acc["cpu_foa"])),
                          "binaural (efficient, shared FOA)": float(np.mean(acc["cpu_binaural"]))},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--sets", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench_mics.json")
    ap.add_argument("--no-foa", action="store_true", help="geometry only (part 3 is the slow one)")
    args = ap.parse_args()
    geo = geometry()
    for r in geo:
        err = r["max_itd_error_samples"]
        print(f"{r['room']:<4} {r['engine']:<15} {r['mic']:<12} {r['spacing'] or '':<4} "
              f"max|ITD err| {'-' if err is None else round(err, 2)} samples  "
              f"ITD +90/-90 {r['itd_ms'][8]:+.3f}/{r['itd_ms'][2]:+.3f} ms  "
              f"ILD direct +90/-90 {r['ild_direct_db'][8]:+.2f}/{r['ild_direct_db'][2]:+.2f} dB  "
              f"mean|ILD| mixed {np.mean(np.abs(r['ild_mixed_db'])):.2f} dB")
    foa = None if args.no_foa else foa_vs_capsules(args.scenes, args.sets, args.seed)
    print(foa)
    atomic_write_json(args.out, {"geometry": geo, "foa_vs_capsules": foa, "versions": package_versions(("numpy",))})


if __name__ == "__main__":
    main()
