"""Binaural network input: log-magnitude STFT of both ears plus the interaural phase difference.

Output channels: ``[log|L|, log|R|, cos(IPD), sin(IPD)]`` with ``IPD = angle(L) - angle(R)`` per
time-frequency bin, computed in float32 even under autocast (cuFFT half precision needs power-of-two sizes
and the log of small magnitudes underflows in fp16).
"""

from __future__ import annotations

import torch

from simkit.conventions import LEFT_CHANNEL, RIGHT_CHANNEL

LOG_EPS = 1e-5  # floor under |X| before the log: about -100 dB re full scale


def stft(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Complex STFT (..., F, frames) of waveforms (..., T) with a periodic Hann window."""
    shape = audio.shape
    window = torch.hann_window(n_fft, device=audio.device, dtype=torch.float32)
    spec = torch.stft(
        audio.reshape(-1, shape[-1]).float(),
        n_fft,
        hop_length=hop,
        window=window,
        center=True,
        return_complex=True,
    )
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def binaural_features(audio: torch.Tensor, n_fft: int = 512, hop: int = 160) -> torch.Tensor:
    """Features (B, 4, F, frames) of binaural clips (B, 2, T); channel 0 of the input is the left ear."""
    with torch.autocast(device_type=audio.device.type, enabled=False):
        spec = stft(audio.float(), n_fft, hop)
        left, right = spec[:, LEFT_CHANNEL], spec[:, RIGHT_CHANNEL]
        cross = left * right.conj()
        phase = cross / (cross.abs() + 1e-8)
        return torch.stack(
            [torch.log(left.abs() + LOG_EPS), torch.log(right.abs() + LOG_EPS), phase.real, phase.imag], dim=1
        )


def swap_ears(audio: torch.Tensor) -> torch.Tensor:
    """Exchange left and right channels of (..., 2, T) audio (a source at azimuth a moves to -a)."""
    return audio.flip(-2)
