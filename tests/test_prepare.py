"""``simkit prepare``: each adapter on a tiny copy of its published layout, end to end
(prepare -> inspect -> bench of a cheap model -> leaderboard rows), and its bad sources."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
from published_layouts import write_fair_play, write_hm3d_ss, write_rwavs, write_soundspaces1, write_stereocrw_wild

from simkit.bench.config import make_config
from simkit.bench.harness import run_bench
from simkit.bench.leaderboard import format_pivot, pivot, read_leaderboard
from simkit.conventions import wrap_deg
from simkit.data.inspect import format_report, inspect_dataset
from simkit.data.opener import open_dataset
from simkit.data.prepare import prepare
from simkit.errors import SimkitError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FP_OPTS = {"clip_seconds": "2.0", "frame_size": "24x32"}


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.h5"))}


def dataset_bytes(out: Path) -> dict[str, bytes]:
    """Every file of a dataset but the lock: shards, manifest, split files of every protocol, summary."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".simkit-write.lock"}


def bench(data: Path, results: Path, **kw) -> list:
    kw.setdefault("cpu_threads", 1)
    return run_bench(make_config(quick=True, data=str(data), results=str(results), device="cpu", **kw))


@pytest.fixture(scope="module")
def fair_play_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fair_play(tmp_path_factory.mktemp("fp") / "FAIR-Play")


@pytest.fixture(scope="module")
def fair_play(fair_play_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fpout") / "fair-play"
    prepare("fair-play", fair_play_src, out, FP_OPTS, progress=False)
    return out


# ---------------------------------------------------------------- fair-play


def test_fair_play_prepares_every_protocol_with_frames_and_16k_audio(fair_play: Path, fair_play_src: Path) -> None:
    rep = inspect_dataset(fair_play)
    assert rep.groups == ["audio", "frames", "meta"]
    # author paths matched by basename; the last line of a new-splits list has no newline
    assert rep.protocol_counts == {"default": {"train": 4, "val": 2, "test": 2},
                                   "new-split1": {"train": 4, "val": 2, "test": 2},
                                   "split1": {"train": 4, "val": 2, "test": 2},
                                   "split2": {"train": 4, "val": 2, "test": 2}}
    text = format_report(rep)
    assert "groups: audio, frames, meta" in text and "family fair-play" in text and "(= split1)" in text
    assert (fair_play_src / "new_splits/split1/test.txt").read_text() == "000003.mp3\n000004.mp3"
    info = open_dataset(fair_play, ("audio", "frames"), "split2")
    assert info.sample_rate == 16000 and info.clip_samples == 32000
    assert info.splits["test"] == ["000006", "000007"]  # split2 rolls the clip order by one
    with h5py.File(fair_play / "shards" / "000001.h5") as f:
        assert f["frames/rgb"].shape == (1, 1, 20, 24, 32, 3)
        np.testing.assert_allclose(f["frames/time_s"][0, 0, :3], [0.05, 0.15, 0.25], atol=1e-6)
        clip = f["audio/binaural"][0, 0, 0]
        # clip 1 is louder on the left in the source: the 48 -> 16 kHz resampling keeps the channel order
        assert np.mean(clip[0] ** 2) > 2 * np.mean(clip[1] ** 2)
        src, _ = sf.read(fair_play_src / "binaural_audios" / "000001.wav")
        from scipy.signal import resample_poly

        ref = resample_poly(src[:, 0], 1, 3)  # an independent 48 -> 16 kHz resampler
        assert np.corrcoef(ref[100:-100], clip[0, 100:-100])[0, 1] > 0.97  # filters differ near Nyquist
        frames = f["frames/rgb"][0, 0]
    # video frame k shows 10 * k in its top-left corner: stored frames step through the video in order
    corner = frames[:, 0, 0].astype(float).mean(axis=-1)
    assert np.corrcoef(corner, np.arange(20))[0, 1] > 0.95


def test_fair_play_is_deterministic_idempotent_and_resumable(fair_play: Path, fair_play_src: Path,
                                                             tmp_path: Path) -> None:
    before = shard_bytes(fair_play)
    again = prepare("fair-play", fair_play_src, fair_play, FP_OPTS, progress=False)
    assert again.written == [] and len(again.skipped) == 8
    assert shard_bytes(fair_play) == before
    out = tmp_path / "other"
    stopped: list[str] = []

    def stop(unit: str) -> None:
        stopped.append(unit)
        if len(stopped) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare("fair-play", fair_play_src, out, FP_OPTS, progress=False, on_unit=stop)
    assert not (out / "splits").exists(), "an interrupted prepare must not look complete"
    with pytest.raises(SimkitError, match="not a complete simkit dataset"):
        open_dataset(out)
    res = prepare("fair-play", fair_play_src, out, FP_OPTS, progress=False)
    assert len(res.written) == 6 and len(res.skipped) == 2
    assert shard_bytes(out) == before
    with pytest.raises(SimkitError, match="another config"):
        prepare("fair-play", fair_play_src, out, {**FP_OPTS, "fps": "5"}, progress=False)


def test_fair_play_process_workers_write_the_serial_bytes(fair_play: Path, fair_play_src: Path,
                                                          tmp_path: Path) -> None:
    serial = dataset_bytes(fair_play)
    assert len([k for k in serial if k.startswith("shards/")]) == 8 and "splits/split2/test.txt" in serial
    res = prepare("fair-play", fair_play_src, tmp_path / "p", FP_OPTS, progress=False, workers=2,
                  executor="process")
    assert res.written == [u.shard_id for u in res.plan.units]  # plan order, whatever order workers finish in
    assert dataset_bytes(tmp_path / "p") == serial
    with pytest.raises(SimkitError, match="--ray-address needs --executor ray"):
        prepare("fair-play", fair_play_src, tmp_path / "r", FP_OPTS, progress=False, ray_address="127.0.0.1:9")
    with pytest.raises(SimkitError, match="unknown executor 'cluster'"):
        prepare("fair-play", fair_play_src, tmp_path / "r", FP_OPTS, progress=False, executor="cluster")
    assert not (tmp_path / "r").exists()


def test_fair_play_reads_one_based_2_5d_frames(tmp_path: Path) -> None:
    src = write_fair_play(tmp_path / "fp", n_clips=3, seconds=1.0, n_splits=1, frames_25d=True, videos=False)
    shutil.rmtree(src / "new_splits")
    out = tmp_path / "out"
    prepare("fair-play", src, out, {"clip_seconds": "1.0", "frame_size": "24x32", "frames": str(src / "frames")},
            progress=False)
    with h5py.File(out / "shards" / "000002.h5") as f:
        # stored frame k (time (k + 0.5) / 10 s) is the file 00000{k+1}.png, filled with k + 1
        assert f["frames/rgb"][0, 0, :, 0, 0, 0].tolist() == list(range(1, 11))
        assert f.attrs["groups"] == "audio,frames,meta"
    assert inspect_dataset(out).origin["frames_from"] == "frames-2.5d"


def test_fair_play_bench_per_protocol_and_family(fair_play: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    runs = bench(fair_play, results, model="mono_copy", task="binauralize", protocol="split1")
    assert len(runs) == 1 and runs[0].metrics["test"]["stft_distance"].n == 2
    runs = bench(fair_play, results, model="mono_copy", task="binauralize", protocol="all")
    assert [r.model for r in runs] == ["mono_copy", "mono_copy"]
    rows = read_leaderboard(results / "leaderboard.csv")
    assert {r["protocol"] for r in rows} == {"fair-play/split1", "fair-play/split2"}
    assert {r["dataset"] for r in rows} == {open_dataset(fair_play, ("audio",)).name}
    p = pivot(rows, task="binauralize", metrics=["stft_distance"])
    (row,) = p.rows
    assert row.protocol == "fair-play" and row.n_protocols == 2
    # split1 ran twice (best run kept per protocol: the same deterministic value), then the mean over protocols
    per_proto = {r["protocol"]: r["value"] for r in rows if r["metric"] == "stft_distance" and r["split"] == "test"}
    assert row.cells["stft_distance"].value == pytest.approx(np.mean(list(per_proto.values())), rel=1e-9)
    assert "fair-play (mean of 2)" in format_pivot(p, "table") and " ± " in format_pivot(p, "table")


def test_fair_play_bad_sources_name_the_first_bad_file(fair_play_src: Path, tmp_path: Path) -> None:
    def broken(name: str) -> Path:
        return Path(shutil.copytree(fair_play_src, tmp_path / name))

    cases = []
    src = broken("noaudio")
    shutil.rmtree(src / "binaural_audios")
    cases.append((src, r"missing folder .*binaural_audios"))
    src = broken("rate")
    sf.write(src / "binaural_audios" / "000003.wav", np.zeros((4410, 2)), 44100, subtype="PCM_16")
    cases.append((src, r"000003\.wav is at 44100 Hz; the published layout has 48000 Hz"))
    src = broken("absent")
    (src / "binaural_audios" / "000004.wav").unlink()
    cases.append((src, r"clip 000004 listed in split1/\w+ is absent"))
    src = broken("corruptwav")
    (src / "binaural_audios" / "000002.wav").write_bytes(b"RIFF\x00\x00garbage")
    cases.append((src, r"corrupt audio file .*000002\.wav"))
    src = broken("corruptmp4")
    (src / "videos" / "000005.mp4").write_bytes(b"\x00\x00\x00\x18ftypisomgarbage")
    cases.append((src, r"corrupt video file .*000005\.mp4"))
    for src, pattern in cases:
        out = tmp_path / f"out-{src.name}"
        with pytest.raises(SimkitError, match=pattern):
            prepare("fair-play", src, out, FP_OPTS, progress=False)
        assert not out.exists() or not (out / "splits").exists()
    with pytest.raises(SimkitError, match="source .* does not exist"):
        prepare("fair-play", tmp_path / "nowhere", tmp_path / "o", FP_OPTS, progress=False)
    with pytest.raises(SimkitError, match="has no option.* colour"):
        prepare("fair-play", fair_play_src, tmp_path / "o", {"colour": "red"}, progress=False)


def test_prepare_cli_is_one_error_line(fair_play_src: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "simkit", "prepare", "fair-play", str(tmp_path / "missing"), "--out",
           str(tmp_path / "o"), "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [f"error: fair-play source {tmp_path / 'missing'} does not exist"]
    res = subprocess.run([sys.executable, "-m", "simkit", "prepare", "nosuch", str(fair_play_src), "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "unknown adapter 'nosuch' (known: " in res.stderr


# ---------------------------------------------------------------- hm3d-ss


def _pair(angles: list[float], rel: list[list[float]], **kw) -> dict:
    return {"angles": angles, "rel": rel, **kw}


@pytest.fixture(scope="module")
def hm3d_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rel_a = [[60.0, 100.0, 20.0, -30.0], [-120.0, -80.0, -160.0, 150.0]]
    scenes = {
        "00009-vLpv2VX547B": [_pair([10.0, 330.0, 50.0, 100.0], rel_a) for _ in range(3)],
        "00025-ixTj1aTMup2": [_pair([0.0, 90.0, 180.0, 270.0], [[45.0, -45.0, -135.0, 135.0]] * 2)
                              for _ in range(2)],
    }
    splits = {"train": [("00009-vLpv2VX547B", 0), ("00025-ixTj1aTMup2", 1), ("00009-vLpv2VX547B", 2)],
              "val": [("00025-ixTj1aTMup2", 0)], "test": [("00009-vLpv2VX547B", 1)]}
    return write_hm3d_ss(tmp_path_factory.mktemp("hm3d") / "AI-Habitat", scenes, splits=splits)


@pytest.fixture(scope="module")
def hm3d(hm3d_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hm3dout") / "hm3d-ss"
    prepare("hm3d-ss", hm3d_src, out, {"clip_seconds": "0.5"}, progress=False)
    return out


def test_hm3d_ss_pairs_become_sets_of_scene_shards(hm3d: Path) -> None:
    rep = inspect_dataset(hm3d)
    assert rep.groups == ["audio", "rir", "poses", "labels", "pairs", "views", "meta"]
    assert rep.protocol_counts == {"default": {"train": 3, "val": 1, "test": 1}}
    want = "00009-vLpv2VX547B#0\n00025-ixTj1aTMup2#1\n00009-vLpv2VX547B#2\n"
    assert (hm3d / "splits" / "train.txt").read_text() == want
    info = open_dataset(hm3d, ("audio", "labels", "pairs"))
    assert info.selection["test"] == {"00009-vLpv2VX547B": [1]}
    with h5py.File(hm3d / "shards" / "00009-vLpv2VX547B.h5") as f:
        assert f["audio/binaural"].shape == (3, 4, 2, 2, 8000)
        # camera angle 330 (ccw) is yaw -30; the relative angle is stored as the azimuth (+ = left)
        np.testing.assert_allclose(f["poses/yaw_deg"][0], [10.0, -30.0, 50.0, 100.0])
        np.testing.assert_allclose(f["labels/azimuth_deg"][0, :, 0], [60.0, 100.0, 20.0, -30.0])
        np.testing.assert_allclose(f["pairs/rel_yaw_deg"][0, 0], [0.0, -40.0, 40.0, 90.0])
        b, az = f["audio/binaural"][0], f["labels/azimuth_deg"][0]
        # the RIRs put the near ear on the labelled side: the convolved speech is louder there
        e = (b ** 2).sum(-1)
        assert (np.sign(e[..., 0] - e[..., 1]) == np.sign(np.sin(np.deg2rad(az)))).all()
        assert [x.decode() for x in f["meta/set_id"][()]] == ["pair-0000", "pair-0001", "pair-0002"]


def test_hm3d_ss_bench_iid_and_stats(hm3d: Path, tmp_path: Path) -> None:
    (run,) = bench(hm3d, tmp_path / "r", model="iid", task="direction")
    assert run.metrics["test"]["lr_accuracy"].value == 1.0  # the IID rule reads the near ear right
    rows = read_leaderboard(tmp_path / "r" / "leaderboard.csv")
    assert {r["protocol"] for r in rows} == {None}  # the default split: an empty protocol cell
    from simkit.data.stats import dataset_stats

    st = dataset_stats(hm3d)
    assert st.clips == 5 * 4 * 2 and st.split_clips == {"train": 24, "val": 8, "test": 8}
    assert st.iid_accuracy == 1.0 and st.iid_scored == 40


def test_hm3d_ss_labels_match_a_simkit_render_of_the_same_geometry(tmp_path: Path) -> None:
    """Export one synthetic render set in the HM3D-SS layout, prepare it and compare the labels."""
    from simkit.data.synthetic import write_synthetic_render

    render = write_synthetic_render(tmp_path / "render", {"s": "test", "t": "train", "u": "val"}, sets_per_scene=1,
                                    views=4, sources=2)
    with h5py.File(render / "shards" / "s.h5") as f:
        yaw, pos = f["poses/yaw_deg"][0], f["poses/position"][0]
        src, az = f["sources/position"][0], f["labels/azimuth_deg"][0]
        rel_yaw, dist = f["pairs/rel_yaw_deg"][0], f["labels/distance_m"][0]
        el = f["labels/elevation_deg"][0]
    pair = {"angles": list(np.mod(yaw, 360.0)), "rel": az.T.tolist(), "position": pos[0].tolist(),
            "sources": src.tolist()}
    hm = write_hm3d_ss(tmp_path / "hm", {"scene": [pair, pair, pair]},
                       splits={"train": [("scene", 0)], "val": [("scene", 1)], "test": [("scene", 2)]})
    out = tmp_path / "out"
    prepare("hm3d-ss", hm, out, {"clip_seconds": "0.25"}, progress=False)
    with h5py.File(out / "shards" / "scene.h5") as f:
        from simkit.conventions import wrap_deg

        np.testing.assert_allclose(f["poses/yaw_deg"][0], wrap_deg(yaw), atol=1e-9)
        np.testing.assert_allclose(f["labels/azimuth_deg"][0], az, atol=1e-4)
        np.testing.assert_allclose(f["pairs/rel_yaw_deg"][0], rel_yaw, atol=1e-4)
        # the fixture puts every camera at view 0's position: distance/elevation follow from it
        from simkit.conventions import source_labels

        for c in range(4):
            a, e, d = source_labels(src, pos[0], yaw[c])
            np.testing.assert_allclose(f["labels/azimuth_deg"][0, c], a, atol=1e-4)
            np.testing.assert_allclose(f["labels/distance_m"][0, c], d, atol=1e-4)
            np.testing.assert_allclose(f["labels/elevation_deg"][0, c], e, atol=1e-4)
    assert np.isfinite(dist).all() and np.isfinite(el).all()


def test_hm3d_ss_bad_sources(hm3d_src: Path, tmp_path: Path) -> None:
    def broken(name: str) -> Path:
        return Path(shutil.copytree(hm3d_src, tmp_path / name))

    src = broken("nosplit")
    shutil.rmtree(src / "data-split")
    with pytest.raises(SimkitError, match=r"missing folder .*data-split/hm3d-4view-rotation"):
        prepare("hm3d-ss", src, tmp_path / "o1", progress=False)
    src = broken("absent")
    shutil.rmtree(src / "ProcessedData/hm3d-4view-rotation/00025-ixTj1aTMup2/pair-0001")
    with pytest.raises(SimkitError, match=r"pair 00025-ixTj1aTMup2/pair-0001 listed in the split files is absent"):
        prepare("hm3d-ss", src, tmp_path / "o2", progress=False)
    src = broken("rate")
    scene = src / "ProcessedData/hm3d-4view-rotation/00009-vLpv2VX547B"
    wav = scene / "pair-0000/binaural_rirs_direct/sound_1_camera_2_rir.wav"
    sf.write(wav, np.zeros((100, 2)), 22050, subtype="PCM_16")
    with pytest.raises(SimkitError, match=r"sound_1_camera_2_rir\.wav is at 22050 Hz"):
        prepare("hm3d-ss", src, tmp_path / "o3", progress=False)
    src = broken("corrupt")
    scene = src / "ProcessedData/hm3d-4view-rotation/00009-vLpv2VX547B"
    wav = scene / "pair-0002/binaural_rirs_indirect/sound_0_camera_0_rir.wav"
    wav.write_bytes(b"RIFFnope")
    with pytest.raises(SimkitError, match=r"corrupt audio file .*pair-0002/binaural_rirs_indirect"):
        prepare("hm3d-ss", src, tmp_path / "o4", {"clip_seconds": "0.25"}, progress=False)
    assert not (tmp_path / "o4" / "splits").exists()
    # the same in worker processes: the bad shard stops the prepare, no split files, no temporary file
    with pytest.raises(SimkitError, match=r"corrupt audio file .*pair-0002/binaural_rirs_indirect"):
        prepare("hm3d-ss", src, tmp_path / "o4p", {"clip_seconds": "0.25"}, progress=False, workers=2)
    assert not (tmp_path / "o4p" / "splits").exists()
    assert list((tmp_path / "o4p").rglob("*.tmp")) == []
    (src / "data-split/hm3d-4view-rotation/val.csv").write_text('"file"\n"x"\n')
    with pytest.raises(SimkitError, match=r"val\.csv: expected the header \"path\""):
        prepare("hm3d-ss", src, tmp_path / "o5", progress=False)


# ---------------------------------------------------------------- rwavs


@pytest.fixture(scope="module")
def rwavs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("rwavs")
    # the camera at (0, 0) turns 40 deg per second; the source sits at (-1, 1): front-left at yaw 0
    src = write_rwavs(base / "release", {"1": {"source": [-1.0, 1.0, 0.5], "camera": [0.0, 0.0, 0.5],
                                               "yaw": lambda t: 40.0 * t}})
    out = base / "out"
    prepare("rwavs", src, out, {"image_size": "24x32"}, progress=False)
    return src, out


def test_rwavs_derives_the_source_azimuth_from_each_camera(rwavs: tuple[Path, Path]) -> None:
    _src, out = rwavs
    rep = inspect_dataset(out)
    assert rep.origin["frames_without_pose"] == 1
    with h5py.File(out / "shards" / "1.h5") as f:
        t = np.array([int(x) for x in f["meta/set_id"][()].astype(str)])
        az = f["labels/azimuth_deg"][:, 0, 0]
        np.testing.assert_allclose(az, wrap_deg(45.0 - 40.0 * t), atol=1e-4)  # +90 = left
        np.testing.assert_allclose(f["labels/distance_m"][:, 0, 0], np.sqrt(2.0), atol=1e-6)
        assert f["audio/binaural"].shape[-1] == 16000  # 1 s around the frame, at 16 kHz
        np.testing.assert_allclose(f["meta/start_s"][:2], [0.0, 0.5], atol=1e-4)  # clamped at the start
    assert set(rep.protocol_counts) == {"default", "authors", "random-80-10-10"}
    assert rep.protocol_counts["authors"]["val"] == rep.protocol_counts["authors"]["test"] == 2
    assert rep.protocol_counts["default"] == {"train": 10, "val": 1, "test": 1}


def test_rwavs_bench_iid_is_right_away_from_the_median_plane(rwavs: tuple[Path, Path], tmp_path: Path) -> None:
    _src, out = rwavs
    (run,) = bench(out, tmp_path / "r", model="iid", task="direction", protocol="authors")
    assert run.metrics["test"]["lr_accuracy"].value == 1.0
    rows = read_leaderboard(tmp_path / "r" / "leaderboard.csv")
    assert {r["protocol"] for r in rows} == {"authors"}


def test_rwavs_bad_sources(rwavs: tuple[Path, Path], tmp_path: Path) -> None:
    src, _ = rwavs
    bad = Path(shutil.copytree(src, tmp_path / "rate"))
    sf.write(bad / "1" / "binaural_syn_re.wav", np.zeros((100, 2)), 16000)
    with pytest.raises(SimkitError, match=r"binaural_syn_re\.wav is at 16000 Hz; the published layout has 22050"):
        prepare("rwavs", bad, tmp_path / "o1", progress=False)
    bad = Path(shutil.copytree(src, tmp_path / "frame"))
    (bad / "1" / "frames" / "00003.png").unlink()
    with pytest.raises(SimkitError, match=r"missing frame .*00003\.png"):
        prepare("rwavs", bad, tmp_path / "o2", progress=False)
    bad = Path(shutil.copytree(src, tmp_path / "nopos"))
    (bad / "position.json").unlink()
    with pytest.raises(SimkitError, match=r"missing .*position\.json"):
        prepare("rwavs", bad, tmp_path / "o3", progress=False)


# ---------------------------------------------------------------- stereocrw-wild


def test_stereocrw_wild_flips_and_scores_left_right(tmp_path: Path) -> None:
    clips = {"I2dP8FmisJQ_1150_1160": [(5, 0, 0), (5, 3, 1)], "lbTNvwGMyFQ_0070_0080": [(10, 3, 0)],
             "77_BAGxmdSc_0110_0120": [(0, 1, 0), (15, 2, 1)]}
    src = write_stereocrw_wild(tmp_path / "Youtube-Binaural", clips)
    out = tmp_path / "out"
    prepare("stereocrw-wild", src, out, {"image_size": "24x32"}, progress=False)
    rep = inspect_dataset(out)
    assert rep.protocol_counts == {"default": {"train": 0, "val": 0, "test": 5}}
    assert "side labels (no azimuth): left 2, right 3" in format_report(rep)
    with h5py.File(out / "shards" / "I2dP8FmisJQ__I2dP8FmisJQ_1150_1160.h5") as f:
        b, side, img = f["audio/binaural"][:, 0, 0], f["labels/side"][:, 0, 0], f["views/rgb"][:, 0]
        assert side.tolist() == [1, -1]
        e = (b ** 2).sum(-1)
        assert e[0, 0] > e[0, 1] and e[1, 1] > e[1, 0]  # the flipped row swaps the channels...
        assert img[0, :, :4].mean() > 150 and img[1, :, -4:].mean() > 150  # ...and mirrors the image
        assert np.isnan(f["labels/azimuth_deg"][()]).all()
    (run,) = bench(out, tmp_path / "r", model="iid", task="direction")
    assert run.metrics["test"]["lr_accuracy"].value == 1.0 and run.metrics["test"]["lr_accuracy"].n == 5
    assert "val" not in run.metrics and "angle_error_mean" not in run.metrics["test"]
    bad = Path(shutil.copytree(src, tmp_path / "absent"))
    shutil.rmtree(bad / "ProcessedData/Youtube-IntheWild/lbTNvwGMyFQ")
    with pytest.raises(SimkitError, match=r"clip listed in test_with_label\.csv:4 is absent"):
        prepare("stereocrw-wild", bad, tmp_path / "o", progress=False)


# ---------------------------------------------------------------- soundspaces1


def test_soundspaces1_headings_are_clockwise_from_mesh_y(tmp_path: Path) -> None:
    src = write_soundspaces1(tmp_path / "ss")
    out = tmp_path / "out"
    prepare("soundspaces1", src, out, {"clip_seconds": "0.5"}, progress=False)
    with h5py.File(out / "shards" / "apartment_0.h5") as f:
        ids = [x.decode() for x in f["meta/set_id"][()]]
        assert "0_3" not in ids and "0_1" in ids  # point 3 is 7 m away: beyond max_distance
        k = ids.index("0_1")  # the source 1 m along mesh +X of the receiver
        np.testing.assert_allclose(f["poses/yaw_deg"][k], [0.0, -90.0, 180.0, 90.0])
        # heading 0 faces mesh +Y: +X is on the right; heading 90 faces +X: in front
        np.testing.assert_allclose(f["labels/azimuth_deg"][k, :, 0], [-90.0, 0.0, 90.0, 180.0], atol=1e-4)
        np.testing.assert_allclose(f["sources/position"][k, 0], [1.0, 1.5, 0.0])  # (x, z, -y)
        e = (f["audio/binaural"][k, :, 0] ** 2).sum(-1)
        assert e[0, 1] > e[0, 0] and e[2, 0] > e[2, 1]  # right ear at heading 0, left at 180
    (run,) = bench(out, tmp_path / "r", model="iid", task="direction")
    assert run.metrics["test"]["lr_accuracy"].n >= 1
    bad = write_soundspaces1(tmp_path / "bad", rate=16000)
    with pytest.raises(SimkitError, match=r"is 16000 Hz / 2 channel\(s\); SoundSpaces 1\.0 replica has 44100 Hz"):
        prepare("soundspaces1", bad, tmp_path / "o", progress=False)
    import pickle

    import networkx as nx

    g = nx.Graph()
    g.add_node(0, point=[0.0, 0.0, 1.5])  # z-up coordinates where habitat's y-up belong
    with open(bad / "metadata/replica/apartment_0/graph.pkl", "wb") as fh:
        pickle.dump(g, fh)
    with pytest.raises(SimkitError, match=r"graph\.pkl: node 0 .* is not points\.txt's"):
        prepare("soundspaces1", bad, tmp_path / "o", progress=False)


def test_inspect_and_data_stats_cli_on_a_prepared_set(fair_play: Path, tmp_path: Path) -> None:
    run = [sys.executable, "-m", "simkit"]
    res = subprocess.run([*run, "inspect", str(fair_play)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "adapter fair-play 1" in res.stdout and "new-split1" in res.stdout
    res = subprocess.run([*run, "inspect", str(fair_play), "--preview", str(tmp_path / "p.png")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and res.stderr.strip().endswith("lacks poses/position (see docs/dataset-format.md)")
    res = subprocess.run([*run, "data", "stats", str(fair_play), "--protocol", "split2"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "clips 8  duration 0.00 h  splits: train 4, val 2, test 2" in res.stdout
    assert "IID binaural acc: -" in res.stdout  # FAIR-Play has no direction labels


def test_fair_play_sep_stereo_frames_and_a_trial_subset(tmp_path: Path) -> None:
    from PIL import Image

    from simkit.data.adapters import CommonOptions

    src = write_fair_play(tmp_path / "fp", n_clips=4, seconds=1.0, n_splits=1, videos=False)
    for wav in (src / "binaural_audios").glob("*.wav"):
        d = src / "sep-frames" / wav.stem
        d.mkdir(parents=True)
        for i in range(1, 9):  # a clip with fewer frames than its audio repeats the last one
            Image.fromarray(np.full((24, 32, 3), 20 * i, np.uint8)).save(d / f"{i}.jpg", quality=95)
    out = tmp_path / "out"
    res = prepare("fair-play", src, out, {"clip_seconds": "1.0", "frame_size": "24x32",
                                          "frames": str(src / "sep-frames")},
                  common=CommonOptions(max_units=2), progress=False)
    assert res.written == ["000001", "000002"]
    rep = inspect_dataset(out)
    assert rep.origin["frames_from"] == "frames-sep-stereo"
    assert sum(rep.protocol_counts["split1"].values()) == 2  # entries of clips left out are dropped
    with h5py.File(out / "shards" / "000001.h5") as f:
        levels = f["frames/rgb"][0, 0, :, 5, 5, 0].astype(int)
    assert np.abs(levels - [20, 40, 60, 80, 100, 120, 140, 160, 160, 160]).max() <= 3  # jpeg


def test_hm3d_ss_filterangle_lists_are_a_second_protocol(hm3d_src: Path, tmp_path: Path) -> None:
    src = Path(shutil.copytree(hm3d_src, tmp_path / "src"))
    d = src / "data-split" / "hm3d-4view-rotation-filterangle"
    d.mkdir()
    base = "./data/AI-Habitat/ProcessedData/hm3d-4view-rotation"
    for split, pairs in {"train": ["00009-vLpv2VX547B/pair-0000"], "val": ["00025-ixTj1aTMup2/pair-0000"],
                         "test": ["00009-vLpv2VX547B/pair-0001"]}.items():
        (d / f"{split}.csv").write_text('"path"\n' + "".join(f'"{base}/{p}"\n' for p in pairs))
    out = tmp_path / "out"
    prepare("hm3d-ss", src, out, {"clip_seconds": "0.25"}, progress=False)
    info = open_dataset(out, ("audio", "labels", "pairs"), "filterangle")
    assert info.selection == {"train": {"00009-vLpv2VX547B": [0]}, "val": {"00025-ixTj1aTMup2": [0]},
                              "test": {"00009-vLpv2VX547B": [1]}}
