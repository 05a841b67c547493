"""Procedural scenes, shipped layouts, split file, scene catalog and ray casting."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_support import SIMKIT, one_error_line

from simkit.acoustics.rt60 import eyring_rt60_1k
from simkit.errors import SimkitError
from simkit.resources import scenes_dir
from simkit.scenes import catalog, generator
from simkit.scenes.boxmesh import MATERIAL_NAMES, build_scene
from simkit.scenes.catalog import (
    embedded_scene_ids,
    load_scene,
    load_splits,
    make_splits,
    resolve_scenes,
    split_of,
)
from simkit.scenes.generator import scene_seed
from simkit.scenes.layout_io import layout_json
from simkit.scenes.raycast import RayCaster


def generate_layout(scene_id: str) -> dict:
    """The generator as the shipped layouts were made: steered by the embedded database's Eyring RT60."""
    return generator.generate_layout(scene_id, eyring_rt60_1k)


def generate_scene(scene_id: str):
    return generator.generate_scene(scene_id, eyring_rt60_1k)


IDS = embedded_scene_ids()


@pytest.fixture(scope="module")
def all_scenes():
    return {sid: load_scene(sid) for sid in IDS}


def _box_layout(furniture: list[dict] | None = None) -> dict:
    """One 4 x 6 x 2.5 m room centred on the origin, optionally with furniture boxes."""
    surf = {k: {"material": "plaster", "color": [200, 200, 200]} for k in ("floor", "walls", "ceiling")}
    obstacles = []
    for k, f in enumerate(furniture or [], start=1):
        obstacles.append({"label": "table", "room": 0, "material": "furniture", "color": [120, 80, 40],
                          "instance": k, **f})
    room = {"cell": [0, 0], "min": [-2.0, -3.0], "max": [2.0, 3.0], "height": 2.5, "kind": "living",
            "surfaces": surf}
    return {"scene_id": "box", "rooms": [room], "doors": [], "obstacles": obstacles, "patches": []}


def _air_volume(layout: dict) -> float:
    vol = sum((r["max"][0] - r["min"][0]) * (r["max"][1] - r["min"][1]) * r["height"]
              for r in layout["rooms"])
    vol += sum(float(np.prod(np.subtract(d["max"], d["min"]))) for d in layout["doors"])
    vol -= sum(float(np.prod(np.subtract(o["max"], o["min"]))) for o in layout["obstacles"])
    return vol


def test_embedded_ids():
    assert len(IDS) == 100
    assert IDS[0] == "proc_000" and IDS[-1] == "proc_099"
    assert len(set(IDS)) == 100 and sorted(IDS) == IDS


def test_seed_is_a_stable_hash():
    # sha256-derived: identical in every interpreter run (Python's hash() is salted per process)
    assert scene_seed("proc_000") == scene_seed("proc_000")
    assert scene_seed("proc_000") != scene_seed("proc_001")
    assert scene_seed("proc_000") == 0xB2C4331845CBF336


def test_generation_is_deterministic():
    a, b = generate_scene("proc_007"), generate_scene("proc_007")
    for name in ("vertices", "faces", "face_material", "face_instance", "face_color"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.instance_labels == b.instance_labels
    c = generate_scene("proc_008")
    assert c.vertices.shape != a.vertices.shape or not np.array_equal(c.vertices, a.vertices)


def test_unknown_procedural_id():
    with pytest.raises(SimkitError, match="proc_100"):
        generate_layout("proc_100")


def test_shipped_layouts_equal_generator():
    folder = scenes_dir() / "procedural"
    shipped = sorted(p.stem for p in folder.glob("*.json"))
    assert shipped == IDS
    for sid in IDS:
        text = (folder / f"{sid}.json").read_text(encoding="utf-8")
        assert text == layout_json(generate_layout(sid)), f"{sid}: regenerate scenes/procedural"
        assert json.loads(text) == generate_layout(sid)


def test_load_scene_builds_from_shipped_json():
    a, b = load_scene("proc_042"), generate_scene("proc_042")
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)
    assert a.metadata["layout"] == b.metadata["layout"]


def test_mesh_is_closed_air_boundary(all_scenes):
    for sid, s in all_scenes.items():
        layout = s.metadata["layout"]
        tri = s.vertices[s.faces]
        # normals point into the air, so the divergence-theorem volume is minus the air volume
        signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
        assert -signed == pytest.approx(_air_volume(layout), abs=1e-6), sid
        assert s.bounds[0, 1] == 0.0 and s.floor_y == 0.0
        assert s.bounds[1, 1] == pytest.approx(max(r["height"] for r in layout["rooms"]))
        assert 12 <= len(s.faces) < 1000, sid


def test_rays_from_inside_never_escape():
    s = load_scene("proc_013")
    rc = RayCaster(s)
    rng = np.random.default_rng(0)
    rects = np.asarray(s.metadata["free_floor"])
    pick = rects[rng.integers(len(rects), size=300)]
    pts = np.stack([rng.uniform(pick[:, 0], pick[:, 2]), rng.uniform(0.1, 2.3, 300),
                    rng.uniform(pick[:, 1], pick[:, 3])], axis=1)
    dirs = rng.normal(size=(300, 3))
    o = np.repeat(pts, 50, axis=0)
    d = np.tile(dirs[:50], (300, 1))
    dist, face = rc.first_hit(o, d)
    assert np.all(face >= 0) and np.all(np.isfinite(dist))
    assert np.all(rc.hit_front(d, face))


def test_layout_constraints(all_scenes):
    n_rooms = set()
    heights = []
    rt = []
    for sid, s in all_scenes.items():
        layout = s.metadata["layout"]
        rooms = layout["rooms"]
        n_rooms.add(len(rooms))
        for r in rooms:
            w, d = r["max"][0] - r["min"][0], r["max"][1] - r["min"][1]
            assert 2.5 <= w <= 7.0 and 2.5 <= d <= 7.0, sid
            assert 2.4 <= r["height"] <= 3.5, sid
            heights.append(r["height"])
            rt.append(r["rt60_eyring_1k"])
            for surf in r["surfaces"].values():
                assert surf["material"] in MATERIAL_NAMES
        # every room reachable through doorways
        reach, frontier = {0}, [0]
        while frontier:
            i = frontier.pop()
            for door in layout["doors"]:
                a, b = door["rooms"]
                for x, y in ((a, b), (b, a)):
                    if x == i and y not in reach:
                        reach.add(y)
                        frontier.append(y)
        assert reach == set(range(len(rooms))), sid
        for door in layout["doors"]:
            assert 1.8 <= door["max"][1] <= 2.15, sid
            assert min(np.subtract(door["max"], door["min"])[[0, 2]]) <= 0.2  # a passage through one wall
        rects = []
        for o in layout["obstacles"]:
            r = rooms[o["room"]]
            assert r["min"][0] <= o["min"][0] < o["max"][0] <= r["max"][0], sid
            assert r["min"][1] <= o["min"][2] < o["max"][2] <= r["max"][1], sid
            assert o["min"][1] == 0.0 and 0.3 < o["max"][1] < r["height"], sid
            rects.append([o["min"][0], o["min"][2], o["max"][0], o["max"][2]])
            # nothing stands in a doorway's approach
            for door in layout["doors"]:
                assert not generator._overlap(rects[-1], [door["min"][0] - 0.3, door["min"][2] - 0.3,
                                                           door["max"][0] + 0.3, door["max"][2] + 0.3]), sid
        for i in range(len(rects)):
            for j in range(i):
                assert not generator._overlap(rects[i], rects[j]), sid
        labels = s.instance_labels
        assert labels[0] == "structure"
        present = set(np.unique(s.face_instance).tolist())
        for o in layout["obstacles"]:
            assert labels[o["instance"]] == o["label"] and o["instance"] in present, sid
    assert n_rooms == {1, 2, 3, 4}
    assert min(heights) < 2.6 and max(heights) > 3.3
    # rooms range from soft to hard
    assert min(rt) < 0.2 and max(rt) > 0.8


def test_material_names_match_database():
    acoustics = pytest.importorskip("simkit.acoustics.materials")
    db = acoustics.MaterialDatabase.embedded()
    assert all(name in db for name in MATERIAL_NAMES)


def test_splits_file():
    splits = load_splits()
    assert splits == make_splits()
    assert [len(splits[k]) for k in ("train", "val", "test")] == [81, 9, 10]
    all_ids = splits["train"] + splits["val"] + splits["test"]
    assert sorted(all_ids) == IDS and len(set(all_ids)) == 100
    assert split_of(splits["val"][0]) == "val"
    assert split_of(splits["test"][3]) == "test"
    with pytest.raises(SimkitError, match="nope"):
        split_of("nope")


def test_load_splits_errors(tmp_path: Path):
    bad = tmp_path / "splits.json"
    with pytest.raises(SimkitError, match="not found"):
        load_splits(bad)
    bad.write_text("{not json")
    with pytest.raises(SimkitError, match="cannot read"):
        load_splits(bad)
    bad.write_text(json.dumps({"train": ["a"], "val": []}))
    with pytest.raises(SimkitError, match="train, val, test"):
        load_splits(bad)
    bad.write_text(json.dumps({"train": ["a"], "val": ["a"], "test": []}))
    with pytest.raises(SimkitError, match="both"):
        load_splits(bad)


def test_resolve_scenes():
    splits = load_splits()
    assert resolve_scenes(None) == IDS
    assert resolve_scenes("all") == IDS
    ten = resolve_scenes("10")
    assert len(ten) == 10
    per = {k: len(set(ten) & set(v)) for k, v in splits.items()}
    assert per == {"train": 8, "val": 1, "test": 1}
    three = resolve_scenes(" 3 ")
    assert {split_of(s) for s in three} == {"train", "val", "test"}
    assert set(three) <= set(ten) <= set(resolve_scenes("50"))
    assert resolve_scenes("10") == ten
    assert resolve_scenes("100") == IDS
    assert resolve_scenes("proc_005, proc_001,proc_005") == ["proc_005", "proc_001"]
    for bad, match in (("2", "at least 3"), ("0", "at least 3"), ("-4", "at least 3"), ("101", "only 100"),
                       ("proc_001,kitchen_9", "kitchen_9"), (",", "no scene")):
        with pytest.raises(SimkitError, match=match):
            resolve_scenes(bad)


def test_scenes_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    layout = generate_layout("proc_003")
    layout["rooms"][0]["height"] = 3.123
    (tmp_path / "procedural").mkdir()
    (tmp_path / "procedural" / "proc_003.json").write_text(layout_json(layout))
    shutil.copy(scenes_dir() / "splits.json", tmp_path / "splits.json")
    monkeypatch.setenv("SIMKIT_SCENES_DIR", str(tmp_path))
    assert scenes_dir() == tmp_path
    assert load_scene("proc_003").bounds[1, 1] >= 3.123
    with pytest.raises(SimkitError, match="proc_004"):
        load_scene("proc_004")  # not in the override folder
    with pytest.raises(SimkitError, match="unknown scene"):
        load_scene("nope")


def test_regeneration_entry_point(tmp_path: Path):
    paths = generator.write_layouts(tmp_path / "p", eyring_rt60_1k, ["proc_000", "proc_001"])
    assert [p.name for p in paths] == ["proc_000.json", "proc_001.json"]
    assert paths[0].read_text() == (scenes_dir() / "procedural" / "proc_000.json").read_text()
    with pytest.raises(SimkitError, match="proc_100"):
        generator.write_layouts(tmp_path / "q", eyring_rt60_1k, ["proc_002", "proc_100"])
    assert not (tmp_path / "q").exists()  # an unknown id is refused before anything is written


def test_simkit_scenes_generate_writes_layouts_and_splits(tmp_path: Path):
    r = subprocess.run([SIMKIT, "scenes", "generate", "--write", str(tmp_path / "p"), "--scenes", "proc_005",
                        "--splits", str(tmp_path / "s.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "wrote 1 layouts" in r.stdout
    assert (tmp_path / "p" / "proc_005.json").read_text() == (scenes_dir() / "procedural" / "proc_005.json").read_text()
    assert load_splits(tmp_path / "s.json") == load_splits()
    r = subprocess.run([SIMKIT, "scenes", "generate"], capture_output=True, text=True)
    assert r.returncode != 0
    one_error_line(r, "nothing to do", "--write")
    r = subprocess.run([SIMKIT, "scenes", "generate", "--write", str(tmp_path / "x"), "--scenes", "kitchen"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and not (tmp_path / "x").exists()
    one_error_line(r, "kitchen")


def test_scene_source_registry():
    assert "procedural" in catalog.SCENE_SOURCES
    assert catalog.known_scene_ids() == IDS


def test_raycast_box_distances():
    s = build_scene(_box_layout())
    rc = RayCaster(s)
    o = np.array([0.5, 1.5, -1.0])
    dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1], [0, 1, 0], [0, -1, 0], [3, 0, 4]], float)
    dist, face = rc.first_hit(o, dirs)
    # walls at x = +-2, z = +-3, floor 0, ceiling 2.5; the last (unnormalised) ray has unit direction
    # (0.6, 0, 0.8): it reaches x = 2 after 1.5 / 0.6 = 2.5 m, before z = 3 (4 / 0.8 = 5 m)
    expected = [1.5, 2.5, 4.0, 2.0, 1.0, 1.5, 2.5]
    np.testing.assert_allclose(dist, expected, rtol=1e-6, atol=1e-5)
    assert dist.dtype == np.float32 and face.dtype == np.int64
    # hit normals face the ray (into the room)
    np.testing.assert_allclose(rc.face_normals[face[0]], [-1, 0, 0], atol=1e-12)
    assert np.all(rc.hit_front(dirs, face))
    # misses: outside looking away, and a ray shorter than the wall distance
    d2, f2 = rc.first_hit(np.array([[10.0, 1.0, 0.0], [0.0, 1.0, 0.0]]), np.array([[1.0, 0, 0], [1.0, 0, 0]]),
                          max_distance=np.array([100.0, 1.0]))
    assert np.all(np.isinf(d2)) and np.all(f2 == -1)
    assert rc.first_hit(np.zeros((0, 3)), np.zeros((0, 3)))[0].shape == (0,)


def test_raycast_visibility_and_enclosure():
    # a 1 m cube of furniture centred at (0, 0.5, 0)
    s = build_scene(_box_layout([{"min": [-0.5, 0.0, -0.5], "max": [0.5, 1.0, 0.5]}]))
    rc = RayCaster(s)
    a = np.array([[-1.5, 0.5, 0.0], [-1.5, 1.5, 0.0], [-1.5, 0.5, 0.0], [0.0, 0.5, -2.0]])
    b = np.array([[1.5, 0.5, 0.0], [1.5, 1.5, 0.0], [-0.5, 0.5, 0.0], [0.0, 0.5, -2.0]])
    # through the cube: blocked; above it: clear; ending on its face: clear; zero length: clear
    np.testing.assert_array_equal(rc.visible(a, b), [False, True, True, True])
    # one point broadcast against many
    assert rc.visible(np.array([0.0, 2.0, 0.0]), a).all()
    inside = np.array([[0.0, 1.5, 1.5], [0.0, 0.5, 0.0], [5.0, 1.0, 0.0], [1.9, 2.4, 2.9]])
    np.testing.assert_array_equal(rc.enclosed(inside), [True, False, False, True])
    assert s.instance_labels == ["structure", "table"]
    assert set(np.unique(s.face_instance)) == {0, 1}
    # the cube shows 5 faces (the bottom rests on the floor), each 2 triangles
    assert (s.face_instance == 1).sum() == 10
    gap = rc.clearance(np.array([[-1.5, 0.5, 0.0]]), np.array([[1.0, 0, 0], [0, 0, 1.0]]), 5.0)
    np.testing.assert_allclose(gap, [1.0], atol=1e-5)
