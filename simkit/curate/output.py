"""The kept clips of ``simkit curate`` in the common dataset format (docs/dataset-format.md, docs/curation.md).

One shard per video (shard id = the video's id), one set per kept clip, V views = the clip's time points,
one "source" (the recording's mixture). Groups: ``audio`` (the stereo window around each time point),
``labels`` (azimuth NaN everywhere: curated clips carry no direction labels), ``pairs`` (estimated
relative yaw and translation between the time points), ``frames`` (the frame at each time point) and
``meta`` (clip id, start in the video). Root attributes ``iid_score`` and ``yaw_change_deg`` (one value
per set) carry the curation's figures. Splits: by video, as in ``curation.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simkit.conventions import SPLITS
from simkit.curate.pipeline import Candidate, CurateConfig
from simkit.video.io import read_audio, read_frames

GROUPS = ("audio", "labels", "pairs", "frames", "meta")
VERSION = "1"


def clip_arrays(path: Path, clips: list[Candidate], cfg: CurateConfig) -> dict[str, np.ndarray]:
    """Shard arrays of the kept clips of one video (decoded again: the analysis keeps no samples)."""
    audio = read_audio(path, cfg.sample_rate, channels=2)
    sr = cfg.sample_rate
    n_win = int(round(cfg.view_seconds * sr))
    vt = cfg.view_times()
    centres = np.array([[c.start_s + t for t in vt] for c in clips])  # (N, V) seconds in the video
    wins = np.zeros((len(clips), len(vt), 1, 2, n_win), dtype=np.float32)
    for n, row in enumerate(centres):
        for v, t in enumerate(row):
            a = int(round((t - cfg.view_seconds / 2) * sr))
            seg = audio[:, max(0, a) : a + n_win]
            wins[n, v, 0, :, : seg.shape[1]] = seg
    order = np.argsort(centres.reshape(-1), kind="stable")
    flat = read_frames(path, centres.reshape(-1)[order], width=cfg.frame_width)
    frames = np.empty_like(flat)
    frames[order] = flat
    frames = frames.reshape(len(clips), len(vt), 1, *flat.shape[1:])
    return {
        "audio/binaural": wins,
        "labels/azimuth_deg": np.full((len(clips), len(vt), 1), np.nan, dtype=np.float32),
        "pairs/rel_yaw_deg": np.stack([c.rel_yaw for c in clips]).astype(np.float32),
        "pairs/rel_translation": np.stack([c.rel_translation for c in clips]).astype(np.float32),
        "frames/rgb": frames,
        "frames/time_s": np.broadcast_to(vt[None, :, None], (len(clips), len(vt), 1)).astype(np.float32),
        "meta/set_id": np.array([c.clip_id for c in clips], dtype=object),
        "meta/start_s": np.array([c.start_s for c in clips], dtype=np.float64),
    }


def manifest_for(cfg: CurateConfig, paths: list[Path], inputs: str) -> dict:
    """The manifest of a curated dataset: config + input-set hash, origin, groups, the default protocol."""
    from simkit.data import layout
    from simkit.data.writer import new_manifest

    return new_manifest(
        origin=layout.origin("adapter", "curate", VERSION, source=", ".join(sorted({str(p.parent) for p in paths})),
                             licence="the licences of the input videos", videos=len(paths)),
        config={**cfg.to_dict(), "inputs": inputs}, groups=list(GROUPS),
        protocols={"default": layout.protocol_entry("by video, seeded shares " +
                                                    ",".join(f"{f:g}" for f in cfg.split_fractions))},
        tool="simkit curate", tasks=["direction"],
        curation={"csv": "curation.csv", "labels": "none (azimuth NaN; estimated camera motion only)",
                  "work": "work/<video>.json: the per-video analysis cache"},
    )


def write_video_clips(w, path: Path, vid: str, clips: list[Candidate], cfg: CurateConfig) -> str:
    """Write shard ``vid``: the kept ``clips`` of the video at ``path`` (in start order) through ``w``."""
    attrs = {
        "sample_rate": cfg.sample_rate, "split": clips[0].split, "source_video": path.name,
        "iid_score": np.array([c.score for c in clips]),
        "yaw_change_deg": np.array([c.yaw for c in clips]),
    }
    w.write_shard(vid, clip_arrays(path, clips, cfg), attrs,
                  group_attrs={"frames": {"fps": 0.0, "width": cfg.frame_width}})
    return vid


def write_clips(w, paths: list[Path], ids: list[str], cands: list[Candidate], cfg: CurateConfig,
                refused: dict[str, str], progress: bool = True) -> dict:
    """Write the kept clips of ``cands`` through the open writer ``w``, then splits and summary."""
    from simkit.data.pipeline import Progress, run_units
    from simkit.data.validate import summarize
    from simkit.executors import executor_for

    kept: dict[str, list[Candidate]] = {}
    for c in cands:
        if c.kept:
            kept.setdefault(c.video_id, []).append(c)
    kept = {vid: sorted(kept[vid], key=lambda c: c.start_s) for vid in sorted(kept)}
    by_id = dict(zip(ids, paths, strict=True))
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for vid, clips in kept.items():
        splits[clips[0].split].append(vid)
    # in this process (the videos were decoded in parallel for the analysis; this decodes only kept clips)
    run_units(write_video_clips, list(kept), lambda vid: (w, by_id[vid], vid, kept[vid], cfg),
              executor=executor_for("serial"), is_done=w.is_done, failures="stop",
              progress=Progress("curate: write clips", "video", progress, count_skipped=True))
    w.write_splits(splits)
    summary = summarize(w.root)
    summary.update(refused=dict(sorted(refused.items())), candidates=len(cands),
                   kept={s: sum(1 for c in cands if c.kept and c.split == s) for s in SPLITS})
    return w.finish(summary)
