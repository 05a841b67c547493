"""The bench harness, render dataset, direction models and an end-to-end run on a real tiny render."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from simkit.bench.config import make_config
from simkit.bench.harness import AUTO_WORKERS, loader_workers, run_bench
from simkit.bench.leaderboard import read_leaderboard
from simkit.conventions import wrap_deg
from simkit.data.datasets.direction import RenderViewSets, open_render
from simkit.data.storage import read_binaural, read_mixed_rir, read_source
from simkit.data.synthetic import write_synthetic_render
from simkit.errors import SimkitError
from simkit.models import get_model, models_for_task
from simkit.models.direction.base import iid_loss, rotation_loss, symmetry_loss, translation_loss
from simkit.models.direction.gcc_phat import woodworth_itd, woodworth_lateral
from simkit.models.nets import ResNet18

SCENES = {"s0": "train", "s1": "train", "s2": "val", "s3": "test"}


# one torch thread for the whole module (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_render(
        tmp_path_factory.mktemp("synth") / "render", SCENES, sets_per_scene=3, max_translation=0.0
    )


@pytest.fixture(scope="module")
def synth_moving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_render(
        tmp_path_factory.mktemp("synthm") / "render", SCENES, sets_per_scene=2, max_translation=0.6, seed=3
    )


def quick(data: Path, results: Path, **kw) -> object:
    kw.setdefault("epochs", 1)
    kw.setdefault("cpu_threads", 1)  # shared CI cores: one thread per process avoids OpenMP spin contention
    return make_config(quick=True, data=str(data), results=str(results), device="cpu", **kw)


# ---------------------------------------------------------------- data


def test_items_match_the_render_and_conventions(synth: Path) -> None:
    info = open_render(synth)
    ds = RenderViewSets(info, "train")
    assert len(ds) == 2 * 3 * 2  # scenes x sets x sources
    item = ds[5]
    assert item["audio"].shape == (4, 2, info.clip_samples)
    with h5py.File(info.shard(item["scene_id"])) as f:
        n, s = item["set_index"], item["source_index"]
        np.testing.assert_array_equal(item["audio"].numpy(), read_binaural(f, n, range(4), s))
        np.testing.assert_array_equal(item["azimuth_deg"].numpy(), f["labels/azimuth_deg"][n, :, s])
    az, rel = item["azimuth_deg"].numpy(), item["rel_yaw_deg"].numpy()
    # without translation a static source moves by minus the camera rotation
    for i in range(4):
        for j in range(4):
            assert abs(wrap_deg(az[j] - (az[i] - rel[i, j]))) < 1e-3


def test_training_items_are_deterministic_and_view_subsets_consistent(synth: Path) -> None:
    info = open_render(synth)
    ds = RenderViewSets(info, "train", clip_samples=2000, views=2, train=True, reconvolve_prob=0.5, seed=1)
    a, b = ds[3], ds[3]
    assert torch.equal(a["audio"], b["audio"]) and a["audio"].shape == (2, 2, 2000)
    ds.set_epoch(1)
    c = ds[3]
    assert not torch.equal(a["audio"], c["audio"])
    full = RenderViewSets(info, "train")[3]
    sel = c["view_index"].numpy()
    np.testing.assert_array_equal(c["rel_yaw_deg"].numpy(), full["rel_yaw_deg"].numpy()[np.ix_(sel, sel)])
    np.testing.assert_array_equal(c["azimuth_deg"].numpy(), full["azimuth_deg"].numpy()[sel])


def test_online_rerender_uses_another_utterance_with_the_stored_rir(synth: Path) -> None:
    from simkit.audio.dsp import fft_convolve

    info = open_render(synth)
    ds = RenderViewSets(info, "train", train=True, reconvolve_prob=1.0, seed=0)
    item = ds[0]
    stored = RenderViewSets(info, "train")[0]["audio"]
    assert not torch.allclose(item["audio"], stored)
    # it is some other item's dry clip through this item's mixed RIRs
    with h5py.File(info.shard(item["scene_id"])) as f:
        n, s = item["set_index"], item["source_index"]
        rir = read_mixed_rir(f, n, range(4), s)
    found = False
    for si, n2, s2 in ds.index:
        with h5py.File(info.shard(ds.scenes[si])) as f:
            mono = read_source(f, n2, s2)
        if np.allclose(fft_convolve(mono, rir, info.clip_samples), item["audio"].numpy(), atol=1e-5):
            found = (int(n2), int(s2)) != (n, s) or ds.scenes[si] != item["scene_id"]
    assert found


def test_loader_workers_give_identical_batches(synth: Path) -> None:
    info = open_render(synth)
    ds = RenderViewSets(info, "train", clip_samples=1000, train=True, reconvolve_prob=0.5, seed=2)

    def batches(workers: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        dl = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers, generator=g)
        return [b["audio"] for b in dl]

    for x, y in zip(batches(0), batches(2), strict=True):
        assert torch.equal(x, y)


def test_bad_datasets_are_one_line_errors(synth: Path, tmp_path: Path) -> None:
    with pytest.raises(SimkitError, match="does not exist"):
        open_render(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SimkitError, match="not a simkit dataset"):
        open_render(tmp_path / "plain")
    broken = write_synthetic_render(tmp_path / "broken", {"a": "train", "b": "val", "c": "test"}, 1)
    (broken / "shards" / "c.h5").unlink()
    with pytest.raises(SimkitError, match=r"c\.h5 listed in splits/test\.txt is missing"):
        open_render(broken)
    write_synthetic_render(broken, {"a": "train", "b": "val", "c": "test"}, 1)
    with h5py.File(broken / "shards" / "b.h5", "a") as f:
        del f["labels/azimuth_deg"]
    with pytest.raises(SimkitError, match=r"b\.h5: group labels: dataset labels/azimuth_deg missing"):
        open_render(broken)


# ---------------------------------------------------------------- models


def test_resnet18_matches_the_reference_layout() -> None:
    net = ResNet18(in_channels=3, num_outputs=1000, width=64)
    assert sum(p.numel() for p in net.parameters()) == 11_689_512  # torchvision resnet18
    small = ResNet18(in_channels=4, num_outputs=2, width=8)
    assert small(torch.zeros(2, 4, 65, 40)).shape == (2, 2)


def test_rotation_loss_zero_for_consistent_and_mirrored_sets() -> None:
    rel = torch.tensor([[[0.0, 30.0], [-30.0, 0.0]]])  # view 1 turned 30 deg left of view 0
    good = torch.deg2rad(torch.tensor([[50.0, 20.0]]))  # az_1 = az_0 - 30
    mirror = torch.deg2rad(torch.tensor([[130.0, 160.0]]))  # 180 - az: a front/back-blind answer
    wrong = torch.deg2rad(torch.tensor([[50.0, 80.0]]))
    assert float(rotation_loss(good, rel)) == pytest.approx(0.0, abs=1e-6)
    assert float(rotation_loss(mirror, rel)) == pytest.approx(0.0, abs=1e-6)
    assert float(rotation_loss(mirror, rel, mirror=False)) == pytest.approx(1 - math.cos(math.radians(60)))
    assert float(rotation_loss(wrong, rel, mirror=False)) == pytest.approx(1 - math.cos(math.radians(60)))


def test_translation_loss_penalises_only_contradicting_changes() -> None:
    # camera steps 1 m right (x): a source in front (az 0) must move left (azimuth increases)
    t = torch.zeros(1, 2, 2, 3)
    t[0, 0, 1, 0], t[0, 1, 0, 0] = 1.0, -1.0
    rel = torch.zeros(1, 2, 2)
    agree = torch.deg2rad(torch.tensor([[0.0, 20.0]]))
    contra = torch.deg2rad(torch.tensor([[0.0, -20.0]]))
    assert float(translation_loss(agree, rel, t)) == pytest.approx(0.0, abs=1e-6)
    # pair 0->1: weight 1, hinge sin 20; pair 1->0 (from -20 deg, moving left): weight cos 20, hinge sin 20
    s20, c20 = math.sin(math.radians(20)), math.cos(math.radians(20))
    assert float(translation_loss(contra, rel, t)) == pytest.approx((s20 + s20 * c20) / 2, rel=1e-4)
    assert float(translation_loss(agree, rel, torch.zeros(1, 2, 2, 3))) == 0.0


def test_symmetry_and_iid_terms() -> None:
    th = torch.deg2rad(torch.tensor([[40.0, -70.0]]))
    assert float(symmetry_loss(th, -th)) == pytest.approx(0.0, abs=1e-6)
    label = torch.tensor([[1.0, -1.0]])
    assert float(iid_loss(th, label)) < float(iid_loss(th, -label))


def test_iid_and_gcc_phat_on_a_delayed_louder_left_ear() -> None:
    cfg = make_config(data="x")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(8000)
    d = 6  # left ear leads by 6 samples and is louder -> source on the left
    audio = torch.tensor(np.stack([1.5 * x[d:], x[:-d]])[None, None], dtype=torch.float32)
    iid = get_model("iid").build(cfg, {"sample_rate": 16000}).predict({"audio": audio})
    assert float(iid["azimuth_deg"]) == 90.0
    gcc = get_model("gcc_phat").build(cfg, {"sample_rate": 16000})
    assert float(gcc.itd_seconds(audio[0])) * 16000 == pytest.approx(d, abs=0.2)
    expected = math.degrees(float(woodworth_lateral(np.array(d / 16000), 0.0875)))
    assert float(gcc.predict({"audio": audio})["azimuth_deg"]) == pytest.approx(expected, abs=2.0)
    assert float(woodworth_lateral(woodworth_itd(0.7, 0.0875), 0.0875)) == pytest.approx(0.7, abs=1e-3)


def test_every_model_predicts_and_trainable_ones_learn_a_step(synth: Path) -> None:
    names = models_for_task("direction")
    assert set(names) == {"iid", "gcc_phat", "supervised", "supervised_4class", "slfm", "slfm_simple", "ours_rt",
                          "ours_full"}
    cfg = quick(synth, synth)
    info = open_render(synth)
    batch = torch.utils.data.default_collate(
        [RenderViewSets(info, "train", clip_samples=4000)[i] for i in range(3)]
    )
    for name in names:
        spec = get_model(name)
        torch.manual_seed(0)
        model = spec.build(cfg, {"sample_rate": info.sample_rate})
        # slfm's camera network reads images (the synthetic render has none: grey ones of any size do)
        given = {**batch, "image": torch.full((3, 4, 48, 64, 3), 90, dtype=torch.uint8)} if spec.groups else batch
        out = model.predict(given)
        assert out["azimuth_deg"].shape == (3, 4)
        assert torch.all(out["azimuth_deg"].abs() <= 180.0)
        if spec.trainable:
            loss, parts = model.loss(given)
            loss.backward()
            assert torch.isfinite(loss) and parts
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(SimkitError, match="has no option"):
        get_model("ours_full").build(make_config(data="x", model_options={"lambda3": 1.0}), {})


# ---------------------------------------------------------------- harness


def test_bench_run_writes_run_dir_and_leaderboard(synth: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    (r,) = run_bench(quick(synth, results, model="iid"))
    for name in ("config.json", "best.pt", "last.pt", "predictions.csv", "metrics.json"):
        assert (r.run_dir / name).is_file()
    meta = json.loads((r.run_dir / "config.json").read_text())
    assert meta["config"]["model"] == "iid" and len(meta["config_hash"]) == 16 and "torch" in meta["versions"]
    rows = read_leaderboard(results / "leaderboard.csv")
    assert {r_["split"] for r_ in rows} == {"val", "test"}
    assert len(rows) == 2 * 7  # no rotation metrics for iid
    test_lr = next(x for x in rows if x["split"] == "test" and x["metric"] == "lr_accuracy")
    assert test_lr["value"] > 0.8 and test_lr["epochs"] == 0 and test_lr["params"] == 0
    with open(r.run_dir / "predictions.csv", newline="") as f:
        preds = list(csv.DictReader(f))
    assert len(preds) == (3 + 3) * 2 * 4  # (val + test sets) x sources x views


def test_training_run_is_deterministic_and_early_stopping_consistent(
    synth_moving: Path, tmp_path: Path
) -> None:
    cfgs = [
        quick(synth_moving, tmp_path / f"r{i}", model="ours_full", epochs=3, patience=1, batch_size=4)
        for i in range(2)
    ]
    a, b = (run_bench(c)[0] for c in cfgs)
    assert (a.run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "optimizer" in torch.load(a.run_dir / "last.pt", weights_only=True)
    pa = (a.run_dir / "predictions.csv").read_text()
    assert pa == (b.run_dir / "predictions.csv").read_text()
    vals = [h["val_select"] for h in a.history]
    assert vals == [h["val_loss"] for h in a.history]  # self-supervised: selected label-free, on val loss
    assert a.best_epoch == 1 + int(np.argmin(vals))  # first best epoch is kept
    if len(a.history) < 3:
        assert len(a.history) - a.best_epoch == 1  # stopped exactly `patience` epochs after the best
    rows = read_leaderboard(tmp_path / "r0" / "leaderboard.csv")
    assert {"rotation_error_mean", "lr_accuracy"} <= {x["metric"] for x in rows}
    assert all(x["epochs"] == len(a.history) for x in rows)
    # every epoch records how long training waited on the loader (quick: 0 workers, reads in the loop)
    saved = json.loads((a.run_dir / "metrics.json").read_text())["history"]
    for h in saved:
        assert h["loader_workers"] == 0 and 0 < h["loader_wait_s"] < h["train_seconds"]
        assert h["loader_wait_frac"] == pytest.approx(h["loader_wait_s"] / h["train_seconds"])


def test_loader_workers_default_from_the_device_and_cores() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert [loader_workers(n, cpu) for n in (0, 3)] == [0, 3] == [loader_workers(n, cuda) for n in (0, 3)]
    assert loader_workers(AUTO_WORKERS, cpu, cores=16) == 2  # CPU keeps its default: the model needs the cores
    assert [loader_workers(AUTO_WORKERS, cuda, cores=c) for c in (1, 2, 5, 16, 64)] == [1, 1, 4, 8, 8]
    assert 1 <= loader_workers(AUTO_WORKERS, cuda) <= 8


def test_model_all_runs_every_registered_model(synth: Path, tmp_path: Path) -> None:
    runs = run_bench(quick(synth, tmp_path, model="all", epochs=0, max_items=4))
    # every model the dataset can feed: slfm reads images, which the synthetic render lacks
    assert sorted(r.model for r in runs) == [m for m in models_for_task("direction") if m != "slfm"]


def test_bad_bench_input(synth: Path, tmp_path: Path) -> None:
    with pytest.raises(SimkitError, match="unknown model 'nope'"):
        run_bench(quick(synth, tmp_path, model="nope"))
    with pytest.raises(SimkitError, match="unknown task 'nope'"):
        run_bench(quick(synth, tmp_path, task="nope"))
    with pytest.raises(SimkitError, match="does not exist"):
        run_bench(quick(tmp_path / "nowhere", tmp_path, model="iid"))
    with pytest.raises(SimkitError, match="--device must be"):
        make_config(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(SimkitError, match="CUDA is not available"):
            run_bench(
                make_config(quick=True, data=str(synth), results=str(tmp_path), model="iid", device="cuda")
            )


def test_cli_reports_errors_on_one_line(
    synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from simkit.cli import main

    monkeypatch.setattr(sys, "argv", ["simkit", "bench", "--model", "nope", "--data", str(synth)])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown model 'nope'") and "\n" not in err
    monkeypatch.setattr(
        sys,
        "argv",
        ["simkit", "bench", "--model", "iid", "--quick", "--data", str(synth), "--results", str(tmp_path)],
    )
    main()
    assert "iid: run" in capsys.readouterr().out


# ---------------------------------------------------------------- end to end on a real render


def test_end_to_end_on_a_tiny_render_beats_chance(tiny_render: Path, tmp_path: Path) -> None:
    """``iid`` untrained and ``ours_full`` after a few epochs both beat chance on held-out test scenes."""
    results = tmp_path / "results"
    (iid,) = run_bench(quick(tiny_render, results, model="iid"))
    lr_iid = iid.metrics["test"]["lr_accuracy"]
    assert lr_iid.n >= 20 and lr_iid.value > 0.75
    # re-rendering is covered on synthetic data above; here it would only slow the run down
    (ours,) = run_bench(quick(tiny_render, results, model="ours_full", epochs=5, reconvolve_prob=0.0))
    lr = ours.metrics["test"]["lr_accuracy"]
    # 20+ held-out clips: 0.75 is far outside what a coin flip reaches (p < 0.01)
    assert lr.n >= 20 and lr.value >= 0.75, ours.history
    test_scenes = set(open_render(tiny_render).splits["test"])
    with open(ours.run_dir / "predictions.csv", newline="") as f:
        assert {r["scene_id"] for r in csv.DictReader(f) if r["split"] == "test"} == test_scenes
