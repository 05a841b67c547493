"""Pretrained encoders read from a local file in their published layouts, and their input pipelines.

Weights are never downloaded: a path names a state dict saved with ``torch.save`` exactly as its authors
publish it, read with ``torch.load(weights_only=True)`` (no arbitrary objects are unpickled). A missing,
unreadable or foreign file, a missing key, an unexpected key or a wrong shape is one ``SimkitError`` naming
the file and what is wrong.

* :func:`resnet18`: torchvision's ImageNet ResNet-18 (``torchvision/models/resnet.py``, pytorch/vision@054e54c:
  ``BasicBlock``, ``ResNet.__init__``/``_make_layer``/``forward``, ``resnet18`` = BasicBlock x [2, 2, 2, 2]).
  Keys ``conv1.weight``, ``bn1.*``, ``layer{1-4}.{0,1}.{conv1,bn1,conv2,bn2}.*``,
  ``layer{2-4}.0.downsample.{0,1}.*``, ``fc.*``. The module is the project's :class:`~simkit.models.nets.ResNet18`
  at width 64 (the same layers; torchvision's names are mapped onto it) and its ``forward`` returns the
  ``layer4`` map (B, 512, H/32, W/32) of ImageNet-normalised input (:func:`imagenet_normalize`), equal to
  torchvision's in eval mode. ``fc`` is checked but not used; ``num_batches_tracked`` may be absent (the
  published ``resnet18-5c106cde.pth`` predates it).
* :func:`vggish`: torchvggish (harritaylor/torchvggish@f3f9096, ``torchvggish/vggish.py``): ``make_layers``
  (l. 108-118, VGG config 64 M 128 M 256 256 M 512 512 M, 3x3 convolutions + ReLU, 2x2 max-pooling; keys
  ``features.{0,3,6,8,11,13}.*``) and ``VGG`` (l. 9-31: the (B, 512, 6, 4) map flattened channel-last, then
  ``embeddings`` = Linear(512*4*6, 4096) ReLU Linear(4096, 4096) ReLU Linear(4096, 128) ReLU; keys
  ``embeddings.{0,2,4}.*``). ``forward`` on (B, 1, 96, 64) log-mel examples returns the 128-d embedding
  before the PCA/quantisation post-processor (``Postprocessor``, l. 34-105, whose parameters ship separately).
* :func:`waveform_to_examples`: torchvggish's ``vggish_input.waveform_to_examples`` (l. 30-81) with
  ``mel_features`` (``frame`` l. 21-45, ``periodic_hann`` l. 48-68, ``stft_magnitude`` l. 71-92,
  ``hertz_to_mel`` l. 100-111, ``spectrogram_to_mel_matrix`` l. 114-189, ``log_mel_spectrogram`` l. 192-223)
  and ``vggish_params`` (l. 22-35): 16 kHz, 25 ms (400-sample) periodic-Hann frames every 10 ms (160), FFT
  512, magnitude, 64 HTK-mel bands 125-7500 Hz (DC row zero), ``log(mel + 0.01)``, 96-frame examples every
  96 frames, incomplete ones dropped. One deviation: other rates are resampled with soxr
  (:func:`simkit.audio.dsp.resample`) instead of resampy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from simkit.errors import SimkitError
from simkit.models.nets import ResNet18

# ImageNet statistics of torchvision's pretrained models (its ``transforms.Normalize`` in every reference
# script; 2.5D Visual Sound's data/audioVisual_dataset.py uses the same)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# vggish_params.py l. 22-35
VGGISH_RATE = 16000
VGGISH_WINDOW = 400  # round(16000 * 0.025)
VGGISH_HOP = 160  # round(16000 * 0.010)
VGGISH_FFT = 512  # 2 ** ceil(log2(400)), log_mel_spectrogram l. 214
VGGISH_BANDS = 64
VGGISH_FMIN, VGGISH_FMAX = 125.0, 7500.0
VGGISH_LOG_OFFSET = 0.01
VGGISH_FRAMES = 96  # frames per example (0.96 s), also the example hop (no overlap)
VGGISH_EMBED = 128
# samples that give exactly one 96-frame example: 400 + 95 * 160
VGGISH_EXAMPLE_SAMPLES = VGGISH_WINDOW + (VGGISH_FRAMES - 1) * VGGISH_HOP


# ----------------------------------------------------------------------------------------------- loading


def read_state_dict(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a state dict saved with ``torch.save`` at ``path`` (tensors only: weights_only load)."""
    p = Path(path)
    if not p.is_file():
        raise SimkitError(f"{what} weights file {p} does not exist")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt, foreign or object-holding files
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # torch's message carries terminal colours
        if "Weights only load failed" in text:
            reason = "it holds Python objects besides tensors, which are never unpickled"
        else:
            reason = text.splitlines()[0] if text else type(e).__name__
        raise SimkitError(f"{what} weights file {p} cannot be read as a torch state dict ({reason})") from None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise SimkitError(f"{what} weights file {p} does not hold a state dict (names -> tensors)")
    return dict(state)


def _names(keys: list[str], most: int = 4) -> str:
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return ", ".join(keys[:most]) + more


def check_layout(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, tuple[int, ...]],
    path: str | Path,
    what: str,
    optional: tuple[str, ...] = (),
) -> None:
    """SimkitError unless ``state`` has every key of ``expected`` with its shape and nothing else.

    Keys ending in one of ``optional`` may be missing (they are still shape-checked when present)."""
    missing = [k for k in expected if k not in state and not k.endswith(optional)]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {expected[k]})" for k in expected
             if k in state and tuple(state[k].shape) != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"missing keys {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_names(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes {_names(wrong, 2)}")
    if problems:
        raise SimkitError(f"{what} weights file {path} is not in the published layout: {'; '.join(problems)}")


# ---------------------------------------------------------------------------------------------- ResNet-18


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] standardised with the ImageNet mean and std per channel."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device)[:, None, None]
    return (x - mean) / std


def _torchvision_to_simkit(key: str) -> str:
    """A torchvision ResNet key as the name of the same tensor in :class:`~simkit.models.nets.ResNet18`."""
    key = re.sub(r"^conv1\.", "stem.0.", key)
    key = re.sub(r"^bn1\.", "stem.1.", key)
    key = re.sub(r"^layer([1-4])\.", lambda m: f"stages.{int(m.group(1)) - 1}.", key)
    return key.replace(".downsample.", ".shortcut.")


def _simkit_to_torchvision(key: str) -> str:
    key = re.sub(r"^stem\.0\.", "conv1.", key)
    key = re.sub(r"^stem\.1\.", "bn1.", key)
    key = re.sub(r"^stages\.([0-3])\.", lambda m: f"layer{int(m.group(1)) + 1}.", key)
    return key.replace(".shortcut.", ".downsample.")


class ImageNetResNet18(ResNet18):
    """ResNet-18 at torchvision's sizes (width 64) whose ``forward`` is the ``layer4`` feature map."""

    def __init__(self) -> None:
        super().__init__(in_channels=3, num_outputs=0, width=64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 512, H/32, W/32) of ImageNet-normalised (B, 3, H, W) images."""
        return self.features(x)


def resnet18(path: str | Path) -> ImageNetResNet18:
    """torchvision's ResNet-18 with the weights of the torchvision state dict at ``path`` (see module doc)."""
    state = read_state_dict(path, "ResNet-18")
    net = ImageNetResNet18()
    layout = {_simkit_to_torchvision(k): tuple(v.shape) for k, v in net.state_dict().items()}
    # fc is not part of the feature map: it may be absent, or classify any number of classes
    fc = state.get("fc.weight")
    classes = fc.shape[0] if fc is not None and fc.ndim == 2 else 1000
    layout["fc.weight"], layout["fc.bias"] = (classes, 512), (classes,)
    check_layout(state, layout, path, "ResNet-18 (torchvision)", optional=("num_batches_tracked", "fc.weight",
                                                                         "fc.bias"))
    mapped = {_torchvision_to_simkit(k): v for k, v in state.items() if not k.startswith("fc.")}
    # a missing num_batches_tracked keeps its initial 0 (only used with momentum=None)
    net.load_state_dict(mapped, strict=False)
    return net


# ------------------------------------------------------------------------------------------------ VGGish


class VGGishNet(nn.Module):
    """torchvggish's ``VGG`` (module doc): (B, 1, 96, 64) log-mel examples -> (B, 128) embeddings (pre-PCA)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, VGGISH_EMBED), nn.ReLU(inplace=True),  # the released net ends in a ReLU too
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != (1, VGGISH_FRAMES, VGGISH_BANDS):
            raise SimkitError(f"VGGish takes (B, 1, {VGGISH_FRAMES}, {VGGISH_BANDS}) log-mel examples, "
                              f"got {tuple(x.shape)}")
        x = self.features(x)
        # channel-last flatten (B, 6, 4, 512): the order of the TensorFlow weights torchvggish converted
        return self.embeddings(torch.flatten(x.permute(0, 2, 3, 1), 1))


def vggish(path: str | Path) -> VGGishNet:
    """torchvggish's VGGish with the weights of the torchvggish state dict at ``path`` (see module doc)."""
    state = read_state_dict(path, "VGGish")
    net = VGGishNet()
    check_layout(state, {k: tuple(v.shape) for k, v in net.state_dict().items()}, path, "VGGish (torchvggish)")
    net.load_state_dict(state)
    return net


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale ``1127 ln(1 + f / 700)`` (mel_features.hertz_to_mel)."""
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_matrix(
    n_mels: int = VGGISH_BANDS,
    n_fft: int = VGGISH_FFT,
    sample_rate: int = VGGISH_RATE,
    fmin: float = VGGISH_FMIN,
    fmax: float = VGGISH_FMAX,
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


def vggish_log_mel(wave: torch.Tensor) -> torch.Tensor:
    """Log-mel frames (..., frames, 64) of 16 kHz audio (..., T), as mel_features.log_mel_spectrogram.

    Frames are not padded: ``1 + (T - 400) // 160`` of them (none for T < 400). Differentiable."""
    frames = wave.unfold(-1, VGGISH_WINDOW, VGGISH_HOP)  # (..., frames, 400)
    window = torch.hann_window(VGGISH_WINDOW, periodic=True, dtype=wave.dtype, device=wave.device)
    mag = torch.fft.rfft(frames * window, n=VGGISH_FFT).abs()
    mel = mag @ torch.as_tensor(mel_matrix(), dtype=wave.dtype, device=wave.device)
    return torch.log(mel + VGGISH_LOG_OFFSET)


def waveform_to_examples(data: np.ndarray, sample_rate: int) -> torch.Tensor:
    """torchvggish's ``waveform_to_examples``: (N, 1, 96, 64) float32 log-mel examples of a waveform.

    ``data`` is (T,) or (T, channels) (channels are averaged, as torchvggish does), nominally in [-1, 1]."""
    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise SimkitError(f"VGGish input must be (samples,) or (samples, channels), got shape {x.shape}")
    if sample_rate != VGGISH_RATE:
        from simkit.audio.dsp import resample

        x = resample(x, int(sample_rate), VGGISH_RATE)
    log_mel = vggish_log_mel(torch.from_numpy(np.ascontiguousarray(x)))
    if log_mel.shape[0] < VGGISH_FRAMES:
        return torch.zeros((0, 1, VGGISH_FRAMES, VGGISH_BANDS))
    examples = log_mel.unfold(0, VGGISH_FRAMES, VGGISH_FRAMES).transpose(1, 2)  # (N, 96, 64)
    return examples[:, None].float().contiguous()


def examples_of_windows(wave: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(B * n, 1, 96, 64) examples of 16 kHz windows (B, T) and n, the examples per window.

    A window shorter than one example (0.975 s) is zero-padded on both sides to one (silence around it,
    ``log(0.01)`` where no sound reaches a frame); a longer one gives its complete 0.96 s examples (the
    first 0.975 s when none is complete after padding)."""
    t = wave.shape[-1]
    if t < VGGISH_EXAMPLE_SAMPLES:
        extra = VGGISH_EXAMPLE_SAMPLES - t
        wave = F.pad(wave, (extra // 2, extra - extra // 2))
    log_mel = vggish_log_mel(wave)  # (B, frames, 64)
    n = log_mel.shape[-2] // VGGISH_FRAMES
    examples = log_mel[:, : n * VGGISH_FRAMES].reshape(wave.shape[0] * n, 1, VGGISH_FRAMES, VGGISH_BANDS)
    return examples, n
