"""Sound-direction metrics over per-view records (columns ``true_azimuth_deg``, ``pred_azimuth_deg``, ...).

Left/right accuracy compares the side (sign of ``sin(azimuth)``) of prediction and truth. Sources within
``MEDIAN_PLANE_MARGIN_DEG`` of the median plane (true azimuth near 0 or +-180 deg) have no well-defined
side and are left out of that metric; its ``n`` says how many samples were scored. A prediction exactly on
the median plane has no side and counts as wrong. Angular errors are absolute wrapped differences in
degrees. Camera-rotation errors compare the rotation a model implies between view 0 and view v of a set
(``pred_rel_yaw_deg``) with the true one; rows without an estimate are NaN and skipped.

``angle_error_folded_mean`` / ``_median`` are SLfM's angle evaluation (IFICL/SLfM@0257622,
``slfm/evaluation/evaluate_angle.py``): azimuths folded front/back into [-90, 90] (:func:`fold_front_deg`),
then the angle between the folded directions.
"""

from __future__ import annotations

import numpy as np

from simkit.conventions import MEDIAN_PLANE_MARGIN_DEG, azimuth_class, side_of_azimuth, wrap_deg
from simkit.metrics import MetricValue, Records, register_metric

AZ = ("true_azimuth_deg", "pred_azimuth_deg")
ROT = ("true_rel_yaw_deg", "pred_rel_yaw_deg")


def _finite(records: Records, cols: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(records[cols[0]], dtype=np.float64)
    b = np.asarray(records[cols[1]], dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def abs_angle_error_deg(true_deg: np.ndarray, pred_deg: np.ndarray) -> np.ndarray:
    """|wrap(pred - true)| in degrees, in [0, 180]."""
    return np.abs(np.asarray(wrap_deg(np.asarray(pred_deg) - np.asarray(true_deg)), dtype=np.float64))


def fold_front_deg(azimuth_deg: np.ndarray) -> np.ndarray:
    """SLfM's front/back fold: mirror an azimuth about the interaural axis into [-90, 90] (degrees).

    ``a >= 90 -> 180 - a`` and ``a <= -90 -> -180 - a`` (after wrapping into (-180, 180]), so +-90 stay
    where they are, 180 becomes 0 and 135 becomes 45: the one binaural direction with the same interaural
    cues in front. This is IFICL/SLfM@0257622 ``slfm/evaluation/evaluate_angle.py`` lines 61-64
    (``logit2angle``), which applies it to predictions; simkit folds the labels the same way, which changes
    nothing on SLfM's frontal test selection (protocol ``slfm-frontal``) and makes the metric defined on
    every set.
    """
    a = np.asarray(wrap_deg(np.asarray(azimuth_deg, dtype=np.float64)), dtype=np.float64)
    return np.where(a >= 90.0, 180.0 - a, np.where(a <= -90.0, -180.0 - a, a))


def folded_angle_error_deg(true_deg: np.ndarray, pred_deg: np.ndarray) -> np.ndarray:
    """``arccos(cos(fold(pred) - fold(true)))`` in degrees, in [0, 180].

    SLfM (``evaluate_angle.py`` lines 125-137) takes arccos of the clamped dot product of the two unit
    vectors; with both angles in [-90, 90] that equals ``|fold(pred) - fold(true)|``, which is computed
    here directly (arccos loses about 1e-6 deg next to 0)."""
    return np.abs(fold_front_deg(pred_deg) - fold_front_deg(true_deg))


def _lower_median(values: np.ndarray) -> float:
    """``torch.median``'s median: the lower middle value of an even count."""
    return float(np.sort(values)[(values.size - 1) // 2])


def _stat(values: np.ndarray, fn) -> MetricValue:
    return MetricValue(float(fn(values)) if values.size else float("nan"), int(values.size))


@register_metric(
    "lr_accuracy",
    task="direction",
    higher_is_better=True,
    unit="fraction",
    requires=("true_azimuth_deg|true_side", "pred_azimuth_deg"),
    description=f"left/right accuracy; true azimuths within {MEDIAN_PLANE_MARGIN_DEG:g} deg of "
    "the median plane are excluded",
)
def lr_accuracy(records: Records) -> MetricValue:
    """Share of samples whose predicted side (left/right) is the true side.

    Samples without a true azimuth but with a side label (column ``true_side``: +1 left, -1 right, 0
    unknown; StereoCRW's L/R labels) are scored on that side."""
    true = np.asarray(records[AZ[0]], dtype=np.float64)
    pred = np.asarray(records[AZ[1]], dtype=np.float64)
    side = np.asarray(records["true_side"], dtype=np.float64) if "true_side" in records else np.zeros_like(true)
    true_side = side_of_azimuth(true, MEDIAN_PLANE_MARGIN_DEG)  # 0 near the median plane, NaN unknown
    by_angle = np.isfinite(true) & (true_side != 0)
    by_side = ~np.isfinite(true) & np.isfinite(side) & (side != 0)
    keep = (by_angle | by_side) & np.isfinite(pred)
    truth = np.where(by_angle, true_side, side)[keep]
    pred_side = side_of_azimuth(pred[keep])  # +-180 deg gives 0
    return _stat((pred_side == truth).astype(np.float64), np.mean)


@register_metric(
    "angle_error_mean",
    task="direction",
    higher_is_better=False,
    unit="deg",
    requires=AZ,
    description="mean absolute wrapped azimuth error",
)
def angle_error_mean(records: Records) -> MetricValue:
    """Mean |wrap(pred - true)| (deg)."""
    return _stat(abs_angle_error_deg(*_finite(records, AZ)), np.mean)


@register_metric(
    "angle_error_median",
    task="direction",
    higher_is_better=False,
    unit="deg",
    requires=AZ,
    description="median absolute wrapped azimuth error",
)
def angle_error_median(records: Records) -> MetricValue:
    """Median |wrap(pred - true)| (deg)."""
    return _stat(abs_angle_error_deg(*_finite(records, AZ)), np.median)


@register_metric(
    "angle_error_folded_mean",
    task="direction",
    higher_is_better=False,
    unit="deg",
    requires=AZ,
    description="SLfM's angle error: mean arccos(cos d) of azimuths folded front/back into [-90, 90]",
)
def angle_error_folded_mean(records: Records) -> MetricValue:
    """Mean folded angle error (deg): SLfM ``evaluate_angle.py`` line 179 on :func:`folded_angle_error_deg`."""
    return _stat(folded_angle_error_deg(*_finite(records, AZ)), np.mean)


@register_metric(
    "angle_error_folded_median",
    task="direction",
    higher_is_better=False,
    unit="deg",
    requires=AZ,
    description="SLfM's angle error: median arccos(cos d) of azimuths folded front/back into [-90, 90]",
)
def angle_error_folded_median(records: Records) -> MetricValue:
    """Median folded angle error (deg): SLfM ``evaluate_angle.py`` line 180.

    Like SLfM's ``torch.median`` this is the lower of the two middle values of an even count (numpy's
    median, used by ``angle_error_median``, would average them)."""
    return _stat(folded_angle_error_deg(*_finite(records, AZ)), _lower_median)


def _class_accuracy(records: Records, n_classes: int) -> MetricValue:
    true, pred = _finite(records, AZ)
    return _stat(
        (azimuth_class(true, n_classes) == azimuth_class(pred, n_classes)).astype(np.float64), np.mean
    )


@register_metric(
    "class16_accuracy",
    task="direction",
    higher_is_better=True,
    unit="fraction",
    requires=AZ,
    description="16-class azimuth accuracy (22.5 deg bins centred on 0, 22.5, ...)",
)
def class16_accuracy(records: Records) -> MetricValue:
    """Share of samples whose predicted 22.5-degree class is the true one."""
    return _class_accuracy(records, 16)


@register_metric(
    "class4_accuracy",
    task="direction",
    higher_is_better=True,
    unit="fraction",
    requires=AZ,
    description="4-class accuracy: front/left/back/right (90 deg bins centred on 0, 90, 180, -90; "
    "+-45 deg are front, +-135 deg back)",
)
def class4_accuracy(records: Records) -> MetricValue:
    """Share of samples whose predicted quadrant (front/left/back/right) is the true one.

    Edges go to the quadrant nearer the median plane (:func:`simkit.conventions.azimuth_class`): +-45 deg
    are front, +-135 deg back."""
    return _class_accuracy(records, 4)


@register_metric(
    "rotation_error_mean",
    task="direction",
    higher_is_better=False,
    unit="deg",
    requires=ROT,
    description="mean absolute error of the camera rotation implied between views",
)
def rotation_error_mean(records: Records) -> MetricValue:
    """Mean |wrap(pred - true)| of the camera rotation from view 0 to view v (deg)."""
    return _stat(abs_angle_error_deg(*_finite(records, ROT)), np.mean)


@register_metric(
    "rotation_error_median",
    task="direction",
    higher_is_better=False,
    unit="deg",
    requires=ROT,
    description="median absolute error of the camera rotation implied between views",
)
def rotation_error_median(records: Records) -> MetricValue:
    """Median |wrap(pred - true)| of the camera rotation from view 0 to view v (deg)."""
    return _stat(abs_angle_error_deg(*_finite(records, ROT)), np.median)
