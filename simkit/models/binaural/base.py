"""Base of the binaural family: :class:`BinauralModel` and the pieces its models share.

:meth:`BinauralModel.predict` drives every model of the family: it runs the FAIR-Play sliding window over
whole clips and calls the subclass's ``generate`` hook on each batch of windows (pyroomacoustics'
``DOA.locate_sources`` calling ``_process``).

Conventions shared by every model of the family (stated once):

* **mono = (L + R) / 2** of the target binaural clip; the models predict the difference ``D = L - R`` and
  return ``L = mono + D / 2``, ``R = mono - D / 2`` (:func:`binaural_from_difference`). Channel order is
  :mod:`simkit.conventions`' (0 = left).
* Audio windows are 0.63 s at 16 kHz, RMS-normalised to 0.1 on the mono (both channels scaled by the same
  gain; :func:`normalize_batch` in every loss); long clips are generated window by window by
  :func:`simkit.metrics.binaural.sliding_window_binauralize` (:meth:`BinauralModel.predict`; the protocol's
  0.05 s hop with overlaps averaged, unless a model's ``eval_hop_seconds`` says otherwise).
* Images arrive as uint8 (B, H, W, 3) or (B, 3, H, W) and are resized to ``image_size`` and standardised
  (:func:`prepare_image`); the visual network is the project's ResNet-18 (:mod:`simkit.models.nets`).
* Pretrained encoders are optional and only ever read from a local file in their published layouts
  (:mod:`simkit.models.pretrained`: a torchvision ResNet-18 state dict, ``visual_weights``, which switches
  the image standardisation to ImageNet's; a torchvggish state dict, ``audio_weights``).

Batch keys (:class:`simkit.data.datasets.binaural.BinauralClips`): ``mono`` (B, T), ``binaural`` (B, 2, T),
``image``, and ``neg_mono`` (B, T) / ``neg_binaural`` (B, 2, T): another clip's audio for the same image (the
negative pair of the localisation losses). Training batches hold windows, evaluation batches whole clips.
"""

from __future__ import annotations

import abc

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from simkit.conventions import LEFT_CHANNEL, RIGHT_CHANNEL, mono_of  # noqa: F401  (mono_of: re-exported)
from simkit.errors import SimkitError
from simkit.metrics.binaural import (
    HOP_LENGTH,
    N_FFT,
    SAMPLE_RATE,
    WIN_LENGTH,
    WINDOW_HOP_SECONDS,
    WINDOW_SECONDS,
    sliding_window_binauralize,
    window_starts,
)
from simkit.models import Batch, BenchModel, pretrained
from simkit.models.nets import ResNet18
from simkit.models.pretrained import imagenet_normalize

# (H, W) fed to ResNet-18: the 240 x 320 views halved (aspect kept), giving a 4 x 5 feature map
IMAGE_SIZE = (128, 160)
# fixed standardisation of [0, 1] pixels for a ResNet-18 trained from scratch (ImageNet statistics
# with ImageNet weights: simkit.models.pretrained.imagenet_normalize)
IMAGE_MEAN, IMAGE_STD = 0.45, 0.25


def sized(option: float, width: int, factor: int) -> int:
    """A network size option: its value when > 0, else ``factor * width`` (``--width`` scales every net)."""
    if option < 0:
        raise SimkitError(f"network size options must be >= 0 (0 = derive from --width), got {option}")
    return int(option) if option > 0 else factor * width


def binaural_from_difference(mono: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
    """(..., 2, T) binaural from mono (..., T) = (L + R) / 2 and difference (..., T) = L - R."""
    channels = {LEFT_CHANNEL: mono + diff / 2, RIGHT_CHANNEL: mono - diff / 2}
    return torch.stack([channels[0], channels[1]], dim=-2)


def difference_of(binaural: torch.Tensor) -> torch.Tensor:
    """L - R of (..., 2, T) binaural audio."""
    return binaural[..., LEFT_CHANNEL, :] - binaural[..., RIGHT_CHANNEL, :]


def normalize_batch(batch: Batch, desired_rms: float = 0.1, eps: float = 1e-4) -> Batch:
    """Batch with each item's (and each negative's) audio scaled so its mono has RMS ``desired_rms``.

    The binaural clip gets its mono's gain, as :func:`simkit.metrics.binaural.rms_normalize` does for the
    sliding windows at inference, so training, validation loss and generation see the same levels.
    """
    out = dict(batch)
    for mono_key, bin_key in (("mono", "binaural"), ("neg_mono", "neg_binaural")):
        if mono_key not in batch:
            continue
        level = batch[mono_key].float().pow(2).mean(-1, keepdim=True).sqrt().clamp_min(eps)
        out[mono_key] = batch[mono_key] * (desired_rms / level)
        if bin_key in batch:
            out[bin_key] = batch[bin_key] * (desired_rms / level)[..., None, :]
    return out


def protocol_stft(x: torch.Tensor) -> torch.Tensor:
    """Complex STFT (..., 257, frames), FAIR-Play parameters (equals :func:`simkit.metrics.binaural.stft`)."""
    lead = x.shape[:-1]
    window = torch.hann_window(WIN_LENGTH, periodic=True, device=x.device, dtype=torch.float32)
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]).float(),
        N_FFT,
        HOP_LENGTH,
        WIN_LENGTH,
        window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def protocol_istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of :func:`protocol_stft` for (..., 257, frames) -> (..., length)."""
    lead = spec.shape[:-2]
    window = torch.hann_window(WIN_LENGTH, periodic=True, device=spec.device, dtype=torch.float32)
    wav = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]), N_FFT, HOP_LENGTH, WIN_LENGTH, window, center=True, length=length
    )
    return wav.reshape(*lead, length)


def prepare_image(image: torch.Tensor, size: tuple[int, int] = IMAGE_SIZE, imagenet: bool = False) -> torch.Tensor:
    """Float (B, 3, h, w) standardised images from uint8/float (B, H, W, 3) or (B, 3, H, W) in [0, 255].

    ``imagenet``: per-channel ImageNet mean/std (for ImageNet weights), else the fixed 0.45 / 0.25."""
    if image.ndim != 4:
        raise SimkitError(
            f"images must be a batch (B, H, W, 3) or (B, 3, H, W), got shape {tuple(image.shape)}"
        )
    x = image if image.shape[1] == 3 else image.permute(0, 3, 1, 2).contiguous()
    x = x.float() / 255.0
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return imagenet_normalize(x) if imagenet else (x - IMAGE_MEAN) / IMAGE_STD


class VisualEncoder(nn.Module):
    """The project's ResNet-18 as a feature-map extractor, plus a compact code that keeps the layout.

    With ``weights`` (a torchvision ``resnet18`` state dict, :func:`simkit.models.pretrained.resnet18`) the
    network is ImageNet's ResNet-18 at its own width (64, 512 channels out; ``width`` is ignored) on
    ImageNet-normalised images, fine-tuned with the rest of the model; without, it is trained from scratch
    at ``width`` on the fixed standardisation (``normalization`` says which).

    ``feature_map`` is the last stage (B, 8w, h/32, w/32); ``layout_code`` reduces it to ``code_channels``
    by a 1x1 convolution and pools it to ``code_grid`` before flattening, so where things are in the image
    survives (as 2.5D Visual Sound's 1x1 conv + flatten of the visual features).
    """

    def __init__(
        self,
        width: int,
        code_channels: int = 8,
        code_grid: tuple[int, int] = (4, 5),
        weights: str | None = None,
        image_size: tuple[int, int] = IMAGE_SIZE,
    ) -> None:
        super().__init__()
        self.resnet = pretrained.resnet18(weights) if weights else ResNet18(in_channels=3, num_outputs=0,
                                                                            width=width)
        self.normalization = "imagenet" if weights else "fixed"
        self.image_size = image_size
        self.channels = self.resnet.embed_dim
        self.reduce = nn.Sequential(
            nn.Conv2d(self.channels, code_channels, 1), nn.BatchNorm2d(code_channels), nn.ReLU()
        )
        self.code_grid = code_grid
        self.code_dim = code_channels * code_grid[0] * code_grid[1]

    def feature_map(self, image: torch.Tensor) -> torch.Tensor:
        x = prepare_image(image, self.image_size, imagenet=self.normalization == "imagenet")
        return self.resnet.features(x)

    def layout_code(self, fmap: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.reduce(fmap), self.code_grid), 1)


def broadcast_to_batch(x: torch.Tensor, batch: int) -> torch.Tensor:
    """Features of one shared image (1, ...) repeated (as a view) for ``batch`` items; others unchanged."""
    return x.expand(batch, *x.shape[1:]) if x.shape[0] == 1 and batch != 1 else x


class BinauralModel(BenchModel, abc.ABC):
    """A mono + image -> binaural generator; subclasses implement :meth:`generate` on windows."""

    sample_rate: int = SAMPLE_RATE

    def __init__(self, eval_hop_seconds: float = WINDOW_HOP_SECONDS) -> None:
        super().__init__()
        if eval_hop_seconds <= 0:
            raise SimkitError(f"eval_hop_seconds must be > 0 (got {eval_hop_seconds})")
        self.eval_hop_seconds = eval_hop_seconds
        self.window = int(round(WINDOW_SECONDS * self.sample_rate))

    @abc.abstractmethod
    def generate(self, mono: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Binaural windows (B, 2, W) from RMS-normalised mono windows (B, W) and their images (B or 1, ...).

        One image (batch 1) is shared by all windows: its visual features are computed once and broadcast.
        """

    def _window_frames(self, n_samples: int, frame_times: torch.Tensor) -> np.ndarray:
        """Per sliding window of a clip of ``n_samples``, the index of the frame nearest the window's centre."""
        from simkit.data.datasets.binaural import nearest_frames

        window = self.window
        hop = int(round(self.eval_hop_seconds * self.sample_rate))
        starts = np.asarray(window_starts(max(n_samples, window), window, hop), dtype=np.float64)
        return nearest_frames(frame_times.detach().cpu().numpy(), (starts + window / 2) / self.sample_rate)

    @torch.no_grad()
    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        """``binaural`` (B, 2, T) for whole clips, window by window (FAIR-Play sliding-window protocol).

        One image per clip (``image``), or with ``frames``/``frame_times`` (recorded video) the frame nearest
        each window's centre."""
        mono = batch["mono"]
        image = batch["image"]
        frames = batch.get("frames")  # recorded video (B, F, H, W, 3): the frame nearest each window's centre
        out = []
        for i in range(mono.shape[0]):
            img = image[i : i + 1]
            if frames is not None:
                img = frames[i][torch.as_tensor(self._window_frames(mono.shape[-1], batch["frame_times"][i]),
                                                device=frames.device)]

            def run(windows: np.ndarray, img: torch.Tensor = img) -> np.ndarray:
                w = torch.as_tensor(windows, dtype=torch.float32, device=mono.device)
                return self.generate(w, img).double().cpu().numpy()

            clip = mono[i].double().cpu().numpy()
            out.append(
                sliding_window_binauralize(run, clip, self.sample_rate, WINDOW_SECONDS, self.eval_hop_seconds)
            )
        return {"binaural": torch.as_tensor(np.stack(out), dtype=torch.float32, device=mono.device)}

