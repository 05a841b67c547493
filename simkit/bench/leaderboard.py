"""The leaderboard: a tidy CSV appended by every bench run, and the model x metric pivot shown to people.

Appends take a file lock (``<csv>.lock``) around read-validate-append so concurrent benches never lose or
interleave rows; the new rows are written in full, fsynced and read back, and a failed append cuts the file
back to what it was. A malformed file is reported (file and line) and never rewritten.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from simkit.bench.schema import FIELDNAMES, format_row, parse_row, validate_cells
from simkit.errors import SimkitError
from simkit.io import atomic_write_bytes, output_error, write_all

LOCK_TIMEOUT_S = 120.0
# The papers' published rows in the leaderboard schema, shipped inside the package (wheels included).
_REFERENCES = Path(__file__).resolve().parent / "references"
REFERENCE_ROWS = _REFERENCES / "direction.csv"  # direction (seed 000)
# Every file of published reference rows `simkit leaderboard` adds.
REFERENCE_FILES: tuple[Path, ...] = (REFERENCE_ROWS, _REFERENCES / "binaural.csv")


def _rows_text(cells: Sequence[Mapping[str, str]], header: bool) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDNAMES, lineterminator="\n")
    if header:
        w.writeheader()
    w.writerows(cells)
    return buf.getvalue()


def read_leaderboard(path: Path | str) -> list[dict[str, Any]]:
    """Typed rows of a leaderboard CSV; SimkitError naming file and line when it does not match the schema."""
    path = Path(path)
    if not path.is_file():
        raise SimkitError(f"leaderboard {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SimkitError(f"{path}: not UTF-8 text ({e.reason})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise SimkitError(f"{path}:1: empty file, expected the leaderboard header") from None
    except csv.Error as e:
        raise SimkitError(f"{path}:1: malformed CSV ({e})") from None
    if tuple(header) != FIELDNAMES:
        raise SimkitError(
            f"{path}:1: header does not match the leaderboard schema (columns {', '.join(FIELDNAMES)})"
        )
    rows = []
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise SimkitError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
        if not cells:
            continue
        if len(cells) != len(FIELDNAMES):
            raise SimkitError(f"{path}:{reader.line_num}: {len(cells)} fields, expected {len(FIELDNAMES)}")
        row = dict(zip(FIELDNAMES, cells, strict=True))
        problem = validate_cells(row)
        if problem:
            raise SimkitError(f"{path}:{reader.line_num}: {problem}")
        rows.append(parse_row(row))
    if text and not text.endswith("\n"):
        raise SimkitError(f"{path}:{reader.line_num}: last line is not terminated (interrupted write?)")
    return rows


def check_appendable(path: Path | str) -> None:
    """Refuse, before any training, a leaderboard that a run could not append to: malformed, or in a
    directory that cannot be written. A missing file is fine (the first append creates it)."""
    path = Path(path)
    if path.exists():
        if path.stat().st_size > 0:
            read_leaderboard(path)
        if not os.access(path, os.W_OK):
            raise SimkitError(f"leaderboard {path} is not writable")


def _append_checked(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path``: every byte written, fsynced and read back; on any failure the file is cut
    back to its old length, so a full disk never leaves half a row."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        try:
            write_all(fd, data)
            os.fsync(fd)
            if os.pread(fd, len(data) + 1, size) != data:
                raise OSError(errno.EIO, "appended rows did not read back")
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
            raise output_error(path, e) from None
    finally:
        os.close(fd)


def append_rows(path: Path | str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Append ``rows`` to the leaderboard at ``path`` (created with a header if absent); returns the count.

    Under the lock the file is validated, the rows appended in full, fsynced and read back; a failed write
    leaves the file exactly as it was (:class:`OutputError`).
    """
    path = Path(path)
    cells = [format_row(r) for r in rows]
    for c in cells:
        problem = validate_cells(c)
        if problem:
            raise ValueError(f"refusing to write an invalid leaderboard row: {problem}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            if path.exists() and path.stat().st_size > 0:
                read_leaderboard(path)  # never append to (or rewrite) a file that is already broken
                _append_checked(path, _rows_text(cells, header=False).encode())
            else:
                atomic_write_bytes(path, _rows_text(cells, header=True).encode())
    except Timeout:
        raise SimkitError(
            f"could not lock {path}.lock within {LOCK_TIMEOUT_S:g} s (another bench stuck?)"
        ) from None
    except OSError as e:  # the lock file itself on a full or read-only disk
        raise output_error(path, e) from None
    return len(cells)


def read_many(paths: Sequence[Path | str]) -> list[dict[str, Any]]:
    """Rows of several leaderboard files, concatenated."""
    out: list[dict[str, Any]] = []
    for p in paths:
        out.extend(read_leaderboard(p))
    return out


def with_references(
    rows: Sequence[Mapping[str, Any]],
    task: str | None = None,
    files: Sequence[Path | str] | None = None,
    exclude: Sequence[Path | str] = (),
) -> list[dict[str, Any]]:
    """``rows`` plus the published reference rows of ``files`` (default :data:`REFERENCE_FILES`, those that
    exist; ``exclude``: files already among ``rows``) for ``task``, or, without a task, for the tasks that
    ``rows`` hold - so a direction leaderboard does not grow binaural reference rows and vice versa.
    """
    skip = {Path(p).resolve() for p in exclude}
    paths = [Path(p) for p in (REFERENCE_FILES if files is None else files)]
    refs = read_many([p for p in paths if p.is_file() and p.resolve() not in skip])
    tasks = {task} if task else {r["task"] for r in rows}
    return [*rows, *(r for r in refs if r["task"] in tasks)]


@dataclass
class Cell:
    """One pivot cell: the value (best run's, or mean), its std over runs and how many runs fed it."""

    value: float
    std: float = float("nan")
    n_runs: int = 1
    best: bool = False


@dataclass
class PivotRow:
    dataset: str
    model: str
    is_reference: bool
    source: str
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.model} (paper)" if self.is_reference else self.model


@dataclass
class Pivot:
    """Model x metric table; ``rows`` are ordered by dataset, reproductions before references."""

    metrics: list[str]
    higher_is_better: dict[str, bool]
    units: dict[str, str]
    rows: list[PivotRow]
    aggregate: str
    split: str


def pivot(
    rows: Sequence[Mapping[str, Any]],
    *,
    task: str | None = None,
    dataset: str | None = None,
    metrics: Sequence[str] | None = None,
    split: str = "test",
    aggregate: str = "best",
    primary: str | None = None,
) -> Pivot:
    """Pivot leaderboard rows into model x metric.

    ``aggregate="best"``: per (dataset, model) the run that is best on ``primary`` (default: the first
    requested metric, else ``lr_accuracy`` when present, else the first metric), all its metrics shown.
    ``aggregate="mean"``: mean and standard deviation over runs (e.g. seeds) of each metric.
    The best value of each metric within a dataset is flagged (direction from ``higher_is_better``).
    """
    if aggregate not in ("best", "mean"):
        raise SimkitError(f"--aggregate must be best or mean (got {aggregate!r})")
    sel = [
        r
        for r in rows
        if r["split"] == split
        and (task is None or r["task"] == task)
        and (dataset is None or r["dataset"] == dataset)
        and (not metrics or r["metric"] in metrics)
    ]
    if not sel:
        what = ", ".join(
            f"{k}={v}"
            for k, v in (
                ("task", task),
                ("dataset", dataset),
                ("metric", ",".join(metrics or [])),
                ("split", split),
            )
            if v
        )
        raise SimkitError(f"no leaderboard rows match {what}")
    higher = {r["metric"]: bool(r["higher_is_better"]) for r in sel}
    units = {r["metric"]: r["unit"] for r in sel}
    metric_names = list(metrics) if metrics else sorted(higher)
    metric_names = [m for m in metric_names if m in higher]
    # group -> run_id -> metric -> value
    runs: dict[tuple[str, str, bool], dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    sources: dict[tuple[str, str, bool], str] = {}
    for r in sel:
        key = (r["dataset"], r["model"], bool(r["is_reference"]))
        runs[key][r["run_id"]][r["metric"]] = float(r["value"])
        sources[key] = r["source"]
    if primary is None:
        primary = (
            metric_names[0] if metrics else ("lr_accuracy" if "lr_accuracy" in higher else metric_names[0])
        )
    out_rows = []
    for key in sorted(runs, key=lambda k: (k[0], k[2], k[1])):
        by_run = runs[key]
        prow = PivotRow(key[0], key[1], key[2], sources[key])
        if aggregate == "best":
            best_run = _best_run(by_run, primary, higher.get(primary, True))
            for m, v in by_run[best_run].items():
                prow.cells[m] = Cell(v, n_runs=len(by_run))
        else:
            for m in metric_names:
                vals = [v[m] for v in by_run.values() if m in v and math.isfinite(v[m])]
                if vals:
                    mean = sum(vals) / len(vals)
                    std = (
                        math.sqrt(sum((x - mean) ** 2 for x in vals) / (len(vals) - 1))
                        if len(vals) > 1
                        else 0.0
                    )
                    prow.cells[m] = Cell(mean, std, len(vals))
        out_rows.append(prow)
    for ds in {r.dataset for r in out_rows}:
        for m in metric_names:
            cand = [
                r.cells[m]
                for r in out_rows
                if r.dataset == ds and m in r.cells and math.isfinite(r.cells[m].value)
            ]
            if cand:
                best = max(c.value for c in cand) if higher[m] else min(c.value for c in cand)
                for c in cand:
                    c.best = c.value == best
    return Pivot(metric_names, higher, units, out_rows, aggregate, split)


def _best_run(by_run: Mapping[str, Mapping[str, float]], primary: str, higher: bool) -> str:
    def score(run: str) -> float:
        v = by_run[run].get(primary, float("nan"))
        if not math.isfinite(v):
            return -math.inf
        return v if higher else -v

    return max(sorted(by_run), key=score)


def _fmt(cell: Cell | None, unit: str, aggregate: str) -> str:
    if cell is None or not math.isfinite(cell.value):
        return "-"
    digits = 1 if unit == "deg" else 3
    text = f"{cell.value:.{digits}f}"
    if aggregate == "mean" and cell.n_runs > 1:
        text += f" ± {cell.std:.{digits}f}"
    return text


def format_pivot(p: Pivot, fmt: str = "table") -> str:
    """The pivot as an aligned text table (best marked ``*``), CSV, or Markdown (best in bold)."""
    arrows = {m: ("↑" if p.higher_is_better[m] else "↓") for m in p.metrics}
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        head = ["dataset", "model", "is_reference", "source", "n_runs"]
        for m in p.metrics:
            head += [m] + ([f"{m}_std"] if p.aggregate == "mean" else [])
        w.writerow(head + ["best_in"])
        for r in p.rows:
            line: list[Any] = [
                r.dataset,
                r.model,
                "true" if r.is_reference else "false",
                r.source,
                max((c.n_runs for c in r.cells.values()), default=0),
            ]
            for m in p.metrics:
                c = r.cells.get(m)
                line.append(repr(c.value) if c else "")
                if p.aggregate == "mean":
                    line.append(repr(c.std) if c else "")
            w.writerow(line + [";".join(m for m in p.metrics if m in r.cells and r.cells[m].best)])
        return buf.getvalue()
    if fmt not in ("table", "markdown"):
        raise SimkitError(f"--format must be table, csv or markdown (got {fmt!r})")
    header = ["dataset", "model"] + [f"{m} ({p.units[m]}) {arrows[m]}" for m in p.metrics]
    body = []
    for r in p.rows:
        line = [r.dataset, r.label]
        for m in p.metrics:
            c = r.cells.get(m)
            text = _fmt(c, p.units[m], p.aggregate)
            if c is not None and c.best:
                text = f"**{text}**" if fmt == "markdown" else f"{text} *"
            line.append(text)
        body.append(line)
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines) + "\n"
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = [
        "  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = f"split={p.split}, aggregate={p.aggregate}; * = best per dataset; (paper) = published reference"
    return "\n".join(lines) + "\n" + note + "\n"
