"""The scripts of examples/ run as a user runs them (subprocess, the suite's python) on small settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "prepare_and_read.py", "render_and_look.py", "train_your_own.py"]


def test_render_and_look(tmp_path: Path) -> None:
    out = run_example("render_and_look.py", "--out", str(tmp_path))
    assert "direction/train: 3 items" in out  # 1 train scene x 1 view set x 3 sources
    assert "audio            (4, 2, 40800)" in out  # V=4 views, 2 ears, 2.55 s at 16 kHz
    png = tmp_path / "item.png"
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_your_own(tmp_path: Path, tiny_render: Path) -> None:
    out = run_example("train_your_own.py", "--out", str(tmp_path), "--data", str(tiny_render), "--epochs", "3")
    assert "test: " in out and "lr_accuracy" in out
    from simkit.bench.leaderboard import read_leaderboard

    rows = read_leaderboard(tmp_path / "results" / "leaderboard.csv")
    assert {r["model"] for r in rows} == {"my_model", "iid"}
    mine = [r for r in rows if r["model"] == "my_model"]
    iid = [r for r in rows if r["model"] == "iid"]
    assert {r["dataset"] for r in mine} == {r["dataset"] for r in iid}  # one leaderboard block
    assert {r["metric"] for r in mine} >= {"lr_accuracy", "angle_error_mean"}
    assert all(r["split"] == "test" and not r["is_reference"] and r["epochs"] == 3 for r in mine)
    # the CLI shows the row
    cli = subprocess.run([sys.executable, "-m", "simkit", "leaderboard", str(tmp_path / "results" / "leaderboard.csv"),
                          "--no-references"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)})
    assert cli.returncode == 0, cli.stderr
    assert "my_model" in cli.stdout and "iid" in cli.stdout


def test_prepare_and_read(tmp_path: Path) -> None:
    out = run_example("prepare_and_read.py", "--out", str(tmp_path))
    assert "prepared 6 shards" in out
    assert "binauralize/train: 4 clips" in out and "binauralize/test: 1 clips" in out
    assert "louder ear: left" in out  # clip 000001 is left-louder in the stand-in


@pytest.mark.parametrize("name", ["render_and_look.py", "train_your_own.py", "prepare_and_read.py"])
def test_example_help(name: str) -> None:
    assert "--out" in run_example(name, "--help")
