"""PNG figures of bench runs (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simkit.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: Sequence[Mapping[str, Any]], path: Path | str, select_metric: str) -> None:
    """Training loss, validation loss and the validation selection metric per epoch."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = [h["epoch"] for h in history]
    ax1.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    if any(math.isfinite(h.get("val_loss", math.nan)) for h in history):
        ax1.plot(epochs, [h.get("val_loss", math.nan) for h in history], marker="o", label="val")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(epochs, [h.get("val_select", math.nan) for h in history], marker="o", color="C2")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel(f"val {select_metric}")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def plot_pivot(p: Any, path: Path | str) -> None:
    """Bar chart of a :class:`simkit.bench.leaderboard.Pivot`: a panel per metric, a bar per row having it."""
    plt = _pyplot()
    n = max(1, len(p.metrics))
    fig, axes = plt.subplots(1, n, figsize=(max(4.5, 3.6 * n), 4.8), squeeze=False)
    many = len({r.dataset for r in p.rows}) > 1
    palette = {name: f"C{i % 10}" for i, name in enumerate(sorted({r.model for r in p.rows}))}
    for ax, m in zip(axes[0], p.metrics, strict=False):
        rows = [r for r in p.rows if m in r.cells and math.isfinite(r.cells[m].value)]
        vals = [r.cells[m].value for r in rows]
        stds = [r.cells[m].std if p.aggregate == "mean" else 0.0 for r in rows]
        errs = [e if math.isfinite(e) else 0.0 for e in stds]
        colors = ["0.6" if r.is_reference else palette[r.model] for r in rows]
        labels = [f"{r.label} | {r.dataset}" if many else r.label for r in rows]
        ax.bar(range(len(vals)), vals, yerr=errs, color=colors, capsize=3)
        ax.set_xticks(range(len(vals)), labels, rotation=60, ha="right", fontsize=7)
        arrow = "higher" if p.higher_is_better[m] else "lower"
        ax.set_title(f"{m} ({p.units[m]}, {arrow} is better)", fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
