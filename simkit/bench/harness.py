"""``simkit bench``: train (if the model trains), select on validation, score on test, append the leaderboard.

Every run gets ``<results>/runs/<run_id>/`` with ``config.json`` (resolved config, hash, versions, commit),
``best.pt`` and ``last.pt`` (atomic), ``predictions.csv`` (one row per scored sample of val and test),
``curves.png``, ``metrics.json`` and, for tasks with a figure hook (``TaskSpec.plot_examples``),
``examples.png``; its metric rows go to ``<results>/leaderboard.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import random
import shutil
import subprocess
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

import simkit
from simkit.bench.config import BenchConfig, make_config, validate_config
from simkit.bench.leaderboard import append_rows, check_appendable, format_pivot, pivot, read_leaderboard
from simkit.bench.plots import plot_curves
from simkit.bench.recipes import recipe_sources, resolve
from simkit.bench.tasks import TaskSpec, get_task
from simkit.data.opener import open_dataset
from simkit.data.validate import verify_dataset
from simkit.errors import SimkitError
from simkit.io import atomic_path, atomic_write_json, check_writable_dir, package_versions
from simkit.metrics import MetricValue, evaluate, get_metric
from simkit.models import BenchModel, ModelSpec, get_model, models_for_task, options_for

Log = Callable[[str], None]
EVAL_SPLITS = ("val", "test")
LEADERBOARD = "leaderboard.csv"  # under --results


@dataclass
class RunResult:
    """What one model's run produced."""

    run_id: str
    model: str
    run_dir: Path
    metrics: dict[str, dict[str, MetricValue]]
    epochs_trained: int
    best_epoch: int
    train_seconds: float
    rows_written: int
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cuda`` without CUDA is a SimkitError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise SimkitError(
                f"--device cuda requested but CUDA is not available (torch {torch.__version__})"
            )
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise SimkitError(f"--device must be auto, cuda or cpu (got {name!r})")


def git_commit() -> str | None:
    """Commit of the checkout simkit is imported from, or None outside a git checkout."""
    root = Path(simkit.__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _worker_init(worker_id: int) -> None:
    # Third-party code in a worker may use the global RNGs; derive them from the loader's per-worker seed.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


AUTO_WORKERS = -1  # num_workers value that asks for the device's default (loader_workers)
CUDA_MAX_WORKERS = 8  # a GPU step takes milliseconds: more processes than this mostly contend for disk


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def loader_workers(num_workers: int, device: torch.device, cores: int | None = None) -> int:
    """DataLoader worker processes: ``num_workers`` when given (>= 0); auto (negative): 2 on CPU, where the
    model competes with the loader for the cores, and on CUDA ``min(8, cores - 1)`` (one core drives the
    GPU): a GPU trains at thousands of items/s, one loader core reads ~100-400 (benchmarks/bench_storage.py)."""
    if num_workers >= 0:
        return num_workers
    if device.type != "cuda":
        return 2
    return max(1, min(CUDA_MAX_WORKERS, (cores or usable_cores()) - 1))


def make_loader(ds: Any, cfg: BenchConfig, device: torch.device, shuffle: bool, task: TaskSpec) -> DataLoader:
    """DataLoader with seeded shuffling, seeded workers (:func:`loader_workers`) and pinned memory on CUDA."""
    gen = torch.Generator()
    gen.manual_seed(cfg.seed)
    workers = loader_workers(cfg.num_workers, device)
    return DataLoader(
        ds,
        batch_size=cfg.batch_size,
        shuffle=shuffle,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=_worker_init if workers > 0 else None,
        generator=gen,
        collate_fn=task.collate,
    )


DERIVE_ON = ("auto", "loader", "device")


def derive_on(cfg: BenchConfig, device: torch.device) -> str:
    """Where the derived clips of training items (compact storage) are convolved: ``loader`` (its CPU
    workers) or ``device`` (after the transfer, one batched FFT: :meth:`ShardDataset.defer_derivation`).
    ``cfg.derive_on`` (auto, the default: the device on CUDA, where the
    loader's CPU would starve the GPU; the loader on CPU, which convolves in float64 as the writer checked)."""
    where = cfg.derive_on
    if where not in DERIVE_ON:  # a config built in Python without validation
        raise SimkitError(f"derive_on must be one of {', '.join(DERIVE_ON)} (got {where!r})")
    if where == "auto":
        return "device" if device.type == "cuda" else "loader"
    return where


def timed_batches(loader: DataLoader, waited: list[float]) -> Iterator[Any]:
    """The batches of ``loader``; the seconds spent waiting for each (in ``next``: worker start-up, reads
    the workers have not finished) are appended to ``waited``. A training step syncs with the device
    (its loss is read back), so a wait here is time the device sat idle for want of data."""
    it = iter(loader)
    while True:
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            return
        waited.append(time.perf_counter() - t0)
        yield batch


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of a batch moved to ``device`` (non-blocking from pinned memory); other values kept."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
    }


def _autocast(device: torch.device, cfg: BenchConfig) -> torch.autocast:
    return torch.autocast(
        device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda" and cfg.amp
    )


def _save(obj: Any, path: Path) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)


def evaluate_split(
    model: BenchModel,
    loader: DataLoader,
    task: TaskSpec,
    device: torch.device,
    cfg: BenchConfig,
    with_loss: bool,
    parts: dict[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], float]:
    """Records of every sample of ``loader`` and (``with_loss``) the mean loss; model in eval mode.
    ``parts`` (with ``with_loss``) receives the mean of each named loss part (a model's selection score)."""
    model.eval()
    cols: dict[str, list[np.ndarray]] = {}
    losses: list[float] = []
    part_lists: dict[str, list[float]] = {}
    with torch.no_grad(), _autocast(device, cfg):
        for raw in loader:
            batch = to_device(raw, device)
            out = model.predict(batch)
            for k, v in task.records(batch, out).items():
                cols.setdefault(k, []).append(v)
            if with_loss:
                loss, named = model.loss(batch)
                losses.append(float(loss))
                for k, v in named.items():
                    part_lists.setdefault(k, []).append(float(v))
    if parts is not None:
        parts.update({k: float(np.mean(v)) for k, v in part_lists.items()})
    records = {k: np.concatenate(v) for k, v in cols.items()}
    return records, float(np.mean(losses)) if losses else float("nan")


def batch_items(batch: Mapping[str, Any], task: TaskSpec) -> int:
    """Items in a batch: the first dimension of its ``task.item_key`` entry (``audio``, ``mono``, ...)."""
    if task.item_key not in batch:
        raise SimkitError(f"task {task.name}: batches have no {task.item_key!r} entry to count items by")
    return len(batch[task.item_key])


def epoch_val_subset(ds: Dataset, cfg: BenchConfig, task: TaskSpec) -> Dataset:
    """The val items scored after every epoch: all, or ``n`` evenly spaced ones (the same every epoch).

    ``cfg.epoch_val_items`` (-1 = the task's ``epoch_val_items``; 0 = all). Evenly spaced rather than the
    first ``n`` so every val scene stays in the subset (items are ordered by scene).
    """
    n = task.epoch_val_items if cfg.epoch_val_items < 0 else cfg.epoch_val_items
    total = len(ds)  # type: ignore[arg-type]
    if n <= 0 or n >= total:
        return ds
    return Subset(ds, np.linspace(0, total - 1, n).round().astype(int).tolist())


def labelled(task: TaskSpec, ds: Dataset) -> bool:
    """Whether ``ds`` carries the truth ``task`` scores (``TaskSpec.labelled``; tasks without it: always)."""
    return True if task.labelled is None else bool(task.labelled(ds))


ABLATION_SALT = 0x1A6E  # keeps the shuffle's stream apart from the seed's other uses


class ImageAblation(Dataset):
    """The vision-ablation control (``--ablate-image``): the items of ``inner`` with their image entries
    (``keys``, e.g. the task's ``image_keys``) replaced.

    ``shuffle``: item i gets the images of item ``source[i]``, a seeded derangement of the split (one cycle
    through a random order, so no item keeps its own), fixed for the run (``seed`` and ``split``); an item can
    still receive an identical picture where two items show the same view (the sources of one view set).
    ``blank``: every image is all zeros (a constant input carries nothing about the item, needs no pass over
    the data and is the same in every split and dataset). Everything else of the item is untouched; other
    attributes (``set_epoch``, ``finish_batch``, ...) are the inner dataset's.
    """

    def __init__(self, inner: Dataset, mode: str, keys: tuple[str, ...], seed: int, split: str) -> None:
        if mode not in ("shuffle", "blank"):
            raise SimkitError(f"--ablate-image must be shuffle or blank (got {mode!r})")
        self.inner, self.mode, self.keys = inner, mode, keys
        n = len(inner)  # type: ignore[arg-type]
        self.source = np.arange(n)
        if mode == "shuffle":
            if n < 2:
                raise SimkitError(f"--ablate-image shuffle: split {split} has {n} item(s), nothing to shuffle "
                                  "images across")
            order = np.random.default_rng([seed, ABLATION_SALT, zlib.crc32(split.encode())]).permutation(n)
            self.source[order] = np.roll(order, -1)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        item = dict(self.inner[idx])
        present = [k for k in self.keys if k in item]
        if not present:
            raise SimkitError(f"--ablate-image: items carry none of {', '.join(self.keys)}")
        if self.mode == "blank":
            for k in present:
                item[k] = torch.zeros_like(item[k])
            return item
        other = self.inner[int(self.source[idx])]
        for k in present:
            item[k] = other[k]
        if "frames" in present and "frame_times" in other:  # recorded video: the frames come with their times
            item["frame_times"] = other["frame_times"]
        return item

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")  # absent while unpickling (loader workers): no recursion
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)


def open_split(task: TaskSpec, data: Path, split: str, cfg: BenchConfig, train: bool, negatives: bool) -> Dataset:
    """``task.open_split``, wrapped in :class:`ImageAblation` when the run ablates images."""
    ds = task.open_split(data, split, cfg, train, negatives=negatives)
    if cfg.ablate_image:
        ds = ImageAblation(ds, cfg.ablate_image, task.image_keys, cfg.seed, split)
    return ds


def _protocol_of(info: Mapping[str, Any]) -> str:
    return str(info.get("protocol_label") or info.get("protocol") or "default")


def main_eval_splits(
    task: TaskSpec, cfg: BenchConfig, info: Mapping[str, Any], negatives: bool
) -> tuple[list[tuple[str, Dataset]], list[str]]:
    """The splits of ``cfg.data`` a run scores, opened, and a note per split it leaves out.

    Empty splits are left out (evaluation-only releases have no val), and so are splits without labels
    (a video-folder val of unknown-direction clips; a curated training set): never NaN rows on the
    leaderboard. Without ``--test-data`` an unlabelled test split is refused, as is a dataset left with
    nothing to score.
    """
    data = Path(cfg.data)
    out: list[tuple[str, Dataset]] = []
    notes: list[str] = []
    for split in EVAL_SPLITS:
        if info.get("split_sets", {}).get(split, 1) == 0:
            notes.append(f"{split}: empty in this dataset's protocol, not scored")
            continue
        ds = open_split(task, data, split, cfg, False, negatives)
        if not labelled(task, ds):
            if split == "test" and not cfg.test_data:
                raise SimkitError(
                    f"dataset {data} split test (protocol {_protocol_of(info)}) has no labels for task "
                    f"{task.name} (e.g. a `simkit curate` set): nothing to score; train on it with --test-data "
                    "LABELLED_SET")
            notes.append(f"{split}: no labels in this dataset, not scored")
            continue
        out.append((split, ds))
    if not out and not cfg.test_data:
        raise SimkitError(f"dataset {data} (protocol {_protocol_of(info)}) has no labelled val or test items to "
                          "score (pass --test-data LABELLED_SET)")
    return out, notes


def score_test_set(
    task: TaskSpec, other: Path, cfg: BenchConfig, negatives: bool, sample_rate: Any
) -> tuple[dict[str, Any], Dataset]:
    """The facts and opened test split of one ``--test-data`` set (its default protocol); SimkitError naming
    the set when its rate differs from the training data's, or its test split is empty or unlabelled."""
    ocfg = dataclasses.replace(cfg, protocol="")
    oinfo = task.data_info(other, ocfg)
    if oinfo.get("sample_rate") != sample_rate:
        raise SimkitError(f"--test-data {other} is at {oinfo.get('sample_rate')} Hz, the training data at "
                          f"{sample_rate} Hz")
    if oinfo.get("split_sets", {}).get("test", 1) == 0:
        raise SimkitError(f"--test-data {other}: split test (protocol {_protocol_of(oinfo)}) is empty: "
                          "nothing to score")
    ds = open_split(task, other, "test", ocfg, False, negatives)
    if not labelled(task, ds):
        raise SimkitError(f"--test-data {other}: split test (protocol {_protocol_of(oinfo)}) has no labels for "
                          f"task {task.name} (e.g. a `simkit curate` set): only labelled sets can be scored")
    return oinfo, ds


def check_splits(cfg: BenchConfig, task: TaskSpec, specs: list[ModelSpec], protocols: list[str]) -> None:
    """Open every split any run of ``specs`` will read, before any run starts: the train and val splits a
    training run needs, the splits scored on ``cfg.data`` and the test split of every ``--test-data`` set.

    An empty split, one without labels, or one too small for a model's negative pairs is an error naming
    the dataset and split, so a bad set is found before training rather than after it.
    """
    needs = sorted({s.needs_negative_pairs for s in specs})  # plain openings first: their errors are general
    for proto in protocols:
        pcfg = dataclasses.replace(cfg, protocol=proto)
        info = task.data_info(Path(cfg.data), pcfg)
        for negatives in needs:
            group = [s for s in specs if s.needs_negative_pairs == negatives]
            try:
                if cfg.epochs > 0 and any(s.trainable for s in group):
                    for split in ("train", "val"):
                        task.open_split(Path(cfg.data), split, pcfg, split == "train", negatives=negatives)
                main_eval_splits(task, pcfg, info, negatives)
                for other in test_sets(cfg):
                    score_test_set(task, other, pcfg, negatives, info.get("sample_rate"))
            except SimkitError as e:
                if not negatives:
                    raise
                who = (f"model {group[0].name} (needs negative pairs)" if len(group) == 1 else
                       f"models {', '.join(s.name for s in group)} (need negative pairs)")
                raise SimkitError(f"{who}: {e}") from None


@dataclass(frozen=True)
class Selection:
    """How a run picks its checkpoint on val: ``name`` (``loss``, a model's own label-free score such as
    ``slfm_score``, or a metric), its direction, whether it reads labels, and ``label_selected``: a
    self-supervised model picked on labelled val metrics (only ever by an explicit ``--select-metric``).
    ``no_labels``: the wanted labelled metric fell back to the val loss on a val split without labels."""

    name: str
    higher_is_better: bool
    uses_labels: bool
    label_selected: bool = False
    no_labels: bool = False


def resolve_selection(model: BenchModel, cfg: BenchConfig, task: TaskSpec, val_labelled: bool) -> Selection:
    """The run's selection: ``--select-metric`` when given; else, for a self-supervised model, its label-free
    score (its val loss or its authors' score); else the task's metric. A val split without labels always
    selects on the val loss."""
    name = cfg.select_metric or (model.selection_name if model.self_supervised else task.select_metric)
    if name == "loss":
        return Selection("loss", False, uses_labels=False)
    if name == model.selection_name:
        return Selection(name, model.selection_higher_is_better, uses_labels=False)
    if not val_labelled:  # e.g. a `simkit curate` set: estimated motion, no direction labels to score
        return Selection("loss", False, uses_labels=False, no_labels=True)
    return Selection(name, get_metric(name).higher_is_better, uses_labels=True,
                     label_selected=model.self_supervised)


def _select_value(sel: Selection, model: BenchModel, records: Mapping[str, np.ndarray], loss: float,
                  parts: Mapping[str, float]) -> float:
    if sel.name == "loss":
        return loss
    if sel.name == model.selection_name:
        return model.selection_score(loss, parts)
    return get_metric(sel.name)(records).value


def _better(a: float, b: float, higher: bool) -> bool:
    if not math.isfinite(a):
        return False
    return not math.isfinite(b) or (a > b if higher else a < b)


def make_optimizer(model: BenchModel, cfg: BenchConfig) -> torch.optim.Optimizer:
    """``cfg.optimizer`` (AdamW or Adam, betas (0.9, 0.999)) at ``cfg.lr`` and ``cfg.weight_decay``; with
    ``cfg.visual_lr`` > 0 the model's declared visual parameters (``BenchModel.visual_parameters``) form a
    second group at that rate (2.5D Visual Sound's ``--lr_visual``), which a model without any refuses."""
    if cfg.optimizer not in ("adamw", "adam"):  # a config built in Python without validation
        raise SimkitError(f"optimizer must be adamw or adam (got {cfg.optimizer!r})")
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    trained = [p for p in model.parameters() if p.requires_grad]  # a stage may freeze networks
    if cfg.visual_lr <= 0:
        return cls(trained, lr=cfg.lr, weight_decay=cfg.weight_decay)
    visual = [p for p in model.visual_parameters() if p.requires_grad]
    if not visual:
        raise SimkitError(f"model {cfg.model} declares no visual parameters, so a visual learning rate "
                          f"({cfg.visual_lr:g}) would apply to nothing")
    ids = {id(p) for p in visual}
    rest = [p for p in trained if id(p) not in ids]
    return cls([{"params": rest, "lr": cfg.lr}, {"params": visual, "lr": cfg.visual_lr}], lr=cfg.lr,
               weight_decay=cfg.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, cfg: BenchConfig,
                   total_steps: int) -> tuple[torch.optim.lr_scheduler.LRScheduler, bool]:
    """The learning-rate schedule and whether it steps per batch (else per epoch): ``cosine`` annealed over
    ``total_steps`` batches, ``step`` x ``lr_decay`` every ``lr_decay_epochs`` epochs (2.5D Visual Sound's
    ``train.py:186-188``), ``constant``."""
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps)), True
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay_epochs, gamma=cfg.lr_decay), False
    if cfg.lr_schedule == "constant":
        return torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0), True
    raise SimkitError(f"lr_schedule must be cosine, step or constant (got {cfg.lr_schedule!r})")


def train_model(
    model: BenchModel,
    cfg: BenchConfig,
    task: TaskSpec,
    device: torch.device,
    run_dir: Path,
    log: Log | None,
    negatives: bool = False,
) -> tuple[list[dict[str, float]], int, Selection]:
    """The run's optimiser and schedule (:func:`make_optimizer`, :func:`make_scheduler`; AdamW + cosine by
    default) + early stopping on the validation selection (:func:`resolve_selection`); returns history, best
    epoch and the selection.

    ``best.pt`` holds the selected weights (loaded back into ``model`` at the end), ``last.pt`` the state
    after the latest epoch (with optimizer and scheduler, for inspection or resumption). ``negatives``: the
    model's ``needs_negative_pairs`` (the splits are opened with negative pairs only then).

    A model with :meth:`~simkit.models.BenchModel.training_stages` trains stage after stage, each a run of
    its own (its best checkpoint loaded back before the next; an earlier stage's files are kept as
    ``<stage>_best.pt`` / ``<stage>_last.pt``); the history has every stage's epochs in order (numbered on,
    with ``stage`` = the stage's index) and the best epoch and selection are the last stage's.
    """
    stages = model.training_stages()
    if not stages:
        return _train_stage(model, cfg, task, device, run_dir, log, negatives)
    history: list[dict[str, float]] = []
    best_epoch, sel = 0, None
    for k, stage in enumerate(stages):
        model.begin_stage(stage.name)
        epochs = stage.epochs or cfg.epochs
        if log:
            log(f"  stage {k + 1}/{len(stages)} {stage.name}: {epochs} epochs")
        done, best, sel = _train_stage(model, dataclasses.replace(cfg, epochs=epochs), task, device, run_dir,
                                       log, negatives, select_on_loss=stage.select_on_loss)
        offset = len(history)
        history += [{**h, "epoch": offset + h["epoch"], "stage": float(k)} for h in done]
        best_epoch = offset + best if best else 0
        if k < len(stages) - 1:  # keep the earlier stage's files; the last stage writes best.pt / last.pt
            for name in ("best", "last"):
                if (run_dir / f"{name}.pt").exists():
                    (run_dir / f"{name}.pt").replace(run_dir / f"{stage.name}_{name}.pt")
    assert sel is not None
    return history, best_epoch, sel


def _train_stage(
    model: BenchModel,
    cfg: BenchConfig,
    task: TaskSpec,
    device: torch.device,
    run_dir: Path,
    log: Log | None,
    negatives: bool = False,
    select_on_loss: bool = False,
) -> tuple[list[dict[str, float]], int, Selection]:
    """One training run of :func:`train_model` (``select_on_loss``: pick on the mean val loss whatever the
    configured selection is)."""
    data = Path(cfg.data)
    train_ds = open_split(task, data, "train", cfg, True, negatives)
    # derived clips convolved on the device: the loader only reads (datasets that store clips read them)
    deferred = derive_on(cfg, device) == "device" and bool(getattr(train_ds, "defer_derivation", bool)())
    finish: Callable[[dict[str, Any]], dict[str, Any]] = train_ds.finish_batch if deferred else dict
    full_val = open_split(task, data, "val", cfg, False, negatives)
    val_ds = epoch_val_subset(full_val, cfg, task)
    train_loader = make_loader(train_ds, cfg, device, shuffle=True, task=task)
    val_loader = make_loader(val_ds, cfg, device, shuffle=False, task=task)
    if log and val_ds is not full_val:
        n_val, n_full = len(val_ds), len(full_val)  # type: ignore[arg-type]
        log(f"  per-epoch validation on {n_val} of {n_full} val items (--val-items); final scores use all")
    sel = (Selection("loss", False, uses_labels=False) if select_on_loss
           else resolve_selection(model, cfg, task, labelled(task, full_val)))
    sel_name, higher = sel.name, sel.higher_is_better
    if log:
        if sel.no_labels:
            log("  val split has no labels: selecting and early-stopping on val loss")
        elif sel.label_selected:
            log(f"  self-supervised model selected on labelled val {sel_name} (--select-metric)")
        else:
            log(f"  checkpoint selection: val {sel_name}{'' if sel.uses_labels else ' (label-free)'}")
    # only what trains: a stage may freeze networks (SLfM's make_optimizer filters on requires_grad too)
    opt = make_optimizer(model, cfg)
    total_steps = cfg.epochs * len(train_loader)
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    sched, per_step = make_scheduler(opt, cfg, total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda" and cfg.amp)
    history: list[dict[str, float]] = []
    best, best_epoch, since_best, steps = float("nan"), 0, 0, 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for epoch in range(1, cfg.epochs + 1):
        train_ds.set_epoch(epoch)
        model.train()
        t0, losses, n_items, waited = time.perf_counter(), [], 0, []
        for raw in timed_batches(train_loader, waited):
            batch = finish(to_device(raw, device))
            with _autocast(device, cfg):
                loss, _parts = model.loss(batch)
            if not torch.isfinite(loss):
                raise SimkitError(f"training of {cfg.model} diverged (loss {float(loss)}) in epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if per_step:
                sched.step()
            losses.append(float(loss.detach()))  # also a device sync, so step timing is real
            n_items += batch_items(batch, task)
            steps += 1
            if cfg.max_steps and steps >= cfg.max_steps:
                break
        train_s = time.perf_counter() - t0
        lr_now = opt.param_groups[0]["lr"]  # the rate this epoch trained at (a step schedule moves it below)
        if not per_step:
            sched.step()
        tenth = max(1, len(losses) // 10)
        val_parts: dict[str, float] = {}
        records, val_loss = evaluate_split(model, val_loader, task, device, cfg, with_loss=True, parts=val_parts)
        value = _select_value(sel, model, records, val_loss, val_parts)
        entry = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "val_loss": val_loss,
            "val_select": value,
            "lr": lr_now,
            "train_seconds": train_s,
            "items": n_items,
            "items_per_s": n_items / train_s,
            # seconds the loop waited on the DataLoader for a batch (a starved device shows here)
            "loader_wait_s": float(sum(waited)),
            "loader_wait_frac": float(sum(waited)) / train_s if train_s > 0 else 0.0,
            "loader_workers": train_loader.num_workers,
            "clips_derived_on": "device" if deferred else "loader",
            "steps": steps,  # optimizer steps so far
            "train_loss_first": float(np.mean(losses[:tenth])),  # the epoch's first / last 10 % of steps
            "train_loss_last": float(np.mean(losses[-tenth:])),
            # peak bytes the CUDA caching allocator handed out since training began (0 on CPU)
            "peak_gpu_mem_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0,
        }
        history.append(entry)
        improved = _better(value, best, higher) or (best_epoch == 0)
        if improved:
            best, best_epoch, since_best = value, epoch, 0
            _save(
                {
                    "model": model.state_dict(),
                    "epoch": epoch,
                    "select_metric": sel_name,
                    "select_value": value,
                },
                run_dir / "best.pt",
            )
        else:
            since_best += 1
        _save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "history": history,
            },
            run_dir / "last.pt",
        )
        if log:
            log(
                f"  epoch {epoch}: train loss {entry['train_loss']:.4f}, val loss {val_loss:.4f}"
                f"{'' if sel_name == 'loss' else f', val {sel_name} {value:.4f}'}{' (best)' if improved else ''}, "
                f"{entry['items_per_s']:.1f} items/s, loader wait {entry['loader_wait_s']:.1f} s "
                f"({100 * entry['loader_wait_frac']:.0f} %, {train_loader.num_workers} workers)"
            )
        if cfg.max_steps and steps >= cfg.max_steps:
            if log:
                log(f"  stopped after {steps} steps (--max-steps)")
            break
        if since_best >= cfg.patience:
            if log:
                log(f"  early stop: no val improvement for {cfg.patience} epochs (best epoch {best_epoch})")
            break
    if best_epoch:
        state = torch.load(run_dir / "best.pt", map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
    return history, best_epoch, sel


def _write_predictions(path: Path, per_split: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    cols = ["split"] + list(next(iter(per_split.values())).keys())
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for split, rec in per_split.items():
            n = len(next(iter(rec.values())))
            for i in range(n):
                row = [split]
                for c in cols[1:]:
                    v = rec[c][i]
                    row.append(repr(float(v)) if isinstance(v, (float, np.floating)) else str(v))
                w.writerow(row)


def run_model(
    cfg: BenchConfig,
    spec: ModelSpec,
    task: TaskSpec,
    device: torch.device,
    log: Log | None = None,
) -> RunResult:
    """One model's complete run (``cfg.model`` is ignored in favour of ``spec``)."""
    cfg = dataclasses.replace(cfg, model=spec.name)
    data = Path(cfg.data)
    info = task.data_info(data, cfg)
    results = check_writable_dir(cfg.results)
    stamp = datetime.now(timezone.utc)
    # The run id is a label only; its random suffix never feeds any result.
    run_id = f"{stamp:%Y%m%dT%H%M%SZ}-{spec.name}-s{cfg.seed}-{uuid.uuid4().hex[:6]}"
    # Work happens in a hidden .partial directory, renamed when metrics.json is written; a failed or
    # interrupted run removes it (runs/ only ever shows complete runs).
    run_dir = results / "runs" / f".{run_id}.partial"
    run_dir.mkdir(parents=True)
    try:
        return _run_model_in(cfg, spec, task, device, log, info, results, run_id, run_dir, stamp)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _run_model_in(
    cfg: BenchConfig, spec: ModelSpec, task: TaskSpec, device: torch.device, log: Log | None,
    info: dict[str, Any], results: Path, run_id: str, run_dir: Path, stamp: datetime,
) -> RunResult:
    data = Path(cfg.data)
    commit = git_commit()
    meta = {
        "run_id": run_id,
        "model": spec.name,
        "task": task.name,
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "versions": package_versions(),
        "git_commit": commit,
        "device": str(device),
        "dataset": info["dataset"],
        "data_manifest_hash": info["manifest_hash"],
        "data_protocol": info.get("protocol_label", ""),
        "data_dir": str(data.resolve()),
        "started_utc": stamp.isoformat(),
        # where each value the recipe set comes from (simkit.bench.recipes)
        "recipe": cfg.recipe,
        "recipe_sources": recipe_sources(cfg, spec.name),
    }
    atomic_write_json(run_dir / "config.json", meta)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # weights depend on the seed only, not on what ran before
        model = spec.build(cfg, info)
    model.to(device)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if log:
        log(f"{spec.name}: {params} parameters on {device}, data {info['dataset']}")
    history: list[dict[str, float]] = []
    best_epoch, t0 = 0, time.perf_counter()
    sel: Selection | None = None  # untrained models select nothing
    if spec.trainable and cfg.epochs > 0:
        history, best_epoch, sel = train_model(model, cfg, task, device, run_dir, log, spec.needs_negative_pairs)
    train_seconds = time.perf_counter() - t0 if spec.trainable else 0.0
    if not history:
        _save({"model": model.state_dict(), "epoch": 0}, run_dir / "best.pt")
        _save({"model": model.state_dict(), "epoch": 0}, run_dir / "last.pt")
    # (dataset info, split) -> records / metrics / seconds: the training set's val and test (when they carry
    # labels), then the test split of every --test-data set
    blocks: list[tuple[dict[str, Any], str, Dataset]] = []
    main, notes = main_eval_splits(task, cfg, info, spec.needs_negative_pairs)
    if log:
        for note in notes:  # e.g. evaluation-only releases (StereoCRW in the wild) have no val split
            log(f"  {note}")
    blocks += [(info, split, ds) for split, ds in main]
    for other in test_sets(cfg):
        oinfo, ods = score_test_set(task, other, cfg, spec.needs_negative_pairs, info.get("sample_rate"))
        blocks.append((oinfo, "test", ods))
    per_split: dict[str, dict[str, np.ndarray]] = {}
    metrics: dict[str, dict[str, MetricValue]] = {}
    eval_seconds: dict[str, float] = {}
    scored: list[tuple[dict[str, Any], str, dict[str, MetricValue], float]] = []
    for binfo, split, ds in blocks:
        t1 = time.perf_counter()
        loader = make_loader(ds, cfg, device, shuffle=False, task=task)
        records, _ = evaluate_split(model, loader, task, device, cfg, with_loss=False)
        seconds = time.perf_counter() - t1
        ms = evaluate(reported_metrics(task, cfg), records)
        key = split if binfo is info else f"{binfo['dataset']}:{split}"
        per_split[key], metrics[key], eval_seconds[key] = records, ms, seconds
        scored.append((binfo, split, ms, seconds))
    _write_predictions(run_dir / "predictions.csv", per_split)
    if history:
        plot_curves(history, run_dir / "curves.png", sel.name if sel else task.select_metric)
    if task.plot_examples is not None and any(split == "test" for _, split, _ in blocks):
        test_ds = [ds for _, split, ds in blocks if split == "test"][-1]
        task.plot_examples(model, test_ds, run_dir / "examples.png", device=device)
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    source = "simkit bench" if not cfg.test_data else f"simkit bench (trained on {info['dataset']})"
    rows = []
    for binfo, split, ms, seconds in scored:
        for name, mv in ms.items():
            m = get_metric(name)
            rows.append(
                {
                    "run_id": run_id,
                    "timestamp_utc": now,
                    "model": spec.name,
                    "task": task.name,
                    "dataset": binfo["dataset"],
                    "split": split,
                    "metric": name,
                    "value": mv.value,
                    "unit": m.unit,
                    "higher_is_better": m.higher_is_better,
                    "n_samples": mv.n,
                    "seed": cfg.seed,
                    "epochs": len(history),
                    "train_seconds": round(train_seconds, 3),
                    "eval_seconds": round(seconds, 3),
                    "device": device_name,
                    "params": params,
                    "git_commit": commit,
                    "config_hash": cfg.config_hash(),
                    "data_manifest_hash": binfo["manifest_hash"],
                    "simkit_version": simkit.__version__,
                    "is_reference": False,
                    "source": source,
                    "protocol": binfo.get("protocol_label", ""),
                    "select_metric": sel.name if sel else "",
                    "label_selected": sel.label_selected if sel else False,
                    "recipe": cfg.recipe,
                    "ablate_image": cfg.ablate_image,
                }
            )
    atomic_write_json(  # the run's own record first: whatever then happens to the shared CSV
        run_dir / "metrics.json",
        {
            "run_id": run_id,
            "model": spec.name,
            "best_epoch": best_epoch,
            # what picked best_epoch on val ("" = not trained) and whether a self-supervised model read labels
            "select_metric": sel.name if sel else "",
            "label_selected": sel.label_selected if sel else False,
            "recipe": cfg.recipe,
            "ablate_image": cfg.ablate_image,
            "epochs_trained": len(history),
            "train_seconds": train_seconds,
            "eval_seconds": eval_seconds,
            "history": history,
            "metrics": {
                s: {
                    k: {
                        "value": v.value,
                        "n": v.n,
                        "unit": get_metric(k).unit,
                        "higher_is_better": get_metric(k).higher_is_better,
                    }
                    for k, v in ms.items()
                }
                for s, ms in metrics.items()
            },
        },
    )
    final_dir = results / "runs" / run_id
    os.replace(run_dir, final_dir)  # complete: the run directory appears under its own name
    run_dir = final_dir
    try:
        written = append_rows(results / LEADERBOARD, rows)
    except SimkitError as e:
        raise type(e)(f"{e} (the run's scores are in {run_dir / 'metrics.json'})") from None
    if log:
        for key, ms in metrics.items():
            if key.endswith("test"):
                shown = ", ".join(f"{k} {v.value:.3f}" for k, v in sorted(ms.items()))
                log(f"{spec.name}: {key} {shown}")
        log(f"{spec.name}: -> {run_dir}")
    return RunResult(
        run_id, spec.name, run_dir, metrics, len(history), best_epoch, train_seconds, written, history
    )


def reported_metrics(task: TaskSpec, cfg: BenchConfig) -> list[str]:
    """The metrics a run reports: the task's list, plus ``--select-metric`` when it names another one of
    the task's metrics (e.g. a plug-in ``pkg.module:name``), so the selected metric is always reported."""
    names = list(task.metrics)
    sel = cfg.select_metric
    if sel and sel != "loss" and get_metric(sel).name not in {get_metric(n).name for n in names}:
        names.append(sel)
    return names


def test_sets(cfg: BenchConfig) -> list[Path]:
    """The ``--test-data`` directories (comma-separated), in order, without repeats."""
    out: list[Path] = []
    for part in cfg.test_data.split(","):
        if part.strip() and Path(part.strip()) not in out:
            out.append(Path(part.strip()))
    return out


def run_bench(cfg: BenchConfig, log: Log | None = None) -> list[RunResult]:
    """Run ``cfg.model`` (or every model of ``cfg.task`` for ``"all"``) and append the leaderboard."""
    validate_config(cfg)
    task = get_task(cfg.task)
    if not cfg.data:
        raise SimkitError("no dataset given: pass --data DIR (the output of `simkit render` or `simkit prepare`)")
    names = models_for_task(task.name) if cfg.model == "all" else [cfg.model]
    specs = [get_model(n) for n in names]
    for s in specs:
        if s.task != task.name:
            raise SimkitError(f"model {s.name} is for task {s.task}, not {task.name} (see --task)")
    if not specs:
        raise SimkitError(f"no models registered for task {task.name}")
    # every model gets the options it declares; an option no selected model declares is an error
    per_model = options_for(specs, cfg.model_options)
    if cfg.ablate_image and not task.image_keys:
        raise SimkitError(f"task {task.name} feeds its models no image: --ablate-image has nothing to ablate")
    # each model's configuration: its declared options, then its recipe (--recipe paper: its published values)
    model_cfgs = {s.name: resolve(dataclasses.replace(cfg, model=s.name, model_options=per_model[s.name]), s.name)
                  for s in specs}
    sel = cfg.select_metric
    if sel and sel != "loss" and get_metric(sel).task != task.name:
        raise SimkitError(f"select metric {sel} is not a metric of task {task.name}")
    device = resolve_device(cfg.device)
    protocols = bench_protocols(cfg)
    if cfg.model == "all":  # every model the dataset can feed (e.g. slfm's camera network needs images)
        have = open_dataset(cfg.data, (), None).groups
        lacking = [s for s in specs if not all(any(o in have for o in g.split("|")) for g in s.groups)]
        for s in lacking:
            if log:
                log(f"skipping model {s.name}: it needs group(s) {', '.join(s.groups)}, which {cfg.data} lacks")
        specs = [s for s in specs if s not in lacking]
    for proto in protocols:
        pcfg = dataclasses.replace(cfg, protocol=proto)
        groups = open_dataset(cfg.data, (), proto or None).groups
        for s in specs:  # what the task and each model need, named with the dataset, before any run
            require_groups_of(groups, [*task.groups, *s.groups], f"model {s.name} (task {task.name})", cfg.data)
        task.data_info(Path(cfg.data), pcfg)  # validate the dataset once before any run starts
        verify_dataset(cfg.data, proto or None)  # every chunk: a corrupt shard is an error line, not a crash
    for other in test_sets(cfg):  # every --test-data set is validated before any run too
        task.data_info(other, dataclasses.replace(cfg, protocol=""))
        verify_dataset(other, None)
    # every split a run reads is opened now: an empty or unlabelled one is an error before training, not after
    if cfg.recipe == "paper":  # a recipe may change what a split holds (views per item, items)
        for s in specs:
            check_splits(model_cfgs[s.name], task, [s], protocols)
    else:
        check_splits(cfg, task, specs, protocols)
    if cfg.ablate_image:  # every model must see an image to ablate (direction: only the camera models do)
        for s in specs:
            check_sees_image(task, model_cfgs[s.name], s)
    results = check_writable_dir(cfg.results)
    check_appendable(results / LEADERBOARD)  # a broken leaderboard is found before training, not after
    threads = torch.get_num_threads()
    if cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    try:
        return [
            run_model(dataclasses.replace(model_cfgs[s.name], protocol=proto), s, task, device, log)
            for proto in protocols
            for s in specs
        ]
    finally:
        torch.set_num_threads(threads)


def check_sees_image(task: TaskSpec, cfg: BenchConfig, spec: ModelSpec) -> None:
    """SimkitError when ``spec``'s items carry none of the task's ``image_keys`` (read from the first test
    item): ``--ablate-image`` would change nothing the model sees."""
    ds = task.open_split(Path(cfg.data), "test", cfg, False, negatives=spec.needs_negative_pairs)
    if len(ds) and not any(k in ds[0] for k in task.image_keys):  # type: ignore[arg-type]
        raise SimkitError(f"model {spec.name} sees no image (task {task.name}): --ablate-image has nothing "
                          "to ablate")


def bench_protocols(cfg: BenchConfig) -> list[str]:
    """The split protocols ``cfg.protocol`` names on ``cfg.data``: "" (the default), one name, a family's
    members or ``all`` (:func:`simkit.data.layout.resolve_protocols`)."""
    if not cfg.protocol:
        return [""]
    from simkit.data.layout import DEFAULT_PROTOCOL, read_manifest, resolve_protocols

    names = resolve_protocols(read_manifest(cfg.data), cfg.protocol, str(cfg.data))
    return ["" if n == DEFAULT_PROTOCOL else n for n in names]


def require_groups_of(have: list[str], needs: list[str], who: str, data: str) -> None:
    """SimkitError naming ``who`` and the first needed group (``a|b``: either) the dataset lacks."""
    for need in needs:
        options = need.split("|")
        if not any(o in have for o in options):
            raise SimkitError(f"{who} needs group {' or '.join(options)}, which dataset {data} lacks "
                              f"(it has {', '.join(have) or 'none'})")


def run_demo_bench(data_dir: Path | str, results_dir: Path | str, log: Log | None = None) -> str:
    """The ``make demo`` bench: ``iid`` and ``ours_full`` with --quick, then the leaderboard as text."""
    for model in ("iid", "ours_full"):
        run_bench(make_config(quick=True, model=model, data=str(data_dir), results=str(results_dir)), log)
    rows = read_leaderboard(Path(results_dir) / "leaderboard.csv")
    return format_pivot(pivot(rows, task="direction"), "table")
