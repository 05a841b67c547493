"""Speech sources: DSP helpers, the espeak-ng source, the LibriSpeech reader, clip ids and load_clip."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from simkit.audio import CLIP_RMS, Clip, SpeechSource, fft_convolve, load_clip, make_speech_source
from simkit.audio import espeak as es
from simkit.audio.config import SpeechConfig
from simkit.audio.dsp import peak_normalize, resample, rms
from simkit.audio.librispeech import LibriSpeechSource, read_transcript
from simkit.audio.speech import SPLITS, assign_splits, split_counts
from simkit.errors import SimkitError

SR = 16000
CLIP_S = 2.55

# ------------------------------------------------------------------------------------------------- dsp


@pytest.mark.parametrize(
    "t,k,n_out", [(100, 30, 129), (100, 30, 50), (64, 200, 300), (37, 5, 10), (10, 10, 1)]
)
def test_fft_convolve_matches_numpy(t: int, k: int, n_out: int) -> None:
    rng = np.random.default_rng(t * k)
    x, h = rng.standard_normal(t), rng.standard_normal(k)
    want = np.zeros(n_out)
    full = np.convolve(x, h)
    want[: min(n_out, full.size)] = full[:n_out]
    got = fft_convolve(x, h, n_out)
    assert got.dtype == np.float32 and got.shape == (n_out,)
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(full).max())


def test_fft_convolve_batched_broadcast_and_causal() -> None:
    rng = np.random.default_rng(1)
    src = rng.standard_normal((3, 1, 2, 1, 400))  # N, -, S, -, T
    rir = rng.standard_normal((3, 4, 2, 2, 90))  # N, V, S, ears, K
    got = fft_convolve(src, rir, 400)
    assert got.shape == (3, 4, 2, 2, 400) and got.dtype == np.float32
    for idx in [(0, 0, 0, 0), (2, 3, 1, 1), (1, 2, 0, 1)]:
        want = np.convolve(src[idx[0], 0, idx[2], 0], rir[idx])[:400]
        np.testing.assert_allclose(got[idx], want, atol=1e-4)
    # A delayed unit impulse only delays: nothing appears before the delay (causal, no wrap-around).
    h = np.zeros(50)
    h[17] = 1.0
    y = fft_convolve(src[0, 0, 0, 0], h, 400)
    assert np.abs(y[:17]).max() < 1e-6
    np.testing.assert_allclose(y[17:], src[0, 0, 0, 0, :383], atol=1e-6)


def test_resample_length_and_frequency_preserved() -> None:
    sr_in, sr_out, f0 = 22050, 16000, 1000.0
    t = np.arange(int(1.5 * sr_in)) / sr_in
    x = np.sin(2 * np.pi * f0 * t).astype(np.float32)
    y = resample(x, sr_in, sr_out)
    assert y.dtype == np.float32 and y.shape == (round(x.size * sr_out / sr_in),)
    spec = np.abs(np.fft.rfft(y[2000:-2000] * np.hanning(y.size - 4000)))
    peak_hz = np.argmax(spec) * sr_out / (y.size - 4000)
    assert abs(peak_hz - f0) < 2.0
    assert abs(rms(y[2000:-2000], axis=None) - 1 / np.sqrt(2)) < 0.01  # amplitude kept
    np.testing.assert_array_equal(y, resample(x, sr_in, sr_out))  # deterministic
    batched = resample(np.stack([x, 0.5 * x]), sr_in, sr_out)
    assert batched.shape == (2, y.size)
    np.testing.assert_allclose(batched[0], y, atol=1e-6)
    np.testing.assert_allclose(resample(x, sr_in, sr_in), x)


def test_rms_and_peak_normalize() -> None:
    t = np.arange(16000) / 16000
    x = 0.3 * np.sin(2 * np.pi * 100 * t)
    assert abs(rms(x, axis=None) - 0.3 / np.sqrt(2)) < 1e-6
    np.testing.assert_allclose(rms(np.stack([x, 2 * x])), [0.3 / np.sqrt(2), 0.6 / np.sqrt(2)], rtol=1e-6)
    y = peak_normalize(x, 0.9)
    assert abs(np.abs(y).max() - 0.9) < 1e-9
    rows = peak_normalize(np.stack([x, np.zeros_like(x)]), axis=-1)
    assert abs(np.abs(rows[0]).max() - 1.0) < 1e-9 and not rows[1].any()


# --------------------------------------------------------------------------------------------- splits


def test_split_counts_and_assignment() -> None:
    assert split_counts(10, (0.7, 0.2, 0.1)) == (7, 2, 1)
    assert split_counts(3, (0.7, 0.2, 0.1)) == (1, 1, 1)
    assert split_counts(4, (0.7, 0.2, 0.1)) == (2, 1, 1)
    assert sum(split_counts(251, (0.7, 0.2, 0.1))) == 251
    ids = [str(i) for i in range(40)]
    a = assign_splits(ids, (0.7, 0.2, 0.1), salt="x")
    assert [len(a[s]) for s in SPLITS] == [28, 8, 4]
    assert sorted(sum(a.values(), [])) == sorted(ids)
    assert a == assign_splits(list(reversed(ids)), (0.7, 0.2, 0.1), salt="x")  # input order is irrelevant
    with pytest.raises(SimkitError, match="speaker_split"):
        make_speech_source(SpeechConfig(speaker_split=(0.5, 0.5, 0.5)))


# --------------------------------------------------------------------------------------------- espeak


def _active_fraction(x: np.ndarray, sr: int) -> float:
    frames = x[: x.size // (sr // 50) * (sr // 50)].reshape(-1, sr // 50)
    level = np.sqrt(np.mean(frames**2, axis=1))
    return float(np.mean(level > 0.03 * level.max()))


def _median_f0(x: np.ndarray, sr: int) -> float:
    """Median autocorrelation pitch (60-400 Hz) over voiced 40 ms frames."""
    n = int(0.04 * sr)
    f0s = []
    for start in range(0, x.size - n, n):
        f = x[start : start + n] - x[start : start + n].mean()
        ac = np.correlate(f, f, "full")[n - 1 :]
        if ac[0] <= 0:
            continue
        lo, hi = sr // 400, sr // 60
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            f0s.append(sr / lag)
    return float(np.median(f0s))


@pytest.fixture(scope="module")
def espeak_source() -> es.EspeakSource:
    return make_speech_source(SpeechConfig())  # type: ignore[return-value]


def test_espeak_clip_length_level_and_not_silent(espeak_source: es.EspeakSource) -> None:
    assert isinstance(espeak_source, SpeechSource) and espeak_source.name == "espeak"
    rng = np.random.default_rng(0)
    for split in SPLITS:
        clip = espeak_source.draw(split, rng, CLIP_S, SR)
        assert isinstance(clip, Clip)
        assert clip.audio.dtype == np.float32 and clip.audio.shape == (round(CLIP_S * SR),)
        assert abs(rms(clip.audio, axis=None) - CLIP_RMS) < 1e-5
        assert _active_fraction(clip.audio, SR) > 0.5  # speech from the first frame, not a pause
        assert clip.speaker in espeak_source.speakers(split)
        assert re.fullmatch(rf"espeak:{re.escape(clip.speaker)}/s\d{{4}}@0\.00", clip.source_id)
        assert clip.text and clip.text in es.sentences()
    other_rate = espeak_source.draw("train", rng, 1.0, 48000)
    assert other_rate.audio.shape == (48000,) and other_rate.sample_rate == 48000


def test_espeak_deterministic_and_reloadable(espeak_source: es.EspeakSource) -> None:
    a = espeak_source.draw("val", np.random.default_rng(7), CLIP_S, SR)
    espeak_source.draw("train", np.random.default_rng(8), CLIP_S, SR)  # other synthesis in between
    b = espeak_source.draw("val", np.random.default_rng(7), CLIP_S, SR)
    assert a.source_id == b.source_id
    np.testing.assert_array_equal(a.audio, b.audio)
    c = load_clip(a.source_id, SR, CLIP_S)
    np.testing.assert_array_equal(a.audio, c.audio)
    assert (c.speaker, c.text) == (a.speaker, a.text)


def _synth_in_child(source_id: str) -> bytes:
    return load_clip(source_id, SR, CLIP_S).audio.tobytes()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_espeak_same_samples_in_worker_processes(method: str) -> None:
    source_id = "espeak:en-gb-x-rp+m3_p55_r170/s0123@0.00"
    here = load_clip(source_id, SR, CLIP_S).audio.tobytes()
    with mp.get_context(method).Pool(2) as pool:
        there = pool.map(_synth_in_child, [source_id] * 3)
    assert all(t == here for t in there)


def test_espeak_voices_differ_and_pitch_acts() -> None:
    a = load_clip("espeak:en-us+m3_p50_r170/s0005@0.00", SR, CLIP_S).audio
    b = load_clip("espeak:en-us+f1_p50_r170/s0005@0.00", SR, CLIP_S).audio
    assert np.abs(np.corrcoef(a, b)[0, 1]) < 0.5
    assert _median_f0(b, SR) > 1.3 * _median_f0(a, SR)  # female variant speaks higher
    low = load_clip("espeak:en-us+m3_p30_r170/s0005@0.00", SR, CLIP_S).audio
    high = load_clip("espeak:en-us+m3_p70_r170/s0005@0.00", SR, CLIP_S).audio
    assert _median_f0(high, SR) > 1.15 * _median_f0(low, SR)


def test_espeak_long_clip_concatenates_sentences() -> None:
    clip = load_clip("espeak:en-us+Alex_p50_r190/s0999@0.00", SR, 12.0)
    assert clip.audio.shape == (12 * SR,)
    table = es.sentences()
    assert clip.text.startswith(table[999] + " " + table[0])  # wraps around the table
    assert _active_fraction(clip.audio[-SR:], SR) > 0.3  # the end is still speech, not padding


def test_espeak_splits_disjoint_and_identity(espeak_source: es.EspeakSource) -> None:
    voices = {s: set(espeak_source.speakers(s)) for s in SPLITS}
    assert all(voices.values())
    assert sum(len(v) for v in voices.values()) == len(set.union(*voices.values()))  # disjoint
    variants = es.variant_splits((0.7, 0.2, 0.1))
    assert all(variants[s] for s in SPLITS)
    assert len(set(variants["train"]) | set(variants["val"]) | set(variants["test"])) == sum(
        len(variants[s]) for s in SPLITS
    )
    for s in SPLITS:  # every split has female and male voices
        assert set(variants[s]) & set(es.FEMALE_VARIANTS) and set(variants[s]) & set(es.MALE_VARIANTS)
    n = [len(voices[s]) for s in SPLITS]
    assert n[0] > n[1] > n[2]
    ident = espeak_source.identity()
    assert ident["licence"] == "GPL-3.0-or-later" and ident["voices"] == dict(zip(SPLITS, n, strict=True))
    assert ident["engine_version"].count(".") == 2


def test_espeak_every_variant_and_accent_speaks() -> None:
    for variant in es.FEMALE_VARIANTS + es.MALE_VARIANTS:
        pcm, sr = es.synthesize("Hello there, how are you today?", f"en-us+{variant}_p50_r175")
        assert sr == 22050 and pcm.size > sr and np.abs(pcm).max() > 1000, variant
    for accent in es.ACCENTS:
        pcm, _ = es.synthesize("Hello there.", f"{accent}+m1_p50_r175")
        assert np.abs(pcm).max() > 1000, accent


def test_espeak_sentence_table() -> None:
    table = es.sentences()
    assert len(table) == es.N_SENTENCES == len(set(table))
    assert min(len(s.split()) for s in table) >= 14


@pytest.mark.parametrize(
    "bad",
    [
        "espeak:en-us+m3/s0001@0.00",  # no pitch/rate
        "espeak:en-xx+m3_p50_r170/s0001@0.00",  # unknown accent
        "espeak:en-us+m9_p50_r170/s0001@0.00",  # unknown variant
        "espeak:en-us+m3_p50_r170/s0001@1.00",  # espeak clips start at 0
        "espeak:en-us+m3_p50_r170/s12@0.00",
        "nothing-here",
        "mp3:whatever@0.00",
    ],
)
def test_bad_source_ids(bad: str) -> None:
    with pytest.raises(SimkitError):
        load_clip(bad, SR, CLIP_S)


# ----------------------------------------------------------------------------------------- librispeech

# The release's LICENSE.TXT (openslr.org/12) and the opening of its README.TXT
LIBRISPEECH_LICENSE = """LibriSpeech (c) 2014 by Vassil Panayotov

LibriSpeech ASR corpus is licensed under a
Creative Commons Attribution 4.0 International License.

You should have received a copy of the license along with this
work. If not, see <http://creativecommons.org/licenses/by/4.0/>.
"""
LIBRISPEECH_README = """1. General information
======================

LibriSpeech is a corpus of read speech, based on LibriVox's public domain
audio books. Its purpose is to enable the training and testing of automatic
speech recognition(ASR) systems.
"""
SPEAKERS_3 = {"1": {"10": [11.0]}, "2": {"20": [11.0]}, "3": {"30": [11.0, 11.0]}}

SPEAKERS_6 = {
    "19": {"198": [11.0, 11.5, 4.0]},
    "26": {"495": [11.2], "496": [12.0]},
    "103": {"1240": [11.8, 3.0]},
    "200": {"126784": [11.1]},
    "311": {"124404": [11.9]},
    "7": {"8": [5.0, 11.4]},
    "87": {"121553": [6.0, 9.5]},  # no utterance >= 10 s: not a speaker of any split
}


def test_librispeech_index_filter_and_disjoint_splits(librispeech_corpus: Callable[..., Path]) -> None:
    root = librispeech_corpus(SPEAKERS_6)
    (root / "LICENSE.TXT").write_text(LIBRISPEECH_LICENSE)
    src = make_speech_source(SpeechConfig(corpus=str(root)))
    assert isinstance(src, LibriSpeechSource) and src.name == "librispeech"
    assert make_speech_source(SpeechConfig(corpus=str(root))) is src  # indexed once per process
    per_split = {s: src.speakers(s) for s in SPLITS}
    assert all(per_split.values())
    everyone = [spk for s in SPLITS for spk in per_split[s]]
    assert sorted(everyone) == sorted(set(everyone)) == sorted(["19", "26", "103", "200", "311", "7"])
    assert [len(per_split[s]) for s in SPLITS] == [4, 1, 1]
    for spk in everyone:
        assert all(u.seconds >= 10.0 for u in src.utterances(spk))
    ident = src.identity()
    assert ident["licence"] == "CC-BY-4.0" and ident["subsets"] == ["train-clean-100"]
    assert ident["corpus_name"] == "LibriSpeech" and ident["licence_file"] == "LICENSE.TXT"
    assert ident["utterances"] == 13 and ident["eligible_utterances"] == 8
    # The root may also be the subset folder itself, with the same speakers and splits.
    same = LibriSpeechSource(root / "train-clean-100")
    assert {s: same.speakers(s) for s in SPLITS} == per_split and same.identity()["subsets"] == []

    seen: dict[str, set[str]] = {s: set() for s in SPLITS}
    rng = np.random.default_rng(3)
    for _ in range(12):
        for split in SPLITS:
            clip = src.draw(split, rng, CLIP_S, SR)
            seen[split].add(clip.speaker)
            utt = clip.source_id.split(":")[1].split("@")[0]
            assert utt.split("-")[0] == clip.speaker
            assert utt not in {"19-198-0002", "103-1240-0001", "7-8-0000"}  # short ones are skipped
    assert all(seen[s] <= set(per_split[s]) for s in SPLITS)


def test_librispeech_draw_matches_load_clip(librispeech_corpus: Callable[..., Path]) -> None:
    root = librispeech_corpus(SPEAKERS_6, subset=None)
    src = LibriSpeechSource(root)
    rng = np.random.default_rng(11)
    for sample_rate in (SR, 8000):
        for _ in range(4):
            clip = src.draw("train", rng, CLIP_S, sample_rate)
            assert clip.audio.shape == (round(CLIP_S * sample_rate),) and clip.audio.dtype == np.float32
            assert abs(rms(clip.audio, axis=None) - CLIP_RMS) < 1e-5
            offset = clip.source_id.rsplit("@", 1)[1]
            assert len(offset.split(".")[1]) == 2 and 0 <= float(offset) <= 12.0 - CLIP_S
            again = load_clip(clip.source_id, sample_rate, CLIP_S, corpus=root)
            np.testing.assert_array_equal(clip.audio, again.audio)
            assert (again.speaker, again.text) == (clip.speaker, clip.text)
            assert clip.text.startswith(f"SPEAKER {clip.speaker} ")
    # At the native rate the clip is the file's samples at the offset, rescaled.
    clip = src.draw("val", np.random.default_rng(5), CLIP_S, SR)
    utt, offset = clip.source_id.split(":")[1].split("@")
    spk, chap, _ = utt.split("-")
    raw, _ = sf.read(root / spk / chap / f"{utt}.flac", dtype="float32")
    start = round(float(offset) * SR)
    want = raw[start : start + clip.audio.size]
    np.testing.assert_allclose(clip.audio, want * (CLIP_RMS / rms(want, axis=None)), rtol=1e-5, atol=1e-7)
    with pytest.raises(SimkitError, match="corpus"):
        load_clip(clip.source_id, SR, CLIP_S)


def test_librispeech_clip_avoids_silence(librispeech_corpus: Callable[..., Path], tmp_path: Path) -> None:
    root = librispeech_corpus({"1": {"10": [11.0]}, "2": {"20": [11.0]}, "3": {"30": [11.0]}})
    # Speaker 1 talks only in 1.5 s of an 11.5 s file; every drawn window must still hold speech.
    folder = root / "train-clean-100" / "1" / "10"
    audio = np.zeros(int(11.5 * SR), dtype=np.float32)
    audio[5 * SR : int(6.5 * SR)] = 0.1 * np.random.default_rng(0).standard_normal(int(1.5 * SR))
    sf.write(folder / "1-10-0000.flac", audio, SR, subtype="PCM_16")
    src = LibriSpeechSource(root)
    split = next(s for s in SPLITS if src.speakers(s) == ["1"])
    rng = np.random.default_rng(0)
    for _ in range(10):
        clip = src.draw(split, rng, CLIP_S, SR)
        start = round(float(clip.source_id.rsplit("@", 1)[1]) * SR)
        assert np.abs(audio[start : start + clip.audio.size]).max() > 0.05
    # An all-zero utterance cannot give a clip: the error names the file.
    sf.write(folder / "1-10-0000.flac", np.zeros(int(11.5 * SR), dtype=np.float32), SR, subtype="PCM_16")
    with pytest.raises(SimkitError, match="1-10-0000.flac.*silent"):
        LibriSpeechSource(root).draw(split, rng, CLIP_S, SR)


def _one_line_error(exc: pytest.ExceptionInfo[SimkitError], *names: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg, (name, msg)


def test_librispeech_errors(librispeech_corpus: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(tmp_path / "nope")
    _one_line_error(e, str(tmp_path / "nope"), "does not exist")

    (tmp_path / "empty").mkdir()
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(tmp_path / "empty")
    _one_line_error(e, "no .flac", str(tmp_path / "empty"))

    root = librispeech_corpus({"1": {"10": [11.0]}, "2": {"20": [11.0]}})
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(root)
    _one_line_error(e, "2 speaker(s)", "at least 3")

    def fresh() -> tuple[Path, Path]:
        r = librispeech_corpus({"1": {"10": [11.0]}, "2": {"20": [11.0]}, "3": {"30": [11.0, 11.0]}})
        return r, r / "train-clean-100" / "3" / "30"

    r, chap = fresh()
    bad = chap / "3-30-x.flac"
    (chap / "3-30-0000.flac").rename(bad)
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(r)
    _one_line_error(e, "malformed", str(bad))

    r, chap = fresh()
    (chap / "3-30.trans.txt").unlink()
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(r)
    _one_line_error(e, "missing", str(chap / "3-30.trans.txt"))

    r, chap = fresh()
    trans = chap / "3-30.trans.txt"
    trans.write_text(trans.read_text().splitlines()[0] + "\n")
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(r)
    _one_line_error(e, str(trans), "3-30-0001", str(chap / "3-30-0001.flac"))

    r, chap = fresh()
    trans = chap / "3-30.trans.txt"
    trans.write_text("3-30-0000 HELLO\n3-30-0001\n")
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(r)
    _one_line_error(e, "malformed line 2", str(trans))

    r, chap = fresh()
    broken = chap / "3-30-0001.flac"
    broken.write_bytes(b"not a flac file at all")
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(r)
    _one_line_error(e, "unreadable", str(broken))

    r, chap = fresh()
    moved = r / "train-clean-100" / "3" / "31"
    chap.rename(moved)
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(r)
    _one_line_error(e, "not in its <speaker>/<chapter> folder", str(moved / "3-30-0000.flac"))

    with pytest.raises(SimkitError, match="not found"):
        load_clip("librispeech:9-99-0000@1.00", SR, CLIP_S, corpus=root)
    with pytest.raises(SimkitError, match="malformed LibriSpeech source id"):
        load_clip("librispeech:9-99-0000@1.5", SR, CLIP_S, corpus=root)


def test_read_transcript_keeps_text(tmp_path: Path) -> None:
    p = tmp_path / "5-6.trans.txt"
    p.write_text("5-6-0000 HE SAID  HELLO\n\n5-6-0001 IT'S FINE\n")
    assert read_transcript(p) == {"5-6-0000": "HE SAID  HELLO", "5-6-0001": "IT'S FINE"}


def test_librispeech_records_the_corpus_and_licence_its_files_state(
    librispeech_corpus: Callable[..., Path],
) -> None:
    # a LibriSpeech-layout corpus that says nothing about itself is not claimed to be LibriSpeech
    root = librispeech_corpus(SPEAKERS_3)
    src = LibriSpeechSource(root)
    ident = src.identity()
    assert (ident["corpus_name"], ident["licence"], ident["licence_file"]) == ("unknown", "unknown", None)
    assert "LibriSpeech ASR corpus" not in src.licence_line and "licence unknown" in src.licence_line
    # LibriSpeech's own LICENSE.TXT, beside the subsets: found from the root and from a subset folder
    (root / "LICENSE.TXT").write_text(LIBRISPEECH_LICENSE)
    for where, rel in ((root, "LICENSE.TXT"), (root / "train-clean-100", "../LICENSE.TXT")):
        ident = LibriSpeechSource(where).identity()
        assert (ident["corpus_name"], ident["licence"], ident["licence_file"]) == ("LibriSpeech", "CC-BY-4.0", rel)
        assert ident["licence_file_opening"].startswith("LibriSpeech (c) 2014 by Vassil Panayotov")
    assert LibriSpeechSource(root).licence_line == "LibriSpeech ASR corpus: CC-BY 4.0"
    # another corpus in this layout: its own licence file is recorded, its terms are not guessed
    other = "Acme Read Speech v2 (c) 2025 Acme Labs. Licensed under CC BY-NC-SA 4.0; research use only.\n"
    (root / "LICENSE.TXT").unlink()
    (root / "license.txt").write_text(other)
    src = LibriSpeechSource(root)
    ident = src.identity()
    assert (ident["corpus_name"], ident["licence"], ident["licence_file"]) == ("unknown", "unknown", "license.txt")
    assert ident["licence_file_opening"] == other.strip()
    assert ident["licence_file_sha256"] == hashlib.sha256(other.encode()).hexdigest()
    assert src.licence_line.endswith("licence unknown (see license.txt)")
    # LibriSpeech's README names the corpus; without its licence file the licence stays unknown
    (root / "license.txt").unlink()
    (root / "README.TXT").write_text(LIBRISPEECH_README)
    ident = LibriSpeechSource(root).identity()
    assert (ident["corpus_name"], ident["licence"]) == ("LibriSpeech", "unknown")


def test_render_manifest_credits_the_corpus_as_its_files_state(librispeech_corpus: Callable[..., Path]) -> None:
    from simkit.render.config import RenderConfig
    from simkit.render.pipeline import build_manifest
    from simkit.scenes.catalog import resolve_scenes

    def licence(root: Path) -> str:
        speech = SpeechConfig(corpus=str(root), min_utterance_seconds=1.0)
        cfg = RenderConfig(scenes=resolve_scenes("proc_000"), speech=speech)
        return build_manifest(cfg, {"proc_000": "train"})["licences"]["speech"]

    anonymous = licence(librispeech_corpus(SPEAKERS_3))
    assert "CC-BY" not in anonymous and "licence unknown" in anonymous  # not claimed to be LibriSpeech
    root = librispeech_corpus(SPEAKERS_3)
    (root / "LICENSE.TXT").write_text(LIBRISPEECH_LICENSE)
    assert licence(root) == "LibriSpeech ASR corpus: CC-BY 4.0"


def test_librispeech_reads_uppercase_flac(librispeech_corpus: Callable[..., Path]) -> None:
    root = librispeech_corpus(SPEAKERS_3)
    chap = root / "train-clean-100" / "3" / "30"
    for flac in sorted(chap.glob("*.flac")):
        flac.rename(flac.with_suffix(".FLAC"))
    src = LibriSpeechSource(root)
    assert src.n_utterances == 4 and [u.path.name for u in src.utterances("3")] == [
        "3-30-0000.FLAC", "3-30-0001.FLAC"]
    split = next(s for s in SPLITS if src.speakers(s) == ["3"])
    clip = src.draw(split, np.random.default_rng(0), CLIP_S, SR)
    again = load_clip(clip.source_id, SR, CLIP_S, corpus=root)
    np.testing.assert_array_equal(clip.audio, again.audio)
    # one utterance id in two files is ambiguous: refused, naming both
    sf.write(chap / "3-30-0000.flac", np.zeros(SR, np.float32), SR, subtype="PCM_16")
    with pytest.raises(SimkitError) as e:
        LibriSpeechSource(root)
    _one_line_error(e, "two audio files", str(chap / "3-30-0000.flac"), str(chap / "3-30-0000.FLAC"))


def test_librispeech_transcript_byte_order_mark_is_ignored(librispeech_corpus: Callable[..., Path]) -> None:
    root = librispeech_corpus(SPEAKERS_3)
    trans = root / "train-clean-100" / "3" / "30" / "3-30.trans.txt"
    plain = read_transcript(trans)
    trans.write_bytes(b"\xef\xbb\xbf" + trans.read_bytes())  # what Notepad writes
    assert read_transcript(trans) == plain and "3-30-0000" in plain
    src = LibriSpeechSource(root)
    assert [u.text for u in src.utterances("3")] == [plain["3-30-0000"], plain["3-30-0001"]]
