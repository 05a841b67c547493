"""Real-mesh loaders: every dataset layout as a tiny fixture room, frames, semantics, views, bad input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from simkit.acoustics.materials import MaterialDatabase
from simkit.conventions import yaw_pitch_to_matrix
from simkit.errors import SimkitError
from simkit.scenes.loaders import (
    find_scenes,
    floor_candidates,
    load_mesh_scene,
    load_split_file,
    up_rotation,
)
from simkit.scenes.raycast import RayCaster
from simkit.vision.camera import CameraConfig, render_view

ROOM = (5.0, 2.7, 4.0)  # x, y (height), z extent of the fixture room, y-up
TABLE = (3.5, 4.5, 0.0, 0.75, 0.5, 1.5)  # x0, x1, y0, y1, z0, z1
CAM = np.array([1.5, 1.5, 2.5])
LABELS = {1: "wall", 2: "floor", 3: "ceiling", 4: "table"}
COLORS = {1: (170, 0, 0), 2: (0, 170, 0), 3: (0, 0, 170), 4: (170, 170, 0)}


@pytest.fixture(scope="module")
def materials() -> MaterialDatabase:
    return MaterialDatabase.embedded()


def room_quads(xa: float = 0.0, lx: float = ROOM[0], table: bool = True) -> list[tuple[np.ndarray, int]]:
    """Quads (4, 3) of the room (x from ``xa`` to ``lx``) and a table, y-up, normals into the air; object ids."""
    _, ly, lz = ROOM
    q = []

    def quad(a, b, c, d, oid):
        q.append((np.array([a, b, c, d], dtype=np.float64), oid))

    quad([xa, 0, 0], [xa, 0, lz], [lx, 0, lz], [lx, 0, 0], 2)  # floor, normal +y
    quad([xa, ly, 0], [lx, ly, 0], [lx, ly, lz], [xa, ly, lz], 3)  # ceiling, normal -y
    quad([xa, 0, 0], [lx, 0, 0], [lx, ly, 0], [xa, ly, 0], 1)  # z = 0
    quad([xa, 0, lz], [xa, ly, lz], [lx, ly, lz], [lx, 0, lz], 1)  # z = lz
    quad([xa, 0, 0], [xa, ly, 0], [xa, ly, lz], [xa, 0, lz], 1)  # x = xa
    quad([lx, 0, 0], [lx, 0, lz], [lx, ly, lz], [lx, ly, 0], 1)  # x = lx
    if not table:
        return q
    x0, x1, y0, y1, z0, z1 = TABLE
    quad([x0, y1, z0], [x0, y1, z1], [x1, y1, z1], [x1, y1, z0], 4)  # top
    quad([x0, y0, z0], [x0, y1, z0], [x1, y1, z0], [x1, y0, z0], 4)
    quad([x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1], 4)
    quad([x0, y0, z0], [x0, y0, z1], [x0, y1, z1], [x0, y1, z0], 4)
    quad([x1, y0, z0], [x1, y1, z0], [x1, y1, z1], [x1, y0, z1], 4)
    return q


def to_file_frame(v: np.ndarray, up: str) -> np.ndarray:
    return v @ up_rotation(up)  # inverse of world = file @ R.T


def write_ply(path: Path, quads, up: str, binary: bool = True, face_prop: str | None = "object_id",
              vertex_color: bool = True) -> None:
    verts = np.concatenate([to_file_frame(v, up) for v, _ in quads]).astype(np.float32)
    cols = np.concatenate([np.tile(COLORS[o], (4, 1)) for _, o in quads]).astype(np.uint8)
    ids = np.array([o for _, o in quads], dtype=np.int32)
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
              f"element vertex {len(verts)}", "property float x", "property float y", "property float z"]
    if vertex_color:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(quads)}", "property list uchar int vertex_indices"]
    if face_prop:
        header.append(f"property int {face_prop}")
    header.append("end_header")
    path.parent.mkdir(parents=True, exist_ok=True)
    if binary:
        vd = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
        vd += [("r", "u1"), ("g", "u1"), ("b", "u1")] if vertex_color else []
        va = np.zeros(len(verts), dtype=vd)
        va["x"], va["y"], va["z"] = verts.T
        if vertex_color:
            va["r"], va["g"], va["b"] = cols.T
        fd = [("n", "u1"), ("idx", "<i4", (4,))] + ([("p", "<i4")] if face_prop else [])
        fa = np.zeros(len(quads), dtype=fd)
        fa["n"] = 4
        fa["idx"] = np.arange(4 * len(quads)).reshape(-1, 4)
        if face_prop:
            fa["p"] = ids
        path.write_bytes(("\n".join(header) + "\n").encode() + va.tobytes() + fa.tobytes())
    else:
        lines = []
        for i, v in enumerate(verts):
            rgb = " " + " ".join(map(str, cols[i])) if vertex_color else ""
            lines.append(" ".join(f"{x:.6f}" for x in v) + rgb)
        for k in range(len(quads)):
            # the table is written as two triangles, exercising mixed polygon sizes
            idx = np.arange(4 * k, 4 * k + 4)
            extra = f" {ids[k]}" if face_prop else ""
            if quads[k][1] == 4:
                lines.append(f"3 {idx[0]} {idx[1]} {idx[2]}{extra}")
                lines.append(f"3 {idx[0]} {idx[2]} {idx[3]}{extra}")
            else:
                lines.append("4 " + " ".join(map(str, idx)) + extra)
        n_faces = sum(2 if o == 4 else 1 for _, o in quads)
        header[header.index(f"element face {len(quads)}")] = f"element face {n_faces}"
        path.write_text("\n".join(header) + "\n" + "\n".join(lines) + "\n")


def quads_mesh(quads, up: str, subdivide: bool = False) -> trimesh.Trimesh:
    """Vertex-coloured trimesh of quads in the file frame (optionally split into 4 triangles each)."""
    verts, faces, cols = [], [], []
    for v, oid in quads:
        v = to_file_frame(v, up)
        base = sum(len(x) for x in verts)
        if subdivide:
            v = np.vstack([v, v.mean(axis=0)])
            faces += [[base + i, base + (i + 1) % 4, base + 4] for i in range(4)]
        else:
            faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
        verts.append(v)
        cols += [COLORS[oid] + (255,)] * len(v)
    return trimesh.Trimesh(np.vstack(verts), np.array(faces), vertex_colors=np.array(cols, np.uint8), process=False)


def textured_wall_mesh(up: str) -> trimesh.Trimesh:
    """The z = 0 wall, textured red (u < 0.5) / blue (u >= 0.5), u along +x."""
    lx, ly, _ = ROOM
    v = to_file_frame(np.array([[0, 0, 0], [lx, 0, 0], [lx, ly, 0], [0, ly, 0]], float), up)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    img = np.zeros((8, 16, 3), np.uint8)
    img[:, :8] = (220, 0, 0)
    img[:, 8:] = (0, 0, 220)
    mat = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(img))
    return trimesh.Trimesh(v, [[0, 1, 2], [0, 2, 3]], visual=trimesh.visual.TextureVisuals(uv=uv, material=mat),
                           process=False)


def write_glb(path: Path, up: str, textured: bool, subdivide: bool = False) -> None:
    quads = room_quads()
    if textured:
        rest = [q for i, q in enumerate(quads) if i != 2]
        scene = trimesh.Scene([textured_wall_mesh(up), quads_mesh(rest, up, subdivide)])
    else:
        scene = trimesh.Scene([quads_mesh(quads, up, subdivide)])
    path.parent.mkdir(parents=True, exist_ok=True)
    scene.export(str(path))


def write_hm3d(root: Path, sid: str = "abcdefghijk") -> Path:
    d = root / "val" / f"00800-{sid}"
    write_glb(d / f"{sid}.glb", "y", textured=True)
    write_glb(d / f"{sid}.semantic.glb", "y", textured=False, subdivide=True)
    lines = ["HM3D Semantic Annotations"]
    lines += [f'{oid},{"".join(f"{c:02X}" for c in COLORS[oid])},"{LABELS[oid]}",0' for oid in LABELS]
    (d / f"{sid}.semantic.txt").write_text("\n".join(lines) + "\n")
    return d / f"{sid}.glb"


def write_replica(root: Path, name: str = "room_0") -> Path:
    p = root / name / "habitat" / "mesh_semantic.ply"
    write_ply(p, room_quads(), "z", binary=True)
    write_ply(root / name / "mesh.ply", room_quads(), "z", binary=True, face_prop=None)
    info = {"classes": [{"id": 10 + k, "name": v} for k, v in LABELS.items()],
            "objects": [{"id": k, "class_id": 10 + k} for k in LABELS]}
    (p.parent / "info_semantic.json").write_text(json.dumps(info))
    return p


def write_house(path: Path) -> None:
    # C category_index mapping_index mapping_name mpcat40_index mpcat40_name ...; O object region category ...
    cats = {0: "wall", 1: "floor", 2: "ceiling", 3: "table"}
    lines = ["ASCII 1.1", "H scn house 0 0 0 0 0 4 4 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"]
    lines += [f"C {i} {i} {n} {i + 1} {n} 0 0 0 0 0" for i, n in cats.items()]
    lines += [f"O {oid - 1} 0 {oid - 1} 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0" for oid in LABELS]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_mp3d(root: Path) -> tuple[Path, Path]:
    hab = root / "scn" / "scn.glb"
    write_glb(hab, "z", textured=True)
    q = [(v, oid - 1) for v, oid in room_quads()]  # MP3D object indices start at 0
    write_ply(hab.with_name("scn_semantic.ply"), [(v, o) for v, o in q], "z", binary=True)
    write_house(hab.with_name("scn.house"))
    raw = root / "raw2" / "house_segmentations" / "raw2.ply"
    write_ply(raw, q, "z", binary=False, face_prop="category_id")
    write_house(raw.with_name("raw2.house"))
    return hab, raw


# COLORS is keyed by object id 1..4; the MP3D fixture writes ids 0..3, so give those colours too
COLORS.update({0: (90, 90, 90)})


def write_gibson(root: Path) -> tuple[Path, Path]:
    glb = root / "Allensville.glb"
    write_glb(glb, "z", textured=False)
    obj_dir = root / "Bowlus"
    obj_dir.mkdir(parents=True)
    quads_mesh(room_quads(), "z").export(str(obj_dir / "mesh_z_up.obj"))
    return glb, obj_dir / "mesh_z_up.obj"


def look_at_table_yaw(cam: np.ndarray) -> float:
    x0, x1, _, _, z0, z1 = TABLE
    d = np.array([(x0 + x1) / 2, 0, (z0 + z1) / 2]) - cam
    return float(np.rad2deg(np.arctan2(-d[0], -d[2])))


def check_room(scene, materials, with_semantics: bool) -> None:
    lo, hi = scene.bounds
    np.testing.assert_allclose(lo, [0, 0, 0], atol=1e-4)
    np.testing.assert_allclose(hi, ROOM, atol=1e-4)  # y-up in metres whatever the file's frame
    cy = scene.vertices[scene.faces].mean(axis=1)[:, 1]
    floor = np.isclose(cy, 0.0, atol=1e-4)
    floor_mat = {scene.material_names[i] for i in scene.face_material[floor]}
    if with_semantics:
        assert floor_mat == {materials.for_label("floor").name}
        table_inst = {int(i) for i in scene.face_instance[(cy > 0.05) & (cy < 0.8)]} - {0}
        assert len(table_inst) == 1
        assert "table" in scene.instance_labels[table_inst.pop()]
        assert scene.face_instance[floor].max() == 0
    else:
        assert floor_mat == {materials.default.name}
        assert scene.face_instance.max() == 0
    cam_cfg = CameraConfig(width=96, height=72)
    view = render_view(scene, RayCaster(scene), CAM, look_at_table_yaw(CAM), cam_cfg)
    assert (view.depth > 0).all() and view.depth.max() < np.linalg.norm(ROOM)
    if with_semantics:
        assert (view.instance > 0).mean() > 0.02  # the table is in view and labelled


def test_hm3d_textured_glb_with_semantic_mesh(tmp_path, materials):
    path = write_hm3d(tmp_path / "hm3d")
    assert find_scenes(tmp_path / "hm3d", "hm3d") == {"abcdefghijk": path}
    scene = load_mesh_scene(path, "hm3d", materials)
    assert scene.scene_id == "abcdefghijk"
    check_room(scene, materials, with_semantics=True)
    assert len(scene.metadata["textures"]) == 1 and (scene.metadata["face_texture"] >= 0).sum() == 2


def test_texture_is_sampled_where_the_uvs_put_it(tmp_path, materials):
    path = tmp_path / "mesh" / "tex.glb"
    write_glb(path, "y", textured=True)
    scene = load_mesh_scene(path, "mesh", materials)
    cfg = CameraConfig(width=64, height=48, pitch_deg=0.0)
    view = render_view(scene, RayCaster(scene), [2.5, 1.35, 3.0], 0.0, cfg)  # facing the z = 0 wall
    left, right = view.rgb[24, 20].astype(int), view.rgb[24, 44].astype(int)
    assert left[0] > 2 * left[2] and right[2] > 2 * right[0]  # red left of x = 2.5, blue right of it


def test_replica_semantic_ply_zup_quads(tmp_path, materials):
    p = write_replica(tmp_path / "replica")
    assert find_scenes(tmp_path / "replica", "replica") == {"room_0": p}
    scene = load_mesh_scene(p, "replica", materials)
    check_room(scene, materials, with_semantics=True)
    assert scene.metadata["vertex_color"].shape == (len(scene.vertices), 3)
    plain = load_mesh_scene(tmp_path / "replica" / "room_0" / "mesh.ply", "replica", materials)
    check_room(plain, materials, with_semantics=False)


def test_mp3d_habitat_and_raw_layouts(tmp_path, materials):
    hab, raw = write_mp3d(tmp_path / "mp3d")
    assert find_scenes(tmp_path / "mp3d", "mp3d") == {"raw2": raw, "scn": hab}
    check_room(load_mesh_scene(hab, "mp3d", materials), materials, with_semantics=True)
    check_room(load_mesh_scene(raw, "mp3d", materials), materials, with_semantics=True)


def test_gibson_glb_and_obj(tmp_path, materials):
    glb, obj = write_gibson(tmp_path / "gibson")
    assert find_scenes(tmp_path / "gibson", "gibson") == {"Allensville": glb, "Bowlus": obj}
    for p in (glb, obj):
        check_room(load_mesh_scene(p, "gibson", materials), materials, with_semantics=False)


def test_up_axis_override_and_category_materials(tmp_path, materials):
    p = write_replica(tmp_path / "replica")
    wrong = load_mesh_scene(p, "replica", materials, up_axis="y")
    assert np.ptp(wrong.bounds[:, 1]) == pytest.approx(ROOM[2], abs=1e-4)  # the room lies on its side
    scaled = load_mesh_scene(p, "replica", materials, unit_scale=0.5)
    np.testing.assert_allclose(scaled.bounds[1], np.array(ROOM) * 0.5, atol=1e-4)
    cfg = tmp_path / "mats.json"
    cfg.write_text(json.dumps({"materials": [{"name": "carpet", "labels": ["floor"]}]}))
    s = load_mesh_scene(p, "replica", materials, category_materials=cfg)
    cy = s.vertices[s.faces].mean(axis=1)[:, 1]
    assert {s.material_names[i] for i in s.face_material[np.isclose(cy, 0)]} == {"carpet"}
    with pytest.raises(SimkitError, match="unknown material"):
        load_mesh_scene(p, "replica", materials, category_materials={"floor": "unobtainium"})
    with pytest.raises(SimkitError, match="unknown up axis"):
        load_mesh_scene(p, "replica", materials, up_axis="w")


def test_floor_candidates_reachable_and_clear(tmp_path, materials):
    scene = load_mesh_scene(write_replica(tmp_path / "r"), "replica", materials)
    pts = floor_candidates(scene, RayCaster(scene), cell=0.25, wall_clearance=0.5)
    assert len(pts) > 100
    np.testing.assert_allclose(pts[:, 1], 0.0, atol=1e-3)
    lx, _, lz = ROOM
    assert (pts[:, 0] >= 0.5).all() and (pts[:, 0] <= lx - 0.5).all()
    assert (pts[:, 2] >= 0.5).all() and (pts[:, 2] <= lz - 0.5).all()
    x0, x1, _, _, z0, z1 = TABLE
    dx = np.maximum(np.maximum(x0 - pts[:, 0], pts[:, 0] - x1), 0.0)
    dz = np.maximum(np.maximum(z0 - pts[:, 2], pts[:, 2] - z1), 0.0)
    # 16 horizontal rays resolve a box corner to within 0.5 m * (1 - cos 11.25 deg)
    assert np.hypot(dx, dz).min() >= 0.5 * np.cos(np.deg2rad(11.25)) - 1e-6
    with pytest.raises(SimkitError, match="no free floor"):
        floor_candidates(scene, RayCaster(scene), sensor_height=3.0)


def test_floor_candidates_keep_the_largest_connected_region(materials):
    # two rooms side by side separated by a wall: the bigger one wins
    from simkit.scenes.scene import Scene

    quads = room_quads(0.0, 5.0, table=False) + room_quads(5.2, 8.2, table=False)
    v = np.concatenate([q for q, _ in quads])
    f = np.concatenate([[[4 * i, 4 * i + 1, 4 * i + 2], [4 * i, 4 * i + 2, 4 * i + 3]] for i in range(len(quads))])
    scene = Scene("two", v, f, np.zeros(len(f), int), ["default"], np.zeros(len(f), int),
                  np.full((len(f), 3), 128, np.uint8), floor_y=None)
    pts = floor_candidates(scene, RayCaster(scene))
    assert pts[:, 0].max() < 5.0


def test_bad_meshes_raise_simkit_error_naming_the_file(tmp_path, materials):
    empty = tmp_path / "empty.glb"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.glb"
    garbage.write_bytes(b"not a glb at all" * 10)
    noface = tmp_path / "noface.ply"
    noface.write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                      "property float z\nend_header\n0 0 0\n")
    for p in (empty, garbage, noface, tmp_path / "missing.ply"):
        with pytest.raises(SimkitError, match=p.name):
            load_mesh_scene(p, "mesh", materials)
    with pytest.raises(SimkitError, match="unknown scene format"):
        load_mesh_scene(garbage, "scannet", materials)


def _rewrite_glb(src: Path, dst: Path, edit) -> None:
    data = src.read_bytes()
    json_len = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20:20 + json_len])
    rest = bytearray(data[20 + json_len:])
    edit(doc, rest)
    blob = json.dumps(doc).encode()
    blob += b" " * (-len(blob) % 4)
    body = struct.pack("<II", len(blob), 0x4E4F534A) + blob + bytes(rest)
    dst.write_bytes(struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body)


def test_texture_failures(tmp_path, materials):
    good = tmp_path / "good.glb"
    write_glb(good, "y", textured=True)

    def corrupt_png(doc, rest):
        bv = doc["bufferViews"][doc["images"][0]["bufferView"]]
        start = 8 + bv.get("byteOffset", 0)  # 8 = BIN chunk header
        rest[start + 8:start + bv["byteLength"]] = b"\x00" * (bv["byteLength"] - 8)

    def basis(doc, rest):
        doc["textures"][0] = {"extensions": {"KHR_texture_basisu": {"source": 0}}}

    broken, basis_glb = tmp_path / "broken.glb", tmp_path / "x.basis.glb"
    _rewrite_glb(good, broken, corrupt_png)
    _rewrite_glb(good, basis_glb, basis)
    with pytest.raises(SimkitError, match="broken.glb.*texture image 0"):
        load_mesh_scene(broken, "mesh", materials)
    with pytest.raises(SimkitError, match="Basis"):
        load_mesh_scene(basis_glb, "hm3d", materials)
    no_tex = load_mesh_scene(broken, "mesh", materials, load_textures=False)
    assert "textures" not in no_tex.metadata and len(no_tex.faces) == 22


def test_find_scenes_errors_and_basis_preference(tmp_path):
    with pytest.raises(SimkitError, match="not found"):
        find_scenes(tmp_path / "nope", "hm3d")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SimkitError, match="no replica scenes"):
        find_scenes(tmp_path / "empty", "replica")
    d = tmp_path / "hm3d" / "00001-aaaaaaaaaaa"
    d.mkdir(parents=True)
    (d / "aaaaaaaaaaa.basis.glb").write_bytes(b"x")
    assert find_scenes(tmp_path / "hm3d", "hm3d")["aaaaaaaaaaa"].name == "aaaaaaaaaaa.basis.glb"
    (d / "aaaaaaaaaaa.glb").write_bytes(b"x")
    assert find_scenes(tmp_path / "hm3d", "hm3d")["aaaaaaaaaaa"].name == "aaaaaaaaaaa.glb"


def test_load_split_file_formats(tmp_path):
    js = tmp_path / "s.json"
    js.write_text(json.dumps({"train": ["a", "b"], "test": ["c"]}))
    assert load_split_file(js) == {"train": ["a", "b"], "val": [], "test": ["c"]}
    d = tmp_path / "lists"
    d.mkdir()
    (d / "train.txt").write_text("a\n# comment\n\nb  \n")
    (d / "val.txt").write_text("c\n")
    assert load_split_file(d) == {"train": ["a", "b"], "val": ["c"], "test": []}
    assert load_split_file(d / "val.txt") == {"train": [], "val": ["c"], "test": []}
    (d / "test.txt").write_text("a\n")
    with pytest.raises(SimkitError, match="both train and test"):
        load_split_file(d)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"training": ["a"]}))
    with pytest.raises(SimkitError, match="bad.json"):
        load_split_file(bad)
    with pytest.raises(SimkitError, match="not found"):
        load_split_file(tmp_path / "none.json")


def test_camera_pose_matches_conventions():
    # guard for the fixture helper: yaw toward the table puts the table centre straight ahead
    yaw = look_at_table_yaw(CAM)
    fwd = yaw_pitch_to_matrix(yaw) @ np.array([0.0, 0.0, -1.0])
    x0, x1, _, _, z0, z1 = TABLE
    d = np.array([(x0 + x1) / 2, 0, (z0 + z1) / 2]) - CAM
    d[1] = 0
    np.testing.assert_allclose(fwd, d / np.linalg.norm(d), atol=1e-9)
