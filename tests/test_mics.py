"""Microphone models (simkit.acoustics.mics): capsule geometry through the real engines, config rules, manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal as ss

from simkit.acoustics import MaterialDatabase, make_backend
from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.mics import MICS, get_mic
from simkit.conventions import (
    HEAD_RADIUS,
    LEFT_CHANNEL,
    RIGHT_CHANNEL,
    SPEED_OF_SOUND,
    azimuth_to_local_direction,
    quat_to_matrix,
    source_labels,
    yaw_to_quat,
)
from simkit.errors import SimkitError
from simkit.render.config import RenderConfig, load_render_config

SR = 16000
YAW = 100.0  # a listener yawed past 90 deg: capsules left unrotated would swap the channels' order
LISTENER = np.array([3.0, 1.5, 2.5])
DISTANCE = 2.0
AZIMUTHS = np.array([90.0, -90.0, 45.0])


def _lateral_sources() -> np.ndarray:
    local = azimuth_to_local_direction(AZIMUTHS) * DISTANCE
    return LISTENER + local @ quat_to_matrix(yaw_to_quat(YAW)).T


def render_direct(engine: str, mic: str, spacing: float | None = None) -> np.ndarray:
    """Direct RIRs (S, 2, T) of the three sources in a dead shoebox room."""
    from test_acoustics import shoebox

    cfg = AcousticsConfig(engine=engine, preset="fast", sample_rate=SR, rir_seconds=0.1, mic=mic,
                          mic_spacing=spacing)
    scene = shoebox((6.0, 3.0, 5.0), "carpet", "acoustictile", "curtain")
    rirs = make_backend(cfg, MaterialDatabase.embedded()).render(
        scene, LISTENER[None], yaw_to_quat(np.array([YAW])), _lateral_sources())
    return rirs.direct[0].astype(np.float64)


def itd_seconds(left: np.ndarray, right: np.ndarray, up: int = 8) -> float:
    """Inter-channel delay (s) from the cross-correlation peak (8x upsampled); > 0 = channel 0 (left) leads."""
    x, y = ss.resample_poly(left, up, 1), ss.resample_poly(right, up, 1)
    lags = ss.correlation_lags(len(x), len(y))
    return float(-lags[np.argmax(ss.correlate(x, y))] / (up * SR))


def ild_db(left: np.ndarray, right: np.ndarray) -> float:
    """Broadband level difference (dB), left over right."""
    return float(10 * np.log10(np.sum(left ** 2) / np.sum(right ** 2)))


@pytest.fixture(scope="module")
def direct() -> dict[str, np.ndarray]:
    return {"binaural": render_direct("rlr", "binaural"), "phone-stereo": render_direct("rlr", "phone-stereo"),
            "spaced-pair": render_direct("rlr", "spaced-pair"), "spaced-0.5": render_direct("rlr", "spaced-pair", 0.5)}


def test_labels_are_the_intended_azimuths() -> None:
    az, _, dist = source_labels(_lateral_sources(), LISTENER, YAW)
    assert np.allclose(az, AZIMUTHS) and np.allclose(dist, DISTANCE)


@pytest.mark.parametrize("name,spacing", [("phone-stereo", 0.134), ("spaced-pair", 2 * HEAD_RADIUS),
                                          ("spaced-0.5", 0.5)])
def test_itd_at_plus_minus_90_is_spacing_over_speed_of_sound(direct, name, spacing) -> None:
    """A source at +90 (left) reaches channel 0 first by spacing / c (the capsules are colinear with it);
    at -90 channel 1 leads by as much; at 45 deg by spacing * sin(45) / c (far field, within 0.2 samples)."""
    d = direct[name]
    expected = spacing / SPEED_OF_SOUND
    left, right, diag = (itd_seconds(d[j, LEFT_CHANNEL], d[j, RIGHT_CHANNEL]) for j in range(3))
    one_sample = 1.0 / SR
    assert left > 0 and right < 0
    assert abs(left - expected) <= one_sample and abs(right + expected) <= one_sample
    assert abs(diag - expected * np.sin(np.deg2rad(45.0))) <= one_sample


def test_level_difference_small_for_omni_pairs_large_for_binaural(direct) -> None:
    """No head between the phone's capsules: the direct sound's level differs by the path lengths only
    (20 log10(2.067 / 1.933) = 0.58 dB at 2 m); the HRTF's head shadow gives many dB, near ear louder."""
    for name in ("phone-stereo", "spaced-pair"):
        d = direct[name]
        assert abs(ild_db(d[0, 0], d[0, 1])) < 1.5 and abs(ild_db(d[1, 0], d[1, 1])) < 1.5, name
    b = direct["binaural"]
    assert ild_db(b[0, 0], b[0, 1]) > 6.0 and ild_db(b[1, 0], b[1, 1]) < -6.0


def test_pyroomacoustics_places_the_capsules_alike(direct) -> None:
    """The cross-check engine puts the phone's capsules at the same offsets: equal ITD within a sample."""
    p = render_direct("pyroomacoustics", "phone-stereo")
    r = direct["phone-stereo"]
    for j in range(3):
        assert abs(itd_seconds(p[j, 0], p[j, 1]) - itd_seconds(r[j, 0], r[j, 1])) <= 1.0 / SR


def test_registry_and_geometry() -> None:
    assert {"binaural", "phone-stereo", "spaced-pair"} <= set(MICS.names())
    caps = get_mic("phone-stereo").capsules()
    assert caps.shape == (2, 3) and caps[0, 0] < 0 < caps[1, 0]  # row 0 = left = -x (listener's right is +x)
    assert np.isclose(np.linalg.norm(caps[1] - caps[0]), 0.134) and not caps[:, 1:].any()
    assert get_mic("binaural").capsules() is None
    assert np.isclose(np.ptp(get_mic("spaced-pair").capsules(0.3)[:, 0]), 0.3)


def test_default_config_hash_unchanged_and_mic_in_hash() -> None:
    assert RenderConfig().config_hash() == "0a50415382e0ff58"
    assert "mic" not in RenderConfig().content_dict()["acoustics"]
    hashes = {load_render_config(None, o).config_hash() for o in (
        {}, {"acoustics.mic": "phone-stereo"}, {"acoustics.mic": "spaced-pair"},
        {"acoustics.mic": "spaced-pair", "acoustics.mic_spacing": 0.3})}
    assert len(hashes) == 4


@pytest.mark.parametrize("overrides,message", [
    ({"acoustics.mic": "phone"}, "unknown microphone model 'phone'"),
    ({"acoustics.mic": "phone-stereo", "acoustics.mic_spacing": 0.2}, "applies to spaced-pair only"),
    ({"acoustics.mic_spacing": 0.2}, "applies to spaced-pair only"),
    ({"acoustics.mic": "spaced-pair", "acoustics.mic_spacing": -0.1}, "mic_spacing must be > 0"),
    ({"acoustics.mic": "spaced-pair", "acoustics.mic_spacing": 50.0}, "mic_spacing must be in (0, 10]"),
    ({"acoustics.mic": "phone-stereo", "acoustics.hrtf": "x.sofa"}, "applies to --mic binaural only"),
])
def test_bad_microphone_settings_are_one_error(overrides, message) -> None:
    with pytest.raises(SimkitError, match=message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        load_render_config(None, overrides)


def test_render_records_the_microphone(tmp_path) -> None:
    """``simkit.render`` with phone-stereo: the manifest names the model and its capsules, has no HRTF entry,
    and the shard says which microphone recorded it."""
    import h5py

    from simkit.data.layout import shard_path
    from simkit.render.pipeline import render_dataset

    cfg = load_render_config(None, {"acoustics.mic": "phone-stereo", "acoustics.preset": "fast",
                                    "acoustics.rir_seconds": 0.25, "sets_per_scene": 1, "views.enabled": False,
                                    "sampling.views": 2, "sampling.sources": 1, "speech.clip_seconds": 0.5})
    cfg.scenes = ["proc_000"]
    render_dataset(cfg, tmp_path, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["mic"]["name"] == "phone-stereo" and manifest["mic"]["spacing_m"] == 0.134
    assert "hrtf" not in manifest and "hrtf" not in manifest["licences"]
    assert manifest["config"]["acoustics"]["mic"] == "phone-stereo"
    with h5py.File(shard_path(tmp_path, "proc_000"), "r") as f:
        assert f.attrs["mic"] == "phone-stereo" and f.attrs["hrtf_id"] == "none"


def test_egovideo_records_with_the_phone_pair(tmp_path) -> None:
    """``egovideo --mic phone-stereo``: a source held at +90 deg reaches channel 0 (left) first by
    spacing / c in the written (lossless .mkv) audio, the truth names the microphone, and the default config
    keeps the hash it had before --mic."""
    import dataclasses

    from simkit.render.egovideo import EgoVideoConfig, generate_egovideos
    from simkit.video.io import read_audio

    base = EgoVideoConfig()
    assert base.config_hash() == "819ecabfec342ca9"  # the binaural default, as before microphone models
    cfg = EgoVideoConfig(seconds=1, fps=5, keyframes="0:0,1:0", source_azimuths=(90.0,), signal="noise",
                         container=".mkv", camera=dataclasses.replace(base.camera, width=64, height=48),
                         acoustics=dataclasses.replace(base.acoustics, mic="phone-stereo"))
    assert cfg.config_hash() != base.config_hash()
    generate_egovideos(cfg, tmp_path, progress=False)
    audio = read_audio(next((tmp_path / "videos").glob("*.mkv")), SR).astype(np.float64)
    lag = itd_seconds(audio[0, :4000], audio[1, :4000])  # noise: the cross-correlation peak is the delay
    assert abs(lag - 0.134 / SPEED_OF_SOUND) <= 1.0 / SR
    assert abs(ild_db(audio[0], audio[1])) < 2.0
    truth = json.loads(next((tmp_path / "truth").glob("*.json")).read_text())
    assert truth["mic"] == "phone-stereo"
    with pytest.raises(SimkitError, match="applies to spaced-pair only"):
        dataclasses.replace(cfg, acoustics=dataclasses.replace(cfg.acoustics, mic_spacing=0.3)).validate()


def test_gcc_phat_maps_a_pair_itd_through_its_spacing(direct) -> None:
    """``gcc_phat --option mic_spacing=0.134`` turns the phone pair's ITD into the lateral angle of a free-field
    pair (asin(ITD c / d)); the default spherical head would put the +90 deg source near 45 deg."""
    import torch

    from simkit.bench.config import make_config
    from simkit.models import get_model

    noise = np.random.default_rng(0).standard_normal(SR)
    audio = torch.tensor(np.stack([ss.fftconvolve(noise[None], d, axes=-1)[:, :SR] for d in direct["phone-stereo"]]),
                         dtype=torch.float32)  # (3 sources, 2, T)
    pair = get_model("gcc_phat").build(make_config(data="x", model_options={"mic_spacing": 0.134}),
                                       {"sample_rate": SR})
    head = get_model("gcc_phat").build(make_config(data="x"), {"sample_rate": SR})
    az_pair = pair.predict({"audio": audio})["azimuth_deg"].numpy()
    az_head = head.predict({"audio": audio})["azimuth_deg"].numpy()
    # the engine delays each capsule by whole samples: 6 for the 6.25 of +-90 deg (asin(6 / 6.25) = 74 deg), 5 for
    # the 4.42 of 45 deg (53 deg); the mapping itself is asin(ITD c / d) of the measured delay
    d = direct["phone-stereo"]
    itd = np.array([itd_seconds(x[0], x[1]) for x in d])
    assert np.allclose(az_pair, np.degrees(np.arcsin(np.clip(itd * SPEED_OF_SOUND / 0.134, -1, 1))), atol=2.0)
    assert az_pair[0] > 70 and az_pair[1] < -70 and 33 < az_pair[2] < 60
    assert az_head[0] < 60  # Woodworth's head reads the short pair delay as a frontal source
    with pytest.raises(SimkitError, match="mic_spacing must be >= 0"):
        get_model("gcc_phat").build(make_config(data="x", model_options={"mic_spacing": -1.0}), {"sample_rate": SR})


@pytest.mark.parametrize("command,needles", [
    (["render", "--mic", "nope", "--scenes", "proc_000"], ("unknown microphone model 'nope'", "phone-stereo")),
    (["render", "--mic", "phone-stereo", "--hrtf", "x.sofa", "--scenes", "proc_000"], ("--mic binaural only",)),
    (["egovideo", "--mic", "binaural", "--mic-spacing", "0.3"], ("applies to spaced-pair only",)),
])
def test_cli_refuses_bad_microphone_settings_in_one_line(tmp_path, command, needles) -> None:
    """Bad --mic settings: one ``error:`` line, exit 2, nothing written."""
    import subprocess

    from cli_support import SIMKIT, one_error_line

    out = tmp_path / "out"
    proc = subprocess.run([SIMKIT, *command, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    one_error_line(proc, *needles)
    assert not out.exists()
