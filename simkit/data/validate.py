"""The one validator of simkit datasets: a shard against the schema, a directory against the layout.

``simkit inspect`` (:func:`validate_dataset`), the opener the tasks read through
(:func:`simkit.data.opener.open_dataset`) and the writers' summaries all use these checks, so a dataset
that one accepts the others accept too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from simkit.data import layout, storage
from simkit.data.schema import (
    GROUPS,
    READABLE_SCHEMA_VERSIONS,
    ROOT_ATTRS,
    all_fields,
    check_dtype,
    check_shapes,
    groups_present,
)
from simkit.errors import SimkitError


@dataclass
class ShardInfo:
    """What :func:`validate_shard` learned about a complete shard."""

    path: Path
    scene_id: str
    split: str  # the split attribute renders write ("" for prepared datasets: splits are per protocol)
    config_hash: str
    n_sets: int
    n_views: int
    n_sources: int
    groups: list[str]
    sample_rate: int = 0
    clip_samples: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def has_views(self) -> bool:
        return "views" in self.groups


def _shard_groups(f: h5py.File) -> list[str]:
    if "groups" in f.attrs:
        return [g for g in str(f.attrs["groups"]).split(",") if g]
    # shards written before the manifest named its groups: the groups whose required datasets exist
    names: list[str] = []
    f.visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) else None)
    return groups_present(names)


def validate_shard(path: Path | str, require: tuple[str, ...] = ()) -> ShardInfo:
    """Check a shard against the schema; raise SimkitError naming the file and the first problem.

    ``require`` names groups or datasets the caller needs ("lacks group views, which ... needs" is the
    caller's message; here: "lacks group views")."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SimkitError(f"malformed shard {path}: not a readable HDF5 file ({e})") from None
    with f:
        legacy = "groups" not in f.attrs
        needed = [a for a in ROOT_ATTRS if not (legacy and a in ("groups", "simkit_version"))]
        missing = [a for a in needed if a not in f.attrs]
        if missing:
            raise SimkitError(f"malformed shard {path}: missing attribute {missing[0]}")
        if int(f.attrs["complete"]) != 1:
            raise SimkitError(f"malformed shard {path}: not marked complete")
        if int(f.attrs["schema_version"]) not in READABLE_SCHEMA_VERSIONS:
            raise SimkitError(f"malformed shard {path}: schema version {f.attrs['schema_version']}, "
                              f"this simkit reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}")
        groups = _shard_groups(f)
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise SimkitError(f"malformed shard {path}: unknown group {unknown[0]}")
        fields = all_fields()
        present = {n: f[n] for n in fields if n in f and fields[n][0].name in groups}
        if int(f.attrs["schema_version"]) >= 2 and "storage" not in f.attrs:
            raise SimkitError(f"malformed shard {path}: missing attribute storage (schema version 2)")
        codec = storage.storage_of(f)
        problem = storage.storage_mismatch(f, codec)
        if problem:
            raise SimkitError(f"malformed shard {path}: {problem}")
        derived = (storage.CLIPS,) if codec.clips == "derived" else ()
        try:
            dims = check_shapes(present, groups, derived=derived)
        except ValueError as e:
            raise SimkitError(f"malformed shard {path}: {e}") from None
        if derived and "audio" in groups and storage.CLIPS not in f:
            lacking = [k for k in storage.DERIVED_FROM if k not in f]
            if lacking:
                raise SimkitError(f"malformed shard {path}: clips are derived but {lacking[0]} is missing")
        for name, ds in present.items():
            problem = check_dtype(name, ds.dtype)
            if not problem and any(a in ds.attrs for a in ("scale", "offset")):
                # schema 1 allowed these dataset attributes; nothing wrote them and they are no longer read
                problem = f"dataset {name} has a scale/offset attribute, which this simkit does not apply"
            if not problem and ds.dtype == np.int16 and name + storage.SCALE_SUFFIX in fields \
                    and name + storage.SCALE_SUFFIX not in f:
                problem = f"int16 dataset {name} has no {name}{storage.SCALE_SUFFIX}"
            if problem:
                raise SimkitError(f"malformed shard {path}: {problem}")
        for g in groups:
            grp = GROUPS[g]
            if grp.attrs:
                have = f[grp.attr_group].attrs if grp.attr_group in f else {}
                missing = [a for a in grp.attrs if a not in have]
                if missing:
                    raise SimkitError(f"malformed shard {path}: {grp.attr_group} group lacks attribute {missing[0]}")
            missing = [a for a in grp.root_attrs if a not in f.attrs]
            if missing:
                raise SimkitError(f"malformed shard {path}: group {g} needs root attribute {missing[0]}")
        n, v, s = (int(f.attrs[k]) for k in ("n_sets", "n_views", "n_sources"))
        for sym, want in (("N", n), ("V", v), ("S", s)):
            if sym in dims and dims[sym] != want:
                attr = {"N": "n_sets", "V": "n_views", "S": "n_sources"}[sym]
                raise SimkitError(f"malformed shard {path}: datasets have {sym}={dims[sym]}, attribute {attr}={want}")
        for r in require:
            if r in GROUPS:
                if r not in groups:
                    raise SimkitError(f"shard {path} lacks group {r}")
            elif not storage.has_dataset(f, r):
                raise SimkitError(f"shard {path} lacks dataset {r}")
        return ShardInfo(
            path, str(f.attrs["scene_id"]), str(f.attrs.get("split", "")), str(f.attrs["config_hash"]), n, v, s,
            groups, int(f.attrs["sample_rate"]), int(dims.get("T", 0)),
            {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()},
        )


def split_overlap(entries: Mapping[str, Iterable[tuple[str, int | None]]]) -> str | None:
    """The first set that two splits of one protocol both list (``entries``: split -> ``(shard, set or None)``
    as :func:`simkit.data.layout.parse_entry` gives them), said in words; None when the splits are disjoint.
    A whole-shard entry covers every set of its shard. One exception: ``test`` may repeat ``val`` entry for
    entry (a protocol that scores on its validation split, as AV-NeRF's RWAVS split does); a partial overlap
    of the two is still refused, and nothing may be in ``train`` and another split."""
    lists = {split: list(items) for split, items in entries.items()}
    same = {"val", "test"} <= set(lists) and set(lists["val"]) == set(lists["test"]) and bool(lists["val"])
    seen: dict[str, dict[str, set[int | None]]] = {}
    for split, items in lists.items():
        for shard, idx in items:
            by_split = seen.setdefault(shard, {})
            for other, idxs in by_split.items():
                if other == split or (same and {other, split} == {"val", "test"}):
                    continue
                if None in idxs or idx in idxs:
                    clash = None if None in idxs else idx
                elif idx is None and idxs:
                    clash = min(i for i in idxs if i is not None)
                else:
                    continue
                mine, theirs = layout.format_entry(shard, idx), layout.format_entry(shard, clash)
                if mine == theirs:
                    return f"entry {mine} is in both {other} and {split} (a set belongs to one split)"
                return f"entry {mine} in {split} overlaps entry {theirs} in {other} (a set belongs to one split)"
            by_split.setdefault(split, set()).add(idx)
    return None


def check_disjoint(root: Path | str, protocol: str, entries: Mapping[str, Iterable[tuple[str, int | None]]]) -> None:
    """SimkitError naming the split directory, the entry and both splits when :func:`split_overlap` finds a
    set in two splits of ``protocol``."""
    clash = split_overlap(entries)
    if clash:
        where = layout.split_path(root, "train", protocol).parent
        raise SimkitError(f"malformed splits {where} (protocol {protocol}): {clash}")


def failed_shards(root: Path | str) -> dict[str, str]:
    """Shards the writer reported as failed (``summary.json`` ``failed``), with their error."""
    try:
        failed = json.loads(layout.summary_path(root).read_text()).get("failed", {})
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in failed.items()} if isinstance(failed, dict) else {}


@dataclass
class DatasetReport:
    """What :func:`validate_dataset` found: counts per split of every protocol, groups, label statistics."""

    root: Path
    manifest: dict
    config_hash: str
    groups: list[str]
    origin: dict
    counts: dict[str, dict[str, int]]  # default protocol: split -> scenes (shards) / view_sets / clips
    protocol_counts: dict[str, dict[str, int]]  # protocol -> split -> sets
    rt60: np.ndarray
    azimuth: np.ndarray
    missing: list[str] = field(default_factory=list)
    view_filter_passed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    view_filter_tries: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    shards: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    sample_rate: int = 0
    clip_seconds: float = 0.0
    side_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    verified: bool = False  # every chunk of every shard was read back (``verify=True``)
    storage: list[str] = field(default_factory=list)  # the storages of the shards (simkit.data.storage.describe)
    derived_clip_snr_db: float | None = None  # worst derived clip's SNR over the shards, None if none derived
    shard_bytes: int = 0  # on disk, every complete shard

    @property
    def out(self) -> Path:  # the name the render code used
        return self.root


def _concat(parts: list[np.ndarray], dtype: type = np.float32) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def validate_dataset(root: Path | str, verify: bool = False) -> DatasetReport:
    """Validate the manifest, every protocol's split files and every shard the manifest names.

    Shards not written yet are listed in ``missing`` (or ``failed``, with the writer's error); any other
    problem is a SimkitError naming the first bad file. ``verify`` also reads every chunk of every shard
    (:func:`verify_shard`: checksums, decompression)."""
    root = Path(root)
    if not root.is_dir():
        raise SimkitError(f"dataset directory {root} does not exist")
    manifest = layout.read_manifest(root)
    config_hash = str(manifest["config_hash"])
    scenes = manifest.get("scenes")
    if not isinstance(scenes, dict):
        raise SimkitError(f"malformed manifest {layout.manifest_path(root)} (no scenes map)")
    protocols = layout.protocols_of(manifest)
    entries = {p: layout.read_splits(root, p) for p in protocols}
    for proto, by_split in entries.items():
        check_disjoint(root, proto, by_split)
    counts = {s: {"scenes": 0, "view_sets": 0, "clips": 0} for s in layout.SPLITS}
    rt60, az, side, missing, passed, tries, shards = [], [], [], [], [], [], []
    codecs: set[str] = set()
    snrs: list[float] = []
    shard_bytes = 0
    infos: dict[str, ShardInfo] = {}
    groups: list[str] = list(manifest.get("groups") or [])
    for scene_id in sorted(scenes):
        path = layout.shard_path(root, scene_id)
        if not path.exists():
            missing.append(scene_id)
            continue
        info = validate_shard(path)
        if verify:
            verify_shard(path)
        split = scenes[scene_id]
        if info.scene_id != scene_id or (info.split and info.split != split):
            raise SimkitError(f"malformed shard {path}: says scene {info.scene_id}/{info.split}, "
                              f"manifest says {scene_id}/{split}")
        if info.config_hash != config_hash:
            raise SimkitError(f"malformed shard {path}: config hash {info.config_hash}, manifest {config_hash}")
        extra = [g for g in info.groups if groups and g not in groups]
        if extra:
            raise SimkitError(f"malformed shard {path}: group {extra[0]} is not among the manifest's groups")
        infos[scene_id] = info
        shard_bytes += path.stat().st_size
        with h5py.File(path, "r") as f:
            codecs.add(storage.describe(storage.storage_of(f)))
            if "derived_clip_snr_db" in f.attrs:
                snrs.append(float(f.attrs["derived_clip_snr_db"]))
            if "rir/rt60" in f:
                rt60.append(f["rir/rt60"][()].ravel())
            if "labels/azimuth_deg" in f:
                az.append(f["labels/azimuth_deg"][()].ravel())
            if "labels/side" in f:
                side.append(f["labels/side"][()].ravel())
            if "views/passed_filters" in f:
                passed.append(f["views/passed_filters"][()].ravel())
                tries.append(f["views/filter_tries"][()].ravel())
        shards.append(path)
        if split in counts:
            counts[split]["scenes"] += 1
            counts[split]["view_sets"] += info.n_sets
            counts[split]["clips"] += info.n_sets * info.n_views * info.n_sources
    if not groups and infos:
        groups = next(iter(infos.values())).groups
    protocol_counts: dict[str, dict[str, int]] = {}
    for proto, by_split in entries.items():
        protocol_counts[proto] = {}
        for split, items in by_split.items():
            n = 0
            for shard, idx in items:
                where = layout.split_path(root, split, proto)
                if shard not in scenes:
                    raise SimkitError(f"{where}: entry {layout.format_entry(shard, idx)} names a shard the "
                                      "manifest does not list")
                info = infos.get(shard)
                if info is None:
                    continue
                if idx is not None and idx >= info.n_sets:
                    raise SimkitError(f"{where}: entry {shard}#{idx} but shard {shard} has {info.n_sets} sets")
                n += 1 if idx is not None else info.n_sets
            protocol_counts[proto][split] = n
    failed = {k: v for k, v in failed_shards(root).items() if k in missing}
    first = next(iter(infos.values()), None)
    return DatasetReport(
        root, manifest, config_hash, groups, dict(manifest.get("origin") or {"kind": "render", "name": manifest.get(
            "tool", "simkit render")}), counts, protocol_counts, _concat(rt60), _concat(az),
        [m for m in missing if m not in failed], _concat(passed, np.uint8), _concat(tries, np.int32), shards, failed,
        first.sample_rate if first else 0, (first.clip_samples / first.sample_rate) if first and first.sample_rate
        else 0.0, _concat(side, np.int8), verify, sorted(codecs), min(snrs) if snrs else None, shard_bytes,
    )


def summarize(root: Path | str) -> dict[str, Any]:
    """Counts per split and RT60 statistics over every complete shard (``summary.json``)."""
    rep = validate_dataset(root)
    rt = rep.rt60[np.isfinite(rep.rt60)]
    return {
        "config_hash": rep.config_hash,
        "splits": rep.counts,
        "protocols": rep.protocol_counts,
        "rt60_mean_s": round(float(rt.mean()), 6) if rt.size else None,
        "rt60_median_s": round(float(np.median(rt)), 6) if rt.size else None,
        "n_rirs": int(rt.size),
        "not_rendered": sorted([*rep.missing, *rep.failed]),
        "view_filter_pass_rate": round(float(rep.view_filter_passed.mean()), 4) if rep.view_filter_passed.size
        else None,
    }


def verify_shard(path: Path | str) -> None:
    """Read every chunk of every dataset (checksums and decompression included) and check every int16
    scale (:func:`simkit.data.storage.scale_problem`); SimkitError naming the shard and the first dataset that
    does not read back or holds a bad scale. :func:`validate_shard` checks structure only (dtypes against the
    ``storage`` attribute included)."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SimkitError(f"corrupt shard {path}: not a readable HDF5 file ({e})") from None
    names: list[str] = []
    with f:
        f.visit(lambda name: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
        for name in sorted(names):
            try:
                ds = f[name]
                for chunk in (ds.iter_chunks() if ds.chunks else [()]):
                    ds[chunk]
            except (OSError, RuntimeError, ValueError) as e:
                reason = "checksum or decompression failed" if "filter" in str(e).lower() else str(e).splitlines()[0]
                raise SimkitError(f"corrupt shard {path}: dataset {name} does not read back ({reason}); "
                                  "delete the shard and re-run the command that wrote it") from None
            if name.endswith(storage.SCALE_SUFFIX) and name in all_fields():
                problem = storage.scale_problem(f[name][()])
                if problem:  # decoded samples would be NaN, inf, silent, flipped or absurd: caught before use
                    raise SimkitError(f"corrupt shard {path}: dataset {name} {problem}; delete the shard and "
                                      "re-run the command that wrote it")


def verify_dataset(root: Path | str, protocol: str | None = None) -> int:
    """Read every chunk of every shard the protocol's splits list (checksums and scale values included, see
    :func:`verify_shard`) and check that no set is in two splits; SimkitError naming the first corrupt shard
    and dataset. Returns the number of shards read. The bench runs it before
    training, so a damaged file is one error line rather than a crash in a DataLoader worker."""
    from simkit.data.opener import open_dataset

    info = open_dataset(root, require=(), protocol=protocol)
    check_disjoint(root, info.protocol, layout.read_splits(root, info.protocol))  # no set trained and scored
    shards = list(dict.fromkeys(s for split in layout.SPLITS for s in info.splits[split]))
    for shard in shards:
        verify_shard(info.shard(shard))
    return len(shards)
