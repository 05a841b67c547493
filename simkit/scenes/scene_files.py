"""Where the scenes of each real-mesh dataset layout live (find_scenes) and scene split files."""

from __future__ import annotations

import json
from pathlib import Path

from simkit.errors import SimkitError

FORMATS = ("hm3d", "replica", "mp3d", "gibson", "mesh")
MESH_SUFFIXES = (".glb", ".gltf", ".ply", ".obj")


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
