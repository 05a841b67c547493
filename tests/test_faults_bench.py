"""Bench faults found before training (issue 16, item 8), through the console script.

Every split a run reads is opened before any run starts: an empty or unlabelled ``--test-data`` set, or an
unlabelled training set with nothing else to score, is one error line and exit 2 with no results directory,
no run directory and no leaderboard row. Negative pairs are built only for models that declare
``needs_negative_pairs``: ``mono_copy`` runs on a FAIR-Play split whose val holds one clip, a CLUP localiser
is refused with a line naming the split.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_support import SIMKIT
from published_layouts import write_fair_play

from simkit.bench.leaderboard import read_leaderboard
from simkit.data.datasets.binaural import BinauralClips, open_binaural_dataset
from simkit.data.prepare import prepare
from simkit.data.synthetic import write_synthetic_render
from simkit.errors import SimkitError

FP_OPTS = {"clip_seconds": "2.0", "frame_size": "24x32"}


def simkit(*args: str | Path) -> subprocess.CompletedProcess:
    """The console script, one torch thread (shared CI cores); generous timeout for a busy machine."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([SIMKIT, *map(str, args)], capture_output=True, text=True, timeout=600, env=env)


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line of a refused command (asserting there is exactly one and no traceback)."""
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A labelled training render, a render whose test split is empty and one without labels (as curated)."""
    root = tmp_path_factory.mktemp("bench_faults")
    main = write_synthetic_render(root / "main", {"s0": "train", "s1": "train", "s2": "val", "s3": "test"},
                                  sets_per_scene=2)
    notest = write_synthetic_render(root / "notest", {"s0": "train", "s1": "val"}, sets_per_scene=1)
    unlabelled = write_synthetic_render(root / "unlabelled", {"s0": "train", "s1": "val", "s2": "test"},
                                        sets_per_scene=1, seed=5)
    other_rate = write_synthetic_render(root / "8k", {"s0": "train", "s1": "val", "s2": "test"},
                                        sets_per_scene=1, sample_rate=8000)
    unlabelled_val = write_synthetic_render(root / "unlabelled_val", {"s0": "train", "s1": "val", "s2": "test"},
                                            sets_per_scene=1, seed=6)
    for shard in [*sorted((unlabelled / "shards").glob("*.h5")), unlabelled_val / "shards" / "s1.h5"]:
        with h5py.File(shard, "a") as f:  # what `simkit curate` writes: no azimuth, no side
            f["labels/azimuth_deg"][...] = np.nan
    return {"main": main, "notest": notest, "unlabelled": unlabelled, "unlabelled_val": unlabelled_val,
            "8k": other_rate}


def test_empty_test_data_split_is_refused_before_training(sets: dict[str, Path], tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = simkit("bench", "--model", "ours_full", "--quick", "--epochs", "1", "--device", "cpu", "--data",
                  sets["main"], "--test-data", f"{sets['main']},{sets['notest']}", "--results", results)
    line = error_line(proc)
    assert str(sets["notest"]) in line and "split test" in line and "empty" in line
    assert "epoch" not in proc.stderr  # found before training, not after it
    assert not results.exists()  # no run directory, no leaderboard
    proc = simkit("bench", "--model", "ours_full", "--quick", "--epochs", "1", "--device", "cpu", "--data",
                  sets["main"], "--test-data", sets["8k"], "--results", results)
    line = error_line(proc)
    assert f"--test-data {sets['8k']} is at 8000 Hz, the training data at 16000 Hz" in line
    assert "epoch" not in proc.stderr and not results.exists()


def test_unlabelled_test_data_is_refused_not_scored_as_nan(sets: dict[str, Path], tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = simkit("bench", "--model", "iid", "--quick", "--device", "cpu", "--data", sets["main"],
                  "--test-data", sets["unlabelled"], "--results", results)
    line = error_line(proc)
    assert str(sets["unlabelled"]) in line and "split test" in line and "no labels" in line
    assert not results.exists()
    # without --test-data an unlabelled training set has nothing to score: refused too, not NaN rows
    proc = simkit("bench", "--model", "iid", "--quick", "--device", "cpu", "--data", sets["unlabelled"],
                  "--results", results)
    line = error_line(proc)
    assert str(sets["unlabelled"]) in line and "no labels" in line and "--test-data" in line
    assert not results.exists()
    # a labelled set is scored; the unlabelled training set's own splits are left out, with a note
    proc = simkit("bench", "--model", "iid", "--quick", "--device", "cpu", "--data", sets["unlabelled"],
                  "--test-data", sets["main"], "--results", results)
    assert proc.returncode == 0, proc.stderr
    assert "val: no labels in this dataset, not scored" in proc.stderr
    assert "test: no labels in this dataset, not scored" in proc.stderr
    rows = read_leaderboard(results / "leaderboard.csv")
    assert {r["dataset"].split("@")[0] for r in rows} == {"main"} and {r["split"] for r in rows} == {"test"}
    assert all(np.isfinite(float(r["value"])) for r in rows if r["metric"] == "lr_accuracy")


# ---------------------------------------------------------------- negative pairs (binaural tasks)


@pytest.fixture(scope="module")
def fair_play_one_val(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared FAIR-Play layout of 4 clips: split1 (the default) is train 2, val 1, test 1."""
    src = write_fair_play(tmp_path_factory.mktemp("fp1") / "FAIR-Play", n_clips=4, n_splits=1)
    out = tmp_path_factory.mktemp("fp1out") / "fair-play"
    prepare("fair-play", src, out, FP_OPTS, progress=False)
    return out


def test_negative_pairs_only_for_models_that_need_them(fair_play_one_val: Path, tmp_path: Path) -> None:
    info = open_binaural_dataset(fair_play_one_val)
    assert len(BinauralClips(info, "val")) == 1 and "neg_mono" not in BinauralClips(info, "val")[0]
    with pytest.raises(SimkitError, match=r"split val of .*fair-play \(protocol default\) has 1 clip"):
        BinauralClips(info, "val", negatives=True)
    results = tmp_path / "results"
    proc = simkit("bench", "--task", "binauralize", "--model", "mono_copy", "--quick", "--device", "cpu",
                  "--data", fair_play_one_val, "--results", results)
    assert proc.returncode == 0, proc.stderr
    rows = read_leaderboard(results / "leaderboard.csv")
    scored = {(r["split"], int(r["n_samples"])) for r in rows if r["metric"] == "stft_distance"}
    assert scored == {("val", 1), ("test", 1)}
    # a model whose losses score mismatched pairs still cannot use a one-clip split: one line naming it,
    # before any run (no run directory, the leaderboard untouched)
    before = (results / "leaderboard.csv").read_bytes()
    proc = simkit("bench", "--task", "av_localize", "--model", "clup_loc", "--quick", "--device", "cpu",
                  "--data", fair_play_one_val, "--results", results)
    line = error_line(proc)
    assert "clup_loc" in line and "split val" in line and str(fair_play_one_val) in line
    assert "negative pairs need at least 2" in line
    assert (results / "leaderboard.csv").read_bytes() == before
    assert len(list((results / "runs").iterdir())) == 1


def test_unlabelled_val_is_left_out_labelled_test_scored(sets: dict[str, Path], tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = simkit("bench", "--model", "iid", "--quick", "--device", "cpu", "--data", sets["unlabelled_val"],
                  "--results", results)
    assert proc.returncode == 0, proc.stderr
    rows = read_leaderboard(results / "leaderboard.csv")
    assert {r["split"] for r in rows} == {"test"}  # no NaN val rows
    assert all(np.isfinite(float(r["value"])) for r in rows if r["metric"] == "lr_accuracy")
    assert "val: no labels in this dataset, not scored" in proc.stderr
