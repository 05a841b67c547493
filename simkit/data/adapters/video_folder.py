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
spaced over the clip) and ``meta`` (clip id, start); category and motion are root attributes per set.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simkit.conventions import class_center_deg, wrap_deg
from simkit.errors import SimkitError
from simkit.io import stable_hash

NAME = "video-folder"
VERSION = "1"
REQUIRED = ("video", "start_s", "end_s", "azimuth")
OPTIONAL = ("clip", "category", "motion")
SIDE_WORDS = {"left": 1, "right": -1}
UNKNOWN = ("", "unknown", "nan", "na", "n/a", "?")
LICENCE_FILES = ("LICENSE", "LICENCE", "licence.txt", "license.txt", "LICENSE.txt")


@dataclass(frozen=True)
class VideoFolderConfig:
    """Options of the adapter (``simkit prepare video-folder``)."""

    clip_seconds: float = 5.0  # seed 000: 5 s clips ...
    clip_hop: float = 3.0  # ... every 3 s
    sample_rate: int = 16000
    frames_per_clip: int = 5  # frames stored per clip, evenly spaced (0 = none)
    frame_width: int = 320
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # without split lists: random per clip
    seed: int = 0
    min_stereo_difference: float = 1e-4  # relative RMS difference of the channels below which audio is mono

    def validate(self) -> None:
        if not (self.clip_seconds > 0 and self.clip_hop > 0):
            raise SimkitError("video-folder: clip seconds and hop must be positive")
        if self.frames_per_clip < 0 or self.frame_width < 16 or self.frame_width % 2:
            raise SimkitError("video-folder: --frames-per-clip must be >= 0 and --frame-width even, >= 16")
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1) > 1e-6 or \
                any(f < 0 for f in self.split_fractions):
            raise SimkitError(f"video-folder: split shares must be three numbers >= 0 summing to 1 "
                              f"(got {self.split_fractions})")


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
    side = 0 if abs(math.sin(math.radians(az))) < 1e-9 else (1 if math.sin(math.radians(az)) > 0 else -1)
    return az, side


def read_labels(src: Path) -> list[LabelRow]:
    """Parse ``src/labels.csv``; SimkitError naming the first bad line."""
    path = src / "labels.csv"
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
    for i, raw in enumerate(reader, start=2):
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
        clip = r.get("clip") or f"{Path(r['video']).stem}@{start:g}"
        if clip in seen:
            raise SimkitError(f"{where}: clip {clip!r} appears twice")
        seen.add(clip)
        rows.append(LabelRow(i, clip, r["video"], start, end, az, side, r.get("category", ""), r.get("motion", "")))
    if not rows:
        raise SimkitError(f"{path} holds no labelled clips")
    return rows


def clip_windows(start: float, end: float, duration: float, cfg: VideoFolderConfig) -> list[float]:
    """Starts of the 5 s clips of a labelled span (see the module docstring); [] if the video is too short."""
    if duration + 1e-6 < cfg.clip_seconds:
        return []
    span = min(end, duration) - start
    if span + 1e-9 >= cfg.clip_seconds:
        n = int(math.floor((span - cfg.clip_seconds) / cfg.clip_hop + 1e-9)) + 1
        return [round(start + k * cfg.clip_hop, 6) for k in range(n)]
    centre = (start + min(end, duration)) / 2
    return [round(min(max(0.0, centre - cfg.clip_seconds / 2), duration - cfg.clip_seconds), 6)]


def _shard_id(video: str) -> str:
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(video).stem).lstrip("._-") or "video"
    return f"{stem}-{hashlib.sha256(video.encode()).hexdigest()[:6]}" if stem != Path(video).stem else stem


def read_split_lists(src: Path) -> dict[str, list[str]] | None:
    """``src/splits/{train,val,test}.txt`` (all three or none); entries are clip ids or video names."""
    d = src / "splits"
    files = {s: d / f"{s}.txt" for s in ("train", "val", "test")}
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
    for name, f in zip(("train", "val", "test"), fractions, strict=True):
        acc += f
        if u < acc:
            return name
    return "test"


@dataclass
class Clip:
    clip: str  # clip id (label clip id, with @k for the k-th 5 s cut of a longer span)
    label: LabelRow
    start_s: float
    split: str = ""


def plan(src: Path, cfg: VideoFolderConfig) -> tuple[dict[str, list[Clip]], dict[str, str], list[LabelRow]]:
    """Clips per video file, refused videos (name -> reason) and the labels; nothing is decoded but probes."""
    from simkit.curate.pipeline import CurateConfig, refusal  # the same A.1.1 rules as curate

    rows = read_labels(src)
    vdir = src / "videos"
    if not vdir.is_dir():
        raise SimkitError(f"video-folder source {src} has no videos/ folder")
    refused: dict[str, str] = {}
    clips: dict[str, list[Clip]] = {}
    ccfg = CurateConfig(clip_seconds=cfg.clip_seconds, min_stereo_difference=cfg.min_stereo_difference)
    durations: dict[str, float] = {}
    for r in rows:
        path = vdir / r.video
        if not path.is_file():
            raise SimkitError(f"{src / 'labels.csv'}:{r.line}: video {r.video} not found in {vdir}")
        if r.video not in durations and r.video not in refused:
            reason, info = refusal(path, ccfg)
            if reason:
                refused[r.video] = reason
                continue
            durations[r.video] = info.duration_s
        if r.video in refused:
            continue
        starts = clip_windows(r.start_s, r.end_s, durations[r.video], cfg)
        for k, s in enumerate(starts):
            cid = r.clip if len(starts) == 1 else f"{r.clip}#{k}"
            clips.setdefault(r.video, []).append(Clip(cid.replace("#", "."), r, s))
    return clips, refused, rows


def assign_splits(clips: dict[str, list[Clip]], lists: dict[str, list[str]] | None, cfg: VideoFolderConfig) -> None:
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


def _mono(audio: np.ndarray, cfg: VideoFolderConfig) -> bool:
    level = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) + 1e-12
    return float(np.sqrt(np.mean((audio[0].astype(np.float64) - audio[1]) ** 2))) / level < cfg.min_stereo_difference


def video_arrays(path: Path, clips: list[Clip], cfg: VideoFolderConfig) -> dict[str, np.ndarray] | str:
    """Shard arrays of one video's clips, or the reason the audio is refused (identical channels)."""
    from simkit.video.io import read_audio, read_frames

    audio = read_audio(path, cfg.sample_rate, channels=2)
    if _mono(audio, cfg):
        return "mono audio (two identical channels)"
    sr, n = cfg.sample_rate, int(round(cfg.clip_seconds * cfg.sample_rate))
    wins = np.zeros((len(clips), 1, 1, 2, n), dtype=np.float32)
    for i, c in enumerate(clips):
        a = int(round(c.start_s * sr))
        seg = audio[:, a : a + n]
        wins[i, 0, 0, :, : seg.shape[1]] = seg
    out = {
        "audio/binaural": wins,
        "labels/azimuth_deg": np.array([c.label.azimuth_deg for c in clips], np.float32).reshape(-1, 1, 1),
        "labels/side": np.array([c.label.side for c in clips], np.int8).reshape(-1, 1, 1),
        "pairs/rel_yaw_deg": np.zeros((len(clips), 1, 1), np.float32),
        "pairs/rel_translation": np.zeros((len(clips), 1, 1, 3), np.float32),
        "meta/set_id": np.array([c.clip for c in clips], dtype=object),
        "meta/start_s": np.array([c.start_s for c in clips], np.float64),
    }
    if cfg.frames_per_clip:
        f = cfg.frames_per_clip
        rel = (np.arange(f) + 0.5) * cfg.clip_seconds / f
        times = np.array([c.start_s + rel for c in clips]).reshape(-1)
        order = np.argsort(times, kind="stable")
        flat = read_frames(path, times[order], width=cfg.frame_width)
        frames = np.empty_like(flat)
        frames[order] = flat
        out["frames/rgb"] = frames.reshape(len(clips), 1, f, *flat.shape[1:])
        out["frames/time_s"] = np.broadcast_to(rel[None, None, :], (len(clips), 1, f)).astype(np.float32)
    return out


def source_fingerprint(src: Path, rows: list[LabelRow]) -> str:
    """Hash of labels.csv, the split lists and each labelled video's size: a changed source is a new config."""
    parts: dict[str, Any] = {"labels": hashlib.sha256((src / "labels.csv").read_bytes()).hexdigest()}
    for s in ("train", "val", "test"):
        p = src / "splits" / f"{s}.txt"
        if p.is_file():
            parts[s] = hashlib.sha256(p.read_bytes()).hexdigest()
    parts["videos"] = {v: (src / "videos" / v).stat().st_size for v in sorted({r.video for r in rows})}
    return stable_hash(parts)


def prepare(src: Path | str, out: Path | str, cfg: VideoFolderConfig | None = None, progress: bool = True) -> dict:
    """Prepare a video-folder source into ``out`` (resumable, atomic, deterministic); returns the summary."""
    from simkit.curate.pipeline import progress_bar
    from simkit.data import layout
    from simkit.data.writer import DatasetWriter, new_manifest

    cfg = cfg or VideoFolderConfig()
    cfg.validate()
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise SimkitError(f"video-folder source {src} is not a directory")
    clips, refused, rows = plan(src, cfg)
    assign_splits(clips, read_split_lists(src), cfg)
    licence = next(((src / n).read_text(errors="replace").strip()[:2000] for n in LICENCE_FILES
                    if (src / n).is_file()), "see the source's own licence")
    config = {**asdict(cfg), "source_fingerprint": source_fingerprint(src, rows)}
    groups = ["audio", "labels", "pairs", "meta"] + (["frames"] if cfg.frames_per_clip else [])
    manifest = new_manifest(
        origin=layout.origin("adapter", NAME, VERSION, source=str(src.resolve()), licence=licence),
        config=config, groups=groups,
    )
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    bar = progress_bar(len(clips), progress, "prepare video-folder", "video")
    with DatasetWriter(out, manifest) as w:
        try:
            for video in sorted(clips):
                sid = _shard_id(video)
                cs = clips[video]
                if not w.is_done(sid):
                    arrays = video_arrays(src / "videos" / video, cs, cfg)
                    if isinstance(arrays, str):
                        refused[video] = arrays
                        bar.update(1)
                        continue
                    attrs = {"sample_rate": cfg.sample_rate, "source_video": video,
                             "category": np.array([c.label.category for c in cs], dtype=object).astype(str),
                             "motion": np.array([c.label.motion for c in cs], dtype=object).astype(str)}
                    w.write_shard(sid, arrays, attrs, groups=groups,
                                  group_attrs={"frames": {"fps": cfg.frames_per_clip / cfg.clip_seconds}}
                                  if cfg.frames_per_clip else None)
                for i, c in enumerate(cs):
                    splits[c.split].append(layout.format_entry(sid, i))
                bar.update(1)
        finally:
            bar.close()
        w.write_splits(splits)
        from simkit.data.validate import summarize

        summary = summarize(out)
        summary["refused"] = dict(sorted(refused.items()))
        return w.finish(summary)
