"""Binaural-generation metrics of the FAIR-Play protocol (2.5D Visual Sound) as defined in CLUP's supplement.

Protocol (Gao & Grauman, *2.5D Visual Sound*, CVPR 2019, ``evaluate.py``; CLUP supplement §2, eq. 4-9):

* audio at 16 kHz; STFT with ``n_fft = 512``, a periodic Hann window of 400 samples (zero-padded to 512,
  centred), hop 160, ``center=True`` with reflect padding (librosa's ``stft`` as used by that script);
* prediction and target are each **peak-normalised** (divided by ``max |x|`` over both channels; silent
  clips stay silent) before any metric;
* every metric is computed per clip on (2, T) arrays (channel 0 = left, see :mod:`simkit.conventions`) and
  averaged over the test clips;
* long clips are generated with a 0.63 s window slid by 0.05 s, overlapping outputs averaged
  (:func:`sliding_window_binauralize`, the protocol of 2.5D Visual Sound's ``demo.py``).

All functions take numpy arrays and return Python floats; none of them mutates its inputs. The metrics are
registered for task ``binauralize`` under the record-column names of :data:`CLIP_METRICS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import hilbert

from simkit.audio.dsp import peak_normalize, rms
from simkit.errors import SimkitError
from simkit.metrics import MetricValue, Records, register_metric

SAMPLE_RATE = 16000
N_FFT = 512
WIN_LENGTH = 400
HOP_LENGTH = 160
WINDOW_SECONDS = 0.63  # generation window of the FAIR-Play protocol
WINDOW_HOP_SECONDS = 0.05
WAV_L2_SCALE = 1e3  # Wave L2 is reported in units of 1e-3, as in the FAIR-Play generation literature
SNR_CAP_DB = 100.0  # |SNR| is capped so identical or silent clips give finite, averageable values


def hann_window(win_length: int = WIN_LENGTH, n_fft: int = N_FFT) -> np.ndarray:
    """Periodic Hann window of ``win_length`` samples, zero-padded (centred) to ``n_fft`` like librosa."""
    n = np.arange(win_length)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(w, (left, n_fft - win_length - left))


def stft(
    x: np.ndarray, n_fft: int = N_FFT, win_length: int = WIN_LENGTH, hop_length: int = HOP_LENGTH
) -> np.ndarray:
    """Complex STFT (..., n_fft // 2 + 1, frames) of real signals (..., T), librosa-compatible.

    ``center=True`` with reflect padding of ``n_fft // 2`` on both sides; no scaling (plain windowed DFT).
    """
    x = np.asarray(x, dtype=np.float64)
    pad = n_fft // 2
    if x.shape[-1] <= pad:
        raise SimkitError(f"signal of {x.shape[-1]} samples is too short for an STFT with n_fft={n_fft}")
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft, axis=-1)[..., ::hop_length, :]
    spec = np.fft.rfft(frames * hann_window(win_length, n_fft), axis=-1)
    return np.swapaxes(spec, -1, -2)


def _check_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if target.ndim != 2 or target.shape[0] != 2:
        raise SimkitError(f"binaural target must have shape (2, T), got {target.shape}")
    if pred.shape != target.shape:
        raise SimkitError(f"prediction shape {pred.shape} does not match target shape {target.shape}")
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(target))):
        raise SimkitError("binaural prediction or target contains NaN or inf")
    return pred, target


def _prepare(pred: np.ndarray, target: np.ndarray, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    pred, target = _check_pair(pred, target)
    if normalize:
        # one gain over both channels, as evaluate.py's normalize(); silent clips stay silent
        return peak_normalize(pred), peak_normalize(target)
    return pred, target


def stft_distance(pred: np.ndarray, target: np.ndarray, normalize: bool = True) -> float:
    """STFT distance D_S (CLUP supp. eq. 4; 2.5D Visual Sound ``STFT_L2_distance``).

    Per channel: the mean over (real/imag, frequency, frame) of the squared difference of the stacked
    real and imaginary STFT parts; the two channel values are summed. Lower is better.
    """
    pred, target = _prepare(pred, target, normalize)
    return _stft_term(stft(pred), stft(target))


def _stft_term(sp: np.ndarray, st: np.ndarray) -> float:
    d = sp - st
    return float(np.sum(0.5 * (np.mean(d.real**2, axis=(-2, -1)) + np.mean(d.imag**2, axis=(-2, -1)))))


def _amp_term(sp: np.ndarray, st: np.ndarray) -> float:
    return float(np.sum(np.mean((np.abs(sp) - np.abs(st)) ** 2, axis=(-2, -1))))


def _pha_term(sp: np.ndarray, st: np.ndarray) -> float:
    return float(np.sum(np.mean(wrap_phase(np.angle(sp) - np.angle(st)) ** 2, axis=(-2, -1))))


def envelope(x: np.ndarray) -> np.ndarray:
    """Hilbert envelope ``|hilbert(x)|`` along the last axis."""
    return np.abs(hilbert(np.asarray(x, dtype=np.float64), axis=-1))


def envelope_distance(pred: np.ndarray, target: np.ndarray, normalize: bool = True) -> float:
    """Envelope distance D_E (CLUP supp. eq. 5, after Morgado et al. 2018; 2.5D ``Envelope_distance``).

    Per channel: the RMSE between the Hilbert envelopes of prediction and target; the two are summed.
    """
    pred, target = _prepare(pred, target, normalize)
    per_channel = np.sqrt(np.mean((envelope(pred) - envelope(target)) ** 2, axis=-1))
    return float(np.sum(per_channel))


def wav_l2(pred: np.ndarray, target: np.ndarray, normalize: bool = True) -> float:
    """Wave L2 (CLUP supp. eq. 6): per-channel mean squared waveform error, summed, **times 1e3**.

    The 1e3 factor is the reporting scale of the generation literature (Richard et al. ICLR 2021 and
    BinauralGrad report "Wave L2 (x1e-3)"); CLUP's FAIR-Play value 5.244 is only plausible on that scale.
    """
    pred, target = _prepare(pred, target, normalize)
    return float(np.sum(np.mean((pred - target) ** 2, axis=-1)) * WAV_L2_SCALE)


def amplitude_l2(pred: np.ndarray, target: np.ndarray, normalize: bool = True) -> float:
    """Amplitude L2 (CLUP supp. eq. 7): per-channel mean of ``(|S| - |S^|)^2`` over STFT bins, summed."""
    pred, target = _prepare(pred, target, normalize)
    return _amp_term(stft(pred), stft(target))


def wrap_phase(angle: np.ndarray) -> np.ndarray:
    """Wrap radians into [-pi, pi)."""
    return np.mod(np.asarray(angle) + np.pi, 2.0 * np.pi) - np.pi


def phase_l2(pred: np.ndarray, target: np.ndarray, normalize: bool = True) -> float:
    """Phase L2 (CLUP supp. eq. 8): per-channel mean of the squared STFT phase error, summed.

    The phase difference is wrapped into [-pi, pi) before squaring (phase is circular; eq. 8 writes the raw
    difference, which would count 179 deg vs -179 deg as 358 deg). Bins where either STFT is exactly zero
    have phase 0 by ``np.angle``'s convention. Values lie in [0, 2 pi^2].
    """
    pred, target = _prepare(pred, target, normalize)
    return _pha_term(stft(pred), stft(target))


def snr_db(pred: np.ndarray, target: np.ndarray, normalize: bool = True, cap_db: float = SNR_CAP_DB) -> float:
    """Signal-to-noise ratio in dB (CLUP supp. eq. 9): the mean over channels of ``10 log10(P_s / P_n)``.

    ``P_s = sum target^2`` and ``P_n = sum (target - pred)^2`` per channel (eq. 9 writes the ratio of the
    signals; it is the power ratio, hence the factor 10/2 for two channels). Higher is better.
    Edge cases: each channel's value is clipped to ``[-cap_db, cap_db]``; identical channels (``P_n = 0``)
    give ``+cap_db`` (not +inf, so test-set means stay finite) and a silent target channel with a non-silent
    prediction gives ``-cap_db``.
    """
    pred, target = _prepare(pred, target, normalize)
    p_s = np.sum(target**2, axis=-1)
    p_n = np.sum((target - pred) ** 2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_db = 10.0 * np.log10(p_s / p_n)
    ratio_db = np.where(p_n == 0.0, cap_db, ratio_db)
    return float(np.mean(np.clip(ratio_db, -cap_db, cap_db)))


# Per-clip metric functions by record column (the task writes one column per metric, one row per clip).
CLIP_METRICS: dict[str, Callable[..., float]] = {
    "stft_distance": stft_distance,
    "env_distance": envelope_distance,
    "wav_l2": wav_l2,
    "amp_l2": amplitude_l2,
    "pha_l2": phase_l2,
    "snr_db": snr_db,
}


def binaural_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """The six FAIR-Play metrics of one clip (2, T), keyed as :data:`CLIP_METRICS`, peak-normalised first.

    The STFTs are computed once and shared; the values equal the individual metric functions.
    """
    pred, target = _prepare(pred, target, normalize=True)
    sp, st = stft(pred), stft(target)
    return {
        "stft_distance": _stft_term(sp, st),
        "env_distance": envelope_distance(pred, target, normalize=False),
        "wav_l2": wav_l2(pred, target, normalize=False),
        "amp_l2": _amp_term(sp, st),
        "pha_l2": _pha_term(sp, st),
        "snr_db": snr_db(pred, target, normalize=False),
    }


def column_mean(records: Records, column: str) -> MetricValue:
    """Mean of the finite values of one record column (NaN and n = 0 when there are none)."""
    v = np.asarray(records[column], dtype=np.float64)
    v = v[np.isfinite(v)]
    return MetricValue(float(np.mean(v)) if v.size else float("nan"), int(v.size))


def _register(name: str, higher_is_better: bool, unit: str, description: str) -> None:
    def fn(records: Records) -> MetricValue:
        return column_mean(records, name)

    fn.__doc__ = f"Test-set mean of the per-clip {name} ({description})."
    register_metric(
        name,
        task="binauralize",
        higher_is_better=higher_is_better,
        unit=unit,
        requires=(name,),
        description=description,
    )(fn)


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Start indices of the sliding windows covering ``n_samples`` (2.5D Visual Sound ``demo.py``).

    Windows start at 0, hop, 2 hop, ... while they end strictly before the clip end; one last window is
    aligned to the end of the clip so every sample is covered. A clip no longer than one window gets a
    single window at 0 (the caller pads it).
    """
    if window <= 0 or hop <= 0:
        raise SimkitError(f"sliding window and hop must be positive (got {window}, {hop} samples)")
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window, hop))
    if not starts or starts[-1] != n_samples - window:
        starts.append(n_samples - window)
    return starts


def rms_normalize(x: np.ndarray, desired_rms: float = 0.1, eps: float = 1e-4) -> tuple[float, np.ndarray]:
    """Scale ``x`` to RMS ``desired_rms``; return ``(gain_to_undo, scaled)`` (2.5D ``audio_normalize``)."""
    level = max(eps, float(rms(x, axis=None)))
    return level / desired_rms, np.asarray(x) * (desired_rms / level)


def sliding_window_binauralize(
    predict: Callable[[np.ndarray], np.ndarray],
    mono: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    window_seconds: float = WINDOW_SECONDS,
    hop_seconds: float = WINDOW_HOP_SECONDS,
) -> np.ndarray:
    """Binauralise a long mono clip (T,) window by window and average the overlaps -> (2, T).

    ``predict`` maps a batch of RMS-normalised mono windows (B, W) to binaural windows (B, 2, W); each
    window is normalised to RMS 0.1 before and rescaled after, as 2.5D Visual Sound's ``demo.py``.
    A clip shorter than one window is zero-padded to the window and cropped back.
    """
    mono = np.asarray(mono, dtype=np.float64)
    if mono.ndim != 1:
        raise SimkitError(f"mono clip must have shape (T,), got {mono.shape}")
    window = int(round(window_seconds * sample_rate))
    hop = int(round(hop_seconds * sample_rate))
    n = mono.shape[0]
    padded = np.pad(mono, (0, max(0, window - n)))
    starts = window_starts(padded.shape[0], window, hop)
    gains, segments = zip(*(rms_normalize(padded[s : s + window]) for s in starts), strict=True)
    out = np.asarray(predict(np.stack(segments)), dtype=np.float64)
    expected = (len(starts), 2, window)
    if out.shape != expected:
        raise SimkitError(f"binaural predictor returned shape {out.shape}, expected {expected}")
    acc = np.zeros((2, padded.shape[0]))
    count = np.zeros(padded.shape[0])
    for s, g, seg in zip(starts, gains, out, strict=True):
        acc[:, s : s + window] += seg * g
        count[s : s + window] += 1.0
    return (acc / count)[:, :n]


# Registered on import (this module is one entry of simkit.metrics.BUILTIN_MODULES).
for _name, _higher, _unit, _desc in (
    ("stft_distance", False, "STFT units^2", "STFT distance, CLUP supp. eq. 4 / 2.5D Visual Sound"),
    ("env_distance", False, "amplitude", "Hilbert-envelope distance, CLUP supp. eq. 5"),
    ("wav_l2", False, "1e-3 amplitude^2", "Wave L2 x 1e3, CLUP supp. eq. 6"),
    ("amp_l2", False, "STFT units^2", "STFT magnitude L2, CLUP supp. eq. 7"),
    ("pha_l2", False, "rad^2", "wrapped STFT phase L2, CLUP supp. eq. 8"),
    ("snr_db", True, "dB", f"SNR, CLUP supp. eq. 9, capped at +-{SNR_CAP_DB:g} dB"),
):
    _register(_name, _higher, _unit, _desc)
