"""``clup_baseline``: CLUP's additional baseline (seed 001 supp. §2, eq. 1-3) combined with CLUP's upmix.

Visual feature ``f_v`` (ResNet-18, pooled, projected to the 128-d audio space), audio features ``f_pa`` /
``f_na`` (VGGish-style encoder) of the positive (own) and negative (another clip's) mono audio:

* eq. 1: ``f'_v = f_v * sigmoid(f_v^T f_pa)`` (the dot product is divided by sqrt(d) so the gate does not
  saturate at initialisation);
* eq. 2: ``(d+, d-) = (||f'_v - f_pa||_2, ||f'_v - f_na||_2)``;
* eq. 3: ``l = ||(D+, D-) - (0, 1)||^2`` with ``(D+, D-) = softmax(d+, d-)`` (the scaling of eq. 10).

"We combine additional baseline with our upmix model" (supp. §3): ``f'_v`` is the object guidance of the
same DiffWave upmix as ``clup`` (:class:`simkit.models.binaural.clup.ClupFamily`); no SSM, no cycle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from simkit.models import ModelSettings, register_model
from simkit.models.binaural.clup import ClupFamily, ClupFamilyOptions, LocOutput, pair_loss


class BaselineLocalizer(nn.Module):
    """Eq. 1-3 on pooled visual features; the guide for the upmix is ``f'_v``."""

    def __init__(self, visual_channels: int, audio_dim: int) -> None:
        super().__init__()
        self.visual_proj = nn.Linear(visual_channels, audio_dim)
        self.guide_dim = audio_dim

    def forward(
        self,
        fmap: torch.Tensor,
        emb_pos: torch.Tensor,
        emb_neg: torch.Tensor,
        bin_pos: torch.Tensor | None = None,
        bin_neg: torch.Tensor | None = None,
    ) -> LocOutput:
        f_v = self.visual_proj(fmap.mean(dim=(-2, -1)))
        gate = torch.sigmoid((f_v * emb_pos).sum(-1, keepdim=True) / math.sqrt(f_v.shape[-1]))
        f_obj = f_v * gate
        d_pos = torch.linalg.vector_norm(f_obj - emb_pos, dim=-1)
        d_neg = torch.linalg.vector_norm(f_obj - emb_neg, dim=-1)
        loss = pair_loss(d_pos, d_neg)
        return LocOutput(loss, {"baseline_loc": float(loss.detach())}, f_obj, d_pos, d_neg)


@register_model(
    "clup_baseline",
    task="binauralize",
    trainable=True,
    description="CLUP's additional baseline (supp. eq. 1-3) guiding CLUP's DiffWave upmix",
    options=ClupFamilyOptions,
)
class ClupBaseline(ClupFamily):
    """Baseline localisation + object-aware upmix."""

    name = "clup_baseline"
    binaural_localizer = False

    def build_localizer(self, visual_channels: int, audio_dim: int, dim: int) -> nn.Module:
        return BaselineLocalizer(visual_channels, audio_dim)


@register_model(
    "clup_baseline_loc",
    task="av_localize",
    trainable=True,
    description="CLUP's additional baseline localiser (supp. eq. 1-3) trained alone",
    options=ClupFamilyOptions,
)
class ClupBaselineLocalizer(ClupBaseline):
    """The localisation part of ``clup_baseline``."""

    name = "clup_baseline_loc"

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        super().__init__(cfg, info, upmix=False)
