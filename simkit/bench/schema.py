"""The leaderboard CSV schema: one tidy row per run x dataset x split x metric.

Values are written as text: booleans ``true``/``false``, floats with ``repr`` precision (``nan`` allowed
for ``value``), empty cells for fields a row does not have (reference rows have no run timing or commit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Column:
    """One leaderboard column: its name, kind (str|float|int|bool|timestamp) and whether it may be empty."""

    name: str
    kind: str
    required: bool
    doc: str


COLUMNS: tuple[Column, ...] = (
    Column("run_id", "str", True, "unique id of the bench run (reference rows: ref-<source>-<n>)"),
    Column("timestamp_utc", "timestamp", True, "ISO-8601 UTC time the row was written"),
    Column("model", "str", True, "model name (simkit.models registry; reference rows: the paper's name)"),
    Column("task", "str", True, "task name (simkit.bench.tasks registry)"),
    Column("dataset", "str", True, "dataset: render directory name @ manifest hash, or the paper's dataset"),
    Column("split", "str", True, "train | val | test"),
    Column("metric", "str", True, "metric name (simkit.metrics registry)"),
    Column("value", "float", True, "metric value (nan when nothing could be scored)"),
    Column("unit", "str", True, "fraction | deg | ..."),
    Column("higher_is_better", "bool", True, "direction of improvement"),
    Column("n_samples", "int", False, "samples the metric was computed over"),
    Column("seed", "int", False, "BenchConfig.seed"),
    Column("epochs", "int", False, "epochs trained (0 for models without training)"),
    Column("train_seconds", "float", False, "wall time of training"),
    Column("eval_seconds", "float", False, "wall time of scoring this split"),
    Column("device", "str", False, "cpu | cuda (device name)"),
    Column("params", "int", False, "trainable parameter count"),
    Column("git_commit", "str", False, "commit of the simkit checkout (empty when unknown)"),
    Column("config_hash", "str", False, "BenchConfig.config_hash() of the run"),
    Column("data_manifest_hash", "str", False, "sha256 of the render's manifest.json"),
    Column("simkit_version", "str", False, "simkit.__version__"),
    Column("is_reference", "bool", True, "true for published numbers copied from a paper"),
    Column("source", "str", True, "'simkit bench' or the paper/table the number comes from"),
    Column("protocol", "str", False, "split protocol: empty = the dataset's default; `family/name` (e.g. "
           "`fair-play/split3`) for a member of a protocol family; reference rows: the family averaged over"),
    Column("select_metric", "str", False, "what picked the trained checkpoint on val: `loss` (val loss, "
           "label-free), a model's own label-free score (e.g. `slfm_score`) or a metric (labels); empty: not "
           "trained, a reference row, or a row written before this column"),
    Column("label_selected", "bool", False, "true when a self-supervised model's checkpoint was picked on "
           "labelled val metrics (an explicit --select-metric); never ranked with label-free selections"),
    Column("recipe", "str", False, "training recipe (simkit.bench.recipes): default | quick | paper; rows of "
           "different recipes are never ranked together; empty: a reference row (the authors' own recipe, "
           "ranked with paper) or a row written before this column"),
    Column("ablate_image", "str", False, "vision-ablation control: empty (real images), shuffle or blank; an "
           "ablated row is shown beside the same model's real row and never ranked"),
)
FIELDNAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
# Leaderboards written before the protocol column (23 fields): read as protocol "" and upgraded on the next
# append, as are those written before the selection columns (24 fields: selection unrecorded) and before the
# recipe and ablation columns (26 fields: recipe unrecorded, real images).
LEGACY_FIELDNAMES: tuple[str, ...] = FIELDNAMES[:23]
LEGACY_HEADERS: tuple[tuple[str, ...], ...] = (FIELDNAMES[:23], FIELDNAMES[:24], FIELDNAMES[:26])
_BY_NAME = {c.name: c for c in COLUMNS}


def format_cell(kind: str, value: Any) -> str:
    """Text of one cell; None becomes empty."""
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        return repr(float(value))
    if kind == "int":
        return str(int(value))
    return str(value)


def format_row(row: Mapping[str, Any]) -> dict[str, str]:
    """A row as CSV text cells; unknown keys are a ValueError (a programming error, not user input)."""
    extra = set(row) - set(FIELDNAMES)
    if extra:
        raise ValueError(f"unknown leaderboard columns: {sorted(extra)}")
    return {c.name: format_cell(c.kind, row.get(c.name)) for c in COLUMNS}


def validate_cells(cells: Mapping[str, str]) -> str | None:
    """None when the text row matches the schema, else what is wrong with it (one phrase)."""
    for c in COLUMNS:
        text = cells.get(c.name)
        if text is None:
            return f"missing column {c.name}"
        if text == "":
            if c.required:
                return f"empty {c.name}"
            continue
        try:
            if c.kind == "float":
                float(text)
            elif c.kind == "int":
                int(text)
            elif c.kind == "bool" and text not in ("true", "false"):
                return f"{c.name} must be true or false, got {text!r}"
            elif c.kind == "timestamp":
                datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return f"{c.name} is not a valid {c.kind}: {text!r}"
    return None


def parse_row(cells: Mapping[str, str]) -> dict[str, Any]:
    """Typed values of a validated text row (empty cells become None)."""
    out: dict[str, Any] = {}
    for c in COLUMNS:
        text = cells[c.name]
        if text == "":
            out[c.name] = None
        elif c.kind == "float":
            out[c.name] = float(text)
        elif c.kind == "int":
            out[c.name] = int(text)
        elif c.kind == "bool":
            out[c.name] = text == "true"
        else:
            out[c.name] = text
    return out


def is_finite(value: Any) -> bool:
    """True for a real, finite number."""
    return isinstance(value, (int, float)) and math.isfinite(value)
