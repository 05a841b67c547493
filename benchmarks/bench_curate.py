"""Egomotion error by pan size and resolution, and curation speed, on generated video (docs/curation.md).

    .venv/bin/python benchmarks/bench_curate.py --out out/bench-curate [--pans 20,30,45,60,90]
        [--sizes 160x120,320x240,640x480] [--scenes 2]

For every size, pan and scene one 5 s video (``--fps``, default 10) is generated with ``simkit egovideo``:
hold 0.5 s, pan by +-PAN over 4 s (smoothstep), hold. The camera motion of the clip [0, 5] s is estimated
with the defaults of ``simkit curate`` (5 fps, SIFT, 60 deg FOV) at the video's own width and compared with
the exact yaw change. Curation speed is video seconds per CPU second (process time of ``simkit curate`` on
every generated 320x240 video, analysis and dataset writing).
Results: ``OUT/egomotion.csv`` (one row per video), ``OUT/summary.json`` and a printed table.

    .venv/bin/python benchmarks/bench_curate.py --test-spread --out out/test-spread [--pan-seeds 8]
        [--walk-seeds 30] [--seed0-encodings 42,88]

measures the spread of the statistics tests/test_curate.py asserts, so its tolerances are measured ones:
the tests' two videos (11 s of pans; a 5 s walk with a 30 deg turn) are generated for every seed, and
their frames and audio encoded several ways - x264 ``cpu-independent=1`` (simkit's), ``mbtree=0``, and
the encoder before issue 16, whose output changed from encoding to encoding (repeated in one process);
pans in 5 encodings a seed, the walk in the first 3; seed 0, the tests' own, in 42 (pans) and 88 (walk)
more: crf 15-25 and more run-to-run variants. Every encoding is analysed as
the tests do (curate's analysis of each clip; the 55- and 26-frame tracks). One JSON line per encoding in
``OUT/test_spread.jsonl`` and a printed summary (about 13 CPU minutes with the defaults).

    .venv/bin/python benchmarks/bench_curate.py --kept-clips --out out/curate-kept
        [--ego DIR ...] [--curated DIR ...] [--scenes-list proc_000,proc_001] [--videos-per-scene 8]
        [--seconds 20] [--walk-speed 0.2]

measures curate's yaw error on the clips it keeps, pans against walks: per scene one egovideo pool of random
holds and pans (standing) and one of the same while walking (``--walk-speed``), 5 fps; each pool is curated
with curate's defaults and every kept clip's ``yaw_change_deg`` (curation.csv) is compared with the exact
yaw change between its start and end (egovideo's truth). ``--ego`` reuses egovideo folders instead, and
``--curated`` curate outputs of egovideo folders (e.g. ``OUT/curated-pan`` and ``OUT/curated-walk`` of
``benchmarks/bench_egomotion_training.py``); a video whose egovideo config walks counts as walking.
Results: ``OUT/kept_clips.csv`` (one row per kept clip) and a printed table.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from simkit.render.egovideo import EgoVideoConfig, EgoVideoResult, generate_egovideos, read_truth
from simkit.video.egomotion import EgomotionConfig, estimate_track
from simkit.video.io import read_frames
from simkit.vision.config import CameraConfig


def made(result: EgoVideoResult) -> EgoVideoResult:
    """``result`` of a generation whose every video was made (egovideo skips a failed video and goes on;
    a benchmark needs them all)."""
    if result.failed:
        name, message = next(iter(result.failed.items()))
        raise SystemExit(f"error: egovideo {name} failed: {message}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/bench-curate"))
    ap.add_argument("--pans", default="20,30,45,60,90")
    ap.add_argument("--sizes", default="160x120,320x240,640x480")
    ap.add_argument("--scenes", type=int, default=2, help="scenes per (size, pan); sign alternates")
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument("--test-spread", action="store_true", help="measure the spread of tests/test_curate.py's "
                    "statistics over seeds and encodings instead")
    ap.add_argument("--pan-seeds", type=int, default=8)
    ap.add_argument("--walk-seeds", type=int, default=30)
    ap.add_argument("--seed0-encodings", default="42,88", help="extra encodings of seed 0: pans,walk")
    ap.add_argument("--kept-clips", action="store_true", help="yaw error of curate's kept clips, pans against "
                    "walks, instead")
    ap.add_argument("--ego", type=Path, nargs="*", default=[], help="--kept-clips: reuse these egovideo folders")
    ap.add_argument("--curated", type=Path, nargs="*", default=[], help="--kept-clips: reuse these curate "
                    "outputs of egovideo folders instead (their curation.csv names the videos)")
    ap.add_argument("--scenes-list", default="proc_000,proc_001", help="--kept-clips: scenes of the pools")
    ap.add_argument("--videos-per-scene", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--walk-speed", type=float, default=0.2)
    args = ap.parse_args()
    if args.kept_clips:
        measure_kept_clips(args)
        return
    if args.test_spread:
        pan0, walk0 = (int(v) for v in args.seed0_encodings.split(","))
        measure_test_spread(args.out, args.pan_seeds, args.walk_seeds, pan0, walk0)
        return
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
                made(generate_egovideos(cfg, d, progress=False))
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


def measure_kept_clips(args: argparse.Namespace) -> None:
    """curate's yaw error on its kept clips, standing pans against walking (``--kept-clips``)."""
    import subprocess
    import sys

    dirs = list(args.ego)
    if not dirs and not args.curated:
        for scene in args.scenes_list.split(","):
            for kind, walk in (("pan", 0.0), ("walk", args.walk_speed)):
                d = args.out / "ego" / f"{kind}-{scene}"
                seed = int(hashlib.sha256(d.name.encode()).hexdigest()[:6], 16)
                cmd = ["egovideo", "--out", str(d), "--videos", str(args.videos_per_scene), "--scene", scene,
                       "--seed", str(seed), "--seconds", f"{args.seconds:g}", "--fps", "5", "--walk-speed",
                       f"{walk:g}", "--no-progress"]
                print("$ simkit " + " ".join(cmd), flush=True)
                subprocess.run([sys.executable, "-m", "simkit", *cmd], check=False)  # a failed video is skipped
                dirs.append(d)
    curated = list(args.curated)
    for d in dirs if not curated else []:
        cur = args.out / "curated" / d.name
        if not (cur / "curation.csv").is_file():
            cmd = ["curate", str(d / "videos"), "--out", str(cur), "--split", "1,0,0", "--no-progress"]
            print("$ simkit " + " ".join(cmd), flush=True)
            subprocess.run([sys.executable, "-m", "simkit", *cmd], check=True)
        curated.append(cur)
    rows = []
    for cur in curated:
        with open(cur / "curation.csv") as f:
            for r in csv.DictReader(f):
                if r["yaw_change_deg"] == "":
                    continue  # camera motion not estimated
                d = Path(r["video"]).parent.parent  # the egovideo folder (OUT/videos/NAME.mp4)
                walk = float(json.loads((d / "egovideo.json").read_text())["config"]["walk_speed"])
                times, _, yaws, _ = read_truth(d, Path(r["video"]).stem)
                true = float(np.interp(float(r["end_s"]), times, yaws) - np.interp(float(r["start_s"]), times, yaws))
                est = float(r["yaw_change_deg"])
                rows.append({"egovideo": d.name, "walk_speed": walk, "video": Path(r["video"]).name,
                             "start_s": r["start_s"], "kept": int(r["kept"]), "true_deg": round(true, 3),
                             "est_deg": est, "abs_err_deg": round(abs(est - true), 3)})
    if not rows:
        raise SystemExit("error: no clip with an estimated camera motion")
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "kept_clips.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    print("\n| clips | n | yaw error mean (deg) | median | 90th pct | max |\n|---|---|---|---|---|---|")
    for which, pick in (("kept", lambda r: r["kept"] == 1), ("all estimated", lambda r: True)):
        for name, walking in (("standing (pans)", False), ("walking", True)):
            e = np.array([r["abs_err_deg"] for r in rows if pick(r) and (r["walk_speed"] > 0) == walking])
            if len(e):
                print(f"| {which}, {name} | {len(e)} | {e.mean():.2f} | {np.median(e):.2f} | "
                      f"{np.percentile(e, 90):.2f} | {e.max():.2f} |")


PANS = "0:0,0.5:0,4.5:20,6:20,10.5:-70,11:-70"  # tests/test_curate.py's KEYFRAMES
WALK = "0:0,0.5:0,4.5:30:1.2,5:30:1.2"
ENCODINGS = ["cpu-independent=1", "mbtree=0", "old", "old", "old"]
SEED0 = (["old"] * 12 + [f"cpu-independent=1+crf{c}" for c in (16, 17, 19, 20, 21, 22)] + ["old"] * 67
         + [f"cpu-independent=1+crf{c}" for c in (15, 23, 25)])


def _spread_case(kind: str, enc: str, video: Path, times: np.ndarray, yaws: np.ndarray) -> dict:
    """The statistics tests/test_curate.py asserts, on one encoding of one of its videos."""
    from simkit.curate.iid import iid_change, iid_track
    from simkit.curate.pipeline import CurateConfig, analyse_video
    from simkit.video.io import read_audio, write_video

    cfg = CurateConfig(split_fractions=(1.0, 0.0, 0.0))
    a = analyse_video(video, "x", cfg)
    rec: dict = {"kind": kind, "enc": enc}
    if kind == "walk":
        (c,) = a["clips"]
        t = np.array([np.nan if x is None else x for x in c["translation"]])
        yaw = c["yaw_change_deg"]
        rec.update(yaw_err=None if yaw is None else yaw - float(yaws[-1] - yaws[0]), translation=t.tolist(),
                   forward_ratio=float(-t[2] / max(abs(t[0]), abs(t[1]))))
        return rec
    mcfg = EgomotionConfig()
    ft = np.arange(55) / mcfg.fps  # test_egomotion_recovers_pans
    track = estimate_track(read_frames(video, ft, width=320, gray=True), mcfg)
    errs, trans = [], []
    for s in (0.0, 3.0, 6.0):
        e = min(s + 5, ft[-1])
        est, tr = track.between(s, e)
        errs.append(float(est - (np.interp(e, times, yaws) - np.interp(s, times, yaws))))
        trans.append(float(np.linalg.norm(tr)))
    tr26 = estimate_track(read_frames(video, np.arange(26) / 5, width=320, gray=True), mcfg)
    vt = cfg.view_times()
    clip_err, rel_err, swap = [], [], []
    audio = read_audio(video, 16000)
    swapped = write_video(video.with_name("swapped.mp4"), read_frames(video, ft), 5, audio[::-1].copy(), 16000)
    audio2 = read_audio(swapped, 16000)
    for c in a["clips"]:
        s = c["start_s"]
        true = np.interp(min(s + 5, 11), times, yaws) - np.interp(s, times, yaws)
        clip_err.append(c["yaw_change_deg"] - true)
        true_rel = np.interp(s + vt[-1], times, yaws) - np.interp(s + vt[0], times, yaws)
        rel_err.append(c["rel_yaw_deg"][0][-1] - true_rel)
        a0, a1 = int(round(s * 16000)), int(round(c["end_s"] * 16000))
        swap.append(float(iid_change(iid_track(audio2[:, a0:a1], 16000)) / -c["iid_change"]))
    rec.update(pan_err=errs, pan_translation=trans, matcher_err=float(tr26.between(0, 5)[0] - 20.0),
               clip_err=clip_err, rel_err=rel_err, iid_change=[c["iid_change"] for c in a["clips"]], swap_ratio=swap)
    return rec


def measure_test_spread(out: Path, pan_seeds: int, walk_seeds: int, pan0: int, walk0: int) -> None:
    """Spread of tests/test_curate.py's statistics over seeds and encodings (see the module docstring)."""
    import simkit.video.io as vio

    captured: dict = {}
    real_write = vio.write_video

    def capture(path, frames, fps, audio=None, sample_rate=16000, crf=18):  # the arrays the encoder gets
        captured.update(frames=frames, fps=fps, audio=audio, sr=sample_rate)
        return real_write(path, frames, fps, audio, sample_rate, crf)

    out.mkdir(parents=True, exist_ok=True)
    vio.write_video = capture
    recs = []
    try:
        with open(out / "test_spread.jsonl", "w") as f:
            for kind, seeds, keys, az, n_enc, extra in (("walk", walk_seeds, WALK, 10.0, 3, walk0),
                                                        ("pans", pan_seeds, PANS, 20.0, 5, pan0)):
                for seed in range(seeds):
                    d = out / f"{kind}{seed}"
                    cfg = EgoVideoConfig(seconds=11 if kind == "pans" else 5, fps=5, keyframes=keys,
                                         source_azimuths=(az,), signal="noise", seed=seed)
                    made(generate_egovideos(cfg, d, progress=False))
                    times, _, yaws, _ = read_truth(d, "ego_0000")
                    encs = ENCODINGS[:n_enc] + (SEED0[:extra] if seed == 0 else [])
                    for e, enc in enumerate(encs):
                        vio.X264_PARAMS = "" if enc == "old" else enc.split("+")[0]
                        crf = int(enc.split("+crf")[1]) if "+crf" in enc else 18
                        v = real_write(d / f"enc{e}.mp4", captured["frames"], captured["fps"], captured["audio"],
                                       captured["sr"], crf)
                        vio.X264_PARAMS = "cpu-independent=1"
                        rec = {"seed": seed, **_spread_case(kind, enc, v, times, yaws)}
                        recs.append(rec)
                        f.write(json.dumps(rec) + "\n")
                        f.flush()
    finally:
        vio.write_video = real_write
        vio.X264_PARAMS = "cpu-independent=1"

    def span(rows: list[dict], key: str) -> str:
        v = np.array([x for r in rows for x in np.atleast_1d(np.array(r[key], dtype=float))])
        return f"{key}: min {np.nanmin(v):.3f} max {np.nanmax(v):.3f} sd {np.nanstd(v):.3f} ({np.isnan(v).sum()} NaN)"

    for kind, keys in (("walk", ["yaw_err", "forward_ratio"]),
                       ("pans", ["pan_err", "pan_translation", "matcher_err", "clip_err", "rel_err", "swap_ratio"])):
        for name, rows in ((f"{kind}, all seeds", [r for r in recs if r["kind"] == kind]),
                           (f"{kind}, seed 0", [r for r in recs if r["kind"] == kind and r["seed"] == 0])):
            print(f"{name} ({len(rows)} encodings): " + "; ".join(span(rows, k) for k in keys))


if __name__ == "__main__":
    main()
