"""``gcc_phat``: no training; interaural time difference by GCC-PHAT, azimuth by a spherical-head model.

The PHAT-weighted cross-spectrum ``L conj(R) / |L conj(R)|`` below ``max_freq_hz`` (the duplex theory's
ITD band; with all bins the high-frequency HRTF phase pulls the peak towards zero lag, often with the wrong
sign) is summed over STFT frames and its cross-correlation evaluated on a sub-sample lag grid within
the largest ITD the head allows. Woodworth's spherical head gives ``ITD = (a / c) (phi + sin phi)`` for a
lateral angle ``phi`` in [0, 90 deg] (left ear leads for a source on the left); the inverse is the
predicted azimuth, always in the front hemisphere because time differences alone cannot tell front from
back. Recordings of two free-field capsules (``simkit render --mic phone-stereo`` / ``spaced-pair``) have no
head: option ``mic_spacing`` (m) replaces Woodworth by the far-field pair ``ITD = (d / c) sin phi``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from simkit.conventions import HEAD_RADIUS, LEFT_CHANNEL, RIGHT_CHANNEL, SPEED_OF_SOUND
from simkit.errors import SimkitError
from simkit.models import Batch, BenchModel, ModelSettings, parse_options, register_model
from simkit.models.features import stft


@dataclass(frozen=True)
class GccPhatOptions:
    """``--option`` keys of ``gcc_phat``."""

    head_radius: float = HEAD_RADIUS  # m, Woodworth/Kuhn average adult head
    n_fft: int = 1024  # STFT frame of the cross-spectrum (64 ms at 16 kHz)
    lag_step: float = 0.05  # samples between evaluated lags (sub-sample interpolation of the correlation)
    max_freq_hz: float = 1500.0  # ITD band: above it interaural phase wraps and HRTF phase is no pure delay
    # m; > 0: the clips come from two free-field capsules this far apart (0.134 for --mic phone-stereo, 0.175 for
    # spaced-pair's default) and ITD = spacing / c * sin(phi) replaces the spherical head; 0 = the head
    mic_spacing: float = 0.0


def woodworth_itd(lateral_rad: np.ndarray | float, head_radius: float) -> np.ndarray:
    """ITD (s, positive = left ear first) of a source at lateral angle ``lateral_rad`` (+ = left)."""
    phi = np.asarray(lateral_rad, dtype=np.float64)
    return np.sign(phi) * head_radius / SPEED_OF_SOUND * (np.abs(phi) + np.sin(np.abs(phi)))


def pair_lateral(itd_s: np.ndarray, spacing: float) -> np.ndarray:
    """Lateral angle (radians, + = left) of a far-field source from the ITD of two free-field capsules
    ``spacing`` m apart: ``asin(ITD c / d)``, clipped to +-90 deg."""
    return np.arcsin(np.clip(np.asarray(itd_s, dtype=np.float64) * SPEED_OF_SOUND / spacing, -1.0, 1.0))


def woodworth_lateral(itd_s: np.ndarray, head_radius: float) -> np.ndarray:
    """Inverse of :func:`woodworth_itd` (radians); ITDs beyond the head's maximum map to +-90 deg."""
    grid = np.linspace(0.0, math.pi / 2, 2049)
    itd_grid = woodworth_itd(grid, head_radius)
    itd = np.asarray(itd_s, dtype=np.float64)
    return np.sign(itd) * np.interp(np.abs(itd), itd_grid, grid)


@register_model(
    "gcc_phat",
    task="direction",
    trainable=False,
    description="GCC-PHAT interaural time difference + Woodworth spherical head (front hemisphere)",
    options=GccPhatOptions,
)
class GccPhatModel(BenchModel):
    """GCC-PHAT ITD estimator (no parameters)."""

    def __init__(self, cfg: ModelSettings, info: Mapping[str, Any]) -> None:
        super().__init__()
        opts = parse_options("gcc_phat", GccPhatOptions, cfg.model_options)
        self.sample_rate = int(info["sample_rate"])
        self.head_radius = opts.head_radius
        if not (math.isfinite(opts.mic_spacing) and opts.mic_spacing >= 0):
            raise SimkitError(f"gcc_phat option mic_spacing must be >= 0 m (got {opts.mic_spacing})")
        self.mic_spacing = opts.mic_spacing
        self.n_fft = opts.n_fft
        self.max_bin = int(opts.max_freq_hz * self.n_fft / self.sample_rate) + 1
        max_itd = self.mic_spacing / SPEED_OF_SOUND if self.mic_spacing > 0 else \
            float(woodworth_itd(math.pi / 2, self.head_radius))
        max_lag = 1.2 * max_itd * self.sample_rate  # a little beyond the model so the peak is not clipped
        self.register_buffer(
            "lags", torch.arange(-max_lag, max_lag + 1e-9, opts.lag_step), persistent=False
        )

    def itd_seconds(self, audio: torch.Tensor) -> torch.Tensor:
        """ITD (s, positive = left ear leads) of clips (N, 2, T)."""
        spec = stft(audio, self.n_fft, self.n_fft // 2)  # (N, 2, F, frames)
        cross = spec[:, LEFT_CHANNEL] * spec[:, RIGHT_CHANNEL].conj()
        g = (cross / (cross.abs() + 1e-12)).sum(-1)  # (N, F)
        g[:, 0] = 0  # DC carries no delay
        g[:, self.max_bin :] = 0
        freqs = torch.arange(g.shape[-1], device=g.device, dtype=torch.float64)
        basis = torch.exp(2j * math.pi * freqs[:, None] * self.lags.double()[None, :] / self.n_fft)
        cc = (g.to(torch.complex128) @ basis).real  # correlation at lag k = sum_t x_L(t + k) x_R(t)
        # x_R(t) = x_L(t - d) peaks at k = -d, so the left-leading delay d is minus the best lag.
        return -self.lags.double()[cc.argmax(-1)] / self.sample_rate

    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        audio = batch["audio"]
        itd = self.itd_seconds(audio.reshape(-1, *audio.shape[-2:]))
        itd_np = itd.cpu().numpy()
        lateral = pair_lateral(itd_np, self.mic_spacing) if self.mic_spacing > 0 else \
            woodworth_lateral(itd_np, self.head_radius)
        az = torch.from_numpy(np.rad2deg(lateral)).float().to(audio.device)
        return {"azimuth_deg": az.reshape(audio.shape[:-2])}
