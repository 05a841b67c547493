"""The shard storage codec (simkit.data.storage): error bounds, the decay-floor trim, derived clips, and a real
render read back through the dataset against the float32 layout."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest

from simkit.acoustics import rt60_t30_batch
from simkit.audio.dsp import fft_convolve
from simkit.config import AcousticsConfig, RenderConfig, SamplingConfig, ViewsConfig
from simkit.data.render_dataset import RenderViewSets, open_render
from simkit.data.storage import (
    INT16_MAX,
    LEGACY,
    StorageConfig,
    encode,
    read_binaural,
    read_rir,
    trim_below_floor,
)
from simkit.errors import SimkitError
from simkit.render.pipeline import render_dataset
from simkit.render.shard import SCHEMA, validate_shard
from simkit.scenes.catalog import load_splits


def decaying_rirs(rng: np.random.Generator, shape: tuple[int, ...], rt60: float = 0.4, sr: int = 16000):
    t = np.arange(shape[-1]) / sr
    return (rng.standard_normal(shape) * 10.0 ** (-3.0 * t / rt60)).astype(np.float32)


def test_int16_error_is_within_half_a_step_of_each_rows_peak_and_float16_is_relative() -> None:
    rng = np.random.default_rng(0)
    x = decaying_rirs(rng, (2, 3, 2, 8000)) * rng.uniform(0.01, 3.0, (2, 3, 2, 1)).astype(np.float32)
    sch = {"rir/indirect": ("float32", ("N", "S", 2, "R"))}
    for mode in ("int16", "float16"):
        out, schema, attrs = encode({"rir/indirect": x}, sch, StorageConfig(rir=mode, rir_floor_db=0.0))
        assert out["rir/indirect"].dtype == np.dtype(mode) and schema["rir/indirect"][0] == mode
        scale = out.get("rir/indirect_scale")
        back = out["rir/indirect"].astype(np.float32) * (scale[..., None] if scale is not None else 1)
        err = np.abs(back - x)
        if mode == "int16":
            peak = np.abs(x).max(axis=-1, keepdims=True)
            assert np.all(err <= peak / INT16_MAX / 2 * 1.01)  # + float32 rounding of the scale
            assert schema["rir/indirect_scale"] == ("float32", ("N", "S", 2))
        else:
            assert np.all(err <= np.abs(x) * 2.0**-11 + 6e-8)
        assert "storage" in attrs


def test_trim_zeroes_only_the_tail_below_the_floor() -> None:
    x = decaying_rirs(np.random.default_rng(1), (4, 16000))
    y = trim_below_floor(x, 60.0)
    e = x.astype(np.float64) ** 2
    edc = np.cumsum(e[..., ::-1], axis=-1)[..., ::-1] / e.sum(-1, keepdims=True)
    cut = np.argmax(y[..., ::-1] != 0, axis=-1)  # zeros at the end
    last = y.shape[-1] - cut  # first zeroed sample
    for i in range(len(x)):
        assert np.array_equal(y[i, : last[i]], x[i, : last[i]])
        assert 10 * np.log10(edc[i, last[i]]) <= -60.0 < 10 * np.log10(edc[i, last[i] - 1])
    assert np.all(last < x.shape[-1] * 0.95)  # a 0.4 s decay falls 60 dB well within 1 s
    assert np.array_equal(trim_below_floor(x, 0.0), x)
    rt_x, rt_y = rt60_t30_batch(x, 16000), rt60_t30_batch(y, 16000)
    assert np.all(np.abs(rt_y / rt_x - 1) < 0.01)


def test_bad_storage_settings_are_one_line_errors() -> None:
    for bad in (StorageConfig(clips="mp3"), StorageConfig(rir="int8"), StorageConfig(rir_floor_db=-1.0),
                StorageConfig(source="float16")):
        with pytest.raises(SimkitError, match="storage"):
            bad.validate()


@pytest.fixture(scope="module")
def twin_renders(tmp_path_factory):
    """The same tiny render (3 scenes, 1 set, 2 views x 2 sources, --no-views) in both layouts."""
    splits = load_splits()
    scenes = [splits["train"][0], splits["val"][0], splits["test"][0]]
    base = RenderConfig(scenes=scenes, sets_per_scene=1, seed=3, acoustics=AcousticsConfig(preset="fast"),
                        sampling=SamplingConfig(views=2, sources=2), views=ViewsConfig(enabled=False))
    root = tmp_path_factory.mktemp("storage")
    out = {}
    for name, storage in (("float32", LEGACY), ("compact", StorageConfig())):
        render_dataset(dataclasses.replace(base, storage=storage), root / name, progress=False)
        out[name] = root / name
    return out


def test_compact_render_reads_back_close_to_the_float32_render(twin_renders) -> None:
    ref, compact = twin_renders["float32"], twin_renders["compact"]
    for shard in sorted((compact / "shards").glob("*.h5")):
        info = validate_shard(shard)
        assert info.n_views == 2
        with h5py.File(shard, "r") as f, h5py.File(ref / "shards" / shard.name, "r") as g:
            assert "audio/binaural" not in f and f["rir/indirect"].dtype == np.int16
            assert f.attrs["schema_version"] == 2 and "storage" in f.attrs
            for n, v, s in np.ndindex(*f["labels/azimuth_deg"].shape):
                clip = read_binaural(f, n, [v], s)[0]
                truth = g["audio/binaural"][n, v, s].astype(np.float64)
                snr = 10 * np.log10(np.sum(truth**2) / np.sum((clip - truth) ** 2))
                assert snr > 60.0, (shard.name, n, v, s, snr)
                # a float32 shard derives its clip from its own arrays exactly as the render did
                mixed = (g["rir/direct"][n, v, s] + np.float32(0.2) * g["rir/indirect"][n, v, s]).astype(np.float32)
                assert np.array_equal(read_binaural(g, n, [v], s)[0], g["audio/binaural"][n, v, s])
                assert np.allclose(fft_convolve(g["audio/source"][n, s], mixed, truth.shape[-1]), truth, atol=1e-6)
                rt = rt60_t30_batch((read_rir(f, "rir/direct", n, v, s) + np.float32(0.2) * read_rir(
                    f, "rir/indirect", n, v, s))[None], 16000).mean()
                assert abs(rt / g["rir/rt60"][n, v, s] - 1) < 0.005
    assert sum(p.stat().st_size for p in (compact / "shards").glob("*.h5")) < 0.25 * sum(
        p.stat().st_size for p in (ref / "shards").glob("*.h5"))
    a = RenderViewSets(open_render(compact), "train")[0]
    b = RenderViewSets(open_render(ref), "train")[0]
    assert a["audio"].shape == b["audio"].shape == (2, 2, 40800)
    assert float(((a["audio"] - b["audio"]) ** 2).sum() / (b["audio"] ** 2).sum()) < 1e-6


def test_schema_of_a_derived_shard_drops_the_clips_and_adds_the_scales() -> None:
    from simkit.data.storage import stored_schema

    sch = stored_schema(SCHEMA, StorageConfig())
    assert "audio/binaural" not in sch and sch["rir/direct_scale"][1] == ("N", "V", "S", 2)
    assert stored_schema(SCHEMA, LEGACY) == dict(SCHEMA)
