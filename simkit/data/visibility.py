"""Seed 000 Table 7's "visibility" statistic of renders with visible sources (``sampling.visible_sources``).

Seed 000, Table 7 caption: "Visibility is represented by two numbers: the first indicates the number of sound
sources visible for over 4 seconds within the 5-second clip, and the second denotes the number of sound sources
visible for less than 4 seconds" (as percentages). A render's views are stills along the camera's motion, so
the share of a set's views in which a source is visible stands for the share of the clip: a source counts as
*mostly visible* when it is visible in more than 4/5 of its set's views, *partly visible* when in some but at
most 4/5 of them (the seed's two numbers; the rest, never visible, is reported too). For stills the per-view
figure is also given: the share of (view, source) pairs in which the source is visible.

Visible in a view = inside the field of view and not occluded: the source's object (its body,
``sources/instance``) covers at least :func:`visible_threshold` pixels of the view's instance image
(``views/source_pixels``, counted from ``views/instance`` at render time by :func:`source_pixels`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

CLIP_SHARE = 4.0 / 5.0  # seed 000 Table 7: visible "for over 4 seconds within the 5-second clip"
# The HM3D-SS view filter's P (simkit.vision.config.ViewFilterConfig.min_instance_pixels): pixels an object
# needs at 320x240 to count as visible; scaled with the image area.
REF_PIXELS, REF_AREA = 200, 320 * 240


def visible_threshold(height: int, width: int) -> int:
    """Pixels an object needs in a ``height`` x ``width`` view to count as visible (at least 1)."""
    return max(1, int(round(REF_PIXELS * height * width / REF_AREA)))


def source_pixels(instance: np.ndarray, source_instance: np.ndarray) -> np.ndarray:
    """(..., S) int32: pixels of each source's object in instance images (..., H, W)."""
    inst = np.asarray(instance)
    ids = np.asarray(source_instance, dtype=np.int64).reshape(-1)
    if len(ids) == 0:
        return np.zeros(inst.shape[:-2] + (0,), np.int32)
    return np.stack([(inst == i).sum(axis=(-2, -1)) for i in ids], axis=-1).astype(np.int32)


@dataclass
class Visibility:
    """Counts of a render's visibility: over sources (of a set) and over (view, source) pairs."""

    sources: int = 0
    mostly: int = 0  # visible in more than CLIP_SHARE of the set's views
    partly: int = 0  # visible in some views, at most CLIP_SHARE of them
    never: int = 0
    pairs: int = 0  # (view, source) pairs
    pairs_visible: int = 0

    def add(self, pixels: np.ndarray, threshold: int) -> None:
        """Count the sets of ``pixels`` (N, V, S) with ``threshold`` pixels for visible."""
        seen = np.asarray(pixels) >= threshold
        share = seen.mean(axis=1)  # (N, S)
        self.sources += share.size
        self.mostly += int((share > CLIP_SHARE).sum())
        self.partly += int(((share > 0) & (share <= CLIP_SHARE)).sum())
        self.never += int((share == 0).sum())
        self.pairs += seen.size
        self.pairs_visible += int(seen.sum())

    def line(self) -> str:
        """One line: the seed's two numbers, never visible, and the per-view share."""
        if not self.sources:
            return "visibility: -"
        p = lambda k: 100.0 * k / self.sources  # noqa: E731
        return (f"visibility (seed 000 Table 7, % of {self.sources} sources): "
                f"{p(self.mostly):.0f}/{p(self.partly):.0f} "
                f"(visible in > 4/5 of their set's views / in some, <= 4/5), never {p(self.never):.0f}; per view: "
                f"{100.0 * self.pairs_visible / self.pairs:.1f} % of {self.pairs} (view, source) pairs visible")


def shard_visibility(paths: Iterable[Path | str], sets: dict[str, list[int]] | None = None) -> Visibility | None:
    """The visibility of shards (every set, or ``sets[path]``), or None when none has ``views/source_pixels``."""
    out, found = Visibility(), False
    for path in paths:
        with h5py.File(path, "r") as f:
            if "views/source_pixels" not in f:
                continue
            found = True
            h, w = f["views/instance"].shape[-2:] if "views/instance" in f else f["views/rgb"].shape[-3:-1]
            px = f["views/source_pixels"][()]
            if sets is not None:
                px = px[sorted(sets.get(str(path), []))]
            out.add(px, visible_threshold(int(h), int(w)))
    return out if found else None
