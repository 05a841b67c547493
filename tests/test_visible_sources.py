"""Visible sounding objects (issue 21): emitter meshes, their placement, the instance ids a render records, the
seed-000 visibility statistic, the binaural tasks' refusal of renders without visible sources, and the
localisation-map metrics. Real engine, real HDF5, tiny renders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from simkit.acoustics import MaterialDatabase
from simkit.acoustics.config import AcousticsConfig
from simkit.audio.config import SpeechConfig
from simkit.audio.mix import MixConfig
from simkit.data.datasets.binaural import BinauralClips, open_binaural_dataset
from simkit.data.inspect import format_report, inspect_dataset
from simkit.data.stats import dataset_stats
from simkit.data.storage import read_set_binaural
from simkit.data.visibility import Visibility, source_pixels, visible_threshold
from simkit.errors import SimkitError
from simkit.metrics.av_localization import map_in_mask
from simkit.render.config import RenderConfig, SamplingConfig, load_render_config
from simkit.render.pipeline import render_dataset, sample_filtered_set, scene_seed
from simkit.render.sampling import FloorSampler, in_view, sample_view_set
from simkit.scenes.catalog import SceneSet, resolve_scenes
from simkit.scenes.config import ScenesConfig
from simkit.scenes.emitters import FLOOR, KINDS, WALL, WALL_GAP, Emitter, emitter_mesh, first_emitter_instance
from simkit.scenes.raycast import RayCaster
from simkit.vision.camera import project_points
from simkit.vision.config import CameraConfig

VISIBLE = SamplingConfig(views=3, sources=2, visible_sources=True, min_visible_share=1.0, min_yaw_diff=5.0,
                         max_yaw_diff=30.0)


def _render(out: Path, sampling: SamplingConfig, sets: int, mix: bool = False) -> Path:
    cfg = RenderConfig(scenes=resolve_scenes("3"), sets_per_scene=sets, seed=3,
                       acoustics=AcousticsConfig(preset="efficient"), sampling=sampling,
                       speech=SpeechConfig(clip_seconds=1.0), mix=MixConfig(enabled=mix))
    render_dataset(cfg, out, progress=False)
    return out


@pytest.fixture(scope="module")
def visible_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("visible") / "render", VISIBLE, sets=2, mix=True)


@pytest.fixture(scope="module")
def plain_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("plain") / "render", SamplingConfig(views=2, sources=1), sets=1)


def _scene(scene_id: str):
    return SceneSet.from_config(ScenesConfig()).load(scene_id, MaterialDatabase.embedded())


def test_emitter_meshes_are_closed_boxes_facing_out_resting_where_their_kind_says() -> None:
    for name, kind in KINDS.items():
        e = Emitter(name, (1.0, 0.0, -2.0), 37.0, 1.1)
        v, f, _c, part = emitter_mesh(e)
        tri = v[f]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        for k, (_p, centre, half) in enumerate(e.boxes()):
            sel = part == k
            assert sel.sum() == 12
            assert np.all(np.einsum("ij,ij->i", normal[sel], tri[sel].mean(axis=1) - centre) > 0)  # outwards
            local = (v[8 * k:8 * k + 8] - centre) @ e.axes().T
            assert np.allclose(np.abs(local), half)
        assert np.allclose(e.source_position, e.boxes()[0][1])  # the body sounds
        if kind.mount == FLOOR:
            assert np.isclose(v[:, 1].min(), 0.0)  # stands on the floor (on its support)


def _layout_points_ok(layout: dict, pts: np.ndarray) -> tuple[bool, bool]:
    """(every point inside a room or doorway box, no point strictly inside an obstacle)."""
    inside = np.zeros(len(pts), bool)
    for r in layout["rooms"]:
        (x0, z0), (x1, z1) = r["min"], r["max"]
        inside |= (pts[:, 0] > x0) & (pts[:, 0] < x1) & (pts[:, 2] > z0) & (pts[:, 2] < z1) \
            & (pts[:, 1] > 0) & (pts[:, 1] < r["height"])
    for d in layout["doors"]:
        inside |= np.all((pts > np.asarray(d["min"])) & (pts < np.asarray(d["max"])), axis=1)
    hit = np.zeros(len(pts), bool)
    for o in layout["obstacles"]:
        hit |= np.all((pts > np.asarray(o["min"]) + 1e-6) & (pts < np.asarray(o["max"]) - 1e-6), axis=1)
    return bool(inside.all()), not hit.any()


def test_placement_inside_rooms_clear_of_walls_furniture_and_each_other_and_in_every_view() -> None:
    camera = CameraConfig()
    kinds, n_sets = set(), 0
    for scene_id in ("proc_000", "proc_001", "proc_002", "proc_003"):
        scene = _scene(scene_id)
        caster = RayCaster(scene)
        floor = FloorSampler(scene, caster, VISIBLE)
        layout = scene.metadata["layout"]
        for n in range(3):
            vs = sample_view_set(scene, VISIBLE, scene_seed(3, scene_id, n), caster=caster, floor=floor, camera=camera)
            n_sets += 1
            assert len(vs.emitters) == VISIBLE.sources
            assert np.allclose(vs.source_positions, [e.source_position for e in vs.emitters])
            # every source inside the field of view of every view (min_visible_share = 1)
            assert in_view(vs.source_positions, vs.positions, vs.yaws_deg, camera).all()
            for e in vs.emitters:
                kinds.add(e.kind)
                axes = e.axes()
                for _p, centre, half in e.boxes():
                    t = np.linspace(-1.0, 1.0, 5)
                    grid = np.stack(np.meshgrid(t, t, t, indexing="ij"), -1).reshape(-1, 3) * (half - 0.012)
                    in_room, clear = _layout_points_ok(layout, centre + grid @ axes)
                    assert in_room and clear, (scene_id, n, e)
                if e.spec.mount == FLOOR:
                    assert np.isclose(e.origin[1], scene.floor_y)
                else:  # a wall speaker: hung, its back WALL_GAP from a wall of its room
                    c = e.source_position
                    walls = [min(c[0] - r["min"][0], r["max"][0] - c[0], c[2] - r["min"][1], r["max"][1] - c[2])
                             for r in layout["rooms"] if r["min"][0] < c[0] < r["max"][0] and
                             r["min"][1] < c[2] < r["max"][1]]
                    assert walls and np.isclose(min(walls), 0.5 * e.spec.body.size[2] * e.scale + WALL_GAP, atol=0.02)
            for i, a in enumerate(vs.emitters):  # footprints apart
                for b in vs.emitters[i + 1:]:
                    assert np.hypot(a.origin[0] - b.origin[0], a.origin[2] - b.origin[2]) >= a.radius + b.radius
    assert n_sets == 12 and len(kinds) >= 3


def test_views_show_the_objects_under_the_recorded_instance_ids(visible_render: Path) -> None:
    camera = CameraConfig()
    checked = 0
    for shard in sorted((visible_render / "shards").glob("*.h5")):
        with h5py.File(shard, "r") as f:
            first = first_emitter_instance(_scene(str(f.attrs["scene_id"])))
            ids = f["sources/instance"][()].astype(np.int64)  # (N, S)
            kinds = f["sources/kind"][()]
            inst = f["views/instance"][()]
            for n in range(ids.shape[0]):
                assert len(set(ids[n])) == ids.shape[1] and ids[n].min() >= first
                assert {k.decode() if isinstance(k, bytes) else k for k in kinds[n]} <= set(KINDS)
                px = f["views/source_pixels"][n]
                for v in range(inst.shape[1]):
                    counted = [int(np.count_nonzero(inst[n, v] == i)) for i in ids[n]]
                    assert px[v].tolist() == counted  # views/source_pixels recounted from the instance image
                    uv, front = project_points(f["sources/position"][n], f["poses/position"][n, v],
                                               float(f["poses/yaw_deg"][n, v]), camera)
                    assert front.all()
                    for s, (col, row) in enumerate(uv):
                        seen = int(inst[n, v, min(int(row), camera.height - 1), min(int(col), camera.width - 1)])
                        # the pixel over the source shows its own object, or another emitter in front of it
                        assert seen == ids[n, s] or (seen >= first and seen not in (0, ids[n, s])), (shard, n, v, s)
                        checked += 1
    assert checked == 3 * 2 * 3 * 2


def test_visibility_statistic_on_a_hand_checked_case() -> None:
    thr = visible_threshold(240, 320)
    assert thr == 200 and visible_threshold(24, 32) == 2
    px = np.zeros((1, 5, 4), np.int32)
    px[0, :, 0] = 500  # visible in 5 of 5 views: > 4/5 of the clip
    px[0, :, 1] = [200, 199, 0, 250, 0]  # 200 counts, 199 does not: 2 of 5
    px[0, :, 2] = [300, 300, 300, 300, 0]  # 4 of 5 = 4 s of 5 s: not "over 4 seconds"
    vis = Visibility()
    vis.add(px, thr)
    assert (vis.sources, vis.mostly, vis.partly, vis.never) == (4, 1, 2, 1)
    assert (vis.pairs, vis.pairs_visible) == (20, 5 + 2 + 4)
    assert "25/50" in vis.line() and "never 25" in vis.line() and "55.0 % of 20" in vis.line()
    inst = np.array([[[0, 7, 7], [9, 7, 0]], [[9, 9, 0], [0, 0, 0]]], np.uint16)  # two 2x3 views
    assert source_pixels(inst, np.array([7, 9])).tolist() == [[3, 1], [0, 2]]


def test_inspect_and_data_stats_report_the_visibility(visible_render: Path) -> None:
    want = Visibility()
    for shard in sorted((visible_render / "shards").glob("*.h5")):
        with h5py.File(shard, "r") as f:
            inst = f["views/instance"][()]
            ids = f["sources/instance"][()]
            px = np.stack([source_pixels(inst[n], ids[n]) for n in range(len(ids))])
            want.add(px, visible_threshold(*inst.shape[-2:]))
    assert want.sources == 3 * 2 * 2
    assert want.line() in format_report(inspect_dataset(visible_render))
    st = dataset_stats(visible_render)
    assert st.visibility is not None and st.visibility.line() == want.line()
    assert want.pairs_visible > 0


def test_binaural_tasks_refuse_a_render_without_visible_sources(plain_render: Path, visible_render: Path) -> None:
    with pytest.raises(SimkitError, match=r"--recipe binaural"):
        open_binaural_dataset(plain_render)
    assert open_binaural_dataset(visible_render).n_views == 3
    proc = subprocess.run([sys.executable, "-m", "simkit", "bench", "--task", "av_localize", "--model", "clup_loc",
                           "--quick", "--device", "cpu", "--data", str(plain_render), "--results",
                           str(plain_render.parent / "results")], capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "simkit render --recipe binaural" in lines[0] and "Traceback" not in proc.stderr


def test_an_item_of_a_mixed_render_is_one_view_its_mix_and_its_sources_masks(visible_render: Path) -> None:
    ds = BinauralClips(open_binaural_dataset(visible_render), "train")
    assert len(ds) == 2 * 3  # sets x views: one item per view, not per source
    item = ds[4]
    n, v = item["set_index"], item["view_index"]
    assert item["source_index"] == -1
    with h5py.File(visible_render / "shards" / f"{item['scene_id']}.h5", "r") as f:
        clips = read_set_binaural(f, n)[v]  # (S, 2, T) per-source clips of the view
        want = np.stack([f["views/instance"][n, v] == i for i in f["sources/instance"][n]])
        rgb = f["views/rgb"][n, v]
    np.testing.assert_allclose(item["binaural"].numpy(), clips.sum(axis=0), rtol=1e-5, atol=1e-6)
    assert np.array_equal(item["image"].numpy(), rgb)
    assert item["masks"].shape == want.shape == (2, *rgb.shape[:2]) and np.array_equal(item["masks"].numpy(), want)


def test_map_in_mask_scores_mass_and_peak_against_the_object() -> None:
    mask = np.zeros((4, 4), bool)
    mask[2:, 2:] = True  # the bottom-right cell of a 2x2 map, whole
    mask[0, 0:2] = True  # half of the top-left cell
    assert map_in_mask(np.array([[1.0, 0.0], [0.0, 3.0]]), mask) == pytest.approx((0.875, 1.0))
    assert map_in_mask(np.array([[3.0, 0.0], [0.0, 1.0]]), mask) == pytest.approx((0.625, 0.0))
    assert map_in_mask(np.zeros((2, 2)), mask) == (0.0, 0.0)


def test_default_config_keeps_its_hash_and_the_recipe_records_visible_sources() -> None:
    assert RenderConfig().config_hash() == "0a50415382e0ff58"
    assert "visible_sources" not in RenderConfig().content_dict()["sampling"]
    cfg = load_render_config(recipe="binaural")
    assert cfg.sampling.visible_sources and cfg.sampling.min_visible_share == 1.0
    assert cfg.content_dict()["sampling"]["visible_sources"] is True
    assert cfg.speech.clip_seconds == 10.0 and cfg.acoustics.sample_rate == 16000 and cfg.mix.enabled
    assert WALL in {k.mount for k in KINDS.values()}


def test_filtered_set_renders_the_objects_it_places() -> None:
    """The instance image of a drawn set shows every placed object's body (ids from the scene's next id)."""
    from dataclasses import replace

    cfg = replace(RenderConfig(), sampling=VISIBLE)
    scene = _scene("proc_001")
    caster = RayCaster(scene)
    drawn = sample_filtered_set(scene, caster, FloorSampler(scene, caster, VISIBLE), cfg, scene_seed(0, "proc_001", 0))
    first = first_emitter_instance(scene)
    assert drawn.source_instance.tolist() == [first, first + len(drawn.view_set.emitters[0].spec.parts)]
    assert (source_pixels(drawn.views.instance, drawn.source_instance).sum(axis=0) > 0).all()


def test_a_visible_render_is_deterministic(visible_render: Path, tmp_path: Path) -> None:
    """Re-rendering one scene of the visible render gives the same shard, byte for byte."""
    scene = resolve_scenes("3")[0]
    cfg = RenderConfig(scenes=[scene], sets_per_scene=2, seed=3, acoustics=AcousticsConfig(preset="efficient"),
                       sampling=VISIBLE, speech=SpeechConfig(clip_seconds=1.0), mix=MixConfig(enabled=True))
    render_dataset(cfg, tmp_path / "again", progress=False)
    name = f"{scene}.h5"
    assert (tmp_path / "again" / "shards" / name).read_bytes() == (visible_render / "shards" / name).read_bytes()
