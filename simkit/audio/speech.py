"""Speech sources: mono clips that the render convolves with binaural RIRs.

Two sources share one interface (``SpeechSource``): LibriSpeech read from disk (``librispeech.py``, the
SLfM / HM3D-SS choice) and an offline espeak-ng synthesiser (``espeak.py``, the built-in default). Every
clip carries a ``source_id`` (``<source name>:<id>@<offset>``) from which ``load_clip`` re-creates the exact
samples. See docs/speech.md.

Each source is one module of :mod:`simkit.audio` whose source class registers itself with
``@SPEECH_SOURCES.register("name")``; :data:`SPEECH_SOURCES` imports the package's modules the first time
it is read, so this module never imports a source (they import it) and a new source is one new file.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from simkit.audio.config import SpeechConfig
from simkit.audio.dsp import rms
from simkit.conventions import SPLITS
from simkit.errors import SimkitError
from simkit.registry import Registry

# Every clip is scaled to this RMS (-26 dBFS, the ITU-T P.56 speech level convention) so sources are
# equally loud before convolution; float32 storage means rare peaks above 1.0 are kept, not clipped.
CLIP_RMS = 0.05
# Below this RMS (about -100 dBFS) a clip counts as silent and is never returned.
SILENCE_RMS = 1e-5


@dataclass(frozen=True)
class Clip:
    """One dry mono speech clip."""

    audio: np.ndarray  # float32 (round(seconds * sample_rate),), RMS == CLIP_RMS
    sample_rate: int
    source_id: str  # e.g. "librispeech:103-1240-0000@3.20" or "espeak:en-us+f1_p52_r170/s0042@0.00"
    speaker: str  # LibriSpeech speaker id or espeak voice id
    text: str  # transcript of the utterance the clip was cut from


@runtime_checkable
class SpeechSource(Protocol):
    """A corpus of speech that hands out clips per split."""

    name: str  # "librispeech" | "espeak"

    def identity(self) -> dict[str, Any]:
        """What the manifest records about the source: corpus path, counts, voices, licence."""

    def speakers(self, split: str) -> list[str]:
        """The speakers (or voices) assigned to ``split``, sorted."""

    def draw(self, split: str, rng: np.random.Generator, seconds: float, sample_rate: int) -> Clip:
        """A random clip of ``round(seconds * sample_rate)`` samples from a speaker of ``split``."""


def clip_samples(seconds: float, sample_rate: int) -> int:
    """Number of samples of a clip: ``round(seconds * sample_rate)``; rejects non-positive lengths."""
    if not (seconds > 0 and math.isfinite(seconds)):
        raise SimkitError(f"speech clip length must be a positive number of seconds, got {seconds}")
    if sample_rate <= 0:
        raise SimkitError(f"sample rate must be positive, got {sample_rate}")
    return int(round(seconds * sample_rate))


def check_split(split: str) -> str:
    """Return ``split`` if it is train/val/test, else raise SimkitError."""
    if split not in SPLITS:
        raise SimkitError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    return split


def normalize_clip(x: np.ndarray, what: str) -> np.ndarray:
    """Scale ``x`` to ``CLIP_RMS`` (float32); a silent input raises SimkitError naming ``what``."""
    level = float(rms(x, axis=None))
    if level < SILENCE_RMS:
        raise SimkitError(f"speech clip {what} is silent (RMS {level:.2e})")
    return (np.asarray(x, dtype=np.float64) * (CLIP_RMS / level)).astype(np.float32)


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """How many of ``n`` items go to train/val/test: largest-remainder rounding, each split >= 1."""
    fr = check_fractions(fractions)
    if n < len(SPLITS):
        raise ValueError(f"need at least {len(SPLITS)} items to fill train/val/test, got {n}")
    raw = [f * n for f in fr]
    counts = [int(math.floor(r)) for r in raw]
    by_remainder = sorted(range(3), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    for i in range(3):
        while counts[i] < 1:
            donor = max(range(3), key=lambda j: (counts[j], -j))
            counts[donor] -= 1
            counts[i] += 1
    return counts[0], counts[1], counts[2]


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate a train/val/test share triple (positive, summing to 1 within 1e-6)."""
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(not (f > 0) for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise SimkitError(
            f"speech.speaker_split must be three positive shares (train, val, test) summing to 1, "
            f"got {fractions}"
        )
    return fr  # type: ignore[return-value]


def assign_splits(ids: Sequence[str], fractions: Sequence[float], salt: str) -> dict[str, list[str]]:
    """Split ``ids`` disjointly into train/val/test by ``fractions``, independent of any render seed.

    The ids are put in a fixed pseudo-random order (sha256 of ``salt`` + id: stable across numpy versions,
    platforms and processes) and cut into consecutive blocks of ``split_counts`` sizes.
    """
    unique = sorted(set(ids))
    counts = split_counts(len(unique), fractions)
    order = sorted(unique, key=lambda s: hashlib.sha256(f"{salt}/{s}".encode()).hexdigest())
    out: dict[str, list[str]] = {}
    start = 0
    for name, k in zip(SPLITS, counts, strict=True):
        out[name] = sorted(order[start : start + k])
        start += k
    return out


class SpeechSourceClass(Protocol):
    """What :data:`SPEECH_SOURCES` holds: a source class, built from a config and able to re-create a clip."""

    name: ClassVar[str]  # the registered name, also the prefix of its clips' source ids

    @classmethod
    def from_config(cls, cfg: SpeechConfig) -> SpeechSource:
        """The source ``cfg`` (the config's ``speech`` section) describes."""

    @staticmethod
    def load_clip(source_id: str, sample_rate: int, seconds: float, corpus: str | Path | None) -> Clip:
        """Re-create the clip ``source_id`` as ``draw`` made it (``corpus``: ``speech.corpus``)."""


# Sources register themselves in any module of simkit.audio; read lazily, so they can import this module.
SPEECH_SOURCES: Registry[SpeechSourceClass] = Registry("speech source", package="simkit.audio")

# The config format names no source: a corpus folder means LibriSpeech, none means espeak-ng.
DEFAULT_SOURCE = "espeak"
CORPUS_SOURCE = "librispeech"


def make_speech_source(cfg: SpeechConfig, source: str | None = None) -> SpeechSource:
    """The speech source a config asks for: LibriSpeech at ``cfg.corpus``, or espeak-ng when it is None;
    ``source`` (a name of :data:`SPEECH_SOURCES`) overrides that choice."""
    check_fractions(cfg.speaker_split)
    if source is None:
        source = DEFAULT_SOURCE if cfg.corpus is None else CORPUS_SOURCE
    return SPEECH_SOURCES.get(source).from_config(cfg)


def load_clip(source_id: str, sample_rate: int, seconds: float, corpus: str | Path | None = None) -> Clip:
    """Re-create the clip named by ``source_id`` (as ``draw`` made it); LibriSpeech ids need ``corpus``."""
    kind, sep, _ = source_id.partition(":")
    if not sep:
        raise SimkitError(f"malformed speech source id {source_id!r} (expected '<source>:<id>@<offset>')")
    if kind not in SPEECH_SOURCES:
        known = ", ".join(SPEECH_SOURCES.names())
        raise SimkitError(f"unknown speech source {kind!r} in {source_id!r} (known: {known})")
    return SPEECH_SOURCES.get(kind).load_clip(source_id, sample_rate, seconds, corpus)
