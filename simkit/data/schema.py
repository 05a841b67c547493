"""The shard schema (docs/dataset-format.md): named groups of HDF5 datasets with dtypes and symbolic shapes.

A shard holds one unit of a dataset (a rendered scene, a prepared clip or scene): ``N`` sets of ``V`` views
with ``S`` sources each. Which groups a shard carries depends on where it came from - a render has every
group but ``frames``, FAIR-Play has ``audio`` and ``frames``, HM3D-SS ``audio``, ``rir``, ``poses``,
``labels``, ``pairs`` and ``views`` - and the dataset's manifest lists them. ``GROUPS`` is the single source
of truth for names, dtypes and shapes: the writer refuses arrays that do not match it, the validator checks
files against it and a test keeps docs/dataset-format.md in step with it.

Compact storage: the bulky float32 datasets may be stored as float16 or as int16 with a per-row
``<name>_scale`` dataset (``Field.stored``), and a shard whose ``storage`` attribute says ``clips =
derived`` stores no ``audio/binaural`` (it is computed on read); :mod:`simkit.data.storage` encodes and
decodes, and readers go through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA_VERSION = 2  # 2: compact storage (simkit.data.storage); 1: float32 audio throughout
READABLE_SCHEMA_VERSIONS = (1, 2)  # a version-1 shard reads as a version-2 one with float32 storage

# Symbols of the symbolic shapes: N sets, V views, S sources, R RIR samples, T clip samples, H x W view
# image size, F frames per view, FH x FW frame size.
SYMBOLS = {
    "N": "sets in the shard", "V": "views per set", "S": "sources per set", "R": "RIR samples",
    "T": "clip samples", "H": "view image height", "W": "view image width", "F": "video frames per view",
    "FH": "frame height", "FW": "frame width",
}
# Dimensions that index items: chunked one per item so a loader reads one clip in one go.
ITEM_DIMS = ("N", "V", "S", "F")


@dataclass(frozen=True)
class Field:
    """One dataset: HDF5 path, logical dtype (``str`` = variable-length UTF-8), symbolic shape, meaning.

    ``stored``: dtypes accepted on disk besides ``dtype`` (a compact storage, :mod:`simkit.data.storage`).
    """

    name: str
    dtype: str
    shape: tuple[str | int, ...]
    required: bool
    doc: str
    stored: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    """A set of datasets that come together; ``attrs`` are required attributes of the HDF5 group ``attr_group``,
    ``root_attrs`` root attributes a shard with this group must have."""

    name: str
    doc: str
    fields: tuple[Field, ...]
    attrs: tuple[str, ...] = ()
    attr_group: str = ""
    root_attrs: tuple[str, ...] = ()
    optional_attrs: tuple[str, ...] = field(default=())

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


F = Field
GROUPS: dict[str, Group] = {
    g.name: g
    for g in (
        Group("audio", "binaural (or stereo) clips and the dry sources they were made from", (
            F("audio/binaural", "float32", ("N", "V", "S", 2, "T"), True,
              "clip of source s heard at view v, channel 0 = left (renders: the source convolved with the "
              "mixed RIR, first T samples); absent when the shard's storage derives it on read", ("float16", "int16")),
            F("audio/binaural_scale", "float32", ("N", "V", "S", 2), False,
              "per-channel scale of int16 clips (value = stored * scale)"),
            F("audio/source", "float32", ("N", "S", "T"), False,
              "dry mono clip of source s (the same utterance at every view of the set)", ("float16", "int16")),
            F("audio/source_scale", "float32", ("N", "S"), False, "per-clip scale of int16 sources"),
            F("audio/source_id", "str", ("N", "S"), False,
              "which corpus utterance or recording fed the clip, e.g. `librispeech:103-1240-0000@3.20`"),
            F("audio/speaker", "str", ("N", "S"), False, "speaker (LibriSpeech) or voice (espeak) id"),
            F("audio/text", "str", ("N", "S"), False, "transcript of the utterance"),
            F("audio/mix", "float32", ("N", "V", 2, "T"), False,
              "mixed clip of view v (renders with `mix.enabled`): the sum over s of `audio/binaural[n, v, s]` "
              "plus the diffuse noise, channel 0 = left; absent when the shard's storage derives the clips "
              "(then read as that sum plus `audio/mix_noise`)", ("float16", "int16")),
            F("audio/mix_scale", "float32", ("N", "V", 2), False, "per-channel scale of an int16 mix"),
            F("audio/mix_noise", "float32", ("N", "V", 2, "T"), False,
              "the diffuse noise inside the mix of view v, stored only when the clips (and so the mix) are "
              "derived on read", ("float16", "int16")),
            F("audio/mix_noise_scale", "float32", ("N", "V", 2), False, "per-channel scale of int16 mix noise"),
            F("audio/mix_snr_db", "float32", ("N", "V"), False,
              "SNR (dB) the mix's noise was scaled to: clean mix energy over noise energy, both channels"),
        )),
        Group("rir", "binaural room impulse responses; the mixed RIR is `direct + indirect_gain * indirect`", (
            F("rir/direct", "float32", ("N", "V", "S", 2, "R"), True,
              "direct-path binaural RIR of source s at view v", ("float16", "int16")),
            F("rir/indirect", "float32", ("N", "V", "S", 2, "R"), True, "reverberant (indirect) part",
              ("float16", "int16")),
            F("rir/direct_scale", "float32", ("N", "V", "S", 2), False, "per-channel scale of int16 direct RIRs"),
            F("rir/indirect_scale", "float32", ("N", "V", "S", 2), False,
              "per-channel scale of int16 indirect RIRs"),
            F("rir/rt60", "float32", ("N", "V", "S"), True,
              "RT60 in s (T30, Schroeder) of the mixed RIR, mean of both channels; NaN when too short to fit"),
        ), root_attrs=("indirect_gain",)),
        Group("poses", "where the listener/camera and the sources are (world frame, m)", (
            F("poses/position", "float64", ("N", "V", 3), True, "camera/listener position (at sensor height)"),
            F("poses/yaw_deg", "float64", ("N", "V"), True, "camera yaw (deg, + = turned left)"),
            F("poses/quat_wxyz", "float64", ("N", "V", 4), False, "listener orientation, local -> world"),
            F("sources/position", "float64", ("N", "S", 3), False, "source positions"),
            F("sources/instance", "uint16", ("N", "S"), False,
              "instance id of source s's visible object (its body) in `views/instance` (renders with "
              "`sampling.visible_sources`)"),
            F("sources/kind", "str", ("N", "S"), False,
              "kind of source s's visible object (`simkit.scenes.emitters.KINDS`, e.g. `loudspeaker`)"),
        )),
        Group("labels", "what the direction task scores; NaN where a label is unknown", (
            F("labels/azimuth_deg", "float32", ("N", "V", "S"), True,
              "source azimuth seen from view v (+90 = left, -90 = right, 0 = front, 180 = back)"),
            F("labels/elevation_deg", "float32", ("N", "V", "S"), False, "source elevation seen from view v"),
            F("labels/distance_m", "float32", ("N", "V", "S"), False, "source distance from view v"),
            F("labels/side", "int8", ("N", "V", "S"), False,
              "side only (+1 left, -1 right, 0 unknown) where the azimuth is not known (StereoCRW's L/R labels)"),
            F("labels/mix_target", "int16", ("N", "V"), False,
              "the source `audio/mix[n, v]` is labelled with (`mix.target`: the loudest at the listener or "
              "source 0); present exactly when the shard has a mix"),
        )),
        Group("pairs", "camera motion between the views of a set", (
            F("pairs/rel_yaw_deg", "float32", ("N", "V", "V"), True,
              "`[n, i, j] = wrap(yaw_j - yaw_i)`; a static source's azimuth changes by its negative"),
            F("pairs/rel_translation", "float32", ("N", "V", "V", 3), False,
              "`[n, i, j]` = position of view j in the frame of view i (x right, y up, -z forward)"),
        )),
        Group("views", "one image per view: what the listener sees", (
            F("views/rgb", "uint8", ("N", "V", "H", "W", 3), True, "colour image"),
            F("views/depth", "float16", ("N", "V", "H", "W"), False,
              "metric depth along the optical axis (m); 0 where no surface"),
            F("views/instance", "uint16", ("N", "V", "H", "W"), False,
              "object instance id per pixel (0 = structure/none)"),
            F("views/source_pixels", "int32", ("N", "V", "S"), False,
              "pixels of source s's object in `views/instance[n, v]` (renders with `sampling.visible_sources`)"),
            F("views/passed_filters", "uint8", ("N",), False,
              "1 when the set passes the HM3D-SS view filters"),
            F("views/filter_tries", "int32", ("N",), False, "view sets drawn to find this one"),
        ), attrs=("width", "height"), attr_group="views", optional_attrs=("hfov_deg", "pitch_deg", "filters_applied")),
        Group("frames", "video frames along each clip (recorded datasets)", (
            F("frames/rgb", "uint8", ("N", "V", "F", "FH", "FW", 3), True, "decoded video frames"),
            F("frames/time_s", "float32", ("N", "V", "F"), True, "time of each frame from the clip start (s)"),
        ), attrs=("fps",), attr_group="frames"),
        Group("meta", "identifiers of the sets (adapters: the source's own names)", (
            F("meta/set_id", "str", ("N",), True, "the source's name of set n, e.g. `pair-0042` or `001158`"),
            F("meta/start_s", "float64", ("N",), False, "start of the clip in the source recording (s)"),
        )),
    )
}
del F

# Root attributes every shard has; ``complete`` is written last.
ROOT_ATTRS = ("schema_version", "scene_id", "config_hash", "sample_rate", "n_sets", "n_views", "n_sources",
              "simkit_version", "groups", "complete")
# Root attributes renders also write (and adapters where they apply).
RENDER_ATTRS = ("split", "engine", "engine_version", "hrtf_id", "speech_source", "indirect_gain", "scene_source")


def all_fields() -> dict[str, tuple[Group, Field]]:
    """Every dataset name -> (its group, its field)."""
    return {f.name: (g, f) for g in GROUPS.values() for f in g.fields}


def group_of(name: str) -> str:
    """The group a dataset belongs to (KeyError if none)."""
    return all_fields()[name][0].name


def groups_present(names: Mapping[str, Any] | set[str] | list[str]) -> list[str]:
    """Groups whose required datasets are all among ``names`` (in schema order)."""
    have = set(names)
    return [g.name for g in GROUPS.values() if all(f.name in have for f in g.fields if f.required)]


def check_shapes(arrays: Mapping[str, Any], groups: list[str] | tuple[str, ...],
                 derived: tuple[str, ...] = ()) -> dict[str, int]:
    """Check ``arrays`` (numpy arrays or h5py datasets) against ``groups``; return the symbol sizes.

    ``derived`` names required datasets that may be absent because readers compute them (derived clips).

    Raises ValueError naming the first dataset that is missing (a required one), of the wrong rank, of a
    fixed size it should not have, or of a size that disagrees with another dataset's; unknown names in
    ``arrays`` are an error too, so nothing outside the schema is written.
    """
    known = all_fields()
    for name in arrays:
        if name not in known:
            raise ValueError(f"dataset {name} is not in the schema")
        if known[name][0].name not in groups:
            raise ValueError(f"dataset {name} belongs to group {known[name][0].name}, not among {list(groups)}")
    dims: dict[str, int] = {}
    for gname in groups:
        if gname not in GROUPS:
            raise ValueError(f"unknown group {gname} (known: {', '.join(GROUPS)})")
        for f in GROUPS[gname].fields:
            if f.name not in arrays:
                if f.required and f.name not in derived:
                    raise ValueError(f"group {gname}: dataset {f.name} missing")
                continue
            shape = tuple(np.shape(arrays[f.name])) if not hasattr(arrays[f.name], "shape") else \
                tuple(arrays[f.name].shape)
            if len(shape) != len(f.shape):
                raise ValueError(f"dataset {f.name}: rank {len(shape)}, schema {f.shape}")
            for size, s in zip(shape, f.shape, strict=True):
                if isinstance(s, int):
                    if size != s:
                        raise ValueError(f"dataset {f.name}: shape {shape} does not match {f.shape}")
                elif dims.setdefault(s, size) != size:
                    raise ValueError(f"dataset {f.name}: dimension {s}={size}, elsewhere {dims[s]}")
    return dims


def check_dtype(name: str, dtype: np.dtype | str) -> str | None:
    """None when ``dtype`` is acceptable on disk for dataset ``name``, else the problem."""
    _g, f = all_fields()[name]
    dt = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    if f.dtype == "str":
        return None if dt.kind in ("O", "S", "U") else f"dataset {name}: dtype {dt}, schema str"
    allowed = {np.dtype(f.dtype), *(np.dtype(d) for d in f.stored)}
    return None if dt in allowed else f"dataset {name}: dtype {dt}, schema {f.dtype}"


SMALL_ITEM_BYTES = 4096  # items smaller than this share chunks: a chunk's index entry and checksum cost ~50 B


def chunks(shape: tuple[int, ...], sym: tuple[str | int, ...], itemsize: int = 4) -> tuple[int, ...] | bool:
    """One chunk per item (set, view, source, frame) for the bulky arrays, so a loader reads a clip at once;
    small items (labels, poses, scales) in chunks HDF5 picks."""
    per_item = tuple(1 if isinstance(d, str) and d in ITEM_DIMS else n for n, d in zip(shape, sym, strict=True))
    if int(np.prod(per_item)) * itemsize < SMALL_ITEM_BYTES:
        return True
    return per_item

