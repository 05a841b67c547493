"""View-set sampling (HM3D-SS protocol) and its labels."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from simkit import conventions
from simkit.errors import SimkitError
from simkit.render.config import SamplingConfig
from simkit.render.sampling import (
    KNEE_HEIGHT,
    SOURCE_MIN_SEPARATION,
    SOURCE_SURFACE_CLEARANCE,
    ViewSet,
    check_sampling_config,
    layout_clearance,
    sample_view_set,
    sample_yaws,
)
from simkit.scenes.catalog import load_scene
from simkit.scenes.raycast import RayCaster, fibonacci_directions

SCENES = ["proc_000", "proc_011", "proc_027", "proc_058", "proc_093"]


def _pairwise_abs(yaws: np.ndarray) -> np.ndarray:
    return np.array([abs(conventions.wrap_deg(b - a)) for a, b in itertools.combinations(yaws, 2)])


def _check_set(scene, rc: RayCaster, vs: ViewSet, cfg: SamplingConfig, exact: bool = True) -> None:
    v, s = cfg.views, cfg.sources
    assert vs.positions.shape == (v, 3) and vs.yaws_deg.shape == (v,)
    assert vs.quats.shape == (v, 4) and vs.source_positions.shape == (s, 3)
    np.testing.assert_allclose(vs.quats, conventions.yaw_to_quat(vs.yaws_deg))
    # sensors 1.5 m above the (flat) floor
    np.testing.assert_allclose(vs.positions[:, 1], scene.floor_y + cfg.sensor_height)
    diffs = _pairwise_abs(vs.yaws_deg)
    assert np.all(diffs >= cfg.min_yaw_diff - 1e-9) and np.all(diffs <= cfg.max_yaw_diff + 1e-9)
    assert np.all((vs.yaws_deg > -180.0) & (vs.yaws_deg <= 180.0))
    # camera clearance from every wall and obstacle, at sensor and knee height: exact with a layout, and
    # within the angular resolution of the sampler's ray ring without one
    if exact:
        assert np.all(layout_clearance(scene.metadata["layout"], vs.positions) >= cfg.wall_clearance)
    ring = fibonacci_directions(360, horizontal=True)
    for p in vs.positions:
        for h in (cfg.sensor_height, KNEE_HEIGHT):
            q = p.copy()
            q[1] = scene.floor_y + h
            d, _ = rc.first_hit(q, ring)
            assert d.min() >= cfg.wall_clearance * (1.0 - 1e-5 if exact else 0.9)
    # camera stands on free floor
    rects = np.asarray(scene.metadata["free_floor"])
    for p in vs.positions:
        on = (rects[:, 0] <= p[0]) & (p[0] <= rects[:, 2]) & (rects[:, 1] <= p[2]) & (p[2] <= rects[:, 3])
        assert on.any()
    src = vs.source_positions
    dist = np.linalg.norm(src[None, :, :] - vs.positions[:, None, :], axis=2)
    assert np.all(dist >= cfg.source_min_distance) and np.all(dist <= cfg.source_max_distance)
    h = src[:, 1] - scene.floor_y
    assert np.all(h >= cfg.source_height_min) and np.all(h <= cfg.source_height_max)
    lo, hi = scene.bounds
    assert np.all(src >= lo) and np.all(src <= hi)
    assert rc.enclosed(src).all() and rc.enclosed(vs.positions).all()
    assert np.all(rc.clearance(src, fibonacci_directions(14), 1.0) >= SOURCE_SURFACE_CLEARANCE)
    # not inside any furniture box
    for o in scene.metadata["layout"]["obstacles"]:
        inside = np.all((src >= np.asarray(o["min"])) & (src <= np.asarray(o["max"])), axis=1)
        assert not inside.any()
    # every camera sees every source
    a = np.repeat(vs.positions, s, axis=0)
    b = np.tile(src, (v, 1))
    assert rc.visible(a, b).all()
    for i, j in itertools.combinations(range(s), 2):
        assert np.linalg.norm(src[i] - src[j]) >= SOURCE_MIN_SEPARATION


@pytest.mark.parametrize("sid", SCENES)
def test_sampling_constraints(sid: str):
    scene = load_scene(sid)
    rc = RayCaster(scene)
    cfg = SamplingConfig()
    rng = np.random.default_rng(11)
    for _ in range(4):
        vs = sample_view_set(scene, cfg, rng, rc)
        _check_set(scene, rc, vs, cfg)
        # no translation: one camera position, V yaws
        assert np.ptp(vs.positions, axis=0).max() == 0.0


def test_sampling_with_translation_and_other_counts():
    scene = load_scene("proc_031")
    rc = RayCaster(scene)
    cfg = SamplingConfig(views=6, sources=5, max_translation=0.3, min_yaw_diff=5.0, max_yaw_diff=60.0,
                         source_max_distance=4.0, source_min_distance=1.0)
    rng = np.random.default_rng(5)
    for _ in range(3):
        vs = sample_view_set(scene, cfg, rng, rc)
        _check_set(scene, rc, vs, cfg)
        spread = np.linalg.norm(vs.positions[:, None] - vs.positions[None], axis=2)
        assert spread.max() <= 2 * cfg.max_translation + 1e-9 and spread.max() > 0


def test_sampling_is_deterministic():
    scene = load_scene("proc_021")
    cfg = SamplingConfig()
    a = sample_view_set(scene, cfg, np.random.default_rng(3))
    b = sample_view_set(scene, cfg, np.random.default_rng(3), RayCaster(scene))
    c = sample_view_set(scene, cfg, np.random.default_rng(4))
    for f in dataclasses.fields(ViewSet):
        np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name))
    assert not np.array_equal(a.source_positions, c.source_positions)


def test_sampling_without_layout_uses_ray_casts():
    scene = load_scene("proc_064")
    bare = dataclasses.replace(scene, metadata={})
    rc = RayCaster(bare)
    cfg = SamplingConfig()
    rng = np.random.default_rng(2)
    for _ in range(3):
        vs = sample_view_set(bare, cfg, rng, rc)
        _check_set(scene, rc, vs, cfg, exact=False)


def test_impossible_settings_name_the_scene():
    scene = load_scene("proc_010")
    with pytest.raises(SimkitError, match="proc_010"):
        sample_view_set(scene, SamplingConfig(wall_clearance=8.0, max_tries=40), np.random.default_rng(0))
    with pytest.raises(SimkitError, match="proc_010"):
        # every ceiling is below 3.5 m: sources this high would be outside the apartment
        sample_view_set(scene, SamplingConfig(source_height_min=3.6, source_height_max=3.7, max_tries=20),
                        np.random.default_rng(0))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"views": 0}, "views"),
        ({"sources": -1}, "sources"),
        ({"min_yaw_diff": 50.0, "max_yaw_diff": 40.0}, "yaw"),
        ({"max_yaw_diff": 200.0}, "yaw"),
        ({"views": 5, "min_yaw_diff": 30.0, "max_yaw_diff": 90.0}, "5 views"),
        ({"source_min_distance": 3.0}, "source_min_distance"),
        ({"source_height_min": 2.0, "source_height_max": 1.0}, "source_height"),
        ({"sensor_height": 0.2}, "sensor_height"),
        ({"wall_clearance": -1.0}, "wall_clearance"),
        ({"max_tries": 0}, "max_tries"),
    ],
)
def test_config_validation(change: dict, match: str):
    with pytest.raises(SimkitError, match=match):
        check_sampling_config(dataclasses.replace(SamplingConfig(), **change))


def test_sample_yaws():
    rng = np.random.default_rng(0)
    for n, lo, hi in [(4, 10.0, 90.0), (2, 10.0, 90.0), (3, 45.0, 90.0), (5, 20.0, 180.0), (10, 0.0, 30.0)]:
        for _ in range(200):
            y = sample_yaws(rng, n, lo, hi)
            d = _pairwise_abs(y)
            assert y.shape == (n,)
            assert d.min() >= lo - 1e-9 and d.max() <= hi + 1e-9
    assert sample_yaws(rng, 1, 10.0, 90.0).shape == (1,)
    # spans are spread, not all at the extremes
    spans = [np.ptp(np.sort(_pairwise_abs(sample_yaws(rng, 4, 10.0, 90.0)))) for _ in range(300)]
    assert np.std(spans) > 5.0


def test_labels_follow_conventions():
    pos = np.array([[0.0, 1.5, 0.0], [0.0, 1.5, 0.0], [1.0, 1.5, -1.0]])
    yaws = np.array([0.0, 90.0, 0.0])
    src = np.array([[-2.0, 1.5, 0.0], [2.0, 1.5, 0.0], [0.0, 1.5, -2.0], [0.0, 3.5, 0.0]])
    lab = ViewSet.from_yaws(pos, yaws, src).labels()
    # view 0 faces -z: left source at +90, right at -90, front at 0, straight above at elevation 90
    np.testing.assert_allclose(lab.azimuth_deg[0, :3], [90.0, -90.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(lab.elevation_deg[0], [0.0, 0.0, 0.0, 90.0], atol=1e-9)
    np.testing.assert_allclose(lab.distance_m[0], [2.0, 2.0, 2.0, 2.0])
    # view 1 turned left by 90: the former front source is now on the right, the left one in front
    np.testing.assert_allclose(lab.azimuth_deg[1, :3], [0.0, 180.0, -90.0], atol=1e-9)
    # a pure rotation moves every azimuth by minus the relative yaw
    rotated = conventions.wrap_deg(lab.azimuth_deg[0, :3] - lab.rel_yaw_deg[0, 1])
    np.testing.assert_allclose(lab.azimuth_deg[1, :3], rotated, atol=1e-9)
    assert lab.rel_yaw_deg[0, 1] == 90.0 and lab.rel_yaw_deg[1, 0] == -90.0
    np.testing.assert_allclose(np.diag(lab.rel_yaw_deg), 0.0)
    # view 2 is 1 m right and 1 m ahead of view 0; seen from view 1 (facing -x) it is 1 m right, 1 m behind
    np.testing.assert_allclose(lab.rel_translation[0, 2], [1.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(lab.rel_translation[1, 2], [1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(lab.rel_translation[2, 0], [-1.0, 0.0, 1.0], atol=1e-12)
    ds = lab.as_datasets()
    assert ds["labels/azimuth_deg"].shape == (3, 4) and ds["labels/azimuth_deg"].dtype == np.float32
    assert ds["pairs/rel_yaw_deg"].shape == (3, 3) and ds["pairs/rel_translation"].shape == (3, 3, 3)
    assert set(ds) == {"labels/azimuth_deg", "labels/elevation_deg", "labels/distance_m", "pairs/rel_yaw_deg",
                       "pairs/rel_translation"}


def test_sampled_labels_consistent():
    scene = load_scene("proc_044")
    vs = sample_view_set(scene, SamplingConfig(), np.random.default_rng(8))
    lab = vs.labels()
    for i, j in itertools.permutations(range(vs.n_views), 2):
        np.testing.assert_allclose(conventions.wrap_deg(lab.azimuth_deg[i] - lab.rel_yaw_deg[i, j]),
                                   lab.azimuth_deg[j], atol=1e-7)
    np.testing.assert_allclose(lab.distance_m, np.linalg.norm(
        vs.source_positions[None] - vs.positions[:, None], axis=2))
