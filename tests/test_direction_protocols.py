"""Direction protocols: the symmetric 4-class rule, SLfM's folded angle metrics, the ``slfm-frontal``
protocol on renders and ``iid`` scored on whole clips (docs/bench.md, "Direction protocols")."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest

from simkit.bench.config import make_config
from simkit.bench.harness import run_bench
from simkit.bench.tasks.direction import open_split
from simkit.conventions import azimuth_class, iid_side
from simkit.data import layout
from simkit.data.opener import open_dataset
from simkit.data.storage import read_binaural
from simkit.data.synthetic import write_synthetic_render
from simkit.errors import SimkitError
from simkit.metrics import evaluate, get_metric, metrics_for_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FRONT, LEFT, BACK, RIGHT = 0, 1, 2, 3


def rec(true, pred) -> dict[str, np.ndarray]:
    n = len(true)
    return {
        "true_azimuth_deg": np.asarray(true, float),
        "pred_azimuth_deg": np.asarray(pred, float),
        "true_rel_yaw_deg": np.full(n, np.nan),
        "pred_rel_yaw_deg": np.full(n, np.nan),
    }


# ---------------------------------------------------------------- 4-class rule


@pytest.mark.parametrize(
    ("azimuth", "expected"),
    [
        (0.0, FRONT), (90.0, LEFT), (-90.0, RIGHT), (180.0, BACK), (-180.0, BACK),
        # the seed's labels on the quadrant edges go to the quadrant nearer the median plane
        (45.0, FRONT), (-45.0, FRONT), (135.0, BACK), (-135.0, BACK),
    ],
)
def test_four_class_edges(azimuth: float, expected: int) -> None:
    assert int(azimuth_class(azimuth, 4)) == expected


@pytest.mark.parametrize("step", ["1e-6", "ulp"])
def test_four_class_just_either_side_of_every_edge(step: str) -> None:
    def below(x: float) -> float:
        return x - 1e-6 if step == "1e-6" else float(np.nextafter(x, -np.inf))

    def above(x: float) -> float:
        return x + 1e-6 if step == "1e-6" else float(np.nextafter(x, np.inf))

    cases = [
        (below(45.0), FRONT), (above(45.0), LEFT), (above(-45.0), FRONT), (below(-45.0), RIGHT),
        (below(135.0), LEFT), (above(135.0), BACK), (above(-135.0), RIGHT), (below(-135.0), BACK),
        (below(0.0), FRONT), (above(0.0), FRONT), (below(90.0), LEFT), (above(90.0), LEFT),
        (below(-90.0), RIGHT), (above(-90.0), RIGHT), (below(180.0), BACK), (above(-180.0), BACK),
    ]
    for azimuth, expected in cases:
        assert int(azimuth_class(azimuth, 4)) == expected, azimuth
    # outside (-180, 180] wraps first
    assert azimuth_class(np.array([405.0, -315.0, 495.0, -225.0]), 4).tolist() == [FRONT, FRONT, BACK, BACK]


@pytest.mark.parametrize("n_classes", [4, 16])
def test_class_rule_is_symmetric_under_both_binaural_mirrors(n_classes: int) -> None:
    # every edge and centre (multiples of half a bin) plus a dense grid
    w = 360.0 / n_classes
    grid = np.concatenate([np.arange(-180.0, 180.0 + 1e-9, w / 2), np.linspace(-179.9, 179.9, 3599)])
    c = azimuth_class(grid, n_classes)
    # left/right ear swap a -> -a mirrors the class index about the front
    np.testing.assert_array_equal(azimuth_class(-grid, n_classes), (-c) % n_classes)
    # front/back confusion a -> 180 - a mirrors it about the interaural axis
    np.testing.assert_array_equal(azimuth_class(180.0 - grid, n_classes), (n_classes // 2 - c) % n_classes)


def test_class4_accuracy_on_edge_labels() -> None:
    # +-45 share the front quadrant and +-135 the back one; before the rule they landed in four quadrants
    v = get_metric("class4_accuracy")(rec([45, 135, -45, -135], [-45, -135, 45, 135]))
    assert (v.value, v.n) == (1.0, 4)
    assert get_metric("class4_accuracy")(rec([45, -135], [90, -90])).value == 0.0


# ---------------------------------------------------------------- SLfM folded angle metrics


def slfm_reference(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Independent re-derivation: fold = arcsin(sin a) (front/back mirror into [-90, 90]), error =
    arccos of the clamped dot product of the unit vectors (SLfM evaluate_angle.py 125-137)."""
    fold = lambda a: np.arcsin(np.clip(np.sin(np.deg2rad(a)), -1, 1))  # noqa: E731
    p, t = fold(pred), fold(true)
    dot = np.clip(np.cos(p) * np.cos(t) + np.sin(p) * np.sin(t), -1.0, 1.0)
    return np.rad2deg(np.arccos(dot))


def test_folded_errors_by_hand() -> None:
    # 135 folds onto 45, 180 onto 0, -100 onto -80, 100 onto 80, +-90 stay
    r = rec([45, 0, -80, -90, 90, 30], [135, 180, -100, 100, -90, -30])
    errs = [0.0, 0.0, 0.0, 170.0, 180.0, 60.0]
    assert get_metric("angle_error_folded_mean")(r).value == pytest.approx(np.mean(errs))
    # SLfM's torch.median: the lower middle of an even count (here 0 and 60 -> 0; numpy would say 30)
    assert get_metric("angle_error_folded_median")(r).value == pytest.approx(0.0)
    assert get_metric("angle_error_folded_median")(rec([0, 0, 0], [10, 20, 70])).value == pytest.approx(20.0)
    # the unfolded error of the same rows differs: folding is what makes a back/front confusion free
    assert get_metric("angle_error_mean")(r).value > get_metric("angle_error_folded_mean")(r).value


def test_folded_errors_match_an_independent_derivation() -> None:
    rng = np.random.default_rng(0)
    true = np.concatenate([rng.uniform(-180, 180, 500), [0, 90, -90, 180, -180, 45, 135, -135]])
    pred = np.concatenate([rng.uniform(-540, 540, 500), [180, -90, 90, 0, 0, 135, 45, -45]])
    ref = slfm_reference(true, pred)
    r = rec(true, pred)
    mean, median = get_metric("angle_error_folded_mean")(r), get_metric("angle_error_folded_median")(r)
    assert mean.n == median.n == len(true)
    assert mean.value == pytest.approx(float(np.mean(ref)), abs=1e-6)
    assert median.value == pytest.approx(float(np.sort(ref)[(len(ref) - 1) // 2]), abs=1e-6)


def test_folded_metrics_are_direction_metrics_reported_with_azimuths() -> None:
    ms = {m.name: m for m in metrics_for_task("direction")}
    for name in ("angle_error_folded_mean", "angle_error_folded_median"):
        assert ms[name].unit == "deg" and not ms[name].higher_is_better
    out = evaluate("direction", rec([10, 170, np.nan], [20, 20, 5]))
    assert out["angle_error_folded_mean"].value == pytest.approx(10.0)  # 170 folds onto 10; NaN row skipped
    assert out["angle_error_folded_mean"].n == 2
    assert "angle_error_folded_mean" not in evaluate("direction", rec([10, 20], [np.nan, np.nan]))


# ---------------------------------------------------------------- slfm-frontal protocol


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 2 s clips: longer than --quick's 1 s crop, so the whole clip and the crop differ
    return write_synthetic_render(
        tmp_path_factory.mktemp("synth") / "render", {"s0": "train", "s1": "val", "s2": "test", "s3": "test"},
        sets_per_scene=4, clip_seconds=2.0,
    )


def _frontal_truth(root: Path, shard: str) -> list[int]:
    with h5py.File(layout.shard_path(root, shard), "r") as f:
        az = f["labels/azimuth_deg"][:, 0, 0]
    return [n for n, a in enumerate(az) if -90.0 <= a <= 90.0]


def test_frontal_protocol_keeps_test_sets_with_a_frontal_first_source(synth: Path) -> None:
    default = open_dataset(synth)
    info = open_dataset(synth, protocol="slfm-frontal")
    assert info.protocol == "slfm-frontal" and info.protocol_label == "slfm-frontal"
    # SLfM trains on the unfiltered lists: train and val are the default protocol's
    assert info.selection["train"] == default.selection["train"]
    assert info.selection["val"] == default.selection["val"]
    want = {s: _frontal_truth(synth, s) for s in ("s2", "s3")}
    assert {s: v for s, v in info.selection["test"].items()} == {s: v for s, v in want.items() if v}
    kept = sum(len(v) for v in want.values())
    assert 0 < kept < 8, "the fixture must keep some test sets and drop others"
    assert layout.resolve_protocols(layout.read_manifest(synth), "slfm-frontal", "x") == ["slfm-frontal"]
    with pytest.raises(SimkitError, match=r"no protocol 'nope' \(known: default, slfm-frontal, all\)"):
        layout.resolve_protocols(layout.read_manifest(synth), "nope", "x")


def test_frontal_protocol_needs_azimuth_labels(tmp_path: Path) -> None:
    root = write_synthetic_render(tmp_path / "r", {"s0": "train", "s1": "test"}, sets_per_scene=1)
    with h5py.File(layout.shard_path(root, "s1"), "a") as f:
        del f["labels/azimuth_deg"]
    with pytest.raises(SimkitError, match="protocol slfm-frontal needs azimuth labels"):
        open_dataset(root, protocol="slfm-frontal", cache=False)


# ---------------------------------------------------------------- iid on whole clips, bench end to end


def test_iid_scores_the_whole_clip(synth: Path) -> None:
    info = open_dataset(synth)
    for model, samples in (("iid", info.clip_samples), ("ours_full", 16000)):
        cfg = make_config(quick=True, data=str(synth), results="x", model=model)
        assert cfg.features.clip_seconds * info.sample_rate < info.clip_samples
        ds = open_split(synth, "test", cfg, False)
        assert ds[0]["audio"].shape[-1] == samples, model
    # training items of any model keep their crop
    cfg = make_config(quick=True, data=str(synth), results="x", model="iid")
    assert open_split(synth, "train", cfg, True)[0]["audio"].shape[-1] == 16000


def test_bench_iid_on_frontal_protocol_reports_folded_metrics_of_whole_clips(synth: Path, tmp_path: Path) -> None:
    cfg = make_config(quick=True, data=str(synth), results=str(tmp_path), device="cpu", model="iid",
                      cpu_threads=1, protocol="slfm-frontal")
    (r,) = run_bench(cfg)
    test = r.metrics["test"]
    assert {"angle_error_folded_mean", "angle_error_folded_median"} <= set(test)
    with open(r.run_dir / "predictions.csv", newline="") as f:
        rows = [x for x in csv.DictReader(f) if x["split"] == "test"]
    kept = {(s, n) for s in ("s2", "s3") for n in _frontal_truth(synth, s)}
    assert {(x["scene_id"], int(x["set_index"])) for x in rows} == kept
    # every prediction is the IID side of the whole stored clip (not of the centre second)
    true, pred = [], []
    for x in rows:
        with h5py.File(layout.shard_path(synth, x["scene_id"]), "r") as f:
            clip = read_binaural(f, int(x["set_index"]), [int(x["view"])], int(x["source_index"]))[0]
        assert float(x["pred_azimuth_deg"]) == (90.0 if iid_side(clip) >= 0 else -90.0)  # a tie is answered left
        true.append(float(x["true_azimuth_deg"]))
        pred.append(float(x["pred_azimuth_deg"]))
    assert test["angle_error_folded_mean"].value == pytest.approx(float(np.mean(slfm_reference(
        np.array(true), np.array(pred)))), abs=1e-6)
