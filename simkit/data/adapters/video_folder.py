"""``simkit prepare video-folder SRC --out DIR``: labelled stereo/binaural videos in simkit's layout.

The layout (docs/datasets.md, "video-folder") is simkit's own - seed 000's labelled sets (YT-Stereo,
YT-Stereo-iPhone, Stereo-Fountain, Binaural-Fountain, Stereo-Music, L/R Binaural) were never published
with one - and ``simkit egovideo`` writes it too::

    SRC/videos/<name>.<mp4|mkv|mov|webm|avi|m4v>   video with stereo or binaural audio
    SRC/labels.csv        header row; columns video, start_s, end_s, azimuth (required),
                          clip, category, motion (optional)
    SRC/splits/{train,val,test}.txt   optional: clip ids or video file names, one per line
    SRC/LICENSE (or licence.txt)      optional: copied into the manifest

``azimuth``: degrees (+90 = left, -90 = right, 0 = front, 180 = back; wrapped to (-180, 180]), or
``class:K`` - one of the seed's 16 classes, K = 0..15 counter-clockwise from the front in 22.5 deg steps
(:func:`simkit.conventions.class_center_deg`) - or ``left`` / ``right`` (side only, L/R Binaural), or
``unknown`` / empty. A labelled span of at least 5 s becomes 5 s clips every 3 s inside it; a shorter span
becomes the 5 s clip centred on it (clamped to the video). Portrait videos and mono audio (one channel, or
two identical ones) are refused with their reason, as seed 000 A.1.1 does. Without split lists clips are
split 80/10/10 at random (seeded by --seed), as the seed does for its fountain and music sets.

Output: one shard per video, one set per clip, one view and one source: ``audio`` (5 s, 16 kHz),
``labels`` (azimuth, side), ``pairs`` (zeros: one view), ``frames`` (``frames_per_clip`` frames evenly
spaced over the clip) and ``meta`` (clip id, start); category and motion are root attributes (JSON lists,
one entry per set).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit.conventions import SPLITS, class_center_deg, side_of_azimuth, wrap_deg
from simkit.data.adapters import Adapter, Plan, Protocol, ShardData, Unit, inside, register_adapter
from simkit.data.layout import format_entry
from simkit.errors import SimkitError
from simkit.video.rules import MIN_STEREO_DIFFERENCE, MONO_COPY, is_mono, refusal  # the A.1.1 rules of curate

NAME = "video-folder"
VERSION = "1"
REQUIRED = ("video", "start_s", "end_s", "azimuth")
OPTIONAL = ("clip", "category", "motion")
SIDE_WORDS = {"left": 1, "right": -1}
UNKNOWN = ("", "unknown", "nan", "na", "n/a", "?")
MAX_AUDIO_SHORTFALL_S = 0.5  # audio may end this much before a clip does (zero-padded); more is a truncated file
LICENCE_FILES = ("LICENSE", "LICENCE", "licence.txt", "license.txt", "LICENSE.txt")


@dataclass
class VideoFolderOptions:
    """``--option`` keys of the adapter (``simkit prepare video-folder SRC --out DIR --option KEY=VALUE``)."""

    clip_seconds: float = 5.0  # seed 000: 5 s clips ...
    clip_hop: float = 3.0  # ... every 3 s
    frames_per_clip: int = 5  # frames stored per clip, evenly spaced (0 = none)
    frame_width: int = 320  # stored frame width (height keeps the aspect)
    split: str = "0.8,0.1,0.1"  # without split lists: seeded random train,val,test shares of the clips
    seed: int = 0
    min_stereo_difference: float = MIN_STEREO_DIFFERENCE  # relative RMS difference of the channels: below it, mono

    @property
    def split_fractions(self) -> tuple[float, float, float]:
        try:
            fr = tuple(float(v) for v in self.split.split(","))
        except ValueError:
            fr = ()
        if len(fr) != 3 or abs(sum(fr) - 1) > 1e-6 or any(f < 0 for f in fr):
            raise SimkitError(f"video-folder option split must be three shares >= 0 summing to 1 (got {self.split!r})")
        return fr  # type: ignore[return-value]

    def validate(self) -> None:
        if not (self.clip_seconds > 0 and self.clip_hop > 0):
            raise SimkitError("video-folder options clip_seconds and clip_hop must be positive")
        if self.frames_per_clip < 0 or self.frame_width < 16 or self.frame_width % 2:
            raise SimkitError("video-folder options: frames_per_clip must be >= 0 and frame_width even, >= 16")
        self.split_fractions  # noqa: B018  (validates)


@dataclass
class LabelRow:
    """One row of labels.csv, parsed."""

    line: int
    clip: str
    video: str
    start_s: float
    end_s: float
    azimuth_deg: float  # NaN = unknown or side only
    side: int  # +1 left, -1 right, 0 unknown
    category: str
    motion: str


def parse_azimuth(text: str, where: str) -> tuple[float, int]:
    """(azimuth deg or NaN, side) of a label; SimkitError naming ``where`` if unreadable."""
    t = text.strip().lower()
    if t in UNKNOWN:
        return math.nan, 0
    if t in SIDE_WORDS:
        return math.nan, SIDE_WORDS[t]
    if t.startswith("class:"):
        try:
            k = int(t[6:])
        except ValueError:
            k = -1
        if not 0 <= k < 16:
            raise SimkitError(f"{where}: azimuth {text!r} is not class:0 .. class:15")
        az = float(class_center_deg(k, 16))
    else:
        try:
            az = float(t)
        except ValueError:
            raise SimkitError(f"{where}: azimuth {text!r} is not degrees, class:K, left, right or unknown") from None
        if not math.isfinite(az):
            raise SimkitError(f"{where}: azimuth {text!r} is not finite")
        az = float(wrap_deg(az))
    return az, int(side_of_azimuth(az))


def read_labels(src: Path) -> list[LabelRow]:
    """Parse ``src/labels.csv``; SimkitError naming the first bad line."""
    path = inside(src, "labels.csv", "labels.csv")
    if not path.is_file():
        raise SimkitError(f"video-folder source {src} has no labels.csv")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise SimkitError(f"{path} cannot be read as UTF-8 text ({e})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise SimkitError(f"{path}: header lacks column(s) {', '.join(missing)} (has {', '.join(header)})")
    rows: list[LabelRow] = []
    seen: set[str] = set()
    records = list(enumerate(reader, start=2))
    keys = video_keys((raw.get("video") or "").strip() for _i, raw in records)
    for i, raw in records:
        r = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        where = f"{path}:{i}"
        try:
            start, end = float(r["start_s"]), float(r["end_s"])
        except ValueError:
            raise SimkitError(f"{where}: start_s/end_s {r['start_s']!r}, {r['end_s']!r} are not numbers") from None
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            raise SimkitError(f"{where}: needs 0 <= start_s < end_s (got {start}, {end})")
        if not r["video"]:
            raise SimkitError(f"{where}: empty video")
        az, side = parse_azimuth(r["azimuth"], where)
        clip = r.get("clip") or f"{keys[r['video']]}@{start:g}"  # the video's key, as its shard id uses
        if clip in seen:
            raise SimkitError(f"{where}: clip {clip!r} appears twice")
        seen.add(clip)
        rows.append(LabelRow(i, clip, r["video"], start, end, az, side, r.get("category", ""), r.get("motion", "")))
    if not rows:
        raise SimkitError(f"{path} holds no labelled clips")
    return rows


def clip_windows(start: float, end: float, duration: float, cfg: VideoFolderOptions) -> list[float]:
    """Starts of the 5 s clips of a labelled span (see the module docstring); [] if the video is too short."""
    if duration + 1e-6 < cfg.clip_seconds:
        return []
    span = min(end, duration) - start
    if span + 1e-9 >= cfg.clip_seconds:
        n = int(math.floor((span - cfg.clip_seconds) / cfg.clip_hop + 1e-9)) + 1
        return [round(start + k * cfg.clip_hop, 6) for k in range(n)]
    centre = (start + min(end, duration)) / 2
    return [round(min(max(0.0, centre - cfg.clip_seconds / 2), duration - cfg.clip_seconds), 6)]


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip("._-") or "video"


def video_keys(videos: Iterable[str]) -> dict[str, str]:
    """The one naming rule of clip ids and shard ids: a video is named by its stem when no other labelled
    video shares it (``walk.mp4`` -> ``walk``), else by its whole name (``walk.mp4`` and ``walk.mkv``).
    ``videos`` are all the videos labels.csv names, refused ones included, so a refused ``walk.mkv`` cannot
    make ``walk.mp4``'s clips and its shard disagree."""
    names = sorted(set(videos))
    stems: dict[str, int] = {}
    for v in names:
        stems[Path(v).stem] = stems.get(Path(v).stem, 0) + 1
    return {v: Path(v).stem if stems[Path(v).stem] == 1 else v for v in names}


def shard_ids(videos: Iterable[str]) -> dict[str, str]:
    """A unique shard id per video name: its :func:`video_keys` key; a key that had to be changed to be a
    safe file name gets 6 hex digits of its hash, so two names never meet in one id."""
    out: dict[str, str] = {}
    for v, raw in video_keys(videos).items():
        sid = _safe_name(raw)
        out[v] = sid if sid == raw else f"{sid}-{hashlib.sha256(v.encode()).hexdigest()[:6]}"
    seen: dict[str, str] = {}
    for v, sid in out.items():
        if sid in seen:  # one video's stem equal to another's whole name (walk.mp4.avi beside walk.mp4, walk.mkv)
            raise SimkitError(f"videos {seen[sid]} and {v} map to one shard id {sid}; rename one")
        seen[sid] = v
    return out


def read_split_lists(src: Path) -> dict[str, list[str]] | None:
    """``src/splits/{train,val,test}.txt`` (all three or none); entries are clip ids or video names."""
    d = src / "splits"
    files = {s: inside(src, d / f"{s}.txt", f"split list {s}.txt") for s in SPLITS}
    present = [s for s, p in files.items() if p.is_file()]
    if not present:
        return None
    if len(present) != 3:
        absent = [s for s in files if s not in present]
        raise SimkitError(f"{d}: split lists need train, val and test (missing {', '.join(absent)}.txt)")
    return {s: [ln.strip() for ln in p.read_text().splitlines() if ln.strip()] for s, p in files.items()}


def random_split(key: str, fractions: tuple[float, float, float], seed: int) -> str:
    u = int(hashlib.sha256(f"{seed}/{key}".encode()).hexdigest()[:12], 16) / float(16**12)
    acc = 0.0
    for name, f in zip(SPLITS, fractions, strict=True):
        acc += f
        if u < acc:
            return name
    return "test"


@dataclass
class Clip:
    clip: str  # clip id: the label's, with ``:k`` for the k-th 5 s cut of a longer span
    label: LabelRow
    start_s: float
    split: str = ""


def plan(src: Path, cfg: VideoFolderOptions) -> tuple[dict[str, list[Clip]], dict[str, str], list[LabelRow]]:
    """Clips per video file, refused videos (name -> reason) and the labels; nothing is decoded but probes."""

    rows = read_labels(src)
    vdir = src / "videos"
    if not vdir.is_dir():
        raise SimkitError(f"video-folder source {src} has no videos/ folder")
    refused: dict[str, str] = {}
    clips: dict[str, list[Clip]] = {}
    durations: dict[str, float] = {}
    for r in rows:
        where = f"{src / 'labels.csv'}:{r.line}"
        path = inside(src, Path("videos") / r.video, f"{where}: video {r.video!r}")
        if not path.is_file():
            raise SimkitError(f"{where}: video {r.video} not found in {vdir}")
        if r.video not in durations and r.video not in refused:
            reason, info = refusal(path, cfg.clip_seconds)
            if reason and info is None:  # not a video to refuse but a broken file (empty, truncated, corrupt)
                raise SimkitError(f"{where}: video {r.video} cannot be read ({reason.removeprefix('unreadable: ')})")
            if reason:
                refused[r.video] = reason
                continue
            durations[r.video] = info.duration_s
        if r.video in refused:
            continue
        starts = clip_windows(r.start_s, r.end_s, durations[r.video], cfg)
        for k, s in enumerate(starts):
            cid = r.clip if len(starts) == 1 else f"{r.clip}:{k}"
            clips.setdefault(r.video, []).append(Clip(cid, r, s))
    return clips, refused, rows


def assign_splits(clips: dict[str, list[Clip]], lists: dict[str, list[str]] | None, cfg: VideoFolderOptions) -> None:
    """Split of every clip: the lists (by clip id, label clip id or video name) or seeded random shares."""
    lookup: dict[str, str] = {}
    if lists:
        for split, entries in lists.items():
            for e in entries:
                if e in lookup and lookup[e] != split:
                    raise SimkitError(f"split lists: {e!r} is in both {lookup[e]} and {split}")
                lookup[e] = split
    for video, cs in clips.items():
        for c in cs:
            if lists:
                split = lookup.get(c.clip) or lookup.get(c.label.clip) or lookup.get(video)
                if split is None:
                    raise SimkitError(f"clip {c.clip} (video {video}) is in none of the split lists")
                c.split = split
            else:
                c.split = random_split(c.clip, cfg.split_fractions, cfg.seed)


def _read_stereo(path: Path, sample_rate: int) -> np.ndarray:
    from simkit.video.io import read_audio

    return read_audio(path, sample_rate, channels=2)


@register_adapter
class VideoFolder(Adapter):
    name = NAME
    version = VERSION
    description = ("labelled stereo/binaural videos (seed 000's YT-Stereo, Stereo-Fountain, Binaural-Fountain, "
                   "Stereo-Music, L/R Binaural; simkit egovideo): 5 s clips with azimuth labels")
    licence = "the source's own (LICENSE file in SRC, copied into the manifest)"
    homepage = "docs/datasets.md#video-folder"
    groups = ("audio", "labels", "pairs", "frames", "meta")
    tasks = ("direction",)
    Options = VideoFolderOptions

    def scan(self, src: Path) -> Plan:
        o: VideoFolderOptions = self.options
        o.validate()
        clips, refused, rows = plan(src, o)
        lists = read_split_lists(src)
        sr = self.common.sample_rate
        for video in sorted(clips):  # identical channels are mono too: decode the audio once here
            audio = _read_stereo(src / "videos" / video, sr)
            if is_mono(audio, o.min_stereo_difference):
                refused[video] = MONO_COPY
                del clips[video]
                continue
            # a file cut short (a Matroska copy still probes at its full length) would give silent clips
            last = max(clips[video], key=lambda c: c.start_s)
            need, have = last.start_s + o.clip_seconds, audio.shape[1] / sr
            if have + MAX_AUDIO_SHORTFALL_S < need:
                raise SimkitError(f"{src / 'labels.csv'}:{last.label.line}: video {video} is truncated: clip "
                                  f"{last.clip} needs audio up to {need:.2f} s, the file's audio ends at {have:.2f} s")
        if not clips:
            why = "; ".join(f"{v}: {r}" for v, r in sorted(refused.items())) or "no labelled clip fits a video"
            raise SimkitError(f"video-folder source {src} holds no usable clip ({why})")
        assign_splits(clips, lists, o)
        units, default = [], {"train": [], "val": [], "test": []}
        ids = shard_ids(r.video for r in rows)  # over every labelled video, as the clip ids are (read_labels)
        for video in sorted(clips):
            sid = ids[video]
            cs = clips[video]
            units.append(Unit(sid, {"path": str(src / "videos" / video), "video": video, "clips": [
                {"clip": c.clip, "start_s": c.start_s, "azimuth_deg": c.label.azimuth_deg, "side": c.label.side,
                 "category": c.label.category, "motion": c.label.motion} for c in cs]}))
            for i, c in enumerate(cs):
                default[c.split].append(format_entry(sid, i))
        how = "the split lists of SRC/splits/" if lists else f"seeded random {o.split} of the clips"
        licence = next((inside(src, n, n).read_text(errors="replace").strip()[:2000] for n in LICENCE_FILES
                        if (src / n).is_file()), None)  # copied into the manifest: never a file from elsewhere
        facts = {"refused": dict(sorted(refused.items())), "labelled_rows": len(rows),
                 "source_licence": licence or "not given (no LICENSE file in SRC)"}
        return Plan(units, {"default": Protocol(default, f"video-folder: {how}")}, facts=facts)

    def build(self, unit: Unit) -> ShardData:
        from simkit.video.io import read_frames

        o: VideoFolderOptions = self.options
        p = unit.payload
        path, cs = Path(p["path"]), p["clips"]
        sr = self.common.sample_rate
        audio = _read_stereo(path, sr)
        n = int(round(o.clip_seconds * sr))
        wins = np.zeros((len(cs), 1, 1, 2, n), dtype=np.float32)
        for i, c in enumerate(cs):
            a = int(round(c["start_s"] * sr))
            seg = audio[:, a : a + n]
            wins[i, 0, 0, :, : seg.shape[1]] = seg
        arrays = {
            "audio/binaural": wins,
            "labels/azimuth_deg": np.array([c["azimuth_deg"] for c in cs], np.float32).reshape(-1, 1, 1),
            "labels/side": np.array([c["side"] for c in cs], np.int8).reshape(-1, 1, 1),
            "pairs/rel_yaw_deg": np.zeros((len(cs), 1, 1), np.float32),
            "pairs/rel_translation": np.zeros((len(cs), 1, 1, 3), np.float32),
            "meta/set_id": np.array([c["clip"] for c in cs], dtype=object),
            "meta/start_s": np.array([c["start_s"] for c in cs], np.float64),
        }
        groups = ["audio", "labels", "pairs", "meta"]
        group_attrs: dict = {}
        if o.frames_per_clip:
            f = o.frames_per_clip
            rel = (np.arange(f) + 0.5) * o.clip_seconds / f
            times = np.array([c["start_s"] + rel for c in cs]).reshape(-1)
            order = np.argsort(times, kind="stable")
            flat = read_frames(path, times[order], width=o.frame_width)
            frames = np.empty_like(flat)
            frames[order] = flat
            arrays["frames/rgb"] = frames.reshape(len(cs), 1, f, *flat.shape[1:])
            arrays["frames/time_s"] = np.broadcast_to(rel[None, None, :], (len(cs), 1, f)).astype(np.float32)
            groups.append("frames")
            group_attrs["frames"] = {"fps": f / o.clip_seconds}
        # per-set strings outside the schema: JSON lists in root attributes (category and motion of set n)
        attrs = {"source_video": p["video"], "category": json.dumps([c["category"] for c in cs]),
                 "motion": json.dumps([c["motion"] for c in cs])}
        return ShardData(arrays, attrs, group_attrs, groups=groups)
