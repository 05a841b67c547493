"""Prepare a published dataset and read it.

Real users point ``--src`` at their download of FAIR-Play (Gao & Grauman, CVPR 2019; docs/datasets.md
says where to get it and which layout ``simkit prepare fair-play`` expects). No dataset can be downloaded
here, so without ``--src`` the script writes a tiny stand-in in the release's layout first: 6 clips of
noise bursts at 48 kHz whose louder ear is the clip's side, the ``splits/split1/{train,val,test}.h5``
files (the authors' absolute paths, as published) and 2.5D Visual Sound's pre-extracted frames
(``frames/NNNNNN.mp4/000001.png``). It then prepares the set and reads it for ``binauralize``. A few
seconds of CPU.

    python examples/prepare_and_read.py --out out/example-prepare [--src /data/FAIR-Play]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import simkit


def write_stand_in(root: Path, n_clips: int = 6, seconds: float = 1.0, rate: int = 48000) -> Path:
    """A FAIR-Play release root in miniature (see the module docstring)."""
    import h5py
    import soundfile as sf
    from PIL import Image

    rng = np.random.default_rng(0)
    ids = [f"{i:06d}" for i in range(1, n_clips + 1)]
    n = int(seconds * rate)
    t = np.arange(n) / rate
    for k, cid in enumerate(ids):
        mono = 0.2 * rng.standard_normal(n) * (np.mod(t, 0.35) < 0.25)  # 0.25 s bursts, 0.1 s gaps
        near, far = mono, 0.4 * mono
        stereo = np.stack([near, far] if k % 2 == 0 else [far, near], axis=1)  # even clips: left louder
        (root / "binaural_audios").mkdir(parents=True, exist_ok=True)
        sf.write(root / "binaural_audios" / f"{cid}.wav", stereo, rate, subtype="PCM_16")
        frames = root / "frames" / f"{cid}.mp4"
        frames.mkdir(parents=True, exist_ok=True)
        for i in range(1, int(seconds * 10) + 1):  # 10 fps, 1-based
            Image.fromarray(np.full((24, 32, 3), 20 * k + i, np.uint8)).save(frames / f"{i:06d}.png")
    splits = {"train": ids[:4], "val": ids[4:5], "test": ids[5:]}
    (root / "splits" / "split1").mkdir(parents=True, exist_ok=True)
    for split, clips in splits.items():
        paths = [f"/private/home/rhgao/datasets/BINAURAL/binaural16k/{c}.wav".encode() for c in clips]
        with h5py.File(root / "splits" / "split1" / f"{split}.h5", "w") as f:
            f.create_dataset("audio", data=np.array(paths, dtype=object), dtype=h5py.string_dtype("ascii"))
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/example-prepare"), help="output folder")
    ap.add_argument("--src", type=Path, default=None, help="your FAIR-Play download (default: a tiny stand-in)")
    args = ap.parse_args()

    if args.src is None:
        src = write_stand_in(args.out / "FAIR-Play")
        options = {"clip_seconds": 1.0, "frame_size": "24x32", "frames": src / "frames"}
        print(f"stand-in FAIR-Play release: {src}")
    else:
        src, options = args.src, {}
    data = args.out / "fair-play"
    res = simkit.prepare("fair-play", src, data, options=options)
    print(f"prepared {len(res.written)} shards ({len(res.skipped)} already complete) -> {data}")

    for split in ("train", "val", "test"):
        ds = simkit.open_dataset(data, "binauralize", split, protocol="split1")
        print(f"binauralize/{split}: {len(ds)} clips")
    item = simkit.open_dataset(data, "binauralize", "train", protocol="split1")[0]
    for key, value in item.items():
        print(f"  {key:<12} {tuple(value.shape) if hasattr(value, 'shape') else value!r}")
    left, right = (float((item["binaural"][ear] ** 2).mean()) for ear in (0, 1))
    print(f"  louder ear: {'left' if left > right else 'right'} ({10 * np.log10(left / right):+.1f} dB)")


if __name__ == "__main__":
    main()
