"""The ``direction`` task's dataset over a ``simkit render`` directory (docs/dataset-format.md).

One item is one source of one view set seen from its V views (or a random subset of them): the binaural
clips, the per-view labels and the camera motion between every pair of those views. Shards are read
through :class:`simkit.data.datasets.base.ShardDataset` (one set of h5py handles per process). Also here:
the direction protocols derived from the labels (``slfm-frontal``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from simkit.conventions import side_of_azimuth
from simkit.data import layout
from simkit.data.datasets.base import ShardDataset, ShardFile
from simkit.data.opener import DatasetInfo, open_dataset
from simkit.data.storage import (
    MIX,
    MIX_TARGET,
    derive_batch,
    derive_window,
    has_dataset,
    read_binaural,
    read_mix,
    read_mixed_rir,
    read_source,
    source_segment,
)
from simkit.errors import SimkitError

# The groups an item reads (elevation, distance and the translation are NaN when a dataset lacks them).
ITEM_DATASETS = ("audio", "labels", "pairs")
RECONVOLVE_DATASETS = ("audio/source", "rir/direct", "rir/indirect")


def open_render(root: Path | str, require: tuple[str, ...] = ITEM_DATASETS, protocol: str | None = None
                ) -> DatasetInfo:
    """The dataset at ``root`` opened for view-set items (:func:`simkit.data.opener.open_dataset`)."""
    return open_dataset(root, require, protocol)


class RenderViewSets(ShardDataset):
    """Items ``(view set, source)`` of one split, each with V views (or ``views`` random ones when training).

    An item is a dict: ``audio`` (V, 2, T) float32 (channel 0 = left), ``azimuth_deg`` / ``elevation_deg`` /
    ``distance_m`` (V,), ``rel_yaw_deg`` (V, V) with ``[i, j] = wrap(yaw_j - yaw_i)``, ``rel_translation``
    (V, V, 3) with ``[i, j]`` = view j's position in view i's frame, ``view_index`` (V,), ``scene_id``,
    ``set_index``, ``source_index``; with ``images`` also ``image`` (V, H, W, 3) uint8, each view's
    ``views/rgb`` (for models with a camera network: ``slfm``). A render with mixed clips (``mix.enabled``,
    docs/scenes.md "Mixed clips") gives one item per view set instead: ``audio`` is the mix of every source,
    the labels are those of each view's target source (``labels/mix_target``) and ``source_index`` is -1;
    such items are never re-rendered (the mix holds several sources and noise). With ``train=True`` the clip
    is cropped at a random offset (the same for every view) and, with probability ``reconvolve_prob``,
    re-rendered from another utterance of the split convolved with this item's stored mixed RIRs (SLfM's
    online rendering). Randomness comes from ``(seed, epoch, index)`` so it does not depend on worker
    scheduling; call :meth:`set_epoch` per epoch.
    """

    def __init__(
        self,
        info: DatasetInfo,
        split: str,
        *,
        clip_samples: int | None = None,
        views: int = 0,
        train: bool = False,
        reconvolve_prob: float = 0.0,
        seed: int = 0,
        max_items: int = 0,
        images: bool = False,
    ) -> None:
        self.mixed = split in info.splits and bool(info.splits[split]) and shard_has_mix(
            info.shard(info.splits[split][0]))
        super().__init__(info, split, 3, seed=seed, max_items=max_items)
        if images and "views" not in info.groups:
            raise SimkitError(f"dataset {info.root} has no views group (images), which the model reads")
        self.images = images
        if views and not 2 <= views <= info.n_views:
            raise SimkitError(f"views per item must be between 2 and {info.n_views} (got {views})")
        self.train = train
        self.clip = min(clip_samples or info.clip_samples, info.clip_samples)
        self.views = views or info.n_views
        # online re-rendering needs the stored RIRs: recorded datasets (no rir group) train on their clips
        self.reconvolve_prob = reconvolve_prob if train and "rir" in info.groups and not self.mixed else 0.0
        if self.reconvolve_prob > 0:
            with h5py.File(info.shard(self.scenes[0]), "r") as f:
                missing = [d for d in RECONVOLVE_DATASETS if d not in f]
            if missing:
                raise SimkitError(
                    f"online re-rendering needs {', '.join(missing)} in {info.shard(self.scenes[0])}"
                )

    def _rows_of(self, si: int, scene: str) -> Iterable[tuple[int, ...]]:
        if self.mixed:  # one item per view set: its mix, labelled with the target source
            return ((si, n, -1) for n in self.info.sets(self.split, scene))
        sources = range(self.info.shard_sources[scene])
        return ((si, n, s) for n in self.info.sets(self.split, scene) for s in sources)

    def labelled(self) -> bool:
        """Whether any item has a direction label: a finite ``labels/azimuth_deg`` or a nonzero
        ``labels/side`` in some view (a ``simkit curate`` set has neither: its azimuths are all NaN).

        Reads only the label arrays of the split's shards and stops at the first labelled one."""
        for si in np.unique(self.index[:, 0]):
            rows = self.index[self.index[:, 0] == si]
            sets, sources = rows[:, 1], np.maximum(rows[:, 2], 0)  # a mix item (-1): source 0's labels
            with h5py.File(self.info.shard(self.scenes[int(si)]), "r") as f:
                if np.isfinite(f["labels/azimuth_deg"][()][sets, :, sources]).any():
                    return True
                if "labels/side" in f and (f["labels/side"][()][sets, :, sources] != 0).any():
                    return True
        return False

    def __getitem__(self, idx: int) -> dict[str, Any]:
        si, n, s = (int(v) for v in self.index[idx])
        f = self._file(si)
        rng = np.random.default_rng([self.seed, self.epoch, idx]) if self.train else None
        v_all = self.info.n_views
        sel = np.arange(v_all)
        if rng is not None and self.views < v_all:
            sel = np.sort(rng.choice(v_all, self.views, replace=False))
        reconvolve = rng is not None and rng.random() < self.reconvolve_prob
        other = self._other_item(idx, rng) if reconvolve and rng is not None else idx
        # Training crops anywhere (same offset for every view); evaluation takes the centre. Only the crop
        # is read or derived (a derived clip costs a convolution per sample kept).
        t_total = self.info.clip_samples
        off = (t_total - self.clip) // 2 if rng is None else int(rng.integers(0, t_total - self.clip + 1))
        deferred: dict[str, Any] = {}
        if self.mixed:
            audio = read_mix(f, n, sel, off, off + self.clip)
        elif self.defer:  # the source samples and RIRs the crop needs; finish_batch convolves on the device
            osi, on, os_ = (int(v) for v in self.index[other])
            rir = read_mixed_rir(f, n, sel, s)
            seg = source_segment(read_source(self._file(osi), on, os_), off, off + self.clip, rir.shape[-1])
            deferred = {"derive_source": torch.from_numpy(seg), "derive_rir": torch.from_numpy(rir)}
        elif reconvolve:
            audio = self._reconvolve(f, other, n, s, sel, off)
        else:
            audio = read_binaural(f, n, sel, s, off, off + self.clip)
        rel_yaw = f["pairs/rel_yaw_deg"][n][np.ix_(sel, sel)]
        rel_t = (f["pairs/rel_translation"][n][np.ix_(sel, sel)] if "pairs/rel_translation" in f
                 else np.full((len(sel), len(sel), 3), np.nan, np.float32))
        extra = {"image": torch.from_numpy(np.ascontiguousarray(f["views/rgb"][n][sel]))} if self.images else {}
        return {
            **(deferred or {"audio": torch.from_numpy(np.ascontiguousarray(audio))}),
            **extra,
            "azimuth_deg": torch.from_numpy(self._label(f, "labels/azimuth_deg", n, s, sel)),
            "elevation_deg": torch.from_numpy(self._label(f, "labels/elevation_deg", n, s, sel)),
            "distance_m": torch.from_numpy(self._label(f, "labels/distance_m", n, s, sel)),
            "side": torch.from_numpy(self._side(f, n, s, sel)),
            "rel_yaw_deg": torch.from_numpy(rel_yaw.astype(np.float32)),
            "rel_translation": torch.from_numpy(rel_t.astype(np.float32)),
            "view_index": torch.from_numpy(sel.astype(np.int64)),
            "scene_id": self.scenes[si],
            "set_index": n,
            "source_index": s,
        }

    def finish_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``audio`` (B, V, 2, T) of a deferred batch derived where the batch is (:func:`derive_batch`)."""
        if "derive_source" not in batch:
            return batch
        out = {k: v for k, v in batch.items() if k not in ("derive_source", "derive_rir")}
        out["audio"] = derive_batch(batch["derive_source"], batch["derive_rir"])
        return out

    def defer_derivation(self) -> bool:
        """As :meth:`ShardDataset.defer_derivation`; never for mix items (a mix is not one source ⊛ RIR)."""
        return False if self.mixed else super().defer_derivation()

    @staticmethod
    def _per_view(f: ShardFile, name: str, n: int, s: int, sel: np.ndarray) -> np.ndarray:
        """``name[n, v, s]`` for the views ``sel``; s = -1: each view's mix target."""
        row = f[name][n]  # (V, S)
        if s >= 0:
            return row[sel, s]
        return row[sel, f[MIX_TARGET][n][sel].astype(np.int64)]

    @classmethod
    def _label(cls, f: ShardFile, name: str, n: int, s: int, sel: np.ndarray) -> np.ndarray:
        if name not in f:
            return np.full(len(sel), np.nan, np.float32)
        return cls._per_view(f, name, n, s, sel).astype(np.float32)

    @classmethod
    def _side(cls, f: ShardFile, n: int, s: int, sel: np.ndarray) -> np.ndarray:
        """+1 left / -1 right / 0 unknown: ``labels/side`` where given, else the azimuth's side."""
        if "labels/side" in f:
            side = cls._per_view(f, "labels/side", n, s, sel).astype(np.float32)
        else:
            side = np.zeros(len(sel), np.float32)
        az = cls._per_view(f, "labels/azimuth_deg", n, s, sel).astype(np.float64)
        known = np.isfinite(az)
        side[known] = side_of_azimuth(az[known])
        return side

    def _other_item(self, idx: int, rng: np.random.Generator) -> int:
        """Uniform over the other items (so the utterance really changes); ``idx`` when it is the only one."""
        if len(self.index) < 2:
            return idx
        oi = int(rng.integers(0, len(self.index) - 1))
        return oi + (oi >= idx)

    def _reconvolve(self, f: ShardFile, oi: int, n: int, s: int, sel: np.ndarray, off: int) -> np.ndarray:
        """Samples ``[off, off + clip)`` of item ``oi``'s utterance convolved with this item's mixed RIRs
        (views ``sel``)."""
        osi, on, os_ = (int(v) for v in self.index[oi])
        mono = read_source(self._file(osi), on, os_)
        rir = read_mixed_rir(f, n, sel, s)  # (V, 2, T_rir)
        return derive_window(mono[None, None, :], rir, off, off + self.clip)


def shard_has_mix(path: Path | str) -> bool:
    """Whether the shard at ``path`` has mixed clips (stored or derived: :func:`simkit.data.storage.has_dataset`)."""
    with h5py.File(path, "r") as f:
        return has_dataset(f, MIX)


def frontal_sets(azimuth_deg: np.ndarray) -> np.ndarray:
    """(N,) whether source 0 of each view set of ``labels/azimuth_deg`` (N, V, S) is within +-90 deg of
    view 0's camera (a finite azimuth in [-90, 90]): SLfM's frontal test selection.

    IFICL/SLfM@0257622 ``Dataset/AI-Habitat/create-csv.py`` lines 73-77 build the test list of
    ``hm3d-4view-rotation-filterangle`` by dropping a pair when ``relative_angle_between_sound_0_camera_0``
    is ``> 90`` or ``< -90``; that is the one angle its evaluation scores (``slfm/evaluation/
    evaluate_angle.py`` lines 98-103 read ``audio_1`` / ``angle_between_source1_camera1``, line 197 swaps
    in that list). Its training reads the unfiltered lists (``slfm/config/params.py`` lines 83-85).
    """
    az = np.asarray(azimuth_deg, dtype=np.float64).reshape(len(azimuth_deg), -1)[:, :1]  # (N, 1): view 0, source 0
    return (np.isfinite(az) & (az >= -90.0) & (az <= 90.0))[:, 0]


def derived_protocol_entries(
    root: Path | str, protocol: str, base: dict[str, list[tuple[str, int | None]]]
) -> dict[str, list[tuple[str, int | None]]]:
    """The split entries of derived protocol ``protocol`` (:data:`simkit.data.layout.DERIVED_PROTOCOLS`)
    from the default protocol's entries ``base`` and the shards' labels.

    ``slfm-frontal``: train and val as the default protocol (SLfM trains on its unfiltered lists); test
    only the view sets :func:`frontal_sets` keeps. Every record of a kept set is scored (each view and
    source; the folded angle metrics fold labels like predictions). A test shard without
    ``labels/azimuth_deg`` is a SimkitError; a missing shard or an out-of-range set stays in the list so
    that the opener reports it as it does for stored protocols.
    """
    if protocol != layout.FRONTAL_PROTOCOL:
        raise SimkitError(f"unknown derived protocol {protocol!r}")
    out = {split: list(items) for split, items in base.items()}
    keep_of: dict[str, np.ndarray] = {}
    test: list[tuple[str, int | None]] = []
    for shard, idx in base.get("test", []):
        path = layout.shard_path(root, shard)
        if not path.is_file():
            test.append((shard, idx))
            continue
        if shard not in keep_of:
            try:
                with h5py.File(path, "r") as f:
                    if "labels/azimuth_deg" not in f:
                        raise SimkitError(f"protocol {protocol} needs azimuth labels (labels/azimuth_deg), "
                                          f"which shard {path} lacks")
                    keep_of[shard] = frontal_sets(f["labels/azimuth_deg"][()])
            except OSError as e:
                raise SimkitError(f"shard {path} cannot be read ({e})") from None
        keep = keep_of[shard]
        sets = range(len(keep)) if idx is None else [idx]
        test += [(shard, n) for n in sets if n >= len(keep) or keep[n]]
    out["test"] = test
    return out
