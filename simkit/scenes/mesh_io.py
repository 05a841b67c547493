"""Reading mesh files (PLY, glTF/GLB, OBJ) into raw arrays with colours and textures (simkit.scenes.loaders
builds Scenes from them); every unreadable file is a SimkitError naming it."""

from __future__ import annotations

import io
import json
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import SimkitError
from simkit.scenes.texture_sampling import sample_texture

MESH_SUFFIXES = (".glb", ".gltf", ".ply", ".obj")
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
