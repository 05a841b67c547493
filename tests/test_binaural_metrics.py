"""Hand-computed checks of the FAIR-Play binaural metrics and the AV localisation metrics (CLUP supp. §2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simkit.errors import SimkitError
from simkit.metrics import MetricValue, get_metric, metrics_for_task
from simkit.metrics import av_localization as av
from simkit.metrics import binaural as bm

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
    for name in ("stft_distance", "env_distance", "wav_l2", "amp_l2", "pha_l2"):
        assert m[name] == pytest.approx(0.0, abs=1e-12), name
    assert m["snr_db"] == bm.SNR_CAP_DB


def test_peak_normalisation_makes_metrics_scale_invariant() -> None:
    x = np.random.default_rng(2).standard_normal((2, T))
    m = bm.binaural_metrics(0.25 * x, 3.0 * x)
    assert m["stft_distance"] == pytest.approx(0.0, abs=1e-12)
    assert m["snr_db"] == bm.SNR_CAP_DB
    # without normalisation the scale error shows: pred = target / 4 -> noise power = (3/4)^2 signal power
    assert bm.snr_db(0.25 * x, x, normalize=False) == pytest.approx(-10 * np.log10(0.75**2), rel=1e-9)


def test_hand_worked_silent_prediction() -> None:
    target = alternating((1.0, 0.5))
    pred = np.zeros_like(target)
    m = bm.binaural_metrics(pred, target)
    # Wave L2: mean squared error per channel (1 and 0.25), summed, reported x1e3
    assert m["wav_l2"] == pytest.approx(1250.0, rel=1e-12)
    # the Hilbert envelope of a Nyquist tone is its constant amplitude: RMSE 1 and 0.5, summed
    assert m["env_distance"] == pytest.approx(1.5, rel=1e-9)
    # STFT distance = 0.5 * mean |S|^2 per channel (real/imag averaged), summed; AMP = mean |S|^2, summed
    assert m["stft_distance"] == pytest.approx(0.5 * 1.25 * MEAN_POWER_PER_BIN, rel=1e-9)
    assert m["amp_l2"] == pytest.approx(1.25 * MEAN_POWER_PER_BIN, rel=1e-9)
    # noise = signal in both channels -> 0 dB
    assert m["snr_db"] == pytest.approx(0.0, abs=1e-12)


def test_hand_worked_sign_flip() -> None:
    target = alternating((1.0, 0.5))
    m = bm.binaural_metrics(-target, target)
    assert m["amp_l2"] == pytest.approx(0.0, abs=1e-9)  # same magnitudes
    assert m["stft_distance"] == pytest.approx(
        0.5 * 4 * 1.25 * MEAN_POWER_PER_BIN, rel=1e-9
    )  # |S - (-S)|^2 = 4|S|^2
    assert m["snr_db"] == pytest.approx(-10 * np.log10(4.0), rel=1e-12)  # noise = 2 x signal
    assert m["wav_l2"] == pytest.approx(4 * 1250.0, rel=1e-12)
    # every STFT bin off by pi in both channels (a noise clip: the tone has exactly-zero bins, phase 0)
    noise = np.random.default_rng(6).standard_normal((2, T))
    assert bm.phase_l2(-noise, noise) == pytest.approx(2 * np.pi**2, rel=1e-9)


def test_individual_functions_equal_the_combined_call() -> None:
    rng = np.random.default_rng(3)
    target = rng.standard_normal((2, T))
    pred = target + 0.3 * rng.standard_normal((2, T))
    m = bm.binaural_metrics(pred, target)
    assert set(m) == set(bm.CLIP_METRICS)
    for name, fn in bm.CLIP_METRICS.items():
        assert fn(pred, target) == pytest.approx(m[name], rel=1e-12), name


def test_registered_metrics_average_the_clip_columns() -> None:
    records = {"stft_distance": np.array([1.0, 3.0, np.nan]), "snr_db": np.array([10.0, 20.0, 30.0])}
    stft = get_metric("stft_distance")
    assert stft.task == "binauralize" and not stft.higher_is_better
    assert stft(records) == MetricValue(2.0, 2)  # NaN rows are skipped
    assert get_metric("snr_db").higher_is_better
    assert get_metric("snr_db")(records).value == pytest.approx(20.0)
    names = {m.name for m in metrics_for_task("binauralize")}
    assert names == set(bm.CLIP_METRICS)


def test_snr_per_channel_mean_and_edge_cases() -> None:
    rng = np.random.default_rng(4)
    target = rng.standard_normal((2, T))
    noise = rng.standard_normal((2, T))
    # scale the noise so channel 0 is at exactly 10 dB and channel 1 at 20 dB
    p_s = np.sum(target**2, axis=1)
    noise *= np.sqrt(p_s / np.array([10.0, 100.0]) / np.sum(noise**2, axis=1))[:, None]
    assert bm.snr_db(target + noise, target, normalize=False) == pytest.approx(15.0, rel=1e-9)
    silent = np.zeros((2, T))
    assert bm.snr_db(silent, silent) == bm.SNR_CAP_DB  # identical (silent) clips: +cap, not NaN
    assert bm.snr_db(target, silent) == -bm.SNR_CAP_DB  # sound where the target is silent: -cap
    assert bm.snr_db(silent, target) == pytest.approx(0.0, abs=1e-12)


def test_phase_error_is_wrapped() -> None:
    assert bm.wrap_phase(np.array([np.pi - 0.1 - (-np.pi + 0.1)]))[0] == pytest.approx(-0.2)


def test_bad_shapes_raise() -> None:
    with pytest.raises(SimkitError, match="shape"):
        bm.stft_distance(np.zeros((2, 1000)), np.zeros((2, 999)))
    with pytest.raises(SimkitError, match=r"\(2, T\)"):
        bm.envelope_distance(np.zeros((3, 1000)), np.zeros((3, 1000)))
    with pytest.raises(SimkitError, match="NaN"):
        bm.wav_l2(np.full((2, 1000), np.nan), np.zeros((2, 1000)))


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
