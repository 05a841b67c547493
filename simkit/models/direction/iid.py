"""``iid``: no training; left/right from the interaural intensity difference (seed 000, A.1.2).

``d = sign(log(E_L / E_R))`` over the clip: the louder ear is the source's side, reported as azimuth +90
(left) or -90 (right). A tie (``d = 0``, undecided by :func:`simkit.conventions.iid_sign`) is answered left
(+90): a model must name an azimuth, while ``simkit data stats`` scores a tie as a miss (the two differ only on
clips whose ear energies are exactly equal). ``d`` is also the pseudo label of the self-supervised models.

It is evaluated on each item's **whole clip** (``eval_whole_clip``), not on the ``features.clip_seconds``
centre crop the networks see: seed 000's Table 7 scores the IID rule over 5 s clips, and ``simkit data
stats`` scores whole clips too, so the bench's ``iid`` rows and the Table-7 rows measure the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from simkit.models import Batch, BenchModel, ModelSettings, parse_options, register_model
from simkit.models.direction.base import iid_pseudo_label


@dataclass(frozen=True)
class IIDOptions:
    """``iid`` has no options."""


@register_model(
    "iid",
    task="direction",
    trainable=False,
    description="interaural intensity difference: louder ear = side (+-90 deg), no training",
    options=IIDOptions,
)
class IIDModel(BenchModel):
    """The IID rule as a model (no parameters), scored on whole clips."""

    eval_whole_clip = True  # read by the direction task (simkit.bench.tasks.direction.open_split)

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        super().__init__()
        parse_options("iid", IIDOptions, cfg.model_options)

    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        d = iid_pseudo_label(batch["audio"])
        return {"azimuth_deg": torch.where(d >= 0, 90.0, -90.0)}
