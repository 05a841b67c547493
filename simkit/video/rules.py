"""Seed 000's rules for videos that cannot serve as training or test clips (A.1.1), shared by ``simkit curate``
(:mod:`simkit.curate.pipeline`) and ``simkit prepare video-folder`` (:mod:`simkit.data.adapters.video_folder`).

A video is refused when it is portrait, has no audio or one channel, is shorter than one clip, cannot be
decoded, or carries two identical channels (mono recorded as stereo; :func:`is_mono`, which needs the audio).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simkit.errors import SimkitError
from simkit.video.io import VideoInfo, probe

MIN_STEREO_DIFFERENCE = 1e-4  # channels closer than this (relative RMS) are one channel twice
MONO_COPY = "mono audio (two identical channels)"


def refusal(path: Path, clip_seconds: float) -> tuple[str | None, VideoInfo | None]:
    """(reason, info): the reason a video cannot serve (A.1.1), None when it can; ``info`` is None when the
    file does not even probe (the reason then starts with ``unreadable:``)."""
    try:
        info = probe(path)
    except SimkitError as e:
        return f"unreadable: {e}", None
    if info.portrait:
        return f"portrait video ({info.width}x{info.height} as displayed)", info
    if info.audio_channels == 0:
        return "no audio stream", info
    if info.audio_channels == 1:
        return "mono audio (1 channel)", info
    if info.duration_s + 1e-6 < clip_seconds:
        return f"shorter than one clip ({info.duration_s:.2f} s < {clip_seconds:g} s)", info
    return None, info


def is_mono(audio: np.ndarray, min_difference: float = MIN_STEREO_DIFFERENCE) -> bool:
    """Whether stereo ``audio`` (2, T) holds one channel twice: the RMS of the channels' difference, relative
    to the RMS of the audio, is below ``min_difference``."""
    level = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) + 1e-12
    diff = float(np.sqrt(np.mean((audio[0].astype(np.float64) - audio[1]) ** 2)))
    return diff / level < min_difference
