"""Reading the media of published datasets: audio (soundfile, resampled with soxr), video (PyAV), images.

Every reader turns a missing, corrupt or unexpected file into one SimkitError naming the file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from simkit.errors import SimkitError


def wav_shortfall(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` frames of a RIFF/RIFX WAVE file whose data chunk ends past the end of the file
    (a truncated copy), None for a complete file or another format. libsndfile quietly counts only the
    frames present, so a truncated clip would otherwise read as a shorter one (zero-padded later)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            order = "<" if head[:4] == b"RIFF" else ">"
            pos, block = 12, 0
            while pos + 8 <= size:
                f.seek(pos)
                cid, n = f.read(4), struct.unpack(order + "I", f.read(4))[0]
                if cid == b"fmt " and n >= 14:
                    block = struct.unpack(order + "H", f.read(14)[12:14])[0]
                elif cid == b"data":
                    present = size - pos - 8
                    # 0 and 0xFFFFFFFF: a streamed file whose writer could not go back to fill in the size
                    if n in (0, 0xFFFFFFFF) or present >= n or block <= 0:
                        return None
                    return n // block, present // block
                pos += 8 + n + (n & 1)
    except OSError:
        return None
    return None


def audio_info(path: Path) -> tuple[int, int, int]:
    """``(sample_rate, channels, frames)`` of an audio file from its header; a WAV file shorter than its
    header says (truncated) is a SimkitError."""
    import soundfile as sf

    if not path.is_file():
        raise SimkitError(f"missing audio file {path}")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as e:
        raise SimkitError(f"corrupt audio file {path} ({str(e).splitlines()[0]})") from None
    short = wav_shortfall(path)
    if short:
        raise SimkitError(f"truncated audio file {path}: its header declares {short[0]} frames, the file holds "
                          f"{short[1]}")
    return int(info.samplerate), int(info.channels), int(info.frames)


def check_audio(path: Path, rate: int | None = None, channels: int | None = None) -> tuple[int, int, int]:
    """:func:`audio_info` plus the published sample rate and channel count (SimkitError otherwise)."""
    sr, ch, n = audio_info(path)
    if rate is not None and sr != rate:
        raise SimkitError(f"audio file {path} is at {sr} Hz; the published layout has {rate} Hz")
    if channels is not None and ch != channels:
        raise SimkitError(f"audio file {path} has {ch} channel(s); the published layout has {channels}")
    if n == 0:
        raise SimkitError(f"audio file {path} holds no samples")
    return sr, ch, n


def read_audio(path: Path, rate: int | None = None, channels: int | None = None) -> tuple[np.ndarray, int]:
    """``(audio (C, T) float32, sample_rate)``; checks rate/channels like :func:`check_audio`."""
    import soundfile as sf

    _sr, _ch, frames = check_audio(path, rate, channels)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as e:
        raise SimkitError(f"corrupt audio file {path} ({str(e).splitlines()[0]})") from None
    if data.shape[0] < frames:  # a decoder that stops early instead of failing (any format)
        raise SimkitError(f"truncated audio file {path}: its header declares {frames} frames, "
                          f"{data.shape[0]} could be read")
    if not np.isfinite(data).all():
        raise SimkitError(f"audio file {path} holds NaN or infinite samples")
    return np.ascontiguousarray(data.T), int(sr)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """(C, T) audio from ``rate_in`` to ``rate_out`` Hz with soxr (very high quality); float32."""
    if rate_in == rate_out:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    out = soxr.resample(np.asarray(audio, dtype=np.float64).T, rate_in, rate_out, quality="VHQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, audio.shape[0]).T)


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """(C, T) audio cut or zero-padded at the end to exactly ``n`` samples."""
    if audio.shape[-1] >= n:
        return audio[..., :n]
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, n - audio.shape[-1])])


def parse_size(text: str, what: str) -> tuple[int, int]:
    """``"HxW"`` -> (H, W)."""
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise SimkitError(f"{what} must be HEIGHTxWIDTH, e.g. 112x224 (got {text!r})") from None
    if h < 8 or w < 8:
        raise SimkitError(f"{what} must be at least 8x8 (got {text!r})")
    return h, w


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) image resized to ``size`` = (H, W) with box (area) averaging (Pillow)."""
    from PIL import Image

    h, w = size
    if image.shape[:2] == (h, w):
        return np.ascontiguousarray(image, dtype=np.uint8)
    return np.asarray(Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).resize((w, h), Image.BOX))


def read_image(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 (H, W, 3) RGB of an image file, resized to ``size`` when given."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise SimkitError(f"missing image file {path}")
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise SimkitError(f"corrupt image file {path} ({e})") from None
    return resize(rgb, size) if size else rgb


def video_info(path: Path) -> tuple[float, int, int]:
    """``(duration_s, width, height)`` of the first video stream (PyAV)."""
    import av

    if not path.is_file():
        raise SimkitError(f"missing video file {path}")
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise SimkitError(f"video file {path} has no video stream")
            s = c.streams.video[0]
            dur = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / 1e6
            return dur, int(s.codec_context.width), int(s.codec_context.height)
    except av.error.FFmpegError as e:
        raise SimkitError(f"corrupt video file {path} ({e})") from None


def decode_frames(
    path: Path, times_s: np.ndarray, size: tuple[int, int], start_s: float = 0.0
) -> np.ndarray:
    """uint8 (F, H, W, 3): for each of ``times_s`` (from ``start_s``), the decoded frame shown at that time
    (the last frame starting at or before it), resized to ``size``. Frames before the first decodable one
    repeat it; a video ending early repeats its last frame."""
    import av

    times = np.asarray(times_s, dtype=np.float64) + start_s
    out = np.zeros((len(times), size[0], size[1], 3), np.uint8)
    filled = np.zeros(len(times), bool)
    k = 0
    last: np.ndarray | None = None
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise SimkitError(f"video file {path} has no video stream")
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in c.decode(stream):
                t = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                # every target time before this frame's start is shown by the previous frame
                while k < len(times) and times[k] < t:
                    if last is not None:
                        out[k], filled[k] = last, True
                    k += 1
                if k >= len(times):
                    break
                last = resize(frame.to_ndarray(format="rgb24"), size)
    except av.error.FFmpegError as e:
        raise SimkitError(f"corrupt video file {path} ({e})") from None
    if last is None:
        raise SimkitError(f"video file {path} holds no decodable frame")
    out[k:] = last
    filled[k:] = True
    first = int(np.argmax(filled))
    out[:first] = out[first]
    return out
