"""``simkit data stats``: one seed-000-Table-7 row of a dataset - clips, hours, split sizes, visibility (renders
with visible sources: :mod:`simkit.data.visibility`), IID binaural accuracy.

IID binaural accuracy (seed 000, Table 7 and A.1.2): the share of labelled clips whose interaural
intensity difference ``d = sign(log(E_L / E_R))`` over the whole clip points to the labelled side
(:func:`simkit.conventions.iid_side`). A tie (equal ear energies, ``d = 0``: undecided) is scored and
counted as a miss. Clips without a side (azimuth within 5 deg of the median plane, "unknown" labels,
datasets without labels) are not counted; the row says how many were.

A render with mixed clips (``mix.enabled``, docs/scenes.md "Mixed clips") is scored on its mixes: one clip
per view, the mix of every source (and noise), labelled with that view's target source
(``labels/mix_target``) - what a recording of several sources at once, labelled with its main one, gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from simkit.conventions import MEDIAN_PLANE_MARGIN_DEG, iid_side, side_of_azimuth
from simkit.data.layout import SPLITS
from simkit.data.opener import open_dataset
from simkit.data.storage import MIX, MIX_TARGET, has_dataset, read_set_binaural, read_set_mix
from simkit.data.visibility import Visibility, shard_visibility


@dataclass
class DatasetStats:
    """A Table-7 row: totals, per-split clip counts and the IID accuracy (NaN when nothing is labelled)."""

    name: str
    protocol: str
    clips: int
    hours: float
    split_clips: dict[str, int]
    iid_accuracy: float
    iid_scored: int
    per_split_iid: dict[str, float] = field(default_factory=dict)
    visibility: Visibility | None = None  # renders with visible sources (simkit.data.visibility)


def _sides(f: h5py.File, n: int) -> np.ndarray:
    """(V, S) true side of set n: +1 left, -1 right, 0 unknown."""
    if "labels/azimuth_deg" not in f:
        return np.zeros((int(f.attrs["n_views"]), int(f.attrs["n_sources"])), np.float64)
    az = f["labels/azimuth_deg"][n].astype(np.float64)
    side = f["labels/side"][n].astype(np.float64) if "labels/side" in f else np.zeros_like(az)
    return np.where(np.isfinite(az), side_of_azimuth(az, MEDIAN_PLANE_MARGIN_DEG), side)


def dataset_stats(root: Path | str, protocol: str | None = None) -> DatasetStats:
    """Count clips and hours per split and score the IID rule against the labels."""
    info = open_dataset(root, ("audio",), protocol)
    seconds = info.clip_samples / info.sample_rate
    split_clips: dict[str, int] = {}
    hits: dict[str, list[float]] = {}
    for split in SPLITS:
        n_clips, h = 0, []
        for shard in info.splits[split]:
            with h5py.File(info.shard(shard), "r") as f:
                mixed = has_dataset(f, MIX)
                for n in info.sets(split, shard):
                    if mixed:  # one clip per view: its mix, with its target's side
                        audio = read_set_mix(f, n)[:, None]  # (V, 1, 2, T)
                        target = f[MIX_TARGET][n].astype(np.int64)
                        sides = _sides(f, n)[np.arange(len(target)), target][:, None]
                    else:
                        audio = read_set_binaural(f, n)  # (V, S, 2, T)
                        sides = _sides(f, n)
                    n_clips += audio.shape[0] * audio.shape[1]
                    pred = iid_side(audio)  # 0 (a tie) never equals a side: a miss
                    keep = sides != 0
                    h.extend((pred[keep] == sides[keep]).astype(np.float64).tolist())
        split_clips[split], hits[split] = n_clips, h
    every = [x for s in SPLITS for x in hits[s]]
    picked = {str(info.shard(sh)): list(info.sets(sp, sh)) for sp in SPLITS for sh in info.splits[sp]}
    vis = shard_visibility(list(picked), picked)
    return DatasetStats(
        info.name, info.protocol, sum(split_clips.values()), sum(split_clips.values()) * seconds / 3600.0,
        split_clips, float(np.mean(every)) if every else float("nan"), len(every),
        {s: float(np.mean(v)) if v else float("nan") for s, v in hits.items()}, vis,
    )


def format_stats(st: DatasetStats) -> str:
    """The row as text, in Table 7's order."""
    acc = "-" if not st.iid_scored else f"{100 * st.iid_accuracy:.1f} % of {st.iid_scored} labelled clips"
    splits = ", ".join(f"{s} {n}" for s, n in st.split_clips.items())
    lines = [
        f"dataset {st.name}  (protocol {st.protocol})",
        f"clips {st.clips}  duration {st.hours:.2f} h  splits: {splits}",
        f"IID binaural acc: {acc}",
    ]
    if st.visibility is not None:
        lines.insert(2, st.visibility.line())
    per = [f"{s} {100 * v:.1f} %" for s, v in st.per_split_iid.items() if np.isfinite(v)]
    if per:
        lines.append("  per split: " + ", ".join(per))
    return "\n".join(lines)
