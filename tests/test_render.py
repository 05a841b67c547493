"""End-to-end render behaviour with the real engine: determinism, resume, schema, bad input, inspect."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from simkit.acoustics.config import AcousticsConfig
from simkit.audio.dsp import fft_convolve
from simkit.conventions import source_labels
from simkit.data.inspect import inspect_dataset
from simkit.data.storage import read_binaural, read_rir, read_source
from simkit.data.validate import validate_shard
from simkit.errors import SimkitError
from simkit.render.config import RenderConfig, SamplingConfig
from simkit.render.pipeline import render_dataset
from simkit.scenes.catalog import load_splits, resolve_scenes


def small_cfg(scenes: list[str], **kw) -> RenderConfig:
    return RenderConfig(
        scenes=scenes, sets_per_scene=kw.pop("sets", 1), seed=kw.pop("seed", 7),
        acoustics=AcousticsConfig(preset="fast", **kw.pop("acoustics", {})),
        sampling=SamplingConfig(views=2, sources=2),
        **kw,
    )


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.h5"))}


@pytest.fixture(scope="module")
def two_scenes() -> list[str]:
    splits = load_splits()
    return [splits["train"][0], splits["test"][0]]


@pytest.fixture(scope="module")
def reference_render(tmp_path_factory, two_scenes) -> Path:
    out = tmp_path_factory.mktemp("ref") / "render"
    render_dataset(small_cfg(two_scenes), out, workers=1, progress=False)
    return out


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(reference_render, two_scenes, tmp_path):
    out = tmp_path / "again"
    render_dataset(small_cfg(two_scenes), out, workers=2, progress=False)
    assert shard_bytes(out) == shard_bytes(reference_render)
    assert (out / "manifest.json").read_bytes() == (reference_render / "manifest.json").read_bytes()


def test_another_seed_gives_other_data(reference_render, two_scenes, tmp_path):
    out = tmp_path / "seed8"
    render_dataset(small_cfg(two_scenes, seed=8), out, workers=1, progress=False)
    a, b = shard_bytes(out), shard_bytes(reference_render)
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)


def test_resume_after_interrupted_render(reference_render, two_scenes, tmp_path):
    out = tmp_path / "crash"

    def crash(scene_id: str) -> None:
        raise KeyboardInterrupt(scene_id)

    with pytest.raises(KeyboardInterrupt):
        render_dataset(small_cfg(two_scenes), out, workers=1, progress=False, on_scene=crash)
    finished = list((out / "shards").glob("*.h5"))
    assert [p.stem for p in finished] == [two_scenes[0]]
    assert not list((out / "shards").glob(".*tmp")), "no temporary file may survive"
    result = render_dataset(small_cfg(two_scenes), out, workers=1, progress=False)
    assert result.skipped == [two_scenes[0]] and result.rendered == [two_scenes[1]]
    assert shard_bytes(out) == shard_bytes(reference_render)


def test_schema_round_trip_and_labels(reference_render, two_scenes):
    manifest = json.loads((reference_render / "manifest.json").read_text())
    splits = load_splits()
    for scene_id in two_scenes:
        info = validate_shard(reference_render / "shards" / f"{scene_id}.h5")
        assert info.scene_id == scene_id and scene_id in splits[info.split]
        assert manifest["scenes"][scene_id] == info.split
        with h5py.File(info.path) as f:
            pos, yaw = f["poses/position"][()], f["poses/yaw_deg"][()]
            src = f["sources/position"][()]
            for n in range(info.n_sets):
                for v in range(info.n_views):
                    az, el, dist = source_labels(src[n], pos[n, v], yaw[n, v])
                    np.testing.assert_allclose(f["labels/azimuth_deg"][n, v], az, atol=1e-3)
                    np.testing.assert_allclose(f["labels/distance_m"][n, v], dist, rtol=1e-5)
            # the default storage derives clips on read (tests/test_storage.py compares with float32 clips)
            assert "audio/binaural" not in f and f["rir/indirect"].dtype == np.int16
            gain = f.attrs["indirect_gain"]
            mixed = read_rir(f, "rir/direct", 0, 1, 0) + np.float32(gain) * read_rir(f, "rir/indirect", 0, 1, 0)
            clip = read_source(f, 0, 0)
            expect = fft_convolve(clip[None], mixed, clip.shape[-1])
            np.testing.assert_allclose(read_binaural(f, 0, [1], 0)[0], expect, atol=1e-6)
            assert np.all(np.isfinite(f["rir/rt60"][()]) | np.isnan(f["rir/rt60"][()]))
            ids = f["audio/source_id"].asstr()[()]
            assert ids.shape == (info.n_sets, info.n_sources) and all(i.startswith("espeak:") for i in ids.ravel())
    assert manifest["config_hash"] == small_cfg(two_scenes).config_hash()
    assert "CC-BY-NC" in manifest["licences"]["engine"] and "GPL-3.0" in manifest["licences"]["speech"]


def test_stage_times_are_recorded_off_the_output_bytes(reference_render, two_scenes, tmp_path, monkeypatch):
    """SIMKIT_STAGE_TIMES gets one line per scene (benchmarks/bench_pipeline.py); the shards do not change."""
    from simkit.render.pipeline import STAGE_TIMES_ENV, STAGES

    times = tmp_path / "stages.jsonl"
    monkeypatch.setenv(STAGE_TIMES_ENV, str(times))
    out = tmp_path / "timed"
    render_dataset(small_cfg(two_scenes, sets=2), out, workers=1, progress=False)
    render_dataset(small_cfg(two_scenes), tmp_path / "timed1", workers=1, progress=False)
    assert shard_bytes(tmp_path / "timed1") == shard_bytes(reference_render)
    lines = [json.loads(line) for line in times.read_text().splitlines()]
    assert [(r["scene"], r["sets"]) for r in lines] == [(s, n) for n in (2, 1) for s in two_scenes]
    for r in lines:
        assert set(r["cpu_s"]) == set(STAGES) and r["preset"] == "fast" and r["views"] is True
        assert all(v > 0 for v in r["cpu_s"].values()), r  # every stage ran and was timed
        assert sum(r["cpu_s"].values()) <= r["total_cpu_s"] * 1.001 + 1e-3


def test_changed_config_refuses_the_directory_and_keeps_its_files(reference_render, two_scenes, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(reference_render, out)
    before = shard_bytes(out)
    with pytest.raises(SimkitError, match="another config"):
        render_dataset(small_cfg(two_scenes, seed=99), out, workers=1, progress=False)
    assert shard_bytes(out) == before


def test_missing_speech_corpus_is_one_clear_error_and_writes_nothing(two_scenes, tmp_path):
    cfg = small_cfg(two_scenes)
    cfg.speech.corpus = str(tmp_path / "no-librispeech")
    with pytest.raises(SimkitError, match="no-librispeech"):
        render_dataset(cfg, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_bad_hrtf_path_is_rejected_before_rendering(two_scenes, tmp_path):
    cfg = small_cfg(two_scenes, acoustics={"hrtf": str(tmp_path / "missing.sofa")})
    with pytest.raises(SimkitError, match="missing.sofa"):
        render_dataset(cfg, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_unwritable_output_directory(two_scenes, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(SimkitError, match="not writable"):
        render_dataset(small_cfg(two_scenes), blocker / "out", progress=False)


def test_unknown_scene_id():
    with pytest.raises(SimkitError, match="proc_999"):
        resolve_scenes("proc_000,proc_999")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simkit", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["render", "--preset", "bogus", "--scenes", "3"], "bogus"),
        (["render", "--views", "1", "--scenes", "3"], "--views"),
        (["render", "--scenes", "proc_000,nope"], "nope"),
        (["render", "--workers", "0", "--scenes", "3"], "--workers"),
        (["render", "--engine", "bogus", "--scenes", "3"], "bogus"),
        (["render", "--max-translation", "-1", "--scenes", "3"], "max_translation"),
        (["render", "--scene-format", "hm3d"], "--scene-dir"),
        (["render", "--scene-dir", "/nonexistent-meshes", "--scene-format", "hm3d"], "/nonexistent-meshes"),
        (["render", "--scene-dir", ".", "--scene-format", "blender"], "blender"),
        (["render", "--split-file", "/nonexistent-split.json"], "/nonexistent-split.json"),
        (["render", "--config", "/nonexistent-config.json"], "/nonexistent-config.json"),
    ],
)
def test_cli_bad_options_exit_nonzero_with_one_line(args, needle, tmp_path):
    proc = run_cli(*args, "--out", str(tmp_path / "o"))
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0], proc.stderr
    assert not (tmp_path / "o").exists()


def test_inspect_reports_counts_and_names_a_malformed_shard(reference_render, two_scenes, tmp_path):
    rep = inspect_dataset(reference_render)
    assert sum(c["scenes"] for c in rep.counts.values()) == 2
    assert rep.azimuth.size == 2 * 2 * 2  # scenes x views x sources
    out = tmp_path / "broken"
    shutil.copytree(reference_render, out)
    victim = out / "shards" / f"{two_scenes[1]}.h5"
    victim.write_bytes(victim.read_bytes()[:2000])
    proc = run_cli("inspect", str(out))
    assert proc.returncode != 0 and victim.name in proc.stderr
    ok = run_cli("inspect", str(reference_render))
    assert ok.returncode == 0 and "train" in ok.stdout and "RT60" in ok.stdout
