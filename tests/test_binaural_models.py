"""Binaural models, dataset and tasks on tiny synthetic renders (ILD/ITD tied to the image)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from simkit.bench.config import make_config
from simkit.bench.tasks.binaural import (
    binauralize_records,
    data_info,
    open_split,
    plot_examples,
    render_info,
)
from simkit.data.datasets.binaural import BinauralClips
from simkit.data.synthetic import write_synthetic_binaural
from simkit.errors import SimkitError
from simkit.metrics.binaural import VARIANTS, WINDOW_SECONDS, stft_distance
from simkit.models import get_model
from simkit.models.binaural.base import binaural_from_difference, difference_of, mono_of
from simkit.models.binaural.diffwave import DiffWave, align_schedule, inference_betas, training_betas
from simkit.models.binaural.vggish import VGGish, mel_matrix

SR = 16000
TINY = {"residual_channels": 4.0, "vggish_width": 4.0, "vggish_hidden": 32.0, "loc_dim": 16.0}


# one torch thread for the whole module (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("binaural_render")
    splits = {"train": ["tr0", "tr1"], "val": ["va0"], "test": ["te0"]}
    return write_synthetic_binaural(root, np.random.default_rng(0), splits=splits, n_sets=4, n_views=2)


def cfg_for(model: str, render: Path, **kw: object) -> object:
    opts = kw.pop("model_options", {})
    kw.setdefault("batch_size", 4)
    return make_config(
        model=model, task="binauralize", data=str(render), width=4, num_workers=0, model_options=opts, **kw
    )


def train_batch(render: Path, n: int = 4) -> dict:
    ds = open_split(render, "train", make_config(), True)
    return next(iter(DataLoader(ds, batch_size=n, shuffle=False)))


def test_dataset_items_follow_the_mono_convention(render: Path) -> None:
    info = render_info(render)
    train = BinauralClips(info, "train", train=True, negatives=True, seed=1)
    item = train[0]
    window = int(round(WINDOW_SECONDS * SR))
    assert item["binaural"].shape == (2, window) and item["mono"].shape == (window,)
    torch.testing.assert_close(item["mono"], 0.5 * (item["binaural"][0] + item["binaural"][1]))
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (48, 64, 3)
    assert item["neg_binaural"].shape == (2, window)
    test = BinauralClips(info, "test", negatives=True)
    full = test[3]
    assert full["binaural"].shape == (2, info.clip_samples)
    assert not torch.equal(full["neg_mono"], full["mono"])
    assert torch.equal(test[3]["neg_mono"], full["neg_mono"])  # evaluation negatives are fixed
    assert len(test) == 4 * 2  # sets x views x sources
    assert data_info(render, make_config())["sample_rate"] == SR


def test_render_without_views_is_a_clear_error(tmp_path: Path) -> None:
    root = write_synthetic_binaural(tmp_path / "noviews", np.random.default_rng(1), views=False)
    msg = r"binaural tasks .* needs group views or frames, which dataset .* lacks \(it has audio; a render made with"
    with pytest.raises(SimkitError, match=msg):
        render_info(root)


def test_difference_convention_round_trips() -> None:
    b = torch.randn(3, 2, 100)
    torch.testing.assert_close(binaural_from_difference(mono_of(b), difference_of(b)), b)


def test_mono_copy_is_the_mono_in_both_ears(render: Path) -> None:
    model = get_model("mono_copy").build(cfg_for("mono_copy", render), {})
    ds = open_split(render, "test", make_config(), False)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    out = model.predict(batch)["binaural"]
    torch.testing.assert_close(out, torch.stack([batch["mono"], batch["mono"]], dim=1), rtol=1e-5, atol=1e-6)
    rec = binauralize_records(batch, {"binaural": out})
    assert rec["stft_distance"].shape == (2,) and np.all(rec["stft_distance"] > 0)


def _loss_after(model: torch.nn.Module, batch: dict, steps: int, lr: float) -> tuple[float, float]:
    """Loss on ``batch`` before and after ``steps`` AdamW steps (same random stream for both readings)."""

    def reading() -> float:
        if hasattr(model, "reseed"):
            model.reseed(123)
        with torch.no_grad():
            return float(model.loss(batch)[0])

    model.train()
    before = reading()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        loss, parts = model.loss(batch)
        assert all(np.isfinite(v) for v in parts.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, reading()


@pytest.mark.parametrize(
    ("name", "options", "steps"),
    [
        ("mono2binaural", {"ngf": 4.0}, 8),
        ("clup_baseline", TINY, 8),
        ("clup", TINY, 8),
        ("clup_loc", TINY, 8),
        ("clup_baseline_loc", TINY, 8),
    ],
)
def test_models_train_a_few_steps(render: Path, name: str, options: dict, steps: int) -> None:
    torch.manual_seed(0)
    spec = get_model(name)
    model = spec.build(cfg_for(name, render, model_options=options), {})
    before, after = _loss_after(model, train_batch(render), steps, lr=3e-3)
    assert after < before, (name, before, after)


def test_clup_generates_and_localises(render: Path) -> None:
    torch.manual_seed(0)
    ds = open_split(render, "test", make_config(), False)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    gen = get_model("clup").build(cfg_for("clup", render, model_options={**TINY, "infer_steps": 2.0}), {})
    gen.eval()
    out = gen.predict(batch)["binaural"]
    assert out.shape == batch["binaural"].shape and torch.isfinite(out).all()
    # mono = (L + R) / 2 holds exactly for generated audio too: only the difference is generated
    torch.testing.assert_close(mono_of(out), batch["mono"], rtol=1e-4, atol=1e-5)
    loc = get_model("clup_loc").build(cfg_for("clup_loc", render, model_options=TINY), {})
    loc.eval()
    d = loc.predict(batch)
    n_windows = 1 + (batch["mono"].shape[-1] - int(WINDOW_SECONDS * SR)) // int(0.1 * SR)
    assert d["d_pos"].shape == (2, n_windows) and d["d_neg"].shape == (2, n_windows)


def test_bad_options_and_weight_files(tmp_path: Path, render: Path) -> None:
    with pytest.raises(SimkitError, match="no option"):
        get_model("clup").build(cfg_for("clup", render, model_options={"ngf": 4.0}), {})
    with pytest.raises(SimkitError, match="VGGish weights file .* does not exist"):
        get_model("clup").build(cfg_for("clup", render, model_options={"audio_weights": str(tmp_path / "x")}), {})
    # the retired options (simkit's own key names) are unknown; the error lists their replacements
    with pytest.raises(SimkitError, match="no option.*vggish_weights.*audio_weights"):
        get_model("clup").build(cfg_for("clup", render, model_options={"vggish_weights": "x.pt"}), {})
    # published weights are tests/test_pretrained.py's; a state dict of simkit's own network does not fit
    torch.save(VGGish(width=4, hidden=8).state_dict(), tmp_path / "vggish.pt")
    with pytest.raises(SimkitError, match="not in the published layout"):
        get_model("clup").build(
            cfg_for("clup", render, model_options={"audio_weights": str(tmp_path / "vggish.pt")}), {}
        )


def test_vggish_front_end_and_shapes() -> None:
    w = mel_matrix()
    assert w.shape == (257, 64) and np.all(w[0] == 0) and np.all(w.sum(0) > 0)
    # a 1 kHz tone peaks in the band whose triangle is centred nearest 1 kHz
    centers = (np.arange(257) * 8000 / 256) @ w / w.sum(0)
    tone = torch.sin(2 * torch.pi * 1000 * torch.arange(SR) / SR)[None]
    logmel = VGGish(width=4, hidden=8).frontend(tone)
    band = int(logmel[0, 0].mean(0).argmax())
    assert abs(centers[band] - 1000) < 60
    assert VGGish(width=4, hidden=8)(torch.randn(3, 3200)).shape == (3, 128)


def test_diffwave_schedule_alignment() -> None:
    full = align_schedule(training_betas())
    np.testing.assert_allclose(full.train_t, np.arange(50), atol=1e-9)  # the training schedule maps to itself
    fast = align_schedule(inference_betas(6))
    assert np.all(np.diff(fast.train_t) > 0) and fast.train_t[0] == 0 and fast.train_t[-1] <= 49
    assert len(inference_betas(3)) == 3 and len(inference_betas(0)) == 50
    net = DiffWave(channels=4, blocks=3, layers_per_block=10)
    assert net.receptive_field() == 1 + 2 * 3 * 1023  # dilations 1..512 in each of 3 blocks
    x = net.sample(torch.zeros(2, 1, 500), None, fast, torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, 500) and torch.isfinite(x).all()


def _mono2binaural_vs_copy(render: Path, epochs: int) -> tuple[float, float]:
    """Test-split STFT distance of a briefly trained mono2binaural and of the mono_copy floor."""
    torch.manual_seed(0)
    cfg = cfg_for("mono2binaural", render, model_options={"ngf": 8.0})
    model = get_model("mono2binaural").build(cfg, {})
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    ds = open_split(render, "train", make_config(), True)
    model.train()
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for batch in DataLoader(
            ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(epoch)
        ):
            loss, _ = model.loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    test = open_split(render, "test", make_config(), False)
    batch = next(iter(DataLoader(test, batch_size=len(test))))
    with torch.no_grad():
        pred = model.predict(batch)["binaural"].numpy()
    copy = torch.stack([batch["mono"], batch["mono"]], 1).numpy()
    true = batch["binaural"].numpy()
    learned = float(np.mean([stft_distance(p, t) for p, t in zip(pred, true, strict=True)]))
    floor = float(np.mean([stft_distance(p, t) for p, t in zip(copy, true, strict=True)]))
    return learned, floor


def test_mono2binaural_beats_mono_copy_on_stft_distance(render: Path) -> None:
    learned, floor = _mono2binaural_vs_copy(render, epochs=12)
    assert learned < 0.8 * floor, (learned, floor)


def test_mono2binaural_beats_mono_copy_on_a_real_render(tiny_visible_render: Path) -> None:
    # RLR binaural clips of espeak speech in held-out scenes, sources visible in every view
    learned, floor = _mono2binaural_vs_copy(tiny_visible_render, epochs=8)
    assert learned < 0.95 * floor, (learned, floor)


def test_bench_runs_the_binaural_task_end_to_end(render: Path, tmp_path: Path) -> None:
    from simkit.bench.harness import run_bench

    cfg = cfg_for(
        "mono2binaural",
        render,
        model_options={"ngf": 4.0},
        epochs=1,
        batch_size=5,
        epoch_val_items=3,
        results=str(tmp_path / "res"),
    )
    log: list[str] = []
    runs = run_bench(cfg, log=log.append)
    test = runs[0].metrics["test"]
    assert set(test) == set(VARIANTS)  # every binaural metric variant, on the whole clips
    assert test["stft_distance"].n == 8 and np.isfinite(test["stft_distance"].value)
    # the final val score uses every val clip although each epoch scored only 3 of them
    assert runs[0].metrics["val"]["stft_distance"].n == 8
    assert any("per-epoch validation on 3 of 8 val items" in line for line in log)
    # 16 training windows in batches of 5, 5, 5, 1: throughput counts items (batch["mono"]), not batches x 5
    assert runs[0].history[0]["items"] == 16
    # the task's figure hook wrote the example figure into the run directory
    png = runs[0].run_dir / "examples.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
    av = run_bench(
        dataclasses.replace(cfg, task="av_localize", model="clup_baseline_loc", model_options=TINY)
    )
    assert set(av[0].metrics["test"]) == {"av_distance", "av_accuracy"}
    assert not (av[0].run_dir / "examples.png").exists()  # av_localize has no figure hook


def test_plot_examples_draws_the_requested_clips(render: Path, tmp_path: Path) -> None:
    cfg = cfg_for("mono_copy", render)
    model = get_model("mono_copy").build(cfg, {})
    png = plot_examples(model, open_split(render, "test", cfg, False), tmp_path / "examples.png", n_clips=2)
    assert png.stat().st_size > 10_000


def test_epoch_val_subset_is_evenly_spaced_and_configurable(render: Path) -> None:
    from simkit.bench.harness import epoch_val_subset
    from simkit.bench.tasks import get_task

    task = get_task("binauralize")
    val = open_split(render, "val", make_config(), False)  # 8 clips
    sub = epoch_val_subset(val, cfg_for("mono_copy", render, epoch_val_items=3), task)
    assert list(sub.indices) == [0, 4, 7]
    assert epoch_val_subset(val, cfg_for("mono_copy", render, epoch_val_items=0), task) is val  # 0 = all
    # -1 (default) = the task's cap, larger than this tiny split
    assert task.epoch_val_items > 0 and epoch_val_subset(val, cfg_for("mono_copy", render), task) is val
    with pytest.raises(SimkitError, match="--val-items"):
        cfg_for("mono_copy", render, epoch_val_items=-2)


def test_an_option_no_selected_model_declares_is_an_error(render: Path, tmp_path: Path) -> None:
    from simkit.bench.harness import run_bench

    # (that each model of --model all gets its own options is checked by the CLI runs below)
    with pytest.raises(SimkitError, match=r"no selected model \(4\) has no option\(s\) ngff"):
        run_bench(cfg_for("all", render, model_options={"ngff": 4.0}, results=str(tmp_path / "x")))
    assert not (tmp_path / "x").exists()
    with pytest.raises(SimkitError, match="model mono_copy has no option"):
        run_bench(cfg_for("mono_copy", render, model_options={"ngf": 4.0}, results=str(tmp_path / "x")))


def test_option_values_are_numbers_booleans_or_strings(render: Path, tmp_path: Path) -> None:
    from simkit.bench.config import parse_model_options as _parse_options
    from simkit.bench.config import parse_option_value
    from simkit.bench.harness import run_bench

    assert parse_option_value("4") == 4.0 and isinstance(parse_option_value("4"), float)
    assert parse_option_value("1e-3") == 1e-3 and parse_option_value(" TRUE ") is True
    assert parse_option_value("false") is False and parse_option_value("w/vggish.pt") == "w/vggish.pt"
    missing = tmp_path / "missing.pt"
    parsed = _parse_options([f"visual_weights={missing}", "ngf=4"])
    assert parsed == {"visual_weights": str(missing), "ngf": 4.0}
    # a string reaches the model as a weights path (this one does not exist)
    with pytest.raises(SimkitError, match="ResNet-18 weights file .* does not exist"):
        run_bench(cfg_for("mono2binaural", render, model_options=parsed, results=str(tmp_path)))
    with pytest.raises(SimkitError, match="option ngf must be a number"):
        get_model("mono2binaural").build(cfg_for("mono2binaural", render, model_options={"ngf": True}), {})
    with pytest.raises(SimkitError, match="option visual_weights must be a file path"):
        get_model("mono2binaural").build(
            cfg_for("mono2binaural", render, model_options={"visual_weights": 3.0}), {}
        )
    with pytest.raises(SimkitError, match="KEY=VALUE"):
        _parse_options(["ngf"])
    with pytest.raises(SimkitError, match="given twice"):
        _parse_options(["ngf=4", "ngf=8"])


def _cli_quick_all(data: Path, results: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """``simkit bench --task binauralize --model all --quick`` (1 epoch, tiny nets); the run directories."""
    import sys

    from simkit.bench.leaderboard import read_leaderboard
    from simkit.cli import main

    tiny = [f"--option={k}={v:g}" for k, v in {**TINY, "ngf": 4.0, "infer_steps": 1.0}.items()]
    argv = ["simkit", "bench", "--task", "binauralize", "--model", "all", "--data", str(data), "--quick"]
    argv += ["--epochs", "1", "--max-items", "6", "--val-items", "2", "--results", str(results), *tiny]
    monkeypatch.setattr(sys, "argv", argv)
    main()
    rows = read_leaderboard(results / "leaderboard.csv")
    models = {"mono_copy", "mono2binaural", "clup_baseline", "clup"}
    assert {r["model"] for r in rows} == models
    assert {(r["model"], r["split"]) for r in rows if r["metric"] == "stft_distance"} == {
        (m, s) for m in models for s in ("val", "test")
    }
    runs = sorted((results / "runs").iterdir())
    assert len(runs) == 4 and all((r / "examples.png").is_file() for r in runs)
    # --model all: every model got the options it declares, and only those
    seen = {}
    for r in runs:
        meta = json.loads((r / "config.json").read_text())
        seen[meta["model"]] = meta["config"]["model_options"]
    assert seen["mono_copy"] == {} and seen["mono2binaural"] == {"ngf": 4.0}
    assert seen["clup"] == {**TINY, "infer_steps": 1.0} == seen["clup_baseline"]
    return runs


def test_cli_quick_bench_of_every_binaural_model(
    render: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cli_quick_all(render, tmp_path, monkeypatch)


def test_cli_quick_bench_on_a_real_render_with_views(
    tiny_visible_render: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    render_info(tiny_visible_render)  # views/rgb and visible sources, so the binaural tasks can read it
    _cli_quick_all(tiny_visible_render, tmp_path, monkeypatch)
