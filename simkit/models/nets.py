"""ResNet-18-style 2D CNN (BasicBlocks [2, 2, 2, 2]) written here, usable for spectrograms and images.

``ResNet18(in_channels=3, num_outputs=1000, width=64)`` has the layer shapes of torchvision's ResNet-18
(:func:`simkit.models.pretrained.resnet18` loads torchvision's weights into it); smaller ``width`` scales every
stage for CPU runs.

Inputs are always made contiguous (NCHW) before any convolution. oneDNN's 1x1 stride-2 backward-weights
kernel (the projection shortcut) writes past its scratch buffer on channels_last input with fewer input
channels than its channel block (AVX2: 2-7, AVX-512: 4-15; oneDNN issue #6035): a heap corruption, or
silently wrong weight gradients with several threads. A (B, H, W, 3) image permuted to (B, 3, H, W) is
channels_last, so the guard sits here, where no caller can get around it.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        # the 1x1 stride-2 projection is the kernel that fails on channels_last (module docstring)
        return self.relu(y + self.shortcut(x.contiguous()))


class ResNet18(nn.Module):
    """ResNet-18 layout: 7x7/2 stem + 3x3/2 max-pool, four stages of ``blocks`` BasicBlocks, global pool, fc.

    ``width`` is the channel count of the first stage (stages use width, 2w, 4w, 8w). ``num_outputs=0``
    drops the classifier so ``forward`` returns the pooled embedding of size ``embed_dim``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_outputs: int = 1000,
        width: int = 64,
        blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        c_in = width
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            layers = [BasicBlock(c_in, c_out, stride=1 if i == 0 else 2)]
            layers += [BasicBlock(c_out, c_out) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embed_dim = c_in
        self.fc: nn.Module = nn.Linear(c_in, num_outputs) if num_outputs > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            # Zero-init the last BN of each residual branch: every block starts as identity (trains faster).
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage feature map (B, 8w, H/32, W/32) of (B, C, H, W) input in any memory layout."""
        return self.stages(self.stem(x.contiguous()))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled feature vector (B, embed_dim) of images/spectrograms (B, C, H, W)."""
        return torch.flatten(self.pool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))
