"""Synthetic datasets for tests and benchmarks, written through the real writer (:class:`DatasetWriter`).

Two generators, no acoustic engine:

* :func:`write_synthetic_render` - a free-field stand-in for ``simkit render`` output (every group a
  render has but ``views``). Binaural RIRs come from a spherical-head-like model: the direct path reaches
  each ear with a Woodworth interaural time difference and a level difference growing with
  ``sin(azimuth)`` (plus a small front/back tilt of the spectrum so the hemispheres differ); the indirect
  part is decaying noise. Geometry, labels and camera motion use :mod:`simkit.conventions`, so labels are
  exactly what a real render would store. Used by the direction tests and ``benchmarks/bench_training.py``.
* :func:`write_synthetic_binaural` - clips whose binaural cues follow an image (the binaural tasks' tests).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from simkit.conventions import (
    HEAD_RADIUS,
    LEFT_CHANNEL,
    RIGHT_CHANNEL,
    SPEED_OF_SOUND,
    yaw_to_quat,
)
from simkit.data.labels import ViewLabels
from simkit.data.layout import SPLITS, origin
from simkit.data.writer import DatasetWriter, new_manifest


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
    n_clip = int(round(clip_seconds * sample_rate))
    g = 0.2
    manifest = new_manifest(
        origin=origin("synthetic", "simkit.data.synthetic.write_synthetic_render", "1"),
        config=config, groups=["audio", "rir", "poses", "labels", "pairs"], scenes=scenes, seed=seed,
        tool="simkit.data.synthetic",
    )
    with DatasetWriter(out, manifest) as writer:
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
                lab = ViewLabels.from_poses(pos[k], yaw[k], src[k])
                az[k], el[k], dist[k] = lab.azimuth_deg, lab.elevation_deg, lab.distance_m
                rel_yaw[k], rel_t[k] = lab.rel_yaw_deg, lab.rel_translation
                for i in range(v):
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
            strings = {
                "audio/source_id": [[f"synthetic:{scene}/{k}-{m}@0.00" for m in range(s)] for k in range(n)],
                "audio/speaker": [[f"noise{(k + m) % 3}" for m in range(s)] for k in range(n)],
                "audio/text": [["" for _ in range(s)] for _ in range(n)],
            }
            writer.write_shard(scene, {**arrays, **strings}, {
                "split": split, "sample_rate": sample_rate, "engine": "synthetic", "engine_version": "1",
                "hrtf_id": "free-field-spherical", "speech_source": "noise-bursts", "indirect_gain": g,
                "scene_source": "synthetic",
            })
        writer.write_splits({sp: [k for k, v in sorted(scenes.items()) if v == sp] for sp in SPLITS})
        writer.finish()
    return out


def write_synthetic_binaural(
    root: Path | str,
    rng: np.random.Generator,
    *,
    splits: dict[str, list[str]] | None = None,
    n_sets: int = 2,
    n_views: int = 2,
    clip_seconds: float = 1.0,
    sample_rate: int = 16000,
    image_size: tuple[int, int] = (48, 64),
    views: bool = True,
) -> Path:
    """Write a tiny render directory (docs/dataset-format.md) whose binaural cues follow the image.

    No acoustic engine: every (set, view) has one source at a random pan ``p`` in [-1, 1] (+1 = left, the
    azimuth convention's sign), drawn as a bright square at image column ``(1 - p) / 2`` of the width (the
    camera's left is the image's left). The left/right clips are the dry noise-burst source with an
    interaural level difference (gains ``1 +- 0.6 p``) and time difference (the far ear delayed by up to 8
    samples, 0.5 ms at 16 kHz). Each view set's source also has a timbre ``c`` in [0, 1] - noise bursts in a
    band around ``500 + 4500 c`` Hz - shown as the square's colour (red ``c = 0`` to blue ``c = 1``), so the
    mono audio and the image match (what ``av_localize`` scores) although the mono carries no pan.
    ``views=False`` writes no ``views/rgb``, like ``simkit render --no-views``. For tests and benchmarks.
    """
    root = Path(root)
    splits = splits or {"train": ["syn_train"], "val": ["syn_val"], "test": ["syn_test"]}
    config = {"synthetic": "pan-image", "n_sets": n_sets, "n_views": n_views, "clip_seconds": clip_seconds,
              "sample_rate": sample_rate, "image_size": list(image_size), "views": views,
              "rng_state": str(rng.bit_generator.state["state"])}
    groups = ["audio", "views"] if views else ["audio"]
    manifest = new_manifest(origin=origin("synthetic", "simkit.data.synthetic.write_synthetic_binaural", "1"),
                            config=config, groups=groups, tool="simkit.data.synthetic")
    with DatasetWriter(root, manifest) as writer:
        t = int(round(clip_seconds * sample_rate))
        h, w = image_size
        for split, scenes in splits.items():
            for scene in scenes:
                timbre = rng.uniform(0.0, 1.0, n_sets)
                freqs = np.fft.rfftfreq(t, 1.0 / sample_rate)
                band = np.exp(-(((freqs[None, :] - (500.0 + 4500.0 * timbre[:, None])) / 800.0) ** 2))
                noise = np.fft.irfft(np.fft.rfft(rng.standard_normal((n_sets, t))) * band, t)
                gate = np.mod(np.arange(t) / sample_rate, 0.35) < 0.25  # syllable-like bursts
                source = noise * gate / np.sqrt(np.mean((noise * gate) ** 2, axis=1, keepdims=True)) * 0.1
                source = source[:, None, :].astype(np.float32)
                pan = rng.uniform(-1.0, 1.0, (n_sets, n_views))
                binaural = np.zeros((n_sets, n_views, 1, 2, t), dtype=np.float32)
                rgb = np.full((n_sets, n_views, h, w, 3), 30, dtype=np.uint8)
                for n in range(n_sets):
                    for v in range(n_views):
                        p = pan[n, v]
                        delay = int(round(8 * abs(p)))
                        near, far = source[n, 0], np.concatenate([np.zeros(delay, np.float32), source[n, 0]])[:t]
                        left_sig, right_sig = (near, far) if p >= 0 else (far, near)
                        binaural[n, v, 0, LEFT_CHANNEL] = (1 + 0.6 * p) * left_sig
                        binaural[n, v, 0, RIGHT_CHANNEL] = (1 - 0.6 * p) * right_sig
                        cx, side = int(round((1 - p) / 2 * (w - 1))), max(2, h // 4)
                        colour = (int(240 * (1 - timbre[n])), 200, int(240 * timbre[n]))
                        rgb[n, v, h // 2 - side : h // 2 + side, max(0, cx - side) : cx + side] = colour
                arrays = {"audio/binaural": binaural, "audio/source": source}
                group_attrs = {}
                if views:
                    arrays["views/rgb"] = rgb
                    group_attrs["views"] = {"width": w, "height": h}
                writer.write_shard(scene, arrays, {"split": split, "sample_rate": sample_rate, "indirect_gain": 0.0},
                                   group_attrs=group_attrs)
        writer.write_splits(splits)
        writer.finish()
    return root
