"""What the sources say (:class:`SpeechConfig`) and the audio rates simkit accepts anywhere (render, prepare).

Fields and their allowed values: docs/configuration.md; conversion and range checks: :mod:`simkit.config`.
"""

from __future__ import annotations

from dataclasses import dataclass

from simkit.config import setting
from simkit.errors import SimkitError

# the audio rates simkit accepts anywhere (render, prepare): 192 kHz is the highest rate of studio audio, above
# it a clip's arrays grow without purpose
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000


@dataclass
class SpeechConfig:
    """What the sources say."""

    corpus: str | None = None  # LibriSpeech root (the folder holding train-clean-100/ etc.); None = espeak-ng
    clip_seconds: float = setting(2.55, above=0, max=60)  # length of every mono/binaural clip (SLfM)
    # LibriSpeech utterances shorter than this are skipped (SLfM)
    min_utterance_seconds: float = setting(10.0, min=0)
    speaker_split: tuple[float, float, float] = (0.7, 0.2, 0.1)  # train/val/test share of speakers (SLfM)


def check_speech_config(sp: SpeechConfig) -> None:
    """The rule a field range cannot say: the speaker shares sum to 1."""
    if not (all(x >= 0 for x in sp.speaker_split) and abs(sum(sp.speaker_split) - 1) < 1e-6):
        raise SimkitError(f"speech.speaker_split must be three shares >= 0 summing to 1 "
                          f"(got {list(sp.speaker_split)})")
