"""Bytes per view set, clip SNR, RT60 change and DataLoader read speed of the shard storage options.

Renders a small real set once with ``--storage float32`` (views on, the default ``efficient`` preset), then
rewrites every shard with each storage option (simkit.data.storage) through the contract's writer and
measures against the float32 original: bytes per view set (whole file, and per group), the SNR of the clips
a reader gets (stored, or derived on read as source ⊛ mixed RIR) - mean and worst clip -, the RT60 (T30 of
the decoded mixed RIR) change, and items/s of the ``direction`` task's RenderViewSets through a torch
DataLoader (batch 8, 0 and 2 workers; every view set, all V views and S sources) and the median CPU time
to read one item in-process (the figure that does not depend on other jobs sharing the machine), and the
loader CPU ms per item of each task's items as ``simkit bench`` builds them (:func:`task_cpu_ms`: direction
training items, 2.55 s crops of all V views, with and without online re-rendering; binaural training items,
0.63 s windows, with and without a negative pair; evaluation items, whole clips).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_storage.py --scenes 4 --sets 4 --out bench_storage.json

``--datasets DIR [DIR ...]`` measures only the per-task loader CPU of existing datasets (the first is the
reference of the ratio column), e.g. a float32 and a compact render of the same scenes:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_storage.py --datasets out/f32 out/compact --items 500
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any
from unittest import mock

import h5py
import numpy as np

from simkit.acoustics import rt60_t30_batch
from simkit.conventions import SPLITS
from simkit.data import schema
from simkit.data.storage import FLOAT32, StorageConfig, read_binaural, read_mixed_rir
from simkit.data.writer import write_shard
from simkit.io import atomic_write_json, package_versions
from simkit.render.config import RenderConfig
from simkit.render.pipeline import render_dataset

# name -> (codec, gzip level, chunking); "per item" is the writer's, "per set" one chunk per set and dataset
OPTIONS: dict[str, tuple[StorageConfig, int, str]] = {
    "float32": (FLOAT32, 4, "per item"),
    "clips int16": (dataclasses.replace(FLOAT32, clips="int16"), 4, "per item"),
    "clips float16": (dataclasses.replace(FLOAT32, clips="float16"), 4, "per item"),
    "derived, f32 RIR/src": (dataclasses.replace(FLOAT32, clips="derived"), 4, "per item"),
    "derived, f16 RIR/src": (StorageConfig(rir="float16", source="float16", rir_floor_db=0.0), 4, "per item"),
    "derived, i16, floor 90": (StorageConfig(rir_floor_db=90.0), 4, "per item"),
    "derived, i16, floor 60": (StorageConfig(rir_floor_db=60.0), 4, "per item"),
    "compact (default)": (StorageConfig(), 4, "per item"),
    "compact, gzip 1": (StorageConfig(), 1, "per item"),
    "compact, gzip 9": (StorageConfig(), 9, "per item"),
    "compact, per-set chunks": (StorageConfig(), 4, "per set"),
}
BULK = ("audio", "rir", "views")


def _per_set_chunks(shape: tuple[int, ...], sym: tuple, itemsize: int = 4) -> tuple[int, ...] | bool:
    """One chunk per set: the item dimensions other than N whole."""
    if not shape or int(np.prod(shape[1:])) * itemsize < schema.SMALL_ITEM_BYTES:
        return True
    return (1, *shape[1:]) if sym and sym[0] == "N" else True


def _read_all(path: Path) -> tuple[dict[str, np.ndarray], dict, dict, list[str]]:
    with h5py.File(path, "r") as f:
        arrays: dict[str, np.ndarray] = {}

        def grab(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                arrays[name] = np.char.decode(data, "utf-8").astype(object) if data.dtype.kind == "S" else data

        f.visititems(grab)
        attrs = {k: f.attrs[k] for k in f.attrs if k not in ("complete", "schema_version", "storage", "groups")}
        group_attrs = {g: dict(f[g].attrs) for g in ("views",) if g in f}
        groups = str(f.attrs["groups"]).split(",")
    return arrays, attrs, group_attrs, groups


def _group_bytes(path: Path) -> dict[str, int]:
    out = dict.fromkeys(BULK, 0)
    with h5py.File(path, "r") as f:
        def add(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset) and name.split("/")[0] in out:
                out[name.split("/")[0]] += obj.id.get_storage_size()

        f.visititems(add)
    return out


def _loader_speed(root: Path, workers: int, min_seconds: float = 2.0) -> float:
    """Items/s over whole passes of one split after a warm-up pass (worker start-up not counted)."""
    from torch.utils.data import DataLoader

    from simkit.data.datasets.direction import RenderViewSets, open_render

    info = open_render(root)
    split = next(s for s in SPLITS if info.splits[s])
    loader = DataLoader(RenderViewSets(info, split), batch_size=8, shuffle=False, num_workers=workers,
                        persistent_workers=workers > 0)
    for _ in loader:  # warm-up: workers started, files opened and cached
        pass
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < min_seconds:
        for batch in loader:
            n += len(batch["audio"])
    return n / (time.perf_counter() - t0)


def _read_cpu_ms(root: Path, repeats: int = 3) -> float:
    """Median CPU ms (this process) to read one item of RenderViewSets: robust to other jobs on the machine."""
    from simkit.data.datasets.direction import RenderViewSets, open_render

    info = open_render(root)
    ds = RenderViewSets(info, next(s for s in SPLITS if info.splits[s]))
    ds[0]  # open the file
    times = []
    for _ in range(repeats):
        for i in range(len(ds)):
            t0 = time.process_time()
            ds[i]
            times.append(time.process_time() - t0)
    return float(np.median(times) * 1e3)


def task_datasets(root: Path) -> dict[str, Any]:
    """:func:`_base_datasets`, and each training one again with its derivation deferred to the device
    (``derive_on device``, simkit bench's default on CUDA: the loader only reads; a dataset that stores its
    clips cannot defer and reads them as in the row above)."""
    out = _base_datasets(root)
    for name, ds in _base_datasets(root).items():  # fresh objects: deferring one leaves the other as it was
        if "train" in name:
            ds.defer_derivation()
            out[f"{name} [derive on device]"] = ds
    return out


def _base_datasets(root: Path) -> dict[str, Any]:
    """The items each task reads from ``root``, built as ``simkit bench`` builds them with its defaults
    (BenchConfig: features.clip_seconds 2.55, reconvolve_prob 0.5, views_per_item 0; binaural window 0.63 s).
    The binaural rows need a render with visible sources (``--visible-sources``); other renders give none."""
    from simkit.bench.config import BenchConfig
    from simkit.data.datasets.binaural import BinauralClips, open_binaural_dataset, visible_sources
    from simkit.data.datasets.direction import RenderViewSets, open_render

    cfg = BenchConfig()
    info = open_render(root)
    clip = int(round(cfg.features.clip_seconds * info.sample_rate))
    out: dict[str, Any] = {
        "direction train": RenderViewSets(info, "train", clip_samples=clip, train=True,
                                          reconvolve_prob=cfg.reconvolve_prob),
        "direction train, no rerender": RenderViewSets(info, "train", clip_samples=clip, train=True),
        "direction eval (whole clip)": RenderViewSets(info, "val"),
    }
    if "views" in info.groups and visible_sources(info):  # the binaural tasks refuse sources in free air
        binfo = open_binaural_dataset(root)
        out |= {
            "binaural train": BinauralClips(binfo, "train", train=True),
            "binaural train, negatives": BinauralClips(binfo, "train", train=True, negatives=True),
            "binaural eval (whole clip)": BinauralClips(binfo, "val"),
        }
    return out


def task_cpu_ms(root: Path, items: int = 500) -> dict[str, float]:
    """Loader CPU ms per item (this process; CPU time, not wall) of each task's items (:func:`task_datasets`)
    over ``items`` reads, cycling through the split with a new epoch (new crops) per pass."""
    out = {}
    for name, ds in task_datasets(root).items():
        ds[0]  # open the shards and warm the caches
        t0 = time.process_time()
        for i in range(items):
            ds.set_epoch(1 + i // len(ds))
            ds[i % len(ds)]
        out[name] = (time.process_time() - t0) / items * 1e3
    return out


def print_task_table(roots: list[Path], ms: list[dict[str, float]]) -> None:
    """Per-task loader CPU ms per item of each dataset and its ratio to the first."""
    print(f"{'items':<46}" + "".join(f"{r.name[-16:]:>18}" for r in roots) + "   ratio to the first")
    for name in ms[0]:
        vals = [m.get(name, float("nan")) for m in ms]
        ratios = "  ".join(f"{v / vals[0]:.2f}x" for v in vals[1:])
        print(f"{name:<46}" + "".join(f"{v:>18.2f}" for v in vals) + f"   {ratios}")
    print("(loader CPU ms per item, in-process, time.process_time; BenchConfig's defaults; [derive on device]: "
          "the item carries source samples and RIRs, the convolution runs on the training device)")


def run(work: Path, scenes: list[str], sets: int) -> dict:
    """Render ``scenes`` x ``sets`` once in float32 under ``work``, rewrite it with every option, measure."""
    ref_dir = work / "float32-render"
    if ref_dir.exists():
        shutil.rmtree(ref_dir)
    cfg = RenderConfig(scenes=list(scenes), sets_per_scene=sets, storage=FLOAT32)
    t0 = time.perf_counter()
    render_dataset(cfg, ref_dir, progress=True)
    render_s = time.perf_counter() - t0
    shards = sorted((ref_dir / "shards").glob("*.h5"))
    ref = {p.stem: _read_all(p) for p in shards}
    n_sets = sum(len(a["poses/yaw_deg"]) for a, *_ in ref.values())
    rows = []
    for label, (codec, level, chunking) in OPTIONS.items():
        out = work / "options" / "".join(c if c.isalnum() else "-" for c in label)
        if out.exists():
            shutil.rmtree(out)
        (out / "shards").mkdir(parents=True)
        for name in ("manifest.json", "summary.json", "splits"):
            src = ref_dir / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, out / name)
        snr, rt_dev, size, groups, write_s = [], [], 0, dict.fromkeys(BULK, 0), 0.0
        chunker = _per_set_chunks if chunking == "per set" else schema.chunks
        for scene, (arrays, attrs, gattrs, shard_groups) in ref.items():
            path = out / "shards" / f"{scene}.h5"
            t0 = time.process_time()
            with mock.patch("simkit.data.writer.chunks", chunker):
                write_shard(path, arrays, attrs, groups=shard_groups, compression=level, group_attrs=gattrs,
                            storage=codec)
            write_s += time.process_time() - t0
            size += path.stat().st_size
            for k, v in _group_bytes(path).items():
                groups[k] += v
            with h5py.File(path, "r") as f:
                n, v, s = arrays["labels/azimuth_deg"].shape
                for i in range(n):
                    for j in range(s):
                        clip = read_binaural(f, i, np.arange(v), j).astype(np.float64)
                        truth = arrays["audio/binaural"][i, :, j].astype(np.float64)
                        err = np.sum((clip - truth) ** 2, axis=(-2, -1))
                        sig = np.sum(truth**2, axis=(-2, -1))
                        snr.extend(np.where(err == 0, np.inf, 10 * np.log10(sig / np.maximum(err, 1e-300))))
                        rt = rt60_t30_batch(read_mixed_rir(f, i, range(v), j), int(attrs["sample_rate"])).mean(-1)
                        rt_ref = arrays["rir/rt60"][i, :, j]
                        ok = np.isfinite(rt) & np.isfinite(rt_ref)
                        rt_dev.extend(np.abs(rt[ok] / rt_ref[ok] - 1) * 100)
        snr_a = np.array(snr)
        finite = snr_a[np.isfinite(snr_a)]
        row = {
            "option": label, **dataclasses.asdict(codec), "gzip": level, "chunks": chunking,
            "mb_per_view_set": size / n_sets / 1e6,
            **{f"{g}_mb_per_set": b / n_sets / 1e6 for g, b in groups.items()},
            "clip_snr_db_mean": float(finite.mean()) if finite.size else None,
            "clip_snr_db_min": float(snr_a.min()) if finite.size else None,
            "clips_bit_exact": bool(np.all(np.isinf(snr_a))),
            "rt60_dev_mean_pct": float(np.mean(rt_dev)), "rt60_dev_max_pct": float(np.max(rt_dev)),
            "write_cpu_s_per_set": write_s / n_sets,
            "read_cpu_ms_per_item": _read_cpu_ms(out),
            "task_cpu_ms_per_item": task_cpu_ms(out, 200),
            "loader_items_per_s_w0": _loader_speed(out, 0),
            "loader_items_per_s_w2": _loader_speed(out, 2),
        }
        rows.append(row)
        print(f"  {label}: {row['mb_per_view_set']:.3f} MB/set", flush=True)
    return {
        "rows": rows,
        "setup": {"scenes": list(scenes), "sets_per_scene": sets, "view_sets": n_sets,
                  "views": cfg.sampling.views, "sources": cfg.sampling.sources, "preset": cfg.acoustics.preset,
                  "view_size": [cfg.views.camera.width, cfg.views.camera.height], "render_wall_s": render_s,
                  "loader": "RenderViewSets, batch 8, every item of one split"},
        "bound_mb_per_view_set": 1.0,
        "versions": package_versions(),
    }


def print_table(result: dict) -> None:
    head = (f"{'option':<25}{'MB/set':>7}{'audio':>7}{'rir':>7}{'views':>7}{'SNR dB mean/min':>17}"
            f"{'|dRT60| % mean/max':>20}{'write s':>8}{'read ms':>8}{'items/s w0/w2':>15}")
    print(head)
    print("-" * len(head))
    for r in result["rows"]:
        snr = "exact" if r["clips_bit_exact"] else f"{r['clip_snr_db_mean']:.1f}/{r['clip_snr_db_min']:.1f}"
        print(f"{r['option']:<25}{r['mb_per_view_set']:>7.3f}{r['audio_mb_per_set']:>7.3f}{r['rir_mb_per_set']:>7.3f}"
              f"{r['views_mb_per_set']:>7.3f}{snr:>17}"
              f"{r['rt60_dev_mean_pct']:>11.4f}/{r['rt60_dev_max_pct']:<8.4f}{r['write_cpu_s_per_set']:>8.3f}"
              f"{r['read_cpu_ms_per_item']:>8.1f}"
              f"{r['loader_items_per_s_w0']:>9.0f}/{r['loader_items_per_s_w2']:<5.0f}")
    s = result["setup"]
    print(f"({len(s['scenes'])} scenes x {s['sets_per_scene']} sets = {s['view_sets']} view sets of {s['views']} "
          f"views x {s['sources']} sources, views {s['view_size'][0]}x{s['view_size'][1]}, preset {s['preset']}; "
          f"SNR and RT60 against the float32 render; write = CPU s per view set of the shard writer; read = median "
          f"CPU ms per item (V clips) in-process; items/s = DataLoader wall rate, batch 8, 0 / 2 workers)")
    tasks = [r for r in result["rows"] if "task_cpu_ms_per_item" in r]
    if tasks:
        print()
        names = list(tasks[0]["task_cpu_ms_per_item"])
        print(f"{'option':<25}" + "".join(f"{f'T{i + 1}':>7}" for i in range(len(names))))
        for r in tasks:
            print(f"{r['option']:<25}" + "".join(f"{r['task_cpu_ms_per_item'][k]:>7.2f}" for k in names))
        print("(loader CPU ms per item, simkit bench's defaults, task_cpu_ms: "
              + "; ".join(f"T{i + 1} {k}" for i, k in enumerate(names)) + ")")


def main() -> None:
    from simkit.scenes.catalog import resolve_scenes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="out/bench-storage", help="the render and its rewritten copies go here")
    ap.add_argument("--scenes", type=int, default=4, help="a split-preserving subset of the embedded scenes")
    ap.add_argument("--sets", type=int, default=4, help="view sets per scene")
    ap.add_argument("--out", default="bench_storage.json")
    ap.add_argument("--datasets", nargs="+", type=Path, help="only the per-task loader CPU of these datasets")
    ap.add_argument("--items", type=int, default=500, help="reads per task for --datasets")
    args = ap.parse_args()
    if args.datasets:
        ms = [task_cpu_ms(d, args.items) for d in args.datasets]
        print_task_table(args.datasets, ms)
        atomic_write_json(args.out, {"datasets": [str(d) for d in args.datasets], "items": args.items,
                                     "task_cpu_ms_per_item": ms, "versions": package_versions()})
        print(f"wrote {args.out}")
        return
    result = run(Path(args.work), resolve_scenes(str(args.scenes)), args.sets)
    print_table(result)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
