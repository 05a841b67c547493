"""Metric registry: a new metric is one function plus one ``@register_metric`` decoration, in any module
below :mod:`simkit.metrics` (found automatically) or in a plug-in module (``pkg.module:name``,
docs/extending.md); a family of parametrised metrics is one :func:`register_metric_variants` call.
Each task lists the metrics it reports (``simkit.bench.tasks.TaskSpec.metrics``).

A metric consumes the evaluation *records* of a task: a mapping of column name -> 1-D numpy array, one
entry per evaluated sample (the same columns land in the run's ``predictions.csv``). It returns a
:class:`MetricValue` with the value and how many samples it used (a metric may skip samples, e.g. the
left/right accuracy skips sources near the median plane, or find none it can score: then ``n == 0`` and the
value is NaN). Metrics whose ``requires`` columns are absent or all-NaN for a model are not reported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


# Every module below simkit.metrics registers its metrics on import; a new metric file needs no other edit.
METRICS: Registry[Metric] = Registry("metric", package="simkit.metrics")


def register_metric(
    name: str, *, task: str, higher_is_better: bool, unit: str, requires: tuple[str, ...], description: str
) -> Callable[[Callable[[Records], MetricValue]], Callable[[Records], MetricValue]]:
    """Decorator registering ``fn(records) -> MetricValue`` as metric ``name`` of ``task``."""

    def deco(fn: Callable[[Records], MetricValue]) -> Callable[[Records], MetricValue]:
        METRICS.add(name, Metric(name, task, fn, higher_is_better, unit, tuple(requires), description), fn)
        return fn

    return deco


def register_metric_variants(
    fn: Callable[..., MetricValue], *, task: str, variants: Mapping[str, Mapping[str, Any]]
) -> None:
    """Register a parametrised metric in one call (as HEAR's ``score.py`` builds its variants).

    ``variants`` maps each metric name to ``{"params": {...}, "higher_is_better": ..., "unit": ...,
    "requires": (...), "description": ...}``; the metric is ``functools.partial(fn, **params)``.
    """
    for name, v in variants.items():
        bound = functools.update_wrapper(functools.partial(fn, **v.get("params", {})), fn)
        if v.get("doc"):
            bound.__doc__ = v["doc"]
        METRICS.add(name, Metric(name, task, bound, bool(v["higher_is_better"]), str(v["unit"]),
                                 tuple(v["requires"]), str(v["description"])))


load_builtin = METRICS.load_builtin


def get_metric(name: str) -> Metric:
    """The metric registered as ``name``, or the plug-in ``pkg.module:name`` (SimkitError otherwise)."""
    return METRICS.get(name)


def metrics_for_task(task: str) -> list[Metric]:
    """Every metric registered for ``task``, in name order."""
    return [m for _, m in METRICS.items() if m.task == task]


def evaluate(metrics: str | Iterable[str], records: Records) -> dict[str, MetricValue]:
    """Compute every applicable metric on ``records``, in name order: the metrics named (a task's list,
    plug-ins as ``pkg.module:name``) or, for a task name, every metric registered for that task."""
    chosen = metrics_for_task(metrics) if isinstance(metrics, str) else [get_metric(n) for n in metrics]
    return {m.name: m(records) for m in sorted(chosen, key=lambda m: m.name) if m.applicable(records)}
