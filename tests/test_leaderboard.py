"""Leaderboard schema, concurrent appends, malformed files, pivot and the ``simkit leaderboard`` command."""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import sys
from pathlib import Path

import pytest

from simkit.bench.leaderboard import (
    REFERENCE_FILES,
    REFERENCE_ROWS,
    append_rows,
    format_pivot,
    pivot,
    read_leaderboard,
    with_references,
)
from simkit.bench.schema import FIELDNAMES
from simkit.errors import SimkitError


def row(
    run_id: str,
    model: str,
    metric: str,
    value: float,
    higher: bool = True,
    split: str = "test",
    dataset: str = "d1",
    unit: str = "fraction",
    **extra,
) -> dict:
    return {
        "run_id": run_id,
        "timestamp_utc": "2026-01-02T03:04:05Z",
        "model": model,
        "task": "direction",
        "dataset": dataset,
        "split": split,
        "metric": metric,
        "value": value,
        "unit": unit,
        "higher_is_better": higher,
        "n_samples": 10,
        "seed": 0,
        "is_reference": False,
        "source": "simkit bench",
        **extra,
    }


def test_append_creates_header_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "lb" / "leaderboard.csv"
    assert (
        append_rows(
            path,
            [
                row("r1", "iid", "lr_accuracy", 0.75),
                row("r1", "iid", "angle_error_mean", float("nan"), higher=False),
            ],
        )
        == 2
    )
    assert append_rows(path, [row("r2", "slfm", "lr_accuracy", 0.5, params=123, train_seconds=1.5)]) == 1
    with open(path, newline="") as f:
        assert tuple(next(csv.reader(f))) == FIELDNAMES
    rows = read_leaderboard(path)
    assert [r["run_id"] for r in rows] == ["r1", "r1", "r2"]
    assert rows[0]["value"] == 0.75 and rows[0]["higher_is_better"] is True and rows[0]["n_samples"] == 10
    assert math.isnan(rows[1]["value"]) and rows[1]["higher_is_better"] is False
    assert rows[2]["params"] == 123 and rows[2]["git_commit"] is None


def test_invalid_row_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.csv"
    with pytest.raises(ValueError, match="empty model"):
        append_rows(path, [row("r1", "", "lr_accuracy", 0.5)])
    assert not path.exists()


def _appender(path: str, tag: str, n: int) -> None:
    for i in range(n):
        append_rows(path, [row(f"{tag}-{i}", tag, "lr_accuracy", i / n)])


def test_two_concurrent_appenders_lose_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.csv"
    ctx = mp.get_context("spawn" if sys.platform == "darwin" else "fork")
    procs = [ctx.Process(target=_appender, args=(str(path), tag, 50)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = [r["run_id"] for r in read_leaderboard(path)]
    assert len(ids) == 100
    assert set(ids) == {f"{t}-{i}" for t in "ab" for i in range(50)}
    assert path.read_text().count("run_id,") == 1  # one header


def test_malformed_file_is_reported_with_line_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.csv"
    append_rows(path, [row("r1", "iid", "lr_accuracy", 0.7), row("r2", "iid", "lr_accuracy", 0.8)])
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("0.8", "zero-point-eight")
    broken = "".join(lines)
    path.write_text(broken)
    with pytest.raises(SimkitError, match=r"leaderboard\.csv:3: value is not a valid float"):
        append_rows(path, [row("r3", "iid", "lr_accuracy", 0.9)])
    assert path.read_text() == broken
    path.write_text("a,b\n1,2\n")
    with pytest.raises(SimkitError, match=r"leaderboard\.csv:1: header"):
        read_leaderboard(path)
    path.write_text(broken.splitlines(keepends=True)[0] + "x,y\n")
    with pytest.raises(SimkitError, match=r":2: 2 fields"):
        read_leaderboard(path)


def test_reference_rows_follow_the_schema() -> None:
    rows = read_leaderboard(REFERENCE_ROWS)
    assert rows and all(r["is_reference"] for r in rows)
    assert all("CVPR 2025" in r["source"] for r in rows)
    sim = [r for r in rows if r["dataset"].startswith("Simulated")]
    assert sim[0]["metric"] == "lr_accuracy" and sim[0]["value"] == pytest.approx(0.974)


def _board() -> list[dict]:
    rows = [
        row("a1", "ours_full", "lr_accuracy", 0.80),
        row("a1", "ours_full", "angle_error_mean", 30.0, False, unit="deg"),
        row("a2", "ours_full", "lr_accuracy", 0.90),
        row("a2", "ours_full", "angle_error_mean", 40.0, False, unit="deg"),
        row("b1", "iid", "lr_accuracy", 0.85),
        row("b1", "iid", "angle_error_mean", 45.0, False, unit="deg"),
        row("b1", "iid", "lr_accuracy", 0.10, split="val"),
        row("ref", "iid", "lr_accuracy", 0.974, dataset="paper-sim", is_reference=True, source="paper"),
    ]
    from simkit.bench.schema import format_row, parse_row

    return [parse_row(format_row(r)) for r in rows]


def test_pivot_best_run_per_model_and_best_marks() -> None:
    p = pivot(_board(), task="direction")
    by = {(r.dataset, r.label): r for r in p.rows}
    ours = by[("d1", "ours_full")]
    # best run on lr_accuracy is a2: its own angle error comes with it
    assert ours.cells["lr_accuracy"].value == 0.90 and ours.cells["angle_error_mean"].value == 40.0
    assert ours.cells["lr_accuracy"].best
    iid = by[("d1", "iid")]
    assert iid.cells["lr_accuracy"].value == 0.85  # the val row is not mixed in
    assert (
        not iid.cells["angle_error_mean"].best and ours.cells["angle_error_mean"].best
    )  # 40 < 45, lower wins
    assert by[("paper-sim", "iid (paper)")].cells["lr_accuracy"].best  # best within its own dataset


def test_pivot_mean_and_formats(tmp_path: Path) -> None:
    p = pivot(_board(), aggregate="mean", metrics=["lr_accuracy"])
    ours = next(r for r in p.rows if r.model == "ours_full")
    assert ours.cells["lr_accuracy"].value == pytest.approx(0.85)
    assert ours.cells["lr_accuracy"].std == pytest.approx(math.sqrt(0.005))
    assert ours.cells["lr_accuracy"].n_runs == 2
    table = format_pivot(p, "table")
    assert "0.850 ± 0.071" in table and "iid (paper)" in table
    md = format_pivot(p, "markdown")
    assert md.startswith("| dataset | model |") and "**0.974**" in md
    rows = list(csv.DictReader(format_pivot(p, "csv").splitlines()))
    assert {r["model"] for r in rows} == {"ours_full", "iid"} and "lr_accuracy_std" in rows[0]
    with pytest.raises(SimkitError, match="no leaderboard rows match"):
        pivot(_board(), dataset="nope")
    with pytest.raises(SimkitError, match="--aggregate"):
        pivot(_board(), aggregate="median")


def test_leaderboard_cli_table_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from simkit.cli import main

    path = tmp_path / "leaderboard.csv"
    append_rows(path, [row("r1", "iid", "lr_accuracy", 0.7), row("r2", "gcc_phat", "lr_accuracy", 0.6)])
    png = tmp_path / "lb.png"
    monkeypatch.setattr(
        sys, "argv", ["simkit", "leaderboard", str(path), "--plot", str(png), "--format", "markdown"]
    )
    main()
    out = capsys.readouterr().out
    assert "| d1 | iid | - | **0.700** |" in out and "(paper)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    path.write_text(path.read_text() + "garbage\n")
    monkeypatch.setattr(sys, "argv", ["simkit", "leaderboard", str(path)])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    assert f"error: {path}:4: 1 fields" in capsys.readouterr().err


def test_reference_files_cover_both_benchmarks() -> None:
    tasks = {r["task"] for p in REFERENCE_FILES for r in read_leaderboard(p)}
    assert {"direction", "binauralize", "av_localize"} <= tasks
    own = [row("r1", "iid", "lr_accuracy", 0.7)]
    # without --task: the references of the tasks the leaderboard holds (a direction board gets no CLUP rows)
    assert {r["task"] for r in with_references(own)} == {"direction"}
    added = with_references(own, task="binauralize")
    assert added[0] is own[0] and {r["task"] for r in added[1:]} == {"binauralize"}
    assert with_references(own, exclude=[REFERENCE_ROWS]) == own


def test_leaderboard_cli_shows_binaural_references(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from simkit.cli import main

    path = tmp_path / "leaderboard.csv"
    bin_row = {**row("b1", "mono2binaural", "stft_distance", 2.7, False, unit="STFT units^2"), "task": "binauralize"}
    append_rows(path, [row("r1", "iid", "lr_accuracy", 0.7), bin_row])
    monkeypatch.setattr(sys, "argv", ["simkit", "leaderboard", str(path), "--task", "binauralize"])
    main()
    out = capsys.readouterr().out
    assert "mono2binaural" in out and "CLUP (paper)" in out and "0.787" in out and "iid" not in out
    monkeypatch.setattr(
        sys, "argv", ["simkit", "leaderboard", str(path), "--task", "binauralize", "--dataset", "d1"]
    )
    main()
    out = capsys.readouterr().out
    assert "mono2binaural" in out and "CLUP" not in out  # --dataset filters the references too
    # nothing benched yet: --task shows the published rows alone
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["simkit", "leaderboard", "--task", "av_localize", "--format", "csv"])
    main()
    captured = capsys.readouterr()
    assert "showing the published reference rows of av_localize only" in captured.err
    assert {r["model"] for r in csv.DictReader(captured.out.splitlines())} >= {"CLUP"}
