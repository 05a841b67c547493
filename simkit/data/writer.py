"""The one writer of simkit datasets: ``simkit render``, every ``simkit prepare`` adapter and the synthetic
test sets write through :class:`DatasetWriter` (layout: :mod:`simkit.data.layout`, schema:
:mod:`simkit.data.schema`).

Writes are atomic (temp file + rename, ``complete = 1`` written last in a shard), a directory never mixes
two configurations (the manifest's ``config_hash``), and re-runs skip every shard already complete with the
same hash (:meth:`DatasetWriter.is_done`), so a writer is resumable unit by unit::

    manifest = new_manifest(origin=origin("adapter", "fair-play", "1", src, licence), config=cfg,
                            groups=["audio", "frames", "meta"], protocols={...})
    with DatasetWriter(out, manifest) as w:
        for shard_id in todo:
            if not w.is_done(shard_id):
                w.write_shard(shard_id, arrays, attrs)
        w.write_splits({"train": [...], "val": [...], "test": [...]})            # the default protocol
        w.write_splits({...}, protocol="split2")
        w.finish()                                                               # summary.json
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import simkit
from simkit.data import layout
from simkit.data.schema import GROUPS, ROOT_ATTRS, SCHEMA_VERSION, all_fields, check_dtype, check_shapes, chunks
from simkit.data.storage import FLOAT32, StorageConfig
from simkit.data.storage import encode as encode_storage
from simkit.errors import SimkitError
from simkit.io import (
    atomic_path,
    atomic_write_json,
    check_writable_dir,
    fsync_dir,
    package_versions,
    stable_hash,
    write_file,
)

DEFAULT_COMPRESSION = 4


def new_manifest(
    *,
    origin: Mapping[str, Any],
    config: Mapping[str, Any],
    groups: Sequence[str],
    protocols: Mapping[str, Mapping[str, Any]] | None = None,
    scenes: Mapping[str, str] | None = None,
    config_hash: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A manifest: the resolved ``config`` and its hash, ``origin`` (:func:`simkit.data.layout.origin`), the
    groups every shard has, the named protocols (``default`` always; :func:`simkit.data.layout.protocol_entry`),
    ``scenes`` (every shard id -> its split under the default protocol, ``mixed`` when its sets fall into
    several, ``none`` when it is in another protocol only; :func:`scene_splits`),
    package versions, plus ``extra`` keys (renders: engine, licences, ...). No timestamps: equal commands give
    equal bytes."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown group(s) {unknown} (known: {', '.join(GROUPS)})")
    protos = {layout.DEFAULT_PROTOCOL: layout.protocol_entry("the dataset's own split")}
    protos.update({k: dict(v) for k, v in (protocols or {}).items()})
    for name in protos:
        layout.check_name("protocol", name)
    out = {
        "schema_version": SCHEMA_VERSION,
        "config": dict(config),
        "config_hash": config_hash or stable_hash(dict(config)),
        "origin": dict(origin),
        "groups": [g for g in GROUPS if g in groups],
        "protocols": protos,
        "scenes": dict(sorted((scenes or {}).items())),
        "versions": package_versions(),
    }
    out.update(extra)
    return out


_MEMORY_FILES = itertools.count()  # unique names for in-memory HDF5 files


def _encode_strings(data: Any) -> np.ndarray:
    """Fixed-length UTF-8 bytes: variable-length HDF5 strings cannot carry a checksum filter."""
    arr = np.asarray(data, dtype=object)
    enc = np.vectorize(lambda x: str(x).encode("utf-8"), otypes=[object])(arr) if arr.size else arr
    width = max([1, *(len(b) for b in enc.ravel())])
    return np.asarray(enc, dtype=f"S{width}").reshape(arr.shape)


def shard_bytes(
    arrays: Mapping[str, Any],
    attrs: Mapping[str, Any],
    *,
    groups: Sequence[str] | None = None,
    compression: int = DEFAULT_COMPRESSION,
    group_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    storage: StorageConfig = FLOAT32,
) -> bytes:
    """The complete HDF5 file of a shard, built in memory; see :func:`write_shard`.

    Built in memory so HDF5 never meets a full disk (it crashed there) and a signal cannot arrive inside
    the library (:func:`simkit.signals.deferred`).
    """
    from simkit.data.schema import groups_present
    from simkit.signals import deferred

    if not 0 <= int(compression) <= 9:
        raise SimkitError(f"compression must be a gzip level 0..9 (got {compression})")
    groups = list(groups) if groups is not None else groups_present(arrays)
    check_shapes(arrays, groups)
    fields = all_fields()
    for g in groups:
        grp = GROUPS[g]
        if grp.attrs:
            given = (group_attrs or {}).get(grp.attr_group, {})
            missing = [a for a in grp.attrs if a not in given]
            if missing:
                raise ValueError(f"group {g}: attribute {missing[0]} of /{grp.attr_group} missing")
        missing_root = [a for a in grp.root_attrs if a not in attrs]
        if missing_root:
            raise ValueError(f"group {g}: root attribute {missing_root[0]} missing")
    arrays, storage_attrs = encode_storage(arrays, attrs, storage)  # checked above in their logical form
    attrs = {**attrs, **storage_attrs}
    name = f"simkit-shard-{next(_MEMORY_FILES)}"
    with deferred(), h5py.File(name, "w", driver="core", backing_store=False) as f:
        for key in sorted(attrs):
            f.attrs[key] = attrs[key]
        # float32 shards are laid out as in version 1, so they say so: older simkit installs read them too
        f.attrs["schema_version"] = 1 if storage == FLOAT32 else SCHEMA_VERSION
        f.attrs["groups"] = ",".join(groups)
        if "simkit_version" not in f.attrs:
            f.attrs["simkit_version"] = simkit.__version__
        for dname in sorted(arrays, key=list(fields).index):
            fld = fields[dname][1]
            if fld.dtype == "str":
                arr = _encode_strings(arrays[dname])
            else:
                arr = np.asarray(arrays[dname])
                if check_dtype(dname, arr.dtype) is not None:
                    arr = arr.astype(fld.dtype)  # the logical dtype unless a declared compact storage was given
                arr = np.ascontiguousarray(arr)
            bulky = fld.dtype != "str" and arr.size > 0 and arr.ndim > 0
            f.create_dataset(
                dname, data=arr, chunks=chunks(arr.shape, fld.shape, arr.dtype.itemsize) if arr.size and arr.ndim
                else None,
                compression="gzip" if bulky else None, compression_opts=compression if bulky else None,
                shuffle=bulky, fletcher32=arr.size > 0 and arr.ndim > 0,
            )
        for group, gattrs in (group_attrs or {}).items():
            for key, value in gattrs.items():
                f.require_group(group).attrs[key] = value
        missing = [a for a in ROOT_ATTRS if a != "complete" and a not in f.attrs]
        if missing:
            raise ValueError(f"shard root attribute {missing[0]} missing")
        f.attrs["complete"] = 1
        f.flush()
        return f.id.get_file_image()


def write_shard(
    path: Path | str,
    arrays: Mapping[str, Any],
    attrs: Mapping[str, Any],
    *,
    groups: Sequence[str] | None = None,
    compression: int = DEFAULT_COMPRESSION,
    group_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    storage: StorageConfig = FLOAT32,
) -> None:
    """Write one shard atomically: built in memory with ``complete = 1`` last, then temp file, length check,
    fsync, rename (a full disk raises :class:`simkit.errors.OutputError` and leaves no temporary file).

    ``groups`` (default: those whose required datasets ``arrays`` holds) are checked against the schema
    (names, ranks, consistent sizes, dtypes); ``group_attrs`` sets attributes on HDF5 groups (the camera
    intrinsics on ``views``). ``storage`` says how the bulky audio is kept
    (:mod:`simkit.data.storage`: float32 as given, or compact; recorded in the root attribute ``storage``).
    Every dataset is chunked per item and fletcher32-checksummed, the bulky ones gzip-compressed with byte
    shuffle; strings are fixed-length UTF-8 bytes.
    """
    # the temporary file is claimed before the (slower) build, so a killed writer always leaves a trace
    # that the next writer removes (remove_stale_temporaries), never a complete-looking shard
    with atomic_path(path) as tmp:
        data = shard_bytes(arrays, attrs, groups=groups, compression=compression, group_attrs=group_attrs,
                           storage=storage)
        write_file(tmp, data)
    fsync_dir(Path(path).parent)


def shard_is_complete(path: Path | str, config_hash: str) -> bool:
    """True when ``path`` is a finished shard written with ``config_hash`` (the resume test)."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs.get("complete", 0)) == 1 and str(f.attrs.get("config_hash")) == config_hash
    except OSError:
        return False


def scene_splits(splits: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The manifest's ``scenes`` map of a protocol: shard id -> its split, or ``mixed`` when the shard's sets
    fall into several splits (entries ``shard#set``)."""
    seen: dict[str, set[str]] = {}
    for split, entries in splits.items():
        for e in entries:
            seen.setdefault(layout.parse_entry(e, "splits")[0], set()).add(split)
    return {k: (next(iter(v)) if len(v) == 1 else "mixed") for k, v in sorted(seen.items())}


class DatasetWriter:
    """Writes one dataset directory through the contract; see the module docstring.

    Entering checks that ``root`` is writable and either new, empty, or holds a dataset of the same
    ``config_hash`` (anything else is refused and left untouched), then writes the manifest - merged with
    the existing one's ``scenes`` - so a crash after that point leaves a recognisable, resumable dataset.
    """

    def __init__(self, root: Path | str, manifest: Mapping[str, Any], compression: int = DEFAULT_COMPRESSION,
                 storage: StorageConfig = FLOAT32):
        self.root = Path(root)
        self.manifest = dict(manifest)
        self.compression = compression
        self.storage = storage
        self.config_hash = str(manifest["config_hash"])
        self.groups = list(manifest["groups"])
        self._open = False

    def __enter__(self) -> DatasetWriter:
        self._lock = output_lock(self.root, str(self.manifest.get("tool") or "simkit process"))
        self._lock.__enter__()
        try:
            self._begin()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def _begin(self) -> None:
        mpath = layout.manifest_path(self.root)
        known: dict[str, str] = {}
        if mpath.exists():
            try:
                old = json.loads(mpath.read_text())
                old_hash, known = old["config_hash"], dict(old.get("scenes") or {})
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
                raise SimkitError(f"{mpath} is not a simkit manifest ({e}); choose another --out") from None
            if old_hash != self.config_hash:
                raise SimkitError(
                    f"{self.root} holds a dataset with another config (hash {old_hash}, this run "
                    f"{self.config_hash}); choose another --out or repeat the original options"
                )
        elif any(not _left_before_manifest(p) for p in self.root.iterdir()):
            raise SimkitError(f"output directory {self.root} is not empty and holds no simkit manifest; "
                              "choose another --out")
        self.manifest["scenes"] = dict(sorted({**known, **self.manifest.get("scenes", {})}.items()))
        layout.write_manifest(self.root, self.manifest)  # proves the directory is ours before anything is removed
        remove_stale_temporaries(self.root)
        (self.root / layout.SHARDS).mkdir(exist_ok=True)
        self._open = True

    def __exit__(self, *exc: object) -> None:
        self._open = False
        self._lock.__exit__(None, None, None)

    def for_units(self) -> DatasetWriter:
        """A picklable writer of this open directory's shards (the same checks, storage and bytes) for units
        that run in other processes or on other nodes; this writer keeps the lock, manifest and splits.
        Only :meth:`write_shard` and :meth:`is_done` are for it."""
        if not self._open:
            raise RuntimeError("DatasetWriter.for_units used outside its `with` block")
        unit = DatasetWriter(self.root.resolve(), {"config_hash": self.config_hash, "groups": self.groups},
                             self.compression, self.storage)  # absolute root: a Ray node has another cwd
        unit._open = True
        return unit

    def shard_path(self, shard_id: str) -> Path:
        return layout.shard_path(self.root, layout.check_name("shard id", shard_id))

    def is_done(self, shard_id: str) -> bool:
        """True when shard ``shard_id`` is complete with this config (skip it on a re-run)."""
        return shard_is_complete(self.shard_path(shard_id), self.config_hash)

    def write_shard(
        self,
        shard_id: str,
        arrays: Mapping[str, Any],
        attrs: Mapping[str, Any] | None = None,
        *,
        group_attrs: Mapping[str, Mapping[str, Any]] | None = None,
            groups: Sequence[str] | None = None,
    ) -> Path:
        """Write shard ``shard_id`` with the manifest's groups (or ``groups``, a subset; e.g. renders without
        views); ``attrs`` must give ``sample_rate``; ``n_sets``/``n_views``/``n_sources`` default to the
        shape of ``audio/binaural``."""
        if not self._open:
            raise RuntimeError("DatasetWriter used outside its `with` block")
        groups = list(groups) if groups is not None else self.groups
        extra = [g for g in groups if g not in self.groups]
        if extra:
            raise ValueError(f"shard {shard_id}: group(s) {extra} not in the manifest's groups {self.groups}")
        full = dict(attrs or {})
        full.update(scene_id=shard_id, config_hash=self.config_hash)
        if "audio/binaural" in arrays:
            n, v, s = np.shape(arrays["audio/binaural"])[:3]
            full.setdefault("n_sets", n)
            full.setdefault("n_views", v)
            full.setdefault("n_sources", s)
        path = self.shard_path(shard_id)
        write_shard(path, arrays, full, groups=groups, compression=self.compression, group_attrs=group_attrs,
                    storage=self.storage)
        return path

    def write_splits(self, splits: Mapping[str, Sequence[str]], protocol: str = layout.DEFAULT_PROTOCOL) -> None:
        """Write the split files of ``protocol`` (entries: shard ids or ``shard#set``; declared in the manifest).

        The default protocol also sets the manifest's ``scenes`` map (each shard's split) for whole-shard
        entries."""
        if protocol not in self.manifest["protocols"]:
            raise ValueError(f"protocol {protocol} is not declared in the manifest")
        unknown = [s for s in splits if s not in layout.SPLITS]
        if unknown:
            raise ValueError(f"unknown split(s) {unknown}")
        layout.write_splits(self.root, splits, protocol)
        if protocol == layout.DEFAULT_PROTOCOL:
            scenes = dict(self.manifest.get("scenes") or {})
            scenes.update(scene_splits(splits))
            if scenes != self.manifest.get("scenes"):
                self.manifest["scenes"] = dict(sorted(scenes.items()))
                layout.write_manifest(self.root, self.manifest)

    def finish(self, summary: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write ``summary.json``: ``summary`` or the counts of :func:`simkit.data.validate.summarize`."""
        from simkit.data.validate import summarize

        out = dict(summary) if summary is not None else summarize(self.root)
        atomic_write_json(layout.summary_path(self.root), out)
        return out


WRITE_LOCK = ".simkit-write.lock"  # held by the writer for its whole run: one writer per directory


@contextlib.contextmanager
def output_lock(root: Path | str, tool: str = "simkit process") -> Iterator[None]:
    """Hold ``root``'s writer lock; a second writer into it is one error line (naming ``tool``), not a race."""
    from filelock import FileLock, Timeout

    root = Path(root)
    check_writable_dir(root)
    lock = FileLock(str(root / WRITE_LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SimkitError(f"another {tool} is writing into {root} (lock {root / WRITE_LOCK}); wait for "
                          "it to finish or choose another --out") from None
    try:
        yield
    finally:
        lock.release()


def _left_before_manifest(p: Path) -> bool:
    """The lock, or the temporary manifest of a writer killed before its first rename: a directory holding
    only these is still an empty one."""
    return p.name == WRITE_LOCK or (p.name.startswith(f".{layout.MANIFEST}.") and p.name.endswith(".tmp"))


def remove_stale_temporaries(root: Path | str) -> list[Path]:
    """Delete the temporary files (``.<name>.*.tmp``) that killed writers left in ``root``; call under the
    lock, when no other writer can own them."""
    root = Path(root)
    dirs = [root, root / layout.SHARDS, root / layout.SPLITS_DIR]
    if (root / layout.SPLITS_DIR).is_dir():
        dirs += [p for p in (root / layout.SPLITS_DIR).iterdir() if p.is_dir()]
    stale = [p for d in dirs if d.is_dir() for p in d.glob(".*.tmp")]
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stale
