"""Typed configuration of ``simkit bench``: every default lives here, documented once (docs/bench.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from simkit.config import config_hash, convert, from_dict, parse_key_values, setting, to_dict, validate
from simkit.errors import SimkitError

RECIPES = ("default", "quick", "paper")
ABLATIONS = ("", "shuffle", "blank")
# fields added after hashes were published: dropped from the hash at these values, so old hashes stay
_HASH_DEFAULTS: dict[str, Any] = {"ablate_image": "", "optimizer": "adamw", "visual_lr": 0.0,
                                  "lr_schedule": "cosine", "lr_decay_epochs": 10, "lr_decay": 0.94}

# A model option's value: a number (always a float, so 4 and 4.0 hash alike), a boolean, or a string (a path)
OptionValue = float | bool | str


@dataclass
class FeatureConfig:
    """Network input: log-magnitude STFT of both ears + interaural phase difference (cos, sin)."""

    n_fft: int = setting(512, min=16)  # STFT size (32 ms at 16 kHz)
    hop: int = setting(160, min=1)  # STFT hop (10 ms at 16 kHz)
    # audio fed to the network: random crop when training, centre crop otherwise
    clip_seconds: float = setting(2.55, above=0)


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
    epochs: int = setting(30, min=0, label="--epochs")  # maximum training epochs (early stopping usually ends sooner)
    # view sets (items) per step; every item holds V views of one source
    batch_size: int = setting(16, min=1, label="--batch-size")
    lr: float = setting(1e-4, above=0, label="learning rate")  # AdamW learning rate (seed 000, A.2.2)
    weight_decay: float = 1e-2  # AdamW weight decay (PyTorch default)
    patience: int = setting(5, min=1, label="patience")  # epochs without validation improvement before stopping
    # val selection of the checkpoint: "" = the default (self-supervised models: label-free, their val loss or
    # their authors' score; others: the task's metric), "loss" = val loss, or a metric of the task (labels)
    select_metric: str = ""
    device: str = setting("auto", choices=("auto", "cuda", "cpu"), label="--device")  # auto | cuda | cpu
    amp: bool = True  # mixed precision (autocast + GradScaler) when on CUDA
    seed: int = 0  # model init, shuffling, crops and augmentation all derive from it
    # DataLoader worker processes: 0 = load in the main process, -1 = auto (harness.loader_workers: on CUDA
    # min(8, usable cores - 1), enough to feed the GPU; on CPU 2, which leaves the cores to the training step)
    num_workers: int = setting(-1, min=-1, label="--workers")
    # where training items' derived clips (compact storage) are convolved: auto (device on CUDA, loader on
    # CPU) | loader (CPU workers, float64) | device (one batched float32 FFT after the transfer)
    derive_on: str = setting("auto", choices=("auto", "loader", "device"), label="--derive-on")
    # torch intra-op threads on CPU (0 = torch's default); 1 avoids oversubscribed cores
    cpu_threads: int = setting(0, min=0, label="--threads")
    width: int = setting(32, min=1)  # channels of the first ResNet-18 stage (64 = the original ResNet-18)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    views_per_item: int = 0  # views per training item: 0 = all V views of the set, k = random k of them
    # chance a training item is re-rendered with another utterance ("online render")
    reconvolve_prob: float = setting(0.5, min=0, max=1)
    max_items: int = setting(0, min=0)  # cap on items per split (0 = all); --quick uses a small cap
    # stop training after this many optimizer steps (0 = no cap); speed checks use it
    max_steps: int = setting(0, min=0, label="--max-steps")
    # val items scored after each epoch for selection/early stopping: -1 = the task's default, 0 = all
    epoch_val_items: int = setting(-1, min=-1, label="--val-items")
    quick: bool = False  # smoke-test preset (QUICK_OVERRIDES); the same as recipe "quick"
    # training recipe (simkit.bench.recipes, docs/bench.md "Recipes"): "default" (the CPU-sized defaults of
    # this class), "quick" (QUICK_OVERRIDES) or "paper" (each model's published values, cited per value);
    # recorded in every leaderboard row, and rows of different recipes are never ranked together
    recipe: str = setting("default", choices=RECIPES, label="--recipe")
    # BenchConfig fields given explicitly (CLI flags, make_config overrides): a recipe never overrides them.
    # Not hashed: the resolved values are.
    explicit: list[str] = field(default_factory=list)
    # vision-ablation control (docs/bench.md "Image ablation"): "" none, "shuffle" (every item gets another
    # item's image, a seeded derangement fixed per run and split) or "blank" (every image all zeros)
    ablate_image: str = setting("", choices=ABLATIONS, label="--ablate-image")
    # optimiser: "adamw" (seed 000 A.2.2) or "adam" (2.5D Visual Sound, DiffWave); betas (0.9, 0.999) both
    optimizer: str = setting("adamw", choices=("adamw", "adam"), label="optimizer")
    # learning rate of the model's declared visual parameters (BenchModel.visual_parameters); 0 = lr
    visual_lr: float = setting(0.0, min=0, label="visual learning rate")
    # "cosine" (annealed per step over the run), "step" (x lr_decay every lr_decay_epochs epochs, as 2.5D
    # Visual Sound's train.py) or "constant" (DiffWave)
    lr_schedule: str = setting("cosine", choices=("cosine", "step", "constant"), label="lr schedule")
    lr_decay_epochs: int = setting(10, min=1, label="lr decay epochs")  # "step" schedule only
    lr_decay: float = setting(0.94, above=0, max=1, label="lr decay")  # "step" schedule only
    # per-model knobs, e.g. {"lambda1": 0.9}; numbers, booleans or strings (docs/bench.md, "Options")
    model_options: dict[str, OptionValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def config_hash(self) -> str:
        """Hash of everything that determines the result (paths and the model list are not)."""
        d = self.to_dict()
        for k in ("data", "results", "num_workers", "cpu_threads", "test_data"):
            d.pop(k)
        if d["protocol"] in ("", "default"):
            d.pop("protocol")  # hashes of runs on a dataset's default split stay what they were
        if d["derive_on"] == "auto":
            d.pop("derive_on")  # auto follows the device, which every row records; old hashes stay
        d.pop("explicit")
        if d["recipe"] in ("default", "quick"):
            d.pop("recipe")  # "quick" is hashed as quick=true, as before recipes existed
        for k, v in _HASH_DEFAULTS.items():
            if d[k] == v:
                d.pop(k)
        return config_hash(d)


def parse_option_value(text: str) -> OptionValue:
    """``--option`` value: a float when it parses as a number, ``true``/``false`` (any case) as a boolean,
    anything else as the string itself (e.g. a weights file)."""
    return convert(OptionValue, text, "--option value", text=True)


def parse_model_options(items: list[str]) -> dict[str, OptionValue]:
    """``--option KEY=VALUE`` items (:func:`simkit.config.parse_key_values`) with typed values."""
    return {k: parse_option_value(v) for k, v in parse_key_values(items).items()}


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


def make_config(quick: bool = False, recipe: str | None = None, **overrides: Any) -> BenchConfig:
    """BenchConfig from defaults, then the recipe (``quick``: the QUICK_OVERRIDES preset, the same as
    ``quick=True``; ``paper``: recorded here, each model's values applied per model by
    :func:`simkit.bench.recipes.resolve`), then explicit ``overrides`` (None = not given), which no recipe
    overrides (``BenchConfig.explicit``)."""
    recipe = recipe or ("quick" if quick else "default")
    if quick and recipe != "quick":
        raise SimkitError(f"--quick is --recipe quick; it cannot be combined with --recipe {recipe}")
    values: dict[str, Any] = {"recipe": recipe}
    if recipe == "quick":
        values.update(QUICK_OVERRIDES)
        values["quick"] = True
    feat = dict(values.pop("features", {}))
    given_feat = overrides.pop("features", None) or {}
    feat.update(given_feat)
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    values["explicit"] = sorted({*given, *(f"features.{k}" for k in given_feat)} - {"model_options"})
    names = {f.name for f in dataclasses.fields(BenchConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SimkitError(f"unknown bench option(s): {', '.join(unknown)}")
    fnames = {f.name for f in dataclasses.fields(FeatureConfig)}
    if set(feat) - fnames:
        raise SimkitError(f"unknown feature option(s): {', '.join(sorted(set(feat) - fnames))}")
    # --option values arrive as KEY=VALUE text: text=True turns "4" into 4.0, "true" into True
    cfg = from_dict(BenchConfig, {**values, "features": feat}, text=True)
    validate_config(cfg)
    return cfg


def validate_config(cfg: BenchConfig) -> None:
    """Reject impossible values with one line naming the option: the declared types and ranges of
    :class:`BenchConfig` (:func:`simkit.config.validate`), then the rule a range cannot say."""
    validate(cfg)
    if not (cfg.views_per_item == 0 or cfg.views_per_item >= 2):
        raise SimkitError(f"views_per_item must be 0 (all) or >= 2 (got {cfg.views_per_item})")
