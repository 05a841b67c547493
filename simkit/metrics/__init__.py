"""Metric registry: a new metric is one function plus one ``@register_metric`` decoration.

A metric consumes the evaluation *records* of a task: a mapping of column name -> 1-D numpy array, one
entry per evaluated sample (the same columns land in the run's ``predictions.csv``). It returns a
:class:`MetricValue` with the value and how many samples it used (a metric may skip samples, e.g. the
left/right accuracy skips sources near the median plane, or find none it can score: then ``n == 0`` and the
value is NaN). Metrics whose ``requires`` columns are absent or all-NaN for a model are not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from simkit.registry import Registry

Records = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class MetricValue:
    """A metric's value and the number of samples it was computed over."""

    value: float
    n: int


@dataclass(frozen=True)
class Metric:
    """A registered metric: its function and how to read it."""

    name: str
    task: str
    fn: Callable[[Records], MetricValue]
    higher_is_better: bool
    unit: str
    requires: tuple[str, ...]
    description: str

    def applicable(self, records: Records) -> bool:
        """True when every required column (``"a|b"``: either) is present and has at least one finite value."""
        return all(any(self._usable(records.get(c)) for c in col.split("|")) for col in self.requires)

    @staticmethod
    def _usable(arr: np.ndarray | None) -> bool:
        if arr is None or len(arr) == 0:
            return False
        return not (np.issubdtype(np.asarray(arr).dtype, np.floating) and not np.isfinite(arr).any())

    def __call__(self, records: Records) -> MetricValue:
        return self.fn(records)


# Modules holding the built-in metrics; each registers itself on import. Add a module name here to add a file.
BUILTIN_MODULES: tuple[str, ...] = (
    "simkit.metrics.direction",
    "simkit.metrics.binaural",
    "simkit.metrics.av_localization",
)
METRICS: Registry[Metric] = Registry("metric", modules=BUILTIN_MODULES)


def register_metric(
    name: str, *, task: str, higher_is_better: bool, unit: str, requires: tuple[str, ...], description: str
) -> Callable[[Callable[[Records], MetricValue]], Callable[[Records], MetricValue]]:
    """Decorator registering ``fn(records) -> MetricValue`` as metric ``name`` of ``task``."""

    def deco(fn: Callable[[Records], MetricValue]) -> Callable[[Records], MetricValue]:
        METRICS.add(name, Metric(name, task, fn, higher_is_better, unit, tuple(requires), description))
        return fn

    return deco


load_builtin = METRICS.load_builtin


def get_metric(name: str) -> Metric:
    """The metric registered as ``name`` (SimkitError listing the known ones otherwise)."""
    return METRICS.get(name)


def metrics_for_task(task: str) -> list[Metric]:
    """Every metric registered for ``task``, in name order."""
    return [m for _, m in METRICS.items() if m.task == task]


def evaluate(task: str, records: Records) -> dict[str, MetricValue]:
    """Compute every applicable metric of ``task`` on ``records``."""
    return {m.name: m(records) for m in metrics_for_task(task) if m.applicable(records)}
