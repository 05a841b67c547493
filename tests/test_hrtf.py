"""SOFA HRTF validation and loading: a valid file written with sofar, and every kind of bad file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import sofar

from simkit.acoustics.hrtf import load_hrir, validate_sofa
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
