"""``supervised``: the audio network trained on the true azimuth as 16-class classification (upper reference);
``supervised_4class``: the same with seed 000's 4 classes (suppl. Table 8, "supervised 4-classification").

Classes are :func:`simkit.conventions.azimuth_class` bins (22.5 deg, centred on 0; with 4 classes front, left,
back, right with the symmetric edges: +-45 front, +-135 back); the prediction is the centre of the most likely
class. Trained on labels, so its checkpoint is also selected on labels (the task's ``lr_accuracy``); compare
``supervised_4class`` with Table 8 on ``class4_accuracy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from simkit.conventions import azimuth_class, class_center_deg
from simkit.models import Batch, ModelSettings, parse_options, register_model
from simkit.models.direction.base import DirectionModel, rotation_outputs


@dataclass(frozen=True)
class SupervisedOptions:
    """``--option`` keys of ``supervised``."""

    n_classes: int = 16  # azimuth classes of 360 / n_classes deg


@register_model(
    "supervised",
    task="direction",
    trainable=True,
    description="ResNet-18 audio net trained on true azimuth (16 classes): supervised upper reference",
    options=SupervisedOptions,
)
class SupervisedModel(DirectionModel):
    """Cross-entropy on azimuth classes."""

    registered_name = "supervised"
    options_class: type[SupervisedOptions] = SupervisedOptions

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        self.n_classes = parse_options(self.registered_name, self.options_class, cfg.model_options).n_classes
        super().__init__(cfg, n_out=self.n_classes)

    def logits(self, audio: torch.Tensor) -> torch.Tensor:
        return self.net(audio.reshape(-1, *audio.shape[-2:])).float()

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        target = torch.as_tensor(
            azimuth_class(batch["azimuth_deg"].detach().cpu().numpy().reshape(-1), self.n_classes),
            device=batch["audio"].device,
        )
        loss = F.cross_entropy(self.logits(batch["audio"]), target)
        return loss, {"ce": float(loss.detach())}

    def azimuth_rad(self, audio: torch.Tensor) -> torch.Tensor:
        cls = self.logits(audio).argmax(-1).cpu().numpy()
        az = torch.as_tensor(class_center_deg(cls, self.n_classes), dtype=torch.float32, device=audio.device)
        return torch.deg2rad(az.reshape(audio.shape[:-2]))

    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        return rotation_outputs(self.azimuth_rad(batch["audio"]))


@dataclass(frozen=True)
class Supervised4Options(SupervisedOptions):
    """``--option`` keys of ``supervised_4class``: ``supervised``'s, 4 classes by default."""

    n_classes: int = 4


@register_model(
    "supervised_4class",
    task="direction",
    trainable=True,
    description="ResNet-18 audio net trained on true azimuth (4 classes): seed 000 Table 8's supervised rows",
    options=Supervised4Options,
)
class Supervised4Model(SupervisedModel):
    """Seed 000's "supervised 4-classification" (suppl. Table 8): front / left / back / right."""

    registered_name = "supervised_4class"
    options_class = Supervised4Options
