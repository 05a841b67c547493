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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simkit.errors import SimkitError
from simkit.metrics import MetricValue, Records, register_metric

PAIRED_THRESHOLD = 0.5
RAW = ("d_pos", "d_neg")  # record columns: raw model distances of the positive and negative pair


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
