"""Faults of ``simkit egovideo`` and ``simkit curate`` through the console script (issue 16 items 1, 6, 8):
byte-identical videos across processes, ranges refused before anything is written, the output lock, a kill
mid-encode and its re-run, curate's canonical paths and the split of a refused video."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from cli_support import SIMKIT, one_error_line

LOCK = ".simkit-write.lock"
# three 4 s videos at 160x120 (about 2 s each to make); shorter than a 5 s clip, so curate refuses them cheaply
EGO = ["egovideo", "--videos", "3", "--seconds", "4", "--fps", "10", "--width", "160", "--height", "120",
       "--signal", "noise", "--no-progress"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SIMKIT, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def files(d: Path) -> dict[str, bytes]:
    """Every file under ``d`` but the (empty) lock file, by relative path."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and p.name != LOCK}


def hidden(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob(".*") if p.name != LOCK)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted egovideo run (the reference bytes)."""
    out = tmp_path_factory.mktemp("ego") / "clean"
    r = run(*EGO, "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_egovideo_is_byte_identical_across_processes(clean: Path, tmp_path: Path) -> None:
    # glibc's MALLOC_PERTURB_ fills freed heap with a chosen byte; x264's SIMD macroblock tree read such
    # memory, so before cpu-independent=1 every value gave other video bytes (see tests/test_curate.py)
    ref = files(clean)
    assert {"videos/ego_0000.mp4", "videos/ego_0002.mp4", "truth/ego_0001.poses.csv", "labels.csv"} <= set(ref)
    for perturb in ("1", "170"):
        out = tmp_path / f"p{perturb}"
        r = run(*EGO, "--out", str(out), env={"MALLOC_PERTURB_": perturb})
        assert r.returncode == 0, r.stderr
        got = files(out)
        assert got.keys() == ref.keys()
        assert [k for k in ref if got[k] != ref[k]] == [], f"MALLOC_PERTURB_={perturb}"


@pytest.mark.parametrize(("args", "needle"), [
    (["--seconds", "100000"], "--seconds must be in (0, 3600]"),
    (["--seconds", "inf"], "--seconds must be in (0, 3600]"),
    (["--width", "100000", "--height", "100000"], "--width must be in [16, 3840]"),
    (["--height", "8"], "--height must be in [16, 3840]"),
    (["--fps", "100000"], "--fps must be in [1, 120]"),
    (["--seconds", "3600"], "GiB in memory (limit 4 GiB)"),  # 320x240 at 10 fps for an hour: ~32 GiB
])
def test_egovideo_out_of_range_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "out"
    r = run("egovideo", "--out", str(out), *args)
    assert r.returncode == 2, r.stderr
    one_error_line(r, needle)
    assert not out.exists()


def test_egovideo_refused_out_gets_no_lock(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    r = run(*EGO, "--out", str(out))
    assert r.returncode == 2, r.stderr
    one_error_line(r, "is not empty and holds no egovideo.json")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and (out / "notes.txt").read_text() == "keep"


def test_second_egovideo_into_the_same_dir_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = subprocess.Popen([SIMKIT, *EGO[:2], "40", *EGO[3:], "--out", str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "egovideo.json").is_file():  # written under the lock
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first egovideo never started writing"
            time.sleep(0.05)
        second = run(*EGO[:2], "40", *EGO[3:], "--out", str(out))
        assert first.poll() is None, "the first egovideo (40 videos) ended before the second was refused"
        assert second.returncode == 2, second.stderr
        one_error_line(second, "another simkit egovideo is writing into")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)


def _kill_mid_encode(out: Path) -> str:
    """Start egovideo into ``out`` and SIGKILL it while a video's temporary file exists; returns its name.
    An encode lasts tens of milliseconds: a missed one is retried by a new run (which resumes)."""
    for _ in range(10):
        proc = subprocess.Popen([SIMKIT, *EGO, "--out", str(out)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        videos = out / "videos"
        try:
            while proc.poll() is None:
                temps = list(videos.glob(".ego_*")) if videos.is_dir() else []
                if temps:
                    proc.kill()
                    break
                time.sleep(0.001)
        finally:
            proc.communicate(timeout=120)
        left = [p.name for p in videos.glob(".ego_*")] if videos.is_dir() else []
        if left and proc.returncode == -signal.SIGKILL:
            return left[0]
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
        if proc.returncode == 0:
            # finished before a kill landed mid-encode: start over in a fresh directory
            import shutil

            shutil.rmtree(out)
    pytest.fail("could not kill egovideo during an encode in 10 tries")


def test_egovideo_killed_mid_encode_reruns_clean_and_curate_skips_temporaries(clean: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    temp = _kill_mid_encode(out)
    assert temp.endswith(".tmp"), temp  # every simkit temporary ends in .tmp
    # the temporary an older writer left: .<video>.<random>.mp4 (0 bytes), looking like a video
    (out / "videos" / ".ego_0002.mp4.k3j4h5.mp4").write_bytes(b"")
    complete = sorted(p.name for p in (out / "videos").glob("ego_*.mp4"))
    if complete:  # curate lists the finished videos only (all shorter than a clip: refused as such)
        r = run("curate", str(out), "--out", str(tmp_path / "cur"), "--no-progress")
        assert r.returncode == 0, r.stderr
        with open(tmp_path / "cur" / "curation.csv") as f:
            rows = list(csv.DictReader(f))
        assert sorted(Path(row["video"]).name for row in rows) == complete
        assert all(row["reason"].startswith("shorter than one clip") for row in rows), rows
    again = run(*EGO, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert hidden(out) == []  # both temporaries removed
    assert files(out) == files(clean)  # and the same bytes as an uninterrupted run


def _videos(root: Path) -> Path:
    """Two 6 s stereo videos of a blocky wall panning sideways (160x120, 5 fps) and a mono one."""
    from simkit.video.io import write_video

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for name, mono in (("a", False), ("b", False), ("m", True)):
        wall = np.repeat(np.repeat((rng.random((15, 60, 3)) * 255).astype(np.uint8), 8, axis=0), 8, axis=1)
        frames = np.stack([wall[:, 4 * t: 4 * t + 160] for t in range(30)])
        audio = (0.1 * rng.standard_normal((2, 6 * 16000)) * np.array([[1.0], [0.5]])).astype(np.float32)
        write_video(root / f"{name}.mp4", frames, 5, audio[:1] if mono else audio, 16000)
    (root / ".a.mp4.x7y8z9.tmp").write_bytes(b"")  # a temporary of a killed writer: not a video
    return root


def test_curate_relative_and_absolute_paths_give_the_same_bytes_and_refused_videos_no_split(tmp_path: Path) -> None:
    _videos(tmp_path / "in")
    opts = ["--split", "0.5,0.5,0", "--no-progress"]
    rel = run("curate", "in", "--out", "rel", *opts, cwd=tmp_path)
    assert rel.returncode == 0, rel.stderr
    absolute = run("curate", str(tmp_path / "in"), "--out", str(tmp_path / "abs"), *opts, cwd=tmp_path / "in")
    assert absolute.returncode == 0, absolute.stderr
    assert "3 videos (1 refused)" in absolute.stdout
    assert files(tmp_path / "rel") == files(tmp_path / "abs")
    with open(tmp_path / "abs" / "curation.csv") as f:
        rows = list(csv.DictReader(f))
    assert {row["video"] for row in rows} == {str(tmp_path / "in" / f"{n}.mp4") for n in "abm"}
    (mono,) = [row for row in rows if row["video"].endswith("m.mp4")]
    assert mono["reason"].startswith("mono audio") and mono["split"] == "" and mono["clip"] == ""
    listed = [line for p in (tmp_path / "abs" / "splits").rglob("*.txt") for line in p.read_text().split()]
    assert listed and not any(line.split("#")[0] == "m" for line in listed), listed
