"""Real scene meshes (HM3D, Replica, Matterport3D, Gibson, any glTF/PLY/OBJ) as simkit :class:`Scene` objects.

Frames and units. Every dataset here is in metres; they differ in the up axis of the file. simkit's world
is y-up (:mod:`simkit.conventions`), so a z-up file is rotated by -90 deg about x, ``(x, y, z) -> (x, z, -y)``
(the rotation habitat-sim applies, so positions agree with habitat's). Defaults (override with ``up_axis``):

============  =====================================================  =======
format        files                                                  up axis
============  =====================================================  =======
``hm3d``      ``<NNNNN-id>/<id>.glb`` (+ ``.semantic.glb/.txt``)     y (glTF; HM3D stage configs say up = +y)
``replica``   ``<scene>/habitat/mesh_semantic.ply`` or ``mesh.ply``  z (Replica ships z-up, like Blender)
``mp3d``      ``<scene>/<scene>.glb`` (habitat) or                   z (habitat's MP3D glb/semantic ply are
              ``<scene>/house_segmentations/<scene>.ply`` (raw)        z-up; habitat rotates them to -y gravity)
``gibson``    ``<scene>.glb`` (habitat) or ``<scene>/mesh_z_up.obj``  z
``mesh``      any ``*.glb|*.gltf|*.ply|*.obj`` under the directory    y
============  =====================================================  =======

Semantics (object instances and acoustic materials), where the dataset provides them:

* HM3D: ``<id>.semantic.txt`` lines ``object_id,HEXCOLOUR,"category",region`` and ``<id>.semantic.glb``
  whose faces carry those colours (vertex colours, or a texture sampled at the face's UV centroid);
* Replica: ``habitat/mesh_semantic.ply`` face property ``object_id`` and ``habitat/info_semantic.json``
  (``objects[].id/class_name``, or ``classes`` + ``id_to_label``);
* MP3D: face property ``object_id`` (habitat ``<scene>_semantic.ply``) or ``category_id`` (raw
  house_segmentations ply) resolved through the ``.house`` file's ``O``/``C`` records (mpcat40 names).

When the semantic mesh is a different mesh from the render mesh (HM3D, habitat MP3D), each render face takes
the label of the semantic face nearest to its centroid. The category becomes the face's acoustic material
through ``materials.for_label`` unless ``category_materials`` maps it (a ``{category: material}`` JSON or
dict, or a SoundSpaces material config ``{"materials": [{"name", "labels": [...]}]}``); unlabelled faces
get the database default. Objects whose category is structural (wall, floor, ceiling, ...) are instance 0.

Colour for the camera goes to ``Scene.metadata`` (see :mod:`simkit.vision.camera`): ``textures``,
``face_texture``, ``face_uv`` for glTF/OBJ base-colour textures, ``vertex_color`` for coloured PLY/glTF, and
``procedural_texture = False``. Real meshes have no flat floor: ``floor_y`` is None; use
:func:`floor_candidates` for camera and source placement.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import SimkitError
from simkit.scenes.scene import Scene

log = logging.getLogger(__name__)

FORMATS = ("hm3d", "replica", "mp3d", "gibson", "mesh")
MESH_SUFFIXES = (".glb", ".gltf", ".ply", ".obj")
DEFAULT_UP = {"hm3d": "y", "replica": "z", "mp3d": "z", "gibson": "z", "mesh": "y"}
# Categories that are building structure rather than objects: instance 0.
STRUCTURE_LABELS = frozenset({
    "", "wall", "walls", "floor", "ceiling", "void", "unlabeled", "unlabelled", "unknown", "undefined",
    "structure", "background", "misc", "objects", "remove",
})
# Rotation R (new = old @ R.T) taking each file up axis to +y, all proper rotations.
_UP_ROTATIONS = {
    "y": np.eye(3),
    "-y": np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]),
    "z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "x": np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),
    "-x": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
}
_GRAY = np.array([180, 180, 180], dtype=np.uint8)


# --------------------------------------------------------------------------------------------- raw meshes
@dataclass
class _Raw:
    """Geometry in the file's own frame, with everything the camera and the semantics need."""

    vertices: np.ndarray
    faces: np.ndarray
    face_color: np.ndarray
    vertex_color: np.ndarray | None = None
    face_uv: np.ndarray | None = None
    face_texture: np.ndarray | None = None
    textures: list[np.ndarray] = field(default_factory=list)
    face_props: dict[str, np.ndarray] = field(default_factory=dict)


def _fail(path: Path, what: str) -> SimkitError:
    return SimkitError(f"mesh {path}: {what}")


def _image_array(image: Any) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _colors(data: dict[str, np.ndarray], n: int) -> np.ndarray | None:
    for keys in (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue")):
        if all(k in data for k in keys):
            c = np.stack([np.asarray(data[k]) for k in keys], axis=-1)
            if np.issubdtype(c.dtype, np.floating) and c.max() <= 1.0:
                c = c * 255.0
            c = np.clip(np.rint(c), 0, 255).astype(np.uint8)
            return c if len(c) == n else None
    return None


def _column(a: Any) -> Any:
    """ASCII PLY properties come back as (n, 1) columns; flatten those to (n,)."""
    arr = np.asarray(a)
    return arr.reshape(-1) if arr.dtype != object and arr.ndim == 2 and arr.shape[1] == 1 else a


def _fan(polys: list[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate polygons as fans; return triangles and the source polygon of each triangle."""
    if isinstance(polys, np.ndarray) and polys.dtype != object and polys.ndim == 2:
        groups = {polys.shape[1]: (np.arange(len(polys)), polys)}
    else:
        lengths = np.array([len(p) for p in polys])
        groups = {}
        for k in np.unique(lengths):
            idx = np.flatnonzero(lengths == k)
            groups[int(k)] = (idx, np.stack([np.asarray(polys[i]) for i in idx]))
    tris, owner = [], []
    for k, (idx, arr) in groups.items():
        if k < 3:
            continue
        for j in range(1, k - 1):
            tris.append(np.stack([arr[:, 0], arr[:, j], arr[:, j + 1]], axis=-1))
            owner.append(idx)
    if not tris:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    t = np.concatenate(tris).astype(np.int64)
    o = np.concatenate(owner)
    order = np.argsort(o, kind="stable")  # keep polygons in file order
    return t[order], o[order]


def _read_ply(path: Path) -> _Raw:
    import trimesh

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = trimesh.load(str(path), file_type="ply", process=False)
    except Exception as e:  # trimesh raises many types for corrupt files
        raise _fail(path, f"cannot be read as PLY ({type(e).__name__}: {e})") from None
    raw = getattr(loaded, "metadata", {}).get("_ply_raw")
    if not raw or "vertex" not in raw or not raw["vertex"].get("length"):
        raise _fail(path, "has no vertices")
    vdata = raw["vertex"]["data"]
    vdata = {k: vdata[k] for k in vdata.dtype.names} if isinstance(vdata, np.ndarray) else vdata
    vdata = {k: _column(v) for k, v in vdata.items()}
    vertices = np.stack([np.asarray(vdata[k], dtype=np.float64) for k in "xyz"], axis=-1)
    face_el = raw.get("face")
    if not face_el or not face_el.get("length"):
        raise _fail(path, "has no faces")
    fdata = face_el["data"]
    if isinstance(fdata, np.ndarray) and fdata.dtype.names:
        fdata = {k: (fdata[k]["f1"] if fdata[k].dtype.names else fdata[k]) for k in fdata.dtype.names}
    elif isinstance(fdata, np.ndarray):
        fdata = {"vertex_indices": fdata}
    key = next((k for k in ("vertex_indices", "vertex_index") if k in fdata), None)
    fdata = {k: (v if k == key else _column(v)) for k, v in fdata.items()}
    if key is None:
        raise _fail(path, "faces have no vertex_indices property")
    faces, owner = _fan(fdata[key])
    if len(faces) == 0:
        raise _fail(path, "has no triangles")
    props = {k: np.asarray(v)[owner] for k, v in fdata.items() if k != key and np.ndim(v) == 1
             and np.asarray(v).dtype != object}
    vcol = _colors(vdata, len(vertices))
    fcol = _colors(fdata, len(fdata[key]))
    if fcol is not None:
        face_color = fcol[owner]
    elif vcol is not None:
        face_color = np.rint(vcol[faces].astype(np.float64).mean(axis=1)).astype(np.uint8)
    else:
        face_color = np.broadcast_to(_GRAY, (len(faces), 3)).copy()
    return _Raw(vertices=vertices, faces=faces, face_color=face_color, vertex_color=vcol, face_props=props)


def _glb_json(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    if path.suffix.lower() == ".gltf":
        return json.loads(data.decode("utf-8")), b""
    if len(data) < 20 or data[:4] != b"glTF":
        raise _fail(path, "is not a binary glTF file (bad magic)")
    length = struct.unpack_from("<I", data, 8)[0]
    json_len, json_type = struct.unpack_from("<II", data, 12)
    if json_type != 0x4E4F534A or 20 + json_len > min(length, len(data)):
        raise _fail(path, "has a corrupt glTF JSON chunk")
    doc = json.loads(data[20:20 + json_len].decode("utf-8"))
    off = 20 + json_len
    binary = b""
    if off + 8 <= len(data):
        bin_len, _bin_type = struct.unpack_from("<II", data, off)
        binary = data[off + 8:off + 8 + bin_len]
    return doc, binary


def _check_gltf_textures(path: Path) -> None:
    """Every base-colour texture image must decode; Basis/KTX2 (HM3D ``.basis.glb``) cannot."""
    from PIL import Image

    try:
        doc, binary = _glb_json(path)
    except (ValueError, UnicodeDecodeError, struct.error) as e:
        raise _fail(path, f"has a corrupt glTF header ({e})") from None
    textures = doc.get("textures", [])
    images = doc.get("images", [])
    used = set()
    for mat in doc.get("materials", []):
        tex = mat.get("pbrMetallicRoughness", {}).get("baseColorTexture")
        if tex is not None:
            used.add(int(tex.get("index", -1)))
    for ti in sorted(used):
        if not 0 <= ti < len(textures):
            raise _fail(path, f"material references missing texture {ti}")
        tex = textures[ti]
        src = tex.get("source")
        if src is None:
            ext = tex.get("extensions", {})
            if "KHR_texture_basisu" in ext:
                raise _fail(path, f"texture {ti} is Basis Universal (KTX2), which cannot be decoded here; use the "
                                  "non-basis .glb download or load_textures=False")
            raise _fail(path, f"texture {ti} has no image source ({', '.join(ext) or 'no extension'})")
        img = images[src] if 0 <= src < len(images) else None
        if img is None:
            raise _fail(path, f"texture {ti} references missing image {src}")
        try:
            if "bufferView" in img:
                bv = doc["bufferViews"][img["bufferView"]]
                start = bv.get("byteOffset", 0)
                blob = binary[start:start + bv["byteLength"]]
            elif str(img.get("uri", "")).startswith("data:"):
                import base64

                blob = base64.b64decode(img["uri"].split(",", 1)[1])
            else:
                blob = (path.parent / img["uri"]).read_bytes()
            with Image.open(io.BytesIO(blob)) as im:
                im.load()
        except Exception as e:
            mime = img.get("mimeType", img.get("uri", "?"))
            raise _fail(path, f"texture image {src} ({mime}) failed to load ({type(e).__name__}: {e})") from None


def _check_obj_textures(path: Path) -> None:
    from PIL import Image

    text = path.read_text(errors="replace")
    for mtl_name in re.findall(r"^\s*mtllib\s+(.+?)\s*$", text, flags=re.M):
        mtl = path.parent / mtl_name
        if not mtl.is_file():
            raise _fail(path, f"material library {mtl_name} not found")
        for tex in re.findall(r"^\s*map_Kd\s+(?:-\S+\s+\S+\s+)*(.+?)\s*$", mtl.read_text(errors="replace"),
                              flags=re.M):
            try:
                with Image.open(mtl.parent / tex) as im:
                    im.load()
            except Exception as e:
                raise _fail(path, f"texture {tex} failed to load ({type(e).__name__})") from None


def _read_trimesh(path: Path, load_textures: bool) -> _Raw:
    import trimesh

    suffix = path.suffix.lower()
    if load_textures:
        if suffix in (".glb", ".gltf"):
            _check_gltf_textures(path)
        elif suffix == ".obj":
            _check_obj_textures(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = trimesh.load(str(path), process=False, force="scene",
                                  skip_materials=not load_textures)
        geoms = loaded.dump(concatenate=False)
    except SimkitError:
        raise
    except Exception as e:
        raise _fail(path, f"cannot be read ({type(e).__name__}: {e})") from None
    verts, faces, fcols, vcols, uvs, ftex = [], [], [], [], [], []
    textures: list[np.ndarray] = []
    tex_ids: dict[int, int] = {}
    any_vcol = any_tex = False
    offset = 0
    for g in geoms:
        if not isinstance(g, trimesh.Trimesh) or len(g.faces) == 0:
            continue
        v = np.asarray(g.vertices, dtype=np.float64)
        f = np.asarray(g.faces, dtype=np.int64)
        m = len(f)
        vis = g.visual
        vcol = None
        uv_face = np.zeros((m, 3, 2), np.float32)
        tex_face = np.full(m, -1, np.int32)
        fcol = np.broadcast_to(_GRAY, (m, 3)).copy()
        if vis.kind == "texture":
            mat = vis.material
            image = getattr(mat, "baseColorTexture", None) or getattr(mat, "image", None)
            factor = getattr(mat, "baseColorFactor", None)
            main = np.asarray(mat.main_color, dtype=np.float64)[:3]
            uv = getattr(vis, "uv", None)
            if image is not None and uv is not None and len(uv) == len(v):
                img = _image_array(image)
                if factor is not None:
                    fac = np.asarray(factor, dtype=np.float64)[:3]
                    fac = fac / 255.0 if fac.max() > 1.0 else fac
                    img = np.clip(np.rint(img * fac), 0, 255).astype(np.uint8)
                key = id(image)
                if key not in tex_ids:
                    tex_ids[key] = len(textures)
                    textures.append(img)
                uv_face = np.asarray(uv, dtype=np.float32)[f]
                tex_face[:] = tex_ids[key]
                any_tex = True
                from simkit.vision.textures import sample_texture

                fcol = np.clip(np.rint(sample_texture(img, uv_face.mean(axis=1)) * 255), 0, 255).astype(np.uint8)
            else:
                fcol[:] = np.clip(np.rint(main), 0, 255).astype(np.uint8)
        elif vis.kind == "vertex":
            vcol = np.asarray(vis.vertex_colors, dtype=np.uint8)[:, :3]
            fcol = np.rint(vcol[f].astype(np.float64).mean(axis=1)).astype(np.uint8)
            any_vcol = True
        elif vis.kind == "face":
            fcol = np.asarray(vis.face_colors, dtype=np.uint8)[:, :3]
        verts.append(v)
        faces.append(f + offset)
        fcols.append(fcol)
        vcols.append(vcol)
        uvs.append(uv_face)
        ftex.append(tex_face)
        offset += len(v)
    if not faces:
        raise _fail(path, "contains no triangles")
    vertices = np.concatenate(verts)
    vertex_color = None
    if any_vcol:
        # geometries without vertex colours keep their face colour at every corner
        starts = np.cumsum([0] + [len(x) for x in verts[:-1]])
        vertex_color = np.concatenate([
            vc if vc is not None else _corner_fill(len(v), f - o, fc)
            for vc, v, f, fc, o in zip(vcols, verts, faces, fcols, starts, strict=True)
        ])
    return _Raw(
        vertices=vertices, faces=np.concatenate(faces), face_color=np.concatenate(fcols),
        vertex_color=vertex_color,
        face_uv=np.concatenate(uvs) if any_tex else None,
        face_texture=np.concatenate(ftex) if any_tex else None,
        textures=textures,
    )


def _corner_fill(n_vertices: int, faces: np.ndarray, face_color: np.ndarray) -> np.ndarray:
    out = np.broadcast_to(_GRAY, (n_vertices, 3)).copy()
    out[faces.ravel()] = np.repeat(face_color, 3, axis=0)
    return out


def _read_raw(path: Path, load_textures: bool) -> _Raw:
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise _fail(path, f"unsupported mesh type {suffix!r} (expected {', '.join(MESH_SUFFIXES)})")
    if not path.is_file():
        raise SimkitError(f"mesh {path} not found")
    if path.stat().st_size == 0:
        raise _fail(path, "is empty")
    raw = _read_ply(path) if suffix == ".ply" else _read_trimesh(path, load_textures)
    if not np.all(np.isfinite(raw.vertices)):
        raise _fail(path, "has non-finite vertex coordinates")
    if raw.faces.min() < 0 or raw.faces.max() >= len(raw.vertices):
        raise _fail(path, "has faces indexing missing vertices")
    return raw


# ---------------------------------------------------------------------------------------------- semantics
def _nearest_faces(src: _Raw, dst: _Raw, tol: float = 0.05) -> np.ndarray:
    """For each face of ``dst``, the ``src`` face under its centroid.

    A short ray through the centroid along the face normal (both ways, ``tol`` m) finds the coincident
    ``src`` surface exactly even when the two meshes are triangulated differently; faces with no ``src``
    surface that close fall back to the ``src`` face with the nearest centroid.
    """
    from scipy.spatial import cKDTree

    from simkit.scenes.raycast import RayCaster

    m = len(src.faces)
    probe = Scene("semantic", src.vertices, src.faces, np.zeros(m, np.int64), ["default"],
                  np.zeros(m, np.int64), np.zeros((m, 3), np.uint8))
    caster = RayCaster(probe)
    tri = dst.vertices[dst.faces]
    c = tri.mean(axis=1)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    best_d = np.full(len(c), np.inf)
    best_f = np.full(len(c), -1, dtype=np.int64)
    for sign in (1.0, -1.0):
        d, f = caster.first_hit(c + sign * n * tol, -sign * n, 2 * tol)
        better = (f >= 0) & (np.abs(d - tol) < best_d)
        best_d[better] = np.abs(d[better] - tol)
        best_f[better] = f[better]
    miss = best_f < 0
    if miss.any():
        _d, idx = cKDTree(src.vertices[src.faces].mean(axis=1)).query(c[miss])
        best_f[miss] = idx
    return best_f


def _hm3d_semantics(path: Path, raw: _Raw, load_textures: bool) -> tuple[np.ndarray, dict[int, str]] | None:
    stem = re.sub(r"(\.basis)?\.glb$", "", path.name)
    txt = path.with_name(f"{stem}.semantic.txt")
    sem = path.with_name(f"{stem}.semantic.glb")
    if not txt.is_file() or not sem.is_file():
        return None
    objects: dict[str, tuple[int, str]] = {}
    for row in csv.reader(txt.read_text(encoding="utf-8", errors="replace").splitlines()):
        if len(row) < 3 or not row[0].strip().isdigit():
            continue  # header line ("HM3D Semantic Annotations") or blank
        objects[row[1].strip().upper().lstrip("#")] = (int(row[0]), row[2].strip())
    if not objects:
        raise SimkitError(f"HM3D semantic file {txt} lists no objects")
    sraw = _read_raw(sem, load_textures=True)
    if sraw.face_texture is not None and sraw.textures:
        # colour of the texel at each face's UV centroid (semantic textures are flat per object)
        cols = np.zeros((len(sraw.faces), 3), np.uint8)
        tid = sraw.face_texture
        # nearest texel, not bilinear: blending would invent colours between neighbouring objects
        for t in np.unique(tid[tid >= 0]):
            sel = tid == t
            img = sraw.textures[int(t)]
            uv = sraw.face_uv[sel].mean(axis=1)
            h, w = img.shape[:2]
            x = np.clip((np.mod(uv[:, 0], 1.0) * w).astype(int), 0, w - 1)
            y = np.clip(((1.0 - np.mod(uv[:, 1], 1.0)) * h).astype(int), 0, h - 1)
            cols[sel] = img[y, x]
    elif sraw.vertex_color is not None:
        cols = sraw.vertex_color[sraw.faces[:, 0]]
    else:
        cols = sraw.face_color
    hexes = np.array([f"{r:02X}{g:02X}{b:02X}" for r, g, b in cols])
    obj = np.array([objects.get(h, (0, ""))[0] for h in hexes], dtype=np.int64)
    labels = {oid: cat for oid, cat in objects.values()}
    same = len(sraw.faces) == len(raw.faces) and np.allclose(sraw.vertices[sraw.faces], raw.vertices[raw.faces])
    face_obj = obj if same else obj[_nearest_faces(sraw, raw)]
    return face_obj, labels


def _replica_semantics(path: Path, raw: _Raw) -> tuple[np.ndarray, dict[int, str]] | None:
    if "object_id" not in raw.face_props:
        return None
    info = path.with_name("info_semantic.json")
    labels: dict[int, str] = {}
    if info.is_file():
        try:
            data = json.loads(info.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise SimkitError(f"Replica semantic file {info} is not valid JSON ({e})") from None
        classes = {int(c["id"]): str(c["name"]) for c in data.get("classes", []) if "id" in c and "name" in c}
        for o in data.get("objects", []):
            if "id" not in o:
                continue
            name = o.get("class_name") or classes.get(int(o.get("class_id", -1)), "")
            labels[int(o["id"])] = str(name)
        for oid, cid in enumerate(data.get("id_to_label", [])):
            if oid not in labels and int(cid) in classes:
                labels[oid] = classes[int(cid)]
    return raw.face_props["object_id"].astype(np.int64), labels


def _read_house(path: Path) -> tuple[dict[int, str], dict[int, int]]:
    """MP3D ``.house``: category index -> name (mpcat40, else raw) and object index -> category index."""
    cats: dict[int, str] = {}
    objs: dict[int, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        tok = line.split()
        try:
            if tok and tok[0] == "C" and len(tok) >= 6:
                raw_name, mpcat = tok[3].replace("#", " "), tok[5].replace("#", " ")
                cats[int(tok[1])] = mpcat if mpcat and mpcat != "unlabeled" else raw_name
            elif tok and tok[0] == "O" and len(tok) >= 4:
                objs[int(tok[1])] = int(tok[3])
        except ValueError:
            raise SimkitError(f"MP3D house file {path}: malformed line {line.strip()[:60]!r}") from None
    return cats, objs


def _mp3d_semantics(path: Path, raw: _Raw, scene_name: str) -> tuple[np.ndarray, dict[int, str]] | None:
    house = next((p for p in (path.with_name(f"{scene_name}.house"),
                              path.parent / "house_segmentations" / f"{scene_name}.house") if p.is_file()), None)
    if "object_id" in raw.face_props or "category_id" in raw.face_props:
        sem_raw, sem_path = raw, path
    else:
        sem_path = path.with_name(f"{scene_name}_semantic.ply")
        if not sem_path.is_file():
            return None
        sem_raw = _read_raw(sem_path, load_textures=False)
    cats, objs = _read_house(house) if house is not None else ({}, {})
    if "object_id" in sem_raw.face_props:
        obj = sem_raw.face_props["object_id"].astype(np.int64)
        labels = {o: cats.get(c, "") for o, c in objs.items()}
        obj = np.where(obj < 0, 0, obj + 1)  # MP3D object indices start at 0; simkit reserves 0
        labels = {o + 1: name for o, name in labels.items()}
    elif "category_id" in sem_raw.face_props:
        # raw house_segmentations: categories only; each category becomes one pseudo-object
        cid = sem_raw.face_props["category_id"].astype(np.int64)
        obj = np.where(cid < 0, 0, cid + 1)
        labels = {c + 1: name for c, name in cats.items()}
    else:
        raise SimkitError(f"MP3D semantic mesh {sem_path} has no object_id or category_id face property")
    if sem_raw is not raw:
        obj = obj[_nearest_faces(sem_raw, raw)]
    return obj, labels


# ---------------------------------------------------------------------------------------------- materials
def _category_map(spec: dict[str, str] | str | Path | None) -> dict[str, str]:
    if spec is None:
        return {}
    if isinstance(spec, dict):
        data: Any = spec
        src = "<dict>"
    else:
        p = Path(spec)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SimkitError(f"category material file {p} not found") from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SimkitError(f"category material file {p} is not valid JSON ({e})") from None
        src = str(p)
    out: dict[str, str] = {}
    if isinstance(data, dict) and isinstance(data.get("materials"), list):
        for m in data["materials"]:
            if isinstance(m, dict) and isinstance(m.get("name"), str):
                for lab in m.get("labels", []):
                    out.setdefault(str(lab).strip().lower(), m["name"])
    elif isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        out = {k.strip().lower(): v for k, v in data.items()}
    else:
        raise SimkitError(
            f"category material file {src} must be {{category: material}} or {{'materials': [{{name, labels}}]}}"
        )
    return out


def _materials_for(labels: list[str], materials: Any, catmap: dict[str, str], path: Path) -> list[str]:
    names = []
    for lab in labels:
        mapped = catmap.get(lab.strip().lower())
        if mapped is not None:
            if mapped not in materials:
                raise SimkitError(f"mesh {path}: category {lab!r} maps to unknown material {mapped!r}")
            names.append(materials.lookup(mapped).name)
        else:
            names.append(materials.for_label(lab).name)
    return names


# ------------------------------------------------------------------------------------------------ loading
def up_rotation(up_axis: str) -> np.ndarray:
    """Rotation R (world = file @ R.T) that takes a file's ``up_axis`` (x, y, z, -x, -y, -z) to +y."""
    key = up_axis.strip().lower().lstrip("+")
    if key not in _UP_ROTATIONS:
        raise SimkitError(f"unknown up axis {up_axis!r} (use one of x, y, z, -x, -y, -z)")
    return _UP_ROTATIONS[key]


def _scene_name(path: Path, fmt: str) -> str:
    name = path.name
    for suffix in (".basis.glb", ".semantic.glb", ".glb", ".gltf", ".ply", ".obj"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    if fmt == "replica" or name in ("mesh", "mesh_semantic", "mesh_z_up"):
        # Replica and raw Gibson name the file generically; the scene is the folder
        d = path.parent.parent if path.parent.name in ("habitat", "house_segmentations") else path.parent
        return d.name
    if fmt == "mp3d" and path.parent.name == "house_segmentations":
        return path.parent.parent.name
    return name


def load_mesh_scene(
    path: str | Path,
    fmt: str,
    materials: Any,
    scene_id: str | None = None,
    up_axis: str | None = None,
    unit_scale: float = 1.0,
    category_materials: dict[str, str] | str | Path | None = None,
    load_textures: bool = True,
) -> Scene:
    """Load a real mesh as a y-up, metre-scale :class:`Scene` with materials and instances.

    ``materials`` is a :class:`simkit.acoustics.materials.MaterialDatabase`; ``up_axis`` overrides the
    format's default (module table); ``unit_scale`` multiplies coordinates into metres;
    ``load_textures=False`` keeps only base colours (e.g. for Basis-compressed HM3D files). Bad input
    (missing, empty or corrupt mesh, a texture that does not decode, bad semantic files) raises a
    one-line SimkitError naming the file.
    """
    if fmt not in FORMATS:
        raise SimkitError(f"unknown scene format {fmt!r} (use one of {', '.join(FORMATS)})")
    p = Path(path)
    if not (isinstance(unit_scale, (int, float)) and np.isfinite(unit_scale) and unit_scale > 0):
        raise SimkitError(f"unit_scale must be a positive number, got {unit_scale!r}")
    rot = up_rotation(up_axis or DEFAULT_UP[fmt])
    name = _scene_name(p, fmt)
    sid = scene_id or name
    raw = _read_raw(p, load_textures)

    sem: tuple[np.ndarray, dict[int, str]] | None = None
    if fmt == "hm3d" and p.suffix.lower() == ".glb":
        sem = _hm3d_semantics(p, raw, load_textures)
    elif fmt == "replica":
        sem = _replica_semantics(p, raw)
    elif fmt == "mp3d":
        sem = _mp3d_semantics(p, raw, name)

    m = len(raw.faces)
    face_label = [""] * m
    face_instance = np.zeros(m, dtype=np.int64)
    instance_labels = ["structure"]
    if sem is not None:
        obj, labels = sem
        uniq, inverse = np.unique(obj, return_inverse=True)
        inst_of: dict[int, int] = {}
        for oid in uniq.tolist():
            cat = labels.get(int(oid), "")
            if int(oid) > 0 and cat.strip().lower() not in STRUCTURE_LABELS:
                inst_of[int(oid)] = len(instance_labels)
                instance_labels.append(f"{cat or 'object'}#{int(oid)}")
        face_instance = np.array([inst_of.get(int(o), 0) for o in uniq], dtype=np.int64)[inverse]
        cats = [labels.get(int(o), "") for o in uniq]
        face_label = [cats[i] for i in inverse]

    uniq_labels = sorted(set(face_label))
    mat_names = _materials_for(uniq_labels, materials, _category_map(category_materials), p)
    material_names = sorted(set(mat_names))
    label_to_mat = {lab: material_names.index(mn) for lab, mn in zip(uniq_labels, mat_names, strict=True)}
    face_material = np.array([label_to_mat[lab] for lab in face_label], dtype=np.int64)

    vertices = (raw.vertices @ rot.T) * float(unit_scale)
    metadata: dict[str, Any] = {
        "source": fmt, "source_path": str(p), "up_axis": up_axis or DEFAULT_UP[fmt],
        "unit_scale": float(unit_scale), "procedural_texture": False,
    }
    if raw.face_texture is not None and load_textures:
        metadata.update(textures=raw.textures, face_texture=raw.face_texture, face_uv=raw.face_uv)
    if raw.vertex_color is not None:
        metadata["vertex_color"] = raw.vertex_color
    return Scene(
        scene_id=sid, vertices=vertices, faces=raw.faces, face_material=face_material,
        material_names=material_names, face_instance=face_instance, face_color=raw.face_color,
        instance_labels=instance_labels, floor_y=None, metadata=metadata,
    )


# ------------------------------------------------------------------------------------------ scene listing
def find_scenes(scene_dir: str | Path, fmt: str) -> dict[str, Path]:
    """Scene id -> mesh path for every scene of dataset layout ``fmt`` under ``scene_dir`` (sorted by id).

    HM3D ids are the 11-character scene hash (``TEEsavR23oF`` from ``00800-TEEsavR23oF``), preferring the
    plain ``.glb`` over ``.basis.glb``; Replica and raw MP3D/Gibson ids are scene folder names; habitat
    MP3D/Gibson and ``mesh`` ids are file stems.
    """
    if fmt not in FORMATS:
        raise SimkitError(f"unknown scene format {fmt!r} (use one of {', '.join(FORMATS)})")
    root = Path(scene_dir)
    if not root.is_dir():
        raise SimkitError(f"scene directory {root} not found")
    found: dict[str, Path] = {}

    def add(sid: str, path: Path, prefer: bool = False) -> None:
        if sid in found and found[sid] != path and not prefer:
            if found[sid].name.endswith(".basis.glb") and not path.name.endswith(".basis.glb"):
                found[sid] = path
                return
            if path.name.endswith(".basis.glb"):
                return
            raise SimkitError(f"scene id {sid!r} is ambiguous under {root}: {found[sid]} and {path}")
        found[sid] = path

    if fmt == "hm3d":
        for p in sorted(root.rglob("*.glb")):
            if p.name.endswith(".semantic.glb"):
                continue
            add(_scene_name(p, fmt), p)
    elif fmt == "replica":
        for p in sorted(root.rglob("mesh.ply")) + sorted(root.rglob("habitat/mesh_semantic.ply")):
            # the semantic mesh carries object ids, so it wins over the plain mesh
            add(_scene_name(p, fmt), p, prefer=p.name == "mesh_semantic.ply")
    elif fmt == "mp3d":
        for p in sorted(root.rglob("house_segmentations/*.ply")):
            add(_scene_name(p, fmt), p)
        for p in sorted(root.rglob("*.glb")):
            if p.stem == p.parent.name:  # habitat layout <scene>/<scene>.glb (textured) wins
                add(p.stem, p, prefer=True)
    elif fmt == "gibson":
        for p in sorted(root.rglob("mesh_z_up.obj")):
            add(p.parent.name, p)
        for p in sorted(root.rglob("*.glb")):
            add(p.stem, p, prefer=True)
    else:
        for p in sorted(q for q in root.rglob("*") if q.suffix.lower() in MESH_SUFFIXES and q.is_file()):
            if p.name.endswith(".semantic.glb") or p.name.endswith("_semantic.ply"):
                continue
            add(_scene_name(p, fmt), p)
    if not found:
        raise SimkitError(f"no {fmt} scenes found under {root}")
    return dict(sorted(found.items()))


def load_split_file(path: str | Path) -> dict[str, list[str]]:
    """Read a user split: a JSON ``{"train": [...], "val": [...], "test": [...]}`` (missing splits are
    empty), a folder holding ``train.txt``/``val.txt``/``test.txt``, or one such text file (one scene id
    per line, ``#`` comments). Scene ids must be unique across splits."""
    p = Path(path)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}

    def read_txt(f: Path) -> list[str]:
        lines = [ln.split("#", 1)[0].strip() for ln in f.read_text(encoding="utf-8").splitlines()]
        return [ln for ln in lines if ln]

    if p.is_dir():
        files = [p / f"{s}.txt" for s in splits if (p / f"{s}.txt").is_file()]
        if not files:
            raise SimkitError(f"split folder {p} holds none of train.txt, val.txt, test.txt")
        for f in files:
            splits[f.stem] = read_txt(f)
    elif p.is_file() and p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SimkitError(f"split file {p} is not valid JSON ({e})") from None
        if isinstance(data, dict) and isinstance(data.get("splits"), dict):
            data = data["splits"]
        if not isinstance(data, dict) or not data or set(data) - set(splits):
            raise SimkitError(f"split file {p} must map some of train, val, test to lists of scene ids")
        for split, ids in data.items():
            if not isinstance(ids, list) or not all(isinstance(s, str) and s.strip() for s in ids):
                raise SimkitError(f"split file {p}: {split!r} must be a list of scene ids")
            splits[split] = [s.strip() for s in ids]
    elif p.is_file():
        if p.stem not in splits:
            raise SimkitError(f"split list {p} must be named train.txt, val.txt or test.txt")
        splits[p.stem] = read_txt(p)
    else:
        raise SimkitError(f"split file {p} not found")
    seen: dict[str, str] = {}
    for split, ids in splits.items():
        for sid in ids:
            if sid in seen:
                raise SimkitError(f"split file {p}: scene {sid} is listed in both {seen[sid]} and {split}")
            seen[sid] = split
    if not seen:
        raise SimkitError(f"split file {p} lists no scenes")
    return splits


# ------------------------------------------------------------------------------------------- free floor
def floor_candidates(
    scene: Scene,
    caster: Any,
    cell: float = 0.25,
    sensor_height: float = 1.5,
    head_room: float | None = None,
    wall_clearance: float = 0.5,
    max_step: float = 0.25,
    max_layers: int = 4,
) -> np.ndarray:
    """Reachable free-floor points (K, 3) of a mesh without a procedural layout, on a ``cell`` grid.

    Each grid column is cast downwards through up to ``max_layers`` surfaces (multi-storey houses); a hit
    is floor when its surface is within 25 deg of horizontal, a ceiling lies above it at least
    ``head_room`` away (default ``sensor_height + 0.2``; rays escaping to the sky mean outdoors), and
    horizontal rays at 0.3 m and at ``sensor_height`` find nothing closer than ``wall_clearance``. Free
    cells are linked to their 4-neighbours when floor heights differ by at most ``max_step``; the largest
    linked region is returned (deterministic order). ``caster`` is a
    :class:`simkit.scenes.raycast.RayCaster` of ``scene``. No free floor raises SimkitError.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from simkit.scenes.raycast import fibonacci_directions

    if cell <= 0 or wall_clearance < 0 or sensor_height <= 0:
        raise SimkitError(f"scene {scene.scene_id}: floor grid needs cell > 0, sensor_height > 0, clearance >= 0")
    head = sensor_height + 0.2 if head_room is None else head_room
    lo, hi = scene.bounds
    xs = np.arange(lo[0] + cell / 2, hi[0], cell)
    zs = np.arange(lo[2] + cell / 2, hi[2], cell)
    if len(xs) == 0 or len(zs) == 0:
        raise SimkitError(f"scene {scene.scene_id}: mesh is smaller than one {cell} m floor cell")
    gx, gz = np.meshgrid(np.arange(len(xs)), np.arange(len(zs)), indexing="ij")
    gx, gz = gx.ravel(), gz.ravel()
    n_col = len(gx)
    top = hi[1] + 1.0
    down = np.array([0.0, -1.0, 0.0])
    layer_y = np.full((max_layers, n_col), np.nan)
    origin_y = np.full(n_col, top)
    alive = np.arange(n_col)
    for layer in range(max_layers):
        if len(alive) == 0:
            break
        o = np.stack([xs[gx[alive]], origin_y[alive], zs[gz[alive]]], axis=1)
        dist, face = caster.first_hit(o, down)
        hit = face >= 0
        y = o[:, 1] - dist.astype(np.float64)
        flat = hit & (np.abs(caster.face_normals[np.where(hit, face, 0), 1]) > np.cos(np.deg2rad(25.0)))
        layer_y[layer, alive[flat]] = y[flat]
        origin_y[alive[hit]] = y[hit] - 0.02
        alive = alive[hit]

    li, ci = np.nonzero(np.isfinite(layer_y))
    if len(li):
        fy = layer_y[li, ci]
        feet = np.stack([xs[gx[ci]], fy, zs[gz[ci]]], axis=1)
        up_dist, up_face = caster.first_hit(feet + [0.0, 0.05, 0.0], np.array([0.0, 1.0, 0.0]))
        ok = (up_face >= 0) & (up_dist.astype(np.float64) + 0.05 >= head)
        fan = fibonacci_directions(16, horizontal=True)
        for hgt in (0.3, sensor_height):
            idx = np.flatnonzero(ok)
            if len(idx) == 0:
                break
            clear = caster.clearance(feet[idx] + [0.0, hgt, 0.0], fan, max(wall_clearance, 1e-3))
            ok[idx] = clear >= wall_clearance - 1e-6
        li, ci, fy = li[ok], ci[ok], fy[ok]
    if len(li) == 0:
        raise SimkitError(
            f"scene {scene.scene_id}: no free floor (need {head:.2f} m head room and {wall_clearance} m "
            "wall clearance on a horizontal surface under a ceiling)"
        )
    # link 4-neighbour cells whose floor heights differ by at most max_step
    n = len(li)
    key = np.full((len(xs), len(zs), max_layers), -1, dtype=np.int64)
    key[gx[ci], gz[ci], li] = np.arange(n)
    rows, cols = [], []
    for dx, dz in ((1, 0), (0, 1)):
        a = key[: len(xs) - dx, : len(zs) - dz, :]
        b = key[dx:, dz:, :]
        for la in range(max_layers):
            for lb in range(max_layers):
                ia, ib = a[:, :, la].ravel(), b[:, :, lb].ravel()
                sel = (ia >= 0) & (ib >= 0)
                ia, ib = ia[sel], ib[sel]
                near = np.abs(fy[ia] - fy[ib]) <= max_step
                rows.append(ia[near])
                cols.append(ib[near])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    _n_comp, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    best = int(np.argmax(sizes))  # ties -> lowest label, i.e. the component met first in grid order
    sel = np.flatnonzero(comp == best)
    return np.stack([xs[gx[ci[sel]]], fy[sel], zs[gz[ci[sel]]]], axis=1)
