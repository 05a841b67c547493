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
import dataclasses
import errno
import itertools
import json
import os
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import simkit
from simkit.data import layout
from simkit.data.manifest import Manifest
from simkit.data.schema import GROUPS, ROOT_ATTRS, SCHEMA_VERSION, all_fields, check_dtype, check_shapes, chunks
from simkit.data.storage import FLOAT32, StorageConfig
from simkit.data.storage import encode as encode_storage
from simkit.data.storage import encode_arrays as encode_storage_arrays
from simkit.data.storage import root_attrs as storage_root_attrs
from simkit.errors import OutputError, SimkitError
from simkit.io import (
    atomic_path,
    atomic_write_json,
    check_writable_dir,
    create_temporary,
    fsync_dir,
    is_temporary,
    output_error,
    write_all,
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
    """A manifest as its JSON object (:meth:`simkit.data.manifest.Manifest.new`): the resolved ``config`` and
    its hash, ``origin`` (:func:`simkit.data.layout.origin`), the groups every shard has, the named protocols
    (``default`` always; :func:`simkit.data.layout.protocol_entry`), ``scenes`` (every shard id -> its split
    under the default protocol, ``mixed`` when its sets fall into several, ``none`` when it is in another
    protocol only; :func:`scene_splits`), package versions, plus ``extra`` keys (``tool``, ``tasks``; renders:
    engine, licences, ...). No timestamps: equal commands give equal bytes."""
    return Manifest.new(origin=origin, config=config, groups=groups, protocols=protocols, scenes=scenes,
                        config_hash=config_hash, **extra).to_dict()


_MEMORY_FILES = itertools.count()  # unique names for in-memory HDF5 files


def _encode_strings(data: Any) -> np.ndarray:
    """Fixed-length UTF-8 bytes: variable-length HDF5 strings cannot carry a checksum filter."""
    arr = np.asarray(data, dtype=object)
    enc = np.vectorize(lambda x: str(x).encode("utf-8"), otypes=[object])(arr) if arr.size else arr
    width = max([1, *(len(b) for b in enc.ravel())])
    return np.asarray(enc, dtype=f"S{width}").reshape(arr.shape)


def _check_attrs(attrs: Mapping[str, Any], groups: Sequence[str],
                 group_attrs: Mapping[str, Mapping[str, Any]] | None) -> None:
    """The root and group attributes the groups need are given (ValueError naming the first missing one)."""
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


def _stored_array(name: str, data: Any) -> np.ndarray:
    """``data`` as it goes to disk: fixed-length UTF-8 strings, else contiguous in its logical dtype (unless
    it already is in a declared compact one)."""
    fld = all_fields()[name][1]
    if fld.dtype == "str":
        return _encode_strings(data)
    arr = np.asarray(data)
    if check_dtype(name, arr.dtype) is not None:
        arr = arr.astype(fld.dtype)  # the logical dtype unless a declared compact storage was given
    return np.ascontiguousarray(arr)


def _dataset_options(name: str, shape: tuple[int, ...], dtype: np.dtype, compression: int) -> dict[str, Any]:
    """How dataset ``name`` of ``shape`` and ``dtype`` is laid out: chunks, gzip + shuffle, fletcher32."""
    fld = all_fields()[name][1]
    size = int(np.prod(shape)) if shape else 1
    bulky = fld.dtype != "str" and size > 0 and len(shape) > 0
    return {
        "chunks": chunks(shape, fld.shape, dtype.itemsize) if size and shape else None,
        "compression": "gzip" if bulky else None, "compression_opts": compression if bulky else None,
        "shuffle": bulky, "fletcher32": size > 0 and len(shape) > 0,
    }


def _write_root_attrs(f: h5py.File, attrs: Mapping[str, Any], groups: Sequence[str], storage: StorageConfig) -> None:
    for key in sorted(attrs):
        f.attrs[key] = attrs[key]
    # float32 shards are laid out as in version 1, so they say so: older simkit installs read them too
    f.attrs["schema_version"] = 1 if storage == FLOAT32 else SCHEMA_VERSION
    f.attrs["groups"] = ",".join(groups)
    if "simkit_version" not in f.attrs:
        f.attrs["simkit_version"] = simkit.__version__


def _complete(f: h5py.File, group_attrs: Mapping[str, Mapping[str, Any]] | None) -> None:
    """Group attributes, then ``complete = 1``: the last thing a shard gets."""
    for group, gattrs in (group_attrs or {}).items():
        for key, value in gattrs.items():
            f.require_group(group).attrs[key] = value
    missing = [a for a in ROOT_ATTRS if a != "complete" and a not in f.attrs]
    if missing:
        raise ValueError(f"shard root attribute {missing[0]} missing")
    f.attrs["complete"] = 1


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
    _check_attrs(attrs, groups, group_attrs)
    arrays, storage_attrs = encode_storage(arrays, attrs, storage)  # checked above in their logical form
    attrs = {**attrs, **storage_attrs}
    fields = all_fields()
    name = f"simkit-shard-{next(_MEMORY_FILES)}"
    with deferred(), h5py.File(name, "w", driver="core", backing_store=False) as f:
        _write_root_attrs(f, attrs, groups, storage)
        for dname in sorted(arrays, key=list(fields).index):
            arr = _stored_array(dname, arrays[dname])
            f.create_dataset(dname, data=arr, **_dataset_options(dname, arr.shape, arr.dtype, compression))
        _complete(f, group_attrs)
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


class _Spool:
    """An append-only scratch file beside a shard (``.<shard>.<random>.spool.tmp``) holding the encoded bulky
    arrays of the sets streamed so far (zlib-compressed), so they are not held in memory; every write is
    checked (a full disk is :class:`OutputError` naming the shard). A killed writer's spool is removed by the
    next writer (:func:`remove_stale_temporaries`), as its other temporaries are."""

    def __init__(self, final: Path):
        self.final = final
        self.size = 0
        self.fd, self.path = create_temporary(final, ".spool.tmp")  # interrupt-safe: nothing orphaned

    def append(self, arr: np.ndarray) -> tuple[int, int]:
        """Append ``arr``'s bytes, zlib level 1 (views and int16 RIRs shrink ~6x for ~20 ms per set); returns
        where they are: (offset, length)."""
        data = zlib.compress(memoryview(np.ascontiguousarray(arr)).cast("B"), 1)
        offset = self.size
        try:
            write_all(self.fd, data)
        except OSError as e:
            raise output_error(self.final, e) from None
        self.size += len(data)
        return offset, len(data)

    def read_array(self, where: tuple[int, int], dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        """The array :meth:`append` put at ``where``."""
        return np.frombuffer(zlib.decompress(self._read(*where)), dtype=dtype).reshape(shape)

    def _read(self, offset: int, nbytes: int) -> bytes:
        parts: list[bytes] = []
        while nbytes > 0:
            block = os.pread(self.fd, nbytes, offset)
            if not block:
                raise OSError(errno.EIO, f"spool {self.path} is shorter than written")
            parts.append(block)
            offset += len(block)
            nbytes -= len(block)
        return b"".join(parts)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(OSError):
            self.path.unlink()


class ShardStream:
    """Write one shard set by set, holding about one set in memory (the render: ``--sets-per-scene`` is
    unbounded); the file is byte for byte the one :func:`write_shard` writes from the stacked arrays::

        with ShardStream(path, attrs, groups=groups, storage=storage) as shard:
            for n in range(attrs["n_sets"]):
                shard.add(arrays_of_set_n)       # each dataset without its leading N axis
            shard.write()

    Each set is checked against the schema and encoded (:mod:`simkit.data.storage`) as it arrives; its bulky
    datasets (those chunked one item per chunk) go to a checked scratch file beside the shard
    (:class:`_Spool`), the small ones stay in memory. :meth:`write` then builds the HDF5 file with the same
    calls as :func:`shard_bytes`, writing the bulky datasets one set at a time from the spool, in HDF5's core
    driver (memory: the compressed shard, ~0.6 MB per view set with compact storage), which writes its image
    to the temporary file when it closes: HDF5's own writes to disk are the core driver's checked ones, and
    a failed one (full disk, file-size limit) is :class:`OutputError`, never a native crash (HDF5 crashes
    when a write fails under its other drivers). Leaving the ``with`` block removes every temporary file.
    """

    def __init__(
        self,
        path: Path | str,
        attrs: Mapping[str, Any],
        *,
        groups: Sequence[str],
        compression: int = DEFAULT_COMPRESSION,
        group_attrs: Mapping[str, Mapping[str, Any]] | None = None,
        storage: StorageConfig = FLOAT32,
    ):
        if not 0 <= int(compression) <= 9:
            raise SimkitError(f"compression must be a gzip level 0..9 (got {compression})")
        self.path = Path(path)
        self.attrs = dict(attrs)
        self.groups = list(groups)
        self.compression = compression
        self.group_attrs = group_attrs
        self.storage = storage
        storage.validate()
        _check_attrs(self.attrs, self.groups, group_attrs)  # before the first (slow) set is rendered
        self.n = 0
        self.shapes: dict[str, tuple[int, ...]] = {}  # logical per-set shapes of the first set
        self.small: dict[str, list[Any]] = {}  # per-set arrays kept in memory
        self.spooled: dict[str, tuple[np.dtype, tuple[int, ...], list[tuple[int, int]]]] = {}  # dtype, shape, where
        self.worst: float | None = None
        self._spool: _Spool | None = None

    def __enter__(self) -> ShardStream:
        self._spool = _Spool(self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def add(self, item: Mapping[str, Any]) -> None:
        """Add the next set: its datasets without the leading N axis (strings as lists or arrays)."""
        if self._spool is None:
            raise RuntimeError("ShardStream.add used outside its `with` block")
        arrays = {k: np.asarray(v) for k, v in item.items()}
        shapes = {k: a.shape for k, a in arrays.items()}
        if self.n == 0:
            check_shapes({k: _Shape((1, *s)) for k, s in shapes.items()}, self.groups)
            self.shapes = shapes
        elif shapes != self.shapes:
            diff = next(k for k in sorted({*shapes, *self.shapes}) if shapes.get(k) != self.shapes.get(k))
            raise ValueError(f"set {self.n}: dataset {diff} has shape {shapes.get(diff)}, set 0 had "
                             f"{self.shapes.get(diff)}")
        encoded, worst = encode_storage_arrays({k: a[None] for k, a in arrays.items()}, self.attrs, self.storage)
        if worst is not None:
            self.worst = worst if self.worst is None else min(self.worst, worst)
        fields = all_fields()
        for name, data in encoded.items():
            if fields[name][1].dtype == "str":
                self.small.setdefault(name, []).append(arrays[name])  # encoded at the end: width of all sets
                continue
            arr = _stored_array(name, data)[0]
            if name in self.spooled:
                dtype, shape, offsets = self.spooled[name]
                if arr.dtype != dtype:
                    raise ValueError(f"set {self.n}: dataset {name} is {arr.dtype}, set 0 was {dtype}")
                offsets.append(self._spool.append(arr))
            elif name in self.small:
                self.small[name].append(arr)
            elif self._per_set_chunks(name, arr):
                self.spooled[name] = (arr.dtype, arr.shape, [self._spool.append(arr)])
            else:
                self.small[name] = [arr]
        self.n += 1

    def _per_set_chunks(self, name: str, arr: np.ndarray) -> bool:
        """Whether ``name`` is chunked one set per chunk (or finer), so sets can be written one at a time."""
        shape = (int(self.attrs.get("n_sets", 1)), *arr.shape)
        ch = _dataset_options(name, shape, arr.dtype, self.compression)["chunks"]
        return isinstance(ch, tuple) and ch[0] == 1

    def write(self) -> Path:
        """Build the shard and rename it into place (atomic; ``complete = 1`` last); returns its path."""
        from simkit.signals import deferred

        if self._spool is None:
            raise RuntimeError("ShardStream.write used outside its `with` block")
        if self.n == 0:
            raise ValueError(f"shard {self.path.name}: no sets")
        if int(self.attrs.get("n_sets", self.n)) != self.n:
            raise ValueError(f"shard {self.path.name}: attribute n_sets={self.attrs['n_sets']}, {self.n} sets added")
        fields = all_fields()
        names = sorted([*self.small, *self.spooled], key=list(fields).index)
        attrs = {**self.attrs, **storage_root_attrs(self.storage, self.worst)}
        with atomic_path(self.path) as tmp:
            f: h5py.File | None = None
            try:
                with deferred():  # a signal held here is raised after the open: the except below closes f
                    f = h5py.File(tmp, "w", driver="core", backing_store=True)
                    _write_root_attrs(f, attrs, self.groups, self.storage)
                for name in names:
                    if name in self.small:
                        arr = _stored_array(name, np.stack(self.small[name]))
                        with deferred():
                            f.create_dataset(name, data=arr, **_dataset_options(name, arr.shape, arr.dtype,
                                                                                self.compression))
                        continue
                    dtype, shape, offsets = self.spooled[name]
                    full = (self.n, *shape)
                    with deferred():
                        ds = f.create_dataset(name, shape=full, dtype=dtype,
                                              **_dataset_options(name, full, dtype, self.compression))
                    for n, where in enumerate(offsets):
                        part = self._spool.read_array(where, dtype, shape)
                        with deferred():
                            ds[n] = part
                    with deferred():
                        del ds  # closed before the next dataset, as shard_bytes's are: the same bytes
                with deferred():
                    _complete(f, self.group_attrs)
            except BaseException:
                # the core driver writes its image when it closes: into an unlinked file, then gone
                with contextlib.suppress(OSError):
                    tmp.unlink()
                if f is not None:
                    with deferred(), contextlib.suppress(Exception):
                        f.close()
                raise
            try:
                with deferred():
                    f.close()  # the core driver writes the file here (checked writes, errno on failure)
            except (RuntimeError, OSError) as e:
                raise _close_error(self.path, e) from None
            _check_written(tmp, self.path)
        fsync_dir(self.path.parent)
        return self.path


class _Shape:
    """Something with a shape, for :func:`simkit.data.schema.check_shapes`."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape


def _close_error(final: Path, e: BaseException) -> OutputError:
    """The one line for a failed write of the core driver (its message carries the errno)."""
    m = re.search(r"errno = (\d+)", str(e))
    if m:
        code = int(m.group(1))
        return output_error(final, OSError(code, os.strerror(code)))
    return OutputError(f"cannot write {final}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")


def _check_written(tmp: Path, final: Path) -> None:
    """fsync ``tmp`` and read its root back: HDF5 refuses a file shorter than its superblock says, so a
    write that went missing is an error here, not a shard that looks complete."""
    from simkit.signals import deferred

    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise output_error(final, e) from None
    try:
        with deferred(), h5py.File(tmp, "r") as f:
            ok = int(f.attrs.get("complete", 0)) == 1
    except OSError as e:
        raise OutputError(f"cannot write {final}: the written file does not read back ({e})") from None
    if not ok:
        raise OutputError(f"cannot write {final}: the written file is not complete")


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

    def __init__(self, root: Path | str, manifest: Manifest | Mapping[str, Any],
                 compression: int = DEFAULT_COMPRESSION, storage: StorageConfig = FLOAT32):
        self.root = Path(root)
        # a copy: the writer merges the directory's scenes into it
        self.manifest = (dataclasses.replace(manifest) if isinstance(manifest, Manifest)
                         else Manifest.from_dict(manifest, "the manifest to write"))
        self.compression = compression
        self.storage = storage
        self.config_hash = self.manifest.config_hash
        self.groups = list(self.manifest.groups or [])
        self._open = False

    def __enter__(self) -> DatasetWriter:
        if self.root.is_dir():
            self._known_scenes()  # a directory that is not ours is refused before the lock file is added to it
        self._lock = output_lock(self.root, self.manifest.tool or "simkit process")
        self._lock.__enter__()
        try:
            self._begin()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def _known_scenes(self) -> dict[str, str]:
        """The ``scenes`` of the directory's manifest (empty for a new or empty directory); SimkitError when
        it is not ours (foreign files, an unreadable manifest) or holds another config. Reads only."""
        mpath = layout.manifest_path(self.root)
        if mpath.exists():
            try:
                old = Manifest.from_dict(json.loads(mpath.read_text()), str(mpath))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise SimkitError(f"{mpath} is not a simkit manifest ({e}); choose another --out") from None
            except SimkitError as e:
                raise SimkitError(f"{e}; choose another --out") from None
            old_hash, known = old.config_hash, dict(old.scenes)
            if old_hash != self.config_hash:
                raise SimkitError(
                    f"{self.root} holds a dataset with another config (hash {old_hash}, this run "
                    f"{self.config_hash}); choose another --out or repeat the original options"
                )
            return known
        if any(not is_leftover(p.name, of=layout.MANIFEST) for p in self.root.iterdir()):
            raise SimkitError(f"output directory {self.root} is not empty and holds no simkit manifest; "
                              "choose another --out")
        return {}

    def _begin(self) -> None:
        known = self._known_scenes()  # again under the lock: another writer may have started meanwhile
        self.manifest.scenes = dict(sorted({**known, **self.manifest.scenes}.items()))
        # proves the directory is ours before anything is removed
        layout.write_manifest(self.root, self.manifest.to_dict())
        remove_stale_temporaries(self.root)
        (self.root / layout.SHARDS).mkdir(exist_ok=True)
        self._open = True

    def __exit__(self, *exc: object) -> None:
        self._open = False
        self._lock.__exit__(None, None, None)

    def for_units(self) -> DatasetWriter:
        """A picklable writer of this open directory's shards (the same checks, storage and bytes) for units
        that run in other processes or on other nodes; this writer keeps the lock, manifest and splits.
        Only :meth:`write_shard`, :meth:`stream_shard` and :meth:`is_done` are for it."""
        if not self._open:
            raise RuntimeError("DatasetWriter.for_units used outside its `with` block")
        unit = DatasetWriter(self.root.resolve(), Manifest(self.config_hash, groups=self.groups),
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
        groups = self._groups(shard_id, groups)
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

    def stream_shard(
        self,
        shard_id: str,
        attrs: Mapping[str, Any],
        *,
        groups: Sequence[str] | None = None,
        group_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> ShardStream:
        """A :class:`ShardStream` for shard ``shard_id`` (set by set; the render), with this writer's groups
        (or ``groups``, a subset), compression and storage; ``attrs`` must give ``n_sets`` and the other root
        attributes. Byte for byte what :meth:`write_shard` writes from the stacked arrays."""
        if not self._open:
            raise RuntimeError("DatasetWriter used outside its `with` block")
        groups = self._groups(shard_id, groups)
        full = {**attrs, "scene_id": shard_id, "config_hash": self.config_hash}
        return ShardStream(self.shard_path(shard_id), full, groups=groups, compression=self.compression,
                           group_attrs=group_attrs, storage=self.storage)

    def _groups(self, shard_id: str, groups: Sequence[str] | None) -> list[str]:
        groups = list(groups) if groups is not None else self.groups
        extra = [g for g in groups if g not in self.groups]
        if extra:
            raise ValueError(f"shard {shard_id}: group(s) {extra} not in the manifest's groups {self.groups}")
        return groups

    def write_splits(self, splits: Mapping[str, Sequence[str]], protocol: str = layout.DEFAULT_PROTOCOL) -> None:
        """Write the split files of ``protocol`` (entries: shard ids or ``shard#set``; declared in the manifest).
        A set listed in two splits (the same entry, or a shard in one and one of its sets in another) is a
        SimkitError naming the entry and both splits; nothing is written then.

        The default protocol also sets the manifest's ``scenes`` map (each shard's split) for whole-shard
        entries."""
        if protocol not in (self.manifest.protocols or {}):
            raise ValueError(f"protocol {protocol} is not declared in the manifest")
        unknown = [s for s in splits if s not in layout.SPLITS]
        if unknown:
            raise ValueError(f"unknown split(s) {unknown}")
        from simkit.data.validate import split_overlap

        clash = split_overlap({sp: [layout.parse_entry(str(e), f"split {sp}") for e in entries]
                               for sp, entries in splits.items()})
        if clash:  # a set in two splits would be trained and scored on (video-folder once did this)
            raise SimkitError(f"protocol {protocol}: {clash}")
        layout.write_splits(self.root, splits, protocol)
        if protocol == layout.DEFAULT_PROTOCOL:
            scenes = dict(self.manifest.scenes)
            scenes.update(scene_splits(splits))
            if scenes != self.manifest.scenes:
                self.manifest.scenes = dict(sorted(scenes.items()))
                layout.write_manifest(self.root, self.manifest.to_dict())

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


def is_leftover(name: str, of: str | None = None, legacy: tuple[str, ...] = ()) -> bool:
    """Whether the file name ``name`` is what a killed run leaves in an output directory: the writer lock or
    a temporary file (:func:`simkit.io.is_temporary`, with its ``legacy`` extensions) - only a temporary of
    the file ``of`` when given. A directory holding nothing else counts as empty (the "is it ours" checks)."""
    if name == WRITE_LOCK:
        return True
    return (of is None or name.startswith(f".{of}.")) and is_temporary(name, legacy)


def remove_stale_temporaries(root: Path | str, dirs: Sequence[str] | None = None,
                             legacy: tuple[str, ...] = ()) -> list[Path]:
    """Delete the temporary files (:func:`simkit.io.is_temporary`) that killed writers left in ``root`` and
    its folders ``dirs`` (default: a dataset's ``shards/``, ``splits/`` and each protocol's folder there);
    call under the output lock, on a directory proven ours, when no other writer can own them."""
    root = Path(root)
    if dirs is None:
        dirs = [layout.SHARDS, layout.SPLITS_DIR]
        if (root / layout.SPLITS_DIR).is_dir():
            dirs += [f"{layout.SPLITS_DIR}/{p.name}" for p in sorted((root / layout.SPLITS_DIR).iterdir())
                     if p.is_dir()]
    stale = sorted(p for d in (root, *(root / d for d in dirs)) if d.is_dir() for p in d.iterdir()
                   if is_temporary(p.name, legacy) and p.is_file())
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stale
