"""The Python API (simkit/api.py): cheap import, the CLI's results, datasets in a plain DataLoader, errors."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import simkit
from simkit.errors import SimkitError

API = ("render", "prepare", "curate", "open_dataset", "bench", "leaderboard")
ROOT = Path(__file__).resolve().parent.parent


def test_import_is_cheap() -> None:
    code = ("import sys, simkit; mods = [m for m in sys.modules if m.startswith(('simkit', 'torch', 'numpy'))]; "
            "print(sorted(mods))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "['simkit']"


def test_six_functions_exposed_with_types_and_docs() -> None:
    assert set(API) <= set(simkit.__all__) and set(API) <= set(dir(simkit))
    for name in API:
        fn = getattr(simkit, name)
        assert callable(fn) and fn.__doc__, name
        sig = inspect.signature(fn)
        assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values()), name
        assert sig.return_annotation is not inspect.Signature.empty, name
    with pytest.raises(AttributeError):
        simkit.no_such_function  # noqa: B018


def test_shared_names_stay_packages_too() -> None:
    """render, curate and bench are functions and subpackages: both uses keep working after imports."""
    import simkit.bench.leaderboard as lb
    import simkit.render.config
    from simkit.curate.pipeline import CurateConfig

    assert simkit.render.config.RenderConfig is simkit.render.config.RenderConfig
    assert simkit.bench.leaderboard is lb and simkit.curate.pipeline.CurateConfig is CurateConfig
    assert "out" in inspect.signature(simkit.render).parameters
    assert simkit.render.__doc__ == simkit.api.render.__doc__


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_matches_cli_byte_for_byte(tmp_path: Path) -> None:
    args = ["--scenes", "3", "--sets-per-scene", "1", "--preset", "efficient", "--no-views", "--sources", "1",
            "--seed", "7"]
    cli = subprocess.run([sys.executable, "-m", "simkit", "render", "--out", str(tmp_path / "cli"), "--quiet", *args],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert cli.returncode == 0, cli.stderr
    res = simkit.render(tmp_path / "api", scenes=3, sets_per_scene=1, preset="efficient", no_views=True, sources=1,
                        seed=7)
    assert len(res.rendered) == 3 and not res.failed
    a, b = _files(tmp_path / "cli"), _files(tmp_path / "api")
    assert a.keys() == b.keys()
    shards = [k for k in a if k.endswith(".h5")]
    assert len(shards) == 3
    different = [k for k in a if a[k] != b[k]]
    assert different == [], different


def test_render_config_forms_agree(tmp_path: Path) -> None:
    from simkit.api import render_config
    from simkit.render.config import RenderConfig

    f = tmp_path / "c.json"
    f.write_text('{"sampling": {"views": 3}, "seed": 5}')
    by_file = render_config(f, {"acoustics.preset": "fast"})
    by_map = render_config({"sampling": {"views": 3}, "seed": 5}, {"acoustics.preset": "fast"})
    by_obj = render_config(RenderConfig(seed=5), {"sampling.views": 3, "acoustics.preset": "fast"})
    assert by_file == by_map == by_obj
    assert by_file.config_hash() != RenderConfig().config_hash()


@pytest.mark.parametrize("task", ["direction", "binauralize"])
def test_open_dataset_in_plain_dataloader(request: pytest.FixtureRequest, task: str) -> None:
    # the binaural tasks need visible sources (they refuse tiny_render's points in free air)
    data = request.getfixturevalue("tiny_render" if task == "direction" else "tiny_visible_render")
    ds = simkit.open_dataset(data, task, "test")
    batch = next(iter(DataLoader(ds, batch_size=2, collate_fn=simkit.api.collate_fn(task))))
    if task == "direction":
        assert batch["audio"].shape[:3] == (2, 4, 2) and batch["azimuth_deg"].shape == (2, 4)
    else:
        assert batch["mono"].ndim == 2 and batch["binaural"].shape[:2] == (2, 2)
        assert batch["image"].dtype == torch.uint8 and batch["image"].shape[-1] == 3
    assert len(batch["scene_id"]) == 2


def test_open_dataset_train_augments_and_caps(tiny_render: Path) -> None:
    full = simkit.open_dataset(tiny_render, "direction", "train")
    capped = simkit.open_dataset(tiny_render, "direction", "train", max_items=5, train=True,
                                 options={"features": {"clip_seconds": 1.0}})
    assert len(capped) == 5 < len(full)
    assert capped[0]["audio"].shape[-1] == 16000


@pytest.mark.parametrize(("call", "needle"), [
    (lambda d: simkit.open_dataset(d, "no_such_task"), "no_such_task"),
    (lambda d: simkit.open_dataset(d, "direction", "training"), "split must be"),
    (lambda d: simkit.open_dataset(d / "missing", "direction"), "missing"),
    (lambda d: simkit.open_dataset(d, "direction", options={"batchsize": 3}), "batchsize"),
    (lambda d: simkit.render(d / "r", scenes=True), "scenes"),
    (lambda d: simkit.render(d / "r", scenes=3, sets_per_scene=0), "sets_per_scene"),
    (lambda d: simkit.render(d / "r", config=42), "config must be"),
    (lambda d: simkit.render(d / "r", scene_dir=d), "scene_format"),
    (lambda d: simkit.render(d / "r", overrides={"sampling.no_such": 1}), "no_such"),
    (lambda d: simkit.curate(d, d / "c", config=3), "config must be"),
    (lambda d: simkit.bench("iid", d, no_such_setting=1), "no_such_setting"),
    (lambda d: simkit.prepare("no-such-adapter", d, d / "p"), "no-such-adapter"),
    (lambda d: simkit.leaderboard(d / "none.csv"), "none.csv"),
])
def test_bad_input_is_one_line_simkit_error(tiny_render: Path, call, needle: str) -> None:
    with pytest.raises(SimkitError) as e:
        call(tiny_render)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_scorer_rows_match_bench_rows(tiny_render: Path, tmp_path: Path) -> None:
    """An own model's rows carry the schema and dataset naming of simkit bench's rows."""
    from simkit.bench.leaderboard import append_rows, read_leaderboard
    from simkit.bench.scoring import Scorer

    simkit.bench("iid", tiny_render, results=tmp_path, quick=True, device="cpu")
    scorer = Scorer("direction")
    for batch in DataLoader(simkit.open_dataset(tiny_render, "direction", "test"), batch_size=4):
        scorer.add(batch, {"azimuth_deg": batch["azimuth_deg"]})  # a perfect model
    scores = scorer.scores()
    assert scores["lr_accuracy"].value == 1.0 and scores["angle_error_mean"].value == pytest.approx(0.0, abs=1e-6)
    append_rows(tmp_path / "leaderboard.csv", scorer.rows("oracle", tiny_render))
    rows = read_leaderboard(tmp_path / "leaderboard.csv")
    iid = {(r["dataset"], r["data_manifest_hash"], r["protocol"]) for r in rows if r["model"] == "iid"}
    mine = {(r["dataset"], r["data_manifest_hash"], r["protocol"]) for r in rows if r["model"] == "oracle"}
    assert iid == mine
    text = simkit.leaderboard(tmp_path / "leaderboard.csv", task="direction", references=False, fmt="csv")
    assert "oracle" in text and "iid" in text
    with pytest.raises(SimkitError, match="nothing to score"):
        Scorer("direction").scores()
    with pytest.raises(SimkitError, match="lack"):
        Scorer("direction").add({"azimuth_deg": np.zeros((1, 4))}, {})
