"""Mixed clips (RenderConfig.mix): the mix is the sum of the per-source clips, targets, distractors, noise."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from simkit.audio.mix import MixConfig, diffuse_coherence, diffuse_noise, mix_targets, snr_db
from simkit.audio.speech import CLIP_RMS
from simkit.data import storage as st
from simkit.errors import SimkitError
from simkit.render.config import RenderConfig, load_render_config


def _render(out: Path, **over: object) -> Path:
    from simkit.render.pipeline import render_dataset
    from simkit.scenes.catalog import resolve_scenes

    base = {"scenes": resolve_scenes("3")[:1], "sets_per_scene": 2, "acoustics.preset": "fast",
            "views.enabled": False, "mix.enabled": True}
    render_dataset(load_render_config(overrides={**base, **over}), out, progress=False)
    return next((out / "shards").glob("*.h5"))


@pytest.fixture(scope="module")
def compact_mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compact storage (clips and mix derived on read), no noise, target = loudest."""
    return _render(tmp_path_factory.mktemp("mix") / "compact")


@pytest.fixture(scope="module")
def noisy_mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """float32 storage (the mix stored), distractors 0-12 dB under source 0, noise 5-15 dB SNR, target first."""
    return _render(tmp_path_factory.mktemp("mix") / "noisy", **{
        "storage": "float32", "mix.target": "first", "mix.distractor_gain_db": [-12.0, 0.0],
        "mix.noise_snr_db": [5.0, 15.0]})


def test_default_config_keeps_its_hash_and_a_mix_changes_it() -> None:
    assert RenderConfig().config_hash() == "0a50415382e0ff58"
    assert "mix" not in RenderConfig().content_dict()
    on = load_render_config(overrides={"mix.enabled": True})
    assert on.content_dict()["mix"]["enabled"] is True and on.config_hash() != "0a50415382e0ff58"


def test_mix_settings_are_checked() -> None:
    with pytest.raises(SimkitError, match="need mix.enabled"):
        load_render_config(overrides={"mix.noise_snr_db": [0.0, 10.0]})
    with pytest.raises(SimkitError, match="lo <= hi"):
        load_render_config(overrides={"mix.enabled": True, "mix.noise_snr_db": [10.0, 0.0]})
    with pytest.raises(SimkitError, match="mix.target must be one of"):
        load_render_config(overrides={"mix.enabled": True, "mix.target": "nearest"})


def test_mixed_clip_equals_the_sum_of_the_per_source_clips(compact_mix: Path) -> None:
    with h5py.File(compact_mix, "r") as f:
        assert st.MIX not in f and st.MIX_NOISE not in f and st.has_dataset(f, st.MIX)  # derived on read
        for n in range(int(f.attrs["n_sets"])):
            clips = st.read_set_binaural(f, n)  # (V, S, 2, T)
            mix = st.read_set_mix(f, n)
            assert mix.shape == (clips.shape[0], 2, clips.shape[-1]) and np.abs(mix).max() > 0
            np.testing.assert_allclose(mix, clips.sum(axis=1), rtol=0, atol=1e-6 * np.abs(mix).max())
            # the loudest source at the listener (energy over both ears) is the label
            energy = np.sum(clips.astype(np.float64) ** 2, axis=(-2, -1))
            np.testing.assert_array_equal(f[st.MIX_TARGET][n], np.argmax(energy, axis=1))
            # a window of the mix is the same window of the whole mix
            np.testing.assert_allclose(st.read_mix(f, n, [1], 100, 900)[0], mix[1, :, 100:900], atol=1e-6)


def test_noise_snr_lies_in_the_range_and_distractors_are_quieter(noisy_mix: Path) -> None:
    with h5py.File(noisy_mix, "r") as f:
        assert st.MIX in f and st.MIX_NOISE not in f  # float32 storage keeps the mix, noise inside it
        for n in range(int(f.attrs["n_sets"])):
            clips = st.read_set_binaural(f, n)
            clean = clips.sum(axis=1)
            measured = snr_db(clean, st.read_set_mix(f, n) - clean)  # (V,) from the signals themselves
            assert np.all((measured > 5.0 - 0.01) & (measured < 15.0 + 0.01)), measured
            np.testing.assert_allclose(measured, f["audio/mix_snr_db"][n], atol=0.01)
            np.testing.assert_array_equal(f[st.MIX_TARGET][n], 0)  # target = first: source 0 everywhere
            level = np.sqrt(np.mean(f["audio/source"][n].astype(np.float64) ** 2, axis=-1)) / CLIP_RMS
            assert level[0] == pytest.approx(1.0, rel=1e-3)
            assert np.all((level[1:] >= 10 ** (-12 / 20) - 1e-3) & (level[1:] <= 1.0 + 1e-3)), level


def test_loudest_target_follows_the_distractor_level() -> None:
    rng = np.random.default_rng(0)
    clips = rng.standard_normal((3, 4, 2, 200))
    clips[:, 2] *= 3.0  # source 2 louder in every view
    clips[1, 0] *= 10.0  # but source 0 loudest in view 1
    np.testing.assert_array_equal(mix_targets(clips, "loudest"), [2, 0, 2])
    np.testing.assert_array_equal(mix_targets(clips, "first"), [0, 0, 0])


@pytest.mark.parametrize("mic", ["binaural", "spaced-pair"])
def test_diffuse_noise_has_the_diffuse_field_coherence(mic: str) -> None:
    """Measured coherence (Welch, complex, real part) of the generated noise against the model it follows."""
    from scipy.signal import csd, welch

    sr = 16000
    x = diffuse_noise(np.random.default_rng(1), 1, sr * 20, sr, mic, 0.10)[0]
    f, pxy = csd(x[0], x[1], sr, nperseg=512)
    _, pxx = welch(x[0], sr, nperseg=512)
    _, pyy = welch(x[1], sr, nperseg=512)
    measured = np.real(pxy) / np.sqrt(pxx * pyy)
    model = diffuse_coherence(f, mic, 0.10)
    assert np.max(np.abs(measured - model)) < 0.08
    assert model[1] > 0.9 and np.min(model) < -0.1  # coherent at low frequency, decorrelating above


def test_mix_config_default_is_off() -> None:
    assert not MixConfig().enabled and MixConfig().is_default()


def test_direction_items_and_stats_read_the_mix_and_the_target_label(compact_mix: Path) -> None:
    from simkit.data.datasets.direction import RenderViewSets, open_render
    from simkit.data.stats import dataset_stats

    root = compact_mix.parent.parent
    info = open_render(root)
    split = next(sp for sp, scenes in info.splits.items() if scenes)
    ds = RenderViewSets(info, split)
    assert ds.mixed and len(ds) == 2  # one item per view set, not per source
    with h5py.File(compact_mix, "r") as f:
        for i in range(len(ds)):
            item = ds[i]
            n = item["set_index"]
            target = f[st.MIX_TARGET][n].astype(int)
            assert item["source_index"] == -1
            np.testing.assert_allclose(item["audio"].numpy(), st.read_set_mix(f, n), atol=1e-6)
            want = f["labels/azimuth_deg"][n][np.arange(len(target)), target]
            np.testing.assert_allclose(item["azimuth_deg"].numpy(), want)
        stats = dataset_stats(root)
        assert stats.clips == 2 * int(f.attrs["n_views"])  # a clip per view: the mix
    assert 0 < stats.iid_scored <= stats.clips and 0.0 <= stats.iid_accuracy <= 1.0
