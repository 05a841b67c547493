"""VGGish-style audio encoder written here: log-mel spectrogram front end and a VGG CNN (Hershey et al. 2017).

Front end as VGGish's ``mel_features``: 16 kHz audio, 25 ms periodic-Hann windows (400 samples) every 10 ms
(160), FFT length 512, magnitude spectrum, 64 HTK-mel triangular bands between 125 and 7500 Hz (the DC bin
gets no weight), ``log(mel + 0.01)``. Network as VGGish: 3x3 convolutions with ReLU in four blocks
(1, 1, 2, 2 convolutions of w, 2w, 4w, 8w channels; w = 64 in VGGish) each followed by 2x2 max-pooling, then
two hidden fully connected layers (4096 in VGGish) and a 128-d embedding. Two deviations, both to accept
windows of any length: the last feature map is average-pooled to 4 x 4 (time x mel) instead of requiring
96-frame examples, and ``width``/``hidden`` can be shrunk for CPU runs. No weights ship with simkit; a
state dict of this exact module can be loaded from a local file.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from simkit.errors import SimkitError
from simkit.models.binaural.base import load_weights

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
N_MELS = 64
FMIN, FMAX = 125.0, 7500.0
LOG_OFFSET = 0.01
EMBED_DIM = 128


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """HTK mel scale ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_matrix(
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    sample_rate: int = SAMPLE_RATE,
    fmin: float = FMIN,
    fmax: float = FMAX,
) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular weights, equally spaced on the HTK mel scale; DC row zero."""
    if not 0.0 <= fmin < fmax <= sample_rate / 2:
        raise SimkitError(f"mel band {fmin}-{fmax} Hz does not fit sample rate {sample_rate} Hz")
    bins_mel = hz_to_mel(np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1))
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    w = np.maximum(0.0, np.minimum(rising, falling))
    w[0, :] = 0.0
    return w


class LogMel(nn.Module):
    """Waveforms (B, T) at 16 kHz -> log-mel spectrograms (B, 1, frames, n_mels)."""

    def __init__(self, n_mels: int = N_MELS) -> None:
        super().__init__()
        self.register_buffer("mel", torch.from_numpy(mel_matrix(n_mels)).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(WINDOW, periodic=True), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wav.float(), N_FFT, HOP, WINDOW, self.window, center=True, pad_mode="reflect", return_complex=True
        ).abs()  # (B, F, frames)
        mel = torch.einsum("bft,fm->btm", spec, self.mel)
        return torch.log(mel + LOG_OFFSET).unsqueeze(1)


class VGGish(nn.Module):
    """VGGish-style encoder: waveform (B, T) -> embedding (B, 128)."""

    def __init__(
        self,
        width: int = 64,
        hidden: int = 4096,
        embed_dim: int = EMBED_DIM,
        weights: str | None = None,
        freeze: bool | None = None,
    ) -> None:
        super().__init__()
        if width < 1 or hidden < 1:
            raise SimkitError(f"VGGish width and hidden size must be positive (got {width}, {hidden})")
        self.frontend = LogMel()
        layers: list[nn.Module] = []
        c_in = 1
        for c_out, n_conv in ((width, 1), (2 * width, 1), (4 * width, 2), (8 * width, 2)):
            for _ in range(n_conv):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
            layers.append(nn.MaxPool2d(2, ceil_mode=True))  # ceil: short windows keep at least one frame
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.embeddings = nn.Sequential(
            nn.Linear(c_in * 16, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, embed_dim),
        )
        self.embed_dim = embed_dim
        if weights:
            load_weights(self, weights, "VGGish")
        # The seed freezes its pre-trained VGGish; without weights a frozen random encoder would be useless.
        self.frozen = bool(weights) if freeze is None else freeze
        if self.frozen:
            self.requires_grad_(False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.features(self.frontend(wav))
        return self.embeddings(torch.flatten(self.pool(x), 1))
