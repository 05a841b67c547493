"""``ours_rt`` and ``ours_full``: seed 000's egomotion-supervised sound localisation (Min et al., CVPR 2025).

Our reading of the seed (its formulas are garbled; A.2.2 gives the weights):
``L = lambda1 * L_rotation + (1 - lambda1) * L_translation + lambda2 * L_IID`` with

* ``L_rotation`` = SLfM's ``1 - cos(theta_j - theta_i + delta_ij)``;
* ``L_translation`` = a hinge on the sign of the azimuth change the camera translation implies for a source
  at the predicted direction (:func:`simkit.models.direction.base.translation_loss`), differentiated through
  that direction: the only term that can tell left from right; zero for renders without translation
  (``sampling.max_translation = 0``);
* with ``mirror``, each set's ``lambda1 L_rotation + (1 - lambda1) L_translation`` is the smaller of the
  predictions' and of their front/back mirror's (SLfM's mirror minimum, extended to both geometric terms:
  :func:`simkit.models.direction.base.egomotion_loss`);
* ``L_IID`` = BCE between ``(sin theta + 1) / 2`` and the IID left/right pseudo label ``sign(log E_L/E_R)``.

Ours-full: lambda1 = 0.9, lambda2 = 1. Ours-R&T: lambda1 = 0.9, lambda2 = 0 (no pseudo label: with the
mirror minimum and no translation, rotation alone cannot tell left from right).

Option ``symmetry`` (default 0, off: not in the seed) adds simkit's named variant ``symmetry * L_symmetry``,
SLfM's ear-swap term ``1 - cos(theta + theta_swapped)`` (:func:`simkit.models.direction.base.symmetry_loss`,
as in ``slfm_simple``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from simkit.models import Batch, ModelSettings, parse_options, register_model
from simkit.models.direction.base import (
    DirectionModel,
    egomotion_loss,
    iid_loss,
    iid_pseudo_label,
    symmetry_loss,
)
from simkit.models.features import swap_ears


@dataclass(frozen=True)
class OursFullOptions:
    """``--option`` keys of ``ours_full`` (its defaults: the seed's Ours-full weights)."""

    lambda1: float = 0.9  # rotation weight; translation gets 1 - lambda1
    lambda2: float = 1.0  # IID pseudo-label weight
    translation_margin: float = 0.0
    mirror: float = 1.0  # > 0: a set's geometric loss is the smaller of its own and its front/back mirror's
    # simkit's named variant (not in seed 000): weight of SLfM's ear-swap symmetry term (swapping the ears
    # negates the azimuth; IFICL/SLfM, as slfm_simple). It pins the arbitrary global azimuth offset that the
    # rotation term leaves free to 0 or pi, so the translation term only has to pick the side. 0 = the seed.
    symmetry: float = 0.0


@dataclass(frozen=True)
class OursRTOptions(OursFullOptions):
    """``--option`` keys of ``ours_rt``: Ours-full's, without the IID pseudo label by default."""

    lambda2: float = 0.0


class EgomotionModel(DirectionModel):
    """Rotation + translation + IID supervision with weights ``lambda1``, ``lambda2``.

    Self-supervised (camera motion and the IID pseudo label, never the azimuth labels): selected on its own
    val loss by default. Seed 000 publishes no code and names no selection rule.
    """

    self_supervised = True

    def __init__(self, cfg: ModelSettings, opts: OursFullOptions) -> None:
        super().__init__(cfg)
        self.opts = opts

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        audio = batch["audio"]
        lam1, lam2, w_sym = self.opts.lambda1, self.opts.lambda2, self.opts.symmetry
        theta_sw = None
        if w_sym > 0:
            # One forward pass over the clips and their ear-swapped copies, as slfm_simple; with the option
            # off the forward pass is the seed's alone (its batch statistics, hence its runs, unchanged).
            both = self.azimuth_rad(torch.cat([audio, swap_ears(audio)]))
            theta, theta_sw = both[: len(audio)], both[len(audio) :]
        else:
            theta = self.azimuth_rad(audio)
        total, l_rot, l_trans = egomotion_loss(
            theta, batch["rel_yaw_deg"], batch["rel_translation"], lam1,
            margin=self.opts.translation_margin, mirror=self.opts.mirror > 0,
        )
        parts = {"rotation": float(l_rot.detach()), "translation": float(l_trans.detach())}
        if lam2 > 0:
            l_iid = iid_loss(theta, iid_pseudo_label(audio))
            total = total + lam2 * l_iid
            parts["iid"] = float(l_iid.detach())
        if theta_sw is not None:
            l_sym = symmetry_loss(theta, theta_sw)
            total = total + w_sym * l_sym
            parts["symmetry"] = float(l_sym.detach())
        return total, parts


@register_model(
    "ours_full",
    task="direction",
    trainable=True,
    description="seed 000 Ours-full: 0.9 rotation + 0.1 translation + 1.0 IID pseudo label",
    options=OursFullOptions,
)
def build_ours_full(cfg: ModelSettings, info: Mapping[str, Any]) -> EgomotionModel:
    """Ours-full (lambda1 = 0.9, lambda2 = 1)."""
    return EgomotionModel(cfg, parse_options("ours_full", OursFullOptions, cfg.model_options))


@register_model(
    "ours_rt",
    task="direction",
    trainable=True,
    description="seed 000 Ours-R&T: 0.9 rotation + 0.1 translation, no IID pseudo label",
    options=OursRTOptions,
)
def build_ours_rt(cfg: ModelSettings, info: Mapping[str, Any]) -> EgomotionModel:
    """Ours-R&T (lambda1 = 0.9, lambda2 = 0)."""
    return EgomotionModel(cfg, parse_options("ours_rt", OursRTOptions, cfg.model_options))
