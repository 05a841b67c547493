"""Binaural-generation metrics of the FAIR-Play protocol, each variant named by the public code it follows.

The field's numbers come from four public code bases that disagree on normalisation, averaging, masks and
STFT padding, and CLUP's supplement (eq. 4-9) writes a fifth, literal form that no public code computes. Every
variant is registered for task ``binauralize`` under a name that says its source (docs/binaural.md has the
table); :data:`OLD_METRIC_NAMES` maps the names of earlier simkit versions to today's.

Sources (commits read; file and lines in each variant's description):

* 2.5D: facebookresearch/2.5D-Visual-Sound@73c7375 ``evaluate.py``;
* PB: SheldonTsui/PseudoBinaural_CVPR2021@87f7be0 ``evaluate.py``;
* CCS: SonyResearch/CCStereo@5ba1b1b ``util/eval.py``, ``src/training/ccstereo_trainer.py``;
* CLUP: the supplement's equations 6-9 (seed 001), read literally (simkit's choices where they are silent).

Common protocol: audio at 16 kHz; STFT with ``n_fft = 512``, a periodic Hann window of 400 samples
(zero-padded to 512, centred), hop 160, ``center=True``; the padding mode follows each source (librosa < 0.9
and torch.stft reflect, librosa 0.11 pads zeros: CCStereo's librosa metrics, the ``*_ccs`` STFT variants).
Prediction and target are each **peak-normalised** over both channels (``x / max|x|``; silent clips stay
silent) before every metric but ``stft_distance_raw`` (the same STFT distance on the waveforms as given:
a prediction that only moves the peak, e.g. a one-sample click, cannot game it; docs/binaural.md, "stft_distance_raw
and the click"); ``diff_corr`` (the correlation of predicted with true L - R, simkit's) shows whether a model
predicts the side difference at all; every metric is computed on the whole clip (2, T) (channel 0 = left, see
:mod:`simkit.conventions`) and averaged over the test clips. Long clips are generated with a 0.63 s window
slid by 0.05 s, overlapping outputs averaged (:func:`sliding_window_binauralize`, 2.5D ``demo.py``).

All functions take numpy arrays and return Python floats; none of them mutates its inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.signal import hilbert

from simkit.audio.dsp import peak_normalize, rms
from simkit.errors import SimkitError
from simkit.metrics import MetricValue, Records, register_metric_variants

SAMPLE_RATE = 16000
N_FFT = 512
WIN_LENGTH = 400
HOP_LENGTH = 160
WINDOW_SECONDS = 0.63  # generation window of the FAIR-Play protocol
WINDOW_HOP_SECONDS = 0.05
WAV_SCALE = 1e3  # Wave L2 is reported in units of 1e-3 (CCStereo's trainer, BSS's "l2 (x10^3)")
SNR_CAP_DB = 100.0  # |snr_eq| is capped so identical or silent clips give finite, averageable values
SNR_EPS = 1e-4  # PseudoBinaural / CCStereo SNR: added to both mean powers
AMP_EPS = 1e-12  # CCStereo AmplitudeLoss: floor of Re^2 + Im^2 before the square root
PHA_IGNORE_BELOW = 0.2  # CCStereo trainer: PhaseLoss(ignore_below=0.2)
REFLECT, ZEROS = "reflect", "constant"  # np.pad modes of librosa < 0.9 / torch.stft and of librosa >= 0.9

# Names of earlier simkit versions -> today's (old leaderboards and reference rows are read under the new name).
OLD_METRIC_NAMES: dict[str, str] = {"wav_l2": "wav_eq", "amp_l2": "amp_eq", "pha_l2": "pha_eq", "snr_db": "snr_eq"}


def hann_window(win_length: int = WIN_LENGTH, n_fft: int = N_FFT) -> np.ndarray:
    """Periodic Hann window of ``win_length`` samples, zero-padded (centred) to ``n_fft`` like librosa."""
    n = np.arange(win_length)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(w, (left, n_fft - win_length - left))


def stft(
    x: np.ndarray,
    n_fft: int = N_FFT,
    win_length: int = WIN_LENGTH,
    hop_length: int = HOP_LENGTH,
    pad_mode: str = REFLECT,
) -> np.ndarray:
    """Complex STFT (..., n_fft // 2 + 1, frames) of real signals (..., T), librosa/torch-compatible.

    ``center=True``: ``n_fft // 2`` samples of ``pad_mode`` padding (``"reflect"``: librosa < 0.9 and
    torch.stft; ``"constant"``: zeros, librosa >= 0.9) on both sides; no scaling (plain windowed DFT).
    """
    if pad_mode not in (REFLECT, ZEROS):
        raise SimkitError(f"unknown STFT padding {pad_mode!r} (use {REFLECT!r} or {ZEROS!r})")
    x = np.asarray(x, dtype=np.float64)
    pad = n_fft // 2
    if x.shape[-1] <= pad:
        raise SimkitError(f"signal of {x.shape[-1]} samples is too short for an STFT with n_fft={n_fft}")
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode=pad_mode)
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


class _Spectra:
    """One clip's (2, T) pair (peak-normalised, or as given for the raw variants) and its STFTs, each
    computed once (per padding, channels and L - R)."""

    def __init__(self, pred: np.ndarray, target: np.ndarray) -> None:
        self.pred, self.target = pred, target
        self._cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def channels(self, pad_mode: str) -> tuple[np.ndarray, np.ndarray]:
        """STFTs (2, F, N) of prediction and target."""
        if ("lr", pad_mode) not in self._cache:
            self._cache["lr", pad_mode] = stft(self.pred, pad_mode=pad_mode), stft(self.target, pad_mode=pad_mode)
        return self._cache["lr", pad_mode]

    def difference(self, pad_mode: str) -> tuple[np.ndarray, np.ndarray]:
        """STFTs (F, N) of the L - R signals (subtracted in time, as PseudoBinaural's ``Angle_Diff_distance``)."""
        if ("diff", pad_mode) not in self._cache:
            p, t = self.pred, self.target
            self._cache["diff", pad_mode] = stft(p[0] - p[1], pad_mode=pad_mode), stft(t[0] - t[1], pad_mode=pad_mode)
        return self._cache["diff", pad_mode]


# ----------------------------------------------------------------------------- per-clip terms (normalised)


def _stft_term(sp: _Spectra, pad_mode: str = REFLECT) -> float:
    a, b = sp.channels(pad_mode)
    d = a - b
    return float(np.sum(0.5 * (np.mean(d.real**2, axis=(-2, -1)) + np.mean(d.imag**2, axis=(-2, -1)))))


def _env_term(sp: _Spectra) -> float:
    per_channel = np.sqrt(np.mean((envelope(sp.pred) - envelope(sp.target)) ** 2, axis=-1))
    return float(np.sum(per_channel))


def _mag_term(sp: _Spectra, pad_mode: str = REFLECT) -> float:
    a, b = sp.channels(pad_mode)
    return float(np.sum(np.mean(np.abs(a - b) ** 2, axis=(-2, -1))))


def _dphase_term(sp: _Spectra, pad_mode: str = REFLECT) -> float:
    a, b = sp.difference(pad_mode)
    d = np.abs(np.angle(a) - np.angle(b))
    return float(np.mean(np.minimum(d, 2.0 * np.pi - d)))


def _snr_pb_term(sp: _Spectra) -> float:
    p, g = sp.pred, sp.target
    return float(10.0 * np.log10((np.mean(g**2) + SNR_EPS) / (np.mean((p - g) ** 2) + SNR_EPS)))


def _wav_term(sp: _Spectra) -> float:
    return float(np.sum(np.mean((sp.pred - sp.target) ** 2, axis=-1)) * WAV_SCALE)


def _amp_ccs_term(sp: _Spectra) -> float:
    a, b = sp.channels(REFLECT)
    ma = np.sqrt(np.maximum(AMP_EPS, a.real**2 + a.imag**2))
    mb = np.sqrt(np.maximum(AMP_EPS, b.real**2 + b.imag**2))
    return float(np.sum(np.mean(np.abs(ma - mb), axis=(-2, -1))))


def _pha_ccs_term(sp: _Spectra, ignore_below: float = PHA_IGNORE_BELOW) -> float:
    a, b = sp.channels(REFLECT)
    total = 0.0
    for pc, tc in zip(a, b, strict=True):  # per channel: its own threshold, its own mean
        t_energy = np.abs(tc.real) + np.abs(tc.imag)
        p_energy = np.abs(pc.real) + np.abs(pc.imag)
        threshold = ignore_below * np.mean(t_energy)
        keep = (t_energy > threshold) & (p_energy > threshold)
        if not keep.any():
            return float("nan")  # torch's mean of no bins; excluded from the test-set mean, never 0
        d = np.abs(np.angle(pc[keep]) - np.angle(tc[keep]))
        total += float(np.mean(np.pi - np.abs(d - np.pi)))
    return total


def _amp_eq_term(sp: _Spectra) -> float:
    a, b = sp.channels(REFLECT)
    return float(np.sum(np.mean((np.abs(a) - np.abs(b)) ** 2, axis=(-2, -1))))


def _pha_eq_term(sp: _Spectra) -> float:
    a, b = sp.channels(REFLECT)
    return float(np.sum(np.mean(wrap_phase(np.angle(a) - np.angle(b)) ** 2, axis=(-2, -1))))


def _snr_eq_term(sp: _Spectra, cap_db: float = SNR_CAP_DB) -> float:
    p_s = np.sum(sp.target**2, axis=-1)
    p_n = np.sum((sp.target - sp.pred) ** 2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_db = 10.0 * np.log10(p_s / p_n)
    ratio_db = np.where(p_n == 0.0, cap_db, ratio_db)
    return float(np.mean(np.clip(ratio_db, -cap_db, cap_db)))


def _diff_corr_term(sp: _Spectra) -> float:
    # Pearson correlation of the L - R waveforms: does the prediction put the right side difference where the
    # target has it? Scale-free, so it needs no normalisation; a flat (or silent) L - R on either side
    # explains nothing of the other and scores 0, never NaN.
    p = sp.pred[0] - sp.pred[1]
    g = sp.target[0] - sp.target[1]
    p, g = p - p.mean(), g - g.mean()
    denom = float(np.sqrt(np.sum(p * p) * np.sum(g * g)))
    return float(np.sum(p * g) / denom) if denom > 0.0 else 0.0


def envelope(x: np.ndarray) -> np.ndarray:
    """Hilbert envelope ``|hilbert(x)|`` along the last axis (over the whole clip)."""
    return np.abs(hilbert(np.asarray(x, dtype=np.float64), axis=-1))


def wrap_phase(angle: np.ndarray) -> np.ndarray:
    """Wrap radians into [-pi, pi)."""
    return np.mod(np.asarray(angle) + np.pi, 2.0 * np.pi) - np.pi


# ----------------------------------------------------------------------------- the variants


@dataclass(frozen=True)
class Variant:
    """One registered binaural metric: its per-clip term, how to read it and where it comes from."""

    name: str
    term: Callable[[_Spectra], float]
    higher_is_better: bool
    unit: str
    source: str  # repository@commit:file:lines (or the equation) it reproduces
    formula: str
    normalized: bool = True  # False: scored on the waveforms as given, no peak normalisation on either side


_PB = "SheldonTsui/PseudoBinaural_CVPR2021@87f7be0:evaluate.py"
_CCS = "SonyResearch/CCStereo@5ba1b1b"
_25D = "facebookresearch/2.5D-Visual-Sound@73c7375:evaluate.py"


def _variants() -> tuple[Variant, ...]:
    stft_f = "sum_c mean over (re/im, f, t) of (S(p_c) - S(g_c))^2"
    mag_f = "sum_c mean over (f, t) of |S(p_c) - S(g_c)|^2 (= 2 x STFT distance)"
    dph_f = "mean over (f, t) of wrap|angle S(p_L - p_R) - angle S(g_L - g_R)|, no mask"
    return (
        Variant("stft_distance", _stft_term, False, "STFT units^2",
                f"{_25D}:22-47 (normalize :19-20); reflect padding", stft_f),
        Variant("env_distance", _env_term, False, "amplitude",
                f"{_25D}:49-62", "sum_c RMSE(|hilbert(p_c)|, |hilbert(g_c)|) over the whole clip"),
        Variant("mag_distance", _mag_term, False, "STFT units^2",
                f"{_PB}:73-77 (STFTs :134-139); reflect padding", mag_f),
        Variant("dphase", _dphase_term, False, "rad", f"{_PB}:79-91; reflect padding", dph_f),
        Variant("snr_pb", _snr_pb_term, True, "dB",
                f"{_PB}:67-71 = {_CCS}:util/eval.py:76-80 (trainer :346)",
                "10 log10((mean g^2 + 1e-4) / (mean (p - g)^2 + 1e-4)), means jointly over (2, T)"),
        Variant("wav_ccs", _wav_term, False, "1e-3 amplitude^2",
                f"{_CCS}:src/training/ccstereo_trainer.py:352-355 + util/eval.py:125-132 (L2Loss)",
                "1e3 x sum_c mean_t (p_c - g_c)^2"),
        Variant("amp_ccs", _amp_ccs_term, False, "STFT units",
                f"{_CCS}:util/eval.py:135-162, util/audio_utils.py:129-198 (trainer :132, :357-358); "
                "torch.stft, reflect padding",
                "sum_c mean over (f, t) of |m(p_c) - m(g_c)|, m = sqrt(max(1e-12, Re^2 + Im^2)) (an L1)"),
        Variant("pha_ccs", _pha_ccs_term, False, "rad",
                f"{_CCS}:util/eval.py:165-204 (trainer :133 ignore_below=0.2, :359-361); torch.stft, reflect",
                "sum_c mean over kept bins of wrap|angle S(p_c) - angle S(g_c)|; kept: |Re|+|Im| of target and "
                "prediction > 0.2 x mean target |Re|+|Im| of the channel; NaN when a channel keeps no bin"),
        Variant("stft_distance_ccs", functools.partial(_stft_term, pad_mode=ZEROS), False, "STFT units^2",
                f"{_CCS}:util/eval.py:9-29 (trainer :334-344); librosa 0.11: zero padding", stft_f),
        Variant("mag_distance_ccs", functools.partial(_mag_term, pad_mode=ZEROS), False, "STFT units^2",
                f"{_CCS}:util/eval.py:82-86 (trainer :347, mag_dist); zero padding", mag_f),
        Variant("dphase_ccs", functools.partial(_dphase_term, pad_mode=ZEROS), False, "rad",
                f"{_CCS}:util/eval.py:88-100 (trainer :348, ang_diff); zero padding", dph_f),
        Variant("wav_eq", _wav_term, False, "1e-3 amplitude^2",
                "CLUP supp. eq. 6 read as simkit did (formerly wav_l2); equals wav_ccs",
                "1e3 x sum_c mean_t (p_c - g_c)^2"),
        Variant("amp_eq", _amp_eq_term, False, "STFT units^2",
                "CLUP supp. eq. 7, literal (formerly amp_l2); no public code computes it",
                "sum_c mean over (f, t) of (|S(p_c)| - |S(g_c)|)^2"),
        Variant("pha_eq", _pha_eq_term, False, "rad^2",
                "CLUP supp. eq. 8, literal (formerly pha_l2); no public code computes it",
                "sum_c mean over (f, t) of wrap(angle S(p_c) - angle S(g_c))^2, all bins"),
        Variant("snr_eq", _snr_eq_term, True, "dB",
                f"CLUP supp. eq. 9 (formerly snr_db); no public code computes it; capped at +-{SNR_CAP_DB:g} dB",
                "mean_c 10 log10(sum g_c^2 / sum (p_c - g_c)^2)"),
        # last, so the earlier variants' record columns keep their places
        Variant("stft_distance_raw", _stft_term, False, "STFT units^2",
                f"simkit: {_25D}:22-47 without normalize (:19-20); reflect padding; no paper reports it",
                f"{stft_f}, on p and g as given (no peak normalisation)", normalized=False),
        Variant("diff_corr", _diff_corr_term, True, "correlation",
                "simkit (issue 21): does a model predict L - R at all; no paper reports it",
                "Pearson correlation over t of (p_L - p_R) and (g_L - g_R); 0 when either is flat",
                normalized=False),
    )


VARIANTS: dict[str, Variant] = {v.name: v for v in _variants()}


def binaural_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Every variant of one clip (2, T), keyed as :data:`VARIANTS`; peak-normalised first (all but the
    ``normalized=False`` variants, scored on the clip as given), STFTs shared.

    A value may be NaN (``pha_ccs`` when a channel keeps no bin); the test-set mean skips it.
    """
    pred, target = _check_pair(pred, target)
    spectra = {True: _Spectra(*_prepare(pred, target, normalize=True)), False: _Spectra(pred, target)}
    return {name: v.term(spectra[v.normalized]) for name, v in VARIANTS.items()}


def clip_metric(name: str, pred: np.ndarray, target: np.ndarray, normalize: bool = True) -> float:
    """The variant ``name`` of one clip (old names accepted); ``normalize=False`` skips peak normalisation
    (a ``normalized=False`` variant such as ``stft_distance_raw`` never normalises)."""
    v = VARIANTS[OLD_METRIC_NAMES.get(name, name)]
    return v.term(_Spectra(*_prepare(pred, target, normalize and v.normalized)))


def _one(name: str) -> Callable[..., float]:
    def fn(pred: np.ndarray, target: np.ndarray, normalize: bool = True) -> float:
        return clip_metric(name, pred, target, normalize)

    v = VARIANTS[name]
    fn.__name__ = name
    fn.__doc__ = f"{name}: {v.formula}. Source: {v.source}."
    return fn


# Per-clip functions by name (the task writes one record column per variant, one row per clip).
stft_distance = _one("stft_distance")
stft_distance_raw = _one("stft_distance_raw")
diff_corr = _one("diff_corr")
envelope_distance = _one("env_distance")
mag_distance = _one("mag_distance")
dphase = _one("dphase")
snr_pb = _one("snr_pb")
wav_ccs = _one("wav_ccs")
amp_ccs = _one("amp_ccs")
pha_ccs = _one("pha_ccs")
wav_eq = _one("wav_eq")
amp_eq = _one("amp_eq")
pha_eq = _one("pha_eq")
snr_eq = _one("snr_eq")
CLIP_METRICS: dict[str, Callable[..., float]] = {name: _one(name) for name in VARIANTS}


def column_mean(records: Records, column: str) -> MetricValue:
    """Mean of the finite values of one record column; ``n`` counts them (NaN and n = 0 when none are).

    NaN clips are left out of the mean, not counted as 0: the clips left out are the split's clip count
    (``n`` of ``stft_distance``, never NaN) minus this ``n``.
    """
    v = np.asarray(records[column], dtype=np.float64)
    v = v[np.isfinite(v)]
    return MetricValue(float(np.mean(v)) if v.size else float("nan"), int(v.size))


def _record_mean(records: Records, *, column: str) -> MetricValue:
    return column_mean(records, column)


def register_variants(variants: dict[str, Variant]) -> None:
    """Register every variant, in one call, as a ``binauralize`` metric: the test-set mean of its column."""
    register_metric_variants(_record_mean, task="binauralize", variants={
        name: {"params": {"column": name}, "higher_is_better": v.higher_is_better, "unit": v.unit,
               "requires": (name,), "description": f"{v.formula} [{v.source}]",
               "doc": f"Test-set mean of the per-clip {name}: {v.formula}. Source: {v.source}."}
        for name, v in variants.items()
    })


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


# Registered on import (simkit.metrics.METRICS imports every module of the package).
register_variants(VARIANTS)
