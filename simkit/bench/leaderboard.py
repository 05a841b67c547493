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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from simkit.bench.schema import FIELDNAMES, LEGACY_HEADERS, format_row, parse_row, validate_cells
from simkit.errors import SimkitError
from simkit.io import atomic_write_bytes, output_error, write_all
from simkit.metrics.binaural import OLD_METRIC_NAMES
from simkit.resources import reference_path

LOCK_TIMEOUT_S = 120.0
# The papers' published rows in the leaderboard schema, shipped inside the package (wheels included).
REFERENCE_ROWS = reference_path("direction.csv")  # direction (seed 000)
# Every file of published reference rows `simkit leaderboard` adds.
REFERENCE_FILES: tuple[Path, ...] = (REFERENCE_ROWS, reference_path("binaural.csv"))

# Binaural metrics: the metric name *is* the variant (the formula and the code it follows), so rows of
# different variants fall in different pivot columns and are never ranked together (docs/bench.md). The
# variants and the names of earlier simkit versions are simkit.metrics.binaural's.
LEGACY_METRIC_NAMES = OLD_METRIC_NAMES
UNKNOWN_VARIANT = "unknown"
# a binaural metric name's first word -> the quantity it measures
_QUANTITIES = {"stft": "STFT", "env": "ENV", "mag": "Mag", "dphase": "D-phase", "wav": "WAV", "amp": "AMP",
               "pha": "PHA", "snr": "SNR"}
# metric name -> (the quantity it measures, the source whose formula it follows), the legend's short form of
# each registered variant (simkit.metrics.binaural.VARIANTS holds the repository, commit, file and lines)
METRIC_VARIANTS: dict[str, tuple[str, str]] = {
    "stft_distance": ("STFT", "2.5D Visual Sound evaluate.py"),
    "env_distance": ("ENV", "2.5D Visual Sound evaluate.py"),
    "mag_distance": ("Mag", "PseudoBinaural evaluate.py"),
    "dphase": ("D-phase", "PseudoBinaural evaluate.py"),
    "snr_pb": ("SNR", "PseudoBinaural / CCStereo, joint over channels"),
    "wav_ccs": ("WAV", "CCStereo"),
    "amp_ccs": ("AMP", "CCStereo"),
    "pha_ccs": ("PHA", "CCStereo"),
    "stft_distance_ccs": ("STFT", "CCStereo (librosa 0.11: zero padding)"),
    "mag_distance_ccs": ("Mag", "CCStereo (librosa 0.11: zero padding)"),
    "dphase_ccs": ("D-phase", "CCStereo (librosa 0.11: zero padding)"),
    "wav_eq": ("WAV", "CLUP supp. eq. 6, literal"),
    "amp_eq": ("AMP", "CLUP supp. eq. 7, literal"),
    "pha_eq": ("PHA", "CLUP supp. eq. 8, literal"),
    "snr_eq": ("SNR", "CLUP supp. eq. 9, literal"),
    "stft_distance_raw": ("STFT", "2.5D Visual Sound evaluate.py without peak normalisation (simkit's; no paper)"),
    "diff_corr": ("L-R corr", "correlation of predicted with true L - R (simkit's; no paper)"),
}
# A published number whose paper does not let one tell the variant: metric `<quantity>_unknown`.
UNKNOWN_METRICS: dict[str, str] = {f"{prefix}_{UNKNOWN_VARIANT}": quantity for prefix, quantity in _QUANTITIES.items()}


def canonical_metric(name: str, is_reference: bool = False) -> str:
    """The current name of a metric read from a leaderboard: an old name becomes its CLUP-equation variant
    for simkit's rows (simkit computed it so) and ``<quantity>_unknown`` for a published row (a paper's number
    under an old name never said which variant it is); other names are returned unchanged."""
    if name not in LEGACY_METRIC_NAMES:
        return name
    return f"{name.split('_', 1)[0]}_{UNKNOWN_VARIANT}" if is_reference else LEGACY_METRIC_NAMES[name]


def metric_variant(name: str) -> str | None:
    """The variant a binaural metric name stands for: its source, ``"unknown"``, or None for a metric that
    has no variants (direction, localisation)."""
    if name in UNKNOWN_METRICS:
        return UNKNOWN_VARIANT
    return METRIC_VARIANTS[name][1] if name in METRIC_VARIANTS else None


def describe_variant(name: str) -> str | None:
    """One phrase for the leaderboard's legend, e.g. ``wav_unknown = WAV, variant unknown``; None when the
    metric has no variants."""
    if name in UNKNOWN_METRICS:
        return f"{name} = {UNKNOWN_METRICS[name]}, variant unknown (the source does not say)"
    if name in METRIC_VARIANTS:
        quantity, source = METRIC_VARIANTS[name]
        return f"{name} = {quantity} as {source}"
    return None


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
    names = tuple(header)
    if names != FIELDNAMES and names not in LEGACY_HEADERS:
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
        if len(cells) != len(names):
            raise SimkitError(f"{path}:{reader.line_num}: {len(cells)} fields, expected {len(names)}")
        # columns an older simkit did not write: empty (protocol: the default; selection: unrecorded)
        row = {**dict.fromkeys(FIELDNAMES[len(names):], ""), **dict(zip(names, cells, strict=True))}
        problem = validate_cells(row)
        if problem:
            raise SimkitError(f"{path}:{reader.line_num}: {problem}")
        typed = parse_row(row)
        typed["metric"] = canonical_metric(typed["metric"], bool(typed["is_reference"]))
        rows.append(typed)
    if text and not text.endswith("\n"):
        raise SimkitError(f"{path}:{reader.line_num}: last line is not terminated (interrupted write?)")
    return rows


def _is_legacy(path: Path) -> bool:
    with open(path, encoding="utf-8", newline="") as f:
        return tuple(next(csv.reader(f), [])) in LEGACY_HEADERS


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
                old = read_leaderboard(path)  # never append to (or rewrite) a file that is already broken
                if _is_legacy(path):  # written before the last columns: rewrite it whole, atomically
                    old_cells = [format_row(r) for r in old]
                    atomic_write_bytes(path, _rows_text([*old_cells, *cells], header=True).encode())
                else:
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


DEFAULT_LEADERBOARD = Path("results/leaderboard.csv")


def gather_rows(
    paths: Sequence[Path | str] | None,
    task: str | None = None,
    references: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """The rows ``simkit leaderboard`` shows: those of ``paths`` (default :data:`DEFAULT_LEADERBOARD`) plus,
    with ``references``, the published rows of ``task`` (or of the tasks read). A missing file is an error,
    except the default one when references of a ``task`` are asked for: nothing benched yet, so the
    published rows alone are shown (and ``log`` says so)."""
    given = list(paths or [])
    files = [Path(p) for p in given] or [DEFAULT_LEADERBOARD]
    for p in files:
        if not p.is_file():
            if not given and references and task:
                if log is not None:
                    log(f"{p} does not exist: showing the published reference rows of {task} only")
                files = []
                break
            raise SimkitError(f"leaderboard {p} does not exist (run `simkit bench` first)")
    rows = read_many(files)
    if references:
        rows = with_references(rows, task=task, exclude=files)
    return rows


def ranking_metric(rows: Sequence[Mapping[str, Any]], task: str | None = None) -> str | None:
    """The metric that picks each model's best run when no ``--metric`` is given: the selection metric of the
    task shown, when exactly one (registered) task is; None otherwise (:func:`pivot` then uses its default)."""
    from simkit.bench.tasks import TASKS, load_builtin

    load_builtin()
    tasks = {r["task"] for r in rows if task is None or r["task"] == task}
    if len(tasks) == 1 and next(iter(tasks)) in TASKS:
        return TASKS.get(next(iter(tasks))).select_metric
    return None


@dataclass
class Cell:
    """One pivot cell: the value (best run's, or mean), its std over runs and how many runs fed it."""

    value: float
    std: float = float("nan")
    n_runs: int = 1
    best: bool = False
    # an image-ablated row: its value minus that of the same model's row with real images (nan: none)
    delta: float = float("nan")


@dataclass
class PivotRow:
    dataset: str
    model: str
    is_reference: bool
    source: str
    cells: dict[str, Cell] = field(default_factory=dict)
    protocol: str = ""  # the protocol, or the family whose members' scores the cells average
    n_protocols: int = 1
    select_metric: str = ""  # what picked the runs' checkpoints ("" = untrained, reference or unrecorded)
    label_selected: bool = False  # a self-supervised model picked on labels: ranked apart
    tag: str = ""  # told apart from another row of the same model (its selection)
    recipe: str = ""  # the training recipe (reference rows: "paper", the authors' own); "" = unrecorded
    ablate_image: str = ""  # "" real images, or the vision-ablation control (shuffle | blank)

    @property
    def label(self) -> str:
        base = f"{self.model} (paper)" if self.is_reference else self.model
        if self.label_selected:
            base += f" [selected on labels: {self.select_metric}]"
        if self.ablate_image:
            base += f" [image {ABLATION_WORDS.get(self.ablate_image, self.ablate_image)}]"
        return base + self.tag


# how an ablated row's label names its control
ABLATION_WORDS = {"shuffle": "shuffled", "blank": "blanked"}


def recipe_group(row: Mapping[str, Any]) -> str:
    """The recipe a row is ranked within: its ``recipe`` column; a published reference row without one ranks
    with ``paper`` (the authors' own recipe); other rows without one (written before the column) stay apart
    as ``""`` (unrecorded)."""
    rec = row.get("recipe") or ""
    return rec or ("paper" if row.get("is_reference") else "")


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
    The best value of each metric within a dataset is flagged (direction from ``higher_is_better``). A
    binaural metric's name is its variant (:data:`METRIC_VARIANTS`, ``<quantity>_unknown``), so values of
    different variants sit in different columns and are never ranked against each other.
    """
    if aggregate not in ("best", "mean"):
        raise SimkitError(f"--aggregate must be best or mean (got {aggregate!r})")
    if metrics:  # an old name asks for the variant simkit computed under it
        metrics = list(dict.fromkeys(canonical_metric(m) for m in metrics))
    if primary is not None:
        primary = canonical_metric(primary)
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
    # group (dataset, protocol group, model, is_reference, select metric, label-selected, recipe, image
    # ablation) -> protocol -> run_id -> metric -> value: runs selected, trained or ablated differently are never
    # collapsed into one row
    Key = tuple[str, str, str, bool, str, bool, str, str]
    runs: dict[Key, dict[str, dict[str, dict[str, float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict)))
    sources: dict[Key, str] = {}
    for r in sel:
        proto = r.get("protocol") or ""
        key = (r["dataset"], protocol_group(proto), r["model"], bool(r["is_reference"]), r.get("select_metric") or "",
               bool(r.get("label_selected")), recipe_group(r), r.get("ablate_image") or "")
        runs[key][proto][r["run_id"]][r["metric"]] = float(r["value"])
        sources[key] = r["source"]
    if primary is None:
        primary = (
            metric_names[0] if metrics else ("lr_accuracy" if "lr_accuracy" in higher else metric_names[0])
        )
    out_rows = []
    # an ablated row sorts right after the same model's row with real images
    for key in sorted(runs, key=lambda k: (k[0], k[1], k[6], k[3], k[2], k[5], k[4], k[7])):
        by_proto = runs[key]
        prow = PivotRow(key[0], key[2], key[3], sources[key], protocol=key[1], n_protocols=len(by_proto),
                        select_metric=key[4], label_selected=key[5], recipe=key[6], ablate_image=key[7])
        if len(by_proto) > 1:
            # a protocol family: each protocol's best run (or mean over its runs), then mean ± std over protocols
            per_proto = [_collapse(by_run, aggregate, metric_names, primary, higher) for by_run in by_proto.values()]
            for m in metric_names:
                vals = [c[m].value for c in per_proto if m in c and math.isfinite(c[m].value)]
                if vals:
                    prow.cells[m] = Cell(*_mean_std(vals), len(vals))
        else:
            prow.cells = _collapse(next(iter(by_proto.values())), aggregate, metric_names, primary, higher)
        out_rows.append(prow)
    # one model's rows of different label-free selections (or an unrecorded one) get their selection as a tag
    seen = Counter((r.dataset, r.protocol, r.recipe, r.label) for r in out_rows)
    for r in out_rows:
        if seen[(r.dataset, r.protocol, r.recipe, r.label)] > 1:
            r.tag = f" [select {r.select_metric or 'unrecorded'}]"
    # an ablated row's cells carry their difference from the same model's real-image row
    real = {_twin(r): r for r in out_rows if not r.ablate_image}
    for r in out_rows:
        twin = real.get(_twin(r)) if r.ablate_image else None
        if twin is not None:
            for m, c in r.cells.items():
                if m in twin.cells:
                    c.delta = c.value - twin.cells[m].value
    # protocols are never ranked together, nor recipes, nor metric variants (each is its own column), nor
    # self-supervised models selected on labels with the rest; image-ablated rows are controls, never ranked
    for ds, grp, rec, lsel in {(r.dataset, r.protocol, r.recipe, r.label_selected) for r in out_rows}:
        for m in metric_names:
            cand = [
                r.cells[m]
                for r in out_rows
                if (r.dataset, r.protocol, r.recipe, r.label_selected) == (ds, grp, rec, lsel) and m in r.cells
                and math.isfinite(r.cells[m].value) and not r.ablate_image
            ]
            if cand:
                best = max(c.value for c in cand) if higher[m] else min(c.value for c in cand)
                for c in cand:
                    c.best = c.value == best
    return Pivot(metric_names, higher, units, out_rows, aggregate, split)


def _twin(r: PivotRow) -> tuple[Any, ...]:
    """What an ablated row and its real-image row share."""
    return (r.dataset, r.protocol, r.recipe, r.model, r.is_reference, r.select_metric, r.label_selected)


def protocol_group(protocol: str) -> str:
    """The rows a protocol is averaged and ranked with: its family (``fair-play/split3`` -> ``fair-play``), or
    the protocol itself."""
    return protocol.split("/", 1)[0] if "/" in protocol else protocol


def _mean_std(vals: list[float]) -> tuple[float, float]:
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((x - mean) ** 2 for x in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return mean, std


def _collapse(
    by_run: Mapping[str, Mapping[str, float]], aggregate: str, metric_names: Sequence[str], primary: str,
    higher: Mapping[str, bool],
) -> dict[str, Cell]:
    """Cells of one protocol's runs: the best run's (``best``) or the mean ± std over runs (``mean``)."""
    cells: dict[str, Cell] = {}
    if aggregate == "best":
        best_run = _best_run(by_run, primary, higher.get(primary, True))
        for m, v in by_run[best_run].items():
            cells[m] = Cell(v, n_runs=len(by_run))
    else:
        for m in metric_names:
            vals = [v[m] for v in by_run.values() if m in v and math.isfinite(v[m])]
            if vals:
                cells[m] = Cell(*_mean_std(vals), len(vals))
    return cells


def _best_run(by_run: Mapping[str, Mapping[str, float]], primary: str, higher: bool) -> str:
    def score(run: str) -> float:
        v = by_run[run].get(primary, float("nan"))
        if not math.isfinite(v):
            return -math.inf
        return v if higher else -v

    return max(sorted(by_run), key=score)


def _fmt(cell: Cell | None, unit: str, aggregate: str, family: bool = False) -> str:
    if cell is None or not math.isfinite(cell.value):
        return "-"
    digits = 1 if unit == "deg" else 3
    text = f"{cell.value:.{digits}f}"
    if (aggregate == "mean" and cell.n_runs > 1) or family:
        text += f" ± {cell.std:.{digits}f}"
    if math.isfinite(cell.delta):
        text += f" (Δ {cell.delta:+.{digits}f})"
    return text


def format_pivot(p: Pivot, fmt: str = "table") -> str:
    """The pivot as an aligned text table (best marked ``*``), CSV, or Markdown (best in bold)."""
    arrows = {m: ("↑" if p.higher_is_better[m] else "↓") for m in p.metrics}
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        head = ["dataset", "protocol", "model", "is_reference", "source", "n_runs", "n_protocols", "select_metric",
                "label_selected", "recipe", "ablate_image"]
        ablated = any(r.ablate_image for r in p.rows)
        for m in p.metrics:
            head += [m] + ([f"{m}_std"] if p.aggregate == "mean" else []) + ([f"{m}_image_delta"] if ablated else [])
        w.writerow(head + ["best_in"])
        for r in p.rows:
            line: list[Any] = [
                r.dataset,
                r.protocol,
                r.model,
                "true" if r.is_reference else "false",
                r.source,
                max((c.n_runs for c in r.cells.values()), default=0),
                r.n_protocols,
                r.select_metric,
                "true" if r.label_selected else "false",
                r.recipe,
                r.ablate_image,
            ]
            for m in p.metrics:
                c = r.cells.get(m)
                line.append(repr(c.value) if c else "")
                if p.aggregate == "mean":
                    line.append(repr(c.std) if c else "")
                if ablated:
                    line.append(repr(c.delta) if c and math.isfinite(c.delta) else "")
            w.writerow(line + [";".join(m for m in p.metrics if m in r.cells and r.cells[m].best)])
        return buf.getvalue()
    if fmt not in ("table", "markdown"):
        raise SimkitError(f"--format must be table, csv or markdown (got {fmt!r})")
    with_protocol = any(r.protocol for r in p.rows)
    # the recipe column appears once simkit's rows come from more than one recipe (else the note names it)
    recipes = sorted({r.recipe for r in p.rows if not r.is_reference})
    with_recipe = len(recipes) > 1
    header = ["dataset", *(["protocol"] if with_protocol else []), *(["recipe"] if with_recipe else []), "model"]
    header += [f"{m} ({p.units[m]}) {arrows[m]}" for m in p.metrics]
    body = []
    for r in p.rows:
        proto = r.protocol + (f" (mean of {r.n_protocols})" if r.n_protocols > 1 else "")
        line = [r.dataset, *([proto or "default"] if with_protocol else []),
                *([r.recipe or "unrecorded"] if with_recipe else []), r.label]
        for m in p.metrics:
            c = r.cells.get(m)
            text = _fmt(c, p.units[m], p.aggregate, r.n_protocols > 1)
            if c is not None and c.best:
                text = f"**{text}**" if fmt == "markdown" else f"{text} *"
            line.append(text)
        body.append(line)
    variants = [d for d in (describe_variant(m) for m in p.metrics) if d]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        if any(r.ablate_image for r in p.rows):
            lines += ["", "[image shuffled|blanked]: the vision-ablation control, after the model's real-image row, "
                          "never ranked; (Δ) = ablated minus real."]
        if variants:
            lines += ["", "Metric variants (one column each, never ranked together):", ""]
            lines += [f"- {v}" for v in variants]
        return "\n".join(lines) + "\n"
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = [
        "  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = (f"split={p.split}, aggregate={p.aggregate}; * = best per dataset, protocol and recipe; (paper) = "
            "published reference (ranked with the paper recipe)")
    if len(recipes) == 1:
        note += f"; recipe {recipes[0] or 'unrecorded'}"
    if any(r.ablate_image for r in p.rows):
        note += ("; [image shuffled|blanked] = the vision-ablation control, shown after the model's real-image row "
                 "and never ranked, (Δ) = ablated minus real")
    if any(r.label_selected for r in p.rows):
        note += "; [selected on labels] rows (self-supervised, checkpoint picked on labels) are ranked apart"
    if any(r.n_protocols > 1 for r in p.rows):
        note += "; a protocol family shows mean ± std over its protocols"
    if variants:
        note += "\nmetric variants (one column each, never ranked together):"
        note += "".join(f"\n  {v}" for v in variants)
    return "\n".join(lines) + "\n" + note + "\n"
