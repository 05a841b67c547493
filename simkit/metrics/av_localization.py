"""Sounding-object localisation metrics of CLUP's supplement §2 (eq. 10-11).

For every test window a positive pair (image with its own audio) and a negative pair (the same image with
another clip's audio) are scored by the model's raw audio-visual distances ``d+`` and ``d-``. A softmax over
the two scales them to ``(D+, D-)`` in (0, 1) with ``D+ + D- = 1`` ("we employ a softmax function to scale
the distance ... to 1.0"). Ideally ``D+ -> 0`` and ``D- -> 1``.

* AV distance (eq. 10): the mean over pairs of the Euclidean norm ``||(D+, D-) - (0, 1)||_2``.
* A pair is predicted *paired* when its scaled distance is ``<= 0.5``. TP = positive pairs predicted paired,
  FN = positive pairs predicted unpaired, TN = negative pairs predicted unpaired, FP = negative pairs
  predicted paired. Accuracy (eq. 11) = ``(TP + TN) / (2 (TP + FN))``, i.e. the plain accuracy over the
  equally many positive and negative pairs, reported in percent.

Where the items carry the instance masks of their sources' objects (renders with visible sources) and the model
returns a localisation map, the map is also scored against the objects (:func:`map_in_mask`): the share of
its mass inside them (the energy-based pointing game of Wang et al., "Score-CAM", CVPR-W 2020, §4.3) and
whether its peak falls inside them (the pointing game of Zhang et al., "Top-down Neural Attention by
Excitation Backprop", ECCV 2016, §5.1), both in percent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simkit.errors import SimkitError
from simkit.metrics import MetricValue, Records, register_metric

PAIRED_THRESHOLD = 0.5
RAW = ("d_pos", "d_neg")  # record columns: raw model distances of the positive and negative pair
# record columns of a localisation map scored against the sources' instance masks (renders with visible sources)
MASS, PEAK = "map_mass_in_object", "map_peak_in_object"


def _as_pairs(d_pos: np.ndarray, d_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d_pos = np.asarray(d_pos, dtype=np.float64).reshape(-1)
    d_neg = np.asarray(d_neg, dtype=np.float64).reshape(-1)
    if d_pos.shape != d_neg.shape or d_pos.size == 0:
        raise SimkitError(
            f"AV metrics need equally many positive and negative pairs (got {d_pos.size} and {d_neg.size})"
        )
    if not (np.all(np.isfinite(d_pos)) and np.all(np.isfinite(d_neg))):
        raise SimkitError("AV distances contain NaN or inf")
    return d_pos, d_neg


def softmax_scaled_distances(d_pos: np.ndarray, d_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale raw distances (d+, d-) of each positive/negative pair to (D+, D-) = softmax(d+, d-)."""
    d_pos, d_neg = _as_pairs(d_pos, d_neg)
    m = np.maximum(d_pos, d_neg)  # shift for a stable exp
    e_pos, e_neg = np.exp(d_pos - m), np.exp(d_neg - m)
    z = e_pos + e_neg
    return e_pos / z, e_neg / z


def av_distance(scaled_pos: np.ndarray, scaled_neg: np.ndarray) -> float:
    """AV distance (CLUP supp. eq. 10): mean of ``||(D+, D-) - (0, 1)||_2`` over pairs. Lower is better."""
    p, n = _as_pairs(scaled_pos, scaled_neg)
    return float(np.mean(np.hypot(p, n - 1.0)))


@dataclass(frozen=True)
class PairConfusion:
    """Counts of the paired/unpaired decisions (threshold 0.5 on the scaled distance)."""

    tp: int
    fn: int
    tn: int
    fp: int


def pair_confusion(
    scaled_pos: np.ndarray, scaled_neg: np.ndarray, threshold: float = PAIRED_THRESHOLD
) -> PairConfusion:
    """TP/FN over positive pairs and TN/FP over negative pairs; *paired* means ``distance <= threshold``."""
    p, n = _as_pairs(scaled_pos, scaled_neg)
    tp = int(np.sum(p <= threshold))
    tn = int(np.sum(n > threshold))
    return PairConfusion(tp=tp, fn=p.size - tp, tn=tn, fp=n.size - tn)


def av_accuracy(scaled_pos: np.ndarray, scaled_neg: np.ndarray, threshold: float = PAIRED_THRESHOLD) -> float:
    """Localisation accuracy (CLUP supp. eq. 11) in percent: ``100 (TP + TN) / (2 (TP + FN))``."""
    c = pair_confusion(scaled_pos, scaled_neg, threshold)
    return 100.0 * (c.tp + c.tn) / (2.0 * (c.tp + c.fn))


def _scaled(records: Records) -> tuple[np.ndarray, np.ndarray]:
    d_pos = np.asarray(records["d_pos"], dtype=np.float64)
    d_neg = np.asarray(records["d_neg"], dtype=np.float64)
    keep = np.isfinite(d_pos) & np.isfinite(d_neg)
    if not keep.any():
        raise SimkitError("no finite AV distances to score")
    return softmax_scaled_distances(d_pos[keep], d_neg[keep])


@register_metric(
    "av_distance",
    task="av_localize",
    higher_is_better=False,
    unit="scaled distance",
    requires=RAW,
    description="mean ||(D+, D-) - (0, 1)||_2 of softmax-scaled pair distances, CLUP supp. eq. 10",
)
def av_distance_metric(records: Records) -> MetricValue:
    """AV distance over the positive/negative pairs of the records (raw ``d_pos``/``d_neg`` columns)."""
    p, n = _scaled(records)
    return MetricValue(av_distance(p, n), int(p.size))


@register_metric(
    "av_accuracy",
    task="av_localize",
    higher_is_better=True,
    unit="%",
    requires=RAW,
    description="(TP + TN) / (2 (TP + FN)), paired when the scaled distance <= 0.5, CLUP supp. eq. 11",
)
def av_accuracy_metric(records: Records) -> MetricValue:
    """Localisation accuracy (%) over the positive/negative pairs of the records."""
    p, n = _scaled(records)
    return MetricValue(av_accuracy(p, n), int(p.size))


def map_in_mask(loc_map: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Share of a localisation map's mass inside a mask, and whether its peak lies inside, each in [0, 1].

    ``loc_map`` (h, w) is non-negative (negative values count as 0) and covers the image of ``mask`` (H, W)
    bool: map cell (i, j) is the image block of rows ``[i H / h, (i+1) H / h)`` and columns likewise; a cell
    counts with the fraction of its pixels inside the mask; its peak is inside when the pixel at the centre of
    the highest cell (the first, on ties) is. A map without mass scores 0 and 0.
    """
    m = np.maximum(np.asarray(loc_map, dtype=np.float64), 0.0)
    mask = np.asarray(mask, dtype=bool)
    h, w = m.shape
    rows = (np.arange(mask.shape[0]) * h) // mask.shape[0]
    cols = (np.arange(mask.shape[1]) * w) // mask.shape[1]
    inside = np.zeros((h, w))
    count = np.zeros((h, w))
    np.add.at(inside, (rows[:, None], cols[None, :]), mask)
    np.add.at(count, (rows[:, None], cols[None, :]), 1.0)
    total = m.sum()
    if total <= 0:
        return 0.0, 0.0
    mass = float((m * inside / np.maximum(count, 1.0)).sum() / total)
    i, j = np.unravel_index(int(np.argmax(m)), m.shape)
    r = min(int((i + 0.5) * mask.shape[0] / h), mask.shape[0] - 1)
    c = min(int((j + 0.5) * mask.shape[1] / w), mask.shape[1] - 1)
    return mass, float(mask[r, c])


def _column(records: Records, name: str) -> np.ndarray:
    x = np.asarray(records[name], dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise SimkitError(f"no finite {name} values to score")
    return x


@register_metric(
    "map_mass_in_object",
    task="av_localize",
    higher_is_better=True,
    unit="%",
    requires=(MASS,),
    description="share of the localisation map's mass inside the sources' objects (energy-based pointing game, "
                "Score-CAM §4.3); renders with visible sources",
)
def map_mass_metric(records: Records) -> MetricValue:
    """Mean share (%) of the localisation maps' mass inside the sources' instance masks."""
    x = _column(records, MASS)
    return MetricValue(100.0 * float(x.mean()), int(x.size))


@register_metric(
    "map_peak_in_object",
    task="av_localize",
    higher_is_better=True,
    unit="%",
    requires=(PEAK,),
    description="share of localisation maps whose peak lies on a source's object (pointing game, Zhang et al. "
                "2016 §5.1); renders with visible sources",
)
def map_peak_metric(records: Records) -> MetricValue:
    """Share (%) of localisation maps whose highest cell lies on a source's instance mask."""
    x = _column(records, PEAK)
    return MetricValue(100.0 * float(x.mean()), int(x.size))
