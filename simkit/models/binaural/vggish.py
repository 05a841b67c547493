"""VGGish-style audio encoder written here: log-mel spectrogram front end and a VGG CNN (Hershey et al. 2017).

Front end as VGGish's ``mel_features``: 16 kHz audio, 25 ms periodic-Hann windows (400 samples) every 10 ms
(160), FFT length 512, magnitude spectrum, 64 HTK-mel triangular bands between 125 and 7500 Hz (the DC bin
gets no weight), ``log(mel + 0.01)``. Network as VGGish: 3x3 convolutions with ReLU in four blocks
(1, 1, 2, 2 convolutions of w, 2w, 4w, 8w channels; w = 64 in VGGish) each followed by 2x2 max-pooling, then
two hidden fully connected layers (4096 in VGGish) and a 128-d embedding. Two deviations, both to accept
windows of any length: the last feature map is average-pooled to 4 x 4 (time x mel) instead of requiring
96-frame examples, and ``width``/``hidden`` can be shrunk for CPU runs. This network always trains from
scratch; the published VGGish (a torchvggish state dict, option ``audio_weights``) is
:class:`PretrainedVGGish`, frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from simkit.errors import SimkitError
from simkit.models import pretrained
from simkit.models.pretrained import (
    VGGISH_BANDS,
    VGGISH_EMBED,
    VGGISH_FFT,
    VGGISH_HOP,
    VGGISH_LOG_OFFSET,
    VGGISH_RATE,
    VGGISH_WINDOW,
    mel_matrix,
)

SAMPLE_RATE = VGGISH_RATE
WINDOW = VGGISH_WINDOW  # 25 ms
HOP = VGGISH_HOP  # 10 ms
N_FFT = VGGISH_FFT
N_MELS = VGGISH_BANDS
LOG_OFFSET = VGGISH_LOG_OFFSET
EMBED_DIM = VGGISH_EMBED


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

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.features(self.frontend(wav))
        return self.embeddings(torch.flatten(self.pool(x), 1))


class PretrainedVGGish(nn.Module):
    """The published VGGish (:func:`simkit.models.pretrained.vggish`), frozen: waveform (B, T) -> (B, 128).

    CLUP's seed (001 §1, "Audio Network") freezes its pre-trained VGGish. Each 16 kHz window becomes
    torchvggish's log-mel examples (:func:`simkit.models.pretrained.examples_of_windows`): a window shorter
    than one 0.96 s example (CLUP's 0.63 s windows, the 0.2 s upmix crops) is zero-padded to one on both
    sides, a longer one gives the mean embedding of its complete examples. The input stays differentiable,
    so losses on generated audio (CLUP's cycle) still reach the generator.
    """

    def __init__(self, weights: str) -> None:
        super().__init__()
        self.net = pretrained.vggish(weights)
        self.net.requires_grad_(False)
        self.frozen = True
        self.embed_dim = VGGISH_EMBED

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        examples, n = pretrained.examples_of_windows(wav.float())
        return self.net(examples).reshape(wav.shape[0], n, -1).mean(dim=1)
