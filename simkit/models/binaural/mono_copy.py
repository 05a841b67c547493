"""``mono_copy``: the floor of binaural generation, ``L = R = mono`` (no image, no training)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from simkit.metrics.binaural import WINDOW_HOP_SECONDS
from simkit.models import ModelSettings, parse_options, register_model
from simkit.models.binaural.base import BinauralModel, binaural_from_difference


@dataclass(frozen=True)
class MonoCopyOptions:
    """``--option`` keys of ``mono_copy``."""

    eval_hop_seconds: float = WINDOW_HOP_SECONDS  # sliding-window hop over whole clips (the protocol's)


@register_model(
    "mono_copy",
    task="binauralize",
    trainable=False,
    description="floor: both ears get the mono mix (L = R = (L + R) / 2)",
    options=MonoCopyOptions,
)
class MonoCopy(BinauralModel):
    """Copies the mono input to both channels: zero predicted difference."""

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        super().__init__(parse_options("mono_copy", MonoCopyOptions, cfg.model_options).eval_hop_seconds)

    def generate(self, mono: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return binaural_from_difference(mono, torch.zeros_like(mono))
