"""Audio: speech sources for the render and the small DSP helpers (resample, convolution, levels)."""

from simkit.audio.dsp import fft_convolve, peak_normalize, resample, rms
from simkit.audio.speech import CLIP_RMS, SPLITS, Clip, SpeechSource, load_clip, make_speech_source

__all__ = [
    "CLIP_RMS",
    "SPLITS",
    "Clip",
    "SpeechSource",
    "fft_convolve",
    "load_clip",
    "make_speech_source",
    "peak_normalize",
    "resample",
    "rms",
]
