"""Checkpoint selection (simkit issue 20): self-supervised models are selected label-free by default, selecting
them on labels is explicit and recorded, and rows selected differently are never ranked together."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from simkit.bench.config import make_config
from simkit.bench.harness import resolve_selection, run_bench
from simkit.bench.leaderboard import REFERENCE_ROWS, append_rows, format_pivot, pivot, read_leaderboard
from simkit.bench.schema import FIELDNAMES
from simkit.bench.tasks import get_task
from simkit.conventions import azimuth_class
from simkit.data.datasets.direction import RenderViewSets, open_render
from simkit.data.synthetic import write_synthetic_render
from simkit.models import get_model

SCENES = {"s0": "train", "s1": "train", "s2": "val", "s3": "test"}
SELF_SUPERVISED = ("slfm_simple", "ours_rt", "ours_full")  # slfm (images): tests/test_slfm.py

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_render(
        tmp_path_factory.mktemp("synth") / "render", SCENES, sets_per_scene=2, max_translation=0.6, seed=3
    )


def quick(data: Path, results: Path, **kw) -> object:
    kw.setdefault("epochs", 3)
    kw.setdefault("patience", 5)
    kw.setdefault("cpu_threads", 1)
    kw.setdefault("reconvolve_prob", 0.0)
    return make_config(quick=True, data=str(data), results=str(results), device="cpu", **kw)


def _build(name: str, synth: Path, **kw):
    cfg = quick(synth, synth.parent / "unused", model=name, **kw)
    return get_model(name).build(cfg, {})


def test_self_supervised_losses_never_read_labels(synth: Path) -> None:
    """The losses of slfm_simple, ours_rt and ours_full run on a batch with every label removed."""
    ds = RenderViewSets(open_render(synth), "val")
    batch = default_collate([ds[i] for i in range(2)])
    for key in ("azimuth_deg", "elevation_deg", "distance_m", "side"):
        del batch[key]
    for name in SELF_SUPERVISED:
        model = _build(name, synth)
        assert model.self_supervised
        loss, _ = model.loss(batch)
        assert torch.isfinite(loss), name
    sup = _build("supervised", synth)
    assert not sup.self_supervised
    with pytest.raises(KeyError):  # the supervised loss does read them: the check above can fail
        sup.loss(batch)


def test_default_selection_is_label_free_for_self_supervised_models(synth: Path) -> None:
    task = get_task("direction")
    cfg = quick(synth, synth.parent / "unused")
    for name, want in (("ours_full", "loss"), ("ours_rt", "loss"), ("slfm", "slfm_score"),
                       ("slfm_simple", "slfm_score"), ("supervised", "lr_accuracy"),
                       ("supervised_4class", "lr_accuracy")):
        sel = resolve_selection(_build(name, synth), cfg, task, val_labelled=True)
        assert (sel.name, sel.uses_labels, sel.label_selected) == (want, want == "lr_accuracy", False), name
    explicit = make_config(quick=True, select_metric="lr_accuracy")
    sel = resolve_selection(_build("ours_full", synth), explicit, task, val_labelled=True)
    assert (sel.name, sel.uses_labels, sel.label_selected) == ("lr_accuracy", True, True)
    sel = resolve_selection(_build("supervised", synth), explicit, task, val_labelled=True)
    assert (sel.name, sel.label_selected) == ("lr_accuracy", False)  # trained on labels anyway
    # SLfM's authors' score 1 / (50 Geo + Bin + Sym) (IFICL/SLfM slfm_geo_net.py:383-392), higher is better
    simple = _build("slfm_simple", synth)
    assert simple.selection_higher_is_better
    assert simple.selection_score(9.9, {"rotation": 0.1, "iid": 0.5, "symmetry": 0.5}) == pytest.approx(1 / 6)
    slfm = _build("slfm", synth)
    parts = {"geometric": 0.1, "binaural": 0.5, "audio_symmetric": 0.25, "rotation_symmetric": 0.25}
    assert slfm.selection_higher_is_better and slfm.selection_score(9.9, parts) == pytest.approx(1 / 6)


def test_self_supervised_run_selects_its_min_val_loss_and_records_it(synth: Path, tmp_path: Path) -> None:
    (run,) = run_bench(quick(synth, tmp_path, model="ours_full"))
    losses = [h["val_loss"] for h in run.history]
    assert len(losses) == 3 and [h["val_select"] for h in run.history] == losses
    assert run.best_epoch == 1 + int(np.argmin(losses))
    saved = json.loads((run.run_dir / "metrics.json").read_text())
    assert (saved["select_metric"], saved["label_selected"]) == ("loss", False)
    rows = [r for r in read_leaderboard(tmp_path / "leaderboard.csv") if r["run_id"] == run.run_id]
    assert rows and all(r["select_metric"] == "loss" and r["label_selected"] is False for r in rows)


def test_slfm_simple_selects_on_the_authors_score(synth: Path, tmp_path: Path) -> None:
    (run,) = run_bench(quick(synth, tmp_path, model="slfm_simple", epochs=2))
    scores = [h["val_select"] for h in run.history]
    assert all(math.isfinite(s) and s > 0 for s in scores)
    assert run.best_epoch == 1 + int(np.argmax(scores))
    rows = read_leaderboard(tmp_path / "leaderboard.csv")
    assert {r["select_metric"] for r in rows} == {"slfm_score"}


def test_explicit_label_selection_is_recorded_and_ranked_apart(
    synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from simkit.cli import main

    results = tmp_path / "results"
    argv = ["simkit", "bench", "--model", "ours_full", "--quick", "--epochs", "1", "--threads", "1", "--data",
            str(synth), "--results", str(results)]
    monkeypatch.setattr(sys, "argv", [*argv, "--select-metric", "lr_accuracy"])
    main()
    monkeypatch.setattr(sys, "argv", argv)
    main()
    rows = read_leaderboard(results / "leaderboard.csv")
    by_sel = {(r["select_metric"], r["label_selected"]) for r in rows}
    assert by_sel == {("lr_accuracy", True), ("loss", False)}
    # both runs stay visible, as separate rows; each is best only within its own selection
    p = pivot(rows, task="direction")
    labels = [r.label for r in p.rows]
    assert labels == ["ours_full", "ours_full [selected on labels: lr_accuracy]"]
    assert all(c.best for r in p.rows for c in r.cells.values() if math.isfinite(c.value))
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["simkit", "leaderboard", str(results / "leaderboard.csv"), "--no-references"])
    main()
    out = capsys.readouterr().out
    assert "ours_full [selected on labels: lr_accuracy]" in out and "ranked apart" in out


def test_rows_of_one_model_selected_differently_are_never_collapsed(tmp_path: Path) -> None:
    def row(run_id: str, value: float, sel: str) -> dict:
        return {"run_id": run_id, "timestamp_utc": "2026-01-01T00:00:00Z", "model": "ours_full",
                "task": "direction", "dataset": "d", "split": "test", "metric": "lr_accuracy", "value": value,
                "unit": "fraction", "higher_is_better": True, "is_reference": False, "source": "simkit bench",
                "select_metric": sel, "label_selected": False}

    lb = tmp_path / "lb.csv"
    # an older row (selection unrecorded) must not be picked as ours_full's best over a label-free one
    append_rows(lb, [row("old", 0.9, ""), row("new", 0.6, "loss")])
    p = pivot(read_leaderboard(lb))
    got = {r.label: r.cells["lr_accuracy"].value for r in p.rows}
    assert got == {"ours_full [select unrecorded]": 0.9, "ours_full [select loss]": 0.6}
    assert "select_metric" in format_pivot(p, "csv").splitlines()[0]


def test_leaderboards_before_the_selection_columns_still_read(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    header = ",".join(FIELDNAMES[:24])
    line = ("r1,2026-01-01T00:00:00Z,ours_full,direction,d,test,lr_accuracy,0.5,fraction,true,,,,,,,,,,,,false,"
            "simkit bench,")
    old.write_text(f"{header}\n{line}\n")
    (r,) = read_leaderboard(old)
    assert r["select_metric"] is None and r["label_selected"] is None
    append_rows(old, [{**r, "run_id": "r2", "select_metric": "loss", "label_selected": False}])
    assert old.read_text().splitlines()[0] == ",".join(FIELDNAMES)  # upgraded whole on the next append
    assert [x["select_metric"] for x in read_leaderboard(old)] == [None, "loss"]


def test_supervised_4class_predicts_four_classes_and_is_recorded(synth: Path, tmp_path: Path) -> None:
    model = _build("supervised_4class", synth)
    assert model.n_classes == 4
    ds = RenderViewSets(open_render(synth), "test")
    batch = default_collate([ds[i] for i in range(2)])
    az = model.predict(batch)["azimuth_deg"].numpy()
    assert set(np.round(az, 3).ravel()) <= {0.0, 90.0, 180.0, -90.0}
    # the symmetric 4-class edges: +-45 front, +-135 back
    assert list(azimuth_class(np.array([45.0, -45.0, 135.0, -135.0, 90.0]), 4)) == [0, 0, 2, 2, 1]
    (run,) = run_bench(quick(synth, tmp_path, model="supervised_4class", epochs=1))
    rows = [r for r in read_leaderboard(tmp_path / "leaderboard.csv") if r["metric"] == "class4_accuracy"]
    assert {r["model"] for r in rows} == {"supervised_4class"}
    assert rows[0]["select_metric"] == "lr_accuracy" and rows[0]["label_selected"] is False
    # in the table's class4_accuracy column with seed 000's Table 8 rows ("supervised 4-classification")
    refs = [r for r in read_leaderboard(REFERENCE_ROWS) if r["model"] == "supervised"]
    assert refs and {r["metric"] for r in refs} == {"class4_accuracy"}
    p = pivot(rows + refs, metrics=["class4_accuracy"])
    assert {r.label for r in p.rows} == {"supervised_4class", "supervised (paper)"}
    assert all("class4_accuracy" in r.cells for r in p.rows)
