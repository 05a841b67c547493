"""The HDF5 shard schema (docs/dataset-format.md): one writer, one validator, shared by every reader.

``SCHEMA`` is the single source of truth for dataset names, dtypes and symbolic shapes; the writer refuses
arrays that do not match it, and :func:`validate_shard` checks a file on disk against it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from simkit.data.storage import StorageConfig, encode, storage_of, stored_schema
from simkit.errors import SimkitError
from simkit.io import atomic_path, fsync_dir, write_file

SCHEMA_VERSION = 2  # 2: the audio codec of simkit.data.storage (attribute ``storage``); 1 = float32, still read
READABLE_SCHEMA_VERSIONS = (1, 2)
_MEMORY_FILES = itertools.count()  # unique names for in-memory HDF5 files

# name -> (dtype, symbolic shape); symbols: N sets, V views, S sources, R rir samples, T clip samples, H, W
SCHEMA: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "rir/direct": ("float32", ("N", "V", "S", 2, "R")),
    "rir/indirect": ("float32", ("N", "V", "S", 2, "R")),
    "rir/rt60": ("float32", ("N", "V", "S")),
    "audio/source": ("float32", ("N", "S", "T")),
    "audio/binaural": ("float32", ("N", "V", "S", 2, "T")),
    "audio/source_id": ("str", ("N", "S")),
    "audio/speaker": ("str", ("N", "S")),
    "audio/text": ("str", ("N", "S")),
    "poses/position": ("float64", ("N", "V", 3)),
    "poses/yaw_deg": ("float64", ("N", "V")),
    "poses/quat_wxyz": ("float64", ("N", "V", 4)),
    "sources/position": ("float64", ("N", "S", 3)),
    "labels/azimuth_deg": ("float32", ("N", "V", "S")),
    "labels/elevation_deg": ("float32", ("N", "V", "S")),
    "labels/distance_m": ("float32", ("N", "V", "S")),
    "pairs/rel_yaw_deg": ("float32", ("N", "V", "V")),
    "pairs/rel_translation": ("float32", ("N", "V", "V", 3)),
}
VIEW_SCHEMA: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "views/rgb": ("uint8", ("N", "V", "H", "W", 3)),
    "views/depth": ("float16", ("N", "V", "H", "W")),
    "views/instance": ("uint16", ("N", "V", "H", "W")),
    "views/passed_filters": ("uint8", ("N",)),
    "views/filter_tries": ("int32", ("N",)),
}
VIEW_ATTRS = ("width", "height", "hfov_deg", "pitch_deg")
REQUIRED_ATTRS = (
    "schema_version", "scene_id", "split", "config_hash", "sample_rate", "n_sets", "n_views", "n_sources",
    "simkit_version", "engine", "engine_version", "hrtf_id", "speech_source", "indirect_gain", "complete",
)


@dataclass
class ShardInfo:
    """What :func:`validate_shard` learned about a complete shard."""

    path: Path
    scene_id: str
    split: str
    config_hash: str
    n_sets: int
    n_views: int
    n_sources: int
    has_views: bool


def _chunks(shape: tuple[int, ...], sym: tuple[str | int, ...]) -> tuple[int, ...] | bool:
    """One chunk per (set, view, source) item for the bulky arrays, so a loader reads a clip in one go."""
    if len(shape) - sum(isinstance(d, str) and d in "NVS" for d in sym) == 0:
        return True  # small label arrays: let HDF5 pick
    return tuple(1 if isinstance(d, str) and d in "NVS" else n for n, d in zip(shape, sym, strict=True))


def _check_shapes(arrays: Mapping[str, np.ndarray], schema: Mapping[str, tuple[str, tuple]]) -> None:
    dims: dict[str, int] = {}
    for name, (_dtype, sym) in schema.items():
        if name not in arrays:
            raise ValueError(f"shard array {name} missing")
        shape = np.shape(arrays[name])
        if len(shape) != len(sym):
            raise ValueError(f"shard array {name}: rank {len(shape)}, schema {sym}")
        for size, s in zip(shape, sym, strict=True):
            if isinstance(s, int):
                if size != s:
                    raise ValueError(f"shard array {name}: shape {shape} does not match {sym}")
            elif dims.setdefault(s, size) != size:
                raise ValueError(f"shard array {name}: dimension {s}={size}, elsewhere {dims[s]}")


def _encode_strings(data: Any) -> np.ndarray:
    """Fixed-length UTF-8 bytes: variable-length HDF5 strings cannot carry a checksum filter."""
    arr = np.asarray(data, dtype=object)
    enc = np.vectorize(lambda x: str(x).encode("utf-8"), otypes=[object])(arr) if arr.size else arr
    width = max([1, *(len(b) for b in enc.ravel())])
    return np.asarray(enc, dtype=f"S{width}").reshape(arr.shape)


def shard_bytes(
    arrays: Mapping[str, np.ndarray],
    attrs: Mapping[str, Any],
    compression: int,
    group_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    storage: StorageConfig | None = None,
) -> bytes:
    """The complete HDF5 file of a shard, built in memory (every dataset chunked with a fletcher32
    checksum, ``complete=1`` last); ``storage`` is the audio codec (simkit.data.storage; None = its defaults).

    Built in memory so HDF5 never meets a full disk (it crashed there) and a signal cannot arrive inside
    the library (:func:`simkit.signals.deferred`).
    """
    from simkit.signals import deferred

    schema = dict(SCHEMA)
    if any(k.startswith("views/") for k in arrays):
        schema.update(VIEW_SCHEMA)
    _check_shapes(arrays, schema)
    arrays, schema, codec_attrs = encode(arrays, schema, storage or StorageConfig())
    with deferred(), h5py.File(f"simkit-shard-{next(_MEMORY_FILES)}", "w", driver="core", backing_store=False) as f:
        for key in sorted(attrs):
            f.attrs[key] = attrs[key]
        for key, value in codec_attrs.items():
            f.attrs[key] = value
        f.attrs["schema_version"] = SCHEMA_VERSION
        for name, (dtype, sym) in schema.items():
            arr = _encode_strings(arrays[name]) if dtype == "str" else np.ascontiguousarray(arrays[name], dtype)
            bulky = dtype != "str" and arr.size > 0
            f.create_dataset(
                name, data=arr, chunks=_chunks(arr.shape, sym) if arr.size else None,
                compression="gzip" if bulky else None, compression_opts=compression if bulky else None,
                shuffle=bulky, fletcher32=arr.size > 0,
            )
        for group, gattrs in (group_attrs or {}).items():
            for key, value in gattrs.items():
                f[group].attrs[key] = value
        f.attrs["complete"] = 1
        f.flush()
        return f.id.get_file_image()


def write_shard(
    path: Path,
    arrays: Mapping[str, np.ndarray],
    attrs: Mapping[str, Any],
    compression: int,
    group_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    storage: StorageConfig | None = None,
) -> None:
    """Write a shard atomically (:func:`shard_bytes`, then temp file, length check, fsync, rename).

    ``group_attrs`` sets attributes on groups (e.g. the camera intrinsics on ``views``); ``storage`` is the
    audio codec. A full disk or a file-size limit raises :class:`simkit.errors.OutputError` and leaves no
    temporary file.
    """
    if not 0 <= int(compression) <= 9:
        raise SimkitError(f"compression must be a gzip level 0..9 (got {compression})")
    # the temporary file is claimed before the (slower) build, so a killed writer always leaves a trace
    # that resume removes (pipeline.remove_stale_temporaries), never a complete-looking shard
    with atomic_path(path) as tmp:
        data = shard_bytes(arrays, attrs, compression, group_attrs, storage)
        write_file(tmp, data)
    fsync_dir(Path(path).parent)


def validate_shard(path: Path) -> ShardInfo:
    """Check a shard against the schema; raise SimkitError naming the file and the first problem."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SimkitError(f"malformed shard {path}: not a readable HDF5 file ({e})") from None
    with f:
        missing = [a for a in REQUIRED_ATTRS if a not in f.attrs]
        if missing:
            raise SimkitError(f"malformed shard {path}: missing attribute {missing[0]}")
        if int(f.attrs["complete"]) != 1:
            raise SimkitError(f"malformed shard {path}: not marked complete")
        if int(f.attrs["schema_version"]) not in READABLE_SCHEMA_VERSIONS:
            raise SimkitError(f"malformed shard {path}: schema version {f.attrs['schema_version']}, "
                              f"this simkit reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}")
        schema = dict(SCHEMA)
        has_views = "views" in f
        if has_views:
            schema.update(VIEW_SCHEMA)
        schema = stored_schema(schema, storage_of(f))
        try:
            _check_shapes({k: f[k] for k in schema if k in f}, schema)  # reads shapes only
        except ValueError as e:
            raise SimkitError(f"malformed shard {path}: {e}") from None
        if has_views:
            missing = [a for a in VIEW_ATTRS if a not in f["views"].attrs]
            if missing:
                raise SimkitError(f"malformed shard {path}: views group lacks attribute {missing[0]}")
        n, v, s = (int(f.attrs[k]) for k in ("n_sets", "n_views", "n_sources"))
        if f["labels/azimuth_deg"].shape != (n, v, s):
            raise SimkitError(f"malformed shard {path}: labels/azimuth_deg shape {f['labels/azimuth_deg'].shape}"
                              f" disagrees with attributes n_sets/n_views/n_sources = {(n, v, s)}")
        return ShardInfo(path, str(f.attrs["scene_id"]), str(f.attrs["split"]), str(f.attrs["config_hash"]),
                         n, v, s, has_views)


def shard_is_complete(path: Path, config_hash: str) -> bool:
    """True when ``path`` is a finished shard rendered with ``config_hash`` (the resume test)."""
    if not path.exists():
        return False
    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs.get("complete", 0)) == 1 and str(f.attrs.get("config_hash")) == config_hash
    except OSError:
        return False


def verify_shard(path: Path) -> None:
    """Read every chunk of every dataset (checksums and decompression included); SimkitError naming the
    shard and the first dataset that does not read back. :func:`validate_shard` checks structure only."""
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
                                  "re-render that scene (delete the shard and re-run the render)") from None
