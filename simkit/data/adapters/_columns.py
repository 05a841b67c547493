"""An adapter's shard arrays from per-item values: :func:`append_item` per item, :func:`stack_columns` once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def append_item(cols: dict[str, list], item: Mapping[str, Any]) -> None:
    """Add one item's values to ``cols`` (dataset name -> one value per item so far)."""
    for key, value in item.items():
        cols.setdefault(key, []).append(value)


def stack_columns(cols: Mapping[str, list]) -> dict[str, np.ndarray]:
    """A shard's arrays from per-item columns: each stacked along a new item axis, ``meta/set_id`` (strings)
    as an object array."""
    return {k: (np.asarray(v, dtype=object) if k == "meta/set_id" else np.stack([np.asarray(x) for x in v]))
            for k, v in cols.items()}
