"""Reverberation time T30 by Schroeder backward integration (ISO 3382-1 style, no noise compensation)."""

from __future__ import annotations

import numpy as np

FIT_START_DB = -5.0
FIT_END_DB = -35.0


def rt60_t30_batch(rirs: np.ndarray, sample_rate: int) -> np.ndarray:
    """RT60 (s) of every impulse response in a (..., T) array; NaN where the decay never reaches -35 dB.

    The energy decay curve is fitted by least squares between its first crossings of -5 and -35 dB and the
    slope is extrapolated to a 60 dB decay.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    x = np.asarray(rirs, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("rirs must have a non-empty last (time) axis")
    flat = x.reshape(-1, x.shape[-1])
    energy = flat**2
    edc = np.cumsum(energy[:, ::-1], axis=1)[:, ::-1]
    total = edc[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        edc_db = 10.0 * np.log10(edc / total)
    valid = total[:, 0] > 0
    edc_db[~valid] = 0.0

    below_start = edc_db <= FIT_START_DB
    below_end = edc_db <= FIT_END_DB
    i_start = np.argmax(below_start, axis=1)
    i_end = np.argmax(below_end, axis=1)
    reaches = below_end.any(axis=1) & valid

    idx = np.arange(flat.shape[1])
    mask = (idx[None, :] >= i_start[:, None]) & (idx[None, :] <= i_end[:, None]) & reaches[:, None]
    t = idx / float(sample_rate)
    y = np.where(mask, edc_db, 0.0)
    n = mask.sum(axis=1)
    st = (mask * t).sum(axis=1)
    stt = (mask * t * t).sum(axis=1)
    sy = y.sum(axis=1)
    sty = (y * t).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * sty - st * sy) / (n * stt - st * st)
        rt = -60.0 / slope
    ok = reaches & (n >= 2) & (slope < 0)
    out = np.where(ok, rt, np.nan)
    return out.reshape(x.shape[:-1])


def rt60_t30(rir: np.ndarray, sample_rate: int) -> float:
    """RT60 (s) of one impulse response (T,) by T30; NaN when the decay never reaches -35 dB."""
    rir = np.asarray(rir)
    if rir.ndim != 1:
        raise ValueError(f"rt60_t30 takes a 1-D RIR, got shape {rir.shape}; use rt60_t30_batch")
    return float(rt60_t30_batch(rir, sample_rate))
