"""Leaderboard schema, concurrent appends, malformed files, pivot and the ``simkit leaderboard`` command."""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import SIMKIT

from simkit.bench.leaderboard import (
    LEGACY_METRIC_NAMES,
    METRIC_VARIANTS,
    REFERENCE_FILES,
    REFERENCE_ROWS,
    append_rows,
    format_pivot,
    metric_variant,
    pivot,
    read_leaderboard,
    with_references,
)
from simkit.bench.schema import FIELDNAMES, LEGACY_FIELDNAMES, format_row
from simkit.errors import SimkitError
from simkit.metrics.binaural import VARIANTS


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


# --- metric variants (issue 17): a binaural metric's name is its variant -------------------------------------


def _bin_row(run_id: str, model: str, metric: str, value: float, higher: bool, unit: str, **extra) -> dict:
    return {**row(run_id, model, metric, value, higher, dataset="fp", unit=unit, **extra), "task": "binauralize"}


def _write_legacy(path: Path, rows: list[dict], fields: tuple[str, ...] = LEGACY_FIELDNAMES) -> str:
    """A leaderboard as an older simkit wrote it: the given header (default: the 23 fields before the protocol
    column) and the old binaural metric names, byte for byte."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(format_row(r) for r in rows)
    return path.read_text()


def _legacy_rows() -> list[dict]:
    return [
        _bin_row("old1", "mono_copy", "wav_l2", 9.0, False, "1e-3 amplitude^2"),
        _bin_row("old1", "mono_copy", "snr_db", 3.0, True, "dB"),
        _bin_row("old1", "mono_copy", "stft_distance", 1.5, False, "STFT units^2"),
        # a published number copied in under an old name: it never said which variant it is
        _bin_row("ref1", "CLUP", "wav_l2", 5.2, False, "1e-3 amplitude^2", is_reference=True, source="paper"),
    ]


def test_old_leaderboards_read_with_the_new_metric_names(tmp_path: Path) -> None:
    assert LEGACY_METRIC_NAMES == {"wav_l2": "wav_eq", "amp_l2": "amp_eq", "pha_l2": "pha_eq", "snr_db": "snr_eq"}
    old23, old24 = tmp_path / "old23.csv", tmp_path / "old24.csv"
    assert len(LEGACY_FIELDNAMES) == 23
    _write_legacy(old23, _legacy_rows())
    text24 = _write_legacy(old24, _legacy_rows(), FIELDNAMES)
    for path in (old23, old24):
        got = [(r["run_id"], r["metric"]) for r in read_leaderboard(path)]
        assert got == [("old1", "wav_eq"), ("old1", "snr_eq"), ("old1", "stft_distance"), ("ref1", "wav_unknown")]
    assert old24.read_text() == text24  # reading never rewrites the file
    # --metric with an old name asks for the variant simkit computed under it
    p = pivot(read_leaderboard(old24), metrics=["snr_db", "wav_l2"])
    assert p.metrics == ["snr_eq", "wav_eq"] and p.rows[0].cells["snr_eq"].value == 3.0
    # the 23-field file is rewritten whole on its next append (protocol column): the old names go with it
    append_rows(old23, [_bin_row("new1", "mono_copy", "snr_eq", 4.0, True, "dB")])
    assert "snr_db" not in old23.read_text() and "wav_l2" not in old23.read_text()
    assert [r["metric"] for r in read_leaderboard(old23)] == ["wav_eq", "snr_eq", "stft_distance", "wav_unknown",
                                                               "snr_eq"]


def test_reference_rows_each_carry_a_known_variant_or_unknown() -> None:
    issue_variants = {"stft_distance", "env_distance", "mag_distance", "dphase", "snr_pb", "wav_ccs", "amp_ccs",
                      "pha_ccs", "wav_eq", "amp_eq", "pha_eq", "snr_eq"}
    # the issue's twelve, plus CCStereo's zero-padded librosa metrics (its padding differs from 2.5D's) and
    # simkit's unnormalised STFT distance and L - R correlation (issue 21; no paper reports them)
    assert set(METRIC_VARIANTS) == issue_variants | {"stft_distance_ccs", "mag_distance_ccs", "dphase_ccs",
                                                     "stft_distance_raw", "diff_corr"}
    assert set(METRIC_VARIANTS) == set(VARIANTS)  # every registered variant has its legend entry
    binaural = [r for p in REFERENCE_FILES for r in read_leaderboard(p) if r["task"] == "binauralize"]
    assert binaural
    for r in binaural:
        assert metric_variant(r["metric"]) is not None, (r["run_id"], r["metric"])
    # the shipped files carry the names themselves (they do not lean on the legacy mapping)
    raw = {c["metric"] for p in REFERENCE_FILES for c in csv.DictReader(p.open(newline="", encoding="utf-8"))}
    assert not raw & set(LEGACY_METRIC_NAMES)
    clup = {r["metric"]: r for r in binaural if r["model"] == "CLUP" and r["dataset"] == "FAIR-Play (10 splits)"}
    # CLUP's supplement gives only the literal equations: its WAV and SNR variants cannot be told
    assert metric_variant("wav_unknown") == metric_variant("snr_unknown") == "unknown"
    assert {"wav_unknown", "snr_unknown"} <= set(clup) and clup["snr_unknown"]["value"] == pytest.approx(7.546)
    pb = [r for r in binaural if r["run_id"].startswith("ref-xu2021-t1-")]
    by_run: dict[str, set[str]] = {}
    for r in pb:
        by_run.setdefault(r["run_id"], set()).add(r["metric"])
    assert len(by_run) == 5  # PseudoBinaural Table 1, FAIR-Play: every row has all five columns
    assert all(m == {"stft_distance", "env_distance", "mag_distance", "dphase", "snr_pb"} for m in by_run.values())
    snr = {r["model"]: r for r in pb if r["metric"] == "snr_pb"}
    assert snr["PseudoBinaural"]["value"] == pytest.approx(5.124) and snr["PseudoBinaural"]["higher_is_better"]
    assert metric_variant("snr_pb").startswith("PseudoBinaural")
    assert metric_variant("lr_accuracy") is None  # direction metrics have one definition


def test_rows_of_different_variants_are_never_ranked_together(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    _write_legacy(old, _legacy_rows(), FIELDNAMES)
    rows = read_leaderboard(old)
    new = tmp_path / "new.csv"
    append_rows(new, [
        _bin_row("n1", "clup", "snr_eq", 2.0, True, "dB"),  # same variant as the old snr_db: ranked with it
        _bin_row("n1", "clup", "wav_eq", 4.0, False, "1e-3 amplitude^2"),  # beats the CLUP paper's 5.2? never compared
        _bin_row("n1", "clup", "snr_pb", 25.0, True, "dB"),  # another SNR variant: its own column
    ])
    rows += read_leaderboard(new)
    p = pivot(rows, task="binauralize")
    assert p.metrics == ["snr_eq", "snr_pb", "stft_distance", "wav_eq", "wav_unknown"]
    by = {r.label: r for r in p.rows}
    old_m, new_m, paper = by["mono_copy"], by["clup"], by["CLUP (paper)"]
    assert old_m.cells["snr_eq"].best and not new_m.cells["snr_eq"].best  # 3.0 dB > 2.0 dB, one variant
    assert new_m.cells["wav_eq"].best and not old_m.cells["wav_eq"].best  # 4.0 < 9.0
    # the paper's WAV (variant unknown) is in its own column, best there, and not against simkit's wav_eq
    assert set(paper.cells) == {"wav_unknown"} and paper.cells["wav_unknown"].best
    assert new_m.cells["snr_pb"].best and "snr_pb" not in old_m.cells
    text = format_pivot(p, "table")
    assert "wav_unknown (1e-3 amplitude^2) ↓" in text and "wav_eq (1e-3 amplitude^2) ↓" in text
    rows_csv = list(csv.DictReader(format_pivot(p, "csv").splitlines()))
    paper_csv = next(r for r in rows_csv if r["is_reference"] == "true")
    assert paper_csv["best_in"] == "wav_unknown" and paper_csv["wav_eq"] == ""


def test_leaderboard_cli_shows_the_variant(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    _write_legacy(old, _legacy_rows())
    proc = subprocess.run([SIMKIT, "leaderboard", str(old), "--task", "binauralize"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "snr_db" not in out and "wav_l2" not in out  # old names shown as the new ones
    assert "snr_eq (dB) ↑" in out and "wav_eq (1e-3 amplitude^2) ↓" in out
    legend = out[out.index("metric variants"):]
    for line in ("wav_eq = WAV as CLUP supp. eq. 6, literal", "snr_eq = SNR as CLUP supp. eq. 9, literal",
                 "wav_unknown = WAV, variant unknown", "snr_unknown = SNR, variant unknown",
                 "mag_distance = Mag as PseudoBinaural evaluate.py", "dphase = D-phase as PseudoBinaural",
                 "snr_pb = SNR as PseudoBinaural", "stft_distance = STFT as 2.5D Visual Sound evaluate.py"):
        assert line in legend, line
    # the shipped rows: CLUP's WAV under wav_unknown, PseudoBinaural's SNR under snr_pb
    header = out.splitlines()[0].split("  ")
    assert any(h.startswith("snr_pb (dB)") for h in header)
    proc = subprocess.run([SIMKIT, "leaderboard", str(old), "--task", "binauralize", "--format", "markdown",
                           "--metric", "snr_db"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("| dataset | model | snr_eq (dB) ↑ |\n")  # no other SNR variant mixed in
    assert "- snr_eq = SNR as CLUP supp. eq. 9, literal" in proc.stdout
