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
    clip_length,
    derive_batch,
    read_binaural,
    read_mixed_rir,
    read_source,
    source_segment,
)
from simkit.errors import SimkitError
from simkit.metrics.binaural import WINDOW_SECONDS

# binaural clips and an image per view (renders) or video frames along each clip (FAIR-Play)
REQUIRED = ("audio", "views|frames")


def open_binaural_dataset(root: Path | str, protocol: str | None = None) -> DatasetInfo:
    """Validate a dataset for the binaural tasks: binaural clips and views or frames in every shard."""
    return open_dataset(root, REQUIRED, protocol, who="the binaural tasks (binauralize, av_localize)")


def nearest_frames(times_s: np.ndarray, centres_s: np.ndarray) -> np.ndarray:
    """Index of the frame (times ``times_s``) nearest each of ``centres_s`` (ties: the earlier frame)."""
    times_s = np.asarray(times_s, dtype=np.float64)
    return np.abs(np.asarray(centres_s, dtype=np.float64)[:, None] - times_s[None, :]).argmin(axis=1)


class BinauralClips(ShardDataset):
    """Items ``(view set, view, source)`` of one split; see the module docstring for the item layout.

    An item is a dict: ``mono`` (T,) float32, ``binaural`` (2, T) float32 (channel 0 = left), ``image``
    (H, W, 3) uint8, ``scene_id``, ``set_index``, ``view_index``, ``source_index`` and, with ``negatives``,
    ``neg_mono`` / ``neg_binaural`` of the same length.
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
        super().__init__(info, split, 4, seed=seed, max_items=max_items)
        self.frames = "views" not in info.groups  # recorded video: the image comes from the frames
        self.train, self.negatives = train, negatives
        self.window = min(int(round(window_seconds * info.sample_rate)), info.clip_samples) if train else None
        if negatives and len(self.index) < 2:
            raise SimkitError(f"split {split} of {info.root} (protocol {info.protocol}) has {len(self.index)} "
                              "clip(s); negative pairs need at least 2")

    def _rows_of(self, si: int, scene: str) -> Iterable[tuple[int, ...]]:
        views, sources = range(self.info.n_views), range(self.info.shard_sources[scene])
        return ((si, n, v, s) for n in self.info.sets(self.split, scene) for v in views for s in sources)

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
        if self.frames and not self.train:
            # whole-clip evaluation: every frame, so each 0.63 s window sees the frame nearest its centre
            f = self._file(si)
            item["frames"] = torch.from_numpy(np.asarray(f["frames/rgb"][n, v], dtype=np.uint8))
            item["frame_times"] = torch.from_numpy(f["frames/time_s"][n, v].astype(np.float32))
        if self.negatives:
            neg, _ = self._audio(self._negative_row(idx, rng), rng)
            item |= {"neg_" + k: v for k, v in neg.items()}
        return item
