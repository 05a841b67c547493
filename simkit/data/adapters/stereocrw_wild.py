"""``stereocrw-wild``: the labelled in-the-wild binaural YouTube clips of StereoCRW (Chen et al., "Sound
Localization by Self-Supervised Time Delay Estimation", ECCV 2022).

Source layout (SRC = the ``Youtube-Binaural`` folder)::

    ProcessedData/Youtube-IntheWild/<ytid>/<clip>/frames/frame%04d.jpg     (or ProcessedData/<ytid>/<clip>)
    ProcessedData/.../<ytid>/<clip>/audio/audio.wav
    ProcessedData/.../<ytid>/<clip>/meta.json          audio_sample_rate, frame_rate (10 fps)
    data-split/in-the-wild/test_with_label.csv
        "path","start_time","itd_label","if_filp"   (the release spells the flip column if_filp; if_flip
        is accepted too); path ./data/Youtube-Binaural/ProcessedData/Youtube-IntheWild/<ytid>/<clip>,
        start_time in frames, itd_label 0 left, 1 middle-left, 2 middle-right, 3 right

One shard per clip folder, one set per labelled row (V = S = 1), as StereoCRW's loader reads it: the audio
from ``start_time / frame_rate`` s for ``clip_seconds`` (0.96 s), the frame ``start_time + 4`` (the middle
of the clip), and with ``if_flip`` the channels swapped and the image mirrored (the label describes the
flipped sample). Labels are sides only (``labels/side``: 0/1 -> +1 left, 2/3 -> -1 right, as StereoCRW's
in-the-wild evaluation merges them; ``labels/azimuth_deg`` is NaN), so the set serves the direction task's
left/right accuracy. The release is a test set: the default protocol has it all in ``test``.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit.conventions import LEFT_CHANNEL, RIGHT_CHANNEL
from simkit.data.adapters import Adapter, Plan, Protocol, ShardData, Unit, inside, register_adapter, tree_inside
from simkit.data.adapters._columns import append_item, stack_columns
from simkit.data.adapters._media import check_audio, fit_length, parse_size, read_audio, read_image, resample
from simkit.data.layout import format_entry
from simkit.errors import SimkitError

_CLIP = re.compile(r"([^/]+)/([^/]+)/*$")
SIDE_OF_LABEL = {0: 1, 1: 1, 2: -1, 3: -1}


@dataclass
class StereoCrwOptions:
    labels: Path | None = None  # the labels CSV; default SRC/data-split/in-the-wild/test_with_label.csv
    clip_seconds: float = 0.96  # StereoCRW's clip_length
    image_size: str = "112x224"  # HEIGHTxWIDTH of the stored frame


@register_adapter
class StereoCrwWild(Adapter):
    name = "stereocrw-wild"
    version = "1"
    description = "StereoCRW in-the-wild: YouTube binaural clips with left/right labels (test set)"
    licence = "YouTube videos: their uploaders' terms; labels and splits: see IFICL/stereocrw"
    homepage = "https://github.com/IFICL/stereocrw"
    groups = ("audio", "labels", "pairs", "views", "meta")
    tasks = ("direction",)
    Options = StereoCrwOptions

    def _clip_dir(self, src: Path, path: str) -> Path:
        tail = path.split("ProcessedData/", 1)[1] if "ProcessedData/" in path else None
        if tail:
            d = src / "ProcessedData" / tail
            if d.is_dir():
                return d
        m = _CLIP.search(path)
        if not m:
            raise SimkitError(f"labels row path {path!r} does not end in <ytid>/<clip>")
        return src / "ProcessedData" / m.group(1) / m.group(2)

    def scan(self, src: Path) -> Plan:
        o: StereoCrwOptions = self.options
        self.size = parse_size(o.image_size, "image_size")
        # the release's labels file must be its own; a file given with --option labels may be anywhere
        labels = o.labels or inside(src, "data-split/in-the-wild/test_with_label.csv", "test_with_label.csv")
        if not labels.is_file():
            raise SimkitError(f"missing labels file {labels}")
        try:
            with open(labels, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise SimkitError(f"labels file {labels} cannot be read ({e})") from None
        if not rows:
            raise SimkitError(f"labels file {labels} holds no rows")
        flip_col = "if_filp" if "if_filp" in rows[0] else "if_flip"
        missing = [c for c in ("path", "start_time", "itd_label", flip_col) if c not in rows[0]]
        if missing:
            raise SimkitError(f"labels file {labels}: no column {missing[0]!r}")
        clips: dict[str, dict] = {}
        for i, row in enumerate(rows, 2):
            try:
                start, label, flip = int(row["start_time"]), int(row["itd_label"]), int(row[flip_col])
            except (TypeError, ValueError):
                raise SimkitError(f"{labels}:{i}: start_time, itd_label and {flip_col} must be integers") from None
            if label not in SIDE_OF_LABEL or flip not in (0, 1):
                raise SimkitError(f"{labels}:{i}: itd_label must be 0..3 and {flip_col} 0 or 1")
            text = (row.get("path") or "").strip()
            where = f"{labels}:{i}: path {text!r}"
            d = inside(src, self._clip_dir(src, text), where)
            sid = f"{d.parent.name}__{d.name}"
            if sid not in clips:
                if not d.is_dir():
                    raise SimkitError(f"clip listed in {labels.name}:{i} is absent: no folder {d}")
                tree_inside(src, d, where)
                meta = self._meta(d)
                check_audio(d / "audio" / "audio.wav", int(meta["audio_sample_rate"]), 2)
                frames = sorted((d / "frames").glob("*.jpg"))
                if not frames:
                    raise SimkitError(f"clip {d} has no frames/*.jpg")
                clips[sid] = {"dir": str(d), "meta": meta, "frames": [str(p) for p in frames], "rows": []}
            clips[sid]["rows"].append((start, label, flip))
        test = []
        for sid in sorted(clips):
            test += [format_entry(sid, k) for k in range(len(clips[sid]["rows"]))]
        self.clips = clips
        protos = {"default": Protocol({"train": [], "val": [], "test": test},
                                      "StereoCRW's labelled in-the-wild test set")}
        return Plan([Unit(sid) for sid in sorted(clips)], protos, facts={"labelled_rows": len(rows)})

    @staticmethod
    def _meta(d: Path) -> dict:
        p = d / "meta.json"
        try:
            meta = json.loads(p.read_text())
            float(meta["audio_sample_rate"]), float(meta["frame_rate"])
        except FileNotFoundError:
            raise SimkitError(f"missing {p}") from None
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
            raise SimkitError(f"malformed {p} ({e}; needs audio_sample_rate and frame_rate)") from None
        return meta

    def build(self, unit: Unit) -> ShardData:
        o: StereoCrwOptions = self.options
        sr = self.common.sample_rate
        c = self.clips[unit.shard_id]
        d = Path(c["dir"])
        rate, fps = int(c["meta"]["audio_sample_rate"]), float(c["meta"]["frame_rate"])
        audio, _ = read_audio(d / "audio" / "audio.wav", rate, 2)
        n_src, n_out = int(round(o.clip_seconds * rate)), int(round(o.clip_seconds * sr))
        cols: dict[str, list] = {}
        for start, label, flip in c["rows"]:
            a0 = int(start / fps * rate)
            clip = fit_length(audio[:, a0:a0 + n_src], n_src)
            k = min(int(start + np.floor(o.clip_seconds * fps) // 2), len(c["frames"]) - 1)
            img = read_image(Path(c["frames"][k]), self.size)
            if flip:
                clip = clip[[RIGHT_CHANNEL, LEFT_CHANNEL]]
                img = img[:, ::-1]
            item = {
                "audio/binaural": fit_length(resample(clip, rate, sr), n_out)[None, None],
                "audio/source_id": [f"youtube:{unit.shard_id}@{start / fps:.2f}{'-flip' if flip else ''}"],
                "labels/azimuth_deg": np.full((1, 1), np.nan, np.float32),
                "labels/side": np.full((1, 1), SIDE_OF_LABEL[label], np.int8),
                "pairs/rel_yaw_deg": np.zeros((1, 1), np.float32),
                "views/rgb": np.ascontiguousarray(img)[None],
                "meta/set_id": f"{start}{'-flip' if flip else ''}",
                "meta/start_s": start / fps,
            }
            append_item(cols, item)
        arrays = stack_columns(cols)
        h, w = self.size
        return ShardData(arrays, attrs={"source_rate": rate}, group_attrs={"views": {"width": w, "height": h}})
