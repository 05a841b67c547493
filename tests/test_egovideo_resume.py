"""``simkit egovideo`` keeps what it made (issue 22 item 5): a video that finds no start pose is named and
skipped while the others are made and labelled, every finished video is labelled as soon as it is made, a
re-run resumes without re-making finished videos, and random segments keep their length (the last is cut)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_support import SIMKIT, one_error_line

import simkit.render.egovideo as ego
from simkit.errors import OutputError
from simkit.render.egovideo import EgoVideoConfig, generate_egovideos, read_truth
from simkit.vision.config import CameraConfig

# a 0.8 m/s walk of 5 s in proc_002: with seed 13 video 1 finds no start pose in 200 tries, videos 0 and 2 do
# (each 5 s, so each has one labelled 5 s clip); 64x48 frames keep a video at about a CPU second
ARGS = dict(videos=3, seconds=5.0, fps=10, scene="proc_002", walk_speed=0.8, seed=13, signal="noise",
            camera=CameraConfig(width=64, height=48, pitch_deg=0.0))
CLI = ["egovideo", "--videos", "3", "--seconds", "5", "--fps", "10", "--scene", "proc_002", "--walk-speed", "0.8",
       "--seed", "13", "--signal", "noise", "--width", "64", "--height", "48", "--no-progress"]
NEEDLE = "scene proc_002: no start pose in 200 tries"


def files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and p.name != ".simkit-write.lock"}


def labelled_videos(out: Path) -> list[str]:
    with open(out / "labels.csv") as f:
        return sorted({row["video"] for row in csv.DictReader(f)})


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One uninterrupted run through the console script (the reference bytes)."""
    out = tmp_path_factory.mktemp("ego") / "clean"
    r = subprocess.run([SIMKIT, *CLI, "--out", str(out)], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ))
    return out, r


def test_failed_video_is_named_and_the_others_labelled(clean: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, r = clean
    assert r.returncode == 2, r.stderr  # as `simkit render` with a failed scene
    one_error_line(r, "1 of 3 videos failed (first: ego_0001)", "the others are complete and in labels.csv")
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("failed:")] == [
        next(ln for ln in r.stderr.splitlines() if ln.startswith("failed: video ego_0001: " + NEEDLE))]
    assert labelled_videos(out) == ["ego_0000.mp4", "ego_0002.mp4"]
    meta = json.loads((out / "egovideo.json").read_text())
    assert meta["labelled"] == ["ego_0000", "ego_0002"] and not meta["complete"]
    assert list(meta["failed"]) == ["ego_0001"] and meta["failed"]["ego_0001"].startswith(NEEDLE)
    assert not list(out.rglob("ego_0001*"))  # nothing of the failed video stays


def test_stopped_run_keeps_labels_and_resumes_byte_identical(clean: tuple[Path, subprocess.CompletedProcess],
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run 1 makes video 0, fails on video 1 and is stopped by a full disk at video 2; run 2 makes only video 2
    (video 1 fails again, seeded) and leaves the bytes of the uninterrupted run."""
    out, made = tmp_path / "e", []
    real = ego.generate_video

    def full_disk(cfg, index, *rest):
        if index == 2:
            raise OutputError("disk full (injected)")
        made.append(index)
        return real(cfg, index, *rest)

    monkeypatch.setattr(ego, "generate_video", full_disk)
    with pytest.raises(OutputError):
        generate_egovideos(EgoVideoConfig(**ARGS), out, progress=False)
    assert made == [0, 1]
    # the finished video is labelled although the run never ended; the failed one is named
    assert labelled_videos(out) == ["ego_0000.mp4"]
    meta = json.loads((out / "egovideo.json").read_text())
    assert meta["labelled"] == ["ego_0000"] and list(meta["failed"]) == ["ego_0001"]
    first = (out / "videos" / "ego_0000.mp4").stat().st_mtime_ns

    def counted(cfg, index, *rest):
        made.append(index)
        return real(cfg, index, *rest)

    made.clear()
    monkeypatch.setattr(ego, "generate_video", counted)
    result = generate_egovideos(EgoVideoConfig(**ARGS), out, progress=False)
    assert made == [1, 2]  # video 0 is not made again; the failed one is retried
    assert (out / "videos" / "ego_0000.mp4").stat().st_mtime_ns == first
    assert result.done == ["ego_0002"] and list(result.failed) == ["ego_0001"]
    assert result.videos == [out / "videos" / "ego_0000.mp4", out / "videos" / "ego_0002.mp4"]
    ref, got = files(clean[0]), files(out)
    assert got.keys() == ref.keys()
    assert [k for k in ref if got[k] != ref[k]] == []


def test_last_random_segment_is_cut_not_compressed(tmp_path: Path) -> None:
    """3 s of 2 s pans: the second pan keeps its 2 s (the video ends half-way through it), so its yaw follows
    the same smoothstep-in-2-s as the first (it was squeezed into the remaining 1 s before issue 22)."""
    cfg = EgoVideoConfig(seconds=3.0, fps=10, segment_seconds=2.0, hold_prob=0.0, signal="noise",
                         camera=CameraConfig(width=16, height=16, pitch_deg=0.0))
    generate_egovideos(cfg, tmp_path, progress=False)
    keys = np.array(json.loads((tmp_path / "truth" / "ego_0000.json").read_text())["keyframes"])
    assert keys[:, 0].tolist() == [0.0, 2.0, 4.0]  # the planned motion goes on past the end of the video
    times, _, yaws, _ = read_truth(tmp_path, "ego_0000")
    turned = yaws - yaws[0]
    assert times[-1] == pytest.approx(2.9)

    def phase(k: int, t: np.ndarray) -> np.ndarray:
        """Share of segment k's pan turned at ``t``: the same function of (t - start) / 2 s in every segment."""
        sel = (times >= 2 * k) & (times < 2 * k + 2) & np.isin(np.round(times - 2 * k, 4), np.round(t, 4))
        return (turned[sel] - keys[k, 1]) / (keys[k + 1, 1] - keys[k, 1])

    t = np.arange(10) / 10  # the first second of either segment
    assert np.all(np.abs(keys[1:, 1] - keys[:-1, 1]) >= cfg.pan_min_deg)
    assert np.allclose(phase(0, t), phase(1, t), atol=2e-3)  # truth is rounded to 1e-4 deg
    # so the last segment's yaw rate is a full segment's: 0.9 s into it, smoothstep(0.45) = 0.425 of its pan
    # is turned (a pan squeezed into 1 s would have turned smoothstep(0.9) = 0.972)
    assert phase(1, np.array([0.9]))[0] == pytest.approx(0.45**2 * (3 - 2 * 0.45), abs=2e-3)
