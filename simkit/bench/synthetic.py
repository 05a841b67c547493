"""A free-field stand-in for ``simkit render`` output, written to the exact schema of docs/dataset-format.md.

Binaural RIRs come from a spherical-head-like model: the direct path reaches each ear with a Woodworth
interaural time difference and a level difference growing with ``sin(azimuth)`` (plus a small front/back
tilt of the spectrum so the two hemispheres are not identical); the indirect part is decaying noise.
Geometry, labels and camera motion use :mod:`simkit.conventions`, so labels are exactly what a real render
would store. Used by tests and ``benchmarks/bench_training.py`` where the acoustic engine would be too slow.
"""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np

import simkit
from simkit.conventions import (
    HEAD_RADIUS,
    SPEED_OF_SOUND,
    relative_translation,
    relative_yaw_deg,
    source_labels,
    yaw_to_quat,
)
from simkit.io import atomic_path, atomic_write_json, atomic_write_text, stable_hash


def _ear_rir(
    az_deg: float, dist: float, sr: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Direct (2, n) and indirect (2, n) RIRs of a source at ``az_deg`` and ``dist`` m."""
    az = math.radians(az_deg)
    lateral = math.asin(max(-1.0, min(1.0, math.sin(az))))
    itd = HEAD_RADIUS / SPEED_OF_SOUND * (lateral + math.sin(lateral))  # > 0: left ear first
    base = dist / SPEED_OF_SOUND * sr + 4.0
    # The lagging ear is delayed by |ITD| relative to the leading one.
    delays = (base + max(-itd, 0.0) * sr, base + max(itd, 0.0) * sr)
    gains = (10 ** (3.0 * math.sin(az) / 20), 10 ** (-3.0 * math.sin(az) / 20))
    tilt = 0.25 * math.cos(az)  # front: brighter, back: duller
    direct = np.zeros((2, n))
    t = np.arange(n)
    for ch in range(2):
        k = np.sinc(t - delays[ch])  # fractional delay, truncated to +-16 samples
        k[np.abs(t - delays[ch]) > 16] = 0
        k = k + tilt * np.concatenate([[0.0], np.diff(k)])
        direct[ch] = gains[ch] * k / max(dist, 0.3)
    decay = np.exp(-t / (0.08 * sr))
    indirect = 0.05 * rng.standard_normal((2, n)) * decay
    indirect[:, : int(base) + 8] = 0
    return direct, indirect


def write_synthetic_render(
    out: Path | str,
    scenes: dict[str, str],
    sets_per_scene: int = 3,
    views: int = 4,
    sources: int = 2,
    clip_seconds: float = 0.5,
    rir_samples: int = 512,
    sample_rate: int = 16000,
    max_translation: float = 0.0,
    seed: int = 0,
) -> Path:
    """Write manifest, splits and one shard per scene (``scenes`` maps id -> split); returns ``out``."""
    from simkit.audio.dsp import fft_convolve

    out = Path(out)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    config = {
        "synthetic": True,
        "sets_per_scene": sets_per_scene,
        "views": views,
        "sources": sources,
        "clip_seconds": clip_seconds,
        "sample_rate": sample_rate,
        "max_translation": max_translation,
        "seed": seed,
    }
    chash = stable_hash(config)
    n_clip = int(round(clip_seconds * sample_rate))
    g = 0.2
    for si, (scene, split) in enumerate(sorted(scenes.items())):
        rng = np.random.default_rng([seed, si])
        n, v, s = sets_per_scene, views, sources
        pos = np.zeros((n, v, 3))
        yaw = np.zeros((n, v))
        src = np.zeros((n, s, 3))
        for k in range(n):
            centre = np.array([rng.uniform(-2, 2), 1.5, rng.uniform(-2, 2)])
            yaw[k] = rng.uniform(-180, 180) + np.concatenate([[0.0], rng.uniform(-90, 90, v - 1)])
            pos[k] = centre + np.concatenate(
                [
                    rng.uniform(-max_translation, max_translation, (v, 1)),
                    np.zeros((v, 1)),
                    rng.uniform(-max_translation, max_translation, (v, 1)),
                ],
                axis=1,
            )
            ang = rng.uniform(0, 2 * np.pi, s)
            r = rng.uniform(0.8, 3.0, s)
            src[k] = centre + np.stack([r * np.cos(ang), rng.uniform(-0.3, 0.2, s), r * np.sin(ang)], axis=1)
        az = np.zeros((n, v, s))
        el = np.zeros((n, v, s))
        dist = np.zeros((n, v, s))
        rel_yaw = np.zeros((n, v, v))
        rel_t = np.zeros((n, v, v, 3))
        direct = np.zeros((n, v, s, 2, rir_samples))
        indirect = np.zeros_like(direct)
        for k in range(n):
            for i in range(v):
                az[k, i], el[k, i], dist[k, i] = source_labels(src[k], pos[k, i], yaw[k, i])
                for j in range(v):
                    rel_yaw[k, i, j] = relative_yaw_deg(yaw[k, i], yaw[k, j])
                    rel_t[k, i, j] = relative_translation(pos[k, i], yaw[k, i], pos[k, j])
                for m in range(s):
                    direct[k, i, m], indirect[k, i, m] = _ear_rir(
                        az[k, i, m], dist[k, i, m], sample_rate, rir_samples, rng
                    )
        # Speech-like source: noise bursts (syllables) with a random spectral tilt per source.
        t = np.arange(n_clip) / sample_rate
        gate = (np.mod(t + rng.uniform(0, 0.35, (n, s, 1)), 0.35) < 0.25).astype(np.float64)
        mono = 0.1 * rng.standard_normal((n, s, n_clip)) * gate
        binaural = fft_convolve(mono[:, None, :, None, :], direct + g * indirect, n_clip)
        arrays = {
            "rir/direct": direct.astype(np.float32),
            "rir/indirect": indirect.astype(np.float32),
            "rir/rt60": np.full((n, v, s), 0.18, dtype=np.float32),
            "audio/source": mono.astype(np.float32),
            "audio/binaural": binaural.astype(np.float32),
            "poses/position": pos,
            "poses/yaw_deg": yaw,
            "poses/quat_wxyz": yaw_to_quat(yaw),
            "sources/position": src,
            "labels/azimuth_deg": az.astype(np.float32),
            "labels/elevation_deg": el.astype(np.float32),
            "labels/distance_m": dist.astype(np.float32),
            "pairs/rel_yaw_deg": rel_yaw.astype(np.float32),
            "pairs/rel_translation": rel_t.astype(np.float32),
        }
        strings = {
            "audio/source_id": [[f"synthetic:{scene}/{k}-{m}@0.00" for m in range(s)] for k in range(n)],
            "audio/speaker": [[f"noise{(k + m) % 3}" for m in range(s)] for k in range(n)],
            "audio/text": [["" for _ in range(s)] for _ in range(n)],
        }
        final = out / "shards" / f"{scene}.h5"
        with atomic_path(final, suffix=".tmp") as tmp, h5py.File(tmp, "w") as f:
            for name, arr in arrays.items():
                chunks = (1, 1, 1, *arr.shape[3:]) if arr.ndim > 3 else None
                f.create_dataset(name, data=arr, chunks=chunks)
            for name, arr in strings.items():
                f.create_dataset(name, data=np.asarray(arr, dtype=object), dtype=h5py.string_dtype())
            attrs = {
                "schema_version": 1,
                "scene_id": scene,
                "split": split,
                "config_hash": chash,
                "sample_rate": sample_rate,
                "n_sets": n,
                "n_views": v,
                "n_sources": s,
                "simkit_version": simkit.__version__,
                "engine": "synthetic",
                "engine_version": "1",
                "hrtf_id": "free-field-spherical",
                "speech_source": "noise-bursts",
                "indirect_gain": g,
            }
            f.attrs.update(attrs)
            f.attrs["complete"] = 1
    atomic_write_json(
        out / "manifest.json",
        {
            "schema_version": 1,
            "tool": "simkit.bench.synthetic",
            "config": config,
            "config_hash": chash,
            "seed": seed,
            "scenes": dict(sorted(scenes.items())),
        },
    )
    for split in ("train", "val", "test"):
        atomic_write_text(
            out / "splits" / f"{split}.txt",
            "".join(f"{k}\n" for k, sp in sorted(scenes.items()) if sp == split),
        )
    return out
