"""Task registry: a task says how to load a split, what the models see, how outputs become records and
which metrics score them.

A new task is one module below this package (found automatically: :mod:`.direction`, :mod:`.binaural`) or
in a plug-in module (``simkit bench --task pkg.module:name``) calling :func:`register_task` with a
:class:`TaskSpec`; its models register themselves in :mod:`simkit.models` under the task's name, its metrics
in :mod:`simkit.metrics`, and the task lists the metrics it reports (``TaskSpec.metrics``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simkit.registry import Registry

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from simkit.bench.config import BenchConfig


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark task.

    ``open_split(data_dir, split, cfg, train, negatives)`` returns the torch Dataset of one split
    (``train`` switches on augmentation; ``negatives`` pairs every item with another item's audio, for models
    whose ``needs_negative_pairs`` is set - the harness always passes it; a task without such pairs refuses
    it); ``data_info(data_dir, cfg)``
    the facts a model needs to build (sample rate, ...);
    ``records(batch, outputs)`` turns one batch and the model's ``predict`` outputs into per-sample columns
    (1-D arrays of equal length: the rows of ``predictions.csv`` and the metrics' input);
    ``select_metric`` is the validation metric used for checkpoint selection and early stopping;
    ``metrics`` the metrics reported (registered names, or plug-ins as ``pkg.module:name``; each is reported
    when the records have its columns).

    Optional parts: ``collate`` (the DataLoader's collate function); ``item_key``, the batch entry whose
    first dimension counts the items of a batch (training throughput, ``items_per_s``);
    ``epoch_val_items``, how many val items are scored after each training epoch (0 = all; an evenly spaced,
    fixed subset otherwise; ``BenchConfig.epoch_val_items`` overrides it) - the final val/test scores always
    use the whole split; ``plot_examples(model, test_dataset, path, device=device)``, a figure of a few test items
    that every run of the task writes to ``<run_dir>/examples.png`` after scoring; ``groups``, the dataset
    groups the task reads (a dataset without one is refused before any run, naming model and group);
    ``labelled(dataset)``, whether an opened split carries the truth the metrics score (None: always; a split
    without it is not scored, and refused where the run would have nothing else to score); ``image_keys``, the
    item entries holding the images the models see (``--ablate-image`` shuffles or blanks them; a task
    without any refuses the ablation).
    """

    name: str
    description: str
    open_split: Callable[..., Dataset]  # (data_dir, split, cfg, train, negatives)
    data_info: Callable[[Path, BenchConfig], dict[str, Any]]
    records: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, np.ndarray]]
    select_metric: str
    metrics: tuple[str, ...] = ()
    collate: Callable[[list[Any]], Any] | None = None
    item_key: str = "audio"
    epoch_val_items: int = 0
    plot_examples: Callable[..., Any] | None = None
    groups: tuple[str, ...] = ("audio",)  # dataset groups the task reads ("a|b": either); see simkit.data.schema
    labelled: Callable[[Any], bool] | None = None
    # item entries that are images the models see (``simkit bench --ablate-image`` replaces them); () = none
    image_keys: tuple[str, ...] = ()


# Every module of this package registers its tasks on import; a new task file needs no other edit.
TASKS: Registry[TaskSpec] = Registry("task", package="simkit.bench.tasks")


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add ``spec`` to the registry under ``spec.name`` (the module-level name it is bound to finds it
    as a plug-in, ``pkg.module:NAME``)."""
    TASKS.add(spec.name, spec)
    return spec


load_builtin = TASKS.load_builtin


def get_task(name: str) -> TaskSpec:
    """The task registered as ``name``, or the plug-in ``pkg.module:NAME`` (SimkitError otherwise)."""
    return TASKS.get(name)


def task_names() -> list[str]:
    """Every registered task name."""
    return TASKS.names()
