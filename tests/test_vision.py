"""Ray-cast views of a known box room, procedural texture, HM3D-SS view filters, contact sheets."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from simkit.conventions import source_labels, yaw_to_quat
from simkit.errors import SimkitError
from simkit.scenes.raycast import RayCaster
from simkit.scenes.scene import Scene
from simkit.vision.camera import CameraConfig, project_points, render_view, render_views
from simkit.vision.filters import (
    ViewFilterConfig,
    depth_ok,
    pair_matrix,
    partners_ok,
    view_set_ok,
    visible_instances,
)
from simkit.vision.preview import contact_sheet

RED, GREEN, BLUE, YELLOW = (200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)
OBJ = (2.5, 3.5, 0.0, 1.0, 0.6, 1.4)  # x0, x1, y0, y1, z0, z1 of the box object (instance 1)


def box_room(size=(6.0, 3.0, 4.0), obj: bool = True, procedural: bool = False, wall_color=None) -> Scene:
    """Room [0, X] x [0, Y] x [0, Z]: z=0 wall red, z=Z green, x=0 blue, x=X yellow; optional box object."""
    lx, ly, lz = size
    v, f, col, inst = [], [], [], []

    def quad(a, b, c, d, color, i=0):
        k = len(v)
        v.extend([a, b, c, d])
        f.extend([[k, k + 1, k + 2], [k, k + 2, k + 3]])
        col.extend([color] * 2)
        inst.extend([i] * 2)

    quad([0, 0, 0], [0, 0, lz], [lx, 0, lz], [lx, 0, 0], (120, 100, 80))
    quad([0, ly, 0], [lx, ly, 0], [lx, ly, lz], [0, ly, lz], (230, 230, 230))
    quad([0, 0, 0], [lx, 0, 0], [lx, ly, 0], [0, ly, 0], wall_color or RED)
    quad([0, 0, lz], [0, ly, lz], [lx, ly, lz], [lx, 0, lz], wall_color or GREEN)
    quad([0, 0, 0], [0, ly, 0], [0, ly, lz], [0, 0, lz], wall_color or BLUE)
    quad([lx, 0, 0], [lx, 0, lz], [lx, ly, lz], [lx, ly, 0], wall_color or YELLOW)
    if obj:
        x0, x1, y0, y1, z0, z1 = OBJ
        c = (150, 80, 200)
        quad([x0, y1, z0], [x0, y1, z1], [x1, y1, z1], [x1, y1, z0], c, 1)
        quad([x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1], c, 1)
        quad([x0, y0, z0], [x0, y1, z0], [x1, y1, z0], [x1, y0, z0], c, 1)
        quad([x0, y0, z0], [x0, y0, z1], [x0, y1, z1], [x0, y1, z0], c, 1)
        quad([x1, y0, z0], [x1, y1, z0], [x1, y1, z1], [x1, y0, z1], c, 1)
    n = len(f)
    return Scene("box", np.array(v, float), np.array(f), np.zeros(n, int), ["default"], np.array(inst),
                 np.array(col, np.uint8), instance_labels=["structure", "box"],
                 metadata={"procedural_texture": procedural})


CAM = np.array([3.0, 1.5, 2.6])


@pytest.fixture(scope="module")
def room():
    s = box_room()
    return s, RayCaster(s)


def test_centre_depth_is_the_analytic_distance_along_the_pitched_axis(room):
    scene, caster = room
    cfg = CameraConfig(width=161, height=121)  # odd: the centre pixel's ray is the optical axis
    view = render_view(scene, caster, CAM, 90.0, cfg)  # facing -x, the blue wall at distance 3
    p = np.deg2rad(-cfg.pitch_deg)
    assert view.depth[60, 80] == pytest.approx(CAM[0] / np.cos(p), abs=1e-3)
    # facing the wall level, every wall pixel has the wall's perpendicular distance (depth is planar)
    level = render_view(scene, caster, CAM, 90.0, CameraConfig(width=161, height=121, pitch_deg=0.0))
    rgb = level.rgb.astype(int)
    wall = (level.instance == 0) & (rgb[..., 2] > rgb[..., 0] + 60)  # the blue wall, not floor or ceiling
    assert wall.mean() > 0.3
    assert np.allclose(level.depth[wall], CAM[0], atol=2e-3)


def _nearest_wall_color(c: np.ndarray) -> tuple[int, int, int]:
    """The wall colour of the same hue (largest cosine similarity): shading only scales brightness."""
    walls = (RED, GREEN, BLUE, YELLOW)
    cos = [np.dot(c, w) / (np.linalg.norm(c) * np.linalg.norm(w)) for w in walls]
    return walls[int(np.argmax(cos))]


def test_coloured_walls_appear_where_the_conventions_put_them(room):
    scene, caster = room
    cfg = CameraConfig(width=64, height=48, pitch_deg=0.0)
    for yaw, color in ((90.0, BLUE), (-90.0, YELLOW), (180.0, GREEN)):
        view = render_view(scene, caster, CAM, yaw, cfg)
        c = view.rgb[12, 32].astype(float)  # upper centre: wall, above the object
        assert _nearest_wall_color(c) == color, (yaw, c)
    # yaw 0 looks along -z at the red wall; turned 40 deg left (+yaw) near the x = 0 wall, the blue wall
    # fills the left edge and the red wall the right edge
    view = render_view(scene, caster, CAM, 0.0, cfg)
    assert np.argmax(view.rgb[5, 32]) == 0
    turned = render_view(scene, caster, [0.8, 1.5, 2.0], 40.0, cfg)
    assert np.argmax(turned.rgb[10, 2]) == 2 and np.argmax(turned.rgb[10, 61]) == 0


def test_instances_match_objects_and_projection(room):
    scene, caster = room
    cfg = CameraConfig(width=96, height=72)
    x0, x1, y0, y1, z0, z1 = OBJ
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2])
    view = render_view(scene, caster, CAM, 0.0, cfg)
    px, front = project_points(centre[None], CAM, 0.0, cfg)
    col, row = int(px[0, 0]), int(px[0, 1])
    assert front[0] and view.instance[row, col] == 1
    assert set(np.unique(view.instance)) == {0, 1}
    # the object is not visible when facing away from it
    back = render_view(scene, caster, CAM, 180.0, cfg)
    assert back.instance.max() == 0
    assert project_points(centre[None], CAM, 180.0, cfg)[1][0] == np.False_


def test_projection_agrees_with_source_azimuth():
    cfg = CameraConfig(pitch_deg=0.0)
    pos = np.array([0.0, 1.5, 0.0])
    src = np.array([[-1.0, 1.5, -2.0], [1.0, 1.5, -2.0]])
    az, _el, _d = source_labels(src, pos, 0.0)
    px, front = project_points(src, pos, 0.0, cfg)
    assert front.all() and az[0] > 0 > az[1]  # +azimuth = left
    assert px[0, 0] < cfg.width / 2 < px[1, 0]  # ... = left half of the image
    assert px[0, 1] == pytest.approx(cfg.height / 2)


def test_batched_views_equal_single_views_and_are_deterministic(room):
    scene, caster = room
    cfg = CameraConfig(width=40, height=30)
    yaws = np.array([0.0, 35.0, -80.0])
    batch = render_views(scene, caster, np.repeat(CAM[None], 3, axis=0), yaws, cfg)
    assert batch.rgb.shape == (3, 30, 40, 3) and batch.rgb.dtype == np.uint8
    assert batch.depth.dtype == np.float32 and batch.instance.dtype == np.uint16
    for i, yaw in enumerate(yaws):
        one = render_view(scene, caster, CAM, yaw, cfg)
        assert np.array_equal(one.rgb, batch.rgb[i]) and np.array_equal(one.depth, batch.depth[i])
        assert np.array_equal(one.instance, batch.instance[i])


def test_missed_rays_are_background_with_zero_depth():
    scene = box_room(obj=False)
    keep = np.ones(len(scene.faces), bool)
    keep[2:4] = False  # remove the ceiling
    open_top = Scene("open", scene.vertices, scene.faces[keep], scene.face_material[keep], scene.material_names,
                     scene.face_instance[keep], scene.face_color[keep], metadata={"procedural_texture": False})
    view = render_view(open_top, RayCaster(open_top), CAM, 0.0, CameraConfig(width=32, height=24, pitch_deg=80.0))
    sky = view.depth == 0
    assert sky.any() and (view.rgb[sky] == 0).all() and (view.instance[sky] == 0).all()


def test_vertex_colours_are_interpolated():
    scene = box_room(obj=False)
    vc = np.tile(np.array([[255, 0, 0]], np.uint8), (len(scene.vertices), 1))
    vc[scene.vertices[:, 0] > 3.0] = (0, 0, 255)  # red at x = 0, blue at x = 6 on the long walls
    scene.metadata["vertex_color"] = vc
    view = render_view(scene, RayCaster(scene), CAM, 0.0, CameraConfig(width=64, height=48, pitch_deg=0.0))
    row = view.rgb[10].astype(int)
    ratio = row[:, 2] / np.maximum(row[:, 0] + row[:, 2], 1)
    assert ratio[2] < ratio[32] < ratio[61]  # blue share grows to the right (+x)


def test_procedural_texture_makes_same_coloured_walls_distinguishable():
    scene = box_room(obj=False, procedural=True, wall_color=(160, 160, 160))
    caster = RayCaster(scene)
    cfg = CameraConfig(width=64, height=48)
    views = render_views(scene, caster, np.repeat(CAM[None], 4, axis=0), np.array([0.0, 90.0, 180.0, -90.0]), cfg)
    means = views.rgb[:, :20].reshape(4, -1, 3).mean(axis=1)  # the walls (upper part of each view)
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert dist[~np.eye(4, dtype=bool)].min() > 3.0  # every pair of walls differs in mean colour
    flat = box_room(obj=False, procedural=False, wall_color=(160, 160, 160))
    fv = render_views(flat, RayCaster(flat), np.repeat(CAM[None], 2, axis=0), np.array([0.0, 180.0]), cfg)
    assert fv.rgb[:, :20].std() < views.rgb[:, :20].std()  # the pattern adds texture inside each view


# --------------------------------------------------------------------------------------------- filters
def test_depth_filter():
    cfg = ViewFilterConfig()
    far = np.full((10, 10), 2.0, np.float32)
    far[0] = 5.0
    assert depth_ok(far, cfg)
    assert not depth_ok(np.full((10, 10), 3.0), cfg)  # nothing 4 m away
    near = np.full((10, 10), 0.3)
    near[0] = 6.0
    assert not depth_ok(near, cfg)  # mean below 1 m
    holes = far.copy()
    holes[1:3] = 0.0  # 20 % of the view looks into a mesh hole
    assert not depth_ok(holes, cfg) and depth_ok(holes, ViewFilterConfig(min_valid_fraction=0.7))


def test_instance_partner_filter():
    a = np.zeros((20, 20), np.uint16)
    b = np.zeros((20, 20), np.uint16)
    a[:10, :10] = 3
    a[15:, 15:] = 4  # 25 px
    b[:, :5] = 3
    b[0, 0] = 4
    assert list(visible_instances(a, 20)) == [3, 4] and list(visible_instances(b, 20)) == [3]
    assert partners_ok(a, b, ViewFilterConfig(min_shared_instances=1, min_instance_pixels=20))
    assert not partners_ok(a, b, ViewFilterConfig(min_shared_instances=2, min_instance_pixels=20))
    assert not partners_ok(a, b, ViewFilterConfig(min_shared_instances=1, min_instance_pixels=101))
    c = np.zeros_like(a)
    m = pair_matrix(np.stack([a, b, c]), ViewFilterConfig(min_instance_pixels=20))
    assert m.tolist() == [[True, True, False], [True, True, False], [False, False, True]]


def test_view_set_filter_on_rendered_views():
    big = box_room(size=(10.0, 3.0, 8.0), obj=False)
    x0, x1 = 4.0, 6.0  # an object in the middle of the big room, seen by both views
    quads = [([x0, 1.0, 2.0], [x0, 1.0, 3.0], [x1, 1.0, 3.0], [x1, 1.0, 2.0])]
    v = list(big.vertices)
    f = list(big.faces)
    for q in quads:
        k = len(v)
        v += q
        f += [[k, k + 1, k + 2], [k, k + 2, k + 3]]
    n_new = len(f) - len(big.faces)
    scene = Scene("big", np.array(v, float), np.array(f), np.zeros(len(f), int), ["default"],
                  np.concatenate([big.face_instance, np.full(n_new, 1)]),
                  np.concatenate([big.face_color, np.full((n_new, 3), 90, np.uint8)]))
    caster = RayCaster(scene)
    cfg = CameraConfig(width=80, height=60)
    cam = np.repeat(np.array([[5.0, 1.5, 6.0]]), 2, axis=0)
    views = render_views(scene, caster, cam, np.array([10.0, -10.0]), cfg)
    fcfg = ViewFilterConfig(min_instance_pixels=50)
    assert view_set_ok(views.depth, views.instance, fcfg)
    # turned to the near wall: too close, and the object is no longer shared
    views2 = render_views(scene, caster, cam, np.array([10.0, 180.0]), cfg)
    assert not depth_ok(views2.depth[1], fcfg)
    assert not view_set_ok(views2.depth, views2.instance, fcfg)


# --------------------------------------------------------------------------------------------- preview
def write_preview_shard(path, scene, with_views: bool) -> None:
    n, v = 2, 3
    pos = np.tile(CAM, (n, v, 1))
    yaw = np.array([[0.0, 30.0, -30.0], [90.0, 120.0, 60.0]])
    src = np.array([[[3.0, 1.2, 0.8], [5.0, 1.0, 3.5]], [[0.8, 1.2, 2.0], [3.0, 1.0, 3.8]]])
    az = np.stack([np.stack([source_labels(src[i], pos[i, j], yaw[i, j])[0] for j in range(v)]) for i in range(n)])
    with h5py.File(path, "w") as f:
        f.attrs["scene_id"] = "box"
        f["poses/position"] = pos
        f["poses/yaw_deg"] = yaw
        f["poses/quat_wxyz"] = yaw_to_quat(yaw)
        f["sources/position"] = src
        f["labels/azimuth_deg"] = az.astype(np.float32)
        if with_views:
            cfg = CameraConfig(width=64, height=48)
            views = [render_views(scene, RayCaster(scene), pos[i], yaw[i], cfg) for i in range(n)]
            f["views/rgb"] = np.stack([x.rgb for x in views])
            f["views"].attrs["hfov_deg"] = cfg.hfov_deg
            f["views"].attrs["pitch_deg"] = cfg.pitch_deg


@pytest.mark.parametrize("with_views", [True, False])
def test_contact_sheet(tmp_path, room, with_views):
    shard = tmp_path / "box.h5"
    write_preview_shard(shard, room[0], with_views)
    out = contact_sheet(shard, tmp_path / "sheet.png", max_sets=1)
    img = Image.open(out)
    assert img.size[0] > img.size[1] > 100  # one row of three panels
    full = contact_sheet(shard, tmp_path / "sheet2.png")
    assert Image.open(full).size[1] > img.size[1]  # two rows
    assert not list(tmp_path.glob(".*.tmp"))


def test_contact_sheet_errors(tmp_path):
    with pytest.raises(SimkitError, match="cannot open shard"):
        contact_sheet(tmp_path / "none.h5", tmp_path / "x.png")
    with h5py.File(tmp_path / "bare.h5", "w") as f:
        f["poses/yaw_deg"] = np.zeros((1, 2))
    with pytest.raises(SimkitError, match="lacks poses/position"):
        contact_sheet(tmp_path / "bare.h5", tmp_path / "x.png")


# The rewrite must reproduce the views of the code before it (commit d056469, kept as
# benchmarks/views_reference.py) byte for byte. The test renders both on the machine it runs on: stored digests
# would tie it to one CPU (the old code rotates the pixel rays with a BLAS product, and whether that kernel
# fuses multiply-adds depends on the CPU, so the reference bytes themselves may differ between machines).
# Cases: two embedded scenes (a sampled 4-view set at 320x240, procedural texture, without and with surface
# detail; the coarse depth-only look), and the box room with vertex colours, with a UV texture and untextured
# faces mixed, and with plain colours.
REFERENCE_CODE = Path(__file__).resolve().parents[1] / "benchmarks" / "views_reference.py"
GOLDEN_CASES = [
    "proc_000/detail=0.0", "proc_000/detail=0.35", "proc_000/coarse",
    "proc_042/detail=0.0", "proc_042/detail=0.35", "proc_042/coarse",
    "box/plain", "box/vertex_color", "box/textured",
]


def _reference_module():
    """benchmarks/views_reference.py imported by path (it is no package module); skips where it is absent."""
    import importlib.util

    if not REFERENCE_CODE.is_file():
        pytest.skip(f"{REFERENCE_CODE} is absent (not a source checkout): no reference implementation to compare")
    name = "simkit_views_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REFERENCE_CODE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # registered before it runs, as dataclasses resolve annotations through it
        spec.loader.exec_module(module)
    return sys.modules[name]


def _golden_cases(render_views=render_views, render_depths=None):
    """(name, list of arrays) for every case of GOLDEN_CASES, rendered by the current code or by the
    functions given (benchmarks/views_reference.py's)."""
    from simkit.render.config import SamplingConfig
    from simkit.render.sampling import sample_view_set
    from simkit.scenes.catalog import load_scene
    from simkit.vision.camera import render_depths as current_depths

    render_depths = render_depths or current_depths

    for sid in ("proc_000", "proc_042"):
        scene = load_scene(sid)
        caster = RayCaster(scene)
        vs = sample_view_set(scene, SamplingConfig(), np.random.default_rng(0), caster)
        for detail in (0.0, 0.35):
            scene.metadata["surface_detail"] = detail
            v = render_views(scene, caster, vs.positions, vs.yaws_deg)
            yield f"{sid}/detail={detail}", [v.rgb, v.depth, v.instance]
        yield f"{sid}/coarse", [render_depths(caster, vs.positions, vs.yaws_deg, CameraConfig(width=40, height=30))]
    rng = np.random.default_rng(7)
    cfg = CameraConfig(width=96, height=72)
    yaws = np.array([0.0, 100.0, -135.0])
    pos = np.repeat(CAM[None], 3, axis=0)
    plain = box_room()
    coloured = box_room()
    coloured.metadata["vertex_color"] = rng.integers(0, 256, (len(coloured.vertices), 3), dtype=np.uint8)
    textured = box_room()
    m = len(textured.faces)
    textured.metadata.update(
        textures=[rng.integers(0, 256, (16, 24, 3), dtype=np.uint8), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)],
        face_texture=np.where(np.arange(m) % 3 == 2, -1, np.arange(m) % 2), face_uv=rng.uniform(-1.5, 2.5, (m, 3, 2)),
        surface_detail=0.2,
    )
    for name, scene in (("box/plain", plain), ("box/vertex_color", coloured), ("box/textured", textured)):
        v = render_views(scene, RayCaster(scene), pos, yaws, cfg)
        yield name, [v.rgb, v.depth, v.instance]


def test_views_reproduce_the_reference_bytes():
    ref = _reference_module()
    old = dict(_golden_cases(ref.render_views, ref.render_depths))
    new = dict(_golden_cases())
    assert list(new) == list(old) == GOLDEN_CASES
    for name in GOLDEN_CASES:
        for a, b in zip(old[name], new[name], strict=True):
            assert (a.dtype, a.shape) == (b.dtype, b.shape), name
            if a.tobytes() != b.tobytes():
                raise AssertionError(f"{name}: {np.count_nonzero(a != b)} of {a.size} {a.dtype} values differ")


def test_exact_replacements_of_numpy_remainder():
    """The procedural texture's x - floor(x) and parity forms equal np.mod bit for bit (their byte-identity
    argument), on values that stress the rounding: tiny negatives, integers, signed zeros, large magnitudes."""
    from simkit.vision.textures import _even, _frac

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = np.concatenate([
            rng.normal(0, 10, 20000), rng.normal(0, 1e-9, 2000), np.arange(-50, 50), [0.0, -0.0, 1e7 + 0.5, -1e7 - 0.5],
            -np.finfo(dtype).eps * np.arange(1, 50), np.nextafter(np.arange(-5.0, 5.0), 10),
        ]).astype(dtype)
        assert np.mod(x, 1.0).tobytes() == _frac(x).tobytes()
        f = np.floor(x)
        assert np.array_equal(np.mod(f, 2) == 0, _even(f))


def test_face_table_of_all_faces_equals_the_per_view_subset():
    """The camera gathers per-face texture parameters from a table of every face; the code before computed
    them for the faces a view hit: both must give the same numbers."""
    from simkit.scenes.catalog import load_scene
    from simkit.vision.textures import _face_attributes, face_table

    scene = load_scene("proc_042")
    sub = np.array([3, 17, 40, 41, 200, len(scene.faces) - 1])
    table = face_table(scene)
    attrs = _face_attributes(scene, sub)
    assert np.array_equal(table.base[sub], attrs["base"]) and np.array_equal(table.tangent[sub], attrs["tangent"])
    assert np.array_equal(table.period[sub], attrs["period"]) and np.array_equal(table.sector[sub], attrs["sector"])
    assert np.array_equal(table.wall[sub], np.clip(attrs["base"] * attrs["tint"], 0, 1))
    assert np.array_equal(table.obj[sub], np.clip(attrs["base"] * attrs["jitter"], 0, 1))


def test_views_do_not_depend_on_the_pixel_run_length(monkeypatch):
    """Views are shaded in runs of pixels (cache-sized); every step is per pixel, so any run length gives
    the same bytes, including runs that end mid-row and views where some rays miss (no ceiling)."""
    import simkit.vision.camera as cam

    full = box_room(procedural=True)
    keep = np.ones(len(full.faces), bool)
    keep[2:4] = False  # remove the ceiling
    scene = Scene("open", full.vertices, full.faces[keep], full.face_material[keep], full.material_names,
                  full.face_instance[keep], full.face_color[keep], metadata={"surface_detail": 0.3})
    caster = RayCaster(scene)
    cfg = CameraConfig(width=50, height=36, pitch_deg=30.0)
    pos = np.array([[3.0, 0.5, 3.5], [1.0, 1.0, 1.0]])
    whole = render_views(scene, caster, pos, np.array([0.0, 200.0]), cfg)
    monkeypatch.setattr(cam, "_CHUNK", 97)
    runs = render_views(scene, caster, pos, np.array([0.0, 200.0]), cfg)
    assert (whole.depth == 0).any() and (whole.depth > 0).any()
    for a, b in ((whole.rgb, runs.rgb), (whole.depth, runs.depth), (whole.instance, runs.instance)):
        assert a.tobytes() == b.tobytes()


def test_cast_then_shade_gives_the_bytes_of_render_views(monkeypatch):
    """The render judges a draw on cast-only views (depth, instances) and shades only a kept one: the two
    steps give render_views' bytes, with some rays missing (no ceiling), with surface grain, and with runs
    that end mid-row; a procedural embedded scene too."""
    import simkit.vision.camera as cam
    from simkit.scenes.catalog import load_scene

    full = box_room(procedural=True)
    keep = np.ones(len(full.faces), bool)
    keep[2:4] = False  # remove the ceiling
    scene = Scene("open", full.vertices, full.faces[keep], full.face_material[keep], full.material_names,
                  full.face_instance[keep], full.face_color[keep], metadata={"surface_detail": 0.3})
    cases = [(scene, CameraConfig(width=50, height=36, pitch_deg=30.0),
              np.array([[3.0, 0.5, 3.5], [1.0, 1.0, 1.0]]), np.array([0.0, 200.0]))]
    real = load_scene("proc_042")
    cases.append((real, CameraConfig(), np.repeat(real.vertices.mean(axis=0)[None], 2, axis=0),
                  np.array([12.5, 147.0])))
    for run in (None, 97):
        if run:
            monkeypatch.setattr(cam, "_CHUNK", run)
        for sc, cfg, pos, yaws in cases:
            caster = RayCaster(sc)
            whole = render_views(sc, caster, pos, yaws, cfg)
            if sc is scene:  # some rays miss here: the background path is exercised
                assert (whole.depth == 0).any() and (whole.depth > 0).any()
            hits = [cam.cast_view(sc, caster, p, float(y), cfg) for p, y in zip(pos, yaws, strict=True)]
            for h, d, i in zip(hits, whole.depth, whole.instance, strict=True):  # what the filters read
                assert h.depth.tobytes() == d.tobytes() and h.instance.tobytes() == i.tobytes()
            shaded = cam.shade_views(sc, caster, hits, cfg)
            for a, b in ((whole.rgb, shaded.rgb), (whole.depth, shaded.depth), (whole.instance, shaded.instance)):
                assert a.tobytes() == b.tobytes()


def test_set_verdict_is_view_set_ok():
    """SetVerdict, fed one view at a time, ends with view_set_ok's verdict on every combination of
    depth failures and shared-object failures, and stops at the first failing view."""
    from simkit.vision.filters import SetVerdict

    rng = np.random.default_rng(5)
    cfg = ViewFilterConfig(min_instance_pixels=20, min_shared_instances=2)
    seen_fail = seen_pass = 0
    for _ in range(300):
        v = int(rng.integers(1, 5))
        depths = rng.uniform(0.5, 6.0, size=(v, 12, 16)).astype(np.float32)
        depths *= rng.choice([0.5, 1.0, 1.0], size=(v, 1, 1)).astype(np.float32)  # some views too shallow
        depths[rng.random((v, 12, 16)) < rng.choice([0.0, 0.2], size=(v, 1, 1))] = 0.0  # some with holes
        instances = rng.integers(0, int(rng.integers(2, 8)), size=(v, 12, 16)).astype(np.uint16)
        verdict = SetVerdict(cfg)
        added = 0
        for d, i in zip(depths, instances, strict=True):
            added += 1
            if not verdict.add(d, i):
                break
        assert verdict.ok == view_set_ok(depths, instances, cfg)
        if verdict.ok:
            seen_pass += 1
            assert added == v
        else:
            seen_fail += 1
            assert not view_set_ok(depths[:added], instances[:added], cfg)  # stopped at the first failure
            assert added == 1 or view_set_ok(depths[:added - 1], instances[:added - 1], cfg)
    assert seen_pass > 20 and seen_fail > 20


def test_three_term_dot_products_equal_einsum():
    """The camera and the wall pattern compute 3-term dot products column by column where the code before
    used einsum("ij,ij->i"): on this numpy both are ((a0 b0 + a1 b1) + a2 b2) in float32, bit for bit."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200_000, 3)).astype(np.float32)
    b = rng.normal(size=(200_000, 3)).astype(np.float32)
    cols = a[:, 0] * b[:, 0]
    cols += a[:, 1] * b[:, 1]
    cols += a[:, 2] * b[:, 2]
    assert np.einsum("ij,ij->i", a, b).tobytes() == cols.tobytes()
