"""Torch datasets over a ``simkit render`` directory (docs/dataset-format.md), streamed from HDF5.

One item is one source of one view set seen from its V views (or a random subset of them): the binaural
clips, the per-view labels and the camera motion between every pair of those views. Shards are opened
lazily, once per process, so DataLoader workers each hold their own h5py handles.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from simkit.data.storage import clip_samples, has_dataset, read_binaural, read_rir, read_source
from simkit.errors import SimkitError
from simkit.io import file_sha256

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# Everything an item reads; tasks may ask for more through ``require``.
ITEM_DATASETS = (
    "audio/binaural",
    "labels/azimuth_deg",
    "labels/elevation_deg",
    "labels/distance_m",
    "pairs/rel_yaw_deg",
    "pairs/rel_translation",
)
RECONVOLVE_DATASETS = ("audio/source", "rir/direct", "rir/indirect")


@dataclass
class RenderInfo:
    """What a render directory holds, checked against the format."""

    root: Path
    manifest: dict
    manifest_hash: str
    splits: dict[str, list[str]]
    sample_rate: int
    n_views: int
    clip_samples: int
    indirect_gain: float
    shard_sets: dict[str, int] = field(default_factory=dict)  # scene id -> view sets
    shard_sources: dict[str, int] = field(default_factory=dict)  # scene id -> sources per set

    @property
    def name(self) -> str:
        """Dataset name used on the leaderboard: directory name + manifest hash prefix."""
        return f"{self.root.name}@{self.manifest_hash[:8]}"

    def shard(self, scene_id: str) -> Path:
        return self.root / "shards" / f"{scene_id}.h5"


def _failed_scenes(root: Path) -> dict[str, str]:
    try:
        failed = json.loads((root / "summary.json").read_text()).get("failed", {})
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in failed.items()} if isinstance(failed, dict) else {}


def open_render(root: Path | str, require: tuple[str, ...] = ITEM_DATASETS) -> RenderInfo:
    """Validate a render directory and the datasets ``require`` lists; SimkitError naming what is wrong."""
    root = Path(root)
    if not str(root) or not root.exists():
        raise SimkitError(
            f"dataset directory {root} does not exist (pass --data DIR, the output of `simkit render`)"
        )
    if not root.is_dir():
        raise SimkitError(f"dataset path {root} is not a directory")
    mpath = root / "manifest.json"
    if not mpath.is_file():
        raise SimkitError(f"{root} is not a simkit render (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SimkitError(f"{mpath} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or "config_hash" not in manifest:
        raise SimkitError(f"{mpath} is not a simkit manifest (no config_hash)")
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        spath = root / "splits" / f"{split}.txt"
        if not spath.is_file():
            raise SimkitError(f"{root} is not a complete simkit render (missing splits/{split}.txt)")
        splits[split] = [s.strip() for s in spath.read_text().splitlines() if s.strip()]
    # scenes the render reported as failed (summary.json) are left out with a warning; any other missing
    # shard means an unfinished render and stays an error
    failed = _failed_scenes(root)
    for split, scenes in splits.items():
        gone = [s for s in scenes if s in failed and not (root / "shards" / f"{s}.h5").is_file()]
        for s in gone:
            log.warning("scene %s (%s) failed to render and is left out: %s", s, split, failed[s])
        splits[split] = [s for s in scenes if s not in gone]
    info: RenderInfo | None = None
    for split, scenes in splits.items():
        for scene in scenes:
            path = root / "shards" / f"{scene}.h5"
            if not path.is_file():
                raise SimkitError(
                    f"shard {path} listed in splits/{split}.txt is missing (render incomplete?)"
                )
            try:
                f = h5py.File(path, "r")
            except OSError as e:
                raise SimkitError(f"shard {path} cannot be read as HDF5 ({e})") from None
            with f:
                if int(f.attrs.get("complete", 0)) != 1:
                    raise SimkitError(f"shard {path} is incomplete (attribute complete != 1)")
                for name in require:
                    if not has_dataset(f, name):
                        raise SimkitError(f"shard {path} lacks dataset {name} needed here")
                sr, nv = int(f.attrs["sample_rate"]), int(f.attrs["n_views"])
                t = clip_samples(f) if has_dataset(f, "audio/binaural") else 0
                if info is None:
                    if "indirect_gain" not in f.attrs:
                        raise SimkitError(f"shard {path} lacks root attribute indirect_gain")
                    info = RenderInfo(
                        root, manifest, file_sha256(mpath), splits, sr, nv, t, float(f.attrs["indirect_gain"])
                    )
                elif (sr, nv, t) != (info.sample_rate, info.n_views, info.clip_samples):
                    raise SimkitError(
                        f"shard {path} has sample_rate/views/clip length {(sr, nv, t)}, other shards "
                        f"{(info.sample_rate, info.n_views, info.clip_samples)}"
                    )
                info.shard_sets[scene] = int(f.attrs["n_sets"])
                info.shard_sources[scene] = int(f.attrs["n_sources"])
    if info is None:
        raise SimkitError(f"{root} holds no shards (empty splits)")
    return info


class RenderViewSets(Dataset):
    """Items ``(view set, source)`` of one split, each with V views (or ``views`` random ones when training).

    An item is a dict: ``audio`` (V, 2, T) float32 (channel 0 = left), ``azimuth_deg`` / ``elevation_deg`` /
    ``distance_m`` (V,), ``rel_yaw_deg`` (V, V) with ``[i, j] = wrap(yaw_j - yaw_i)``, ``rel_translation``
    (V, V, 3) with ``[i, j]`` = view j's position in view i's frame, ``view_index`` (V,), ``scene_id``,
    ``set_index``, ``source_index``. With ``train=True`` the clip is cropped at a random offset (the same for
    every view) and, with probability ``reconvolve_prob``, re-rendered from another utterance of the split
    convolved with this item's stored mixed RIRs (SLfM's online rendering). Randomness comes from
    ``(seed, epoch, index)`` so it does not depend on worker scheduling; call :meth:`set_epoch` per epoch.
    """

    def __init__(
        self,
        info: RenderInfo,
        split: str,
        *,
        clip_samples: int | None = None,
        views: int = 0,
        train: bool = False,
        reconvolve_prob: float = 0.0,
        seed: int = 0,
        max_items: int = 0,
    ) -> None:
        if split not in info.splits:
            raise SimkitError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
        scenes = info.splits[split]
        if not scenes:
            raise SimkitError(f"split {split} of {info.root} has no scenes; render more scenes")
        self.info, self.split, self.train, self.seed = info, split, train, seed
        self.scenes = scenes
        self.clip = min(clip_samples or info.clip_samples, info.clip_samples)
        if views and not 2 <= views <= info.n_views:
            raise SimkitError(f"views per item must be between 2 and {info.n_views} (got {views})")
        self.views = views or info.n_views
        self.reconvolve_prob = reconvolve_prob if train else 0.0
        if self.reconvolve_prob > 0:
            with h5py.File(info.shard(scenes[0]), "r") as f:
                missing = [d for d in RECONVOLVE_DATASETS if d not in f]
            if missing:
                raise SimkitError(
                    f"online re-rendering needs {', '.join(missing)} in {info.shard(scenes[0])}"
                )
        rows = [
            (si, n, s)
            for si, scene in enumerate(scenes)
            for n in range(info.shard_sets[scene])
            for s in range(info.shard_sources[scene])
        ]
        index = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        if max_items and len(index) > max_items:
            # A seeded random subset keeps every scene represented, unlike the first max_items rows.
            keep = np.sort(np.random.default_rng([seed, 7]).choice(len(index), max_items, replace=False))
            index = index[keep]
        self.index = index
        self.epoch = 0
        self._files: dict[int, h5py.File] = {}
        self._pid = -1

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """Select the random crops/augmentation of ``epoch`` (workers pick it up when the loader restarts)."""
        self.epoch = epoch

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"], state["_pid"] = {}, -1
        return state

    def _file(self, si: int) -> h5py.File:
        if self._pid != os.getpid():  # a forked worker must not reuse the parent's handles
            self._files, self._pid = {}, os.getpid()
        if si not in self._files:
            self._files[si] = h5py.File(self.info.shard(self.scenes[si]), "r")
        return self._files[si]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        si, n, s = (int(v) for v in self.index[idx])
        f = self._file(si)
        rng = np.random.default_rng([self.seed, self.epoch, idx]) if self.train else None
        v_all = self.info.n_views
        sel = np.arange(v_all)
        if rng is not None and self.views < v_all:
            sel = np.sort(rng.choice(v_all, self.views, replace=False))
        t_total = self.info.clip_samples
        if rng is not None and rng.random() < self.reconvolve_prob:
            audio = self._reconvolve(f, idx, n, s, sel, rng)
        else:
            audio = read_binaural(f, n, sel, s)
        # Training crops anywhere (same offset for every view); evaluation takes the centre.
        off = (t_total - self.clip) // 2 if rng is None else int(rng.integers(0, t_total - self.clip + 1))
        audio = audio[..., off : off + self.clip]
        rel_yaw = f["pairs/rel_yaw_deg"][n][np.ix_(sel, sel)]
        rel_t = f["pairs/rel_translation"][n][np.ix_(sel, sel)]
        return {
            "audio": torch.from_numpy(np.ascontiguousarray(audio)),
            "azimuth_deg": torch.from_numpy(f["labels/azimuth_deg"][n, :, s][sel].astype(np.float32)),
            "elevation_deg": torch.from_numpy(f["labels/elevation_deg"][n, :, s][sel].astype(np.float32)),
            "distance_m": torch.from_numpy(f["labels/distance_m"][n, :, s][sel].astype(np.float32)),
            "rel_yaw_deg": torch.from_numpy(rel_yaw.astype(np.float32)),
            "rel_translation": torch.from_numpy(rel_t.astype(np.float32)),
            "view_index": torch.from_numpy(sel.astype(np.int64)),
            "scene_id": self.scenes[si],
            "set_index": n,
            "source_index": s,
        }

    def _reconvolve(
        self, f: h5py.File, idx: int, n: int, s: int, sel: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """This item's mixed RIRs (views ``sel``) convolved with another item's utterance of the split."""
        from simkit.audio.dsp import fft_convolve

        oi = idx
        if len(self.index) > 1:
            # Uniform over the other items, so the utterance really changes.
            oi = int(rng.integers(0, len(self.index) - 1))
            oi += oi >= idx
        osi, on, os_ = (int(v) for v in self.index[oi])
        mono = read_source(self._file(osi), on, os_).astype(np.float64)
        g = self.info.indirect_gain
        rir = np.stack([read_rir(f, "rir/direct", n, v, s) + g * read_rir(f, "rir/indirect", n, v, s)
                        for v in sel]).astype(np.float64)  # (V, 2, T_rir)
        return fft_convolve(mono, rir, self.info.clip_samples).astype(np.float32, copy=False)


def verify_render(root: Path | str) -> int:
    """Read every chunk of every shard the splits list (checksums included); SimkitError naming the first
    corrupt shard and dataset. Returns the number of shards read. The bench runs it before training, so a
    damaged file is one error line rather than a crash in a DataLoader worker."""
    from simkit.render.shard import verify_shard

    info = open_render(root, require=())
    scenes = [s for split in SPLITS for s in info.splits[split]]
    for scene in scenes:
        verify_shard(info.shard(scene))
    return len(scenes)
