"""``iid``: no training; left/right from the interaural intensity difference (seed 000, A.1.2).

``d = sign(log(E_L / E_R))`` over the clip: the louder ear is the source's side, reported as azimuth +90
(left) or -90 (right); a tie counts as left. This is also the pseudo label of the self-supervised models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from simkit.models import Batch, BenchModel, register_model
from simkit.models.direction import iid_pseudo_label, model_options


@register_model(
    "iid",
    task="direction",
    trainable=False,
    description="interaural intensity difference: louder ear = side (+-90 deg), no training",
    options=(),
)
class IIDModel(BenchModel):
    """The IID rule as a model (no parameters)."""

    def __init__(self, cfg: Any, info: Mapping[str, Any]) -> None:
        super().__init__()
        model_options("iid", cfg.model_options, {})

    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        d = iid_pseudo_label(batch["audio"])
        return {"azimuth_deg": torch.where(d >= 0, 90.0, -90.0)}
