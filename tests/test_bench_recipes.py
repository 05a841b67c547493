"""``simkit bench --recipe default|quick|paper`` and ``--ablate-image shuffle|blank`` (issues 20 and 21)."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import SIMKIT, one_error_line

from simkit.bench.config import BenchConfig, make_config
from simkit.bench.harness import ImageAblation, make_optimizer, make_scheduler, open_split, run_bench
from simkit.bench.leaderboard import append_rows, format_pivot, pivot, read_leaderboard
from simkit.bench.recipes import PAPER, check_keys, paper_recipe, resolve
from simkit.bench.schema import FIELDNAMES
from simkit.bench.tasks import get_task
from simkit.data.synthetic import write_synthetic_binaural, write_synthetic_render
from simkit.errors import SimkitError
from simkit.models import MODELS, get_model, load_builtin

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recipes_render")
    splits = {"train": ["tr0", "tr1"], "val": ["va0"], "test": ["te0"]}
    return write_synthetic_binaural(root, np.random.default_rng(0), splits=splits, n_sets=4, n_views=2)


# ------------------------------------------------------------------------------------------------ recipes


def test_paper_recipe_resolves_cited_values_for_every_registered_model() -> None:
    load_builtin()
    assert set(PAPER) == set(MODELS.names())  # no registered model without an entry, no entry without a model
    assert check_keys() == []  # every setting names a BenchConfig / FeatureConfig field
    for name in MODELS.names():
        rec = paper_recipe(name)
        spec = get_model(name)
        assert rec.source
        for key, cited in {**rec.settings, **rec.options, **rec.fixed}.items():
            assert cited.source.strip(), f"{name}: {key} has no source"
        assert spec.options is None or set(rec.options) <= spec.options, name
        cfg = resolve(make_config(recipe="paper", model=name, task=spec.task), name)
        for key, cited in rec.settings.items():
            obj, field = (cfg.features, key.split(".", 1)[1]) if key.startswith("features.") else (cfg, key)
            assert getattr(obj, field) == cited.value, f"{name}: {key}"
        for key, cited in rec.options.items():
            assert cfg.model_options[key] == cited.value
        assert cfg.recipe == "paper"
    m2b = resolve(make_config(recipe="paper", model="mono2binaural"), "mono2binaural")
    assert (m2b.optimizer, m2b.lr, m2b.visual_lr, m2b.weight_decay, m2b.batch_size) == ("adam", 1e-3, 1e-4, 5e-4, 256)
    assert (m2b.lr_schedule, m2b.lr_decay_epochs, m2b.lr_decay, m2b.select_metric) == ("step", 10, 0.94, "loss")
    clup = resolve(make_config(recipe="paper", model="clup"), "clup")
    assert clup.model_options["eval_hop_seconds"] == 0.05 and clup.model_options["residual_channels"] == 64
    # Table 8's rows are 4-class: both supervised models train 4 classes under the paper recipe
    for name in ("supervised", "supervised_4class"):
        assert resolve(make_config(recipe="paper", model=name), name).model_options["n_classes"] == 4


def test_explicit_values_win_over_the_recipe_and_other_recipes_are_untouched() -> None:
    cfg = make_config(recipe="paper", model="mono2binaural", batch_size=4, model_options={"ngf": 4.0},
                      features={"clip_seconds": 1.0})
    out = resolve(cfg, "mono2binaural")
    assert out.batch_size == 4 and out.model_options["ngf"] == 4.0  # given
    assert out.lr == 1e-3 and out.model_options["eval_hop_seconds"] == 0.05  # the recipe's
    assert out.config_hash() != resolve(dataclasses.replace(cfg, explicit=[]), "mono2binaural").config_hash()
    quick = make_config(recipe="quick", epochs=2)
    assert resolve(quick, "mono2binaural") is quick and quick.quick and quick.width == 8
    # --quick is an alias of --recipe quick: the same configuration and hash
    assert make_config(quick=True, epochs=2).config_hash() == quick.config_hash()
    assert make_config().recipe == "default"
    with pytest.raises(SimkitError, match="--quick is --recipe quick"):
        make_config(quick=True, recipe="paper")
    with pytest.raises(SimkitError, match="--recipe"):
        make_config(recipe="papers")
    with pytest.raises(SimkitError, match="--ablate-image"):
        make_config(ablate_image="grey")
    with pytest.raises(SimkitError, match="has no paper recipe"):
        paper_recipe("mypkg.models:Mine")


def test_optimiser_groups_and_step_schedule() -> None:
    spec = get_model("mono2binaural")
    cfg = make_config(recipe="paper", model="mono2binaural", task="binauralize", width=4,
                      model_options={"ngf": 4.0})
    cfg = resolve(cfg, "mono2binaural")
    model = spec.build(cfg, {"sample_rate": 16000})
    opt = make_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.Adam) and not isinstance(opt, torch.optim.AdamW)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-4]
    visual = {id(p) for p in model.visual.resnet.parameters()}
    assert {id(p) for p in opt.param_groups[1]["params"]} == visual
    assert len(opt.param_groups[0]["params"]) + len(visual) == len(list(model.parameters()))
    sched, per_step = make_scheduler(opt, cfg, total_steps=100)
    assert not per_step
    lrs = []
    for _ in range(21):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[9] == 1e-3 and lrs[10] == pytest.approx(1e-3 * 0.94) and lrs[20] == pytest.approx(1e-3 * 0.94**2)
    # a model that declares no visual parameters refuses a visual learning rate
    sup = get_model("supervised").build(make_config(width=4), {})
    with pytest.raises(SimkitError, match="declares no visual parameters"):
        make_optimizer(sup, dataclasses.replace(make_config(width=4, model="supervised"), visual_lr=1e-4))


def test_paper_recipe_is_recorded_in_rows_and_config(render: Path, tmp_path: Path) -> None:
    cfg = make_config(recipe="paper", model="mono2binaural", task="binauralize", data=str(render), width=4,
                      num_workers=0, epochs=2, batch_size=8, lr_decay_epochs=1, lr_decay=0.5, epoch_val_items=2,
                      results=str(tmp_path / "res"), model_options={"ngf": 4.0, "eval_hop_seconds": 0.63})
    (run,) = run_bench(cfg)
    # the recipe's Adam at 1e-3 stepped down per epoch by the (explicit) decay
    assert [h["lr"] for h in run.history] == [1e-3, 5e-4]
    rows = read_leaderboard(tmp_path / "res" / "leaderboard.csv")
    assert rows and {r["recipe"] for r in rows} == {"paper"} and {r["ablate_image"] for r in rows} == {None}
    assert {r["select_metric"] for r in rows} == {"loss"}  # 2.5D keeps the best val loss
    meta = json.loads((run.run_dir / "config.json").read_text())
    assert meta["recipe"] == "paper" and "train.py" in meta["recipe_sources"]["lr_schedule"]
    assert "batch_size" not in meta["recipe_sources"]  # given explicitly, so not the recipe's
    assert meta["config"]["optimizer"] == "adam" and meta["config"]["visual_lr"] == 1e-4


# ------------------------------------------------------------------------------------------------ ablation


def _images(ds: object) -> np.ndarray:
    return np.stack([ds[i]["image"].numpy() for i in range(len(ds))])  # type: ignore[arg-type]


def test_ablation_shuffles_images_as_a_fixed_derangement_or_blanks_them(render: Path) -> None:
    task = get_task("binauralize")
    plain = open_split(task, render, "test", make_config(), False, False)
    real = _images(plain)
    shuffled = open_split(task, render, "test", make_config(ablate_image="shuffle"), False, False)
    assert isinstance(shuffled, ImageAblation)
    n = len(real)
    src = shuffled.source
    assert sorted(src) == list(range(n)) and not np.any(src == np.arange(n))  # a permutation, no fixed point
    np.testing.assert_array_equal(_images(shuffled), real[src])  # every item shows another item's picture
    assert not np.array_equal(_images(shuffled), real)
    again = open_split(task, render, "test", make_config(ablate_image="shuffle"), False, False)
    np.testing.assert_array_equal(again.source, src)  # fixed by the seed
    other = open_split(task, render, "test", make_config(ablate_image="shuffle", seed=1), False, False)
    assert not np.array_equal(other.source, src)
    item, orig = shuffled[0], plain[0]
    torch.testing.assert_close(item["mono"], orig["mono"])  # only the image changes
    torch.testing.assert_close(item["binaural"], orig["binaural"])
    blank = open_split(task, render, "test", make_config(ablate_image="blank"), False, False)
    assert real.any() and not _images(blank).any()  # blank is all zeros
    train = open_split(task, render, "train", make_config(ablate_image="blank"), True, False)
    train.set_epoch(2)  # the inner dataset's methods stay reachable
    assert train.epoch == 2


def test_ablated_run_is_recorded_and_shown_beside_the_real_one(render: Path, tmp_path: Path) -> None:
    res = tmp_path / "res"
    base = dict(model="mono2binaural", task="binauralize", data=str(render), width=4, num_workers=0, epochs=1,
                batch_size=8, epoch_val_items=2, results=str(res), model_options={"ngf": 4.0})
    run_bench(make_config(**base))
    run_bench(make_config(**base, ablate_image="shuffle"))
    rows = read_leaderboard(res / "leaderboard.csv")
    assert {r["ablate_image"] for r in rows} == {None, "shuffle"}
    assert {r["recipe"] for r in rows} == {"default"}
    p = pivot(rows, task="binauralize", metrics=["stft_distance"])
    labels = [r.label for r in p.rows]
    assert labels == ["mono2binaural", "mono2binaural [image shuffled]"]  # adjacent, real first
    real, ablated = p.rows
    assert ablated.cells["stft_distance"].delta == pytest.approx(
        ablated.cells["stft_distance"].value - real.cells["stft_distance"].value)
    assert real.cells["stft_distance"].best and not ablated.cells["stft_distance"].best  # a control, never ranked
    assert "(Δ " in format_pivot(p, "table").splitlines()[3]
    out = list(csv.DictReader(format_pivot(p, "csv").splitlines()))
    assert out[1]["ablate_image"] == "shuffle" and float(out[1]["stft_distance_image_delta"]) == pytest.approx(
        ablated.cells["stft_distance"].delta)


def _row(run: str, model: str, value: float, recipe: str | None, ablate: str | None = None) -> dict:
    return {"run_id": run, "timestamp_utc": "2026-01-02T03:04:05Z", "model": model, "task": "direction",
            "dataset": "d", "split": "test", "metric": "lr_accuracy", "value": value, "unit": "fraction",
            "higher_is_better": True, "is_reference": False, "source": "simkit bench", "recipe": recipe,
            "ablate_image": ablate}


def test_rows_of_different_recipes_are_never_ranked_together(tmp_path: Path) -> None:
    lb = tmp_path / "lb.csv"
    append_rows(lb, [_row("a", "ours_full", 0.9, "quick"), _row("b", "iid", 0.7, "quick"),
                     _row("c", "ours_full", 0.6, "paper"), _row("d", "iid", 0.5, "paper"),
                     _row("e", "ours_full", 0.95, None)])
    p = pivot(read_leaderboard(lb))
    best = {(r.recipe, r.model): r.cells["lr_accuracy"].best for r in p.rows}
    # each recipe has its own best; the 0.95 row (recipe unrecorded) outranks neither
    assert best == {("", "ours_full"): True, ("paper", "iid"): False, ("paper", "ours_full"): True,
                    ("quick", "iid"): False, ("quick", "ours_full"): True}
    table = format_pivot(p, "table")
    assert table.splitlines()[0].split()[:3] == ["dataset", "recipe", "model"]
    assert "unrecorded" in table


def test_leaderboards_before_the_recipe_columns_still_read(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    with open(old, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDNAMES[:26], extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerow({k: v for k, v in _row("r1", "iid", 0.5, None).items() if v is not None} | {
            "higher_is_better": "true", "is_reference": "false"})
    (r,) = read_leaderboard(old)
    assert r["recipe"] is None and r["ablate_image"] is None
    append_rows(old, [_row("r2", "iid", 0.6, "quick")])
    assert old.read_text().splitlines()[0] == ",".join(FIELDNAMES)  # upgraded on the next append


# ------------------------------------------------------------------------------------------------ CLI


def _simkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SIMKIT, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cli_refuses_bad_recipes_and_ablations(render: Path, tmp_path: Path) -> None:
    proc = _simkit("bench", "--data", str(render), "--recipe", "papers", cwd=tmp_path)
    assert proc.returncode != 0
    one_error_line(proc, "--recipe")
    proc = _simkit("bench", "--data", str(render), "--quick", "--recipe", "paper", cwd=tmp_path)
    one_error_line(proc, "--quick is --recipe quick")
    # iid sees no image: nothing to ablate, refused before anything is written
    direction = write_synthetic_render(tmp_path / "dir", {"s0": "train", "s1": "val", "s2": "test"}, sets_per_scene=1,
                                       seed=3)
    proc = _simkit("bench", "--data", str(direction), "--model", "iid", "--ablate-image", "blank", cwd=tmp_path)
    one_error_line(proc, "model iid sees no image")
    assert not (tmp_path / "results").exists()


def test_cli_records_recipe_and_ablation(render: Path, tmp_path: Path) -> None:
    proc = _simkit("bench", "--data", str(render), "--task", "binauralize", "--model", "mono_copy", "--quick",
                   "--ablate-image", "blank", "--results", "res", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = read_leaderboard(tmp_path / "res" / "leaderboard.csv")
    assert {(r["recipe"], r["ablate_image"]) for r in rows} == {("quick", "blank")}
    proc = _simkit("leaderboard", "res/leaderboard.csv", "--no-references", "--metric", "stft_distance",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "mono_copy [image blanked]" in proc.stdout and "; recipe quick" in proc.stdout


def test_config_fields_added_by_recipes_keep_old_hashes() -> None:
    """The new BenchConfig fields at their defaults leave the hashed content as it was before them."""
    cfg = make_config(quick=True)
    content = cfg.to_dict()
    new = {"recipe", "explicit", "ablate_image", "optimizer", "visual_lr", "lr_schedule", "lr_decay_epochs",
           "lr_decay"}
    assert new <= {f.name for f in dataclasses.fields(BenchConfig)}
    from simkit.config import config_hash

    old = {k: v for k, v in content.items() if k not in new and k not in
           ("data", "results", "num_workers", "cpu_threads", "test_data", "derive_on")}
    old.pop("protocol")
    assert cfg.config_hash() == config_hash(old)


def test_noise_l1_is_diffwaves_l1_on_the_predicted_noise(render: Path) -> None:
    """``noise_l1`` (the paper recipe's, DiffWave's ``learner.py:56``): the mean |eps - eps_theta| of the very
    draw the MSE would score, re-derived here."""
    from simkit.models.binaural.diffwave import DiffWave

    torch.manual_seed(0)
    net = DiffWave(channels=4, blocks=1, layers_per_block=3).eval()
    x0, local = torch.randn(2, 1, 300), torch.randn(2, 1, 300)
    l1, _, _ = net.training_loss(x0, local, None, torch.Generator().manual_seed(5), l1=True)
    mse, _, _ = net.training_loss(x0, local, None, torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)  # the same draws, in the same order
    t = torch.randint(0, net.train_steps, (2,), generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    a = net.alpha_bar[t].view(2, 1, 1)
    with torch.no_grad():
        eps = net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t.float(), local, None)
    torch.testing.assert_close(l1, (eps - noise).abs().mean())
    torch.testing.assert_close(mse, (eps - noise).pow(2).mean())
    # the option reaches the model's loss: clup trains with it and names the part
    cfg = make_config(model="clup", task="binauralize", width=4, model_options={
        "residual_channels": 4.0, "vggish_width": 4.0, "vggish_hidden": 32.0, "loc_dim": 16.0, "noise_l1": 1.0})
    model = get_model("clup").build(cfg, {"sample_rate": 16000})
    from torch.utils.data import DataLoader

    ds = open_split(get_task("binauralize"), render, "train", cfg, True, True)
    loss, parts = model.loss(next(iter(DataLoader(ds, batch_size=2))))
    assert torch.isfinite(loss) and "eps_l1" in parts and "eps_mse" not in parts
