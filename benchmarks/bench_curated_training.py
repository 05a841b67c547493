"""Curated-train -> labelled-test comparison of ours_full, slfm_simple and iid on generated video
(docs/curation.md).

    .venv/bin/python benchmarks/bench_curated_training.py --out out/bench-curated [--train-videos 16]

Steps (each a real ``simkit`` command, printed before it runs; re-runs resume):

1. ``simkit egovideo``: training videos (random holds and pans, one speech source at a random position) in
   one scene, and test videos in another scene;
2. ``simkit curate`` the training videos (no labels are used from here on);
3. ``simkit prepare video-folder`` the test videos (their exact labels, all clips in the test split) and a
   small ``simkit render`` as a second labelled test set;
4. ``simkit bench --data CURATED --test-data TEST_VIDEO,RENDER`` for iid, slfm_simple and ours_full (``--quick``),
   then ``simkit leaderboard``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SIMKIT = [sys.executable, "-m", "simkit"]


def run(*args: str) -> None:
    print("$ simkit " + " ".join(args), flush=True)
    subprocess.run([*SIMKIT, *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/bench-curated"))
    ap.add_argument("--train-videos", type=int, default=16)
    ap.add_argument("--test-videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=11.0)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    o = args.out
    common = ["--seconds", f"{args.seconds:g}", "--fps", "5", "--no-progress"]
    run("egovideo", "--out", str(o / "ego-train"), "--videos", str(args.train_videos), "--scene", "proc_000",
        "--seed", "1", *common)
    run("egovideo", "--out", str(o / "ego-test"), "--videos", str(args.test_videos), "--scene", "proc_005",
        "--seed", "2", *common)
    run("curate", str(o / "ego-train" / "videos"), "--out", str(o / "curated"), "--split", "0.75,0.25,0",
        "--no-progress")
    run("prepare", "video-folder", str(o / "ego-test"), "--out", str(o / "ego-test-labelled"), "--option",
        "split=0,0,1", "--option", "frames_per_clip=1", "--quiet")
    run("render", "--out", str(o / "render"), "--scenes", "5", "--sets-per-scene", "4", "--preset", "fast")
    tests = f"{o / 'ego-test-labelled'},{o / 'render'}"
    for model in ("iid", "slfm_simple", "ours_full"):
        run("bench", "--model", model, "--data", str(o / "curated"), "--test-data", tests, "--results",
            str(o / "results"), "--quick", "--epochs", str(args.epochs))
    run("leaderboard", str(o / "results" / "leaderboard.csv"), "--no-references", "--metric", "lr_accuracy",
        "--metric", "angle_error_mean", "--metric", "class4_accuracy")


if __name__ == "__main__":
    main()
