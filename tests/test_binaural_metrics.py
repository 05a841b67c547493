"""Hand-computed checks of the binaural metrics and the AV localisation metrics (CLUP supp. §2), and parity of
every binaural metric variant with an independent re-derivation of its source's code (numpy/scipy here, from
the formulas of docs/binaural.md; none of simkit's helpers)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch
from cli_support import SIMKIT
from published_layouts import write_fair_play

from simkit.bench.leaderboard import format_pivot, pivot, read_leaderboard, with_references
from simkit.data.datasets.binaural import BinauralClips, open_binaural_dataset
from simkit.data.prepare import prepare
from simkit.errors import SimkitError
from simkit.metrics import MetricValue, get_metric, metrics_for_task
from simkit.metrics import av_localization as av
from simkit.metrics import binaural as bm
from simkit.metrics.binaural import OLD_METRIC_NAMES, VARIANTS

T = 2000  # even, so the Hilbert transform of the alternating sequence is exactly zero


def alternating(amplitudes: tuple[float, float] = (1.0, 0.5), n: int = T) -> np.ndarray:
    """(2, n) signal a_c * (-1)^t: a Nyquist-frequency tone; reflect padding keeps it alternating."""
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return np.stack([amplitudes[0] * sign, amplitudes[1] * sign])


# Parseval on one frame of the alternating tone through the 400-sample periodic Hann window (padded to 512):
# sum_k |X_k|^2 over the 257 rfft bins = (512 * sum w^2 + |X_0|^2 + |X_256|^2) / 2 with sum w^2 = 150,
# X_0 = 0 and |X_256| = sum w = 200, so the mean over bins of |S|^2 is 58400 / 257 per unit amplitude.
MEAN_POWER_PER_BIN = 58400.0 / 257.0


def test_stft_matches_torch_stft_with_protocol_parameters() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3000))
    window = torch.hann_window(bm.WIN_LENGTH, periodic=True, dtype=torch.float64)
    ref = torch.stft(
        torch.from_numpy(x),
        bm.N_FFT,
        bm.HOP_LENGTH,
        bm.WIN_LENGTH,
        window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).numpy()
    np.testing.assert_allclose(bm.stft(x), ref, atol=1e-10)
    assert bm.stft(x).shape == (2, 257, 1 + 3000 // 160)


def test_identical_signals_give_zero_distances_and_capped_snr() -> None:
    x = np.random.default_rng(1).standard_normal((2, T))
    m = bm.binaural_metrics(x, x)
    for name in ("stft_distance", "env_distance", "mag_distance", "dphase", "wav_ccs", "amp_ccs", "pha_ccs",
                 "wav_eq", "amp_eq", "pha_eq", "stft_distance_raw"):
        assert m[name] == pytest.approx(0.0, abs=1e-12), name
    assert m["snr_eq"] == bm.SNR_CAP_DB


def test_peak_normalisation_makes_metrics_scale_invariant() -> None:
    x = np.random.default_rng(2).standard_normal((2, T))
    m = bm.binaural_metrics(0.25 * x, 3.0 * x)
    assert m["stft_distance"] == pytest.approx(0.0, abs=1e-12)
    assert m["snr_eq"] == bm.SNR_CAP_DB
    # stft_distance_raw is not normalised: it sees the gain error, (3 - 0.25)^2 x the STFT energy of x
    assert m["stft_distance_raw"] == pytest.approx(bm.stft_distance(0.25 * x, 3.0 * x, normalize=False), rel=1e-12)
    assert m["stft_distance_raw"] == pytest.approx(2.75**2 * bm.stft_distance(np.zeros_like(x), x, normalize=False),
                                                   rel=1e-9)
    # without normalisation the scale error shows: pred = target / 4 -> noise power = (3/4)^2 signal power
    assert bm.snr_eq(0.25 * x, x, normalize=False) == pytest.approx(-10 * np.log10(0.75**2), rel=1e-9)


def test_hand_worked_silent_prediction() -> None:
    target = alternating((1.0, 0.5))
    pred = np.zeros_like(target)
    m = bm.binaural_metrics(pred, target)
    # Wave L2: mean squared error per channel (1 and 0.25), summed, reported x1e3
    assert m["wav_eq"] == pytest.approx(1250.0, rel=1e-12)
    # the Hilbert envelope of a Nyquist tone is its constant amplitude: RMSE 1 and 0.5, summed
    assert m["env_distance"] == pytest.approx(1.5, rel=1e-9)
    # STFT distance = 0.5 * mean |S|^2 per channel (real/imag averaged), summed; AMP = mean |S|^2, summed
    assert m["stft_distance"] == pytest.approx(0.5 * 1.25 * MEAN_POWER_PER_BIN, rel=1e-9)
    assert m["amp_eq"] == pytest.approx(1.25 * MEAN_POWER_PER_BIN, rel=1e-9)
    # noise = signal in both channels -> 0 dB
    assert m["snr_eq"] == pytest.approx(0.0, abs=1e-12)


def test_hand_worked_sign_flip() -> None:
    target = alternating((1.0, 0.5))
    m = bm.binaural_metrics(-target, target)
    assert m["amp_eq"] == pytest.approx(0.0, abs=1e-9)  # same magnitudes
    assert m["stft_distance"] == pytest.approx(
        0.5 * 4 * 1.25 * MEAN_POWER_PER_BIN, rel=1e-9
    )  # |S - (-S)|^2 = 4|S|^2
    assert m["snr_eq"] == pytest.approx(-10 * np.log10(4.0), rel=1e-12)  # noise = 2 x signal
    assert m["wav_eq"] == pytest.approx(4 * 1250.0, rel=1e-12)
    # every STFT bin off by pi in both channels (a noise clip: the tone has exactly-zero bins, phase 0)
    noise = np.random.default_rng(6).standard_normal((2, T))
    assert bm.pha_eq(-noise, noise) == pytest.approx(2 * np.pi**2, rel=1e-9)


def test_individual_functions_equal_the_combined_call() -> None:
    rng = np.random.default_rng(3)
    target = rng.standard_normal((2, T))
    pred = target + 0.3 * rng.standard_normal((2, T))
    m = bm.binaural_metrics(pred, target)
    assert set(m) == set(bm.CLIP_METRICS)
    for name, fn in bm.CLIP_METRICS.items():
        assert fn(pred, target) == pytest.approx(m[name], rel=1e-12), name


def test_registered_metrics_average_the_clip_columns() -> None:
    records = {"stft_distance": np.array([1.0, 3.0, np.nan]), "snr_eq": np.array([10.0, 20.0, 30.0])}
    stft = get_metric("stft_distance")
    assert stft.task == "binauralize" and not stft.higher_is_better
    assert stft(records) == MetricValue(2.0, 2)  # NaN rows are skipped
    assert get_metric("snr_eq").higher_is_better
    assert get_metric("snr_eq")(records).value == pytest.approx(20.0)
    names = {m.name for m in metrics_for_task("binauralize")}
    assert names == set(bm.CLIP_METRICS)


def test_snr_per_channel_mean_and_edge_cases() -> None:
    rng = np.random.default_rng(4)
    target = rng.standard_normal((2, T))
    noise = rng.standard_normal((2, T))
    # scale the noise so channel 0 is at exactly 10 dB and channel 1 at 20 dB
    p_s = np.sum(target**2, axis=1)
    noise *= np.sqrt(p_s / np.array([10.0, 100.0]) / np.sum(noise**2, axis=1))[:, None]
    assert bm.snr_eq(target + noise, target, normalize=False) == pytest.approx(15.0, rel=1e-9)
    silent = np.zeros((2, T))
    assert bm.snr_eq(silent, silent) == bm.SNR_CAP_DB  # identical (silent) clips: +cap, not NaN
    assert bm.snr_eq(target, silent) == -bm.SNR_CAP_DB  # sound where the target is silent: -cap
    assert bm.snr_eq(silent, target) == pytest.approx(0.0, abs=1e-12)


def test_phase_error_is_wrapped() -> None:
    assert bm.wrap_phase(np.array([np.pi - 0.1 - (-np.pi + 0.1)]))[0] == pytest.approx(-0.2)


def test_bad_shapes_raise() -> None:
    with pytest.raises(SimkitError, match="shape"):
        bm.stft_distance(np.zeros((2, 1000)), np.zeros((2, 999)))
    with pytest.raises(SimkitError, match=r"\(2, T\)"):
        bm.envelope_distance(np.zeros((3, 1000)), np.zeros((3, 1000)))
    with pytest.raises(SimkitError, match="NaN"):
        bm.wav_eq(np.full((2, 1000), np.nan), np.zeros((2, 1000)))


def test_window_starts_cover_the_clip() -> None:
    assert bm.window_starts(20, 8, 5) == [0, 5, 10, 12]
    assert bm.window_starts(18, 8, 5) == [0, 5, 10]
    assert bm.window_starts(6, 8, 5) == [0]


def test_sliding_window_averages_overlaps_and_undoes_normalisation() -> None:
    rng = np.random.default_rng(5)
    sr = 1000
    mono = rng.standard_normal(2300) * 3.0

    def copy(batch: np.ndarray) -> np.ndarray:
        assert np.allclose(np.sqrt(np.mean(batch**2, axis=1)), 0.1)  # windows arrive RMS-normalised
        return np.stack([batch, batch], axis=1)

    out = bm.sliding_window_binauralize(copy, mono, sample_rate=sr, window_seconds=0.63, hop_seconds=0.05)
    np.testing.assert_allclose(out, np.stack([mono, mono]), rtol=1e-12)

    # window k predicts the constant k (before the x10 gain of a unit-RMS clip): each sample gets the mean
    # index of the windows covering it
    starts = bm.window_starts(2300, 630, 50)
    indexed = bm.sliding_window_binauralize(
        lambda b: np.broadcast_to(np.arange(b.shape[0])[:, None, None] / 10.0, (b.shape[0], 2, b.shape[1])),
        np.ones(2300),
        sample_rate=sr,
    )
    for t in (0, 49, 50, 700, 1699, 2299):
        covering = [k for k, s in enumerate(starts) if s <= t < s + 630]
        np.testing.assert_allclose(indexed[:, t], np.mean(covering), rtol=1e-12)
    short = bm.sliding_window_binauralize(copy, mono[:300], sample_rate=sr)
    assert short.shape == (2, 300)


def test_av_softmax_distance_and_accuracy_hand_worked() -> None:
    p, n = av.softmax_scaled_distances(np.array([0.0, 1.0]), np.array([0.0, 0.0]))
    np.testing.assert_allclose(p, [0.5, np.e / (np.e + 1)])
    np.testing.assert_allclose(p + n, 1.0)
    d_pos = np.array([0.1, 0.6, 0.5])
    d_neg = np.array([0.9, 0.4, 0.5])
    expected = np.mean([np.hypot(0.1, 0.1), np.hypot(0.6, 0.6), np.hypot(0.5, 0.5)])
    assert av.av_distance(d_pos, d_neg) == pytest.approx(expected, rel=1e-12)
    c = av.pair_confusion(d_pos, d_neg)
    assert (c.tp, c.fn, c.tn, c.fp) == (2, 1, 1, 2)  # 0.5 counts as paired (<= 0.5)
    assert av.av_accuracy(d_pos, d_neg) == pytest.approx(100.0 * 3 / 6)
    assert av.av_accuracy([0.0, 0.2], [1.0, 0.9]) == 100.0
    assert av.av_distance([0.0], [1.0]) == 0.0


def test_av_metrics_need_paired_counts() -> None:
    with pytest.raises(SimkitError, match="equally many"):
        av.av_accuracy(np.zeros(3), np.zeros(2))
    records = {"d_pos": np.array([0.0, 2.0, np.nan]), "d_neg": np.array([2.0, 0.0, 1.0])}
    acc = get_metric("av_accuracy")
    assert acc.task == "av_localize" and acc.higher_is_better and acc.unit == "%"
    assert acc(records) == MetricValue(50.0, 2)  # one pair right, one wrong; the NaN pair is skipped
    p = 1 / (1 + np.e**2)  # softmax(0, 2)[0]
    assert get_metric("av_distance")(records).value == pytest.approx(
        np.mean([np.hypot(p, p), np.hypot(1 - p, 1 - p)])
    )


# ------------------------------------------------------------------------------------------------------------
# Parity: every variant against an independent re-derivation of its source's formula (docs/binaural.md table).
# The reference below re-implements the public code's steps with scipy (window, frame loop, FFT), numpy and
# nothing from simkit; float64 throughout, so the variants must agree to 1e-6 relative.

SR = 16000
EXPECTED_VARIANTS = {
    "stft_distance", "env_distance", "mag_distance", "dphase", "snr_pb", "wav_ccs", "amp_ccs", "pha_ccs",
    "stft_distance_ccs", "mag_distance_ccs", "dphase_ccs", "wav_eq", "amp_eq", "pha_eq", "snr_eq",
    "stft_distance_raw", "diff_corr",
}


def ref_stft(x: np.ndarray, pad: str) -> np.ndarray:
    """librosa.stft(x, n_fft=512, hop_length=160, win_length=400, center=True) of one channel, frame by frame;
    ``pad`` "reflect" (librosa < 0.9, torch.stft) or "constant" (librosa >= 0.9)."""
    win = np.zeros(512)
    win[56:456] = scipy.signal.get_window("hann", 400, fftbins=True)  # periodic Hann, centred in 512
    xp = np.pad(x, 256, mode=pad)
    n_frames = 1 + len(x) // 160
    return np.stack([scipy.fft.rfft(xp[i * 160 : i * 160 + 512] * win) for i in range(n_frames)], axis=1)


def ref_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(1e-20, np.max(np.abs(x)))


def ref_stft_l2(p: np.ndarray, g: np.ndarray, pad: str) -> float:  # 2.5D / PB / CCS STFT_L2_distance
    total = 0.0
    for c in range(2):
        sp, sg = ref_stft(p[c], pad), ref_stft(g[c], pad)
        a = np.concatenate([sp.real[None], sp.imag[None]])
        b = np.concatenate([sg.real[None], sg.imag[None]])
        total += np.mean((a - b) ** 2)
    return total


def ref_env(p: np.ndarray, g: np.ndarray) -> float:  # Envelope_distance
    return sum(np.sqrt(np.mean((np.abs(scipy.signal.hilbert(g[c])) - np.abs(scipy.signal.hilbert(p[c]))) ** 2))
               for c in range(2))


def ref_mag(p: np.ndarray, g: np.ndarray, pad: str) -> float:  # Magnitude_distance
    return sum(np.mean(np.abs(ref_stft(p[c], pad) - ref_stft(g[c], pad)) ** 2) for c in range(2))


def ref_dphase(p: np.ndarray, g: np.ndarray, pad: str) -> float:  # Angle_Diff_distance
    a = np.angle(ref_stft(p[0] - p[1], pad))
    b = np.angle(ref_stft(g[0] - g[1], pad))
    d = np.abs(a - b)
    return np.mean(np.minimum(d, np.clip(2 * np.pi - d, 0, 2 * np.pi)))


def ref_snr_pb(p: np.ndarray, g: np.ndarray) -> float:  # PB / CCS SNR
    return 10.0 * np.log10((np.mean(g**2) + 1e-4) / (np.mean((p - g) ** 2) + 1e-4))


def ref_wav_ccs(p: np.ndarray, g: np.ndarray) -> float:  # CCS trainer: L2Loss per channel, summed, x1e3
    return 1e3 * sum(np.mean((p[c] - g[c]) ** 2) for c in range(2))


def ref_amp_ccs(p: np.ndarray, g: np.ndarray) -> float:  # CCS AmplitudeLoss per channel (torch.stft: reflect)
    total = 0.0
    for c in range(2):
        sp, sg = ref_stft(p[c], "reflect"), ref_stft(g[c], "reflect")
        mp = np.maximum(1e-12, sp.real**2 + sp.imag**2) ** 0.5
        mg = np.maximum(1e-12, sg.real**2 + sg.imag**2) ** 0.5
        total += np.mean(np.abs(mp - mg))
    return total


def ref_pha_ccs(p: np.ndarray, g: np.ndarray) -> float:  # CCS PhaseLoss(ignore_below=0.2) per channel
    total = 0.0
    for c in range(2):
        sp, sg = ref_stft(p[c], "reflect").ravel(), ref_stft(g[c], "reflect").ravel()
        t_energy = np.abs(sg.real) + np.abs(sg.imag)
        p_energy = np.abs(sp.real) + np.abs(sp.imag)
        keep = np.nonzero((t_energy > 0.2 * np.mean(t_energy)) & (p_energy > 0.2 * np.mean(t_energy)))[0]
        a = np.arctan2(sp.real[keep], sp.imag[keep])  # CCS passes (Re, Im): the swap leaves |wrapped diff|
        b = np.arctan2(sg.real[keep], sg.imag[keep])
        total += np.mean(np.pi - np.abs(np.abs(a - b) - np.pi)) if keep.size else np.nan
    return total


def ref_amp_eq(p: np.ndarray, g: np.ndarray) -> float:  # CLUP eq. 7: squared magnitude error, mean over bins
    return sum(np.mean((np.abs(ref_stft(p[c], "reflect")) - np.abs(ref_stft(g[c], "reflect"))) ** 2)
               for c in range(2))


def ref_pha_eq(p: np.ndarray, g: np.ndarray) -> float:  # CLUP eq. 8: squared wrapped phase error, all bins
    total = 0.0
    for c in range(2):
        d = np.angle(ref_stft(p[c], "reflect")) - np.angle(ref_stft(g[c], "reflect"))
        d = np.arctan2(np.sin(d), np.cos(d))  # wrapped to (-pi, pi]; squared, the end point does not matter
        total += np.mean(d**2)
    return total


def ref_snr_eq(p: np.ndarray, g: np.ndarray) -> float:  # CLUP eq. 9: 10/2 (log ratio L + log ratio R)
    return 10.0 / 2.0 * sum(np.log10(np.sum(g[c] ** 2) / np.sum((g[c] - p[c]) ** 2)) for c in range(2))


REFERENCE = {
    "stft_distance": lambda p, g: ref_stft_l2(p, g, "reflect"),
    "env_distance": ref_env,
    "mag_distance": lambda p, g: ref_mag(p, g, "reflect"),
    "dphase": lambda p, g: ref_dphase(p, g, "reflect"),
    "snr_pb": ref_snr_pb,
    "wav_ccs": ref_wav_ccs,
    "amp_ccs": ref_amp_ccs,
    "pha_ccs": ref_pha_ccs,
    "stft_distance_ccs": lambda p, g: ref_stft_l2(p, g, "constant"),
    "mag_distance_ccs": lambda p, g: ref_mag(p, g, "constant"),
    "dphase_ccs": lambda p, g: ref_dphase(p, g, "constant"),
    "wav_eq": ref_wav_ccs,
    "amp_eq": ref_amp_eq,
    "pha_eq": ref_pha_eq,
    "snr_eq": ref_snr_eq,
}
def ref_diff_corr(p: np.ndarray, g: np.ndarray) -> float:
    """numpy's Pearson correlation of the two L - R waveforms; 0 where either is constant."""
    dp, dg = p[0] - p[1], g[0] - g[1]
    if np.ptp(dp) == 0 or np.ptp(dg) == 0:
        return 0.0
    return float(np.corrcoef(dp, dg)[0, 1])


# scored on the clips as given (no peak normalisation on either side)
REFERENCE_RAW = {"stft_distance_raw": lambda p, g: ref_stft_l2(p, g, "reflect"), "diff_corr": ref_diff_corr}


def reference(p: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """Every variant of one clip, re-derived: peak-normalise prediction and target separately, then score
    (the raw variants score the clips as given)."""
    p, g = np.asarray(p, np.float64), np.asarray(g, np.float64)
    raw = {name: float(fn(p, g)) for name, fn in REFERENCE_RAW.items()}
    p, g = ref_normalize(p), ref_normalize(g)
    return {**{name: float(fn(p, g)) for name, fn in REFERENCE.items()}, **raw}


def speech_like(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """(T,) voiced 'syllables': a glottal pulse train (f0 100-220 Hz) through three formant resonators that
    change every syllable, under a syllable-rate envelope with pauses, over a -80 dB noise floor."""
    n = int(seconds * SR)
    out = np.zeros(n)
    t0 = 0
    while t0 < n:
        length = int(rng.uniform(0.12, 0.3) * SR)
        seg = np.zeros(length)
        f0 = rng.uniform(100, 220) * np.linspace(1.0, rng.uniform(0.8, 1.2), length)
        phase = np.cumsum(f0 / SR)
        seg[np.nonzero(np.diff(np.floor(phase)) > 0)[0]] = 1.0
        for formant, bw in zip(rng.uniform([300, 900, 2200], [800, 2000, 3200]), (80, 120, 180), strict=True):
            r = np.exp(-np.pi * bw / SR)
            seg = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / SR), r * r], seg)
        seg *= np.hanning(length) * rng.uniform(0.3, 1.0)
        out[t0 : t0 + length] += seg[: n - t0]
        t0 += length + int(rng.uniform(0.02, 0.25) * SR)  # a pause before the next syllable
    return out / np.max(np.abs(out)) + 1e-4 * rng.standard_normal(n)


def binaural_pair(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, target), each (2, T): random noise or speech-like audio, the prediction a degraded copy."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        target = rng.standard_normal((2, 3 * SR)) * np.array([[1.0], [0.6]])
        pred = 0.7 * target[::-1] + 0.4 * rng.standard_normal(target.shape)
        return pred, target
    src = speech_like(rng, 3.0)
    delay = int(rng.integers(3, 12))  # interaural delay (samples) and level difference: a source to the left
    target = np.stack([src, 0.6 * np.concatenate([np.zeros(delay), src[:-delay]])])
    if kind == "speech_mono":  # mono_copy's prediction: both ears get (L + R) / 2, so pred L - R is all zeros
        mono = target.mean(axis=0)
        return np.stack([mono, mono]), target
    pred = np.stack([0.8 * target[0] + 0.1 * target[1], 0.9 * target[1]]) + 0.01 * rng.standard_normal(target.shape)
    return 3.0 * pred, target


def test_reference_stft_is_torch_stft_for_both_paddings() -> None:
    # the test's own STFT is the transform the sources call (torch.stft for CCS's AMP/PHA, librosa for the
    # rest): checked once against torch with each padding mode
    x = np.random.default_rng(10).standard_normal(4000)
    window = torch.hann_window(400, periodic=True, dtype=torch.float64)
    for pad in ("reflect", "constant"):
        ref = torch.stft(torch.from_numpy(x), 512, 160, 400, window, center=True, pad_mode=pad,
                         return_complex=True).numpy()
        np.testing.assert_allclose(ref_stft(x, pad), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["random", "speech", "speech_mono"])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_variant_equals_its_public_formula(kind: str, seed: int) -> None:
    pred, target = binaural_pair(kind, seed)
    got = bm.binaural_metrics(pred, target)
    want = reference(pred, target)
    assert set(got) == set(want) == EXPECTED_VARIANTS
    for name in EXPECTED_VARIANTS:
        assert np.isfinite(want[name]), name
        assert got[name] == pytest.approx(want[name], rel=1e-6, abs=1e-12), name
        # the single-metric functions give the same value as the shared-STFT call
        assert bm.CLIP_METRICS[name](pred, target) == pytest.approx(got[name], rel=1e-12, abs=1e-15), name
    if kind == "speech_mono":
        assert got["pha_ccs"] > 0 and got["dphase"] > 0  # the mono copy's L - R phase is 0 everywhere


def test_variants_follow_their_sources_padding_and_scale() -> None:
    pred, target = binaural_pair("speech", 3)
    got = bm.binaural_metrics(pred, target)
    # PB/CCS "Mag" is the complex difference: exactly 2 x STFT distance, for each padding
    assert got["mag_distance"] == pytest.approx(2 * got["stft_distance"], rel=1e-12)
    assert got["mag_distance_ccs"] == pytest.approx(2 * got["stft_distance_ccs"], rel=1e-12)
    # CCStereo's librosa 0.11 pads zeros: far beyond the parity tolerance from the reflect-padded value
    assert abs(got["stft_distance_ccs"] / got["stft_distance"] - 1) > 1e-5
    # CLUP's literal forms are not the public code's
    assert got["amp_eq"] != pytest.approx(got["amp_ccs"], rel=1e-3)
    assert got["snr_eq"] != pytest.approx(got["snr_pb"], rel=1e-3)
    assert got["wav_eq"] == got["wav_ccs"]  # simkit's reading of eq. 6 was CCStereo's sum x 1e3 all along


def numpy_stft_distance_raw(p: np.ndarray, g: np.ndarray) -> float:
    """2.5D ``evaluate.py:22-47`` STFT_L2_distance without its ``normalize`` (:19-20), numpy only, STFT by hand:
    reflect-pad 256 each side, a 512-sample frame every 160, periodic Hann of 400 centred in 512, rfft; the
    squared (re, im) difference averaged over (re/im, f, t) per channel, the channels summed."""
    win = np.zeros(512)
    win[56:456] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    total = 0.0
    for c in range(2):
        spectra = []
        for x in (p[c], g[c]):
            xp = np.pad(x, 256, mode="reflect")
            frames = np.array([xp[i * 160 : i * 160 + 512] * win for i in range(1 + len(x) // 160)])
            spectra.append(np.fft.rfft(frames, axis=1))
        d = spectra[0] - spectra[1]
        total += 0.5 * (np.mean(d.real**2) + np.mean(d.imag**2))
    return total


@pytest.mark.parametrize("kind", ["random", "speech", "speech_mono"])
def test_stft_distance_raw_equals_a_numpy_rederivation_without_normalisation(kind: str) -> None:
    pred, target = binaural_pair(kind, 4)
    want = numpy_stft_distance_raw(pred, target)
    assert bm.stft_distance_raw(pred, target) == pytest.approx(want, rel=1e-9)
    assert bm.binaural_metrics(pred, target)["stft_distance_raw"] == pytest.approx(want, rel=1e-9)
    assert bm.clip_metric("stft_distance_raw", pred, target, normalize=False) == pytest.approx(want, rel=1e-9)
    # the same distance as stft_distance, before the peak normalisation: equal on peak-normalised inputs ...
    p1, g1 = ref_normalize(pred), ref_normalize(target)
    assert bm.stft_distance_raw(p1, g1) == pytest.approx(bm.stft_distance(pred, target), rel=1e-9)
    # ... and quadratic in a common gain, where stft_distance does not move
    assert bm.stft_distance_raw(3 * pred, 3 * target) == pytest.approx(9 * want, rel=1e-9)
    assert bm.stft_distance(3 * pred, 3 * target) == pytest.approx(bm.stft_distance(pred, target), rel=1e-9)


def burst_clip(seed: int = 0, seconds: float = 2.0) -> np.ndarray:
    """(2, T) a decaying noise burst through two different 32-tap responses, made uncorrelated (Gram-Schmidt)
    and of equal energy, so that L - R has about 2x the RMS of the mono (L + R) / 2 (the issue's renders:
    1.6-2.4x)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    src = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.4 * SR))
    decay = np.exp(-np.arange(32) / 6)
    h_l, h_r = rng.standard_normal(32) * decay, rng.standard_normal(32) * decay
    h_r -= h_l * (h_l @ h_r) / (h_l @ h_l)
    h_r *= np.linalg.norm(h_l) / np.linalg.norm(h_r)
    return np.stack([np.convolve(src, h_l)[:n], np.convolve(src, h_r)[:n]])


def mono_plus_click(target: np.ndarray, at: int = SR) -> np.ndarray:
    """mono_copy's prediction plus one sample of +-a in L and R (a click in L - R), a just large enough that
    the prediction's peak is the target's: peak normalisation then scales the mono part as the target's."""
    mono = target.mean(axis=0)
    pred = np.stack([mono, mono])
    a = np.sign(mono[at]) * (np.max(np.abs(target)) - abs(mono[at]))
    pred[0, at] += a
    pred[1, at] -= a
    return pred


def test_a_click_games_the_normalised_stft_distance_but_not_stft_distance_raw() -> None:
    target = burst_clip()
    mono = target.mean(axis=0)
    ratio = np.sqrt(np.mean((target[0] - target[1]) ** 2) / np.mean(mono**2))
    assert 1.8 < ratio < 2.2
    copy = np.stack([mono, mono])
    click = mono_plus_click(target)
    assert np.max(np.abs(click)) == pytest.approx(np.max(np.abs(target)), rel=1e-12)
    assert np.count_nonzero(click - copy) == 2  # one sample in each ear
    got = {name: bm.binaural_metrics(pred, target) for name, pred in (("mono_copy", copy), ("mono+click", click))}
    for name, pred in (("mono_copy", copy), ("mono+click", click)):
        want = reference(pred, target)
        for metric in ("stft_distance", "env_distance", "stft_distance_raw"):
            assert got[name][metric] == pytest.approx(want[metric], rel=1e-6), (name, metric)
        print(f"{name}: L-R/mono RMS {ratio:.2f}; " + ", ".join(
            f"{m} {got[name][m]:.4f}" for m in ("stft_distance", "env_distance", "stft_distance_raw")))
    # the click moves only the peak, and the normalised distance rewards it ...
    assert got["mono+click"]["stft_distance"] < 0.95 * got["mono_copy"]["stft_distance"]
    # ... while on the clips as given it only adds the click's own energy
    assert got["mono+click"]["stft_distance_raw"] > got["mono_copy"]["stft_distance_raw"]


def test_pha_ccs_without_kept_bins_is_nan_and_left_out_of_the_mean() -> None:
    target = np.zeros((2, SR))
    target[1] = np.random.default_rng(7).standard_normal(SR)  # a silent left channel keeps no bin
    got = bm.binaural_metrics(target.copy(), target)
    assert np.isnan(got["pha_ccs"]) and np.isnan(ref_pha_ccs(target, target))
    assert all(np.isfinite(v) for k, v in got.items() if k != "pha_ccs")
    records = {"pha_ccs": np.array([0.5, got["pha_ccs"], 1.5]), "stft_distance": np.array([1.0, 2.0, 3.0])}
    assert get_metric("pha_ccs")(records) == MetricValue(1.0, 2)  # NaN excluded (not 0): n counts 2 of 3 clips
    assert get_metric("stft_distance")(records).n == 3


def test_every_variant_is_registered_with_unit_direction_and_source() -> None:
    names = {m.name for m in metrics_for_task("binauralize")}
    assert names == EXPECTED_VARIANTS == set(VARIANTS) == set(bm.CLIP_METRICS)
    higher = {m.name for m in metrics_for_task("binauralize") if m.higher_is_better}
    assert higher == {"snr_pb", "snr_eq", "diff_corr"}
    for name in EXPECTED_VARIANTS:
        m = get_metric(name)
        assert m.unit and m.requires == (name,)
        doc = m.fn.__doc__ or ""
        # a repository@commit:file:lines citation, the CLUP equation for the literal forms, or simkit's own
        # diagnostic (no paper has it)
        own = name == "diff_corr" and "simkit (issue 21)" in doc
        assert ("@" in doc and ".py:" in doc) or "CLUP supp. eq." in doc or own, (name, doc)
    # old leaderboards' names map onto the literal-equation variants
    assert OLD_METRIC_NAMES == {"wav_l2": "wav_eq", "amp_l2": "amp_eq", "pha_l2": "pha_eq", "snr_db": "snr_eq"}
    assert set(OLD_METRIC_NAMES.values()) <= names and not set(OLD_METRIC_NAMES) & names


def test_bench_on_a_prepared_fair_play_set_reports_every_variant_on_whole_clips(tmp_path: Path) -> None:
    src = write_fair_play(tmp_path / "FAIR-Play", n_clips=4, seconds=2.0, n_splits=1)
    data = tmp_path / "fair-play"
    prepare("fair-play", src, data, {"clip_seconds": "2.0", "frame_size": "24x32"}, progress=False)
    results = tmp_path / "results"
    proc = subprocess.run(
        [SIMKIT, "bench", "--task", "binauralize", "--model", "mono_copy", "--quick", "--device", "cpu",
         "--data", str(data), "--results", str(results)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    rows = [r for r in read_leaderboard(results / "leaderboard.csv") if r["split"] == "test"]
    assert {r["metric"] for r in rows} == EXPECTED_VARIANTS
    assert {int(r["n_samples"]) for r in rows} == {1}
    # each clip's values are the public formulas on the whole clip: mono_copy predicts (L + R) / 2 in both ears
    (run,) = (results / "runs").iterdir()
    clips = [r for r in csv.DictReader((run / "predictions.csv").open()) if r["split"] == "test"]
    test = BinauralClips(open_binaural_dataset(data), "test")
    assert len(clips) == len(test) == 1
    item = test[0]
    target = item["binaural"].numpy().astype(np.float64)
    mono = item["mono"].numpy().astype(np.float64)
    assert target.shape == (2, 32000)  # the whole 2 s clip, not a 0.63 s window
    want = reference(np.stack([mono, mono]), target)
    scores = json.loads((run / "metrics.json").read_text())["metrics"]["test"]
    for name in EXPECTED_VARIANTS:
        # the model's windows pass through float32 (RMS-normalised and scaled back): 1e-6, not 1e-12
        assert float(clips[0][name]) == pytest.approx(want[name], rel=1e-6), name
        assert scores[name]["value"] == pytest.approx(want[name], rel=1e-6), name
    # the leaderboard shows stft_distance_raw in its own column, with its legend line; the papers' reference
    # rows have no raw value, so none is ranked against it
    p = pivot(with_references(rows, "binauralize"), task="binauralize")
    assert "stft_distance_raw" in p.metrics
    refs = [r for r in p.rows if r.is_reference]
    assert refs and not any("stft_distance_raw" in r.cells for r in refs)
    assert "stft_distance_raw = STFT as 2.5D Visual Sound evaluate.py without peak normalisation" in format_pivot(p)


def test_diff_corr_tells_a_side_difference_from_none_and_from_the_mirror() -> None:
    pred, target = binaural_pair("speech", 5)
    assert bm.diff_corr(target, target) == pytest.approx(1.0)
    assert bm.diff_corr(0.3 * target, target) == pytest.approx(1.0)  # scale-free: no normalisation needed
    assert bm.diff_corr(target[::-1].copy(), target) == pytest.approx(-1.0)  # channels swapped: the mirror
    mono = np.repeat(target.mean(axis=0, keepdims=True), 2, axis=0)
    assert bm.diff_corr(mono, target) == 0.0  # mono copy: no L - R, explains nothing (0, not NaN)
    # uncorrelated noise in L - R (what issue 21 found clup adds) stays near 0
    noise = np.random.default_rng(0).standard_normal(target.shape[1]) * np.std(target[0] - target[1])
    noisy = mono + np.stack([noise / 2, -noise / 2])
    assert abs(bm.diff_corr(noisy, target)) < 0.05
