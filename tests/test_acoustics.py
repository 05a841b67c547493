"""Acoustic engine layer: materials, presets, RT60 and the RLRAudioPropagation backend (real engine)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rlr_audio_propagation as rlr
import scipy.signal as ss

from simkit.acoustics import (
    BACKENDS,
    PRESETS,
    BinauralRIRs,
    MaterialDatabase,
    make_backend,
    rt60_t30,
    rt60_t30_batch,
)
from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.presets import ENGINE_DEFAULTS
from simkit.acoustics.rlr import ENGINE_FIXED
from simkit.conventions import (
    LEFT_CHANNEL,
    RIGHT_CHANNEL,
    SPEED_OF_SOUND,
    UP,
    azimuth_to_local_direction,
    quat_to_matrix,
    source_labels,
    yaw_to_quat,
)
from simkit.errors import SimkitError
from simkit.scenes.scene import Scene

SR = 16000
GENERATOR_NAMES = {
    "plaster", "concrete", "brick", "woodfloor", "carpet", "ceramic", "acoustictile", "curtain", "glass",
    "woodpanel", "sofa", "furniture", "metal", "default",
}


def shoebox(size: tuple[float, float, float], floor: str, ceiling: str, walls: str) -> Scene:
    """A closed w x h x d room with its floor at y=0, inward-facing quads split into triangles."""
    w, h, d = size
    v = np.array([[x, y, z] for x in (0, w) for y in (0, h) for z in (0, d)], dtype=np.float64)
    quads = [
        ([0, 4, 5, 1], floor), ([2, 3, 7, 6], ceiling),
        ([0, 1, 3, 2], walls), ([4, 6, 7, 5], walls), ([0, 2, 6, 4], walls), ([1, 5, 7, 3], walls),
    ]
    names = sorted({floor, ceiling, walls})
    faces, mats = [], []
    for q, m in quads:
        faces += [[q[0], q[1], q[2]], [q[0], q[2], q[3]]]
        mats += [names.index(m)] * 2
    n = len(faces)
    return Scene(
        scene_id=f"box-{floor}-{ceiling}-{walls}", vertices=v, faces=np.array(faces, dtype=np.int64),
        face_material=np.array(mats, dtype=np.int64), material_names=names,
        face_instance=np.zeros(n, dtype=np.int64), face_color=np.zeros((n, 3), dtype=np.uint8),
    )


@pytest.fixture(scope="module")
def db() -> MaterialDatabase:
    return MaterialDatabase.embedded()


@pytest.fixture(scope="module")
def fast(db: MaterialDatabase):
    return make_backend(AcousticsConfig(preset="fast", sample_rate=SR), db)


@pytest.fixture(scope="module")
def lateral_render(fast):
    """24 sources at |azimuth| in [30, 150] deg, 1-2 m from a yawed listener in a dead room."""
    rng = np.random.default_rng(1234)
    n = 24
    az = rng.uniform(30.0, 150.0, n) * rng.choice([-1.0, 1.0], n)
    el = rng.uniform(-15.0, 15.0, n)
    dist = rng.uniform(1.0, 2.0, n)
    listener, yaw = np.array([3.0, 1.5, 2.5]), 100.0  # a wrong rotation sense flips most sides
    elev = np.deg2rad(el)[:, None]
    local = np.cos(elev) * azimuth_to_local_direction(az) + np.sin(elev) * UP
    sources = listener + (local * dist[:, None]) @ quat_to_matrix(yaw_to_quat(yaw)).T
    labels_az, _, labels_dist = source_labels(sources, listener, yaw)
    scene = shoebox((6.0, 3.0, 5.0), "carpet", "acoustictile", "curtain")
    rirs = fast.render(scene, listener[None], yaw_to_quat(np.array([yaw])), sources)
    return rirs, labels_az, labels_dist


def _lowpass_itd_seconds(left: np.ndarray, right: np.ndarray, up: int = 8) -> float:
    """Interaural delay (s) from the cross-correlation peak of the <1.5 kHz parts; > 0 = left ear leads."""
    sos = ss.butter(4, 1500.0, fs=SR, output="sos")
    x = ss.resample_poly(ss.sosfiltfilt(sos, left), up, 1)
    y = ss.resample_poly(ss.sosfiltfilt(sos, right), up, 1)
    lags = ss.correlation_lags(len(x), len(y))
    return float(-lags[np.argmax(ss.correlate(x, y))] / (up * SR))


# ---------------------------------------------------------------- materials


def test_embedded_database_has_generator_names_and_engine_safe_names(db: MaterialDatabase) -> None:
    assert set(db.names) == GENERATOR_NAMES
    lower = [n.lower() for n in db.names]
    assert not [(a, b) for a in lower for b in lower if a != b and a in b]
    engine = json.loads(db.to_engine_json())["materials"]
    assert [m["labels"] for m in engine] == [[m["name"]] for m in engine]
    for m in engine:
        for key in ("absorption", "scattering", "transmission", "damping"):
            assert len(m[key]) % 2 == 0 and len(m[key]) >= 2
        assert m["density"] > 0 and m["speed"] > 0


def test_for_label_maps_semantic_labels(db: MaterialDatabase) -> None:
    expect = {
        "wall": "plaster", "floor": "woodfloor", "Sofa": "sofa", "curtains": "curtain", "kitchen_cabinet":
        "woodpanel", "tv_monitor": "metal", "ceiling tile": "acoustictile", "wood floor": "woodfloor",
        "rug": "carpet", "window": "glass", "chairs": "furniture", "shower-stall": "ceramic",
        "something unheard of": "default", "": "default",
    }
    assert {k: db.for_label(k).name for k in expect} == expect
    assert db.lookup("CARPET").name == "carpet"
    carpet = db.lookup("carpet")
    assert carpet.value_at("absorption", 1000.0) == pytest.approx(0.37)
    assert carpet.value_at("absorption", 50.0) == pytest.approx(0.02)  # held below the first band
    assert carpet.value_at("absorption", 1000.0 / np.sqrt(2.0)) == pytest.approx((0.14 + 0.37) / 2)
    with pytest.raises(SimkitError, match="velvet"):
        db.lookup("velvet")


def _entry(name: str, **over) -> dict:
    e = {
        "name": name, "labels": [name], "absorption": [125.0, 0.1, 4000.0, 0.2],
        "scattering": [125.0, 0.1, 4000.0, 0.2], "transmission": [125.0, 0.0, 4000.0, 0.0],
        "damping": [125.0, 0.0, 4000.0, 0.0], "density": 1000.0, "speed": 1500.0,
    }
    e.update(over)
    return e


@pytest.mark.parametrize(
    ("materials", "needle"),
    [
        ([_entry("default"), {k: v for k, v in _entry("brickwall").items() if k != "density"}], "density"),
        ([_entry("default"), _entry("brickwall", absorption=[125.0, 0.1, 250.0])], "even length"),
        ([_entry("default"), _entry("brickwall", absorption=[500.0, 0.1, 250.0, 0.1])], "ascending"),
        ([_entry("default"), _entry("brickwall", scattering=[125.0, 1.5])], r"\[0, 1\]"),
        ([_entry("default"), _entry("brickwall"), _entry("BrickWall")], "duplicate"),
        ([_entry("default"), _entry("wood"), _entry("woodfloor")], "substring"),
        ([_entry("default"), _entry("brickwall", absorbtion=[125.0, 0.1])], "unknown field"),
        ([_entry("brickwall")], "'default'"),
        ([_entry("default"), _entry("glass", labels=["window"]), _entry("pane", labels=["Window"])], "label"),
    ],
)
def test_bad_material_json_is_one_line_error_naming_file_and_material(
    tmp_path: Path, materials: list, needle: str
) -> None:
    path = tmp_path / "mats.json"
    path.write_text(json.dumps({"materials": materials}))
    with pytest.raises(SimkitError, match=needle) as err:
        MaterialDatabase.from_json(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg


def test_unparseable_or_missing_material_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"materials": [')
    with pytest.raises(SimkitError, match="invalid JSON"):
        MaterialDatabase.from_json(bad)
    with pytest.raises(SimkitError, match="does not exist"):
        MaterialDatabase.from_json(tmp_path / "nope.json")


def test_embedded_respects_scenes_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "materials.json").write_text(json.dumps({"materials": [_entry("default"), _entry("tin")]}))
    monkeypatch.setenv("SIMKIT_SCENES_DIR", str(tmp_path))
    assert MaterialDatabase.embedded().names == ["default", "tin"]
    monkeypatch.setenv("SIMKIT_SCENES_DIR", str(tmp_path / "missing"))
    with pytest.raises(SimkitError, match="SIMKIT_SCENES_DIR"):
        MaterialDatabase.embedded()


# ---------------------------------------------------------------- presets


def test_default_preset_is_the_engine_default_and_unknown_preset_fails(db: MaterialDatabase) -> None:
    cfg = rlr.Config()
    assert {k: getattr(cfg, k) for k in ENGINE_DEFAULTS.engine_fields()} == ENGINE_DEFAULTS.engine_fields()
    # the settings simkit pins are the engine's defaults too (bools read back as 0/1)
    assert {k: getattr(cfg, k) for k in ENGINE_FIXED} == ENGINE_FIXED
    assert PRESETS["default"] == ENGINE_DEFAULTS
    assert PRESETS["fast"].indirect_ray_count < PRESETS["default"].indirect_ray_count
    assert PRESETS["high"].indirect_ray_count > PRESETS["default"].indirect_ray_count
    with pytest.raises(SimkitError, match="ultra"):
        PRESETS["ultra"]
    with pytest.raises(SimkitError, match="ultra"):
        make_backend(AcousticsConfig(preset="ultra"), db)
    assert "rlr" in BACKENDS


# ---------------------------------------------------------------- RT60


def test_rt60_of_synthetic_exponential_decay() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(2.5 * SR)) / SR
    rirs = []
    for rt in (0.3, 0.6, 1.2):
        # amplitude falls 60 dB in rt seconds: envelope 10^(-3 t / rt)
        rirs.append(rng.standard_normal(len(t)) * 10.0 ** (-3.0 * t / rt))
    est = rt60_t30_batch(np.stack(rirs)[None], SR)
    assert est.shape == (1, 3)
    np.testing.assert_allclose(est[0], [0.3, 0.6, 1.2], rtol=0.05)
    assert rt60_t30(rirs[1], SR) == pytest.approx(0.6, rel=0.05)
    assert np.isnan(rt60_t30(np.zeros(SR), SR))
    impulse = np.zeros(SR)
    impulse[10] = 1.0
    assert np.isnan(rt60_t30(impulse, SR))  # drops straight to -inf: no decay to fit


# ---------------------------------------------------------------- backend


def test_render_shapes_types_and_direct_delay(lateral_render) -> None:
    rirs, _, dist = lateral_render
    assert isinstance(rirs, BinauralRIRs)
    assert rirs.direct.shape == rirs.indirect.shape == (1, len(dist), 2, SR)
    assert rirs.direct.dtype == rirs.indirect.dtype == np.float32
    # the direct sound arrives after distance / c (within 2 ms of HRIR onset latency)
    env = np.abs(rirs.direct[0]).max(axis=1)
    onset = np.argmax(env > 0.1 * env.max(axis=1, keepdims=True), axis=1) / SR
    lag = onset - dist / SPEED_OF_SOUND
    assert np.all(lag > -0.5e-3) and np.all(lag < 2e-3)


def test_direct_path_louder_at_the_near_ear_above_1500hz(lateral_render) -> None:
    rirs, az, _ = lateral_render
    assert np.all((np.abs(az) >= 30) & (np.abs(az) <= 150))
    spec = np.abs(np.fft.rfft(rirs.direct[0], axis=-1)) ** 2
    freqs = np.fft.rfftfreq(rirs.direct.shape[-1], 1.0 / SR)
    hi = spec[..., freqs > 1500.0].sum(axis=-1)
    left_louder = hi[:, LEFT_CHANNEL] > hi[:, RIGHT_CHANNEL]
    assert np.mean(left_louder == (az > 0)) >= 0.95


def test_interaural_delay_bounded_and_leading_at_near_ear(lateral_render) -> None:
    rirs, az, _ = lateral_render
    head = rirs.direct[0, :, :, :1024]  # direct sound of sources <= 2 m away ends well before 64 ms
    itd = np.array([_lowpass_itd_seconds(d[LEFT_CHANNEL], d[RIGHT_CHANNEL]) for d in head])
    assert np.all(np.abs(itd) <= 0.8e-3)
    assert np.mean(np.sign(itd) == np.sign(az)) >= 0.95


def test_hard_room_rings_longer_than_soft_room(fast) -> None:
    listener = np.array([[2.0, 1.5, 1.7]])
    quat = yaw_to_quat(np.array([0.0]))
    sources = np.array([[1.0, 1.2, 1.0], [3.5, 1.5, 3.0]])
    rt = {}
    for kind, scene in {
        "hard": shoebox((5.0, 3.0, 4.0), "concrete", "concrete", "concrete"),
        "soft": shoebox((5.0, 3.0, 4.0), "carpet", "acoustictile", "curtain"),
    }.items():
        r = fast.render(scene, listener, quat, sources)
        rt[kind] = float(np.nanmean(rt60_t30_batch(r.mixed(0.2), SR)))
    assert rt["soft"] < 0.3  # Eyring at 1 kHz: 0.09 s, at 125 Hz: 0.39 s
    assert rt["hard"] > 4.0 * rt["soft"]


def test_render_is_byte_identical_across_calls_and_backends(db: MaterialDatabase, fast) -> None:
    scene = shoebox((4.0, 2.8, 3.5), "woodfloor", "plaster", "brick")
    args = (scene, np.array([[2.0, 1.5, 1.5]]), yaw_to_quat(np.array([45.0])), np.array([[1.0, 1.4, 2.5]]))
    a = fast.render(*args)
    b = fast.render(*args)
    c = make_backend(AcousticsConfig(preset="fast", sample_rate=SR), db).render(*args)
    for other in (b, c):
        assert a.direct.tobytes() == other.direct.tobytes()
        assert a.indirect.tobytes() == other.indirect.tobytes()
    assert np.abs(a.indirect).max() > 0 and np.abs(a.direct).max() > 0


def test_scene_with_unknown_material_is_rejected(fast) -> None:
    scene = shoebox((4.0, 2.8, 3.5), "woodfloor", "plaster", "velvet")
    with pytest.raises(SimkitError, match="velvet"):
        fast.render(
            scene, np.array([[2.0, 1.5, 1.5]]), yaw_to_quat(np.array([0.0])), np.array([[1.0, 1.4, 2.5]])
        )


@pytest.mark.parametrize(
    "content",
    [None, b"not a sofa file at all", b"\x89HDF\r\n\x1a\n" + b"\0" * 64],
    ids=["missing", "not-hdf5", "broken-hdf5"],
)
def test_bad_hrtf_path_fails_before_rendering(db: MaterialDatabase, tmp_path: Path, content) -> None:
    path = tmp_path / "subject.sofa"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SimkitError, match="HRTF") as err:
        make_backend(AcousticsConfig(preset="fast", hrtf=str(path)), db)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_custom_sofa_hrtf_is_used(db: MaterialDatabase, tmp_path: Path) -> None:
    sofar = pytest.importorskip("sofar")
    # toy HRTF: pure delays, the ear nearer to the source leads by up to 10 samples (0.625 ms) and is louder
    sofa = sofar.Sofa("SimpleFreeFieldHRIR")
    az, el = np.meshgrid(np.arange(0.0, 360.0, 15.0), np.array([-30.0, 0.0, 30.0, 60.0]))
    az, el = az.ravel(), el.ravel()
    lateral = np.sin(np.deg2rad(az)) * np.cos(np.deg2rad(el))  # +1 = fully left
    ir = np.zeros((len(az), 2, 64))
    for i, lat in enumerate(lateral):
        ir[i, 0, int(round(16 - 5 * lat))] = 1.0 + 0.5 * lat
        ir[i, 1, int(round(16 + 5 * lat))] = 1.0 - 0.5 * lat
    sofa.Data_IR = ir
    sofa.Data_SamplingRate = float(SR)
    sofa.Data_Delay = np.zeros((1, 2))
    sofa.SourcePosition = np.stack([az, el, np.full(len(az), 1.5)], axis=1)
    path = tmp_path / "toy.sofa"
    sofar.write_sofa(str(path), sofa)

    backend = make_backend(AcousticsConfig(preset="fast", sample_rate=SR, hrtf=str(path)), db)
    assert backend.hrtf_id().startswith("toy.sofa@") and len(backend.hrtf_id()) == len("toy.sofa@") + 16
    scene = shoebox((6.0, 3.0, 5.0), "carpet", "acoustictile", "curtain")
    listener = np.array([3.0, 1.5, 2.5])
    sources = listener + np.array([[-1.5, 0.0, 0.0], [1.5, 0.0, 0.0]])  # azimuth +90 (left), -90 (right)
    r = backend.render(scene, listener[None], yaw_to_quat(np.array([0.0])), sources)
    peaks = np.abs(r.direct[0]).argmax(axis=-1)
    assert peaks[0, LEFT_CHANNEL] - peaks[0, RIGHT_CHANNEL] == -10
    assert peaks[1, LEFT_CHANNEL] - peaks[1, RIGHT_CHANNEL] == 10
