"""Where a view set's render time goes: sampling, views (+ HM3D-SS filter retries), acoustics, speech, write.

Run: ``.venv/bin/python benchmarks/bench_render_split.py [--scenes 6] [--sets 3] [--preset efficient]``.
Uses the pipeline's own functions on the embedded scenes (1 engine thread, as the render does) and reports
CPU seconds per kept view set for each stage (process time, so other jobs on a shared machine inflate it
less than wall time), the view-filter pass rate and the bytes written per view set. ``sampling`` is one
draw of the sampler times the draws a kept set needed; ``views`` is the rest of the filtered draw.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import simkit
from simkit.acoustics import rt60_t30_batch
from simkit.acoustics.config import AcousticsConfig
from simkit.audio.dsp import fft_convolve
from simkit.data.writer import write_shard
from simkit.io import atomic_write_json
from simkit.render.config import RenderConfig
from simkit.render.pipeline import _engine_objects, sample_filtered_set, scene_seed
from simkit.render.sampling import FloorSampler, sample_view_set
from simkit.scenes.catalog import load_scene, resolve_scenes
from simkit.scenes.raycast import RayCaster

STAGES = ("sampling", "views", "acoustics", "speech", "write")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenes", default="6")
    ap.add_argument("--sets", type=int, default=3)
    ap.add_argument("--preset", default="efficient")
    ap.add_argument("--out", default="", help="also write the figures as JSON here")
    args = ap.parse_args()
    cfg = RenderConfig(sets_per_scene=args.sets, acoustics=AcousticsConfig(preset=args.preset))
    backend, speech = _engine_objects(cfg)
    if backend.preset.shared_indirect:
        backend.foa_decoder()  # once per process, not per set
    ac = cfg.acoustics
    n_clip = int(round(cfg.speech.clip_seconds * ac.sample_rate))
    cost = {k: [] for k in STAGES}
    tries, passed, written = [], [], []
    tmp = Path(tempfile.mkdtemp(prefix="bench-split-"))
    clock = time.process_time
    for scene_id in resolve_scenes(args.scenes):
        c0 = clock()
        scene = load_scene(scene_id)
        caster = RayCaster(scene)
        floor = FloorSampler(scene, caster, cfg.sampling)
        setup = clock() - c0  # scene load + ray-caster build, shared by the scene's sets
        cols: dict[str, list] = {}
        for n in range(args.sets):
            rng = scene_seed(cfg.seed, scene_id, n)
            c0 = clock()
            sample_view_set(scene, cfg.sampling, np.random.default_rng([n, 99]), caster=caster, floor=floor)
            one_draw = clock() - c0
            c0 = clock()
            drawn = sample_filtered_set(scene, caster, floor, cfg, rng)
            filtered = clock() - c0
            vs = drawn.view_set
            c0 = clock()
            rirs = backend.render(scene, vs.positions, vs.quats, vs.source_positions)
            mixed = rirs.mixed(ac.indirect_gain)
            rt = rt60_t30_batch(mixed, ac.sample_rate).mean(axis=-1)
            c1 = clock()
            clips = [speech.draw("train", rng, cfg.speech.clip_seconds, ac.sample_rate) for _ in vs.source_positions]
            mono = np.stack([c.audio for c in clips]).astype(np.float32)
            binaural = fft_convolve(mono[None, :, None, :], mixed, n_clip)
            c2 = clock()
            item = {"rir/direct": rirs.direct, "rir/indirect": rirs.indirect, "rir/rt60": rt, "audio/source": mono,
                    "audio/binaural": binaural, "audio/source_id": [c.source_id for c in clips],
                    "audio/speaker": [c.speaker for c in clips], "audio/text": [c.text for c in clips],
                    "poses/position": vs.positions, "poses/yaw_deg": vs.yaws_deg, "poses/quat_wxyz": vs.quats,
                    "sources/position": vs.source_positions, **vs.labels().as_datasets(),
                    "views/rgb": drawn.views.rgb, "views/depth": drawn.views.depth,
                    "views/instance": drawn.views.instance, "views/passed_filters": np.uint8(drawn.passed),
                    "views/filter_tries": np.int32(drawn.tries)}
            for k, v in item.items():
                cols.setdefault(k, []).append(v)
            cost["sampling"].append(one_draw * drawn.tries + setup / args.sets)
            cost["views"].append(max(0.0, filtered - one_draw * drawn.tries))
            cost["acoustics"].append(c1 - c0)
            cost["speech"].append(c2 - c1)
            tries.append(drawn.tries)
            passed.append(drawn.passed)
        arrays = {k: np.stack([np.asarray(x) for x in v]) for k, v in cols.items()}
        path = tmp / f"{scene_id}.h5"
        cam = cfg.views.camera
        c0 = clock()
        attrs = {"scene_id": scene_id, "indirect_gain": ac.indirect_gain, "config_hash": cfg.config_hash(),
                 "sample_rate": ac.sample_rate, "n_sets": args.sets, "n_views": cfg.sampling.views,
                 "n_sources": cfg.sampling.sources, "simkit_version": simkit.__version__}
        write_shard(path, arrays, attrs, compression=cfg.compression, storage=cfg.storage,
                    group_attrs={"views": {"width": cam.width, "height": cam.height}})
        cost["write"].extend([(clock() - c0) / args.sets] * args.sets)
        written.append(path.stat().st_size / args.sets)
    n = len(tries)
    mean = {k: float(np.mean(v)) for k, v in cost.items()}
    total = sum(mean.values())
    print(f"{n} view sets ({args.scenes} scenes x {args.sets}), preset {args.preset}, "
          f"{cfg.sampling.views} views x {cfg.sampling.sources} sources, "
          f"{cfg.views.camera.width}x{cfg.views.camera.height} views")
    for k in STAGES:
        print(f"  {k:<10}{mean[k]:7.3f} CPU-s/set  ({100 * mean[k] / total:4.1f} %)")
    print(f"  total     {total:7.3f} CPU-s/set; {np.mean(tries):.1f} draws per kept set; view filters passed "
          f"{np.mean(passed):.0%}; {np.mean(written) / 1e6:.3f} MB written per set")
    if args.out:
        atomic_write_json(args.out, {"cpu_s_per_set": mean, "total_cpu_s_per_set": total, "view_sets": n,
                                     "draws_per_kept_set": float(np.mean(tries)),
                                     "filter_pass_rate": float(np.mean(passed)),
                                     "mb_per_set": float(np.mean(written) / 1e6), "preset": args.preset})


if __name__ == "__main__":
    main()
