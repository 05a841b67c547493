"""The shard-reading machinery every task dataset shares (:class:`ShardDataset`).

A task dataset lists its items as integer rows whose first column is the scene's position in the split;
this base holds the split, that index (optionally a seeded subset), the epoch that seeds random crops, and
the HDF5 handles: shards are opened lazily, once per process, so DataLoader workers (forked or spawned)
each hold their own h5py handles and never reuse the parent's.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from torch.utils.data import Dataset

from simkit.data.opener import DatasetInfo
from simkit.errors import SimkitError

SMALL_BYTES = 1 << 16  # datasets up to this size are read once per process and served from memory


class ShardFile:
    """An open shard that serves its small datasets (labels, poses, pairs, the int16 ``*_scale`` arrays;
    <= SMALL_BYTES) and its root attributes from memory after their first read: an item touches a dozen of
    them, and each h5py read costs about 0.1 ms however small. Reads like an ``h5py.File``
    (``f[name][index]``, ``name in f``, ``f.attrs``, ``f.filename``); bulky datasets stay h5py datasets."""

    def __init__(self, path: Path | str) -> None:
        # no chunk cache: an item reads each chunk once, and a shuffled epoch over a real dataset does not come
        # back to it before it would be evicted (a cache would only make small benchmarks measure memory)
        self.file = h5py.File(path, "r", rdcc_nbytes=0)
        self.filename = self.file.filename
        self.attrs = dict(self.file.attrs)
        self._small: dict[str, Any] = {}
        # bulky datasets' h5py objects and which names exist: an h5py path lookup costs about as much as
        # a small read, and an item looks up half a dozen (the file is read-only, so neither changes)
        self._datasets: dict[str, h5py.Dataset] = {}
        self._has: dict[str, bool] = {}

    def __contains__(self, name: str) -> bool:
        got = self._has.get(name)
        if got is None:
            got = self._has[name] = name in self._small or name in self.file
        return got

    def __getitem__(self, name: str) -> Any:
        got = self._small.get(name)
        if got is None:
            got = self._datasets.get(name)
        if got is None:
            got = self.file[name]
            if isinstance(got, h5py.Dataset):
                if got.size * got.dtype.itemsize <= SMALL_BYTES:
                    got = self._small[name] = got[()]
                else:
                    self._datasets[name] = got
        return got


class ShardDataset(Dataset, abc.ABC):
    """Items of one split: ``index`` (items, K) int64 rows, column 0 the scene's position in ``scenes``.

    Subclasses build their rows with :meth:`_rows_of` and read items through :meth:`_file`. ``max_items``
    keeps a seeded random subset (every scene stays represented, unlike the first rows)."""

    def __init__(self, info: DatasetInfo, split: str, row_width: int, *, seed: int = 0, max_items: int = 0
                 ) -> None:
        if split not in info.splits:
            raise SimkitError(f"unknown split {split!r} (known: {', '.join(info.splits)})")
        scenes = info.splits[split]
        if not scenes:
            raise SimkitError(f"split {split} of {info.root} (protocol {info.protocol}) is empty")
        self.info, self.split, self.seed, self.scenes = info, split, seed, scenes
        rows = [row for si, scene in enumerate(scenes) for row in self._rows_of(si, scene)]
        index = np.asarray(rows, dtype=np.int64).reshape(-1, row_width)
        if max_items and len(index) > max_items:
            keep = np.sort(np.random.default_rng([seed, 7]).choice(len(index), max_items, replace=False))
            index = index[keep]
        self.index = index
        self.epoch = 0
        self.defer = False  # derived clips left to the training device (defer_derivation)
        self._files: dict[int, ShardFile] = {}
        self._pid = -1

    @abc.abstractmethod
    def _rows_of(self, si: int, scene: str) -> Iterable[tuple[int, ...]]:
        """The item rows of scene ``scene`` (position ``si`` in the split); each task's dataset says what a
        row holds."""

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """Select the random crops/augmentation of ``epoch`` (workers pick it up when the loader restarts)."""
        self.epoch = epoch

    def __getstate__(self) -> dict[str, Any]:
        # open handles do not pickle (spawned workers): each process opens its own
        state = self.__dict__.copy()
        state["_files"], state["_pid"] = {}, -1
        return state

    def _file(self, si: int) -> ShardFile:
        """The open shard of scene ``si`` in this process."""
        if self._pid != os.getpid():  # a forked worker must not reuse the parent's handles
            self._files, self._pid = {}, os.getpid()
        if si not in self._files:
            self._files[si] = ShardFile(self.info.shard(self.scenes[si]))
        return self._files[si]

    def _derivable(self) -> bool:
        """Whether every shard of this selection derives its clips (stores sources and RIRs, no clips)."""
        from simkit.data.storage import CLIPS, has_dataset

        for si in np.unique(self.index[:, 0]):
            with h5py.File(self.info.shard(self.scenes[int(si)]), "r") as f:
                if CLIPS in f or not has_dataset(f, CLIPS):
                    return False
        return True

    def defer_derivation(self) -> bool:
        """Leave the convolution of derived clips to the training device: items carry the source samples
        their window reads and the mixed RIRs (``derive_source``, ``derive_rir``) instead of the audio, and
        :meth:`finish_batch`, called on the batch after its transfer, convolves them in one batched FFT. The
        loader then only reads and decodes (cheaper than reading float32 clips). Applies to training items
        of a split whose every shard derives its clips; returns whether it applies."""
        self.defer = bool(getattr(self, "train", False)) and self._derivable()
        return self.defer

    def finish_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch as the models read it (a deferring dataset derives its audio here); others unchanged."""
        return batch
