"""Training recipes of ``simkit bench --recipe default|quick|paper`` (docs/bench.md, "Recipes").

``default`` is :class:`simkit.bench.config.BenchConfig` as declared (CPU-sized, no author's values);
``quick`` is :data:`simkit.bench.config.QUICK_OVERRIDES` (``--quick``, a smoke test); ``paper`` is one
:class:`ModelRecipe` per registered model in :data:`PAPER`: the published architecture widths, optimiser,
learning rates, schedule, batch, clip lengths and evaluation hop, **each value with its source** (repository,
commit, file and lines, or the seed's section). Models without public code (seed 000's Ours-full / Ours-R&T and
supervised rows, seed 001's CLUP) say "simkit's reading of seed NNN §x" where the seed states the value and
name the code they borrow it from where it does not. A value a model hard-codes is listed under ``fixed``
(documentation only), a published value simkit cannot apply under ``gaps``.

:func:`resolve` applies a model's paper values to a run's configuration; values given explicitly
(``BenchConfig.explicit``, ``--option``) win over the recipe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simkit.bench.config import BenchConfig, FeatureConfig, validate_config
from simkit.errors import SimkitError

SLFM = "IFICL/SLfM@0257622"
M2B = "facebookresearch/2.5D-Visual-Sound@73c7375"
DIFFWAVE = "lmnt-com/diffwave@0594106"
SEED000 = "seed 000 (Min et al., CVPR 2025, supp.)"
SEED001 = "seed 001 (CLUP, Li et al., CVPR 2024, supp.)"


@dataclass(frozen=True)
class Cited:
    """One recipe value and where it comes from."""

    value: Any
    source: str


@dataclass(frozen=True)
class ModelRecipe:
    """A model's paper recipe: ``settings`` (BenchConfig fields, ``features.NAME`` for the STFT/crop),
    ``options`` (the model's ``--option`` values), ``fixed`` (values the model's code hard-codes, listed for
    the record) and ``gaps`` (published values simkit cannot apply, each with the reason)."""

    source: str
    settings: Mapping[str, Cited] = field(default_factory=dict)
    options: Mapping[str, Cited] = field(default_factory=dict)
    fixed: Mapping[str, Cited] = field(default_factory=dict)
    gaps: tuple[str, ...] = ()

    def sources(self) -> dict[str, str]:
        """Every applied value's source, keyed ``setting`` / ``option.NAME``."""
        out = {k: c.source for k, c in self.settings.items()}
        out.update({f"option.{k}": c.source for k, c in self.options.items()})
        return out


def _seed000_direction(options: Mapping[str, Cited] | None = None, note: str = "") -> ModelRecipe:
    """Seed 000's trained direction models: A.2.2 gives optimiser, rate and schedule for "all models"; the
    rest is not stated there, so simkit takes SLfM's (the work seed 000 extends, whose losses it reuses)."""
    a22 = (f"simkit's reading of {SEED000} §A.2.2 (\"All models are trained using a learning rate of 0.0001 "
           "with the AdamW optimizer ... cosine annealing schedule and early stopping\")")
    not_stated = f"not stated in {SEED000}; simkit's reading takes"
    return ModelRecipe(
        source=f"no public code: simkit's reading of {SEED000} §A.2.2{note}",
        settings={
            "optimizer": Cited("adamw", a22),
            "lr": Cited(1e-4, a22),
            "lr_schedule": Cited("cosine", a22),
            "weight_decay": Cited(0.01, f"{not_stated} SLfM's effective one ({SLFM} slfm/utils/torch_utils.py:84-90 "
                                        "comments args.weight_decay out: AdamW's default 0.01)"),
            "patience": Cited(5, f"{a22}; the patience is not stated: simkit's 5"),
            "epochs": Cited(100, f"{not_stated} SLfM's default cap ({SLFM} slfm/config/config.py:9); early "
                                 "stopping ends it"),
            "batch_size": Cited(96, f"{not_stated} SLfM's ({SLFM} slfm/scripts/training/slfm-geometric.sh:8)"),
            "width": Cited(64, f"{not_stated} ResNet-18's width, as SLfM's audio backbone "
                               f"({SLFM} slfm-geometric.sh: audio_backbone='resnet18')"),
            "features.clip_seconds": Cited(2.55, f"{not_stated} SLfM's clip ({SLFM} slfm/config/params.py:16)"),
            "features.n_fft": Cited(512, f"{not_stated} SLfM's ({SLFM} slfm/config/params.py:25)"),
            "features.hop": Cited(160, f"{not_stated} SLfM's ({SLFM} slfm/config/params.py:23)"),
        },
        options=dict(options or {}),
        gaps=("the network is not described in seed 000 (its main paper is not among the seeds); simkit's "
              "ResNet-18 on binaural features at width 64",),
    )


_A22_LAMBDA = f"simkit's reading of {SEED000} §A.2.2"
# SLfM's training values (both stages, slfm-geometric.sh / slfm-pretext.sh), as simkit.models.direction.slfm.PAPER
_SLFM_SETTINGS: dict[str, Cited] = {
    "optimizer": Cited("adamw", f"{SLFM} slfm-geometric.sh:51 (--optim='AdamW')"),
    "lr": Cited(1e-4, f"{SLFM} slfm-geometric.sh:51 (--lr=0.0001), slfm-pretext.sh:74"),
    "weight_decay": Cited(0.01, f"{SLFM} slfm/utils/torch_utils.py:84-90 (args.weight_decay commented out: "
                                "AdamW's default 0.01)"),
    "lr_schedule": Cited("cosine", f"{SLFM} slfm-geometric.sh:51 (--schedule='cos')"),
    "batch_size": Cited(96, f"{SLFM} slfm-geometric.sh:8"),
    "epochs": Cited(20, f"{SLFM} slfm-geometric.sh:42"),
    "patience": Cited(500, f"{SLFM} main.py validates every epoch (--valid_step=1) and keeps the best, no "
                           "early stopping: patience >= every stage's epochs"),
    "views_per_item": Cited(3, f"{SLFM} slfm-geometric.sh:40, slfm-pretext.sh:34 (N_view=3)"),
    "width": Cited(64, f"{SLFM} torchvision resnet18 (models/audio_loc_net.py:51, camera_net.py:51)"),
    "features.clip_seconds": Cited(2.55, f"{SLFM} slfm/config/params.py:16, 69-70"),
    "features.n_fft": Cited(512, f"{SLFM} slfm/config/params.py:25"),
    "features.hop": Cited(160, f"{SLFM} slfm/config/params.py:23"),
}

PAPER: dict[str, ModelRecipe] = {
    "iid": ModelRecipe(
        source=f"{SEED000} §A.1.2 (IID pseudo label), Table 7",
        fixed={"clip": Cited("the whole clip", f"{SEED000} Table 7 scores 5 s clips (IIDModel.eval_whole_clip)")},
    ),
    "gcc_phat": ModelRecipe(
        source="GCC-PHAT (Knapp & Carter 1976), a textbook baseline; no author recipe",
        options={"n_fft": Cited(1024.0, "IFICL/stereocrw@c084885 config/config.py:89 (--gcc_fft 1024)")},
    ),
    "supervised": _seed000_direction(
        {"n_classes": Cited(4.0, f"{SEED000} Table 8 / §A.1 (\"supervised 4-classification\")")},
        note="; Table 8's supervised rows are 4-class, so the paper recipe trains 4 classes "
             "(= supervised_4class)",
    ),
    "supervised_4class": _seed000_direction(
        {"n_classes": Cited(4.0, f"{SEED000} Table 8 / §A.1 (\"supervised 4-classification\")")},
        note="; Table 8's \"supervised 4-classification\" rows",
    ),
    "ours_full": _seed000_direction({
        "lambda1": Cited(0.9, f"{_A22_LAMBDA} (Ours-full: lambda1 0.9)"),
        "lambda2": Cited(1.0, f"{_A22_LAMBDA} (Ours-full: lambda2 1)"),
    }),
    "ours_rt": _seed000_direction({
        "lambda1": Cited(0.9, f"{_A22_LAMBDA} (Ours-R&T: lambda1 0.9)"),
        "lambda2": Cited(0.0, f"{_A22_LAMBDA} (Ours-R&T: lambda2 0)"),
    }),
    "slfm": ModelRecipe(
        source=f"{SLFM}, pretext (slfm-pretext.sh) and geometric (slfm-geometric.sh) stages; "
               "simkit.models.direction.slfm.PAPER",
        settings=_SLFM_SETTINGS,
        options={"pretext_epochs": Cited(500.0, f"{SLFM} slfm/scripts/training/slfm-pretext.sh:73")},
        gaps=(
            "one batch size for both stages: the geometric stage's 96 (the pretext stage's is 64, "
            "slfm-pretext.sh:28)",
            "cosine annealed per batch; SLfM anneals per epoch (utils/torch_utils.py:108-112)",
            "ImageNet-pretrained camera ResNet-18 (--imagenet_pretrain, slfm/models/camera_net.py:49): pass a "
            "local torchvision file with --option visual_weights=PATH (never downloaded)",
        ),
    ),
    "slfm_simple": ModelRecipe(
        source="simkit's own simplified SLfM (no paper); trained with SLfM's geometric-stage values",
        settings=_SLFM_SETTINGS,
        gaps=("no published model: the values are SLfM's, the model is simkit's",),
    ),
    "mono_copy": ModelRecipe(
        source="the Mono-Mono floor of the FAIR-Play literature; no training",
        options={"eval_hop_seconds": Cited(0.05, f"FAIR-Play protocol: {M2B} README.md:40 (--hop_size 0.05)")},
    ),
    "mono2binaural": ModelRecipe(
        source=f"{M2B} (README.md:35 training command, options/train_options.py, train.py)",
        settings={
            "optimizer": Cited("adam", f"{M2B} options/train_options.py:37, train.py:25-26 (Adam, beta1 0.9)"),
            "lr": Cited(1e-3, f"{M2B} README.md:35 / options/train_options.py:36 (--lr_audio 0.001)"),
            "visual_lr": Cited(1e-4, f"{M2B} README.md:35 / options/train_options.py:35 (--lr_visual 0.0001; "
                                     "train.py:21-22 gives the visual net its own group)"),
            "weight_decay": Cited(5e-4, f"{M2B} options/train_options.py:39"),
            "batch_size": Cited(256, f"{M2B} README.md:35 (--batchSize 256)"),
            "epochs": Cited(1000, f"{M2B} README.md:35 (--niter 1000)"),
            "lr_schedule": Cited("step", f"{M2B} train.py:186-188 (decrease_learning_rate every "
                                         "learning_rate_decrease_itr epochs)"),
            "lr_decay_epochs": Cited(10, f"{M2B} README.md:35 (--learning_rate_decrease_itr 10)"),
            "lr_decay": Cited(0.94, f"{M2B} options/train_options.py:19 (--decay_factor 0.94)"),
            "select_metric": Cited("loss", f"{M2B} train.py:167-174 (the best validation loss is kept)"),
            "patience": Cited(1000, f"{M2B} train.py has no early stopping: patience = epochs"),
            "width": Cited(64, f"{M2B} models/models.py:16-17 (torchvision resnet18: width 64)"),
        },
        options={"ngf": Cited(64.0, f"{M2B} options/train_options.py:30 (--unet_ngf 64)"),
                 "eval_hop_seconds": Cited(0.05, f"{M2B} README.md:40 (--hop_size 0.05)")},
        fixed={"window": Cited(0.63, f"{M2B} options/base_options.py:28 (--audio_length 0.63)")},
        gaps=(
            "ImageNet weights: 2.5D fine-tunes torchvision's pretrained ResNet-18 (models/models.py:16-17); pass "
            "a local file with --option visual_weights=PATH (never downloaded)",
            "2.5D validates every 100 iterations on 50 batches (README.md:35); simkit after every epoch",
            "448 x 224 crops with colour jitter of the 480 x 240 frame; simkit's 128 x 160 view, no jitter",
        ),
    ),
}


def _clup(model: str, upmix: bool) -> ModelRecipe:
    """The CLUP family: seed 001 states no optimiser, rate, batch or epochs; its upmix is DiffWave, whose
    training values simkit's reading takes."""
    no_code = f"no public code: simkit's reading of {SEED001} §1"
    dw = f"not stated in {SEED001}; simkit's reading takes DiffWave's ({DIFFWAVE}"
    settings = {
        "optimizer": Cited("adam", f"{dw} src/diffwave/learner.py:159)"),
        "lr": Cited(2e-4, f"{dw} src/diffwave/params.py:38)"),
        "weight_decay": Cited(0.0, f"{dw} learner.py:159: Adam without weight decay)"),
        "lr_schedule": Cited("constant", f"{dw} learner.py: no scheduler)"),
        "batch_size": Cited(16, f"{dw} src/diffwave/params.py:37)"),
        "width": Cited(64, f"{SEED001} §1 (\"pre-trained ResNet-18\": width 64)"),
    }
    options = {
        "vggish_width": Cited(64.0, f"{SEED001} §1 (\"pre-trained VGGish\"): harritaylor/torchvggish@f3f9096 "
                                    "first block 64 channels"),
        "vggish_hidden": Cited(4096.0, f"{SEED001} §1 VGGish: torchvggish Linear(512*4*6, 4096)"),
        "loc_hop_seconds": Cited(0.1, f"{SEED001} §2 (\"all 0.1s sliding windows\")"),
    }
    if upmix:
        options |= {
            "residual_channels": Cited(64.0, f"{DIFFWAVE} src/diffwave/params.py:50 (DiffWave base)"),
            "eval_hop_seconds": Cited(0.05, f"FAIR-Play protocol: {M2B} README.md:40 (--hop_size 0.05), "
                                            f"the protocol of {SEED001} Table 2's rows"),
            "noise_l1": Cited(1.0, f"{DIFFWAVE} src/diffwave/learner.py:56 (nn.L1Loss on the noise)"),
            "upmix_crop_seconds": Cited(0.63, "simkit's reading: the whole 0.63 s window (DiffWave crops "
                                              "62 x 256 samples, params.py:46, longer than a window)"),
        }
    return ModelRecipe(
        source=no_code + (", §2 (additional baseline)" if model.startswith("clup_baseline") else ""),
        settings=settings,
        options=options,
        gaps=(
            "pretrained, frozen VGGish and pretrained ResNet-18s (§1): pass local files with --option "
            "audio_weights=PATH / visual_weights=PATH (never downloaded)",
            "epochs and early stopping are not stated in seed 001 or fixed by DiffWave (it trains by steps): "
            "simkit's defaults (30, patience 5)",
        ),
    )


for _name, _upmix in (("clup", True), ("clup_loc", False), ("clup_baseline", True), ("clup_baseline_loc", False)):
    PAPER[_name] = _clup(_name, _upmix)


def paper_recipe(model: str) -> ModelRecipe:
    """The paper recipe of ``model``; a SimkitError for a model without one (a plug-in)."""
    if model not in PAPER:
        raise SimkitError(f"model {model} has no paper recipe (simkit.bench.recipes.PAPER lists "
                          f"{', '.join(sorted(PAPER))}); run it with --recipe default or quick")
    return PAPER[model]


def resolve(cfg: BenchConfig, model: str) -> BenchConfig:
    """``cfg`` with ``model``'s recipe values applied (only the ``paper`` recipe is per model; ``default`` and
    ``quick`` are applied by :func:`simkit.bench.config.make_config`). Fields in ``cfg.explicit`` and given
    ``--option`` values win over the recipe."""
    if cfg.recipe != "paper":
        return cfg
    rec = paper_recipe(model)
    top: dict[str, Any] = {}
    feat: dict[str, Any] = {}
    opts = dict(cfg.model_options)
    for key, cited in rec.settings.items():
        if key in cfg.explicit:
            continue
        elif key.startswith("features."):
            feat[key.split(".", 1)[1]] = cited.value
        else:
            top[key] = cited.value
    for key, cited in rec.options.items():
        opts.setdefault(key, cited.value)
    out = dataclasses.replace(cfg, **top, model_options=opts,
                              features=dataclasses.replace(cfg.features, **feat) if feat else cfg.features)
    validate_config(out)
    return out


def recipe_sources(cfg: BenchConfig, model: str) -> dict[str, str]:
    """Where each value a run's recipe set comes from (written to the run's ``config.json``); values the run
    gave explicitly are left out. Empty for ``default``; ``quick`` names the preset."""
    if cfg.recipe == "quick":
        return {"*": "simkit's CPU-sized smoke test (simkit.bench.config.QUICK_OVERRIDES)"}
    if cfg.recipe != "paper":
        return {}
    rec = paper_recipe(model)
    return {k: v for k, v in rec.sources().items() if k not in cfg.explicit}


def check_keys() -> list[str]:
    """Recipe keys that name no BenchConfig / FeatureConfig field (a test keeps this empty)."""
    names = {f.name for f in dataclasses.fields(BenchConfig)}
    feats = {f.name for f in dataclasses.fields(FeatureConfig)}
    bad = []
    for model, rec in PAPER.items():
        for key in rec.settings:
            ok = key in names or (key.startswith("features.") and key.split(".", 1)[1] in feats)
            if not ok:
                bad.append(f"{model}: {key}")
    return bad
