"""Video files through PyAV (FFmpeg): probe, decode frames at chosen times, decode audio, write mp4/mkv.

Writing is deterministic (same arrays -> same bytes in every process and every encoding: one x264 thread,
x264's ``cpu-independent`` mode, bit-exact muxing without a creation time) and atomic
(:func:`simkit.io.atomic_path`). Containers: ``.mp4`` = H.264 + AAC, ``.mkv`` = H.264 + 16-bit PCM
(lossless audio, so a generated video's interaural level differences survive the file exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from simkit.errors import SimkitError
from simkit.io import atomic_path

CONTAINERS = {".mp4": ("mp4", "aac"), ".mkv": ("matroska", "pcm_s16le")}
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")
# x264's SIMD macroblock-tree propagation reads heap memory it never wrote, so one thread alone still gave
# other bytes from run to run (13 outputs in 40 in-process encodings of the same arrays). cpu-independent=1
# makes x264 use the code paths whose results do not depend on the CPU's instruction set, which also ends
# that read: 40 of 40 encodings and processes under MALLOC_PERTURB_ 0/1/85/170/255 gave one output. It keeps
# the macroblock tree (mbtree=0 is deterministic too but gave a 42 % larger file at the same PSNR).
X264_PARAMS = "cpu-independent=1"


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` finds in a file (display size = after the rotation the file asks for)."""

    path: Path
    width: int  # display width in pixels
    height: int  # display height in pixels
    rotation: int  # degrees the player rotates the coded picture (0, 90, 180, 270)
    fps: float
    duration_s: float
    audio_channels: int  # 0 = no audio stream
    audio_rate: int

    @property
    def portrait(self) -> bool:
        return self.height > self.width


def _open(path: Path):
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:  # type: ignore[attr-defined]
        raise SimkitError(f"{path} cannot be read as a video ({e})") from None


def _rotation(container, stream) -> int:
    """Display rotation: the stream's 'rotate' tag (old muxers) or the first frame's display matrix."""
    tag = stream.metadata.get("rotate")
    if tag is not None:
        try:
            return int(float(tag)) % 360
        except ValueError:
            return 0
    try:
        for frame in container.decode(stream):
            return int(round(getattr(frame, "rotation", 0) or 0)) % 360
    except Exception:  # an undecodable stream is reported by the readers, not here
        return 0
    return 0


def probe(path: Path | str) -> VideoInfo:
    """Size, rotation, frame rate, duration and audio layout of a video; SimkitError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise SimkitError(f"video {path} does not exist")
    with _open(path) as c:
        if not c.streams.video:
            raise SimkitError(f"{path} has no video stream")
        vs = c.streams.video[0]
        w, h = int(vs.codec_context.width), int(vs.codec_context.height)
        fps = float(vs.average_rate or vs.guessed_rate or 0) or 0.0
        if c.duration is not None:
            duration = c.duration / 1e6
        elif vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        else:
            duration = 0.0
        ach, arate = 0, 0
        if c.streams.audio:
            a = c.streams.audio[0]
            ach, arate = int(a.codec_context.channels), int(a.codec_context.sample_rate)
        rot = _rotation(c, vs)
    if rot in (90, 270):
        w, h = h, w
    return VideoInfo(path, w, h, rot, fps, duration, ach, arate)


def read_audio(path: Path | str, sample_rate: int, channels: int = 2) -> np.ndarray:
    """The first audio stream as float32 (channels, T) at ``sample_rate`` (FFmpeg's resampler)."""
    import av

    path = Path(path)
    layout = {1: "mono", 2: "stereo"}[channels]
    chunks: list[np.ndarray] = []
    with _open(path) as c:
        if not c.streams.audio:
            raise SimkitError(f"{path} has no audio stream")
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        try:
            for frame in c.decode(c.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            raise SimkitError(f"{path}: audio cannot be decoded ({e})") from None
    if not chunks:
        raise SimkitError(f"{path}: the audio stream holds no samples")
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32)


def read_frames(
    path: Path | str, times_s: np.ndarray, width: int | None = None, gray: bool = False
) -> np.ndarray:
    """Frames nearest each time in ``times_s`` (sorted seconds), as (N, H, W, 3) uint8 RGB or (N, H, W) gray.

    ``width`` rescales (height keeps the aspect, rounded to even). Decodes the stream once, front to back.
    A time past the last frame gets the last frame.
    """
    import av

    path = Path(path)
    times = np.asarray(times_s, dtype=np.float64)
    if len(times) == 0:
        return np.zeros((0, 1, 1) if gray else (0, 1, 1, 3), dtype=np.uint8)
    if np.any(np.diff(times) < 0):
        raise ValueError("times_s must be sorted")
    fmt = "gray" if gray else "rgb24"
    out: list[np.ndarray | None] = [None] * len(times)
    best = np.full(len(times), np.inf)
    last = None
    with _open(path) as c:
        if not c.streams.video:
            raise SimkitError(f"{path} has no video stream")
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        size: tuple[int, int] | None = None
        k = 0  # first target that may still improve
        try:
            for frame in c.decode(vs):
                if frame.pts is None:
                    continue
                t = float(frame.pts * vs.time_base)
                while k < len(times) and t - times[k] > best[k]:
                    k += 1  # frames only move away from target k now
                if k >= len(times):
                    break
                if size is None:
                    w0, h0 = frame.width, frame.height
                    size = (int(width), max(2, int(round(h0 * width / w0 / 2)) * 2)) if width else (w0, h0)
                img = None
                j = k
                while j < len(times) and abs(t - times[j]) < best[j]:
                    if img is None:
                        img = frame.reformat(width=size[0], height=size[1], format=fmt).to_ndarray()
                    best[j], out[j] = abs(t - times[j]), img
                    j += 1
                last = (frame, t)
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            raise SimkitError(f"{path}: video cannot be decoded ({e})") from None
    if last is None:
        raise SimkitError(f"{path}: the video stream holds no frames")
    fill = next(x for x in reversed(out) if x is not None)
    return np.stack([x if x is not None else fill for x in out])


def write_video(
    path: Path | str,
    frames: np.ndarray,
    fps: int,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    crf: int = 18,
) -> Path:
    """Mux RGB frames (N, H, W, 3) uint8 and optional audio (C, T) float32 into ``path`` (.mp4 or .mkv)."""
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        raise SimkitError(f"video output must end in {' or '.join(CONTAINERS)} (got {path.name})")
    fmt, acodec = CONTAINERS[suffix]
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    n, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise SimkitError(f"H.264 needs even frame sizes (got {w}x{h})")
    # the temporary ends in .tmp like every simkit temporary (the muxer is named, not guessed from it)
    with atomic_path(path) as tmp, av.open(
        str(tmp), "w", format=fmt, options={"fflags": "+bitexact"}
    ) as c:
        c.metadata.clear()
        vs = c.add_stream("libx264", rate=int(fps))
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"crf": str(crf), "preset": "medium", "threads": "1",
                                    "x264-params": X264_PARAMS}
        astream = None
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            layout = {1: "mono", 2: "stereo"}[audio.shape[0]]
            astream = c.add_stream(acodec, rate=int(sample_rate), layout=layout)
            if acodec == "aac":
                astream.bit_rate = 192000
        for i in range(n):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, int(fps))
            for pkt in vs.encode(vf):
                c.mux(pkt)
        for pkt in vs.encode(None):
            c.mux(pkt)
        if astream is not None and audio is not None:
            _encode_audio(c, astream, audio, int(sample_rate), acodec)
    return path


def _encode_audio(container, stream, audio: np.ndarray, sample_rate: int, codec: str) -> None:
    import av

    layout = {1: "mono", 2: "stereo"}[audio.shape[0]]
    fmt = "fltp" if codec == "aac" else "s16"
    step = stream.codec_context.frame_size or 1024
    data = np.clip(audio, -1.0, 1.0)
    for start in range(0, data.shape[1], step):
        block = data[:, start : start + step]
        if fmt == "s16":
            arr = np.ascontiguousarray(np.round(block.T * 32767.0).astype(np.int16).reshape(1, -1))
        else:
            arr = np.ascontiguousarray(block)
        af = av.AudioFrame.from_ndarray(arr, format=fmt, layout=layout)
        af.sample_rate = sample_rate
        af.pts = start
        af.time_base = Fraction(1, sample_rate)
        for pkt in stream.encode(af):
            container.mux(pkt)
    for pkt in stream.encode(None):
        container.mux(pkt)
