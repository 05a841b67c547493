"""Small signal-processing helpers used by the render: resampling, causal FFT convolution, levels."""

from __future__ import annotations

import numpy as np
import scipy.fft
import soxr


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along the last axis with soxr (``HQ``); deterministic.

    ``x`` is ``(..., T)``; the result is ``(..., round(T * sr_out / sr_in))`` in float32 (float64 input
    stays float64). Equal rates return a copy.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    arr = np.asarray(x)
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    arr = arr.astype(dtype, copy=False)
    if sr_in == sr_out:
        return arr.copy()
    if arr.shape[-1] == 0:
        return np.zeros(arr.shape, dtype=dtype)
    lead = arr.shape[:-1]
    # soxr wants (frames, channels): fold every leading axis into channels.
    frames = np.ascontiguousarray(arr.reshape(-1, arr.shape[-1]).T)
    out = soxr.resample(frames, sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(out.T).reshape(*lead, out.shape[0]).astype(dtype, copy=False)


def fft_convolve(x: np.ndarray, h: np.ndarray, n_out: int) -> np.ndarray:
    """Causal linear convolution ``y[n] = sum_k h[k] x[n-k]``, first ``n_out`` samples, float32.

    ``x`` is ``(..., T)`` and ``h`` is ``(..., K)``; leading axes broadcast (e.g. ``(N, 1, S, 1, T)``
    sources against ``(N, V, S, 2, K)`` RIRs). Computed in float64 so long RIRs keep full precision.
    """
    if n_out < 0:
        raise ValueError(f"n_out must be >= 0, got {n_out}")
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    shape = np.broadcast_shapes(x.shape[:-1], h.shape[:-1])
    if n_out == 0 or x.shape[-1] == 0 or h.shape[-1] == 0:
        return np.zeros((*shape, n_out), dtype=np.float32)
    # Output samples beyond n_out never reach back into x[n_out:] or h[n_out:], so trim first.
    x = x[..., :n_out]
    h = h[..., :n_out]
    n_lin = x.shape[-1] + h.shape[-1] - 1
    n_fft = scipy.fft.next_fast_len(n_lin, real=True)
    y = scipy.fft.irfft(scipy.fft.rfft(x, n_fft) * scipy.fft.rfft(h, n_fft), n_fft)[..., : min(n_lin, n_out)]
    out = np.zeros((*shape, n_out), dtype=np.float32)
    out[..., : y.shape[-1]] = y
    return out


def rms(x: np.ndarray, axis: int | None = -1) -> np.ndarray | float:
    """Root-mean-square level along ``axis`` (``None``: over the whole array); 0 for empty input."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return 0.0 if axis is None else np.zeros(np.delete(arr.shape, axis % arr.ndim))
    out = np.sqrt(np.mean(np.square(arr), axis=axis))
    return float(out) if axis is None else out


def peak_normalize(x: np.ndarray, peak: float = 1.0, axis: int | None = None) -> np.ndarray:
    """Scale so ``max |x| == peak`` over the whole array (or along ``axis``); all-zero parts stay zero."""
    arr = np.asarray(x)
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
    arr = arr.astype(dtype, copy=False)
    m = np.max(np.abs(arr), axis=axis, keepdims=True) if arr.size else np.zeros((1,) * arr.ndim)
    gain = np.divide(peak, m, out=np.zeros_like(m, dtype=np.float64), where=m > 0)
    return (arr * gain).astype(dtype, copy=False)
