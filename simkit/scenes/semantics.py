"""Per-dataset semantic annotations of real meshes (HM3D, Replica, Matterport3D) and the category ->
acoustic-material mapping (see simkit.scenes.loaders for the formats)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import SimkitError
from simkit.scenes.mesh_io import _Raw, _read_raw
from simkit.scenes.scene import Scene


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
