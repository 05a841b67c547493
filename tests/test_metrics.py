"""Direction metrics against hand-computed values, and the metric registry contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simkit.errors import SimkitError
from simkit.metrics import evaluate, get_metric, metrics_for_task


def rec(true, pred, true_rot=None, pred_rot=None) -> dict[str, np.ndarray]:
    n = len(true)
    nan = np.full(n, np.nan)
    return {
        "true_azimuth_deg": np.asarray(true, float),
        "pred_azimuth_deg": np.asarray(pred, float),
        "true_rel_yaw_deg": nan if true_rot is None else np.asarray(true_rot, float),
        "pred_rel_yaw_deg": nan if pred_rot is None else np.asarray(pred_rot, float),
    }


def test_lr_accuracy_excludes_median_plane_and_counts_n() -> None:
    # 2 and 179 deg lie within 5 deg of the median plane -> excluded; of the rest 2 of 3 sides are right.
    r = rec([90, -90, 2, 179, 45], [30, 10, -90, 0, 135])
    v = get_metric("lr_accuracy")(r)
    assert v.n == 3
    assert v.value == pytest.approx(2 / 3)


def test_lr_accuracy_prediction_on_median_plane_is_wrong() -> None:
    v = get_metric("lr_accuracy")(rec([60, -60, 100], [180, 0, -180]))
    assert (v.value, v.n) == (0.0, 3)


def test_lr_accuracy_all_excluded_is_nan() -> None:
    v = get_metric("lr_accuracy")(rec([0, 180, -3], [90, 90, 90]))
    assert v.n == 0 and math.isnan(v.value)


def test_angle_errors_wrap() -> None:
    r = rec([170, -10, 0], [-170, 10, 90])  # errors 20, 20, 90
    assert get_metric("angle_error_mean")(r).value == pytest.approx(130 / 3)
    assert get_metric("angle_error_median")(r).value == pytest.approx(20.0)
    assert get_metric("angle_error_mean")(rec([180], [-180])).value == pytest.approx(0.0)


def test_class_accuracies_use_bins_centred_on_zero() -> None:
    # 16 classes: 11 deg -> bin 0, 11.3 -> bin 1; -11.3 and 348.7 share bin 15; 90 and 100 share bin 4.
    r16 = rec([11, -11.3, 90], [11.3, 348.7, 100])
    assert get_metric("class16_accuracy")(r16).value == pytest.approx(2 / 3)
    # 4 classes: 44 front vs 46 left (wrong); 180 vs -170 back; -90 vs -100 right.
    r4 = rec([44, 180, -90], [46, -170, -100])
    assert get_metric("class4_accuracy")(r4).value == pytest.approx(2 / 3)


def test_rotation_errors_skip_missing() -> None:
    r = rec([0, 0, 0], [0, 0, 0], true_rot=[np.nan, 30, -170], pred_rot=[np.nan, 40, 170])
    assert get_metric("rotation_error_mean")(r).value == pytest.approx(15.0)
    assert get_metric("rotation_error_median")(r).n == 2


def test_evaluate_skips_rotation_for_models_without_estimate() -> None:
    out = evaluate("direction", rec([90, -90], [90, 90]))
    assert "rotation_error_mean" not in out
    assert out["lr_accuracy"].value == pytest.approx(0.5)
    with_rot = evaluate("direction", rec([90, -90], [90, 90], [np.nan, 10], [np.nan, 12]))
    assert with_rot["rotation_error_mean"].value == pytest.approx(2.0)


def test_registry_declares_direction_and_units() -> None:
    ms = {m.name: m for m in metrics_for_task("direction")}
    assert set(ms) >= {
        "lr_accuracy",
        "angle_error_mean",
        "angle_error_median",
        "angle_error_folded_mean",
        "angle_error_folded_median",
        "class16_accuracy",
        "class4_accuracy",
        "rotation_error_mean",
        "rotation_error_median",
    }
    assert ms["lr_accuracy"].higher_is_better and ms["lr_accuracy"].unit == "fraction"
    assert not ms["angle_error_mean"].higher_is_better and ms["angle_error_mean"].unit == "deg"
    with pytest.raises(SimkitError, match="unknown metric 'nope'"):
        get_metric("nope")
