"""The binaural tasks' dataset (``binauralize``, ``av_localize``): binaural clips with their RGB view.

One item is source s of view set n seen from view v: the rendered binaural clip ``audio/binaural[n, v, s]``
(the target; stored, or derived on read, only over the window an item uses:
:func:`simkit.data.storage.read_binaural`), its mono mix
``(L + R) / 2`` (the input; simkit's mono convention, see :mod:`simkit.models.binaural.base`) and the view's
colour image ``views/rgb[n, v]``. Training items are random 0.63 s windows, evaluation items whole clips,
both at their rendered level (the models normalise levels: :func:`simkit.models.binaural.base.normalize_batch`).
With ``negatives`` every item also carries the audio of another item from a different view set
(``neg_mono``, ``neg_binaural``): the mismatched pair of the localisation task. Randomness comes from
``(seed, epoch, index)``, as in :class:`simkit.data.datasets.direction.RenderViewSets`;
shards are read through :class:`simkit.data.datasets.base.ShardDataset`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simkit.conventions import mono_of
from simkit.data.datasets.base import ShardDataset
from simkit.data.opener import DatasetInfo, open_dataset
from simkit.data.storage import (
    MIX,
    clip_length,
    derive_batch,
    has_dataset,
    read_binaural,
    read_mix,
    read_mixed_rir,
    read_source,
    source_segment,
)
from simkit.errors import SimkitError
from simkit.metrics.binaural import WINDOW_SECONDS

# binaural clips and an image per view (renders) or video frames along each clip (FAIR-Play)
REQUIRED = ("audio", "views|frames")
RECIPE = "binaural"  # the render recipe the binaural tasks need (simkit.render.recipes)


def visible_sources(info: DatasetInfo) -> bool:
    """Whether a render's sources are visible objects in its views (``sampling.visible_sources``)."""
    sampling = (info.manifest.get("config") or {}).get("sampling") or {}
    return bool(sampling.get("visible_sources", False))


def open_binaural_dataset(root: Path | str, protocol: str | None = None) -> DatasetInfo:
    """Validate a dataset for the binaural tasks: binaural clips and views or frames in every shard, and for
    a render, sources that its views show (a render of sources in free air, which no view shows, gives the
    image nothing to say about the sound: issue 21); one SimkitError naming the recipe otherwise."""
    info = open_dataset(root, REQUIRED, protocol, who="the binaural tasks (binauralize, av_localize)")
    if info.origin.get("kind") == "render" and not visible_sources(info):
        raise SimkitError(f"dataset {info.root}: its sources are not visible in its views (points in free air); "
                          f"the binaural tasks need a render with visible sounding objects: "
                          f"simkit render --recipe {RECIPE}")
    return info


def nearest_frames(times_s: np.ndarray, centres_s: np.ndarray) -> np.ndarray:
    """Index of the frame (times ``times_s``) nearest each of ``centres_s`` (ties: the earlier frame)."""
    times_s = np.asarray(times_s, dtype=np.float64)
    return np.abs(np.asarray(centres_s, dtype=np.float64)[:, None] - times_s[None, :]).argmin(axis=1)


class BinauralClips(ShardDataset):
    """Items ``(view set, view, source)`` of one split; see the module docstring for the item layout.

    An item is a dict: ``mono`` (T,) float32, ``binaural`` (2, T) float32 (channel 0 = left), ``image``
    (H, W, 3) uint8, ``scene_id``, ``set_index``, ``view_index``, ``source_index`` and, with ``negatives``,
    ``neg_mono`` / ``neg_binaural`` of the same length.

    On a render with mixed clips (``audio/mix``) an item is one view: its image and the mix of all its
    sources (``source_index`` -1), as a FAIR-Play recording mixes its instruments. On a render with visible
    sources every item also carries ``masks`` (K, H, W) bool, the instance masks of its sources' objects in
    the view (K = 1 for a source's item, S for a mixed item; :func:`source_masks`), the per-source ground truth
    a localisation map is scored against.
    """

    def __init__(
        self,
        info: DatasetInfo,
        split: str,
        *,
        train: bool = False,
        window_seconds: float = WINDOW_SECONDS,
        negatives: bool = False,
        seed: int = 0,
        max_items: int = 0,
    ) -> None:
        self.mixed = "views" in info.groups and _first_has(info, split, MIX)  # set before the rows are listed
        super().__init__(info, split, 4, seed=seed, max_items=max_items)
        self.frames = "views" not in info.groups  # recorded video: the image comes from the frames
        self.masks = not self.frames and _first_has(info, split, "sources/instance")
        self.train, self.negatives = train, negatives
        self.window = min(int(round(window_seconds * info.sample_rate)), info.clip_samples) if train else None
        if negatives and len(self.index) < 2:
            raise SimkitError(f"split {split} of {info.root} (protocol {info.protocol}) has {len(self.index)} "
                              "clip(s); negative pairs need at least 2")

    def _rows_of(self, si: int, scene: str) -> Iterable[tuple[int, ...]]:
        views, sources = range(self.info.n_views), range(self.info.shard_sources[scene])
        if self.mixed:  # one item per view: source -1 = the mix of them all
            sources = range(-1, 0)
        return ((si, n, v, s) for n in self.info.sets(self.split, scene) for v in views for s in sources)

    def defer_derivation(self) -> bool:
        """As :meth:`ShardDataset.defer_derivation`; mixed clips are stored, never derived, so never deferred."""
        if self.mixed:
            self.defer = False
            return False
        return super().defer_derivation()

    def _audio(
        self, row: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[dict[str, torch.Tensor], float]:
        """``mono`` and ``binaural`` of the window or whole clip (deferred: the source samples and mixed RIR
        they are derived from, ``derive_source`` / ``derive_rir``) and its centre in s from the clip start."""
        si, n, v, s = (int(x) for x in row)
        f = self._file(si)
        total = clip_length(f)
        off, length = 0, total
        if self.window is not None and rng is not None:
            # only the window is read (derived clips: convolved) - a training item uses 0.63 s of 2.55 s
            off, length = int(rng.integers(0, total - self.window + 1)), self.window
        centre = (off + length / 2) / self.info.sample_rate
        if s < 0:  # the view's mixed clip
            mix = torch.from_numpy(np.ascontiguousarray(read_mix(f, n, [v], off, off + length)[0]))
            return {"mono": mono_of(mix), "binaural": mix}, centre
        if self.defer:
            rir = read_mixed_rir(f, n, [v], s)[0]
            seg = source_segment(read_source(f, n, s), off, off + length, rir.shape[-1])
            return {"derive_source": torch.from_numpy(seg), "derive_rir": torch.from_numpy(rir)}, centre
        clip = torch.from_numpy(np.ascontiguousarray(read_binaural(f, n, [v], s, off, off + length)[0]))
        return {"mono": mono_of(clip), "binaural": clip}, centre

    def finish_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``binaural`` (B, 2, T) and ``mono`` of a deferred batch (and its negatives) derived where the
        batch is (:func:`simkit.data.storage.derive_batch`)."""
        if "derive_source" not in batch:
            return batch
        out = dict(batch)
        for prefix in ("", "neg_"):
            if prefix + "derive_source" in out:
                clip = derive_batch(out.pop(prefix + "derive_source"), out.pop(prefix + "derive_rir"))
                out[prefix + "mono"], out[prefix + "binaural"] = mono_of(clip), clip
        return out

    def _image(self, si: int, n: int, v: int, centre_s: float) -> np.ndarray:
        f = self._file(si)
        if not self.frames:
            return np.asarray(f["views/rgb"][n, v], dtype=np.uint8)
        k = int(nearest_frames(f["frames/time_s"][n, v], np.array([centre_s]))[0])
        return np.asarray(f["frames/rgb"][n, v, k], dtype=np.uint8)

    def _negative_row(self, idx: int, rng: np.random.Generator) -> np.ndarray:
        """Another item, from a different view set when the split has one."""
        si, n = self.index[idx, 0], self.index[idx, 1]
        other_set = (self.index[:, 0] != si) | (self.index[:, 1] != n)
        pool = np.flatnonzero(other_set)
        if pool.size == 0:
            pool = np.delete(np.arange(len(self.index)), idx)
        return self.index[int(pool[rng.integers(0, pool.size)])]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        row = self.index[idx]
        si, n, v, s = (int(x) for x in row)
        # Evaluation items draw their negative from a fixed stream so every run scores the same pairs.
        rng = np.random.default_rng([self.seed, self.epoch if self.train else 0, idx])
        audio, centre = self._audio(row, rng)
        item: dict[str, Any] = {
            **audio,
            "image": torch.from_numpy(self._image(si, n, v, centre)),
            "scene_id": self.scenes[si],
            "set_index": n,
            "view_index": v,
            "source_index": s,
        }
        if self.masks:
            f = self._file(si)
            ids = f["sources/instance"][n] if s < 0 else f["sources/instance"][n, [s]]
            item["masks"] = torch.from_numpy(source_masks(f["views/instance"][n, v], ids))
        if self.frames and not self.train:
            # whole-clip evaluation: every frame, so each 0.63 s window sees the frame nearest its centre
            f = self._file(si)
            item["frames"] = torch.from_numpy(np.asarray(f["frames/rgb"][n, v], dtype=np.uint8))
            item["frame_times"] = torch.from_numpy(f["frames/time_s"][n, v].astype(np.float32))
        if self.negatives:
            neg, _ = self._audio(self._negative_row(idx, rng), rng)
            item |= {"neg_" + k: v for k, v in neg.items()}
        return item


def _first_has(info: DatasetInfo, split: str, name: str) -> bool:
    """Whether the first shard of ``split`` has dataset ``name``, stored or derivable (a render's shards all
    have the same)."""
    import h5py

    shards = info.splits.get(split) or []
    if not shards:
        return False
    with h5py.File(info.shard(shards[0]), "r") as f:
        return has_dataset(f, name)


def source_masks(instance: np.ndarray, source_instance: np.ndarray) -> np.ndarray:
    """(K, H, W) bool: where each of ``source_instance`` (K,) covers the instance image (H, W)."""
    inst = np.asarray(instance)
    return np.stack([inst == int(i) for i in np.asarray(source_instance).reshape(-1)]).astype(bool)
