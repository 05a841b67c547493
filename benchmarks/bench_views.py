"""CPU-ms per view of the ray-cast camera (RGB + depth + instances), the current code against the code before
the vectorised rewrite (benchmarks/views_reference.py, commit d056469), on embedded procedural scenes.

For each scene, sample view sets as the render does and time, with ``time.process_time`` (this process's
CPU time, all its threads: OpenBLAS's spinning workers count), old and new interleaved per repeat:

* ``views``: ``render_views`` of a whole 4-view set (the render's views stage for one kept set);
* its sub-stages, each run alone on the same inputs: ``rays`` (pixel rays rotated to the pose), ``cast``
  (``first_hit``: normalisation + Embree; the new code's two per run of pixels, as the camera calls them),
  ``albedo`` (procedural texture / texture lookup of the hits) and
  ``shade+out`` (the rest: hit points, normals, instance labels, Lambert shading, uint8 output);
* ``coarse``: the depth-only look at 1/8 resolution the render takes before each full render;
* ``filters``: the HM3D-SS view filters (``view_set_ok``) on the rendered set (unchanged code, once).

Medians over repeats and sets, per view; both implementations must give identical bytes (checked here too).

    PYTHONPATH=. nice -n 5 .venv/bin/python benchmarks/bench_views.py --out bench_views.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from simkit.conventions import yaw_pitch_to_matrix
from simkit.io import atomic_write_json, package_versions
from simkit.render.config import SamplingConfig
from simkit.render.sampling import sample_view_set
from simkit.scenes.catalog import load_scene
from simkit.scenes.raycast import RayCaster
from simkit.vision import camera
from simkit.vision.camera import CameraConfig, render_depths, render_views
from simkit.vision.config import ViewFilterConfig
from simkit.vision.filters import view_set_ok

sys.path.insert(0, str(Path(__file__).resolve().parent))
import views_reference as ref  # noqa: E402

STAGES = ("views", "rays", "cast", "albedo", "shade+out", "coarse")


def _cpu_ms(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1e3


def _runs(fn: Callable[[np.ndarray], object], rows: np.ndarray) -> None:
    """``fn`` on each run of ``camera._CHUNK`` rows, as the camera processes a view."""
    for s in range(0, len(rows), camera._CHUNK):
        fn(rows[s:s + camera._CHUNK])


def _hits(scene, caster, position, yaw, cfg):
    """Inputs of the albedo stage for one view: hit faces, points (float64) and viewer-side normals."""
    local = camera._pixel_rays(cfg.width, cfg.height, float(cfg.hfov_deg)).reshape(-1, 3)
    dirs = camera._rotate_rays(local, yaw_pitch_to_matrix(yaw, cfg.pitch_deg))
    dist, face = caster.first_hit(position, dirs)
    hi = np.flatnonzero(face >= 0)
    fh, d = face[hi], dirs[hi]
    pts = position + d * dist[hi][:, None].astype(np.float64)
    nrm = caster.face_normals[fh].astype(np.float32)
    nrm *= np.where(np.einsum("ij,ij->i", nrm, d) > 0, -1.0, 1.0).astype(np.float32)[:, None]
    return fh, pts, nrm


def _stage_times(impl: str, scene, caster, vs, cfg, coarse) -> dict[str, float]:
    """CPU-ms per view of every stage for one view set, implementation ``impl`` ("old" or "new")."""
    n = vs.n_views
    rv, rd = (ref.render_views, ref.render_depths) if impl == "old" else (render_views, render_depths)
    out = {"views": _cpu_ms(lambda: rv(scene, caster, vs.positions, vs.yaws_deg, cfg)) / n,
           "coarse": _cpu_ms(lambda: rd(caster, vs.positions, vs.yaws_deg, coarse)) / n}
    local = camera._pixel_rays(cfg.width, cfg.height, float(cfg.hfov_deg)).reshape(-1, 3)
    rays, cast, alb = 0.0, 0.0, 0.0
    table = camera._tables(scene, caster).faces
    for pos, yaw in zip(vs.positions, vs.yaws_deg, strict=True):
        rot = yaw_pitch_to_matrix(float(yaw), cfg.pitch_deg)
        dirs = camera._rotate_rays(local, rot)
        fh, pts, nrm = _hits(scene, caster, pos, float(yaw), cfg)
        if impl == "old":
            rays += _cpu_ms(lambda rot=rot: (local @ rot.T).astype(np.float32))
            cast += _cpu_ms(lambda pos=pos, dirs=dirs: ref.first_hit(caster, pos, dirs))
            alb += _cpu_ms(lambda fh=fh, pts=pts, nrm=nrm: ref.albedo(scene, fh, pts, nrm))
        else:  # rays and cast as the camera runs them: per run of camera._CHUNK pixels
            rays += _cpu_ms(lambda rot=rot: _runs(lambda a: camera._rotate_rays(a, rot), local))
            cast += _cpu_ms(lambda pos=pos, dirs=dirs: _runs(lambda a: caster.first_hit(pos, a), dirs))
            alb += _cpu_ms(lambda fh=fh, pts=pts, nrm=nrm: camera.albedo(scene, fh, pts, nrm, table))
    out.update(rays=rays / n, cast=cast / n, albedo=alb / n)
    out["shade+out"] = out["views"] - out["rays"] - out["cast"] - out["albedo"]
    return out


def bench(scene_ids: list[str], sets: int, repeats: int, seed: int, width: int, height: int) -> dict:
    cfg = CameraConfig(width=width, height=height)
    coarse = replace(cfg, width=max(8, width // 8), height=max(6, height // 8))  # as the render's first look
    rows = []
    for sid in scene_ids:
        scene = load_scene(sid)
        caster = RayCaster(scene)
        rng = np.random.default_rng(seed)
        view_sets = [sample_view_set(scene, SamplingConfig(), rng, caster) for _ in range(sets)]
        for vs in view_sets:  # warm caches; identical bytes or the comparison is void
            a = ref.render_views(scene, caster, vs.positions, vs.yaws_deg, cfg)
            b = render_views(scene, caster, vs.positions, vs.yaws_deg, cfg)
            for x, y in ((a.rgb, b.rgb), (a.depth, b.depth), (a.instance, b.instance)):
                if x.tobytes() != y.tobytes():
                    raise SystemExit(f"error: {sid}: old and new views differ")
        times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
        filters = []
        for _ in range(repeats):
            for vs in view_sets:
                for impl in ("old", "new"):
                    for k, v in _stage_times(impl, scene, caster, vs, cfg, coarse).items():
                        times[impl].setdefault(k, []).append(v)
                v = render_views(scene, caster, vs.positions, vs.yaws_deg, cfg)
                filters.append(_cpu_ms(lambda v=v: view_set_ok(v.depth, v.instance, ViewFilterConfig())) / vs.n_views)
        row = {"scene": sid, "faces": len(scene.faces), "filters_ms": float(np.median(filters))}
        for impl in ("old", "new"):
            row[impl] = {k: float(np.median(v)) for k, v in times[impl].items()}
        rows.append(row)
        print(f"{sid} ({len(scene.faces)} faces): views {row['old']['views']:.1f} -> {row['new']['views']:.1f} "
              f"CPU-ms/view ({row['old']['views'] / row['new']['views']:.1f}x)", flush=True)
    summary = {impl: {k: float(np.median([r[impl][k] for r in rows])) for k in STAGES} for impl in ("old", "new")}
    summary["filters_ms"] = float(np.median([r["filters_ms"] for r in rows]))
    summary["speedup_views"] = summary["old"]["views"] / summary["new"]["views"]
    return {
        "width": width, "height": height, "sets": sets, "repeats": repeats, "seed": seed,
        "rows": rows, "summary": summary,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "processor": platform.processor(),
                    "load_average": os.getloadavg()},
        "versions": package_versions(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", default="proc_000,proc_042,proc_085", help="comma list of scene ids")
    ap.add_argument("--sets", type=int, default=2, help="view sets (of 4 views) per scene")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="320x240", help="view size WxH")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    try:
        width, height = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        raise SystemExit(f"error: --size must be WxH, got {args.size!r}") from None
    result = bench([s.strip() for s in args.scenes.split(",") if s.strip()], args.sets, args.repeats, args.seed,
                   width, height)
    s = result["summary"]
    load = result["machine"]["load_average"][0]
    print(f"\nCPU-ms per view, {width}x{height}, median over scenes (load average {load:.1f})")
    print(f"{'stage':<10} {'old':>8} {'new':>8} {'speedup':>8}")
    for k in STAGES:
        print(f"{k:<10} {s['old'][k]:8.2f} {s['new'][k]:8.2f} {s['old'][k] / max(s['new'][k], 1e-9):7.1f}x")
    print(f"{'filters':<10} {s['filters_ms']:8.2f} {s['filters_ms']:8.2f}  (unchanged code)")
    if args.out:
        atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
