"""SOFA HRTF validation, loading and resampling (a valid file written with sofar, every kind of bad file), and
the real MIT KEMAR through the engine against the file's own interaural differences."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.signal as ss
import sofar

from simkit.acoustics.hrtf import load_hrir, resample_sofa, validate_sofa
from simkit.errors import SimkitError
from simkit.io import file_sha256


def write_sofa(path, convention="SimpleFreeFieldHRIR", sample_rate=16000, n_receivers=2, positions=None):
    s = sofar.Sofa(convention)
    az = np.array([0.0, 90.0, 180.0, 270.0, 0.0])
    el = np.array([0.0, 0.0, 0.0, 0.0, 90.0])
    if convention.endswith("HRIR") or convention == "GeneralFIR":
        ir = np.zeros((len(az), n_receivers, 32))
        ir[:, :, 3] = 1.0
        s.Data_IR = ir
        s.Data_SamplingRate = sample_rate
        if convention == "GeneralFIR":
            s.Data_Delay = np.zeros((1, n_receivers))
    else:  # a frequency-domain convention
        s.Data_Real = np.ones((len(az), 2, 3))
        s.Data_Imag = np.zeros((len(az), 2, 3))
        s.N = np.array([100.0, 1000.0, 4000.0])
    s.SourcePosition = positions if positions is not None else np.stack([az, el, np.ones_like(az)], axis=1)
    if n_receivers != 2:
        s.ReceiverPosition = np.zeros((n_receivers, 3))
    sofar.write_sofa(str(path), s)
    return path


def test_valid_sofa_identity(tmp_path):
    p = write_sofa(tmp_path / "kemar.sofa")
    info = validate_sofa(p, sample_rate=16000)
    assert info.convention == "SimpleFreeFieldHRIR"
    assert (info.sample_rate, info.n_measurements, info.n_samples) == (16000, 5, 32)
    assert info.sha256 == file_sha256(p)
    assert info.hrtf_id == f"kemar.sofa@{info.sha256[:16]}"
    assert validate_sofa(p).sample_rate == 16000  # no rate check when none is asked for


def test_directions_are_in_the_listener_frame(tmp_path):
    hrir = load_hrir(write_sofa(tmp_path / "h.sofa"))
    # SOFA azimuth 0 = front (-z), 90 = left (-x), 180 = back (+z), 270 = right (+x); elevation 90 = up (+y)
    expect = np.array([[0, 0, -1], [-1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
    np.testing.assert_allclose(hrir.directions, expect, atol=1e-9)
    assert hrir.ir.shape == (5, 2, 32) and hrir.ir.dtype == np.float32


def test_cartesian_positions(tmp_path):
    s = sofar.Sofa("SimpleFreeFieldHRIR")
    s.Data_IR = np.ones((2, 2, 8))
    s.Data_SamplingRate = 16000
    s.SourcePosition = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # front, left (SOFA x front, y left)
    s.SourcePosition_Type = "cartesian"
    s.SourcePosition_Units = "metre"
    sofar.write_sofa(str(tmp_path / "c.sofa"), s)
    np.testing.assert_allclose(load_hrir(tmp_path / "c.sofa").directions, [[0, 0, -1], [-1, 0, 0]], atol=1e-9)


def test_missing_file(tmp_path):
    with pytest.raises(SimkitError, match="nope.sofa not found"):
        validate_sofa(tmp_path / "nope.sofa")


def test_not_hdf5(tmp_path):
    p = tmp_path / "text.sofa"
    p.write_text("not a sofa file\n")
    with pytest.raises(SimkitError, match="text.sofa is not a SOFA file"):
        validate_sofa(p)


def test_hdf5_but_not_sofa(tmp_path):
    p = tmp_path / "plain.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(SimkitError, match="plain.h5 is not a valid SOFA file"):
        validate_sofa(p)


def test_wrong_convention(tmp_path):
    p = write_sofa(tmp_path / "tf.sofa", convention="SimpleFreeFieldHRTF")
    with pytest.raises(SimkitError, match="tf.sofa uses SOFA convention 'SimpleFreeFieldHRTF'"):
        validate_sofa(p)


def test_mismatched_sample_rate(tmp_path):
    p = write_sofa(tmp_path / "hi.sofa", sample_rate=48000)
    with pytest.raises(SimkitError, match="hi.sofa is sampled at 48000 Hz but the render uses 16000 Hz"):
        validate_sofa(p, sample_rate=16000)


def test_not_binaural(tmp_path):
    p = write_sofa(tmp_path / "mono.sofa", convention="GeneralFIR", n_receivers=1)
    with pytest.raises(SimkitError, match="mono.sofa has 1 receivers"):
        validate_sofa(p)


def test_general_fir_binaural_is_accepted(tmp_path):
    p = write_sofa(tmp_path / "gfir.sofa", convention="GeneralFIR")
    assert validate_sofa(p).convention == "GeneralFIR"


def test_identity_attributes_and_lowest_elevation(tmp_path):
    s = sofar.Sofa("SimpleFreeFieldHRIR")
    s.Data_IR = np.ones((3, 2, 8))
    s.Data_SamplingRate = 16000
    s.SourcePosition = np.array([[0.0, -45.0, 1.0], [90.0, 0.0, 1.0], [0.0, 60.0, 1.0]])
    s.GLOBAL_Title = "three directions"
    s.GLOBAL_License = "CC-BY 4.0"
    s.GLOBAL_Organization = ""  # empty attributes are left out
    sofar.write_sofa(str(tmp_path / "a.sofa"), s)
    info = validate_sofa(tmp_path / "a.sofa")
    assert info.min_elevation_deg == pytest.approx(-45.0)
    attrs = dict(info.attributes)
    assert attrs["Title"] == "three directions" and "Organization" not in attrs
    entry = info.manifest_entry(48000)
    assert entry["licence"] == "CC-BY 4.0" and entry["sha256"] == file_sha256(tmp_path / "a.sofa")
    assert entry["resampled"] == "soxr VHQ, 16000 -> 48000 Hz, by simkit" and entry["min_elevation_deg"] == -45.0
    assert info.manifest_entry(16000)["resampled"] is None


def test_resample_sofa_keeps_delays_directions_and_level(tmp_path):
    # one broadband click per ear, the left one 8 samples (0.5 ms) earlier, and a sample delay of 2 samples
    s = sofar.Sofa("SimpleFreeFieldHRIR")
    n = 128
    t = np.arange(n)
    # band-limited to 0.8 x Nyquist (inside soxr's passband), so the resampled click is the same click
    click = lambda at: 0.8 * np.sinc(0.8 * (t - at)) * np.exp(-(((t - at) / 16.0) ** 2))  # noqa: E731
    s.Data_IR = np.stack([np.stack([click(40), 0.5 * click(48)])] * 2)
    s.Data_SamplingRate = 16000
    s.Data_Delay = np.array([[2.0, 2.0]])
    s.SourcePosition = np.array([[90.0, 0.0, 1.0], [90.0, -30.0, 1.0]])
    s.GLOBAL_License = "CC0"
    src = tmp_path / "s16.sofa"
    sofar.write_sofa(str(src), s)
    out = resample_sofa(src, 48000, tmp_path / "s48.sofa")
    info = validate_sofa(out, sample_rate=48000)
    assert (info.n_measurements, info.n_samples) == (2, 3 * n) and dict(info.attributes)["License"] == "CC0"
    hrir = load_hrir(out)
    np.testing.assert_allclose(hrir.directions, load_hrir(src).directions, atol=1e-9)
    left, right = hrir.ir[0].astype(np.float64)
    assert np.argmax(left) == 3 * 40 and np.argmax(right) == 3 * 48  # the onsets and their 0.5 ms ITD
    energy = np.sum(hrir.ir[0].astype(np.float64) ** 2, axis=-1) / 3.0  # per sample period of the 16 kHz file
    np.testing.assert_allclose(energy, np.sum(s.Data_IR[0] ** 2, axis=-1), rtol=1e-3)  # same level and ILD
    assert np.asarray(sofar.read_sofa(str(out), verbose=False).Data_Delay).ravel().tolist() == [6.0, 6.0]


KEMAR = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")  # Debian libmysofa1 (.ci/run installs it)
KEMAR_AZIMUTHS = np.array([-150.0, -120.0, -90.0, -60.0, -30.0, -10.0, 0.0, 10.0, 30.0, 60.0, 90.0, 120.0, 150.0,
                           180.0])
KEMAR_RATE = 48000  # above the file's 44.1 kHz: the engine gets simkit's soxr-resampled copy


def render_kemar_direct(out: str) -> None:
    """Direct RIRs (S, 2, T) of KEMAR_AZIMUTHS at elevation 0, 1.4 m (the MIT distance) from a listener yawed
    30 deg in a dead 12 x 6 x 12 m room, through the backend as ``simkit render`` uses it; saved to ``out``.
    Run in a subprocess by the test: an engine abort must not take pytest down."""
    from test_acoustics import shoebox

    from simkit.acoustics import MaterialDatabase, make_backend
    from simkit.acoustics.config import AcousticsConfig
    from simkit.conventions import azimuth_to_local_direction, quat_to_matrix, yaw_to_quat

    backend = make_backend(AcousticsConfig(preset="fast", sample_rate=KEMAR_RATE, hrtf=str(KEMAR), rir_seconds=0.1),
                           MaterialDatabase.embedded())
    listener, yaw = np.array([6.0, 3.0, 6.0]), 30.0
    sources = listener + (1.4 * azimuth_to_local_direction(KEMAR_AZIMUTHS)) @ quat_to_matrix(yaw_to_quat(yaw)).T
    rirs = backend.render(shoebox((12.0, 6.0, 12.0), "carpet", "acoustictile", "curtain"), listener[None],
                          yaw_to_quat(np.array([yaw])), sources)
    np.save(out, rirs.direct[0])


def _itd_ms(left: np.ndarray, right: np.ndarray, fs: float, up: int = 8) -> float:
    """Interaural delay (ms) from the cross-correlation peak of the <1.5 kHz parts; > 0 = left ear leads."""
    sos = ss.butter(4, 1500.0, fs=fs, output="sos")
    x = ss.resample_poly(ss.sosfiltfilt(sos, left.astype(np.float64)), up, 1)
    y = ss.resample_poly(ss.sosfiltfilt(sos, right.astype(np.float64)), up, 1)
    lags = ss.correlation_lags(len(x), len(y))
    return float(-lags[np.argmax(ss.correlate(x, y))] / (up * fs) * 1e3)


def _ild_db(left: np.ndarray, right: np.ndarray) -> float:
    """Broadband interaural level difference (dB); > 0 = left ear louder."""
    return float(10.0 * np.log10(np.sum(left.astype(np.float64) ** 2) / np.sum(right.astype(np.float64) ** 2)))


@pytest.mark.skipif(not KEMAR.is_file(), reason=f"{KEMAR} absent: apt-get install libmysofa1 (.ci/run does)")
def test_real_kemar_itd_and_ild_match_the_file(tmp_path):
    out = tmp_path / "direct.npy"
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_hrtf; "
            f"test_hrtf.render_kemar_direct({str(out)!r})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"  # -6: the engine aborted
    direct = np.load(out)[:, :, : int(0.012 * KEMAR_RATE)]  # direct sound: 1.4 m = 4.1 ms + HRIR, no reflection

    sofa = sofar.read_sofa(str(KEMAR), verbose=False)
    fs = float(np.ravel(sofa.Data_SamplingRate)[0])
    pos, ir = np.asarray(sofa.SourcePosition), np.asarray(sofa.Data_IR)
    # SOFA azimuth runs counter-clockwise from the front (90 = left) like simkit's, SOFA receiver 0 is the left
    # ear like simkit's channel 0: simkit azimuth a is the file's measurement at SOFA azimuth a mod 360
    rows = [int(np.flatnonzero((pos[:, 1] == 0.0) & np.isclose(pos[:, 0], a % 360.0))[0]) for a in KEMAR_AZIMUTHS]
    ref_itd = np.array([_itd_ms(ir[i, 0], ir[i, 1], fs) for i in rows])
    ref_ild = np.array([_ild_db(ir[i, 0], ir[i, 1]) for i in rows])
    itd = np.array([_itd_ms(d[0], d[1], KEMAR_RATE) for d in direct])
    ild = np.array([_ild_db(d[0], d[1]) for d in direct])

    # measured: |dITD| <= 0.0024 ms, |dILD| <= 0.03 dB (docs/acoustics.md)
    np.testing.assert_allclose(itd, ref_itd, atol=0.005)
    np.testing.assert_allclose(ild, ref_ild, atol=0.3)
    for side in (90.0, -90.0):
        assert itd[list(KEMAR_AZIMUTHS).index(side)] == pytest.approx(np.sign(side) * 0.70, abs=0.03)
    left = (KEMAR_AZIMUTHS > 0) & (KEMAR_AZIMUTHS < 180)
    right = KEMAR_AZIMUTHS < 0
    assert np.all(itd[left] > 0) and np.all(ild[left] > 0)  # left ear leads and is louder
    assert np.all(itd[right] < 0) and np.all(ild[right] < 0)
