"""Views inside the render: shards carry RGB/depth/instances at the listener's pose; real-mesh scene sets,
per-scene failures, the pyroomacoustics engine, config files and contact sheets through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_loaders import room_quads, write_gibson, write_hm3d, write_mp3d, write_ply, write_replica

from simkit.acoustics.config import AcousticsConfig
from simkit.data.datasets.direction import open_render
from simkit.data.storage import read
from simkit.data.validate import validate_shard
from simkit.render.config import RenderConfig, SamplingConfig
from simkit.render.pipeline import render_dataset
from simkit.scenes.catalog import SceneSet, load_scene, load_splits
from simkit.scenes.config import ScenesConfig
from simkit.scenes.raycast import RayCaster
from simkit.vision.camera import project_points, render_views
from simkit.vision.config import CameraConfig, ViewsConfig
from simkit.vision.filters import view_set_ok


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simkit", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def view_render(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("views") / "render"
    cfg = RenderConfig(scenes=[load_splits()["train"][1]], sets_per_scene=2, seed=3,
                       acoustics=AcousticsConfig(preset="fast"), sampling=SamplingConfig(views=3, sources=2))
    render_dataset(cfg, out, progress=False)
    return out


def test_shard_views_are_the_listeners_views(view_render):
    shard = next((view_render / "shards").glob("*.h5"))
    info = validate_shard(shard)
    assert info.has_views
    with h5py.File(shard, "r") as f:
        rgb, depth, inst = f["views/rgb"][()], f["views/depth"][()], f["views/instance"][()]
        pos, yaw = f["poses/position"][()], f["poses/yaw_deg"][()]
        src, az = f["sources/position"][()], f["labels/azimuth_deg"][()]
        passed = f["views/passed_filters"][()]
        attrs = dict(f["views"].attrs)
        scene_id = str(f.attrs["scene_id"])
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 240, 320, 3)
    assert depth.dtype == np.float16 and inst.dtype == np.uint16
    assert attrs["hfov_deg"] == 60.0 and attrs["pitch_deg"] == -22.5
    assert rgb.reshape(-1, 3).std(axis=0).min() > 5  # textured, not a flat fill
    scene = load_scene(scene_id)
    caster = RayCaster(scene)
    cfg = ViewsConfig()
    checked = 0
    for n in range(2):
        again = render_views(scene, caster, pos[n], yaw[n], cfg.camera)
        assert np.array_equal(again.rgb, rgb[n]) and np.array_equal(again.instance, inst[n])
        np.testing.assert_allclose(depth[n], again.depth, rtol=2e-3, atol=2e-3)  # float16 storage
        assert bool(passed[n]) == view_set_ok(depth[n].astype(np.float32), inst[n], cfg.filters)
        for v in range(3):
            px, front = project_points(src[n], pos[n, v], float(yaw[n, v]), cfg.camera)
            for s in range(len(src[n])):
                col, row = px[s]
                if not (front[s] and 2 <= col < 318 and 2 <= row < 238):
                    continue
                # a source in the image lies left of centre exactly when its azimuth label says left
                if abs(az[n, v, s]) > 3:
                    assert (col < 160) == (az[n, v, s] > 0)
                    checked += 1
                # it floats in free air with line of sight: the surface behind it is farther away
                axis_depth = np.linalg.norm(src[n, s] - pos[n, v]) * 0.5  # a lower bound of its axis depth
                assert depth[n, v, int(row), int(col)] > axis_depth
    assert checked >= 2  # the check above ran on sources actually in view


def test_inspect_preview_and_no_views(view_render, tmp_path):
    png = tmp_path / "sheet.png"
    r = run_cli("inspect", str(view_render), "--preview", str(png), "--preview-sets", "1")
    assert r.returncode == 0, r.stderr
    assert "view filters" in r.stdout and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run_cli("inspect", str(view_render), "--preview", str(png), "--preview-scene", "nope")
    assert r.returncode != 0 and "nope" in r.stderr and len(r.stderr.strip().splitlines()) == 1

    out = tmp_path / "noviews"
    scene = load_splits()["test"][0]
    r = run_cli("render", "--out", str(out), "--scenes", scene, "--sets-per-scene", "1", "--views", "2",
                "--sources", "1", "--preset", "fast", "--no-views", "--quiet")
    assert r.returncode == 0, r.stderr
    with h5py.File(out / "shards" / f"{scene}.h5", "r") as f:
        assert "views" not in f
    r = run_cli("inspect", str(out), "--preview", str(tmp_path / "compass.png"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "compass.png").stat().st_size > 1000


def test_config_file_sets_camera_and_sampling_and_rejects_unknown_keys(tmp_path):
    scene = load_splits()["val"][0]
    conf = tmp_path / "render.json"
    conf.write_text(json.dumps({"sets_per_scene": 1, "acoustics": {"preset": "fast"},
                                "sampling": {"views": 2, "sources": 1},
                                "views": {"camera": {"width": 64, "height": 48}, "apply_filters": False}}))
    out = tmp_path / "r"
    r = run_cli("render", "--out", str(out), "--scenes", scene, "--config", str(conf), "--max-translation", "0.4",
                "--quiet")
    assert r.returncode == 0, r.stderr
    with h5py.File(out / "shards" / f"{scene}.h5", "r") as f:
        assert f["views/rgb"].shape == (1, 2, 48, 64, 3)
        assert f["views/filter_tries"][0] == 1
        moved = np.linalg.norm(f["pairs/rel_translation"][0, 0, 1])
        assert 0 < moved <= 0.8 + 1e-6  # two views each within 0.4 m of the set's position
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["views"]["camera"]["width"] == 64
    assert manifest["config"]["sampling"]["max_translation"] == 0.4
    conf.write_text(json.dumps({"views": {"camera": {"widht": 64}}}))
    r = run_cli("render", "--out", str(tmp_path / "r2"), "--scenes", scene, "--config", str(conf))
    assert r.returncode != 0 and "widht" in r.stderr and not (tmp_path / "r2").exists()


def test_mesh_directory_renders_and_a_corrupt_scene_fails_alone(tmp_path):
    root = tmp_path / "hm3d"
    write_hm3d(root, "abcdefghijk")
    bad = root / "val" / "00801-zzzzzzzzzzz" / "zzzzzzzzzzz.glb"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"glTF not really")
    out = tmp_path / "r"
    args = ["render", "--out", str(out), "--scene-dir", str(root), "--scene-format", "hm3d", "--sets-per-scene",
            "1", "--views", "2", "--sources", "1", "--preset", "fast", "--quiet"]
    r = run_cli(*args)
    assert r.returncode != 0
    assert "zzzzzzzzzzz" in r.stderr.splitlines()[-1] and "abcdefghijk" not in r.stderr
    info = validate_shard(out / "shards" / "abcdefghijk.h5")
    assert info.has_views and info.split == "train"  # two scenes, no split file: both train
    assert not (out / "shards" / "zzzzzzzzzzz.h5").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scene_source"]["format"] == "hm3d"
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["failed"]) == ["zzzzzzzzzzz"]
    # readers leave the reported failure out (an unreported missing shard stays an error)
    assert open_render(out).splits["train"] == ["abcdefghijk"]
    r = run_cli("inspect", str(out))
    assert r.returncode == 0 and "failed to render: 1 scenes (zzzzzzzzzzz)" in r.stdout
    with h5py.File(out / "shards" / "abcdefghijk.h5", "r") as f:
        assert f["views/instance"][()].max() > 0  # the table is an object instance from the semantic mesh
        assert (f["poses/position"][()][..., 1] > 1.4).all()  # sensor 1.5 m above the scanned floor (y = 0)
    # a split file picks the scenes and their splits; the failed scene is not listed, so the run succeeds
    split = tmp_path / "splits.json"
    split.write_text(json.dumps({"test": ["abcdefghijk"], "train": ["notdownloaded"]}))
    s = SceneSet.from_config(ScenesConfig(format="hm3d", scene_dir=str(root), split_file=str(split)))
    assert s.ids() == ["abcdefghijk"] and s.split_of("abcdefghijk") == "test"
    assert s.unlisted == ["zzzzzzzzzzz"] and s.absent == ["notdownloaded"]
    r = run_cli(*args[:2], str(tmp_path / "r2"), *args[3:], "--split-file", str(split))
    assert r.returncode == 0, r.stderr


def test_pyroomacoustics_engine_renders_a_shoebox_mesh(tmp_path):
    root = tmp_path / "meshes"
    write_ply(root / "box.ply", room_quads(table=False), "y", face_prop=None, vertex_color=False)
    out = tmp_path / "r"
    r = run_cli("render", "--out", str(out), "--scene-dir", str(root), "--scene-format", "mesh", "--engine",
                "pyroomacoustics", "--sets-per-scene", "1", "--views", "2", "--sources", "1", "--preset", "fast",
                "--quiet")
    assert r.returncode == 0, r.stderr
    with h5py.File(out / "shards" / "box.h5", "r") as f:
        assert f.attrs["engine"] == "pyroomacoustics"
        rt = f["rir/rt60"][()]
        direct = read(f, "rir/direct")
    assert np.all((rt > 0.05) & (rt < 5.0))
    assert direct.dtype == np.float32 and np.abs(direct).max() > 0


@pytest.mark.parametrize("fmt", ["replica", "mp3d", "gibson", "mesh"])
def test_every_mesh_layout_renders_a_view_set(fmt, tmp_path):
    root = tmp_path / fmt
    {"replica": write_replica, "mp3d": write_mp3d, "gibson": write_gibson,
     "mesh": lambda r: write_ply(r / "room.ply", room_quads(), "y", face_prop=None)}[fmt](root)
    scene_set = SceneSet.from_config(ScenesConfig(format=fmt, scene_dir=str(root)))
    cfg = RenderConfig(
        scenes=scene_set.ids(), sets_per_scene=1, acoustics=AcousticsConfig(preset="fast", rir_seconds=0.5),
        sampling=SamplingConfig(views=2, sources=1),
        views=ViewsConfig(camera=CameraConfig(width=80, height=60), apply_filters=False),
        scene_set=ScenesConfig(format=fmt, scene_dir=str(root)),
    )
    result = render_dataset(cfg, tmp_path / "out", progress=False)
    assert not result.failed and sorted(result.rendered) == scene_set.ids()
    for sid in scene_set.ids():
        info = validate_shard(tmp_path / "out" / "shards" / f"{sid}.h5")
        assert info.has_views and info.n_sets == 1
        with h5py.File(info.path, "r") as f:
            depth = f["views/depth"][()].astype(np.float32)
            pos = f["poses/position"][()]
        # every mesh is the same 5 x 2.7 x 4 m room once in simkit's y-up frame: the camera stands inside it
        assert (depth > 0).all() and depth.max() < 7.0
        assert np.all((pos[..., 0] > 0.4) & (pos[..., 0] < 4.6) & (np.abs(pos[..., 1] - 1.5) < 0.05))


def _filtered_set_before_cast_first(scene, caster, floor, cfg, rng):
    """sample_filtered_set as it was before draws were cast first (commit ca6525e): the coarse look of all
    views, then a full render_views of every draw that survives it, judged by view_set_ok."""
    from dataclasses import replace

    from simkit.render.pipeline import COARSE_MARGIN, COARSE_STEP
    from simkit.render.sampling import sample_view_set
    from simkit.vision.camera import render_depths
    from simkit.vision.filters import depth_ok

    cam, flt = cfg.views.camera, cfg.views.filters
    coarse = replace(cam, width=max(8, cam.width // COARSE_STEP), height=max(6, cam.height // COARSE_STEP))
    lenient = replace(flt, min_max_depth=flt.min_max_depth * COARSE_MARGIN,
                      min_mean_depth=flt.min_mean_depth * COARSE_MARGIN,
                      min_valid_fraction=flt.min_valid_fraction * COARSE_MARGIN)
    first = None
    for t in range(1, cfg.views.filter_tries + 1):
        vs = sample_view_set(scene, cfg.sampling, rng, caster=caster, floor=floor, camera=cam)
        first = first or vs
        if not all(depth_ok(d, lenient) for d in render_depths(caster, vs.positions, vs.yaws_deg, coarse)):
            continue
        view = render_views(scene, caster, vs.positions, vs.yaws_deg, cam)
        if view_set_ok(view.depth, view.instance, flt):
            return vs, view, True, t
    return first, render_views(scene, caster, first.positions, first.yaws_deg, cam), False, cfg.views.filter_tries


def test_filtered_draws_keep_the_sets_and_bytes_of_full_renders():
    """The render casts each draw view by view and drops it at its first failing view or pair, shading only
    the kept set: the kept sets, tries, verdicts and view bytes are those of rendering every surviving draw
    in full (the code before), including a set where no draw passes (proc_042, set 0: the fallback)."""
    from simkit.render.pipeline import sample_filtered_set, scene_seed
    from simkit.render.sampling import FloorSampler

    cfg = RenderConfig()
    tries_seen = set()
    for sid, sets in (("proc_042", (0, 1)), ("proc_000", (1,))):
        scene = load_scene(sid)
        caster = RayCaster(scene)
        floor = FloorSampler(scene, caster, cfg.sampling)
        for n in sets:
            got = sample_filtered_set(scene, caster, floor, cfg, scene_seed(cfg.seed, sid, n))
            vs, view, passed, tries = _filtered_set_before_cast_first(scene, caster, floor, cfg,
                                                                      scene_seed(cfg.seed, sid, n))
            assert (got.passed, got.tries) == (passed, tries)
            assert got.view_set.positions.tobytes() == vs.positions.tobytes()
            assert got.view_set.yaws_deg.tobytes() == vs.yaws_deg.tobytes()
            for a, b in ((got.views.rgb, view.rgb), (got.views.depth, view.depth),
                         (got.views.instance, view.instance)):
                assert a.tobytes() == b.tobytes()
            tries_seen.add((passed, tries > 1))
    assert {(False, True), (True, True)} <= tries_seen  # the fallback and a set after rejected draws
