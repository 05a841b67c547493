"""``slfm_simple``: simkit's own simplification of SLfM's geometric self-supervision (audio branch only,
trained from scratch, known rotation). Until simkit issue 20 this model was registered as ``slfm``; the
authors' two-stage model is now ``slfm`` (:mod:`simkit.models.direction.slfm`).

Loss = L_rotation + w_sym * L_symmetry + w_iid * L_IID over the V views of a set (see
:mod:`simkit.models.direction.base`): predicted azimuths must move by minus the camera rotation between views
(``az_j = wrap(az_i - delta)``, the smaller of the loss of the predictions and of their front/back mirror),
swapping the ears must negate the azimuth, and the predicted side must agree with the IID pseudo label.
The camera rotation is the rendered one (SLfM estimates it with a visual network trained jointly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from simkit.models import Batch, ModelSettings, parse_options, register_model
from simkit.models.direction.base import (
    DirectionModel,
    iid_loss,
    iid_pseudo_label,
    rotation_loss,
    symmetry_loss,
)
from simkit.models.features import swap_ears


@dataclass(frozen=True)
class SLfMSimpleOptions:
    """``--option`` keys of ``slfm_simple``."""

    symmetry_weight: float = 1.0
    iid_weight: float = 1.0
    mirror: float = 1.0  # > 0: the rotation loss takes the smaller of a set's loss and its front/back mirror's


@register_model(
    "slfm_simple",
    task="direction",
    trainable=True,
    description="simkit's SLfM simplification: rotation consistency + ear-swap symmetry + IID, one network",
    options=SLfMSimpleOptions,
)
class SLfMSimpleModel(DirectionModel):
    """Self-supervised by known camera rotation.

    Selected label-free by the authors' checkpoint score ``1 / (50 Geo + Bin + Sym)`` over val (IFICL/SLfM
    ``slfm_geo_net.py:383-392``; Geo = the geometric (rotation) loss, Bin = the binaural IID loss, Sym = the
    symmetry loss), computed from simkit's own loss parts (their scales differ from the authors': 1 - cos, not
    L1 in radians; docs/bench.md "Checkpoint selection").
    """

    self_supervised = True
    selection_name = "slfm_score"
    selection_higher_is_better = True

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        super().__init__(cfg)
        self.opts = parse_options("slfm_simple", SLfMSimpleOptions, cfg.model_options)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        audio = batch["audio"]
        # One forward pass over the clips and their ear-swapped copies.
        both = self.azimuth_rad(torch.cat([audio, swap_ears(audio)]))
        theta, theta_sw = both[: len(audio)], both[len(audio) :]
        l_rot = rotation_loss(theta, batch["rel_yaw_deg"], mirror=self.opts.mirror > 0)
        l_sym = symmetry_loss(theta, theta_sw)
        l_iid = iid_loss(theta, iid_pseudo_label(audio))
        total = l_rot + self.opts.symmetry_weight * l_sym + self.opts.iid_weight * l_iid
        return total, {
            "rotation": float(l_rot.detach()),
            "symmetry": float(l_sym.detach()),
            "iid": float(l_iid.detach()),
        }

    def selection_score(self, loss: float, parts: Mapping[str, float]) -> float:
        """SLfM's label-free checkpoint score ``1 / (50 Geo + Bin + Sym)`` (higher is better)."""
        denom = 50.0 * parts["rotation"] + parts["iid"] + parts["symmetry"]
        return 1.0 / max(denom, 1e-12)  # finite: a non-finite value never counts as an improvement
