"""Typed configuration of ``simkit bench``: every default lives here, documented once (docs/bench.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from simkit.errors import SimkitError
from simkit.io import stable_hash


@dataclass
class FeatureConfig:
    """Network input: log-magnitude STFT of both ears + interaural phase difference (cos, sin)."""

    n_fft: int = 512  # STFT size (32 ms at 16 kHz)
    hop: int = 160  # STFT hop (10 ms at 16 kHz)
    clip_seconds: float = 2.55  # audio fed to the network: random crop when training, centre crop otherwise


@dataclass
class BenchConfig:
    """One ``simkit bench`` run (one model on one task and dataset)."""

    model: str = "ours_full"  # name in simkit.models.MODELS, or "all" for every model of the task
    task: str = "direction"  # name in simkit.bench.tasks.TASKS
    data: str = ""  # dataset directory (output of `simkit render` or `simkit prepare`); required
    protocol: str = ""  # split protocol of the dataset ("" = its default; a name, a family or "all")
    results: str = "results"  # leaderboard.csv and runs/<run_id>/ go here
    # labelled datasets the trained model is also scored on (their test split), comma-separated; one
    # leaderboard block each (e.g. train on a `simkit curate` set, test on renders / prepared sets)
    test_data: str = ""
    epochs: int = 30  # maximum training epochs (early stopping usually ends sooner)
    batch_size: int = 16  # view sets (items) per step; every item holds V views of one source
    lr: float = 1e-4  # AdamW learning rate (seed 000, A.2.2)
    weight_decay: float = 1e-2  # AdamW weight decay (PyTorch default)
    patience: int = 5  # epochs without validation improvement before stopping
    select_metric: str = ""  # validation metric for checkpoint selection; "" = the task's, "loss" = val loss
    device: str = "auto"  # auto | cuda | cpu
    amp: bool = True  # mixed precision (autocast + GradScaler) when on CUDA
    seed: int = 0  # model init, shuffling, crops and augmentation all derive from it
    num_workers: int = 2  # DataLoader worker processes (0 = load in the main process)
    cpu_threads: int = 0  # torch intra-op threads on CPU (0 = torch's default); 1 avoids oversubscribed cores
    width: int = 32  # channels of the first ResNet-18 stage (64 = the original ResNet-18)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    views_per_item: int = 0  # views per training item: 0 = all V views of the set, k = random k of them
    reconvolve_prob: float = (
        0.5  # chance a training item is re-rendered with another utterance ("online render")
    )
    max_items: int = 0  # cap on items per split (0 = all); --quick uses a small cap
    max_steps: int = 0  # stop training after this many optimizer steps (0 = no cap); speed checks use it
    # val items scored after each epoch for selection/early stopping: -1 = the task's default, 0 = all
    epoch_val_items: int = -1
    quick: bool = False  # smoke-test preset (QUICK_OVERRIDES)
    # per-model knobs, e.g. {"lambda1": 0.9}; numbers, booleans or strings (docs/bench.md, "Options")
    model_options: dict[str, float | bool | str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        """Hash of everything that determines the result (paths and the model list are not)."""
        d = self.to_dict()
        for k in ("data", "results", "num_workers", "cpu_threads", "test_data"):
            d.pop(k)
        if d["protocol"] in ("", "default"):
            d.pop("protocol")  # hashes of runs on a dataset's default split stay what they were
        return stable_hash(d)


# What --quick changes (unless the same option is given explicitly): about a minute on CPU. Its few
# hundred steps need a larger learning rate and smaller batches than the full schedule.
QUICK_OVERRIDES: dict[str, Any] = {
    "epochs": 5,
    "patience": 5,
    "batch_size": 4,
    "lr": 1e-3,
    "width": 8,
    "max_items": 160,
    "num_workers": 0,
    "cpu_threads": 1,  # on shared/small CPUs two OpenMP threads measured ~10x slower than one
    "features": {"n_fft": 256, "hop": 128, "clip_seconds": 1.0},
}


def make_config(quick: bool = False, **overrides: Any) -> BenchConfig:
    """BenchConfig from defaults, then the --quick preset, then explicit ``overrides`` (None = not given)."""
    values: dict[str, Any] = {}
    if quick:
        values.update(QUICK_OVERRIDES)
        values["quick"] = True
    feat = dict(values.pop("features", {}))
    feat.update(overrides.pop("features", None) or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    names = {f.name for f in dataclasses.fields(BenchConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SimkitError(f"unknown bench option(s): {', '.join(unknown)}")
    fnames = {f.name for f in dataclasses.fields(FeatureConfig)}
    if set(feat) - fnames:
        raise SimkitError(f"unknown feature option(s): {', '.join(sorted(set(feat) - fnames))}")
    cfg = BenchConfig(**values, features=FeatureConfig(**feat))
    validate_config(cfg)
    return cfg


def validate_config(cfg: BenchConfig) -> None:
    """Reject impossible values with one line naming the option."""
    checks = [
        (cfg.epochs >= 0, f"--epochs must be >= 0 (got {cfg.epochs})"),
        (cfg.batch_size >= 1, f"--batch-size must be >= 1 (got {cfg.batch_size})"),
        (cfg.lr > 0, f"learning rate must be > 0 (got {cfg.lr})"),
        (cfg.patience >= 1, f"patience must be >= 1 (got {cfg.patience})"),
        (cfg.device in ("auto", "cuda", "cpu"), f"--device must be auto, cuda or cpu (got {cfg.device!r})"),
        (cfg.num_workers >= 0, f"num_workers must be >= 0 (got {cfg.num_workers})"),
        (cfg.cpu_threads >= 0, f"--threads must be >= 0 (got {cfg.cpu_threads})"),
        (cfg.width >= 1, f"width must be >= 1 (got {cfg.width})"),
        (cfg.views_per_item == 0 or cfg.views_per_item >= 2, "views_per_item must be 0 (all) or >= 2"),
        (0.0 <= cfg.reconvolve_prob <= 1.0, f"reconvolve_prob must be in [0, 1] (got {cfg.reconvolve_prob})"),
        (cfg.max_items >= 0, f"max_items must be >= 0 (got {cfg.max_items})"),
        (cfg.max_steps >= 0, f"--max-steps must be >= 0 (got {cfg.max_steps})"),
        (
            cfg.epoch_val_items >= -1,
            f"--val-items must be >= 0, or -1 for the task's default (got {cfg.epoch_val_items})",
        ),
        (cfg.features.n_fft >= 16 and cfg.features.hop >= 1, "features: n_fft must be >= 16 and hop >= 1"),
        (cfg.features.clip_seconds > 0, "features.clip_seconds must be > 0"),
    ]
    for ok, msg in checks:
        if not ok:
            raise SimkitError(msg)
