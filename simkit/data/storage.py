"""A compact storage codec for shard audio, measured but not yet wired into :mod:`simkit.data`'s writer
and readers (issue 12, item 3; docs/scale.md): shards are still written in float32 today.

The bulky arrays of a view set are the binaural clips, the direct / indirect RIRs and the mono sources. The
codec decides, per :class:`StorageConfig`, how each is kept on disk, and the reader functions below return the
same float32 arrays whatever the choice:

* ``clips="derived"`` (default) stores no ``audio/binaural``: a clip is computed on read as source ⊛ mixed RIR
  (``direct + indirect_gain * indirect``), exactly the render's own formula, as SLfM's loader renders online;
* ``rir`` / ``source`` = ``int16``: each RIR channel (each source clip) is scaled by its own peak into int16,
  the scale kept beside it in ``<name>_scale`` float32; ``float16`` casts; ``float32`` keeps the render's bytes;
* ``rir_floor_db``: RIR samples after the Schroeder energy decay curve has fallen this far below the RIR's
  total energy are set to zero, so gzip stores the silent tail in almost no bytes.

Measured with the defaults against the pre-contract shard writer: 0.58 MB per view set
with views (float32: 5.1 MB), derived clips against the float32 clips of the same render at 76.6 dB mean /
72.5 dB worst SNR, RT60 (T30) changed by < 0.02 %. Bounds per sample: int16 error <= peak / 65534 of its RIR
channel or source clip (+ float32 rounding of the scale); float16 <= 2**-11 relative. Once wired in, a shard
records its codec in the root attribute ``storage`` (JSON); shards without it are today's float32 layout and
read the same way (:func:`storage_of`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simkit.errors import SimkitError

CLIPS = "audio/binaural"
SOURCE = "audio/source"
RIRS = ("rir/direct", "rir/indirect")
CLIP_MODES = ("derived", "float32", "float16", "int16")
RIR_MODES = ("float32", "float16", "int16")
SOURCE_MODES = ("float32", "float16", "int16")
INT16_MAX = 32767.0


@dataclass(frozen=True)
class StorageConfig:
    """How a shard keeps its clips, RIRs and sources (defaults: <= 1 MB per view set with views)."""

    clips: str = "derived"  # derived (computed on read from source ⊛ mixed RIR) | float32 | float16 | int16
    rir: str = "int16"  # float32 | float16 | int16 (scaled per RIR channel)
    source: str = "int16"  # float32 | float16 | int16 (scaled per clip)
    rir_floor_db: float = 90.0  # zero RIR samples once the decay curve is this far below total energy; 0 = off

    def validate(self) -> None:
        """One-line SimkitError for an unknown mode or a negative floor."""
        for name, value, modes in (("clips", self.clips, CLIP_MODES), ("rir", self.rir, RIR_MODES),
                                   ("source", self.source, SOURCE_MODES)):
            if value not in modes:
                raise SimkitError(f"storage.{name} must be one of {', '.join(modes)} (got {value!r})")
        if not (isinstance(self.rir_floor_db, (int, float)) and self.rir_floor_db >= 0):
            raise SimkitError(f"storage.rir_floor_db must be >= 0 (got {self.rir_floor_db!r})")
        if self.clips == "derived" and self.source == "float16":
            raise SimkitError("storage: derived clips need source float32 or int16 (float16 loses the level)")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


LEGACY = StorageConfig(clips="float32", rir="float32", source="float32", rir_floor_db=0.0)


def storage_of(f: Any) -> StorageConfig:
    """The codec a shard (an open ``h5py.File``) was written with; the float32 layout when it has none."""
    text = f.attrs.get("storage")
    if text is None:
        return LEGACY
    try:
        return StorageConfig(**json.loads(text))
    except (TypeError, ValueError) as e:
        raise SimkitError(f"shard {getattr(f, 'filename', '?')}: unreadable storage attribute ({e})") from None


def trim_below_floor(x: np.ndarray, floor_db: float) -> np.ndarray:
    """Zero every sample of (..., T) RIRs after their backward-integrated energy falls ``floor_db`` below
    the total (the part that lies under the decay floor); ``floor_db = 0`` returns ``x`` unchanged."""
    if floor_db <= 0:
        return x
    e = np.asarray(x, dtype=np.float64) ** 2
    edc = np.cumsum(e[..., ::-1], axis=-1)[..., ::-1]  # energy from t to the end
    keep = edc > edc[..., :1] * 10.0 ** (-floor_db / 10.0)
    return np.where(keep, x, 0).astype(x.dtype, copy=False)


def _encode(x: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Stored form of float32 ``x`` and its per-row scale (int16 only); rows = all but the last axis."""
    if mode == "float32":
        return np.ascontiguousarray(x, dtype=np.float32), None
    if mode == "float16":
        return np.ascontiguousarray(x, dtype=np.float16), None
    peak = np.max(np.abs(x), axis=-1).astype(np.float32)
    scale = np.where(peak > 0, peak / np.float32(INT16_MAX), np.float32(1.0)).astype(np.float32)
    q = np.rint(x.astype(np.float64) / scale[..., None].astype(np.float64))
    return np.clip(q, -INT16_MAX, INT16_MAX).astype(np.int16), scale


def _decode(stored: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    if scale is None:
        return np.asarray(stored, dtype=np.float32)
    return (np.asarray(stored, dtype=np.float32) * np.asarray(scale, dtype=np.float32)[..., None]).astype(
        np.float32
    )


def encode(
    arrays: Mapping[str, np.ndarray], schema: Mapping[str, tuple[str, tuple]], cfg: StorageConfig
) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, tuple]], dict[str, str]]:
    """Arrays as stored, their (dtype, symbolic shape) schema, and the root attributes to add."""
    cfg.validate()
    out, sch = dict(arrays), dict(schema)
    modes = {**dict.fromkeys(RIRS, cfg.rir), SOURCE: cfg.source, CLIPS: cfg.clips}
    for name, mode in modes.items():
        if name not in out:
            continue
        if name == CLIPS and mode == "derived":
            del out[name], sch[name]
            continue
        x = np.asarray(out[name], dtype=np.float32)
        if name in RIRS:
            x = trim_below_floor(x, cfg.rir_floor_db)
        stored, scale = _encode(x, mode)
        sym = schema[name][1]
        out[name], sch[name] = stored, (str(stored.dtype), sym)
        if scale is not None:
            out[f"{name}_scale"], sch[f"{name}_scale"] = scale, ("float32", sym[:-1])
    return out, sch, {"storage": cfg.to_json()}


def stored_schema(schema: Mapping[str, tuple[str, tuple]], cfg: StorageConfig) -> dict[str, tuple[str, tuple]]:
    """The schema of what a shard written with ``cfg`` holds on disk (for validation)."""
    sch = dict(schema)
    modes = {**dict.fromkeys(RIRS, cfg.rir), SOURCE: cfg.source, CLIPS: cfg.clips}
    for name, mode in modes.items():
        if name not in sch:
            continue
        if name == CLIPS and mode == "derived":
            del sch[name]
        elif mode == "int16":
            sch[f"{name}_scale"] = ("float32", sch[name][1][:-1])
    return sch


def has_dataset(f: Any, name: str) -> bool:
    """Whether ``name`` can be read from the shard: stored, or (clips) derivable from sources and RIRs."""
    if name == CLIPS and name not in f:
        return storage_of(f).clips == "derived" and all(k in f for k in (SOURCE, *RIRS))
    return name in f


def _read(f: Any, name: str, index: tuple) -> np.ndarray:
    scale = f[f"{name}_scale"][index] if f"{name}_scale" in f else None
    return _decode(f[name][index], scale)


def read_rir(f: Any, name: str, n: int, v: int, s: int) -> np.ndarray:
    """``rir/direct`` or ``rir/indirect`` of (set n, view v, source s): (2, R) float32."""
    return _read(f, name, (n, v, s))


def read_source(f: Any, n: int, s: int) -> np.ndarray:
    """The mono source clip of (set n, source s): (T,) float32."""
    return _read(f, SOURCE, (n, s))


def clip_samples(f: Any) -> int:
    """Samples per clip (stored clips, or the sources they are derived from)."""
    return int(f[CLIPS].shape[-1] if CLIPS in f else f[SOURCE].shape[-1])


def read_binaural(f: Any, n: int, views: np.ndarray | list[int], s: int) -> np.ndarray:
    """Binaural clips of source s in views ``views`` of set n: (len(views), 2, T) float32.

    Stored clips are decoded; derived ones are the render's own computation on the decoded arrays:
    ``fft_convolve(source, direct + float32(indirect_gain) * indirect)``.
    """
    if CLIPS in f:
        return np.stack([_read(f, CLIPS, (n, int(v), s)) for v in views])
    from simkit.audio.dsp import fft_convolve

    gain = np.float32(f.attrs["indirect_gain"])
    mono = read_source(f, n, s)
    mixed = np.stack([
        (read_rir(f, "rir/direct", n, int(v), s) + gain * read_rir(f, "rir/indirect", n, int(v), s)).astype(
            np.float32)
        for v in views
    ])
    return fft_convolve(mono[None, None, :], mixed, len(mono))
