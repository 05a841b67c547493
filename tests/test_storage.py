"""The shard storage codec (simkit.data.storage): error bounds, the decay-floor trim, the writer's derived-clip
check, and a real render in both storages read back through every reader against the float32 one."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from simkit.acoustics import rt60_t30_batch
from simkit.acoustics.config import AcousticsConfig
from simkit.data.datasets.binaural import BinauralClips, open_binaural_dataset
from simkit.data.datasets.direction import RenderViewSets, open_render
from simkit.data.inspect import format_report, inspect_dataset
from simkit.data.stats import dataset_stats
from simkit.data.storage import (
    FLOAT32,
    INT16_MAX,
    StorageConfig,
    derive_batch,
    derive_clips,
    derive_window,
    encode,
    read_binaural,
    read_mixed_rir,
    source_segment,
    trim_below_floor,
)
from simkit.data.validate import validate_shard, verify_shard
from simkit.data.writer import write_shard
from simkit.errors import SimkitError
from simkit.render.config import RenderConfig, SamplingConfig, validate_render_config
from simkit.render.pipeline import render_dataset
from simkit.scenes.catalog import load_splits
from simkit.vision.config import CameraConfig, ViewsConfig

SIMKIT = str(Path(sys.executable).parent / "simkit")


def decaying_rirs(rng: np.random.Generator, shape: tuple[int, ...], rt60: float = 0.4, sr: int = 16000):
    t = np.arange(shape[-1]) / sr
    return (rng.standard_normal(shape) * 10.0 ** (-3.0 * t / rt60)).astype(np.float32)


def test_int16_error_is_within_half_a_step_of_each_rows_peak_and_float16_is_relative() -> None:
    rng = np.random.default_rng(0)
    x = decaying_rirs(rng, (2, 3, 2, 2, 8000)) * rng.uniform(0.01, 3.0, (2, 3, 2, 2, 1)).astype(np.float32)
    for mode in ("int16", "float16"):
        out, attrs = encode({"rir/indirect": x}, {}, StorageConfig(rir=mode, rir_floor_db=0.0))
        assert out["rir/indirect"].dtype == np.dtype(mode)
        scale = out.get("rir/indirect_scale")
        back = out["rir/indirect"].astype(np.float32) * (scale[..., None] if scale is not None else 1)
        err = np.abs(back - x)
        if mode == "int16":
            peak = np.abs(x).max(axis=-1, keepdims=True)
            assert np.all(err <= peak / INT16_MAX / 2 * 1.01)  # + float32 rounding of the scale
            assert scale.shape == x.shape[:-1] and scale.dtype == np.float32
        else:
            assert scale is None and np.all(err <= np.abs(x) * 2.0**-11 + 6e-8)
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
                StorageConfig(min_clip_snr_db=True)):
        with pytest.raises(SimkitError, match=r"^storage\.\w+ must be"):
            bad.validate()
        with pytest.raises(SimkitError, match=r"storage\.\w+ must be"):
            validate_render_config(RenderConfig(storage=bad))


def test_int16_refuses_non_finite_values_and_keeps_tiny_rows() -> None:
    x = np.array([[np.nan, 0.3], [1e-42, -1e-42], [0.0, 0.0]], np.float32)[:, None, None, None, :]
    with pytest.raises(SimkitError, match="rir/direct holds NaN or infinite values"):
        encode({"rir/direct": x}, {}, StorageConfig())
    x[0, ..., 0] = 0.25
    with np.errstate(all="raise"):  # no division by a scale that underflowed to zero
        out, _ = encode({"rir/direct": x}, {}, StorageConfig())
    scale = out["rir/direct_scale"]
    assert np.all(scale > 0) and scale[2].item() == 1.0  # a zero row keeps scale 1, a tiny one no zero scale
    back = out["rir/direct"] * scale[..., None]
    assert np.allclose(back, x, rtol=0, atol=0.3 / INT16_MAX)


def test_float32_storage_keeps_the_config_hash_renders_had_before_the_storage_option() -> None:
    # what simkit 9610018 (before RenderConfig.storage) wrote: those float32 renders resume with --storage float32
    assert RenderConfig(storage=FLOAT32).config_hash() == "01921d527c50e3c0"
    assert RenderConfig(sets_per_scene=2, seed=5, storage=FLOAT32).config_hash() == "a5cf843f85bd66a2"
    assert RenderConfig().config_hash() != RenderConfig(storage=FLOAT32).config_hash()
    assert "storage" in RenderConfig(storage=FLOAT32).content_dict()  # the manifest still says which


def _tiny_shard(rng: np.random.Generator, clips: np.ndarray | None = None) -> tuple[dict, dict]:
    n, v, s, t, r = 1, 2, 1, 3000, 800
    direct, indirect = decaying_rirs(rng, (n, v, s, 2, r), 0.05), decaying_rirs(rng, (n, v, s, 2, r))
    src = rng.standard_normal((n, s, t)).astype(np.float32)
    if clips is None:
        clips = derive_clips(src[:, None, :, None, :], direct, indirect, 0.2)
    arrays = {"audio/binaural": clips, "audio/source": src, "rir/direct": direct, "rir/indirect": indirect,
              "rir/rt60": np.full((n, v, s), 0.4, np.float32)}
    attrs = {"schema_version": 1, "scene_id": "x", "config_hash": "h", "sample_rate": 16000, "n_sets": n,
             "n_views": v, "n_sources": s, "indirect_gain": 0.2}
    return arrays, attrs


def test_writer_refuses_derived_clips_that_are_not_source_convolved_with_the_rir(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    arrays, attrs = _tiny_shard(rng)
    good = tmp_path / "good.h5"
    write_shard(good, arrays, attrs, groups=["audio", "rir"], storage=StorageConfig())
    info = validate_shard(good, require=("audio/binaural",))
    assert info.clip_samples == 3000
    with h5py.File(good) as f:
        assert "audio/binaural" not in f and f.attrs["derived_clip_snr_db"] > 60
        back = read_binaural(f, 0, [0, 1], 0)
    snr = 10 * np.log10(np.sum(arrays["audio/binaural"][0, :, 0] ** 2) /
                        np.sum((back - arrays["audio/binaural"][0, :, 0]) ** 2))
    assert snr > 60
    # recorded clips (here: noise) are not source ⊛ RIR: a derived storage would lose them, so it is refused
    noisy, _ = _tiny_shard(np.random.default_rng(2), rng.standard_normal((1, 2, 1, 2, 3000)).astype(np.float32))
    bad = tmp_path / "bad.h5"
    with pytest.raises(SimkitError, match="derived clips match the given ones at .* dB SNR"):
        write_shard(bad, noisy, attrs, groups=["audio", "rir"], storage=StorageConfig())
    assert not bad.exists() and not list(tmp_path.glob(".*.tmp"))
    # the same clips stored as int16 are kept within the int16 bound
    write_shard(bad, noisy, attrs, groups=["audio", "rir"], storage=StorageConfig(clips="int16"))
    with h5py.File(bad) as f:
        assert f["audio/binaural"].dtype == np.int16
        got = read_binaural(f, 0, [1], 0)[0]
    peak = np.abs(noisy["audio/binaural"][0, 1, 0]).max(-1, keepdims=True)
    assert np.all(np.abs(got - noisy["audio/binaural"][0, 1, 0]) <= peak / INT16_MAX / 2 * 1.01)


def test_validator_names_a_missing_scale_and_a_missing_derivation_source(tmp_path: Path) -> None:
    arrays, attrs = _tiny_shard(np.random.default_rng(3))
    path = tmp_path / "s.h5"
    write_shard(path, arrays, attrs, groups=["audio", "rir"], storage=StorageConfig())
    with h5py.File(path, "a") as f:
        del f["rir/indirect_scale"]
    with pytest.raises(SimkitError, match="int16 dataset rir/indirect has no rir/indirect_scale"):
        validate_shard(path)
    write_shard(path, arrays, attrs, groups=["audio", "rir"], storage=StorageConfig())
    with h5py.File(path, "a") as f:
        del f["audio/source"], f["audio/source_scale"]
    with pytest.raises(SimkitError, match="clips are derived but audio/source is missing"):
        validate_shard(path)
    write_shard(path, arrays, attrs, groups=["audio", "rir"], storage=StorageConfig())
    with h5py.File(path, "a") as f:
        assert f.attrs["schema_version"] == 2
        del f.attrs["storage"]
    with pytest.raises(SimkitError, match="missing attribute storage"):
        validate_shard(path)
    write_shard(path, arrays, attrs, groups=["audio", "rir"], storage=FLOAT32)
    with h5py.File(path, "a") as f:
        assert f.attrs["schema_version"] == 1  # float32 shards keep version 1's layout and number
        f["rir/indirect"].attrs["scale"] = 2.0  # version 1's storage attributes are no longer applied
    with pytest.raises(SimkitError, match="rir/indirect has a scale/offset attribute"):
        validate_shard(path)


def test_a_version_1_float32_shard_still_reads_and_an_unknown_version_is_refused(tmp_path: Path) -> None:
    arrays, attrs = _tiny_shard(np.random.default_rng(4))
    path = tmp_path / "v1.h5"
    write_shard(path, arrays, attrs, groups=["audio", "rir"], storage=FLOAT32)
    with h5py.File(path, "a") as f:  # what simkit wrote before the storage codec
        f.attrs["schema_version"] = 1
        del f.attrs["storage"]
    assert validate_shard(path).clip_samples == 3000
    with h5py.File(path) as f:
        assert np.array_equal(read_binaural(f, 0, [0, 1], 0), arrays["audio/binaural"][0, :, 0])
        assert np.array_equal(read_mixed_rir(f, 0, [1], 0)[0], (arrays["rir/direct"][0, 1, 0] + np.float32(0.2) *
                                                                 arrays["rir/indirect"][0, 1, 0]))
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 3
    with pytest.raises(SimkitError, match="schema version 3, this simkit reads 1, 2"):
        validate_shard(path)


@pytest.fixture(scope="module")
def twin_renders(tmp_path_factory) -> dict[str, Path]:
    """The same tiny render (3 scenes, 1 set, 2 views x 2 sources, 64x48 unfiltered views, visible
    sources: the binaural tasks read it) in both storages."""
    splits = load_splits()
    scenes = [splits["train"][0], splits["val"][0], splits["test"][0]]
    base = RenderConfig(scenes=scenes, sets_per_scene=1, seed=3, acoustics=AcousticsConfig(preset="fast"),
                        sampling=SamplingConfig(views=2, sources=2, visible_sources=True),
                        views=ViewsConfig(camera=CameraConfig(width=64, height=48), apply_filters=False))
    root = tmp_path_factory.mktemp("storage")
    out = {}
    for name, storage in (("float32", FLOAT32), ("compact", StorageConfig())):
        render_dataset(dataclasses.replace(base, storage=storage), root / name, progress=False)
        out[name] = root / name
    return out


def test_compact_render_reads_back_close_to_the_float32_render(twin_renders) -> None:
    ref, compact = twin_renders["float32"], twin_renders["compact"]
    for shard in sorted((compact / "shards").glob("*.h5")):
        info = validate_shard(shard)
        verify_shard(shard)
        assert info.n_views == 2 and info.clip_samples == 40800
        with h5py.File(shard, "r") as f, h5py.File(ref / "shards" / shard.name, "r") as g:
            assert "audio/binaural" not in f and f["rir/indirect"].dtype == np.int16
            assert f["audio/source"].dtype == np.int16 and "storage" in f.attrs
            # everything but the audio is the same array (the storage touches only clips, RIRs, sources)
            for name in ("labels/azimuth_deg", "poses/position", "rir/rt60", "pairs/rel_yaw_deg", "views/rgb"):
                assert np.array_equal(f[name][()], g[name][()]), name
            for n, v, s in np.ndindex(*f["labels/azimuth_deg"].shape):
                clip = read_binaural(f, n, [v], s)[0]
                truth = g["audio/binaural"][n, v, s].astype(np.float64)
                snr = 10 * np.log10(np.sum(truth**2) / np.sum((clip - truth) ** 2))
                assert snr > 60.0, (shard.name, n, v, s, snr)
                assert snr >= f.attrs["derived_clip_snr_db"] - 1e-3  # the writer's check saw the worst one
                # the float32 layout stores the render's clips as they were
                assert np.array_equal(read_binaural(g, n, [v], s)[0], g["audio/binaural"][n, v, s])
                rt = rt60_t30_batch(read_mixed_rir(f, n, [v], s), 16000).mean()
                assert abs(rt / g["rir/rt60"][n, v, s] - 1) < 0.005
    size = {k: sum(p.stat().st_size for p in (d / "shards").glob("*.h5")) for k, d in twin_renders.items()}
    assert size["compact"] < 0.2 * size["float32"], size
    lines = {k: format_report(inspect_dataset(d)).splitlines() for k, d in twin_renders.items()}
    assert any(line.startswith("storage: compact; derived clips >= ") for line in lines["compact"])
    assert any(line.startswith("storage: float32; ") and "MB per view set" in line for line in lines["float32"])


def test_every_reader_gives_the_same_items_from_both_storages(twin_renders) -> None:
    ref, compact = open_render(twin_renders["float32"]), open_render(twin_renders["compact"])
    assert ref.clip_samples == compact.clip_samples and ref.indirect_gain == compact.indirect_gain

    def close(a, b, rel=1e-6):
        a, b = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
        assert a.shape == b.shape and np.sum((a - b) ** 2) < rel * np.sum(b**2)

    for train in (False, True):  # evaluation items, and training crops re-rendered with another utterance
        kw = {"train": True, "reconvolve_prob": 1.0, "clip_samples": 16000, "seed": 4} if train else {}
        a, b = RenderViewSets(compact, "train", **kw), RenderViewSets(ref, "train", **kw)
        for i in range(len(b)):
            ia, ib = a[i], b[i]
            close(ia["audio"], ib["audio"])
            assert np.array_equal(ia["azimuth_deg"].numpy(), ib["azimuth_deg"].numpy())
    a = BinauralClips(open_binaural_dataset(twin_renders["compact"]), "test")
    b = BinauralClips(open_binaural_dataset(twin_renders["float32"]), "test")
    close(a[0]["binaural"], b[0]["binaural"])
    close(a[0]["mono"], b[0]["mono"])
    sa, sb = dataset_stats(twin_renders["compact"]), dataset_stats(twin_renders["float32"])
    assert (sa.clips, sa.iid_scored, sa.iid_accuracy) == (sb.clips, sb.iid_scored, sb.iid_accuracy)


def test_a_window_derived_alone_is_that_window_of_the_whole_derived_clip() -> None:
    rng = np.random.default_rng(5)
    t, r = 4000, 1500
    src = rng.standard_normal((1, 1, t)).astype(np.float32)
    mixed = decaying_rirs(rng, (3, 2, r))
    mixed[..., 1200:] = 0  # an int16 tail that rounded to zero: those taps are skipped
    whole = derive_clips(src, mixed, np.zeros_like(mixed), 0.0)
    same_bytes = []
    # the whole clip, windows before, across and after the taps' reach, one sample, empty, and the clip's end
    for a, b in ((0, t), (0, 700), (100, 1100), (1199, 2300), (1700, 2400), (3000, 4000), (2500, 2501), (9, 9)):
        win = derive_window(src, mixed, a, b)
        assert win.shape == (3, 2, b - a) and win.dtype == np.float32
        ref = whole[..., a:b]
        # float64 convolutions of two FFT sizes, cast to float32: equal to within a float32 rounding step
        assert np.all(np.abs(win - ref) <= np.spacing(np.abs(ref)) + 1e-12), (a, b)
        same_bytes.append(np.mean(win == ref) if b > a else 1.0)
    assert np.mean(same_bytes) > 0.95  # nearly every sample has the same bytes as the whole clip's
    with pytest.raises(ValueError, match="outside a clip"):
        derive_window(src, mixed, 10, t + 1)
    # the batched torch derivation of the training device (float32 FFT) gives the same windows
    for a, b in ((0, 700), (1700, 2400)):
        seg = torch.from_numpy(np.stack([source_segment(src[0, 0], a, b, r)] * 2))
        got = derive_batch(seg, torch.from_numpy(np.stack([mixed, mixed]))).numpy()
        assert got.shape == (2, 3, 2, b - a)
        assert np.max(np.abs(got - whole[None, ..., a:b])) < 1e-5 * np.abs(whole).max()


def test_training_windows_are_derived_alone_or_on_the_device_as_from_the_whole_clip(twin_renders) -> None:
    compact, ref = open_render(twin_renders["compact"]), open_render(twin_renders["float32"])

    def close(a, b, rel=1e-6):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape and np.sum((a - b) ** 2) <= rel * np.sum(b**2), (a.shape, b.shape)

    with h5py.File(compact.shard(compact.splits["train"][0]), "r") as f:
        whole = read_binaural(f, 0, [0, 1], 1)
        for a, b in ((0, 10080), (20000, 30080), (30720, 40800)):
            assert np.max(np.abs(read_binaural(f, 0, [0, 1], 1, a, b) - whole[..., a:b])) <= 1e-6 * np.abs(
                whole).max()
    for prob in (0.0, 1.0):  # stored crops, and crops re-rendered from another item's utterance
        kw = {"train": True, "reconvolve_prob": prob, "clip_samples": 16000, "seed": 4}
        loader, device = RenderViewSets(compact, "train", **kw), RenderViewSets(compact, "train", **kw)
        assert device.defer_derivation() and not RenderViewSets(ref, "train", **kw).defer_derivation()
        assert not RenderViewSets(compact, "val").defer_derivation()  # evaluation items are read whole
        for epoch in (1, 2):
            loader.set_epoch(epoch)
            device.set_epoch(epoch)
            items = [loader[i] for i in range(len(loader))]
            raw = [device[i] for i in range(len(device))]
            assert "audio" not in raw[0] and raw[0]["derive_source"].shape == (16000 + 16000 - 1,)
            batch = device.finish_batch(torch.utils.data.default_collate(raw))
            assert set(batch) == set(items[0]) and "derive_rir" not in batch
            close(batch["audio"].numpy(), np.stack([x["audio"].numpy() for x in items]))
            assert torch.equal(batch["azimuth_deg"], torch.stack([x["azimuth_deg"] for x in items]))
    info = open_binaural_dataset(twin_renders["compact"])
    loader = BinauralClips(info, "train", train=True, negatives=True, seed=2)
    device = BinauralClips(info, "train", train=True, negatives=True, seed=2)
    assert device.defer_derivation()
    items = [loader[i] for i in range(len(loader))]
    batch = device.finish_batch(torch.utils.data.default_collate([device[i] for i in range(len(device))]))
    assert set(batch) == set(items[0])
    for key in ("mono", "binaural", "neg_mono", "neg_binaural"):
        close(batch[key].numpy(), np.stack([x[key].numpy() for x in items]))
    assert torch.equal(batch["image"], torch.stack([x["image"] for x in items]))


def test_storage_option_of_the_cli(tmp_path: Path) -> None:
    base = ["render", "--scenes", "3", "--sets-per-scene", "1", "--views", "2", "--sources", "1", "--no-views",
            "--preset", "fast", "--quiet"]
    bad = subprocess.run([SIMKIT, *base, "--out", str(tmp_path / "a"), "--storage", "mp3"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: unknown storage 'mp3' (known: compact, float32)"
    assert not (tmp_path / "a").exists()
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"storage": "mp3"}')
    bad = subprocess.run([SIMKIT, *base, "--out", str(tmp_path / "a"), "--config", str(cfg)], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == ("error: config field storage: unknown storage 'mp3' "
                                                          "(known: compact, float32)")
    assert not (tmp_path / "a").exists()
    cfg.write_text('{"storage": "float32"}')  # a preset by name in a config file, as on the command line
    ok = subprocess.run([SIMKIT, *base, "--out", str(tmp_path / "b"), "--config", str(cfg)], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    again = subprocess.run([SIMKIT, *base, "--out", str(tmp_path / "b"), "--storage", "float32"],
                           capture_output=True, text=True)
    assert again.returncode == 0 and "skipped 3 already complete" in again.stdout, again.stderr
    other = subprocess.run([SIMKIT, *base, "--out", str(tmp_path / "b")], capture_output=True, text=True)
    assert other.returncode == 2 and "holds a dataset with another config" in other.stderr
    shard = next((tmp_path / "b" / "shards").glob("*.h5"))
    with h5py.File(shard) as f:
        assert f["audio/binaural"].dtype == np.float32 and f["rir/direct"].dtype == np.float32


def test_bench_derives_compact_clips_where_derive_on_says(twin_renders, tmp_path: Path, monkeypatch) -> None:
    from types import SimpleNamespace

    from simkit.bench import harness
    from simkit.bench.config import make_config
    from simkit.bench.harness import derive_on, run_bench

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    auto = SimpleNamespace(derive_on="auto")
    assert (derive_on(auto, cpu), derive_on(auto, cuda)) == ("loader", "device")
    assert derive_on(SimpleNamespace(derive_on="loader"), cuda) == "loader"
    with pytest.raises(SimkitError, match="derive_on must be one of auto, loader, device"):
        derive_on(SimpleNamespace(derive_on="gpu"), cpu)
    for where in ("device", "loader"):
        cfg = make_config(quick=True, data=str(twin_renders["compact"]), results=str(tmp_path / where),
                          device="cpu", model="ours_full", epochs=1, max_steps=2, cpu_threads=1)
        monkeypatch.setattr(harness, "derive_on", lambda cfg, device, where=where: where)  # no field yet
        (r,) = run_bench(cfg)
        assert [h["clips_derived_on"] for h in r.history] == [where]
        assert r.history[0]["items"] == 2 and np.isfinite(r.history[0]["train_loss"])  # 1 set x 2 sources


def test_shard_file_serves_what_h5py_reads_and_looks_each_name_up_once(tiny_render):
    """ShardFile keeps bulky datasets' h5py objects and whether a name exists (an h5py path lookup costs
    about a small read); what it serves equals h5py's own reads, absent names stay absent, and it opens
    the file without a chunk cache (each item reads a chunk once)."""
    from simkit.data.datasets.base import ShardFile

    path = next((tiny_render / "shards").glob("*.h5"))
    f = ShardFile(path)
    assert f.file.id.get_access_plist().get_cache()[2] == 0  # rdcc_nbytes
    with h5py.File(path, "r") as ref:
        for name, index in (("views/rgb", (1, 2)), ("rir/direct", (0, 1, 1)), ("audio/source", (2, 0))):
            ds = f[name]
            assert isinstance(ds, h5py.Dataset) and f[name] is ds  # one lookup, then the same object
            assert np.array_equal(ds[index], ref[name][index])
        assert np.array_equal(f["poses/yaw_deg"], ref["poses/yaw_deg"][()])  # small: served from memory
        assert ("audio/binaural" in f) is ("audio/binaural" in ref) is False  # compact: derived, not stored
        assert ("rir/direct" in f) and ("audio/binaural" not in f)  # cached answers stay the same
