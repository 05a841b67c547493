"""The one cached opener the tasks read datasets through: :func:`open_dataset`.

It validates the manifest, the split files of the chosen protocol and every shard those splits name (with
:func:`simkit.data.validate.validate_shard`), checks that the shards agree on sample rate, views and clip
length, and that they carry what the caller needs (``require``: groups or datasets). The result is cached
per (directory, manifest modification, protocol, requirement).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simkit.data import layout
from simkit.data.manifest import Manifest
from simkit.data.schema import GROUPS
from simkit.data.validate import failed_shards, validate_shard
from simkit.errors import SimkitError
from simkit.io import file_sha256

log = logging.getLogger(__name__)


@dataclass
class DatasetInfo:
    """What a dataset holds under one protocol, checked against the contract.

    ``splits[split]``: the shards of the split in order; ``selection[split][shard]``: the set indices of that
    shard in the split (every set for whole-shard entries). ``groups`` are the groups every shard has.
    """

    root: Path
    manifest: dict
    manifest_hash: str
    splits: dict[str, list[str]]
    sample_rate: int
    n_views: int
    clip_samples: int
    indirect_gain: float
    shard_sets: dict[str, int] = field(default_factory=dict)  # shard id -> sets in the shard
    shard_sources: dict[str, int] = field(default_factory=dict)  # shard id -> sources per set
    selection: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    protocol: str = layout.DEFAULT_PROTOCOL
    origin: dict[str, Any] = field(default_factory=dict)
    shard_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Dataset name used on the leaderboard: directory name + manifest hash prefix."""
        return f"{self.root.name}@{self.manifest_hash[:8]}"

    def shard(self, shard_id: str) -> Path:
        """Path of shard ``shard_id``."""
        return layout.shard_path(self.root, shard_id)

    def sets(self, split: str, shard_id: str) -> list[int]:
        """Set indices of ``shard_id`` in ``split``."""
        return self.selection[split][shard_id]

    def has(self, group: str) -> bool:
        return group in self.groups

    def facts(self) -> dict[str, Any]:
        """What a task's ``data_info`` gives models and the leaderboard: sample rate, views, clip length,
        dataset name, manifest hash, protocol and groups."""
        return {
            "sample_rate": self.sample_rate,
            "n_views": self.n_views,
            "clip_samples": self.clip_samples,
            "dataset": self.name,
            "manifest_hash": self.manifest_hash,
            "protocol": self.protocol,
            "protocol_label": self.protocol_label,
            "groups": list(self.groups),
            "split_sets": {s: sum(len(v) for v in sel.values()) for s, sel in self.selection.items()},
        }

    @property
    def protocol_label(self) -> str:
        """The protocol as the leaderboard names it: ``family/name`` for a family member (the default
        protocol under the name it repeats), the name otherwise, "" for a plain default split."""
        protos = layout.protocols_of(self.manifest)
        name = self.protocol
        alias = protos.get(name, {}).get("alias")
        if name == layout.DEFAULT_PROTOCOL and alias in protos:
            name = alias
        family = protos.get(name, {}).get("family")
        if family:
            return f"{family}/{name}"
        return "" if name == layout.DEFAULT_PROTOCOL else name


_CACHE: dict[tuple, DatasetInfo] = {}


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return (-1, -1)


def _key(root: Path, protocol: str, require: Sequence[str]) -> tuple:
    """Cache key: the directory, protocol, requirement and the stamp of the manifest, the split files and
    every shard (one scandir: a rewritten or deleted shard invalidates the entry)."""
    shards: list[tuple[str, int, int]] = []
    try:
        with os.scandir(root / layout.SHARDS) as it:
            for e in it:
                if e.name.endswith(".h5"):
                    st = e.stat()
                    shards.append((e.name, st.st_mtime_ns, st.st_size))
    except OSError:
        pass
    # a derived protocol is computed from the default protocol's split files: they invalidate it too
    listed = [protocol, layout.DEFAULT_PROTOCOL] if protocol in layout.DERIVED_PROTOCOLS else [protocol]
    splits = tuple(_stamp(layout.split_path(root, s, p)) for p in listed for s in layout.SPLITS)
    return (str(root.resolve()), _stamp(layout.manifest_path(root)), splits, hash(tuple(sorted(shards))),
            protocol, tuple(require))


def require_groups(info: DatasetInfo, needs: Sequence[str], who: str) -> None:
    """SimkitError naming ``who`` (a model or task) and the first group of ``needs`` the dataset lacks.

    An entry ``"a|b"`` is satisfied by either group."""
    for need in needs:
        options = need.split("|")
        if not any(o in info.groups for o in options):
            what = " or ".join(options)
            hint = "; a render made with --no-views has no views" if "views" in options else ""
            raise SimkitError(f"{who} needs group {what}, which dataset {info.root} lacks "
                              f"(it has {', '.join(info.groups) or 'none'}{hint})")


def open_dataset(
    root: Path | str, require: Sequence[str] = ("audio",), protocol: str | None = None, cache: bool = True,
    who: str = "this task",
) -> DatasetInfo:
    """Validate ``root`` under ``protocol`` (default: the dataset's default) for a reader needing ``require``
    (group names, ``"a|b"`` alternatives, or dataset names); SimkitError naming what is wrong."""
    root = Path(root)
    protocol = protocol or layout.DEFAULT_PROTOCOL
    if not str(root) or not root.exists():
        raise SimkitError(
            f"dataset directory {root} does not exist (pass --data DIR, the output of `simkit render` or "
            "`simkit prepare`)"
        )
    if not root.is_dir():
        raise SimkitError(f"dataset path {root} is not a directory")
    key = _key(root, protocol, require)
    if cache and key in _CACHE:
        return _CACHE[key]
    # typed and checked (every manifest simkit wrote opens); the dict a task sees is the file's content
    manifest = Manifest.from_dict(layout.read_manifest(root), str(layout.manifest_path(root))).to_dict()
    protos = layout.protocols_of(manifest)
    if protocol not in protos and protocol not in layout.DERIVED_PROTOCOLS:
        known = ", ".join([*protos, *layout.DERIVED_PROTOCOLS])
        raise SimkitError(f"dataset {root} has no protocol {protocol!r} (known: {known})")
    entries = layout.read_splits(root, protocol)
    failed = failed_shards(root)
    info: DatasetInfo | None = None
    splits: dict[str, list[str]] = {}
    selection: dict[str, dict[str, list[int]]] = {}
    seen: dict[str, Any] = {}
    for split, items in entries.items():
        where = layout.split_path(root, split, protocol).relative_to(root)
        sel: dict[str, list[int] | None] = {}
        for shard, idx in items:
            path = layout.shard_path(root, shard)
            if not path.is_file():
                if shard in failed:
                    if shard not in seen:
                        log.warning("shard %s (%s) failed to be written and is left out: %s", shard, split,
                                    failed[shard])
                        seen[shard] = None
                    continue
                raise SimkitError(f"shard {path} listed in {where} is missing (dataset incomplete?)")
            if shard not in seen:
                seen[shard] = validate_shard(path, tuple(r for r in require if "|" not in r and r not in GROUPS))
            sinfo = seen[shard]
            if idx is not None and idx >= sinfo.n_sets:
                raise SimkitError(f"{where}: entry {shard}#{idx} but shard {shard} has {sinfo.n_sets} sets")
            if idx is None:
                sel[shard] = None
            elif shard not in sel or sel[shard] is not None:
                sel.setdefault(shard, [])
                sel[shard].append(idx)  # type: ignore[union-attr]
            if info is None:
                info = DatasetInfo(root, manifest, file_sha256(layout.manifest_path(root)), {}, sinfo.sample_rate,
                                   sinfo.n_views, sinfo.clip_samples, float(sinfo.attrs.get("indirect_gain", 0.0)),
                                   groups=list(sinfo.groups), protocol=protocol,
                                   origin=dict(manifest.get("origin") or {}))
            else:
                got = (sinfo.sample_rate, sinfo.n_views, sinfo.clip_samples)
                want = (info.sample_rate, info.n_views, info.clip_samples)
                if got != want:
                    raise SimkitError(f"shard {path} has sample_rate/views/clip length {got}, other shards {want}")
                info.groups = [g for g in info.groups if g in sinfo.groups]
        splits[split] = list(sel)
        selection[split] = {s: (list(range(seen[s].n_sets)) if v is None else sorted(set(v))) for s, v in sel.items()}
    if info is None:
        raise SimkitError(f"{root} holds no shards (empty splits of protocol {protocol})")
    info.splits, info.selection = splits, selection
    for shard, sinfo in seen.items():
        if sinfo is not None:
            info.shard_sets[shard] = sinfo.n_sets
            info.shard_sources[shard] = sinfo.n_sources
            info.shard_attrs[shard] = sinfo.attrs
    needs = [r for r in require if "|" in r or r in GROUPS]
    require_groups(info, needs, who)
    if cache:
        _CACHE[key] = info
    return info


def clear_cache() -> None:
    """Forget every opened dataset (tests that rewrite a directory in place)."""
    _CACHE.clear()
