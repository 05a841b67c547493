"""Torch datasets of binaural clips with their RGB view, for the ``binauralize`` and ``av_localize`` tasks.

One item is source s of view set n seen from view v: the rendered binaural clip ``audio/binaural[n, v, s]``
(the target), its mono mix ``(L + R) / 2`` (the input; simkit's mono convention, see
:mod:`simkit.models.binaural`) and the view's colour image ``views/rgb[n, v]``. Training items are random
0.63 s windows, evaluation items whole clips, both at their rendered level (the models normalise levels:
:func:`simkit.models.binaural.normalize_batch`). With ``negatives`` every item also carries
the audio of another item from a different view set (``neg_mono``, ``neg_binaural``): the mismatched pair
of the localisation task. Randomness comes from ``(seed, epoch, index)``, as in
:class:`simkit.data.render_dataset.RenderViewSets`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from simkit.data.render_dataset import RenderInfo, open_render
from simkit.data.storage import read_binaural
from simkit.errors import SimkitError
from simkit.metrics.binaural import WINDOW_SECONDS
from simkit.models.binaural import mono_of

REQUIRED = ("audio/binaural",)
VIEWS = "views/rgb"


def open_binaural_render(root: Path | str) -> RenderInfo:
    """Validate a render for the binaural tasks: binaural clips and RGB views in every shard."""
    info = open_render(root, REQUIRED)
    for split, scenes in info.splits.items():
        for scene in scenes:
            with h5py.File(info.shard(scene), "r") as f:
                if VIEWS not in f:
                    raise SimkitError(
                        f"render has no views (rendered with --no-views?): shard {info.shard(scene)} "
                        f"of split {split} lacks {VIEWS}, which the binaural tasks need"
                    )
    return info


class BinauralClips(Dataset):
    """Items ``(view set, view, source)`` of one split; see the module docstring for the item layout.

    An item is a dict: ``mono`` (T,) float32, ``binaural`` (2, T) float32 (channel 0 = left), ``image``
    (H, W, 3) uint8, ``scene_id``, ``set_index``, ``view_index``, ``source_index`` and, with ``negatives``,
    ``neg_mono`` / ``neg_binaural`` of the same length.
    """

    def __init__(
        self,
        info: RenderInfo,
        split: str,
        *,
        train: bool = False,
        window_seconds: float = WINDOW_SECONDS,
        negatives: bool = False,
        seed: int = 0,
        max_items: int = 0,
    ) -> None:
        if split not in info.splits:
            raise SimkitError(f"unknown split {split!r} (known: {', '.join(info.splits)})")
        scenes = info.splits[split]
        if not scenes:
            raise SimkitError(f"split {split} of {info.root} has no scenes; render more scenes")
        self.info, self.split, self.train, self.seed, self.negatives = info, split, train, seed, negatives
        self.scenes = scenes
        self.window = min(int(round(window_seconds * info.sample_rate)), info.clip_samples) if train else None
        rows = [
            (si, n, v, s)
            for si, scene in enumerate(scenes)
            for n in range(info.shard_sets[scene])
            for v in range(info.n_views)
            for s in range(info.shard_sources[scene])
        ]
        index = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
        if max_items and len(index) > max_items:
            keep = np.sort(np.random.default_rng([seed, 7]).choice(len(index), max_items, replace=False))
            index = index[keep]
        if negatives and len(index) < 2:
            raise SimkitError(f"split {split} has {len(index)} clip(s); negative pairs need at least 2")
        self.index = index
        self.epoch = 0
        self._files: dict[int, h5py.File] = {}
        self._pid = -1

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """Select the random windows/negatives of ``epoch``."""
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

    def _audio(self, row: np.ndarray, rng: np.random.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        si, n, v, s = (int(x) for x in row)
        binaural = read_binaural(self._file(si), n, [v], s)[0]
        if self.window is not None and rng is not None:
            off = int(rng.integers(0, binaural.shape[-1] - self.window + 1))
            binaural = binaural[:, off : off + self.window]
        clip = torch.from_numpy(np.ascontiguousarray(binaural))
        return mono_of(clip), clip

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
        mono, binaural = self._audio(row, rng)
        item: dict[str, Any] = {
            "mono": mono,
            "binaural": binaural,
            "image": torch.from_numpy(np.asarray(self._file(si)[VIEWS][n, v], dtype=np.uint8)),
            "scene_id": self.scenes[si],
            "set_index": n,
            "view_index": v,
            "source_index": s,
        }
        if self.negatives:
            item["neg_mono"], item["neg_binaural"] = self._audio(self._negative_row(idx, rng), rng)
        return item


def write_synthetic_render(
    root: Path | str,
    rng: np.random.Generator,
    *,
    splits: dict[str, list[str]] | None = None,
    n_sets: int = 2,
    n_views: int = 2,
    clip_seconds: float = 1.0,
    sample_rate: int = 16000,
    image_size: tuple[int, int] = (48, 64),
    views: bool = True,
) -> Path:
    """Write a tiny render directory (docs/dataset-format.md) whose binaural cues follow the image.

    No acoustic engine: every (set, view) has one source at a random pan ``p`` in [-1, 1] (+1 = left, the
    azimuth convention's sign), drawn as a bright square at image column ``(1 - p) / 2`` of the width (the
    camera's left is the image's left). The left/right clips are the dry noise-burst source with an
    interaural level difference (gains ``1 +- 0.6 p``) and time difference (the far ear delayed by up to 8
    samples, 0.5 ms at 16 kHz). Each view set's source also has a timbre ``c`` in [0, 1] - noise bursts in a
    band around ``500 + 4500 c`` Hz - shown as the square's colour (red ``c = 0`` to blue ``c = 1``), so the
    mono audio and the image match (what ``av_localize`` scores) although the mono carries no pan.
    ``views=False`` writes no ``views/rgb``, like ``simkit render --no-views``. For tests and benchmarks.
    """
    from simkit.conventions import LEFT_CHANNEL, RIGHT_CHANNEL
    from simkit.io import atomic_write_json, atomic_write_text

    root = Path(root)
    splits = splits or {"train": ["syn_train"], "val": ["syn_val"], "test": ["syn_test"]}
    (root / "shards").mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(exist_ok=True)
    t = int(round(clip_seconds * sample_rate))
    h, w = image_size
    for split, scenes in splits.items():
        atomic_write_text(root / "splits" / f"{split}.txt", "".join(f"{s}\n" for s in scenes))
        for scene in scenes:
            timbre = rng.uniform(0.0, 1.0, n_sets)
            freqs = np.fft.rfftfreq(t, 1.0 / sample_rate)
            band = np.exp(-(((freqs[None, :] - (500.0 + 4500.0 * timbre[:, None])) / 800.0) ** 2))
            noise = np.fft.irfft(np.fft.rfft(rng.standard_normal((n_sets, t))) * band, t)
            gate = np.mod(np.arange(t) / sample_rate, 0.35) < 0.25  # syllable-like bursts
            source = noise * gate / np.sqrt(np.mean((noise * gate) ** 2, axis=1, keepdims=True)) * 0.1
            source = source[:, None, :].astype(np.float32)
            pan = rng.uniform(-1.0, 1.0, (n_sets, n_views))
            binaural = np.zeros((n_sets, n_views, 1, 2, t), dtype=np.float32)
            rgb = np.full((n_sets, n_views, h, w, 3), 30, dtype=np.uint8)
            for n in range(n_sets):
                for v in range(n_views):
                    p = pan[n, v]
                    delay = int(round(8 * abs(p)))
                    near, far = source[n, 0], np.concatenate([np.zeros(delay, np.float32), source[n, 0]])[:t]
                    left_sig, right_sig = (near, far) if p >= 0 else (far, near)
                    binaural[n, v, 0, LEFT_CHANNEL] = (1 + 0.6 * p) * left_sig
                    binaural[n, v, 0, RIGHT_CHANNEL] = (1 - 0.6 * p) * right_sig
                    cx, side = int(round((1 - p) / 2 * (w - 1))), max(2, h // 4)
                    colour = (int(240 * (1 - timbre[n])), 200, int(240 * timbre[n]))
                    rgb[n, v, h // 2 - side : h // 2 + side, max(0, cx - side) : cx + side] = colour
            with h5py.File(root / "shards" / f"{scene}.h5", "w") as f:
                f.attrs.update(
                    schema_version=1,
                    scene_id=scene,
                    split=split,
                    config_hash="synthetic",
                    sample_rate=sample_rate,
                    n_sets=n_sets,
                    n_views=n_views,
                    n_sources=1,
                    indirect_gain=0.0,
                )
                f["audio/binaural"] = binaural
                f["audio/source"] = source
                if views:
                    f["views/rgb"] = rgb
                f.attrs["complete"] = 1
    atomic_write_json(
        root / "manifest.json",
        {
            "config_hash": "synthetic",
            "schema_version": 1,
            "source": "simkit.data.binaural_dataset.write_synthetic_render",
        },
    )
    return root
