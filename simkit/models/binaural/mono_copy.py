"""``mono_copy``: the floor of binaural generation, ``L = R = mono`` (no image, no training)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from simkit.metrics.binaural import WINDOW_HOP_SECONDS
from simkit.models import register_model
from simkit.models.binaural import BinauralModel, binaural_from_difference, binaural_options

DEFAULTS = {"eval_hop_seconds": WINDOW_HOP_SECONDS}


@register_model(
    "mono_copy",
    task="binauralize",
    trainable=False,
    description="floor: both ears get the mono mix (L = R = (L + R) / 2)",
    options=DEFAULTS,
)
class MonoCopy(BinauralModel):
    """Copies the mono input to both channels: zero predicted difference."""

    def __init__(self, cfg: Any, info: Mapping[str, Any]) -> None:
        opts, _ = binaural_options("mono_copy", cfg.model_options, DEFAULTS, path_options=())
        super().__init__(opts["eval_hop_seconds"])

    def generate(self, mono: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return binaural_from_difference(mono, torch.zeros_like(mono))
