"""The ``efficient`` preset: one first-order ambisonic indirect trace per listener position, decoded per view
with a decoder fitted to the engine's own direct path (real engine throughout)."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.acoustics import PRESETS, MaterialDatabase, make_backend
from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.rlr import DECODER_LEAD_SECONDS, decode_foa
from simkit.conventions import azimuth_to_local_direction, quat_to_matrix, yaw_to_quat
from simkit.render.config import SamplingConfig
from simkit.render.fidelity import mixed_ild_db
from simkit.render.pipeline import scene_seed
from simkit.render.sampling import sample_view_set
from simkit.scenes.catalog import load_scene

SR = 16000


@pytest.fixture(scope="module")
def efficient():
    return make_backend(AcousticsConfig(preset="efficient", sample_rate=SR), MaterialDatabase.embedded())


def test_efficient_preset_shares_the_indirect_trace_and_keeps_ray_counts_out_of_the_engine_fields() -> None:
    p = PRESETS["efficient"]
    assert p.shared_indirect and not PRESETS["default"].shared_indirect
    assert "shared_indirect" not in p.engine_fields()
    assert p.indirect_ray_count < PRESETS["default"].indirect_ray_count


def test_decoded_direct_sound_puts_the_louder_ear_on_the_sources_side(efficient) -> None:
    # The decoder is checked where the truth is known: the engine's own binaural direct path. A listener
    # yawed 100 deg hears 16 sources around it at 2 m; the engine's FOA (world frame) is rotated into the
    # listener's frame and decoded. Wrong rotation or axis mapping flips or scrambles the ILDs.
    scene = load_scene("proc_000")
    vs = sample_view_set(scene, SamplingConfig(views=2, sources=1), scene_seed(0, "proc_000", 0))
    pos = vs.positions[:1]
    q = yaw_to_quat(np.array([100.0]))
    az = np.arange(16) * 22.5 - 168.75  # never exactly 0 / 180: a clear side
    local = azimuth_to_local_direction(az)
    src = pos[0] + 0.8 * (quat_to_matrix(q[0]) @ local.T).T  # within the room's free space
    v, g = efficient._mesh(scene)
    foa = efficient._simulate(v, g, pos, np.array([[1.0, 0, 0, 0]]), src, direct=True, ambisonic=True)
    binaural = efficient._simulate(v, g, pos, q, src, direct=True)[0]
    decoded = decode_foa(foa, quat_to_matrix(q), efficient.foa_decoder(), int(DECODER_LEAD_SECONDS * SR))[0]
    ild_engine, ild_decoded = mixed_ild_db(binaural), mixed_ild_db(decoded)
    lateral = np.abs(np.sin(np.radians(az))) > 0.5
    assert np.all(np.sign(ild_decoded[lateral]) == np.sign(az[lateral]))  # + azimuth = left = louder left
    assert np.all(np.sign(ild_engine[lateral]) == np.sign(az[lateral]))
    # an order-1 decode keeps the broad ILD: correlated with the engine's, within a few dB
    assert np.corrcoef(ild_engine, ild_decoded)[0, 1] > 0.95, (ild_engine, ild_decoded)
    assert np.mean(np.abs(ild_engine - ild_decoded)) < 2.0
    # and the level: decoded direct energy within 1.5 dB of the engine's binaural direct energy
    ratio = np.sum(decoded**2) / np.sum(binaural**2)
    assert abs(10 * np.log10(ratio)) < 1.5, ratio


def test_efficient_render_is_deterministic_and_close_to_the_per_view_engine_render(efficient) -> None:
    scene = load_scene("proc_003")
    vs = sample_view_set(scene, SamplingConfig(views=3, sources=2), scene_seed(0, "proc_003", 0))
    a = efficient.render(scene, vs.positions, vs.quats, vs.source_positions)
    b = make_backend(AcousticsConfig(preset="efficient", sample_rate=SR), MaterialDatabase.embedded()).render(
        scene, vs.positions, vs.quats, vs.source_positions)
    assert a.indirect.shape == (3, 2, 2, SR) and a.indirect.dtype == np.float32
    assert a.indirect.tobytes() == b.indirect.tobytes() and a.direct.tobytes() == b.direct.tobytes()
    ref = make_backend(AcousticsConfig(preset="default", sample_rate=SR), MaterialDatabase.embedded()).render(
        scene, vs.positions, vs.quats, vs.source_positions)
    assert a.direct.tobytes() == ref.direct.tobytes()  # the direct path is the per-view binaural one
    e_ratio = np.sum(a.indirect.astype(np.float64) ** 2) / np.sum(ref.indirect.astype(np.float64) ** 2)
    assert 0.7 < e_ratio < 1.3, e_ratio
    # views differ only by yaw, so their indirect RIRs differ (the decode rotates), yet one trace feeds them
    assert not np.array_equal(a.indirect[0], a.indirect[1])
    ild_a, ild_ref = mixed_ild_db(a.mixed(0.2)), mixed_ild_db(ref.mixed(0.2))
    assert np.mean(np.abs(ild_a - ild_ref)) < 0.5, (ild_a, ild_ref)


def test_views_at_different_positions_get_their_own_trace(efficient) -> None:
    scene = load_scene("proc_003")
    vs = sample_view_set(scene, SamplingConfig(views=2, sources=1), scene_seed(0, "proc_003", 1))
    moved = vs.positions.copy()
    moved[1, 0] += 0.3
    same = efficient.render(scene, vs.positions, vs.quats[[0, 0]], vs.source_positions)
    apart = efficient.render(scene, moved, vs.quats[[0, 0]], vs.source_positions)
    assert np.array_equal(same.indirect[0], same.indirect[1])  # one position, one yaw: one decoded trace
    assert not np.array_equal(apart.indirect[0], apart.indirect[1])


def _decaying_noise(rt60: float, end_s: float, seed: int) -> np.ndarray:
    # (1, 2, 4, SR) world-frame-like responses: independent noise decaying at 60 dB per rt60 s, a 20 ms onset
    # gap, and cut to zero after end_s as a depth-limited trace is (with a roll-off over its last fifth)
    t = np.arange(SR) / SR
    env = 10.0 ** (-3.0 * t / rt60) * (t > 0.02)
    env *= np.clip((end_s - t) / (0.2 * end_s), 0.0, 1.0)
    noise = np.random.default_rng(seed).standard_normal((1, 2, 4, SR))
    return (noise * env * np.array([1.0, 0.6, 0.3, 0.6])[:, None]).astype(np.float32)


def test_late_tail_restores_the_decay_of_a_truncated_trace_and_is_deterministic() -> None:
    from simkit.acoustics import rt60_t30_batch
    from simkit.acoustics.late_tail import synthesise_late_tail

    cut = _decaying_noise(0.5, 0.3, seed=1)  # ends at -18 dB: T30 of the cut response is too short
    out = synthesise_late_tail(cut, SR)
    before, after = rt60_t30_batch(cut[..., 0, :], SR), rt60_t30_batch(out[..., 0, :], SR)
    assert np.all(before < 0.45), before
    assert np.allclose(after, 0.5, rtol=0.08), after
    e_in, e_out = (cut.astype(np.float64) ** 2).sum(-1), (out.astype(np.float64) ** 2).sum(-1)
    assert np.allclose(e_out / e_out[..., :1], e_in / e_in[..., :1], rtol=0.1)  # the channels keep their shares
    early = int(0.14 * SR)  # before the join (0.7 of the trace's end): the traced signal, up to FFT round-off
    assert np.allclose(out[..., :early], cut[..., :early], rtol=0, atol=1e-5 * float(np.abs(cut).max()))
    assert synthesise_late_tail(cut, SR).tobytes() == out.tobytes()
    full = _decaying_noise(0.5, 2.0, seed=2)  # a trace that reaches the end of the response is left alone
    assert synthesise_late_tail(full, SR).tobytes() == full.tobytes()


def test_late_tail_preset_field_stays_out_of_the_engine_fields() -> None:
    import dataclasses

    p = dataclasses.replace(PRESETS["efficient"], late_tail=True)
    assert "late_tail" not in p.engine_fields() and p.engine_fields() == PRESETS["efficient"].engine_fields()
