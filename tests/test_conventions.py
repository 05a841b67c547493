"""The shared rules of simkit.conventions: side of an azimuth, the IID sign and its tie, split names, frame
changes; and simkit.resources, the finder of package data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simkit import conventions, resources
from simkit.conventions import (
    MEDIAN_PLANE_MARGIN_DEG,
    SPLITS,
    iid_log_ratio,
    iid_side,
    iid_sign,
    opencv_to_simkit_camera,
    side_of_azimuth,
    source_labels,
    yup_to_zup,
    zup_to_yup,
)

# ---------------------------------------------------------------- side of an azimuth


def test_side_of_azimuth_left_right_median_plane_and_unknown() -> None:
    az = np.array([90.0, -90.0, 30.0, -150.0, 0.0, 180.0, -180.0, 360.0, np.nan])
    np.testing.assert_array_equal(side_of_azimuth(az)[:-1], [1, -1, 1, -1, 0, 0, 0, 0])
    assert np.isnan(side_of_azimuth(az)[-1])
    # the margin leaves azimuths near the median plane (front and back) without a side
    near = np.array([4.0, -4.9, 176.0, -175.5, 5.0, 6.0, -174.0])
    np.testing.assert_array_equal(side_of_azimuth(near, MEDIAN_PLANE_MARGIN_DEG), [0, 0, 0, 0, 0, 1, -1])
    np.testing.assert_array_equal(side_of_azimuth(near), [1, -1, 1, -1, 1, 1, -1])


def test_side_of_azimuth_agrees_with_the_source_geometry() -> None:
    # a source at +x is to the right of a listener at yaw 0 (facing -z); at -x it is to the left
    az, _el, _d = source_labels(np.array([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0], [0.0, 0.0, -2.0]]), np.zeros(3), 0.0)
    np.testing.assert_array_equal(side_of_azimuth(az), [-1, 1, 0])
    # the ear swap mirrors the side
    a = np.linspace(-179.0, 179.0, 359)
    np.testing.assert_array_equal(side_of_azimuth(-a), -side_of_azimuth(a))


# ---------------------------------------------------------------- the IID sign and its tie


def test_iid_sign_points_to_the_louder_ear_and_a_tie_is_undecided() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    left = np.stack([x, 0.5 * x])
    assert iid_side(left) == 1 and iid_side(left[::-1]) == -1
    assert iid_log_ratio(left) == pytest.approx(np.log(4.0))
    # exact ties - identical ears, and silence - are 0, never a side
    assert iid_side(np.stack([x, x])) == 0
    assert iid_side(np.zeros((2, 100))) == 0
    assert iid_side(np.stack([x, -x])) == 0  # equal energy, opposite polarity
    # batched (..., 2, T), and torch tensors follow the same rule
    batch = np.stack([left, left[::-1], np.stack([x, x])])
    np.testing.assert_array_equal(iid_side(batch), [1, -1, 0])
    t = torch.tensor([0.3, -2.0, 0.0])
    assert torch.equal(iid_sign(t), torch.tensor([1.0, -1.0, 0.0]))


def test_every_iid_user_shares_the_tie_rule() -> None:
    from simkit.curate.iid import iid
    from simkit.curate.pipeline import agrees
    from simkit.models.direction.base import iid_pseudo_label

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 800))
    clips = np.stack([np.stack([x[0], 0.7 * x[0]]), np.stack([0.2 * x[1], x[1]]), np.stack([x[2], x[2]])])
    np.testing.assert_array_equal(iid_pseudo_label(torch.from_numpy(clips)).numpy(), iid_side(clips))
    assert [np.sign(iid(c)) for c in clips] == list(iid_side(clips))
    # curation: a left turn must lower the IID; an unchanged IID (a tie) agrees with no turn
    assert agrees(10.0, -0.5) and not agrees(10.0, 0.5) and not agrees(10.0, 0.0) and not agrees(0.0, -0.5)


def test_iid_model_answers_left_on_a_tie() -> None:
    from types import SimpleNamespace

    from simkit.models.iid import IIDModel

    model = IIDModel(SimpleNamespace(model_options={}), {})
    x = torch.randn(1, 1, 400)
    audio = torch.cat([torch.cat([x, 0.5 * x], 1), torch.cat([0.5 * x, x], 1), torch.cat([x, x], 1)])
    assert model.predict({"audio": audio})["azimuth_deg"].tolist() == [90.0, -90.0, 90.0]


# ---------------------------------------------------------------- split names


def test_split_names_are_defined_once() -> None:
    from simkit.audio import speech
    from simkit.curate import pipeline
    from simkit.data import layout
    from simkit.scenes import catalog

    assert SPLITS == ("train", "val", "test")
    for module in (speech, pipeline, layout, catalog):
        assert module.SPLITS is conventions.SPLITS, module.__name__


# ---------------------------------------------------------------- frame changes


def test_zup_to_yup_round_trip_and_mesh_loader_agree() -> None:
    from simkit.scenes.loaders import up_rotation

    rng = np.random.default_rng(2)
    p = rng.standard_normal((5, 3))
    np.testing.assert_array_equal(yup_to_zup(zup_to_yup(p)), p)
    np.testing.assert_array_equal(zup_to_yup(yup_to_zup(p)), p)
    # z-up's up (+z) becomes simkit's up (+y); its +y (north) becomes simkit's -z (the yaw-0 forward)
    np.testing.assert_array_equal(zup_to_yup([0.0, 0.0, 1.0]), conventions.UP)
    np.testing.assert_array_equal(zup_to_yup([0.0, 1.0, 0.0]), conventions.FORWARD)
    # the mesh loader's rotation for z-up files is the same change
    np.testing.assert_array_equal(p @ up_rotation("z").T, zup_to_yup(p))


def test_opencv_camera_frame_change_round_trip() -> None:
    rng = np.random.default_rng(3)
    v = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(opencv_to_simkit_camera(opencv_to_simkit_camera(v)), v)
    # OpenCV looks along +z with y down; simkit's camera looks along -z with y up
    np.testing.assert_array_equal(opencv_to_simkit_camera([0.0, 0.0, 1.0]), conventions.FORWARD)
    np.testing.assert_array_equal(opencv_to_simkit_camera([0.0, -1.0, 0.0]), conventions.UP)
    np.testing.assert_array_equal(opencv_to_simkit_camera([1.0, 0.0, 0.0]), conventions.RIGHT)


# ---------------------------------------------------------------- package data


def test_resources_find_the_package_data(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(resources.SCENES_ENV, raising=False)
    assert resources.materials_path().is_file()
    assert resources.splits_path().is_file()
    assert len(list(resources.procedural_dir().glob("proc_*.json"))) == 100
    assert resources.reference_path("direction.csv").is_file()
    assert resources.reference_path("binaural.csv").is_file()
    monkeypatch.setenv(resources.SCENES_ENV, str(tmp_path))
    assert resources.scenes_dir() == tmp_path and resources.materials_path() == tmp_path / "materials.json"


def test_resources_is_at_the_bottom_of_the_import_graph() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(resources))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("simkit")], imported


# ---------------------------------------------------------------- labels of a view set (every producer's)


def test_view_labels_from_poses() -> None:
    from simkit.data.labels import ViewLabels
    from simkit.data.schema import GROUPS

    pos = np.array([[0.0, 1.5, 0.0], [1.0, 1.5, 0.0], [0.0, 1.5, 1.0]])
    yaws = np.array([0.0, 90.0, -170.0])
    src = np.array([[-2.0, 1.5, 0.0], [np.nan, np.nan, np.nan]])
    lab = ViewLabels.from_poses(pos, yaws, src)
    assert lab.azimuth_deg.shape == (3, 2) and lab.rel_translation.shape == (3, 3, 3)
    assert lab.azimuth_deg[0, 0] == pytest.approx(90.0) and lab.distance_m[0, 0] == pytest.approx(2.0)
    assert np.isnan(lab.azimuth_deg[:, 1]).all()  # an unknown source position gives unknown labels
    np.testing.assert_allclose(lab.rel_yaw_deg, [[0, 90, -170], [-90, 0, 100], [170, -100, 0]])
    np.testing.assert_array_equal(np.diagonal(lab.rel_translation, axis1=0, axis2=1), 0.0)
    np.testing.assert_allclose(lab.rel_translation[0, 1], [1.0, 0.0, 0.0])  # view 1 is 1 m to view 0's right
    fields = {f.name: f for g in GROUPS.values() for f in g.fields}
    for name, arr in lab.as_datasets().items():  # the shard's datasets, without the leading N
        assert fields[name].dtype == "float32" and arr.dtype == np.float32
        assert arr.ndim == len(fields[name].shape) - 1, name


def test_data_stats_scores_an_exact_iid_tie_as_a_miss(tmp_path) -> None:
    import h5py

    from simkit.data.stats import dataset_stats
    from simkit.data.synthetic import write_synthetic_render

    root = write_synthetic_render(tmp_path / "d", {"a": "train"}, sets_per_scene=2, views=2, sources=1)
    before = dataset_stats(root)
    assert before.iid_scored == 4 and before.iid_accuracy == 1.0  # the near ear is louder in every clip
    with h5py.File(root / "shards" / "a.h5", "r+") as f:
        az = f["labels/azimuth_deg"][0, 0, 0]
        assert abs(side_of_azimuth(az, MEDIAN_PLANE_MARGIN_DEG)) == 1  # a labelled side, so the clip is scored
        clip = f["audio/binaural"][0, 0, 0]
        f["audio/binaural"][0, 0, 0] = np.stack([clip[0], clip[0]])  # identical ears: an exact tie
    after = dataset_stats(root)
    assert after.iid_scored == 4 and after.iid_accuracy == 0.75  # scored, and never the labelled side
