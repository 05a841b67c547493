"""Tiny copies of published dataset layouts, written by the tests (real wav, mp4, png, jpg, h5, json, csv files).

Each writer reproduces the quirks of the real release that an adapter must cope with: FAIR-Play's split files
hold the authors' absolute paths and PseudoBinaural's split lists end without a newline; 2.5D frames are
1-based; HM3D-SS CSVs quote every field; RWAVS frame numbers are seconds; StereoCRW start times are in 10 fps
frames. Clips are noise bursts whose louder ear is the labelled side, so the IID rule and a cheap model can
be checked against the labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import soundfile as sf


def bursts(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Speech-like noise bursts (0.25 s on, 0.1 s off) of ``n`` samples."""
    t = np.arange(n) / rate
    return 0.2 * rng.standard_normal(n) * (np.mod(t, 0.35) < 0.25)


def panned(rng: np.random.Generator, n: int, rate: int, side: float) -> np.ndarray:
    """(n, 2) stereo: ``side`` +1 = left ear louder (and earlier), -1 = right."""
    mono = bursts(rng, n, rate)
    near, far = mono, np.concatenate([np.zeros(8), mono])[:n] * 0.4
    left, right = (near, far) if side > 0 else (far, near)
    return np.stack([left, right], axis=1)


def write_video(path: Path, seconds: float, fps: int = 10, size: tuple[int, int] = (48, 64), seed: int = 0,
                side: float = 1.0) -> None:
    """An mp4 (mpeg4) whose frame k shows a bright square on the ``side`` and k's index in its top-left pixel."""
    import av

    h, w = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for k in range(int(round(seconds * fps))):
            img = np.full((h, w, 3), 40, np.uint8)
            x0 = 4 if side > 0 else w - 20
            img[h // 3: h // 3 + 16, x0: x0 + 16] = (230, 230, 60)
            img[:8, :8] = min(255, 10 * k)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def write_fair_play(root: Path, n_clips: int = 8, seconds: float = 2.0, rate: int = 48000, seed: int = 0,
                    n_splits: int = 2, frames_25d: bool = False, videos: bool = True) -> Path:
    """FAIR-Play release root: binaural_audios/, videos/, splits/splitK/{train,val,test}.h5 (byte strings of
    absolute author paths), new_splits/split1/*.txt (``NNNNNN.mp3`` lines, no final newline) and, with
    ``frames_25d``, frames/NNNNNN.mp4/000001.png (1-based, 10 fps)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ids = [f"{i:06d}" for i in range(1, n_clips + 1)]
    for k, cid in enumerate(ids):
        side = 1.0 if k % 2 == 0 else -1.0
        (root / "binaural_audios").mkdir(parents=True, exist_ok=True)
        sf.write(root / "binaural_audios" / f"{cid}.wav", panned(rng, int(seconds * rate), rate, side), rate,
                 subtype="PCM_16")
        if videos:
            write_video(root / "videos" / f"{cid}.mp4", seconds, side=side)
        if frames_25d:
            d = root / "frames" / f"{cid}.mp4"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(1, int(round(seconds * 10)) + 1):
                img = np.full((24, 32, 3), i, np.uint8)  # frame i (1-based) is filled with the value i
                Image.fromarray(img).save(d / f"{i:06d}.png")
    for s in range(1, n_splits + 1):
        order = list(np.roll(ids, s - 1))
        k = max(1, n_clips // 4)
        parts = {"train": order[:-2 * k], "val": order[-2 * k:-k], "test": order[-k:]}
        d = root / "splits" / f"split{s}"
        d.mkdir(parents=True, exist_ok=True)
        for split, clips in parts.items():
            paths = [f"/private/home/rhgao/datasets/BINAURAL/binaural16k/{c}.wav".encode() for c in clips]
            with h5py.File(d / f"{split}.h5", "w") as f:
                f.create_dataset("audio", data=np.array(paths, dtype=object), dtype=h5py.string_dtype("ascii"))
    d = root / "new_splits" / "split1"
    d.mkdir(parents=True, exist_ok=True)
    k = max(1, n_clips // 4)
    parts = {"train": ids[2 * k:], "val": ids[:k], "test": ids[k:2 * k]}
    for split, clips in parts.items():
        (d / f"{split}.txt").write_text("\n".join(f"{c}.mp3" for c in clips))  # no newline after the last
    return root


def write_hm3d_ss(root: Path, scenes: dict[str, list[dict]], name: str = "hm3d-4view-rotation",
                  rate: int = 16000, rir_samples: int = 800, size: tuple[int, int] = (24, 32),
                  splits: dict[str, list[tuple[str, int]]] | None = None) -> Path:
    """``Dataset/AI-Habitat`` as SLfM's scripts write it. ``scenes``: scene -> list of pairs, each a dict with
    ``angles`` (4 camera angles, deg counter-clockwise), ``rel`` (relative angle of sound s seen by camera c,
    (S, 4) deg, + = left) and optional ``skip_rgb`` (a camera whose image is missing)."""
    from PIL import Image

    base = root / "ProcessedData" / name
    for scene, pairs in scenes.items():
        for p, pair in enumerate(pairs):
            d = base / scene / f"pair-{p:04d}"
            for sub in ("binaural_rirs", "binaural_rirs_direct", "binaural_rirs_indirect"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            rel = np.asarray(pair["rel"], dtype=np.float64)
            meta: dict = {}
            for c, ang in enumerate(pair["angles"]):
                meta[f"camera_{c}_angle"] = float(ang)
                meta[f"camera_{c}_position"] = list(pair.get("position", [1.0, 1.5, 2.0]))
                meta[f"camera_{c}_rotation_in_quaternion"] = [1.0, 0.0, 0.0, 0.0]
                if c not in pair.get("skip_rgb", ()):
                    img = np.full((*size, 3), 20 * c, np.uint8)
                    Image.fromarray(img).save(d / f"camera_{c}_rgb.png")
                for s in range(rel.shape[0]):
                    meta[f"relative_angle_between_sound_{s}_camera_{c}"] = float(rel[s, c])
                    meta[f"sound_{s}_camera_{c}_rir_rt60"] = [0.3, 0.32]
                    side = np.sign(np.sin(np.deg2rad(rel[s, c]))) or 1.0
                    direct = np.zeros((rir_samples, 2))
                    near, far = (0, 1) if side > 0 else (1, 0)
                    direct[10, near], direct[13, far] = 0.9, 0.45
                    indirect = np.zeros((rir_samples, 2))
                    indirect[40:, :] = 0.02 * np.exp(-np.arange(rir_samples - 40) / 150)[:, None]
                    for sub, x in (("binaural_rirs", direct + indirect), ("binaural_rirs_direct", direct),
                                   ("binaural_rirs_indirect", indirect)):
                        sf.write(d / sub / f"sound_{s}_camera_{c}_rir.wav", x, rate, subtype="PCM_16")
            for s in range(rel.shape[0]):
                meta[f"source_{s}_position"] = list(pair.get("sources", [[0.0, 1.5, 0.0]] * rel.shape[0])[s])
            (d / "metadata.json").write_text(json.dumps(meta))
    split_dir = root / "data-split" / name
    split_dir.mkdir(parents=True, exist_ok=True)
    if splits is None:
        every = [(sc, p) for sc, pairs in scenes.items() for p in range(len(pairs))]
        splits = {"train": every[:-2], "val": every[-2:-1], "test": every[-1:]}
    for split, items in splits.items():
        lines = ['"path"'] + [f'"./data/AI-Habitat/ProcessedData/{name}/{sc}/pair-{p:04d}"' for sc, p in items]
        (split_dir / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return root
