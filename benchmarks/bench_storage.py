"""Bytes per view set, clip SNR, RT60 change and DataLoader read speed of the shard storage options.

Renders a small real set once with the float32 layout (views on, ``efficient`` preset; cached in ``--work``),
then rewrites every shard with each storage option (simkit.data.storage) and measures against the float32
original: bytes per view set (whole file, and per group), the SNR of the clips a reader gets (stored, or
derived on read as source ⊛ mixed RIR), the RT60 (T30 of the decoded mixed RIR) change, and items/s of the
``direction`` task's RenderViewSets through a DataLoader (batch 8, 0 and 2 workers).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_storage.py --scenes 4 --sets 4 --out bench_storage.json
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path

import h5py
import numpy as np

from simkit.acoustics import rt60_t30_batch
from simkit.config import AcousticsConfig, RenderConfig
from simkit.data.storage import LEGACY, StorageConfig, read_binaural, read_rir
from simkit.io import atomic_write_json
from simkit.render.pipeline import render_dataset
from simkit.render.shard import write_shard
from simkit.scenes.catalog import resolve_scenes

OPTIONS: dict[str, tuple[StorageConfig, int]] = {  # name -> (codec, gzip level)
    "float32 (schema 1)": (LEGACY, 4),
    "clips int16": (dataclasses.replace(LEGACY, clips="int16"), 4),
    "clips float16": (dataclasses.replace(LEGACY, clips="float16"), 4),
    "derived, float32 RIR/src": (dataclasses.replace(LEGACY, clips="derived"), 4),
    "derived, f16 RIR, i16 src": (StorageConfig(rir="float16", rir_floor_db=0.0), 4),
    "derived, i16 RIR/src": (StorageConfig(rir_floor_db=0.0), 4),
    "derived, i16, floor 60dB": (StorageConfig(rir_floor_db=60.0), 4),
    "default (i16, floor 90dB)": (StorageConfig(), 4),
    "default, gzip 1": (StorageConfig(), 1),
    "default, gzip 9": (StorageConfig(), 9),
}
BULK = ("audio", "rir", "views")


def _read_all(path: Path) -> tuple[dict[str, np.ndarray], dict, dict]:
    with h5py.File(path, "r") as f:
        arrays: dict[str, np.ndarray] = {}

        def grab(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                arrays[name] = data.astype(str) if obj.dtype.kind == "O" else data

        f.visititems(grab)
        attrs = {k: f.attrs[k] for k in f.attrs if k not in ("complete", "schema_version", "storage")}
        groups = {g: dict(f[g].attrs) for g in ("views",) if g in f}
    return arrays, attrs, groups


def _group_bytes(path: Path) -> dict[str, int]:
    out = dict.fromkeys(BULK, 0)
    with h5py.File(path, "r") as f:
        def add(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset) and name.split("/")[0] in out:
                out[name.split("/")[0]] += obj.id.get_storage_size()

        f.visititems(add)
    return out


def _loader_speed(root: Path, workers: int, batches: int = 12) -> float:
    from torch.utils.data import DataLoader

    from simkit.data.render_dataset import RenderViewSets, open_render

    ds = RenderViewSets(open_render(root), "train")
    loader = DataLoader(ds, batch_size=8, shuffle=False, num_workers=workers)
    t0, n = time.perf_counter(), 0
    for i, batch in enumerate(loader):
        n += len(batch["audio"])
        if i + 1 >= batches:
            break
    return n / (time.perf_counter() - t0)


def run(work: Path, n_scenes: int, sets: int) -> dict:
    ref_dir = work / "float32"
    cfg = RenderConfig(scenes=resolve_scenes(str(n_scenes)), sets_per_scene=sets,
                       acoustics=AcousticsConfig(preset="efficient"), storage=LEGACY)
    render_dataset(cfg, ref_dir, workers=1, progress=True)
    shards = sorted((ref_dir / "shards").glob("*.h5"))
    n_sets = sum(int(h5py.File(p, "r").attrs["n_sets"]) for p in shards)
    ref = {p.stem: _read_all(p) for p in shards}
    rows = []
    for label, (codec, level) in OPTIONS.items():
        out = work / "options" / label.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        if out.exists():
            shutil.rmtree(out)
        (out / "shards").mkdir(parents=True)
        for name in ("manifest.json", "summary.json", "splits"):
            src = ref_dir / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, out / name)
        snr, rt_dev, size, groups = [], [], 0, dict.fromkeys(BULK, 0)
        for scene, (arrays, attrs, gattrs) in ref.items():
            path = out / "shards" / f"{scene}.h5"
            write_shard(path, arrays, attrs, level, gattrs, codec)
            size += path.stat().st_size
            for k, v in _group_bytes(path).items():
                groups[k] += v
            with h5py.File(path, "r") as f:
                n, v, s = arrays["labels/azimuth_deg"].shape
                gain = np.float32(attrs["indirect_gain"])
                for i in range(n):
                    for j in range(s):
                        clip = read_binaural(f, i, np.arange(v), j)
                        truth = arrays["audio/binaural"][i, :, j].astype(np.float64)
                        err = np.sum((clip - truth) ** 2)
                        snr.append(np.inf if err == 0 else 10 * np.log10(np.sum(truth**2) / err))
                        mixed = np.stack([read_rir(f, "rir/direct", i, k, j) + gain * read_rir(
                            f, "rir/indirect", i, k, j) for k in range(v)])
                        rt = rt60_t30_batch(mixed, int(attrs["sample_rate"])).mean(axis=-1)
                        rt_ref = arrays["rir/rt60"][i, :, j]
                        ok = np.isfinite(rt) & np.isfinite(rt_ref)
                        rt_dev.extend(np.abs(rt[ok] / rt_ref[ok] - 1) * 100)
        snr_a = np.array(snr)
        row = {
            "option": label, **dataclasses.asdict(codec), "gzip": level,
            "mb_per_view_set": size / n_sets / 1e6,
            **{f"{g}_mb_per_set": b / n_sets / 1e6 for g, b in groups.items()},
            "clip_snr_db_mean": float(np.mean(snr_a[np.isfinite(snr_a)])) if np.isfinite(snr_a).any() else None,
            "clip_snr_db_min": float(np.min(snr_a)) if np.isfinite(snr_a).any() else None,
            "clips_bit_exact": bool(np.all(np.isinf(snr_a))),
            "rt60_dev_mean_pct": float(np.mean(rt_dev)), "rt60_dev_max_pct": float(np.max(rt_dev)),
            "loader_items_per_s_w0": _loader_speed(out, 0),
            "loader_items_per_s_w2": _loader_speed(out, 2),
        }
        rows.append(row)
        snr_text = "exact" if row["clips_bit_exact"] else f"{row['clip_snr_db_mean']:.1f}/{row['clip_snr_db_min']:.1f}"
        print(f"{label:<28}{row['mb_per_view_set']:>8.3f} MB/set  audio {row['audio_mb_per_set']:.3f} rir "
              f"{row['rir_mb_per_set']:.3f} views {row['views_mb_per_set']:.3f}  SNR {snr_text} dB  dRT60 "
              f"{row['rt60_dev_mean_pct']:.3f}/{row['rt60_dev_max_pct']:.3f} %  "
              f"read {row['loader_items_per_s_w0']:.0f}/{row['loader_items_per_s_w2']:.0f} items/s", flush=True)
    return {"rows": rows, "setup": {"scenes": n_scenes, "sets_per_scene": sets, "view_sets": n_sets,
                                    "views": 4, "sources": 3, "preset": "efficient"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="out/bench-storage", help="render and option copies go here")
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--sets", type=int, default=4)
    ap.add_argument("--out", default="bench_storage.json")
    args = ap.parse_args()
    result = run(Path(args.work), args.scenes, args.sets)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
