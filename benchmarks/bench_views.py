"""Seconds per view (RGB + depth + instances) of the ray-cast camera on embedded procedural scenes.

For each resolution, render the 4 views of sampled view sets (one batched ray cast per set, as the render
pipeline does) and report the median seconds per view, the single-view latency and the time of the view's
primary-ray cast alone (Embree through RayCaster.first_hit). Procedural texture is on (the default for these scenes).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_views.py --out bench_views.json
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from simkit.conventions import yaw_pitch_to_matrix
from simkit.io import atomic_write_json, package_versions
from simkit.render.config import SamplingConfig
from simkit.render.sampling import sample_view_set
from simkit.scenes.catalog import load_scene
from simkit.scenes.raycast import RayCaster
from simkit.vision.camera import CameraConfig, pixel_rays, render_view, render_views

RESOLUTIONS = ((320, 240), (960, 720))


def bench(scene_ids: list[str], sets: int, repeats: int, seed: int) -> dict:
    rows = []
    for sid in scene_ids:
        scene = load_scene(sid)
        caster = RayCaster(scene)
        rng = np.random.default_rng(seed)
        view_sets = [sample_view_set(scene, SamplingConfig(), rng, caster) for _ in range(sets)]
        for w, h in RESOLUTIONS:
            cfg = CameraConfig(width=w, height=h)
            render_views(scene, caster, view_sets[0].positions, view_sets[0].yaws_deg, cfg)  # warm caches
            per_view, single, embree = [], [], []
            for _ in range(repeats):
                for vs in view_sets:
                    t0 = time.perf_counter()
                    render_views(scene, caster, vs.positions, vs.yaws_deg, cfg)
                    per_view.append((time.perf_counter() - t0) / vs.n_views)
                    t0 = time.perf_counter()
                    render_view(scene, caster, vs.positions[0], float(vs.yaws_deg[0]), cfg)
                    single.append(time.perf_counter() - t0)
                    rays = pixel_rays(cfg).reshape(-1, 3) @ yaw_pitch_to_matrix(float(vs.yaws_deg[0]), cfg.pitch_deg).T
                    t0 = time.perf_counter()
                    caster.first_hit(vs.positions[0], rays)
                    embree.append(time.perf_counter() - t0)
            rows.append({
                "scene": sid, "width": w, "height": h, "faces": len(scene.faces),
                "seconds_per_view_batched": float(np.median(per_view)),
                "seconds_single_view": float(np.median(single)),
                "seconds_per_view_raycast_only": float(np.median(embree)),
            })
            print(f"{sid} {w}x{h}: {rows[-1]['seconds_per_view_batched'] * 1e3:.1f} ms/view batched, "
                  f"{rows[-1]['seconds_single_view'] * 1e3:.1f} ms single, "
                  f"{rows[-1]['seconds_per_view_raycast_only'] * 1e3:.1f} ms of it ray casting", flush=True)
    summary = {}
    for w, h in RESOLUTIONS:
        sel = [r for r in rows if r["width"] == w]
        summary[f"{w}x{h}"] = {
            "median_seconds_per_view": float(np.median([r["seconds_per_view_batched"] for r in sel])),
            "median_seconds_single_view": float(np.median([r["seconds_single_view"] for r in sel])),
        }
    return {
        "rows": rows, "summary": summary,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "processor": platform.processor()},
        "versions": package_versions(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", default="proc_000,proc_001,proc_002", help="comma list of scene ids")
    ap.add_argument("--sets", type=int, default=3, help="view sets (of 4 views) per scene")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    result = bench([s.strip() for s in args.scenes.split(",") if s.strip()], args.sets, args.repeats, args.seed)
    for res, s in result["summary"].items():
        print(f"{res}: {s['median_seconds_per_view']:.4f} s/view batched, "
              f"{s['median_seconds_single_view']:.4f} s single")
    if args.out:
        atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
