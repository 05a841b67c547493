"""``simkit prepare`` throughput on a generated FAIR-Play-sized release, and bench read throughput from it.

Writes a FAIR-Play layout (the tests' published-layout writer: ``--clips`` clips of ``--seconds`` s, 48 kHz
16-bit stereo wav, an mpeg4 video at 10 fps of ``--video-size``, split1 h5 files with author paths), times
``prepare("fair-play", ...)`` (clips/s, input MB/s, output size) and then reads the prepared set the way the
binauralize task does: whole-clip evaluation items (audio + every frame) and training windows.

    .venv/bin/python benchmarks/bench_prepare.py [--clips 50] [--seconds 10] [--video-size 360x640] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the published-layout writers

import soundfile as sf  # noqa: E402
from published_layouts import write_fair_play, write_video  # noqa: E402


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--video-size", default="360x640", help="HEIGHTxWIDTH of the generated videos")
    ap.add_argument("--frame-size", default="112x224", help="stored frame size (the adapter's default)")
    ap.add_argument("--read-items", type=int, default=0, help="items read per pass (0 = all)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from simkit.data.datasets.binaural import BinauralClips, open_binaural_dataset
    from simkit.data.prepare import prepare

    vh, vw = (int(v) for v in args.video_size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        src = Path(tmp) / "FAIR-Play"
        t0 = time.perf_counter()
        write_fair_play(src, n_clips=args.clips, seconds=args.seconds, n_splits=1, videos=False)
        for k, wav in enumerate(sorted((src / "binaural_audios").glob("*.wav"))):
            write_video(src / "videos" / f"{wav.stem}.mp4", args.seconds, size=(vh, vw), side=1 if k % 2 else -1)
        gen_s = time.perf_counter() - t0
        in_bytes = _size(src / "binaural_audios") + _size(src / "videos")
        out = Path(tmp) / "prepared"
        opts = {"clip_seconds": str(args.seconds), "frame_size": args.frame_size}
        t0 = time.perf_counter()
        res = prepare("fair-play", src, out, opts, progress=False)
        prep_s = time.perf_counter() - t0
        out_bytes = _size(out)
        t0 = time.perf_counter()
        again = prepare("fair-play", src, out, opts, progress=False)
        resume_s = time.perf_counter() - t0
        assert not again.written

        info = open_binaural_dataset(out)
        figures: dict[str, float | int | str] = {}
        for name, train in (("eval_clips", False), ("train_windows", True)):
            ds = BinauralClips(info, "train", train=train, negatives=True, seed=0, max_items=args.read_items)
            t0 = time.perf_counter()
            nbytes = 0
            for i in range(len(ds)):
                item = ds[i]
                nbytes += sum(v.numel() * v.element_size() for v in item.values() if isinstance(v, torch.Tensor))
            dt = time.perf_counter() - t0
            figures[f"read_{name}_per_s"] = round(len(ds) / dt, 2)
            figures[f"read_{name}_MB_per_s"] = round(nbytes / dt / 1e6, 1)
        wav0 = next((src / "binaural_audios").glob("*.wav"))
        figures.update({
            "clips": args.clips, "seconds": args.seconds, "video_size": args.video_size,
            "frame_size": args.frame_size, "source_rate": sf.info(str(wav0)).samplerate,
            "generate_s": round(gen_s, 1), "prepare_s": round(prep_s, 2),
            "prepare_clips_per_s": round(len(res.written) / prep_s, 3),
            "prepare_input_MB_per_s": round(in_bytes / prep_s / 1e6, 2),
            "input_MB": round(in_bytes / 1e6, 1), "output_MB": round(out_bytes / 1e6, 1),
            "output_MB_per_clip": round(out_bytes / 1e6 / args.clips, 2),
            "resume_noop_s": round(resume_s, 2),
        })
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
