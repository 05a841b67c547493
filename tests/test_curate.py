"""simkit egovideo + simkit curate on generated videos with known motion (seed 000, A.1.1, A.1.2, A.2.1)."""

from __future__ import annotations

import csv
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from simkit.curate.iid import iid, iid_change, iid_score, iid_track
from simkit.curate.pipeline import CurateConfig, CurateResult, agrees, curate
from simkit.errors import SimkitError
from simkit.render.egovideo import EgoVideoConfig, generate_egovideos, read_truth
from simkit.video.egomotion import EgomotionConfig, MotionTrack, estimate_track
from simkit.video.io import probe, read_audio, read_frames, write_video

# One 11 s video at 320x240: hold, a 20 deg pan to the left, hold, a 90 deg pan to the right. A noise
# source starts at +20 deg (front left), so every turn moves it the opposite way in front of the camera.
KEYFRAMES = "0:0,0.5:0,4.5:20,6:20,10.5:-70,11:-70"
# Every tolerance below is a measured spread with margin, so no test depends on one encoding or one lucky
# estimate (docs/curation.md, "What the tests allow"). The tests' own videos (seed 0) were encoded 42 (pans)
# and 88 (walk) more ways (x264 cpu-independent at crf 15-25, and the run-to-run variants of the encoder
# before issue 16), seeds 0-7 (pans) / 0-29 (walk) 5 / 3 ways each (cpu-independent, mbtree=0, old):
# `benchmarks/bench_curate.py --test-spread`.
# Yaw error of a 5 s clip, its first-to-last view and a 20 deg pan: max 2.9 deg in 82 pan encodings (2.1 for
# seed 0); the tests allow 4.5.
YAW_TOLERANCE = 4.5
# A pure rotation misread as translating for one 3-frame step (of ~8 per clip) in 20 of 82 encodings: the
# clip's accumulated translation then has length ~1 step (max 1.000 measured); never 2 steps.
ROTATION_TRANSLATION_STEPS = 2.0


@pytest.fixture(scope="module")
def ego(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ego")
    cfg = EgoVideoConfig(seconds=11, fps=5, keyframes=KEYFRAMES, source_azimuths=(20.0,), signal="noise")
    generate_egovideos(cfg, out, progress=False)
    return out


def _variant(src: Path, dst: Path, *, swap: bool = False, portrait: bool = False, mono: bool = False) -> Path:
    """Re-mux a video with its channels swapped, turned to portrait or with one audio channel."""
    info = probe(src)
    n = int(round(info.duration_s * info.fps))
    frames = read_frames(src, np.arange(n) / info.fps)
    audio = read_audio(src, 16000)
    if swap:
        audio = audio[::-1].copy()
    if portrait:
        frames = np.ascontiguousarray(np.transpose(frames, (0, 2, 1, 3)))
    if mono:
        audio = audio.mean(axis=0, keepdims=True)
    return write_video(dst, frames, int(round(info.fps)), audio, 16000)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "curation.csv") as f:
        return list(csv.DictReader(f))


def test_generator_truth_and_determinism(ego: Path, tmp_path: Path) -> None:
    times, pos, yaws, az = read_truth(ego, "ego_0000")
    assert len(times) == 55 and np.allclose(pos, pos[0])  # 11 s at 5 fps, rotation only
    assert yaws[-1] - yaws[0] == pytest.approx(-70.0, abs=1e-3)
    # a static source: azimuth = start azimuth - camera turn (simkit.conventions)
    assert np.allclose(az[:, 0], 20.0 - (yaws - yaws[0]), atol=1e-3)
    info = probe(ego / "videos" / "ego_0000.mp4")
    assert (info.width, info.height, info.audio_channels) == (320, 240, 2)
    labels = list(csv.DictReader((ego / "labels.csv").read_text().splitlines()))
    assert [r["start_s"] for r in labels] == ["0.0000", "3.0000", "6.0000"]
    # the source starts front left, ends front right after the net 70 deg right turn
    assert float(labels[0]["azimuth"]) == pytest.approx(az[12, 0], abs=1e-3)
    # same command -> same bytes (a short video)
    cfg = EgoVideoConfig(seconds=1, fps=5, keyframes="0:0,1:10", source_azimuths=(30.0,), signal="noise",
                         camera=EgoVideoConfig().camera.__class__(width=64, height=48, pitch_deg=0.0))
    a, b = tmp_path / "a", tmp_path / "b"
    generate_egovideos(cfg, a, progress=False)
    generate_egovideos(cfg, b, progress=False)
    for rel in ("videos/ego_0000.mp4", "truth/ego_0000.poses.csv", "labels.csv"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_egomotion_recovers_pans(ego: Path) -> None:
    mcfg = EgomotionConfig()
    times, _, yaws, _ = read_truth(ego, "ego_0000")
    t = np.arange(55) / mcfg.fps
    track = estimate_track(read_frames(ego / "videos" / "ego_0000.mp4", t, width=320, gray=True), mcfg)
    errors = []
    for start in (0.0, 3.0, 6.0):
        est, trans = track.between(start, min(start + 5, t[-1]))
        true = np.interp(min(start + 5, t[-1]), times, yaws) - np.interp(start, times, yaws)
        errors.append(abs(est - true))
        # pure rotation: at most a step of translation is invented (measured, see ROTATION_TRANSLATION_STEPS)
        assert np.linalg.norm(trans) < ROTATION_TRANSLATION_STEPS, trans
    assert max(errors) < YAW_TOLERANCE, errors
    # time order reverses the sign
    assert track.between(5.0, 0.0)[0] == pytest.approx(-track.between(0.0, 5.0)[0])


def test_accumulation_is_proportional_over_partial_steps() -> None:
    n = 12
    yaw = {1: np.full(n, 1.0), 3: np.full(n, 3.0), 6: np.full(n, 6.0)}
    yaw[3][3] = np.nan  # a failed 3-frame pair falls back to 6-frame minus the next 3-frame pair
    trans = {k: np.zeros((n, 3)) for k in yaw}
    tr = MotionTrack(5.0, n, yaw, trans)
    assert tr.between(0.0, 1.0)[0] == pytest.approx(5.0)  # 5 frames = one 3-step + 2/3 of the next
    assert tr.between(0.2, 1.0)[0] == pytest.approx(4.0)
    yaw[1][:] = np.nan
    yaw[6][:] = np.nan
    assert np.isnan(tr.between(0.0, 2.0)[0])  # no estimate for frames 3..6 at all


def test_iid_score_and_agreement() -> None:
    sr = 1000
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5 * sr)
    gain = np.linspace(2.0, 0.5, 5 * sr)  # the left ear gets quieter: the sound moves right
    audio = np.stack([x * gain, x])
    tr = iid_track(audio, sr)
    assert len(tr) == 4 and np.all(np.diff(tr) < 0)
    assert iid_change(tr) < 0 and iid_score(tr) == pytest.approx(abs(np.prod(np.diff(tr))))
    assert iid(audio[::-1]) == pytest.approx(-iid(audio))
    assert agrees(yaw=30.0, change=-0.2) and not agrees(yaw=30.0, change=0.2) and not agrees(-30.0, -0.2)


def _files(out: Path) -> dict[str, bytes]:
    """Every file of a curate output but the lock: curation.csv, the analysis cache, manifest, shards, splits."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".simkit-write.lock"}


@pytest.fixture(scope="module")
def variants(ego: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agreeing video and its swapped, portrait and mono variants."""
    videos = tmp_path_factory.mktemp("variants")
    src = ego / "videos" / "ego_0000.mp4"
    (videos / "agree.mp4").write_bytes(src.read_bytes())
    _variant(src, videos / "swapped.mp4", swap=True)
    _variant(src, videos / "portrait.mp4", portrait=True)
    _variant(src, videos / "mono.mp4", mono=True)
    return videos


TRAIN_ONLY = CurateConfig(split_fractions=(1.0, 0.0, 0.0))


@pytest.fixture(scope="module")
def curated(variants: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CurateResult]:
    """The variants curated serially, every video in train; and the result."""
    out = tmp_path_factory.mktemp("curated") / "cur"
    return out, curate(variants, out, TRAIN_ONLY, progress=False)


def test_curate_keeps_agreeing_clip_and_drops_swapped(ego: Path, variants: Path, curated: tuple[Path, CurateResult],
                                                       tmp_path: Path) -> None:
    videos = variants
    out, res = curated
    cfg = TRAIN_ONLY
    rows = _rows(out)
    by = {(Path(r["video"]).name, r["start_s"]): r for r in rows}
    assert "portrait" in by[("portrait.mp4", "")]["reason"] and by[("portrait.mp4", "")]["kept"] == "0"
    assert "mono audio" in by[("mono.mp4", "")]["reason"]
    assert set(res.refused) == {str(videos / "portrait.mp4"), str(videos / "mono.mp4")}
    times, _, yaws, _ = read_truth(ego, "ego_0000")
    for start in ("0", "3", "6"):
        a, s = by[("agree.mp4", start)], by[("swapped.mp4", start)]
        true = np.interp(min(float(start) + 5, 11), times, yaws) - np.interp(float(start), times, yaws)
        assert float(a["yaw_change_deg"]) == pytest.approx(true, abs=YAW_TOLERANCE)
        assert a["kept"] == "1", a
        assert s["kept"] == "0" and "disagrees" in s["reason"], s
        # AAC re-encoded: swapped / -original IID change measured 0.955-1.002 over 8 seeds and 82 encodings
        assert float(s["iid_change"]) == pytest.approx(-float(a["iid_change"]), rel=0.08)
    # the kept clips are a dataset the direction task can open: V time points, estimated motion, no labels
    from simkit.data.opener import open_dataset

    info = open_dataset(out, ("audio", "pairs"))
    assert info.splits["train"] == ["agree"] and info.n_views == cfg.views and info.shard_sets["agree"] == 3
    import h5py

    with h5py.File(info.shard("agree"), "r") as f:
        rel = f["pairs/rel_yaw_deg"][()]
        assert np.all(np.isnan(f["labels/azimuth_deg"][()]))
        assert f["frames/rgb"].shape[1:3] == (cfg.views, 1)
    vt = cfg.view_times()
    for n, start in enumerate((0.0, 3.0, 6.0)):  # first to last time point of each clip
        true = np.interp(start + vt[-1], times, yaws) - np.interp(start + vt[0], times, yaws)
        assert rel[n, 0, -1] == pytest.approx(true, abs=YAW_TOLERANCE)
        assert rel[n, -1, 0] == pytest.approx(-rel[n, 0, -1], abs=1e-4)
    # a rerun reuses the analysis and the shards and writes the same files
    before = {p.name: p.read_bytes() for p in [out / "curation.csv", info.shard("agree")]}
    curate(videos, out, cfg, progress=False)
    assert {p.name: p.read_bytes() for p in [out / "curation.csv", info.shard("agree")]} == before
    # thresholds are options: 25 deg drops the 20 deg pan only; a fresh directory gets the same bytes
    cfg25 = CurateConfig(split_fractions=(1.0, 0.0, 0.0), min_rotation_train=25)
    outs = [tmp_path / "cur25a", tmp_path / "cur25b"]
    for o in outs:
        curate([videos / "agree.mp4"], o, cfg25, progress=False)
    kept = {r["start_s"]: r["kept"] for r in _rows(outs[0])}
    assert kept == {"0": "0", "3": "1", "6": "1"}
    for rel in ("curation.csv", "manifest.json", "shards/agree.h5", "splits/train.txt"):
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_curate_in_worker_processes_writes_the_serial_bytes(variants: Path, curated: tuple[Path, CurateResult],
                                                            tmp_path: Path) -> None:
    serial = _files(curated[0])
    assert {"curation.csv", "work/agree.json", "work/mono.json", "shards/agree.h5"} <= set(serial)
    curate(variants, tmp_path / "process", TRAIN_ONLY, progress=False, workers=2, executor="process")
    assert _files(tmp_path / "process") == serial
    with pytest.raises(SimkitError, match="--ray-address needs --executor ray"):
        curate(variants, tmp_path / "r", TRAIN_ONLY, progress=False, workers=2, ray_address="127.0.0.1:9")
    assert not (tmp_path / "r").exists()


def test_curate_refuses_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(SimkitError, match="does not exist"):
        curate([tmp_path / "nope"], tmp_path / "o", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SimkitError, match="no videos"):
        curate([tmp_path / "empty"], tmp_path / "o", progress=False)
    with pytest.raises(SimkitError, match="--views"):
        curate([tmp_path / "empty"], tmp_path / "o", CurateConfig(views=1), progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.mp4").write_bytes(b"not a video at all")
    short = write_video(bad / "short.mp4", np.zeros((5, 32, 32, 3), np.uint8), 5,
                        np.zeros((2, 16000), np.float32) + np.array([[0.1], [0.2]], np.float32), 16000)
    assert short.is_file()
    out = tmp_path / "o2"
    curate([bad], out, progress=False)
    reasons = {Path(r["video"]).name: r["reason"] for r in _rows(out)}
    assert reasons["broken.mp4"].startswith("unreadable")
    assert reasons["short.mp4"].startswith("shorter than one clip")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "precious.txt").write_text("keep")
    with pytest.raises(SimkitError, match="not empty"):
        curate([bad], tmp_path / "taken", progress=False)
    assert (tmp_path / "taken" / "precious.txt").read_text() == "keep"


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "simkit", "curate", str(tmp_path / "nope"), "--out",
                        str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0 and r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "simkit", "egovideo", "--out", str(tmp_path / "e"), "--keyframes",
                        "1:0,2:30"], capture_output=True, text=True)
    assert r.returncode != 0 and "keyframe times must start at 0" in r.stderr
    assert not (tmp_path / "e").exists()


def test_write_video_roundtrip(tmp_path: Path) -> None:
    frames = np.zeros((10, 48, 64, 3), np.uint8)
    frames[:, :, :32] = 200
    t = np.arange(16000) / 16000
    audio = np.stack([0.3 * np.sin(2 * np.pi * 300 * t), 0.1 * np.sin(2 * np.pi * 300 * t)]).astype(np.float32)
    p = write_video(tmp_path / "v.mkv", frames, 10, audio, 16000)
    got = read_audio(p, 16000)
    assert got.shape == (2, 16000) and np.allclose(got, audio, atol=1e-3)  # PCM in mkv is lossless
    assert read_frames(p, [0.0, 0.55]).shape == (2, 48, 64, 3)
    assert Fraction(probe(p).fps).limit_denominator(100) == 10
    with pytest.raises(SimkitError, match="even"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 5, 5, 3), np.uint8), 5)


# Seeded arrays that exercise x264's motion search and macroblock tree (a textured wall panning sideways
# under pixel noise) plus stereo noise for the AAC encoder; printed as the sha256 of the encoded file.
_ENCODE = """
import hashlib, sys
from pathlib import Path
import numpy as np
from simkit.video.io import write_video
rng = np.random.default_rng(0)
wall = np.repeat(np.repeat((rng.random((16, 60, 3)) * 255).astype(np.uint8), 8, axis=0), 8, axis=1)
frames = np.stack([wall[:, 4 * t: 4 * t + 160] for t in range(30)])
frames = np.clip(frames.astype(int) + rng.integers(-8, 9, frames.shape), 0, 255).astype(np.uint8)
audio = (0.1 * rng.standard_normal((2, 3 * 16000)) * np.array([[1.0], [0.5]])).astype(np.float32)
out = Path(sys.argv[1])
for i in range(int(sys.argv[2])):
    p = write_video(out / f"{i}.mp4", frames, 10, audio, 16000)
    print(hashlib.sha256(p.read_bytes()).hexdigest())
"""


def test_write_video_is_byte_identical_across_processes_and_encodings(tmp_path: Path) -> None:
    # x264's SIMD macroblock-tree propagation read uninitialised heap memory, so the same arrays gave other
    # bytes from run to run (issue 16: 8 outputs in 40 in-process encodings). glibc's MALLOC_PERTURB_ fills
    # freed heap with a chosen byte: with the old encoder settings every distinct value gave its own bytes,
    # so processes run under different values make the failure certain instead of occasional.
    import os

    digests = []
    for k, perturb in enumerate(["", "", "1", "85", "170", "255"]):
        env = {**os.environ, "MALLOC_PERTURB_": perturb}
        out = tmp_path / str(k)
        out.mkdir()
        r = subprocess.run([sys.executable, "-c", _ENCODE, str(out), "6" if k == 0 else "1"], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        digests.extend(r.stdout.split())
    assert len(digests) == 11 and len(set(digests)) == 1, digests


def _video_folder(ego: Path, root: Path) -> Path:
    """A video-folder source: the generated video, a portrait and a two-identical-channel one, labels, splits."""
    src = root / "src"
    (src / "videos").mkdir(parents=True)
    video = ego / "videos" / "ego_0000.mp4"
    (src / "videos" / "walk.mp4").write_bytes(video.read_bytes())
    _variant(video, src / "videos" / "tall.mp4", portrait=True)
    info = probe(video)
    frames = read_frames(video, np.arange(25) / 5)
    same = np.repeat(read_audio(video, 16000)[:1, : 5 * 16000], 2, axis=0)
    write_video(src / "videos" / "dual.mkv", frames, int(info.fps), same, 16000)
    (src / "labels.csv").write_text(
        "video,start_s,end_s,azimuth,clip,category,motion\n"
        "walk.mp4,0,8,class:2,pan,noise,camera rotation\n"
        "walk.mp4,6,11,-45,late,noise,\n"
        "walk.mp4,2,3,unknown,u1,,\n"
        "tall.mp4,0,5,left,tall1,,\n"
        "dual.mkv,0,5,90,dual1,,\n"
    )
    (src / "splits").mkdir()
    for split, names in {"train": "pan\ntall1\n", "val": "u1\ndual1\n", "test": "late"}.items():
        (src / "splits" / f"{split}.txt").write_text(names)  # the last list has no final newline
    (src / "LICENSE").write_text("CC BY 4.0 (test fixture)")
    return src


def test_video_folder_adapter_end_to_end(ego: Path, tmp_path: Path) -> None:
    import h5py

    from simkit.data.layout import read_manifest, read_splits
    from simkit.data.prepare import prepare

    src = _video_folder(ego, tmp_path)
    out = tmp_path / "vf"
    res = prepare("video-folder", src, out, {"frames_per_clip": "2", "frame_width": "160"}, progress=False)
    man = read_manifest(out)
    refused = man["origin"]["refused"]
    assert "portrait" in refused["tall.mp4"] and "identical channels" in refused["dual.mkv"]
    assert man["origin"]["source_licence"].startswith("CC BY 4.0")
    assert res.written == ["walk"]
    splits = read_splits(out)
    assert splits == {"train": [("walk", 0), ("walk", 1)], "val": [("walk", 3)], "test": [("walk", 2)]}
    with h5py.File(out / "shards" / "walk.h5", "r") as f:
        ids = [x.decode() for x in f["meta/set_id"][()]]
        assert ids == ["pan:0", "pan:1", "late", "u1"]
        assert list(f["meta/start_s"][()]) == [0.0, 3.0, 6.0, 0.0]  # u1's 1 s span -> the 5 s clip around it
        az = f["labels/azimuth_deg"][()].reshape(-1)
        assert az[:3].tolist() == [45.0, 45.0, -45.0] and np.isnan(az[3])  # class:2 = 45 deg (left)
        assert f["labels/side"][()].reshape(-1).tolist() == [1, 1, -1, 0]
        assert f["audio/binaural"].shape == (4, 1, 1, 2, 5 * 16000)
        assert f["frames/rgb"].shape == (4, 1, 2, 120, 160, 3)
    # bench a cheap model on it: the direction task reads the prepared set, the leaderboard gets rows
    r = subprocess.run([sys.executable, "-m", "simkit", "bench", "--model", "iid", "--data", str(out),
                        "--results", str(tmp_path / "res"), "--quick"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    board = list(csv.DictReader((tmp_path / "res" / "leaderboard.csv").read_text().splitlines()))
    assert any(row["split"] == "test" and row["model"] == "iid" for row in board)


@pytest.mark.parametrize("damage, message", [
    ("no_labels", "has no labels.csv"),
    ("absent_video", "labels.csv:2: video ghost.mp4 not found"),
    ("bad_azimuth", "labels.csv:2: azimuth 'north'"),
    ("split_gap", "in none of the split lists"),
])
def test_video_folder_bad_sources(ego: Path, tmp_path: Path, damage: str, message: str) -> None:
    from simkit.data.prepare import prepare

    src = _video_folder(ego, tmp_path)
    labels = src / "labels.csv"
    if damage == "no_labels":
        labels.unlink()
    elif damage == "absent_video":
        labels.write_text("video,start_s,end_s,azimuth\nghost.mp4,0,5,10\n")
    elif damage == "bad_azimuth":
        labels.write_text("video,start_s,end_s,azimuth\nwalk.mp4,0,5,north\n")
    else:
        (src / "splits" / "test.txt").write_text("")
    out = tmp_path / "out"
    with pytest.raises(SimkitError, match=message):
        prepare("video-folder", src, out, progress=False)
    assert not (out / "splits").exists()  # nothing complete-looking


def test_bench_trains_on_curated_and_scores_test_data(ego: Path, tmp_path: Path, one_torch_thread: None) -> None:
    from simkit.curate.pipeline import split_of_video
    from simkit.data.synthetic import write_synthetic_render

    shares = (0.5, 0.5, 0.0)
    names = [f"walk{i}" for i in range(40)]
    pick = [next(n for n in names if split_of_video(n, shares, 0) == s) for s in ("train", "val")]
    videos = tmp_path / "in"
    videos.mkdir()
    for n in pick:
        (videos / f"{n}.mp4").write_bytes((ego / "videos" / "ego_0000.mp4").read_bytes())
    curated = tmp_path / "curated"
    res = curate(videos, curated, CurateConfig(split_fractions=shares), progress=False)
    # the clips turn 20, -31 and -90 deg (>= 5 deg above the 15 deg filter, errors <= 2.9 measured) and their
    # IID change had the agreeing sign in all 82 measured encodings: every clip is kept
    assert res.kept["train"] == 3 and res.kept["val"] >= 1
    render = write_synthetic_render(tmp_path / "render", {"a": "train", "b": "val", "c": "test"}, clip_seconds=1.5)
    results = tmp_path / "res"
    r = subprocess.run([sys.executable, "-m", "simkit", "bench", "--model", "ours_full", "--data", str(curated),
                        "--test-data", str(render), "--results", str(results), "--quick", "--epochs", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # a curated set has no labels; ours_full is self-supervised and selects on its val loss anyway
    assert "checkpoint selection: val loss (label-free)" in r.stderr
    board = list(csv.DictReader((results / "leaderboard.csv").read_text().splitlines()))
    datasets = {row["dataset"] for row in board}
    assert datasets == {f"render@{row['data_manifest_hash'][:8]}" for row in board}  # only the labelled set
    assert {row["split"] for row in board} == {"test"}
    assert all(row["source"].startswith("simkit bench (trained on curated@") for row in board)
    lr = [float(row["value"]) for row in board if row["metric"] == "lr_accuracy"]
    assert len(lr) == 1 and 0.0 <= lr[0] <= 1.0


def test_generator_portrait_and_mono_variants(tmp_path: Path) -> None:
    cam = EgoVideoConfig().camera.__class__(width=64, height=48, pitch_deg=0.0)
    cfg = EgoVideoConfig(seconds=1, fps=5, keyframes="0:0,1:5", signal="noise", camera=cam, portrait=True,
                         mono=True, container=".mkv")
    generate_egovideos(cfg, tmp_path / "v", progress=False)
    info = probe(tmp_path / "v" / "videos" / "ego_0000.mkv")
    assert (info.width, info.height, info.audio_channels) == (48, 64, 1) and info.portrait


def test_a_learned_matcher_plugs_in_with_local_weights(ego: Path, tmp_path: Path) -> None:
    from simkit.video.egomotion import MATCHERS, OpenCVMatcher

    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\0" * 16)
    seen: list[str | None] = []

    def factory(path: str | None) -> OpenCVMatcher:
        if not path or not Path(path).is_file():
            raise SimkitError(f"matcher weights {path} not found")
        seen.append(path)
        return OpenCVMatcher("sift")  # stands in for a network loaded from ``path``

    MATCHERS.add("test-learned", factory)
    mcfg = EgomotionConfig(matcher="test-learned", matcher_weights=str(weights))
    t = np.arange(26) / 5
    frames = read_frames(ego / "videos" / "ego_0000.mp4", t, width=320, gray=True)
    track = estimate_track(frames, mcfg)
    assert seen == [str(weights)] and track.between(0, 5)[0] == pytest.approx(20.0, abs=YAW_TOLERANCE)
    with pytest.raises(SimkitError, match="unknown feature matcher"):
        EgomotionConfig(matcher="superglue").validate()


def test_walking_camera_gives_forward_translation(tmp_path: Path) -> None:
    cfg = EgoVideoConfig(seconds=5, fps=5, keyframes="0:0,0.5:0,4.5:30:1.2,5:30:1.2", source_azimuths=(10.0,),
                         signal="noise")
    generate_egovideos(cfg, tmp_path / "walk", progress=False)
    _, pos, yaws, _ = read_truth(tmp_path / "walk", "ego_0000")
    assert np.linalg.norm(pos[-1] - pos[0]) == pytest.approx(1.2, abs=1e-3)
    out = tmp_path / "cur"
    curate([tmp_path / "walk"], out, CurateConfig(split_fractions=(1.0, 0.0, 0.0)), progress=False)
    (row,) = _rows(out)
    t = np.array([float(row[f"translation_{a}"]) for a in "xyz"])
    # a turn while walking is the hardest case: this video's yaw error over 88 encodings was -5.2 to +1.4 deg
    # (sd 1.2; 17 of 88 beyond the old 2 deg, the issue saw 27.4); over seeds 0-29 sd 4.7, max 17 (docs/curation.md)
    assert float(row["yaw_change_deg"]) == pytest.approx(30.0, abs=8.0)
    # forward along the start heading = -z in the first frame (x right, y up, -z forward): t_z was < -4.8 steps
    # in all 178 measured encodings; |t_z| / max(|t_x|, |t_y|) >= 3.6 for this video (5th percentile 5.3)
    assert t[2] < 0 and abs(t[2]) > 2 * max(abs(t[0]), abs(t[1])), t


def test_discover_is_canonical_and_skips_hidden_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simkit.curate.pipeline import discover

    videos = tmp_path / "in" / "videos"
    (videos / ".cache").mkdir(parents=True)
    for name in ("a.mp4", "b.mkv", ".a.mp4.x1y2.tmp", ".ego_0001.mp4.k3j4.mp4", ".cache/c.mp4"):
        (videos / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    want = [videos / "a.mp4", videos / "b.mkv"]  # absolute, hidden files and folders skipped
    assert discover([Path("in")]) == want
    assert discover([tmp_path / "in"]) == want
    # one file named three ways counts once
    assert discover([Path("in/videos/a.mp4"), videos / "a.mp4", Path("in/videos/../videos/a.mp4")]) == want[:1]


def test_pair_motion_falls_back_to_the_homography_when_the_essential_solver_asserts(monkeypatch) -> None:
    """OpenCV 5.1's five-point solver asserts (cv2.error in solvePoly) on some pure-rotation pans: the pair's
    rotation then comes from the homography, as when no essential matrix is found, never an unexpected error."""
    import cv2

    from simkit.conventions import yaw_pitch_to_matrix
    from simkit.video.egomotion import pair_motion

    rng = np.random.default_rng(0)
    k = np.array([[280.0, 0, 160], [0, 280.0, 120], [0, 0, 1]])
    pts = np.c_[rng.uniform(-2, 2, (200, 2)), -rng.uniform(3, 8, 200)]  # simkit camera frame, looking at -z
    opencv = np.diag([1.0, -1.0, -1.0])  # simkit camera (x right, y up, -z forward) -> OpenCV (y down, z forward)

    def pixels(r: np.ndarray) -> np.ndarray:
        q = (pts @ r.T @ opencv.T) @ k.T
        return q[:, :2] / q[:, 2:]

    r1 = yaw_pitch_to_matrix(10.0, 0.0).T  # the camera turned 10 deg left: points rotate the other way
    p0, p1 = pixels(np.eye(3)), pixels(r1)
    cfg = EgomotionConfig()
    real = pair_motion(p0, p1, k, cfg)

    def asserting(*args, **kwargs):
        raise cv2.error("OpenCV(5.1.0) mathfuncs.cpp:1601: (-215:Assertion failed) in function 'solvePoly'")

    monkeypatch.setattr(cv2, "findEssentialMat", asserting)
    fallback = pair_motion(p0, p1, k, cfg)
    assert real.ok and fallback.ok
    assert abs(abs(fallback.yaw_deg) - 10.0) < 0.5 and abs(fallback.yaw_deg - real.yaw_deg) < 0.5
