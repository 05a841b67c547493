"""``simkit curate``: in-the-wild videos -> 5 s training clips with estimated camera motion (seed 000, A.1-A.2).

Steps (docs/curation.md):

1. refuse videos that cannot serve (A.1.1, :mod:`simkit.video.rules`): portrait, mono (one channel or two
   identical ones), no audio, shorter than one clip, undecodable - each with its reason;
2. cut 5 s clips every 3 s;
3. camera motion (A.2.1, :mod:`simkit.video.egomotion`): frames at 5 fps, pairs at intervals 1/3/6,
   3-frame rotations accumulated between any two time points (proportionally over partial steps);
4. IID (:mod:`simkit.curate.iid`): the IID of 2 s windows every 1 s, the IID score (absolute product of
   the changes) and the direction the sound moved;
5. filters: rotation at least 10 deg (train, the YT-Stereo-iPhone training filter) or 15 deg (val/test),
   the sound must move the way the turn predicts (a left turn moves the scene, and a static source, to
   the right: the IID falls), an optional cap on clips by IID score, and for val/test sampling towards a
   uniform distribution of rotation angles;
6. output: ``curation.csv`` (one row per candidate clip and per refused video), the kept clips in the
   common dataset format (audio, frames and the estimated relative yaw/translation between V time points).

Each video's analysis (steps 1-4, the expensive part) is one unit of work, run by an executor
(:mod:`simkit.executors`: ``serial``, ``process`` or ``ray``, ``--workers``) and cached under ``OUT/work/``
(atomic JSON), so an interrupted run resumes. The parent then reads every cached analysis, whatever the
executor, and does the selection (it depends on every video and is recomputed each run, cheap) and the
writing; the bytes do not depend on the executor or the worker count. The first video whose analysis fails
with an error (a refusal is not one) stops the run, as a serial run always did.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simkit.config import from_dict
from simkit.conventions import SPLITS, iid_sign
from simkit.curate.iid import iid_change, iid_score, iid_track
from simkit.errors import SimkitError
from simkit.io import atomic_write_json, atomic_write_text, stable_hash
from simkit.video.egomotion import EgomotionConfig, estimate_track, make_matcher
from simkit.video.io import VIDEO_SUFFIXES, probe, read_audio, read_frames
from simkit.video.rules import MIN_STEREO_DIFFERENCE, MONO_COPY, is_mono, refusal

CURATION_CSV = "curation.csv"
WORK = "work"
COLUMNS = ["video", "clip", "start_s", "end_s", "yaw_change_deg", "translation_x", "translation_y",
           "translation_z", "iid_score", "iid_change", "split", "kept", "reason"]
ANALYSIS_VERSION = 1


@dataclass
class CurateConfig:
    """Every threshold of ``simkit curate``, defaults = seed 000's values where it gives one."""

    clip_seconds: float = 5.0  # A.1.2: 5 s clips ...
    clip_hop: float = 3.0  # ... every 3 s
    sample_rate: int = 16000  # audio is resampled to the task's rate
    motion: EgomotionConfig = field(default_factory=EgomotionConfig)  # A.2.1: 5 fps, intervals 1/3/6
    iid_window: float = 2.0  # A.1.2: "every 1 second, we calculate the IID for 2 seconds"
    iid_hop: float = 1.0
    min_rotation_train: float = 10.0  # A.1.2 YT-Stereo-iPhone training filter (deg)
    min_rotation_eval: float = 15.0  # A.1.2 YT-Stereo validation/test filter (deg)
    agreement: bool = True  # drop clips whose IID change disagrees with the rotation direction
    max_clips: int = 0  # keep at most this many clips per split, best IID score first (0 = no cap)
    uniform_eval: bool = True  # val/test: sample towards a uniform distribution of rotation angles
    uniform_train: bool = False  # the same for train (the seed leaves its training set unfiltered by angle)
    bin_deg: float = 10.0  # rotation-angle bin width of the uniform sampling
    views: int = 4  # time points per clip (the V views of a training item)
    view_seconds: float = 2.55  # audio window around each time point (the bench's default crop)
    frame_width: int = 320  # stored frames are scaled to this width
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train/val/test share of videos
    min_stereo_difference: float = MIN_STEREO_DIFFERENCE  # channels closer than this (relative RMS) = mono
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        return stable_hash(self.to_dict())

    def validate(self) -> None:
        """One SimkitError naming the first bad option (before anything is written): the ranges below (until
        simkit.config carries them), then every field's type through the one converter
        (:func:`simkit.config.from_dict`, which also refuses non-finite numbers)."""
        self.motion.validate()
        checks = [
            (self.clip_seconds > 0 and self.clip_hop > 0, "--clip-seconds and --clip-hop must be positive"),
            (self.sample_rate >= 8000, f"--sample-rate must be >= 8000 (got {self.sample_rate})"),
            (0 < self.iid_window <= self.clip_seconds and self.iid_hop > 0,
             "--iid-window must be in (0, clip seconds] and --iid-hop positive"),
            (self.min_rotation_train >= 0 and self.min_rotation_eval >= 0, "rotation thresholds must be >= 0"),
            (self.max_clips >= 0, f"--max-clips must be >= 0 (got {self.max_clips})"),
            (self.bin_deg > 0, f"--bin-deg must be positive (got {self.bin_deg})"),
            (self.views >= 2, f"--views must be >= 2 (got {self.views})"),
            (0 < self.view_seconds <= self.clip_seconds,
             f"--view-seconds must be in (0, {self.clip_seconds}] (got {self.view_seconds})"),
            (self.frame_width >= 16 and self.frame_width % 2 == 0, "--frame-width must be even and >= 16"),
            (len(self.split_fractions) == 3 and all(f >= 0 for f in self.split_fractions)
             and abs(sum(self.split_fractions) - 1) < 1e-6,
             f"--split must be three shares >= 0 summing to 1 (got {self.split_fractions})"),
        ]
        for ok, msg in checks:
            if not ok:
                raise SimkitError(msg)
        from_dict(CurateConfig, self.to_dict(), "curate")

    def view_times(self) -> np.ndarray:
        """Centres of the V audio windows, seconds from the clip start."""
        half = self.view_seconds / 2
        return np.linspace(half, self.clip_seconds - half, self.views)


def discover(inputs: list[Path]) -> list[Path]:
    """Video files of ``inputs`` (files, or folders searched recursively, ``videos/`` first), sorted.

    Paths are canonical (absolute, ``.``/``..`` resolved, symlinks kept so a file keeps the name it was given),
    so a relative and an absolute spelling give the same output, and a file named twice counts once. A folder
    search skips hidden files and folders: the temporaries of interrupted writers (``.<name>.<random>.tmp``
    and older ``.<name>.<random>.mp4``) and lock files are not videos.
    """
    found: list[Path] = []
    for p in inputs:
        p = Path(os.path.abspath(p))
        if p.is_dir():
            base = p / "videos" if (p / "videos").is_dir() else p
            found.extend(sorted(q for q in base.rglob("*") if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES
                                and not any(part.startswith(".") for part in q.relative_to(base).parts)))
        elif p.is_file():
            found.append(p)
        else:
            raise SimkitError(f"video input {p} does not exist")
    if not found:
        raise SimkitError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) found in {', '.join(map(str, inputs))}")
    return list(dict.fromkeys(found))


def video_ids(paths: list[Path]) -> list[str]:
    """Shard-safe unique ids of videos: the file stem, disambiguated by a hash of the path when repeated."""
    stems = [re.sub(r"[^A-Za-z0-9._-]", "_", p.stem).lstrip("._-") or "video" for p in paths]
    out = []
    for p, s in zip(paths, stems, strict=True):
        if stems.count(s) > 1:
            s = f"{s}-{hashlib.sha256(os.path.abspath(p).encode()).hexdigest()[:8]}"  # links kept: 2 names, 2 ids
        out.append(s)
    return out


def split_of_video(video_id: str, fractions: tuple[float, float, float], seed: int) -> str:
    """Split of a video: a fixed hash of (seed, id) in [0, 1) cut by the shares (videos never straddle)."""
    u = int(hashlib.sha256(f"{seed}/{video_id}".encode()).hexdigest()[:12], 16) / float(16**12)
    edges = np.cumsum(fractions)
    for name, edge in zip(SPLITS, edges, strict=True):
        if u < edge:
            return name
    return next(n for n, f in zip(reversed(SPLITS), reversed(fractions), strict=True) if f > 0)


def clip_starts(duration: float, cfg: CurateConfig) -> list[float]:
    """Starts of the 5 s clips every 3 s that fit in ``duration``."""
    n = int(math.floor((duration - cfg.clip_seconds) / cfg.clip_hop + 1e-9)) + 1 if duration >= cfg.clip_seconds else 0
    return [round(k * cfg.clip_hop, 6) for k in range(max(0, n))]


def motion_times(duration: float, fps: float) -> np.ndarray:
    return np.arange(int(math.floor(duration * fps + 1e-9)) + 1) / fps


def analyse_video(path: Path, video_id: str, cfg: CurateConfig) -> dict[str, Any]:
    """Refusal or per-clip candidates (motion, IID) of one video, as a JSON-able dict (the resume unit)."""
    reason, info = refusal(path, cfg.clip_seconds)
    base = {"version": ANALYSIS_VERSION, "video": str(path), "id": video_id}
    if reason is not None:
        return {**base, "refused": reason, "clips": []}
    try:
        audio = read_audio(path, cfg.sample_rate, channels=2)
    except SimkitError as e:
        return {**base, "refused": f"unreadable: {e}", "clips": []}
    if is_mono(audio, cfg.min_stereo_difference):
        return {**base, "refused": MONO_COPY, "clips": []}
    duration = min(info.duration_s, audio.shape[1] / cfg.sample_rate)
    starts = clip_starts(duration, cfg)
    if not starts:
        return {**base, "refused": f"shorter than one clip ({duration:.2f} s)", "clips": []}
    mcfg = cfg.motion
    times = motion_times(duration, mcfg.fps)
    try:
        frames = read_frames(path, times, width=mcfg.width, gray=True)
    except SimkitError as e:
        return {**base, "refused": f"unreadable: {e}", "clips": []}
    import cv2

    cv2.setRNGSeed(cfg.seed)  # RANSAC draws from OpenCV's global generator
    track = estimate_track(frames, mcfg, make_matcher(mcfg.matcher, mcfg.matcher_weights))
    clips = []
    vt = cfg.view_times()
    for s in starts:
        e = s + cfg.clip_seconds
        yaw, trans = track.between(s, e)
        a0, a1 = int(round(s * cfg.sample_rate)), int(round(e * cfg.sample_rate))
        tr = iid_track(audio[:, a0:a1], cfg.sample_rate, cfg.iid_window, cfg.iid_hop)
        rel_yaw = np.zeros((len(vt), len(vt)))
        rel_t = np.zeros((len(vt), len(vt), 3))
        for i, ti in enumerate(vt):
            for j, tj in enumerate(vt):
                if i != j:
                    rel_yaw[i, j], rel_t[i, j] = track.between(s + ti, s + tj)
        clips.append({
            "start_s": s, "end_s": round(e, 6), "yaw_change_deg": yaw, "translation": trans.tolist(),
            "iid_windows": tr.tolist(), "iid_score": iid_score(tr), "iid_change": iid_change(tr),
            "rel_yaw_deg": rel_yaw.tolist(), "rel_translation": rel_t.tolist(),
            "motion_ok": bool(np.isfinite(yaw) and np.all(np.isfinite(rel_yaw))),
        })
    return {**base, "refused": None, "duration_s": duration, "clips": clips,
            "track": {"fps": track.fps, "n_frames": track.n_frames,
                      "yaw": {str(k): v.tolist() for k, v in track.yaw.items()}}}


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


@dataclass
class Candidate:
    """One 5 s clip of one video and the verdict of the filters."""

    video: str  # the input path as given
    video_id: str
    start_s: float
    end_s: float
    yaw: float
    translation: np.ndarray
    score: float
    change: float
    split: str
    motion_ok: bool
    rel_yaw: np.ndarray
    rel_translation: np.ndarray
    kept: bool = False
    reason: str = ""

    @property
    def clip_id(self) -> str:
        return f"{self.video_id}@{self.start_s:g}"


def select(cands: list[Candidate], cfg: CurateConfig) -> None:
    """Apply the filters in order, setting ``kept`` and the first ``reason`` that drops each clip."""
    for c in cands:
        thr = cfg.min_rotation_train if c.split == "train" else cfg.min_rotation_eval
        if not c.motion_ok:
            c.reason = "camera motion not estimated (too few feature matches)"
        elif abs(c.yaw) < thr:
            c.reason = f"rotation {abs(c.yaw):.1f} deg below {thr:g} deg ({c.split})"
        elif cfg.agreement and not agrees(c.yaw, c.change):
            turn = "left" if c.yaw > 0 else "right"
            moved = "left" if c.change > 0 else "right" if c.change < 0 else "nowhere"
            c.reason = (f"IID change {c.change:+.3f} (sound moves {moved}) disagrees with the camera turning "
                        f"{turn} (expects the sound to move {'right' if c.yaw > 0 else 'left'})")
        else:
            c.kept = True
    for split in SPLITS:
        pool = [c for c in cands if c.kept and c.split == split]
        if cfg.max_clips and len(pool) > cfg.max_clips:
            ranked = sorted(pool, key=lambda c: (-c.score, c.clip_id))
            for rank, c in enumerate(ranked, 1):
                if rank > cfg.max_clips:
                    c.kept, c.reason = False, f"IID score rank {rank} beyond --max-clips {cfg.max_clips}"
            pool = ranked[: cfg.max_clips]
        if (cfg.uniform_train if split == "train" else cfg.uniform_eval) and pool:
            uniform_sample(pool, cfg.bin_deg)


def agrees(yaw: float, change: float) -> bool:
    """A left turn (yaw > 0) moves a static source to the right, so the IID (log E_L/E_R) must fall."""
    d = iid_sign(change)  # 0, an IID that did not change, is undecided and never agrees
    return bool(d != 0 and yaw != 0 and d == -np.sign(yaw))


def uniform_sample(pool: list[Candidate], bin_deg: float) -> None:
    """Cap every |rotation| bin at the median count of the non-empty bins, best IID score first."""
    bins: dict[int, list[Candidate]] = {}
    for c in pool:
        bins.setdefault(int(abs(c.yaw) // bin_deg), []).append(c)
    cap = int(math.ceil(float(np.median([len(v) for v in bins.values()]))))
    for b, members in bins.items():
        ranked = sorted(members, key=lambda c: (-c.score, c.clip_id))
        for c in ranked[cap:]:
            c.kept = False
            c.reason = (f"rotation sampling: bin {b * bin_deg:g}-{(b + 1) * bin_deg:g} deg holds "
                        f"{len(members)} clips, cap {cap}")


def candidates_of(analysis: dict[str, Any], split: str) -> list[Candidate]:
    out = []
    for c in analysis["clips"]:
        out.append(Candidate(
            analysis["video"], analysis["id"], c["start_s"], c["end_s"], _num(c["yaw_change_deg"]),
            np.array([_num(v) for v in c["translation"]]), float(c["iid_score"]), float(c["iid_change"]),
            split, bool(c["motion_ok"]),
            np.array([[_num(v) for v in row] for row in c["rel_yaw_deg"]]),
            np.array([[[_num(v) for v in col] for col in row] for row in c["rel_translation"]]),
        ))
    return out


def _fmt(x: float, nd: int = 4) -> str:
    return "" if not np.isfinite(x) else f"{x:.{nd}f}"


def curation_rows(analyses: list[dict[str, Any]], cands: list[Candidate]) -> str:
    """``curation.csv``: candidate clips in video/time order, refused videos with their reason."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    by_video: dict[str, list[Candidate]] = {}
    for c in cands:
        by_video.setdefault(c.video_id, []).append(c)
    for a in analyses:
        if a["refused"]:
            w.writerow([a["video"], "", "", "", "", "", "", "", "", "", "", 0, a["refused"]])  # no split: no clips
            continue
        for c in by_video.get(a["id"], []):
            w.writerow([c.video, c.clip_id, f"{c.start_s:g}", f"{c.end_s:g}", _fmt(c.yaw, 3),
                        *(_fmt(v) for v in c.translation), _fmt(c.score, 6), _fmt(c.change, 6), c.split,
                        int(c.kept), c.reason])
    return buf.getvalue()


@dataclass
class CurateResult:
    """What a curate run found and kept."""

    out: Path
    videos: int
    refused: dict[str, str]
    candidates: int
    kept: dict[str, int]  # split -> clips kept
    csv: Path


def _cache_key(path: Path, cfg: CurateConfig) -> dict[str, Any]:
    st = path.stat()
    return {"config_hash": cfg.config_hash(), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cached(path: Path, vid: str, cfg: CurateConfig, work: Path) -> dict[str, Any] | None:
    """The cached analysis of ``path`` when it is there and still valid (same config, same file)."""
    cache = work / f"{vid}.json"
    if cache.is_file():
        try:
            data = json.loads(cache.read_text())
            if data.get("key") == _cache_key(path, cfg) and data.get("version") == ANALYSIS_VERSION:
                return data
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    return None


def analyse_unit(path: str, vid: str, cfg: CurateConfig, work: str) -> str:
    """One unit of a curate: analyse a video and cache the result as ``work/<vid>.json`` (atomic). Top level
    and picklable, so every executor runs this same code; returns ``vid``.

    The config object itself crosses (not ``to_dict`` rebuilt by :func:`simkit.config.from_dict`): the
    converter turns an int given for a float field into a float, which would change the config hash of the
    cache key, so a Python caller's ``min_rotation_train=25`` would never find its own analyses."""
    data = _json_safe(analyse_video(Path(path), vid, cfg))
    data["key"] = _cache_key(Path(path), cfg)
    atomic_write_json(Path(work) / f"{vid}.json", data)
    return vid


def inputs_hash(paths: list[Path], ids: list[str]) -> str:
    """Identity of the input set (ids and byte sizes): a changed set of videos is another dataset."""
    return stable_hash([[i, p.stat().st_size] for p, i in zip(paths, ids, strict=True)], length=8)


def curate(inputs: list[Path] | Path, out: Path | str, cfg: CurateConfig | None = None,
           progress: bool = True, workers: int = 1, executor: str | None = None,
           ray_address: str | None = None) -> CurateResult:
    """Curate the videos of ``inputs`` into ``out`` (resumable, deterministic); see the module docstring.

    The output directory is a simkit dataset (manifest first, through :class:`simkit.data.writer.DatasetWriter`,
    which refuses a directory holding anything else); ``curation.csv`` and the analysis cache ``work/`` lie
    beside the shards. ``workers``, ``executor`` and ``ray_address`` choose how the videos are analysed
    (:func:`simkit.executors.executor_for`); the data do not depend on them.
    """
    from simkit.curate.output import manifest_for, write_clips
    from simkit.data.pipeline import Progress, run_units
    from simkit.data.writer import DatasetWriter
    from simkit.executors import executor_for

    run = executor_for(executor, workers, ray_address)
    cfg = cfg or CurateConfig()
    cfg.validate()
    paths = discover([inputs] if isinstance(inputs, (str, Path)) else list(inputs))
    ids = video_ids(paths)
    out = Path(out)
    with DatasetWriter(out, manifest_for(cfg, paths, inputs_hash(paths, ids))) as w:
        work = out / WORK
        work.mkdir(exist_ok=True)
        by_id = dict(zip(ids, paths, strict=True))
        where = str(work.resolve())  # absolute: a Ray node's working directory is not the driver's
        # a unit is finished when its analysis is cached (same config, same file); the first failed analysis
        # stops the run, as a serial run always did
        run_units(analyse_unit, ids, lambda vid: (str(by_id[vid]), vid, cfg, where), executor=run,
                  progress=Progress("curate", "video s", progress,  # the bar counts seconds of video
                                    weight=lambda vid: int(math.ceil(_duration_hint(by_id[vid]))) or 1),
                  is_done=lambda vid: _cached(by_id[vid], vid, cfg, work) is not None, failures="stop")
        analyses = []
        for p, vid in zip(paths, ids, strict=True):  # every analysis from its cache, whoever computed it
            a = _cached(p, vid, cfg, work)
            if a is None:
                raise SimkitError(f"the analysis of {p} in {work} vanished or changed during the run")
            a["video"] = str(p)  # as this run names it (a cache may come from a run that spelt it otherwise)
            a["split"] = "" if a["refused"] else split_of_video(vid, cfg.split_fractions, cfg.seed)
            analyses.append(a)
        cands = [c for a in analyses if not a["refused"] for c in candidates_of(a, a["split"])]
        select(cands, cfg)
        csv_path = out / CURATION_CSV
        atomic_write_text(csv_path, curation_rows(analyses, cands))
        kept = {s: sum(1 for c in cands if c.kept and c.split == s) for s in SPLITS}
        refused = {a["video"]: a["refused"] for a in analyses if a["refused"]}
        write_clips(w, paths, ids, cands, cfg, refused, progress=progress)
    return CurateResult(out, len(paths), refused, len(cands), kept, csv_path)


_VERSIONED = ("simkit", "numpy", "av", "opencv-python-headless")


def _duration_hint(path: Path) -> float:
    try:
        return probe(path).duration_s
    except SimkitError:
        return 0.0
