"""``mono2binaural``: 2.5D Visual Sound (Gao & Grauman, CVPR 2019), the FAIR-Play baseline, written here.

A U-Net on the STFT of the mono mix predicts a complex mask; mask x mix is the spectrogram of the difference
``L - R``. The mix is ``L + R`` as in the paper, i.e. ``2 * mono`` under simkit's mono = (L + R) / 2. The
U-Net has five 4x4/2 convolutions (ngf, 2, 4, 8, 8 ngf channels; BatchNorm, LeakyReLU 0.2) and five
transposed convolutions with skip connections; the image enters at the bottleneck as a ResNet-18 feature map
reduced by a 1x1 convolution to 8 channels, pooled to 4 x 5 and flattened (the paper flattens its 7 x 14 map),
tiled over the bottleneck. The paper's ResNet-18 is torchvision's ImageNet one, fine-tuned (models/models.py
``build_visual``: ``resnet18(pretrained=True)`` minus avgpool/fc; train.py: its own parameter group at
``--lr_visual`` 1e-4 against the U-Net's 1e-3): ``visual_weights`` loads it from a local torchvision file
(:func:`simkit.models.pretrained.resnet18`); it is fine-tuned at the run's learning rate, or at its own
``visual_lr`` (``visual_parameters``; ``--recipe paper`` sets 2.5D's 1e-4). The mask is
``2 sigmoid(.) - 1`` for real and imaginary parts. Loss: MSE between predicted and true difference
spectrograms (real and imaginary parts; the Nyquist bin is dropped as in the paper).
The waveform is the inverse STFT of the predicted difference; L, R = mono +- difference / 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from simkit.metrics.binaural import WINDOW_HOP_SECONDS
from simkit.models import Batch, ModelSettings, parse_options, register_model
from simkit.models.binaural.base import (
    BinauralModel,
    VisualEncoder,
    binaural_from_difference,
    broadcast_to_batch,
    difference_of,
    normalize_batch,
    protocol_istft,
    protocol_stft,
    sized,
)


@dataclass(frozen=True)
class Mono2BinauralOptions:
    """``--option`` keys of ``mono2binaural`` (the U-Net always trains from scratch)."""

    ngf: int = 0  # first U-Net width, 0 = 2 x --width (64 at the default width 32, the paper's value)
    eval_hop_seconds: float = WINDOW_HOP_SECONDS
    # a torchvision resnet18 state dict (ImageNet; ImageNet-normalised images), fine-tuned as the paper's
    # ("" = a ResNet-18 of --width trained from scratch)
    visual_weights: str = ""

LEVELS = 5  # down-sampling steps of the U-Net: frames are padded to a multiple of 2^5


def _down(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)
    )


def _up(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


def spec_channels(spec: torch.Tensor) -> torch.Tensor:
    """(B, F, frames) complex -> (B, 2, F - 1, frames) real/imag without the Nyquist bin."""
    spec = spec[:, :-1]
    return torch.stack([spec.real, spec.imag], dim=1)


class MaskUNet(nn.Module):
    """Audio U-Net with a visual vector tiled at the bottleneck; outputs a complex mask in [-1, 1]^2."""

    def __init__(self, ngf: int, visual_dim: int) -> None:
        super().__init__()
        widths = [ngf, 2 * ngf, 4 * ngf, 8 * ngf, 8 * ngf]
        self.down = nn.ModuleList(
            _down(c_in, c_out) for c_in, c_out in zip([2, *widths[:-1]], widths, strict=True)
        )
        self.up = nn.ModuleList(
            [
                _up(widths[4] + visual_dim, widths[3]),
                _up(2 * widths[3], widths[2]),
                _up(2 * widths[2], widths[1]),
                _up(2 * widths[1], widths[0]),
            ]
        )
        self.last = nn.ConvTranspose2d(2 * widths[0], 2, 4, 2, 1)

    def forward(self, x: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        frames = x.shape[-1]
        pad = (-frames) % (2**LEVELS)
        x = F.pad(x, (0, pad))
        feats = []
        for layer in self.down:
            x = layer(x)
            feats.append(x)
        h = torch.cat([x, visual[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        for layer, skip in zip(self.up, feats[-2::-1], strict=True):
            h = torch.cat([layer(h), skip], dim=1)
        return (2 * torch.sigmoid(self.last(h)) - 1)[..., :frames]


@register_model(
    "mono2binaural",
    task="binauralize",
    trainable=True,
    description="2.5D Visual Sound: U-Net complex mask on the mono STFT for L - R, ResNet-18 image",
    options=Mono2BinauralOptions,
)
class Mono2Binaural(BinauralModel):
    """Visually conditioned spectrogram-mask upmixer (options: ngf, eval_hop_seconds, visual_weights)."""

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        opts = parse_options("mono2binaural", Mono2BinauralOptions, cfg.model_options)
        super().__init__(opts.eval_hop_seconds)
        self.visual = VisualEncoder(cfg.width, weights=opts.visual_weights or None)
        self.unet = MaskUNet(sized(opts.ngf, cfg.width, 2), self.visual.code_dim)

    def visual_parameters(self) -> list[nn.Parameter]:
        """The ResNet-18 (2.5D's ``net_visual``, its own parameter group in ``train.py:21-22``); the 1x1
        reduction belongs to 2.5D's audio net (``models/networks.py:71``) and trains at the audio rate."""
        return list(self.visual.resnet.parameters())

    def difference_spec(self, mono: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Predicted difference spectrogram (B, 2, 256, frames) (real/imag) of mono windows (B, W)."""
        mix = spec_channels(protocol_stft(2.0 * mono))
        visual = broadcast_to_batch(self.visual.layout_code(self.visual.feature_map(image)), mono.shape[0])
        mask = self.unet(mix, visual)
        real = mask[:, 0] * mix[:, 0] - mask[:, 1] * mix[:, 1]
        imag = mask[:, 0] * mix[:, 1] + mask[:, 1] * mix[:, 0]
        return torch.stack([real, imag], dim=1)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        batch = normalize_batch(batch)
        pred = self.difference_spec(batch["mono"], batch["image"])
        target = spec_channels(protocol_stft(difference_of(batch["binaural"])))
        loss = F.mse_loss(pred, target)
        return loss, {"diff_spec_mse": float(loss.detach())}

    def generate(self, mono: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        spec = self.difference_spec(mono, image)
        complex_spec = F.pad(torch.complex(spec[:, 0], spec[:, 1]), (0, 0, 0, 1))  # zero Nyquist bin back
        diff = protocol_istft(complex_spec, mono.shape[-1])
        return binaural_from_difference(mono, diff)
