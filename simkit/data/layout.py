"""The dataset directory layout, the manifest and the named split protocols (docs/dataset-format.md).

```
<root>/
  manifest.json                 what the dataset is, where it came from, its groups and protocols
  splits/{train,val,test}.txt   the default protocol
  splits/<protocol>/{train,val,test}.txt   every other named protocol
  shards/<shard_id>.h5          one HDF5 file per unit (scene, clip), see simkit.data.schema
  summary.json                  counts etc., written when the writer finishes
```

Split files hold one entry per line: a shard id (every set of the shard) or ``<shard_id>#<set>`` (one set,
0-based). No module outside :mod:`simkit.data` knows these names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simkit.conventions import SPLITS
from simkit.errors import SimkitError
from simkit.io import atomic_write_json, atomic_write_text

DEFAULT_PROTOCOL = "default"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
SHARDS = "shards"
SPLITS_DIR = "splits"
ORIGIN_KINDS = ("render", "adapter", "synthetic")
# Protocols every dataset with azimuth labels has without storing them: computed from the default protocol's
# entries and the shards' labels when opened (simkit.data.datasets.direction.derived_protocol_entries).
FRONTAL_PROTOCOL = "slfm-frontal"
DERIVED_PROTOCOLS = {
    FRONTAL_PROTOCOL: "SLfM's frontal-source test selection (IFICL/SLfM hm3d-4view-rotation-filterangle): the "
    "default protocol's train and val, and its test view sets whose source 0 is within +-90 deg of view 0's "
    "camera",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def manifest_path(root: Path | str) -> Path:
    return Path(root) / MANIFEST


def summary_path(root: Path | str) -> Path:
    return Path(root) / SUMMARY


def shard_path(root: Path | str, shard_id: str) -> Path:
    """Where shard ``shard_id`` lives."""
    return Path(root) / SHARDS / f"{shard_id}.h5"


def split_path(root: Path | str, split: str, protocol: str = DEFAULT_PROTOCOL) -> Path:
    """The list of entries of ``split`` under ``protocol``."""
    base = Path(root) / SPLITS_DIR
    return base / f"{split}.txt" if protocol == DEFAULT_PROTOCOL else base / protocol / f"{split}.txt"


def check_name(kind: str, name: str) -> str:
    """A shard id or protocol name safe as a file name (letters, digits, ``._-``); SimkitError otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise SimkitError(f"{kind} {name!r} is not a valid name (letters, digits, '.', '_', '-')")
    return name


def origin(kind: str, name: str, version: str, source: str | None = None, licence: str | None = None,
           **extra: Any) -> dict[str, Any]:
    """The manifest's ``origin`` entry: ``kind`` render|adapter|synthetic, the tool or adapter name, its version,
    the source path it read and the source's licence (plus any adapter-specific facts in ``extra``)."""
    if kind not in ORIGIN_KINDS:
        raise ValueError(f"origin kind must be one of {ORIGIN_KINDS}, got {kind!r}")
    out = {"kind": kind, "name": name, "version": version, "source": source, "licence": licence}
    out.update(extra)
    return out


def protocol_entry(description: str, family: str | None = None, alias: str | None = None) -> dict[str, Any]:
    """A manifest ``protocols`` entry; protocols of one ``family`` are scored together by ``--protocol all``.

    ``alias``: for the default protocol, the named protocol whose entries it repeats (FAIR-Play: split1).
    """
    out: dict[str, Any] = {"description": description, "family": family}
    if alias:
        out["alias"] = alias
    return out


def format_entry(shard_id: str, set_index: int | None = None) -> str:
    return shard_id if set_index is None else f"{shard_id}#{int(set_index)}"


def parse_entry(line: str, where: str) -> tuple[str, int | None]:
    """``(shard_id, set or None)`` of a split-file line."""
    shard, sep, idx = line.partition("#")
    if not sep:
        return shard, None
    try:
        n = int(idx)
    except ValueError:
        raise SimkitError(f"{where}: entry {line!r} is not <shard> or <shard>#<set>") from None
    if n < 0:
        raise SimkitError(f"{where}: entry {line!r} has a negative set index")
    return shard, n


def write_splits(root: Path | str, splits: Mapping[str, Sequence[str]], protocol: str = DEFAULT_PROTOCOL) -> None:
    """Write the split files of ``protocol`` (entries as made by :func:`format_entry`), atomically."""
    check_name("protocol", protocol)
    for split in SPLITS:
        entries = list(splits.get(split, ()))
        atomic_write_text(split_path(root, split, protocol), "".join(f"{e}\n" for e in entries))


def read_splits(root: Path | str, protocol: str = DEFAULT_PROTOCOL) -> dict[str, list[tuple[str, int | None]]]:
    """Entries of each split of ``protocol``; SimkitError naming a missing file.

    A protocol of :data:`DERIVED_PROTOCOLS` that the dataset does not store is computed from the default
    protocol's entries and the shards' labels (:func:`simkit.data.datasets.direction.derived_protocol_entries`).
    """
    if protocol in DERIVED_PROTOCOLS and not split_path(root, SPLITS[0], protocol).is_file():
        from simkit.data.datasets.direction import derived_protocol_entries  # reads shards: h5py, torch

        return derived_protocol_entries(root, protocol, read_splits(root, DEFAULT_PROTOCOL))
    out: dict[str, list[tuple[str, int | None]]] = {}
    for split in SPLITS:
        p = split_path(root, split, protocol)
        if not p.is_file():
            what = "" if protocol == DEFAULT_PROTOCOL else f" of protocol {protocol}"
            raise SimkitError(f"{root} is not a complete simkit dataset (missing {p.relative_to(root)}{what})")
        out[split] = [parse_entry(s.strip(), str(p)) for s in p.read_text().splitlines() if s.strip()]
    return out


def read_manifest(root: Path | str) -> dict[str, Any]:
    """The manifest of ``root`` as a dict; SimkitError when absent or not a simkit manifest."""
    root = Path(root)
    mpath = manifest_path(root)
    if not mpath.is_file():
        raise SimkitError(f"{root} is not a simkit dataset (no {MANIFEST})")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SimkitError(f"{mpath} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or "config_hash" not in manifest:
        raise SimkitError(f"{mpath} is not a simkit manifest (no config_hash)")
    return manifest


def protocols_of(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Named protocols of a manifest, the default first (manifests from before protocols: default only)."""
    given = manifest.get("protocols") or {}
    out = {DEFAULT_PROTOCOL: dict(given.get(DEFAULT_PROTOCOL) or protocol_entry("the dataset's own split"))}
    out.update({k: dict(v) for k, v in sorted(given.items()) if k != DEFAULT_PROTOCOL})
    return out


def family_members(manifest: Mapping[str, Any], family: str) -> list[str]:
    """Protocols of ``family``, in natural order (split2 before split10)."""
    def key(name: str) -> tuple:
        return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))

    return sorted((n for n, p in protocols_of(manifest).items() if p.get("family") == family), key=key)


def resolve_protocols(manifest: Mapping[str, Any], protocol: str | None, where: str) -> list[str]:
    """The protocols a ``--protocol`` value names: one protocol (stored, or one of :data:`DERIVED_PROTOCOLS`),
    a family (each member), ``all`` (the default protocol's family, or every stored protocol when it has
    none) or None (the default)."""
    protos = protocols_of(manifest)
    if protocol in (None, "", DEFAULT_PROTOCOL):
        return [DEFAULT_PROTOCOL]
    if protocol in protos or protocol in DERIVED_PROTOCOLS:
        return [protocol]
    families = {p.get("family") for p in protos.values() if p.get("family")}
    if protocol in families:
        return family_members(manifest, protocol)
    if protocol == "all":
        default = protos[DEFAULT_PROTOCOL]
        fam = default.get("family") or protos.get(default.get("alias") or "", {}).get("family")
        return family_members(manifest, fam) if fam else list(protos)
    known = ", ".join([*protos, *sorted(families), *DERIVED_PROTOCOLS, "all"])
    raise SimkitError(f"dataset {where} has no protocol {protocol!r} (known: {known})")


def write_manifest(root: Path | str, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` atomically (sorted keys: equal content, equal bytes)."""
    atomic_write_json(manifest_path(root), dict(manifest))
