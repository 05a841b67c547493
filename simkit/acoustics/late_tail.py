"""Late reverberation synthesised from the traced early decay (the hybrid approach of room-acoustics tools).

A ray trace of limited depth (``indirect_ray_depth``) ends where its rays run out of reflections: the engine's
response falls off and then is exactly zero (measured: depth 50 ends at 0.4-0.55 s in the embedded rooms, and
it follows the depth-200 trace until ~0.8 of that end). Hybrid room-acoustic models compute the early part
geometrically and the late reverberation statistically (L. Savioja and U. P. Svensson, "Overview of geometrical
room acoustic modeling techniques", JASA 138(2), 2015); here the late part is noise whose band energy decays
at the rate measured on the traced part. Here, per response and per frequency band, the decay rate is the least-squares
line through the frame energies from 5 dB below their peak to the join point, each channel keeps its share of
that energy (so the tail's direction balance is the traced one), and the traced signal crossfades into the
tail (equal power). Deterministic: the noise is seeded from the response's own bytes.
"""

from __future__ import annotations

import zlib

import numpy as np

TAIL_BANDS_HZ = (250.0, 1000.0, 4000.0)  # band edges: octave-ish, the engine traces 4 frequency bands
TAIL_FRAME_SECONDS = 0.01  # energy frames of the decay fit
TAIL_JOIN = 0.7  # join at this fraction of the trace's end (faithful to ~0.8 of it; 0.5 and 0.8 measured worse)
TAIL_FADE_SECONDS = 0.02  # equal-power crossfade from the traced signal into the tail
TAIL_FIT_FROM_DB = 5.0  # the fit starts this far below the band's peak frame (T30 starts at -5 dB too)


def synthesise_late_tail(responses: np.ndarray, sample_rate: int) -> np.ndarray:
    """``responses`` (..., C, T) float32 with the late part, after the trace's end, synthesised; float32.

    A response whose trace reaches its last frame, or whose traced part is too short to fit (< 6 frames
    before the join, < 4 frames in a band's fit range, a non-decaying band), is left as it is.
    """
    a = np.asarray(responses, dtype=np.float64)
    n_t = a.shape[-1]
    flat = a.reshape(-1, a.shape[-2], n_t)
    out = flat.copy()
    fl = int(round(TAIL_FRAME_SECONDS * sample_rate))
    fade = max(1, int(round(TAIL_FADE_SECONDS * sample_rate)))
    freqs = np.fft.rfftfreq(n_t, 1.0 / sample_rate)
    edges = [0.0, *TAIL_BANDS_HZ, np.inf]
    masks = [(freqs >= lo) & (freqs < hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    t = np.arange(n_t) / sample_rate
    rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(responses).tobytes()))
    for n in range(flat.shape[0]):
        nonzero = np.flatnonzero((flat[n] ** 2).sum(axis=0))
        if len(nonzero) == 0 or nonzero[-1] + 1 >= n_t - fl:
            continue  # silent, or the trace reaches the end of the response: nothing to synthesise
        join = int(TAIL_JOIN * (nonzero[-1] + 1))
        n_frames = join // fl
        if n_frames < 6:
            continue
        spec = np.fft.rfft(flat[n], axis=-1)
        noise = np.fft.rfft(rng.standard_normal(flat[n].shape), axis=-1)
        w = np.clip((np.arange(n_t) - join) / fade, 0.0, 1.0)
        broadband = _decay_fit(flat[n], n_frames, fl, sample_rate)
        if broadband is None:
            continue
        acc = np.zeros_like(flat[n])
        for m in masks:
            band = np.fft.irfft(spec * m, n_t, axis=-1)  # (C, T); the masks sum to one: bands add up exactly
            fit = _decay_fit(band, n_frames, fl, sample_rate)
            if fit is None:
                acc += band
                continue
            slope, icpt, i0, frames, total = fit
            if not 0.5 * broadband[0] <= slope <= 2.0 * broadband[0]:
                # a narrow band's frames are noisy (few degrees of freedom per frame): an implausible rate
                # falls back to the broadband one, level-matched over the band's fit range
                slope = broadband[0]
                tf = (np.arange(i0, n_frames) + 0.5) * fl / sample_rate
                icpt = float(np.mean(10.0 * np.log10(np.maximum(total[i0:], 1e-30)) - slope * tf))
            share = frames[:, i0:].sum(axis=1) / max(float(total[i0:].sum()), 1e-30)  # per channel
            env = np.sqrt(10.0 ** ((icpt + slope * t) / 10.0) / fl)  # rms per sample of the fitted line
            nb = np.fft.irfft(noise * m, n_t, axis=-1)
            nb /= np.sqrt(np.mean(nb**2, axis=-1, keepdims=True) + 1e-30)
            acc += band * np.sqrt(1.0 - w) + nb * env * np.sqrt(share)[:, None] * np.sqrt(w)
        out[n] = acc
    return out.reshape(a.shape).astype(np.float32)


def _decay_fit(x: np.ndarray, n_frames: int, fl: int, sample_rate: int):
    """Least-squares decay line (dB/s, dB at t=0) through the smoothed frame energies of ``x`` (C, T) from
    TAIL_FIT_FROM_DB below their peak to frame ``n_frames``; also the first fitted frame, the per-channel
    frame energies and their total. None when fewer than 4 frames are left or the energy does not decay."""
    frames = (x[:, : n_frames * fl] ** 2).reshape(len(x), n_frames, fl).sum(axis=-1)
    total = frames.sum(axis=0)
    smooth = np.convolve(total, np.ones(5) / 5.0, mode="same")  # 50 ms: steadier frames in narrow bands
    db = 10.0 * np.log10(np.maximum(smooth, 1e-30))
    peak = int(np.argmax(db))
    below = np.flatnonzero(db[peak:] < db[peak] - TAIL_FIT_FROM_DB)
    i0 = peak + (int(below[0]) if len(below) else n_frames)
    if n_frames - i0 < 4:
        return None
    tf = (np.arange(i0, n_frames) + 0.5) * fl / sample_rate
    slope, icpt = np.polyfit(tf, 10.0 * np.log10(np.maximum(total[i0:], 1e-30)), 1)
    if not slope < 0:
        return None
    return float(slope), float(icpt), i0, frames, total
