"""How a shard keeps its bulky audio on disk: the storage codec (docs/dataset-format.md, "Compact storage").

The bulky arrays of a view set are the binaural clips, the direct / indirect RIRs and the mono sources. A
:class:`StorageConfig` decides how each is stored; :func:`encode` turns the writer's float32 arrays into
their stored form and the readers below turn them back into float32, whatever the choice:

* ``clips="derived"`` stores no ``audio/binaural``: a clip is computed on read as source ⊛ mixed RIR
  (``direct + indirect_gain * indirect``), the render's own formula, as SLfM's loader renders online.
  The writer derives every clip from the encoded arrays and refuses the shard unless it matches the clip
  it was given to ``min_clip_snr_db``; the worst SNR is kept in the root attribute ``derived_clip_snr_db``;
* a mixed clip ``audio/mix`` (renders with ``mix.enabled``) is stored in the clips' codec when clips are
  stored; with derived clips it is not stored but computed on read as the sum of the derived clips of its
  view plus ``audio/mix_noise`` (the diffuse noise, stored in the sources' codec, only when there is noise),
  and checked by the writer like the clips;
* ``int16``: each row (an RIR channel, a source clip, a binaural channel) is scaled by its own peak into
  int16, the scale kept in the float32 dataset ``<name>_scale`` (logical = stored * scale); ``float16``
  casts; ``float32`` keeps the writer's bytes;
* ``rir_floor_db`` (off by default): RIR samples after the Schroeder energy decay curve has fallen this far
  below the RIR's total energy are set to zero, so gzip stores the silent tail in almost no bytes (with
  int16 RIRs the tail under the last step already rounds to zero: measured, the 90 dB floor saves nothing).

Error bounds per sample: int16 <= peak / 65534 of its row (+ float32 rounding of the scale); float16
<= 2**-11 relative. Measured figures: docs/dataset-format.md and ``benchmarks/bench_storage.py``. Every
shard records its codec in the root attribute ``storage`` (JSON); shards without one are float32 throughout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simkit.config import setting
from simkit.config import validate as validate_fields
from simkit.errors import SimkitError

CLIPS = "audio/binaural"
SOURCE = "audio/source"
# the mixed clip per view (RenderConfig.mix): stored in the clips' codec, or derived on read as the sum of the
# derived clips plus the stored noise; MIX_TARGET marks a shard that has a mix (simkit.audio.mix)
MIX, MIX_NOISE, MIX_TARGET = "audio/mix", "audio/mix_noise", "labels/mix_target"
DIRECT, INDIRECT = "rir/direct", "rir/indirect"
RIRS = (DIRECT, INDIRECT)
DERIVED_FROM = (SOURCE, DIRECT, INDIRECT)  # what a derived clip is computed from
CLIP_MODES = ("derived", "float32", "float16", "int16")
ARRAY_MODES = ("float32", "float16", "int16")
INT16_MAX = 32767.0
SCALE_SUFFIX = "_scale"


@dataclass(frozen=True)
class StorageConfig:
    """How a shard keeps its clips, RIRs and sources (``compact``, the render's default: <= 1 MB per view
    set with views; ``float32``: the writer's arrays bit for bit)."""

    # derived (source ⊛ mixed RIR on read) | float32 | float16 | int16
    clips: str = setting("derived", choices=CLIP_MODES)
    rir: str = setting("int16", choices=ARRAY_MODES)  # float32 | float16 | int16 (scaled per RIR channel)
    source: str = setting("int16", choices=ARRAY_MODES)  # float32 | float16 | int16 (scaled per clip)
    # zero RIR samples once the decay curve is this far below total energy; 0 = off
    rir_floor_db: float = setting(0.0, min=0, max=1000, unit="dB")
    # derived clips must match the rendered ones this well, or the write fails
    min_clip_snr_db: float = setting(50.0, min=0, max=1000, unit="dB")

    def validate(self) -> None:
        """One-line SimkitError naming the first bad field (``storage.<field> must be ...``)."""
        validate_fields(self, "storage")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def named(cls, name: str) -> StorageConfig:
        """A preset by name (``compact``, ``float32``): a config file may say ``"storage": "float32"``."""
        return preset(name)


FLOAT32 = StorageConfig(clips="float32", rir="float32", source="float32")
PRESETS: dict[str, StorageConfig] = {"compact": StorageConfig(), "float32": FLOAT32}


def preset(name: str) -> StorageConfig:
    """A named storage (``simkit render --storage NAME``)."""
    if name not in PRESETS:
        raise SimkitError(f"unknown storage {name!r} (known: {', '.join(PRESETS)})")
    return PRESETS[name]


def describe(cfg: StorageConfig) -> str:
    """``compact`` / ``float32`` for a preset, else the fields that differ from ``compact``."""
    for name, known in PRESETS.items():
        if cfg == known:
            return name
    base = asdict(PRESETS["compact"])
    return "custom (" + ", ".join(f"{k} {v}" for k, v in asdict(cfg).items() if base[k] != v) + ")"


def storage_of(f: Any) -> StorageConfig:
    """The codec a shard (an open ``h5py.File``) was written with; float32 when it records none."""
    text = f.attrs.get("storage")
    if text is None:
        return FLOAT32
    try:
        cfg = StorageConfig(**json.loads(text))
        cfg.validate()
    except (TypeError, ValueError, SimkitError) as e:
        raise SimkitError(f"malformed shard {getattr(f, 'filename', '?')}: unreadable storage attribute "
                          f"({e})") from None
    return cfg


# The largest scale a shard may hold: int16 samples decoded with it stay within sqrt(FLT_MAX / 2**31) (~4e14),
# so a float32 sum of squares over 2**31 samples (any clip's energy) cannot overflow to inf. The writer's
# scales are peak / 32767 of float32 audio and RIRs (~1e-5 in renders); this only catches corruption
# (1e30, inf) that would turn every loss into NaN. The smallest is any positive value (the writer: >= the
# smallest normal float32).
SCALE_MAX = float(np.sqrt(np.finfo(np.float32).max / 2.0**31) / INT16_MAX)


def scale_problem(scale: np.ndarray) -> str | None:
    """Why ``scale`` (a ``<name>_scale`` dataset's values) cannot be a scale, or None: every value must be
    finite and in (0, SCALE_MAX]."""
    s = np.asarray(scale, dtype=np.float64).ravel()
    checks = (("NaN", np.isnan(s)), ("an infinite value", np.isinf(s)), ("a zero", s == 0),
              ("a negative value", s < 0), ("a value above", s > SCALE_MAX))
    for what, bad in checks:
        if bad.any():
            where = int(np.argmax(bad))
            value = f" {SCALE_MAX:.3g} ({s[where]:.3g})" if what == "a value above" else ""
            return (f"holds {what}{value} at flat index {where} (a scale must be finite and in "
                    f"(0, {SCALE_MAX:.3g}])")
    return None


def storage_mismatch(f: Any, cfg: StorageConfig) -> str | None:
    """Where the stored arrays of an open shard disagree with its ``storage`` attribute (``cfg``), or None:
    each bulky dataset in the dtype its mode says (int16 with its ``_scale``, never a ``_scale`` beside
    another dtype), and no stored clips when they are derived."""
    modes = {DIRECT: cfg.rir, INDIRECT: cfg.rir, SOURCE: cfg.source, CLIPS: cfg.clips, MIX: cfg.clips,
             MIX_NOISE: cfg.source}
    for name, mode in modes.items():
        scaled = name + SCALE_SUFFIX in f
        if name not in f:
            if scaled:
                return f"dataset {name}{SCALE_SUFFIX} without {name}"
            continue
        dtype = np.dtype(f[name].dtype)
        if mode == "derived":
            return f"dataset {name} is stored ({dtype}) but the storage attribute says clips are derived"
        if name == MIX_NOISE and cfg.clips != "derived":
            return f"dataset {name} is stored beside stored clips (the stored {MIX} holds its noise)"
        if dtype != np.dtype(mode):
            return f"dataset {name} is {dtype} but the storage attribute says {mode}"
        if scaled and mode != "int16":
            return f"dataset {name} is {dtype} but has a {name}{SCALE_SUFFIX} (only int16 data is scaled)"
    return None


def trim_below_floor(x: np.ndarray, floor_db: float) -> np.ndarray:
    """Zero every sample of (..., T) RIRs after their backward-integrated energy falls ``floor_db`` below
    the total (the part that lies under the decay floor); ``floor_db = 0`` returns ``x`` unchanged."""
    if floor_db <= 0:
        return x
    e = np.asarray(x, dtype=np.float64) ** 2
    edc = np.cumsum(e[..., ::-1], axis=-1)[..., ::-1]  # energy from t to the end
    keep = edc > edc[..., :1] * 10.0 ** (-floor_db / 10.0)
    return np.where(keep, x, 0).astype(x.dtype, copy=False)


def encode_array(x: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Stored form of float32 ``x`` and its per-row scale (int16 only); rows = all but the last axis."""
    if mode == "float32":
        return np.ascontiguousarray(x, dtype=np.float32), None
    if mode == "float16":
        return np.ascontiguousarray(x, dtype=np.float16), None
    peak = np.max(np.abs(x), axis=-1).astype(np.float32) if x.shape[-1] else np.zeros(x.shape[:-1], np.float32)
    # a zero row keeps scale 1; a tiny peak keeps the smallest normal scale rather than underflowing to 0
    step = np.maximum(peak.astype(np.float64) / INT16_MAX, float(np.finfo(np.float32).tiny))
    scale = np.where(peak > 0, step, 1.0).astype(np.float32)
    q = np.rint(x.astype(np.float64) / scale[..., None].astype(np.float64))
    return np.clip(q, -INT16_MAX, INT16_MAX).astype(np.int16), scale


def decode_array(stored: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """float32 values of a stored selection and its scale (``None``: a plain cast)."""
    if scale is None:
        return np.asarray(stored, dtype=np.float32)
    return np.asarray(stored, dtype=np.float32) * np.asarray(scale, dtype=np.float32)[..., None]


def derive_clips(source: np.ndarray, direct: np.ndarray, indirect: np.ndarray, gain: float) -> np.ndarray:
    """The render's clips: ``source`` (..., T) convolved with ``direct + float32(gain) * indirect``
    (..., 2, R), first T samples; leading axes broadcast as in :func:`simkit.audio.dsp.fft_convolve`."""
    from simkit.audio.dsp import fft_convolve

    mixed = (direct + np.float32(gain) * indirect).astype(np.float32)
    return fft_convolve(source, mixed, source.shape[-1])


def worst_clip_snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    """The lowest SNR (dB) of ``est`` against ``ref`` over clips (..., 2, T): inf when every one is exact."""
    ref64 = np.asarray(ref, dtype=np.float64)
    err = np.sum((np.asarray(est, dtype=np.float64) - ref64) ** 2, axis=(-2, -1))
    sig = np.sum(ref64**2, axis=(-2, -1))
    with np.errstate(divide="ignore"):
        snr = np.where(err == 0, np.inf, 10 * np.log10(np.maximum(sig, 1e-300) / np.maximum(err, 1e-300)))
    return float(np.min(snr)) if snr.size else float("inf")


def encode(arrays: Mapping[str, Any], attrs: Mapping[str, Any], cfg: StorageConfig
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arrays of a shard as stored with ``cfg`` and the root attributes to add (``storage``, and
    ``derived_clip_snr_db`` for derived clips). Raises SimkitError when the clips cannot be derived: the
    sources or RIRs are missing, or the derived clips miss the given ones by more than ``min_clip_snr_db``."""
    out, worst = encode_arrays(arrays, attrs, cfg)
    return out, root_attrs(cfg, worst)


def root_attrs(cfg: StorageConfig, worst_snr_db: float | None) -> dict[str, Any]:
    """The root attributes a shard stored with ``cfg`` gets: ``storage``, and ``derived_clip_snr_db`` (from the
    worst derived clip's SNR; 999 when every clip was exact) when its clips are derived."""
    extra: dict[str, Any] = {"storage": cfg.to_json()}
    if worst_snr_db is not None:
        extra["derived_clip_snr_db"] = np.float64(round(worst_snr_db, 3) if np.isfinite(worst_snr_db) else 999.0)
    return extra


def encode_arrays(arrays: Mapping[str, Any], attrs: Mapping[str, Any], cfg: StorageConfig
                  ) -> tuple[dict[str, Any], float | None]:
    """The arrays as stored with ``cfg`` and the worst derived clip's SNR in dB (None when the clips are not
    derived). Every array is encoded row by row, so encoding a shard set by set gives the same bytes as
    encoding it whole (the render streams its sets through this)."""
    cfg.validate()
    out: dict[str, Any] = dict(arrays)
    given_mix = out.pop(MIX, None)
    if cfg.clips == "derived":
        mix_noise = out.get(MIX_NOISE)
    else:  # the stored mix holds its noise
        out.pop(MIX_NOISE, None)
        mix_noise = None
        if given_mix is not None:
            out[MIX] = given_mix
    modes = {DIRECT: cfg.rir, INDIRECT: cfg.rir, SOURCE: cfg.source, CLIPS: cfg.clips, MIX: cfg.clips,
             MIX_NOISE: cfg.source}
    for name, mode in modes.items():
        if name not in out or (name == CLIPS and mode == "derived"):
            continue
        x = np.asarray(out[name], dtype=np.float32)
        if mode != "float32" and not np.all(np.isfinite(x)):
            field_name = {DIRECT: "rir", INDIRECT: "rir", SOURCE: "source", CLIPS: "clips", MIX: "clips",
                          MIX_NOISE: "source"}[name]
            raise SimkitError(f"{name} holds NaN or infinite values; storage.{field_name} = {mode} cannot keep "
                              "them (store float32, or fix the input)")
        if name in RIRS:
            x = trim_below_floor(x, cfg.rir_floor_db)
        out[name], scale = encode_array(x, mode)
        if scale is not None:
            out[name + SCALE_SUFFIX] = scale
    if not (cfg.clips == "derived" and CLIPS in out):
        return out, None
    missing = [k for k in DERIVED_FROM if k not in out]
    if missing or "indirect_gain" not in attrs:
        raise SimkitError(f"storage clips=derived needs {', '.join(missing or ['the indirect_gain attribute'])}"
                          " (use clips float32 or int16 for clips that are not source ⊛ RIR)")
    clips = np.asarray(out.pop(CLIPS), dtype=np.float32)  # (N, V, S, 2, T)
    src = decode_array(out[SOURCE], out.get(SOURCE + SCALE_SUFFIX))  # (N, S, T)
    if src.shape[-1] != clips.shape[-1]:
        raise SimkitError(f"storage clips=derived needs sources as long as the clips ({src.shape[-1]} "
                          f"vs {clips.shape[-1]} samples)")
    rir = {k: decode_array(out[k], out.get(k + SCALE_SUFFIX)) for k in RIRS}
    noise = decode_array(out[MIX_NOISE], out.get(MIX_NOISE + SCALE_SUFFIX)) if mix_noise is not None else None
    worst = float("inf")
    for n in range(clips.shape[0]):  # one set at a time keeps the float64 FFT buffers small
        got = derive_clips(src[n][None, :, None, :], rir[DIRECT][n], rir[INDIRECT][n], attrs["indirect_gain"])
        worst = min(worst, worst_clip_snr_db(clips[n], got))
        if given_mix is not None:  # the mix a reader derives: the derived clips summed, plus the noise
            mix = got.sum(axis=1, dtype=np.float32) + (noise[n] if noise is not None else np.float32(0))
            worst = min(worst, worst_clip_snr_db(np.asarray(given_mix[n], np.float32), mix))
    if worst < cfg.min_clip_snr_db:
        raise SimkitError(f"storage clips=derived: the derived clips match the given ones at {worst:.1f} dB "
                          f"SNR, under storage.min_clip_snr_db = {cfg.min_clip_snr_db:g} (store the clips)")
    return out, worst


def has_dataset(f: Any, name: str) -> bool:
    """Whether ``name`` can be read from the shard: stored, or (clips, the mix) derivable from sources and
    RIRs."""
    if name == CLIPS and name not in f:
        return storage_of(f).clips == "derived" and all(k in f for k in DERIVED_FROM)
    if name == MIX and name not in f:
        return MIX_TARGET in f and has_dataset(f, CLIPS)
    return name in f


def read(f: Any, name: str, index: Any = ()) -> np.ndarray:
    """``name[index]`` of an open shard as float32, decoding its storage (``index`` selects leading axes
    only: the last one is a row of one scale)."""
    scale = f[name + SCALE_SUFFIX][index] if name + SCALE_SUFFIX in f else None
    return decode_array(f[name][index], scale)


def read_rir(f: Any, name: str, n: int, v: int, s: int) -> np.ndarray:
    """``rir/direct`` or ``rir/indirect`` of (set n, view v, source s): (2, R) float32."""
    return read(f, name, (n, v, s))


def read_rirs(f: Any, name: str, n: int, views: Sequence[int] | np.ndarray, s: int) -> np.ndarray:
    """``rir/direct`` or ``rir/indirect`` of source s in views ``views`` of set n: (len(views), 2, R) float32.

    Every view of the set is one HDF5 read (a chunk per view either way), a subset one read per view."""
    sel = [int(v) for v in views]
    if sel == list(range(f[name].shape[1])):
        return read(f, name, (n, slice(None), s))
    return np.stack([read(f, name, (n, v, s)) for v in sel])


def read_mixed_rir(f: Any, n: int, views: Sequence[int] | np.ndarray, s: int) -> np.ndarray:
    """The mixed RIRs ``direct + indirect_gain * indirect`` of source s in views ``views`` of set n:
    (len(views), 2, R) float32."""
    gain = np.float32(f.attrs["indirect_gain"])
    return (read_rirs(f, DIRECT, n, views, s) + gain * read_rirs(f, INDIRECT, n, views, s)).astype(np.float32)


def read_source(f: Any, n: int, s: int) -> np.ndarray:
    """The mono source clip of (set n, source s): (T,) float32."""
    return read(f, SOURCE, (n, s))


def derive_window(source: np.ndarray, mixed: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of the derived clips ``fft_convolve(source, mixed, T)`` (T = the source's
    length; ``source`` (..., T), ``mixed`` (..., 2, R) mixed RIRs), computing only that window.

    Output sample t needs ``source[t - k]`` for the taps k < min(R, t + 1) only, so the window convolves
    ``source[start - R' + 1 : stop]`` with the first R' taps (R' = min(R, stop), shortened further past the
    last nonzero tap of any row: int16 RIR tails round to zero), by overlap-save: one circular convolution
    of ``stop - start + R' - 1`` samples (the window plus the taps' reach), float64 as the writer's check.
    The result equals the same window of the whole derived clip up to float64 rounding (another FFT size)
    before the float32 cast."""
    t_all = source.shape[-1]
    if not 0 <= start <= stop <= t_all:
        raise ValueError(f"window [{start}, {stop}) outside a clip of {t_all} samples")
    taps = min(mixed.shape[-1], stop)
    nonzero = np.flatnonzero(np.any(mixed[..., :taps] != 0, axis=tuple(range(mixed.ndim - 1))))
    taps = int(nonzero[-1]) + 1 if nonzero.size else 0
    shape = np.broadcast_shapes(source.shape[:-1], mixed.shape[:-1])
    if taps == 0 or stop == start:
        return np.zeros((*shape, stop - start), np.float32)
    import scipy.fft

    lo = max(0, start - taps + 1)
    # circular length >= window + taps - 1: the wrap-around lands only before the window (overlap-save)
    n_fft = scipy.fft.next_fast_len(stop - start + taps - 1, real=True)
    x = np.asarray(source[..., lo:stop], dtype=np.float64)
    h = np.asarray(mixed[..., :taps], dtype=np.float64)
    y = scipy.fft.irfft(scipy.fft.rfft(x, n_fft) * scipy.fft.rfft(h, n_fft), n_fft)
    return np.ascontiguousarray(y[..., start - lo : stop - lo], dtype=np.float32)


def source_segment(source: np.ndarray, start: int, stop: int, taps: int) -> np.ndarray:
    """``source[start - taps + 1 : stop]`` (..., stop - start + taps - 1), zeros before the clip's start: what
    samples ``[start, stop)`` of its convolution with ``taps`` taps read (:func:`derive_batch`)."""
    lo = start - taps + 1
    seg = source[..., max(lo, 0) : stop]
    pad = [(0, 0)] * (seg.ndim - 1) + [(max(-lo, 0), 0)]
    return np.pad(seg, pad).astype(np.float32, copy=False)


def derive_batch(segment: Any, mixed: Any) -> Any:
    """Derived clips of a batch on its own device (torch): ``segment`` (B, W + R - 1) from
    :func:`source_segment`, ``mixed`` (B, ..., 2, R) mixed RIRs -> (B, ..., 2, W) float32, one batched
    float32 FFT convolution (overlap-save). Equals :func:`derive_window` to float32 FFT rounding."""
    import torch

    taps = mixed.shape[-1]
    width = segment.shape[-1] - taps + 1
    n_fft = 1 << max(0, (segment.shape[-1] - 1).bit_length())  # >= W + R - 1; powers of 2 suit every backend
    x = segment.float().reshape(segment.shape[0], *([1] * (mixed.ndim - 2)), segment.shape[-1])
    y = torch.fft.irfft(torch.fft.rfft(x, n_fft) * torch.fft.rfft(mixed.float(), n_fft), n_fft)
    return y[..., taps - 1 : taps - 1 + width].contiguous()


def read_binaural(f: Any, n: int, views: Sequence[int] | np.ndarray, s: int, start: int = 0,
                  stop: int | None = None) -> np.ndarray:
    """Binaural clips of source s in views ``views`` of set n, samples ``[start, stop)`` (default: the whole
    clip): (len(views), 2, stop - start) float32.

    Stored clips are decoded; derived ones are computed from the decoded source and RIRs exactly as the
    writer checked them (:func:`derive_clips`), only over the window asked for (:func:`derive_window`)."""
    if CLIPS in f:
        return np.stack([read(f, CLIPS, (n, int(v), s))[..., start:stop] for v in views])
    gain = np.float32(f.attrs["indirect_gain"])
    # the mixed RIR as derive_clips forms it: float32 direct + float32(gain) * indirect
    mixed = (read_rirs(f, DIRECT, n, views, s) + gain * read_rirs(f, INDIRECT, n, views, s)).astype(np.float32)
    source = read_source(f, n, s)
    stop = source.shape[-1] if stop is None else stop
    return derive_window(source[None, None, :], mixed, start, stop)


def clip_length(f: Any) -> int:
    """Samples per clip of an open shard (stored clips, or the sources derived ones are computed from)."""
    return int(f[CLIPS].shape[-1] if CLIPS in f else f[SOURCE].shape[-1])


def read_set_binaural(f: Any, n: int) -> np.ndarray:
    """Every clip of set n: (V, S, 2, T) float32."""
    v_all, s_all = int(f.attrs["n_views"]), int(f.attrs["n_sources"])
    return np.stack([read_binaural(f, n, range(v_all), s) for s in range(s_all)], axis=1)


def read_mix(f: Any, n: int, views: Sequence[int] | np.ndarray, start: int = 0, stop: int | None = None
             ) -> np.ndarray:
    """The mixed clips of views ``views`` of set n, samples ``[start, stop)``: (len(views), 2, stop - start)
    float32. Stored mixes are decoded; a derived one is the sum over sources of :func:`read_binaural` plus the
    stored noise (``audio/mix_noise``) when there is any."""
    if MIX in f:
        return np.stack([read(f, MIX, (n, int(v)))[..., start:stop] for v in views])
    if not has_dataset(f, MIX):
        raise SimkitError(f"shard {getattr(f, 'filename', '?')} has no mixed clips (render with mix.enabled)")
    out = sum(read_binaural(f, n, views, s, start, stop) for s in range(int(f.attrs["n_sources"])))
    if MIX_NOISE in f:
        out = out + np.stack([read(f, MIX_NOISE, (n, int(v)))[..., start:stop] for v in views])
    return np.asarray(out, dtype=np.float32)


def read_set_mix(f: Any, n: int) -> np.ndarray:
    """The mixed clip of every view of set n: (V, 2, T) float32."""
    return read_mix(f, n, range(int(f.attrs["n_views"])))
