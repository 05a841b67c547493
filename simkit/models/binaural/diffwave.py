"""DiffWave-style conditional denoiser and its noise schedules (Kong et al., ICLR 2021), written here.

Network: ``blocks x layers`` residual layers (CLUP supp. §1: 3 blocks x m = 10) with dilations
``2^(i mod layers)``; each layer adds the diffusion-step embedding and a global condition vector, applies a
dilated 3-tap convolution plus a local condition (the mono waveform through a small conv encoder), a gated
unit ``tanh(a) * sigmoid(b)`` and splits into a residual (scaled by 1/sqrt 2) and a skip path. The output
predicts the noise ``eps`` added to the clean signal.

Noise schedule (DiffWave *base*): training uses ``T = 50`` steps with ``beta`` linear from 1e-4 to 0.05.
Fast inference uses a short schedule (default: DiffWave's 6 steps ``[1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]``)
whose steps are aligned to fractional training steps by matching the cumulative ``alpha`` products
(DiffWave appendix), so the trained step embedding can be evaluated between table entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from simkit.errors import SimkitError

TRAIN_STEPS = 50
BETA_START, BETA_END = 1e-4, 0.05
FAST_BETAS = (1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)  # DiffWave's 6-step fast sampling schedule


def training_betas(steps: int = TRAIN_STEPS, start: float = BETA_START, end: float = BETA_END) -> np.ndarray:
    """Linear training schedule beta_1..beta_T."""
    if steps < 2 or not 0 < start < end < 1:
        raise SimkitError(f"bad diffusion schedule: {steps} steps, beta {start}..{end}")
    return np.linspace(start, end, steps)


def inference_betas(steps: int) -> np.ndarray:
    """Short sampling schedule: DiffWave's 6 steps for ``steps == 6``, else geometric from 1e-4 to 0.5.

    ``steps == 0`` means the full training schedule (slow, exact DDPM ancestral sampling).
    """
    if steps == 0:
        return training_betas()
    if steps < 1:
        raise SimkitError(f"diffusion inference steps must be >= 1 or 0 for the full schedule (got {steps})")
    if steps == len(FAST_BETAS):
        return np.asarray(FAST_BETAS)
    return np.geomspace(FAST_BETAS[0], FAST_BETAS[-1], steps) if steps > 1 else np.asarray([FAST_BETAS[-1]])


@dataclass(frozen=True)
class Schedule:
    """A sampling schedule and the (fractional) training step each of its steps corresponds to."""

    betas: np.ndarray
    alpha_bar: np.ndarray
    train_t: np.ndarray  # float training-step index (0-based) per sampling step


def align_schedule(betas: np.ndarray, train: np.ndarray | None = None) -> Schedule:
    """Map each sampling step to the fractional training step with the same cumulative alpha (DiffWave)."""
    train = training_betas() if train is None else train
    t_bar = np.cumprod(1.0 - train)
    a_bar = np.cumprod(1.0 - betas)
    steps = []
    for a in a_bar:
        if a >= t_bar[0]:
            steps.append(0.0)
            continue
        if a <= t_bar[-1]:
            steps.append(float(len(train) - 1))
            continue
        t = int(np.searchsorted(-t_bar, -a))  # first index with t_bar[t] <= a (t_bar decreases)
        lo, hi = np.sqrt(t_bar[t - 1]), np.sqrt(t_bar[t])
        steps.append(t - 1 + (lo - np.sqrt(a)) / (lo - hi))
    return Schedule(np.asarray(betas, dtype=np.float64), a_bar, np.asarray(steps))


class StepEmbedding(nn.Module):
    """Sinusoidal table of the training steps (128-d) -> two SiLU MLP layers; fractional steps interpolate."""

    def __init__(self, steps: int = TRAIN_STEPS, dim: int = 512) -> None:
        super().__init__()
        t = torch.arange(steps, dtype=torch.float32)[:, None]
        freqs = 10.0 ** (torch.arange(64, dtype=torch.float32)[None, :] * 4.0 / 63.0)
        self.register_buffer(
            "table", torch.cat([torch.sin(t * freqs), torch.cos(t * freqs)], 1), persistent=False
        )
        self.mlp = nn.Sequential(nn.Linear(128, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU())
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float().clamp(0, self.table.shape[0] - 1)
        lo = t.floor().long()
        hi = torch.clamp(lo + 1, max=self.table.shape[0] - 1)
        frac = (t - lo.float())[:, None]
        return self.mlp(self.table[lo] + frac * (self.table[hi] - self.table[lo]))


class ResidualLayer(nn.Module):
    """One gated, dilated residual layer with step, global and local conditioning."""

    def __init__(
        self, channels: int, dilation: int, step_dim: int, global_dim: int, local_channels: int
    ) -> None:
        super().__init__()
        self.dilated = nn.Conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.step = nn.Linear(step_dim, channels)
        self.glob = nn.Linear(global_dim, channels) if global_dim > 0 else None
        self.local = nn.Conv1d(local_channels, 2 * channels, 1)
        self.out = nn.Conv1d(channels, 2 * channels, 1)

    def forward(
        self, x: torch.Tensor, step: torch.Tensor, glob: torch.Tensor | None, local: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y = x + self.step(step)[..., None]
        if self.glob is not None and glob is not None:
            y = y + self.glob(glob)[..., None]
        y = self.dilated(y) + self.local(local)
        a, b = y.chunk(2, dim=1)
        residual, skip = self.out(torch.tanh(a) * torch.sigmoid(b)).chunk(2, dim=1)
        return (x + residual) / math.sqrt(2.0), skip


class DiffWave(nn.Module):
    """Noise predictor ``eps(x_t, t | local waveform, global vector)`` for (B, 1, T) signals."""

    def __init__(
        self,
        channels: int = 64,
        blocks: int = 3,
        layers_per_block: int = 10,
        global_dim: int = 0,
        local_channels: int = 1,
        train_steps: int = TRAIN_STEPS,
    ) -> None:
        super().__init__()
        if channels < 1 or blocks < 1 or layers_per_block < 1:
            raise SimkitError(
                f"DiffWave needs positive channels/blocks/layers (got {channels}, {blocks}, "
                f"{layers_per_block})"
            )
        self.inp = nn.Conv1d(1, channels, 1)
        self.step_embedding = StepEmbedding(train_steps)
        self.local_encoder = nn.Sequential(
            nn.Conv1d(local_channels, channels, 3, padding=1),
            nn.LeakyReLU(0.4),
            nn.Conv1d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.4),
        )
        self.layers = nn.ModuleList(
            ResidualLayer(
                channels, 2 ** (i % layers_per_block), self.step_embedding.dim, global_dim, channels
            )
            for i in range(blocks * layers_per_block)
        )
        self.skip_out = nn.Conv1d(channels, channels, 1)
        self.final = nn.Conv1d(channels, 1, 1)
        nn.init.zeros_(self.final.weight)  # start as "predict zero noise", as DiffWave's output projection
        nn.init.zeros_(self.final.bias)
        self.global_dim = global_dim
        betas = training_betas(train_steps)
        self.register_buffer("alpha_bar", torch.from_numpy(np.cumprod(1.0 - betas)).float(), persistent=False)
        self.train_steps = train_steps

    def receptive_field(self) -> int:
        """Samples of context the dilated stack sees (one side plus the centre, both sides summed)."""
        return 1 + 2 * sum(layer.dilated.dilation[0] for layer in self.layers)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, local: torch.Tensor, glob: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = F.relu(self.inp(x))
        step = self.step_embedding(t)
        loc = self.local_encoder(local)
        skips = torch.zeros_like(h)
        for layer in self.layers:
            h, skip = layer(h, step, glob, loc)
            skips = skips + skip
        h = F.relu(self.skip_out(skips / math.sqrt(len(self.layers))))
        return self.final(h)

    def training_loss(
        self, x0: torch.Tensor, local: torch.Tensor, glob: torch.Tensor | None, generator: torch.Generator,
        l1: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """DDPM loss ``||eps - eps_theta(sqrt(a_t) x0 + sqrt(1 - a_t) eps, t)||^2`` at a random step per item
        (``l1``: the mean absolute error instead, DiffWave's ``learner.py:56`` ``nn.L1Loss``).

        Returns the loss, the one-step estimate of ``x0`` (for auxiliary losses) and ``alpha_bar_t``.
        """
        b = x0.shape[0]
        t = torch.randint(0, self.train_steps, (b,), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        a = self.alpha_bar[t].view(b, *([1] * (x0.ndim - 1)))
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        eps = self(x_t, t.float(), local, glob)
        x0_hat = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
        loss = F.l1_loss(eps, noise) if l1 else F.mse_loss(eps, noise)
        return loss, x0_hat, a.view(b)

    @torch.no_grad()
    def sample(
        self, local: torch.Tensor, glob: torch.Tensor | None, schedule: Schedule, generator: torch.Generator
    ) -> torch.Tensor:
        """Ancestral sampling from ``x_T ~ N(0, I)`` through ``schedule`` -> (B, 1, T)."""
        b, _, n = local.shape
        x = torch.randn((b, 1, n), generator=generator, device=local.device)
        betas, a_bar = schedule.betas, schedule.alpha_bar
        for k in range(len(betas) - 1, -1, -1):
            t = torch.full((b,), float(schedule.train_t[k]), device=local.device)
            eps = self(x, t, local, glob)
            x = (x - betas[k] / math.sqrt(1.0 - a_bar[k]) * eps) / math.sqrt(1.0 - betas[k])
            if k > 0:
                sigma = math.sqrt((1.0 - a_bar[k - 1]) / (1.0 - a_bar[k]) * betas[k])
                x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device)
        return x
