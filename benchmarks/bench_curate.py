"""Egomotion error by pan size and resolution, and curation speed, on generated video (docs/curation.md).

    .venv/bin/python benchmarks/bench_curate.py --out out/bench-curate [--pans 20,30,45,60,90]
        [--sizes 160x120,320x240,640x480] [--scenes 2]

For every size, pan and scene one 5 s video (``--fps``, default 10) is generated with ``simkit egovideo``:
hold 0.5 s, pan by +-PAN over 4 s (smoothstep), hold. The camera motion of the clip [0, 5] s is estimated
with the defaults of ``simkit curate`` (5 fps, SIFT, 60 deg FOV) at the video's own width and compared with
the exact yaw change. Curation speed is video seconds per CPU second (process time of ``simkit curate`` on
every generated 320x240 video, analysis and dataset writing).
Results: ``OUT/egomotion.csv`` (one row per video), ``OUT/summary.json`` and a printed table.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from simkit.config import CameraConfig
from simkit.video.egomotion import EgomotionConfig, estimate_track
from simkit.video.egovideo import EgoVideoConfig, generate_egovideos, read_truth
from simkit.video.io import read_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/bench-curate"))
    ap.add_argument("--pans", default="20,30,45,60,90")
    ap.add_argument("--sizes", default="160x120,320x240,640x480")
    ap.add_argument("--scenes", type=int, default=2, help="scenes per (size, pan); sign alternates")
    ap.add_argument("--fps", type=int, default=10)
    args = ap.parse_args()
    pans = [float(p) for p in args.pans.split(",")]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    rows = []
    for w, h in sizes:
        for pan in pans:
            for k in range(args.scenes):
                sign = 1 if k % 2 == 0 else -1
                scene = f"proc_{(int(pan) * 7 + k) % 100:03d}"
                d = args.out / "videos" / f"{w}x{h}" / f"pan{int(pan)}_{k}"
                cfg = EgoVideoConfig(seconds=5, fps=args.fps, camera=CameraConfig(width=w, height=h, pitch_deg=0.0),
                                     keyframes=f"0:0,0.5:0,4.5:{sign * pan},5:{sign * pan}", source_azimuths=(0.0,),
                                     signal="noise", scene=scene, seed=k)
                t0 = time.perf_counter()
                generate_egovideos(cfg, d, progress=False)
                gen_s = time.perf_counter() - t0
                times, _, yaws, _ = read_truth(d, "ego_0000")
                mcfg = dataclasses.replace(EgomotionConfig(), width=w)
                t = np.arange(int(5 * mcfg.fps) + 1) / mcfg.fps
                c0 = time.process_time()
                frames = read_frames(d / "videos" / "ego_0000.mp4", t, width=w, gray=True)
                track = estimate_track(frames, mcfg)
                est, _ = track.between(0.0, 5.0)
                cpu = time.process_time() - c0
                true = float(np.interp(5.0, times, yaws) - yaws[0])
                rows.append({"width": w, "height": h, "pan_deg": pan, "scene": scene, "true_deg": round(true, 3),
                             "est_deg": round(float(est), 3), "abs_err_deg": round(abs(float(est) - true), 3),
                             "motion_cpu_s": round(cpu, 3), "generate_s": round(gen_s, 2)})
                print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "egomotion.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    summary: dict = {"mae_deg": {}, "max_err_deg": {}}
    print("\nyaw MAE (deg) by size x pan")
    print("size      " + "  ".join(f"{p:>6g}" for p in pans) + "    all")
    for w, h in sizes:
        sel = [r for r in rows if r["width"] == w]
        errs = {p: [r["abs_err_deg"] for r in sel if r["pan_deg"] == p] for p in pans}
        allv = [r["abs_err_deg"] for r in sel]
        finite = [e for e in allv if np.isfinite(e)]
        summary["mae_deg"][f"{w}x{h}"] = {f"{p:g}": float(np.mean(v)) for p, v in errs.items()} | {
            "all": float(np.mean(finite)) if finite else None, "failed": len(allv) - len(finite)}
        summary["max_err_deg"][f"{w}x{h}"] = float(np.max(finite)) if finite else None
        print(f"{w}x{h:<6}" + "  ".join(f"{np.mean(v):6.2f}" for v in errs.values()) + f"  {np.mean(finite):5.2f}")
    # curation speed: the whole pipeline on the 320x240 videos
    from simkit.curate.pipeline import CurateConfig, curate

    vids = sorted((args.out / "videos" / "320x240").glob("*/videos/*.mp4"))
    if vids:
        out = args.out / "curated"
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        c0, w0 = time.process_time(), time.perf_counter()
        curate(vids, out, CurateConfig(), progress=False)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        secs = 5.0 * len(vids)
        summary["curate"] = {"videos": len(vids), "video_s": secs, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                             "video_s_per_cpu_s": round(secs / cpu, 3)}
        print(f"\ncurate: {secs:g} video s in {cpu:.1f} CPU s ({secs / cpu:.2f} video s per CPU s), wall {wall:.1f} s")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
