"""The one pipeline driver: ``simkit render``, ``simkit prepare``, ``simkit curate`` and ``simkit egovideo``
run their units of work through :func:`run_units`.

A pipeline is a list of units (a scene, a shard, a video), each named by a key and run by one picklable
top-level function. The driver skips the units already finished (``is_done``: the writer's complete shards,
:meth:`simkit.data.writer.DatasetWriter.is_done`, or a pipeline's own finished-unit record such as curate's
analysis cache), runs the others through an executor (:mod:`simkit.executors`: ``serial``, ``process``,
``ray``), shows one progress bar, calls ``on_unit`` as units finish and collects or raises failures:

* ``failures="collect"`` (render): a unit that fails with a :class:`SimkitError` is recorded in
  :attr:`UnitsRun.failed` (key -> its one error line) and the other units go on;
* ``failures="stop"`` (prepare, curate, egovideo): the first failed unit's error is raised, as a serial run
  always did; queued units are cancelled and running ones stopped by the executor.

:class:`OutputError` (full disk) and :class:`Interrupted` stop every pipeline whatever the mode; finished
units stay, so a re-run resumes. The data never depend on the executor or the worker count: every unit
derives its randomness from the config's seed and its key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from simkit.errors import SimkitError
from simkit.executors import Executor, ExecutorOptions


def progress_bar(total: int, enabled: bool, desc: str, unit: str):
    """The pipelines' tqdm bar (silent under CI, when disabled or when there is nothing to do)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled or total == 0,
                file=None if os.environ.get("CI") is None else open(os.devnull, "w"))


@dataclass(frozen=True)
class Progress:
    """How a pipeline's bar reads: ``desc`` and ``unit`` (tqdm's), whether it is shown, the weight of a unit
    (curate counts seconds of video; asked once per unit) and whether skipped units count (the bar then
    starts at them)."""

    desc: str
    unit: str
    enabled: bool = True
    weight: Callable[[str], int] | None = None
    count_skipped: bool = False


@dataclass
class UnitsRun:
    """What :func:`run_units` did: ``done`` (finished this run, in finishing order), ``skipped`` (finished
    before, in unit order) and ``failed`` (key -> the one-line error, sorted by key; ``collect`` mode)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def run_units(
    fn: Callable[..., Any],
    keys: Sequence[str],
    args: Callable[[str], tuple],
    *,
    executor: tuple[Executor, ExecutorOptions],
    progress: Progress,
    is_done: Callable[[str], bool] | None = None,
    failures: Literal["collect", "stop"] = "stop",
    on_unit: Callable[[str], None] | None = None,
    shared: Any = None,
) -> UnitsRun:
    """Run ``fn(*args(key))`` for every key of ``keys`` not finished yet (``is_done(key)``); see the module
    docstring. ``shared`` is the run's large common object (:data:`simkit.executors.SHARED` stands for it in
    the argument tuples). ``on_unit(key)`` follows every finished unit (in ``collect`` mode failed ones too)."""
    if failures not in ("collect", "stop"):
        raise ValueError(f"failures must be 'collect' or 'stop' (got {failures!r})")
    run, opts = executor
    result = UnitsRun()
    todo = []
    for k in keys:
        (result.skipped if is_done is not None and is_done(k) else todo).append(k)
    weights: dict[str, int] = {}

    def weight(key: str) -> int:  # asked once per unit (curate probes each video's length for it)
        if key not in weights:
            weights[key] = progress.weight(key) if progress.weight else 1
        return weights[key]

    counted = [*todo, *(result.skipped if progress.count_skipped else ())]
    bar = progress_bar(sum(weight(k) for k in counted), progress.enabled, progress.desc, progress.unit)
    failed: dict[str, str] = {}

    def finished(key: str, error: SimkitError | None) -> None:
        if error is None:
            result.done.append(key)
        elif failures == "stop":
            raise error  # the executor cancels the queued units and stops the running ones
        else:
            failed[key] = str(error)
        bar.update(weight(key))
        if on_unit:
            on_unit(key)

    try:
        if progress.count_skipped:
            bar.update(sum(weight(k) for k in result.skipped))
        run(fn, todo, [args(k) for k in todo], finished, opts, shared=shared)
    finally:
        bar.close()
    result.failed = dict(sorted(failed.items()))
    return result
