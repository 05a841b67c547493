"""Where a view set's render time goes: sampling + views (with HM3D-SS filter retries), acoustics, speech.

Run: ``.venv/bin/python benchmarks/bench_render_split.py [--scenes 6] [--sets 3] [--preset fast]``.
Uses the pipeline's own functions on the embedded scenes (1 engine thread, as the render does), and
reports seconds per kept view set for each stage and the view-filter pass rate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simkit.config import AcousticsConfig, RenderConfig
from simkit.render.pipeline import _engine_objects, sample_filtered_set, scene_seed
from simkit.render.sampling import FloorSampler
from simkit.scenes.catalog import load_scene, resolve_scenes
from simkit.scenes.raycast import RayCaster


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenes", default="6")
    ap.add_argument("--sets", type=int, default=3)
    ap.add_argument("--preset", default="fast")
    args = ap.parse_args()
    cfg = RenderConfig(sets_per_scene=args.sets, acoustics=AcousticsConfig(preset=args.preset))
    backend, speech = _engine_objects(cfg)
    t_view, t_ac, t_speech, tries, passed = [], [], [], [], []
    for scene_id in resolve_scenes(args.scenes):
        scene = load_scene(scene_id)
        caster = RayCaster(scene)
        floor = FloorSampler(scene, caster, cfg.sampling)
        for n in range(args.sets):
            rng = scene_seed(cfg.seed, scene_id, n)
            t0 = time.perf_counter()
            drawn = sample_filtered_set(scene, caster, floor, cfg, rng)
            t1 = time.perf_counter()
            vs = drawn.view_set
            backend.render(scene, vs.positions, vs.quats, vs.source_positions)
            t2 = time.perf_counter()
            for _ in vs.source_positions:
                speech.draw("train", rng, cfg.speech.clip_seconds, cfg.acoustics.sample_rate)
            t3 = time.perf_counter()
            t_view.append(t1 - t0)
            t_ac.append(t2 - t1)
            t_speech.append(t3 - t2)
            tries.append(drawn.tries)
            passed.append(drawn.passed)
    n = len(t_view)
    total = np.mean(t_view) + np.mean(t_ac) + np.mean(t_speech)
    print(f"{n} view sets ({args.scenes} scenes x {args.sets}), preset {args.preset}, "
          f"{cfg.sampling.views} views x {cfg.sampling.sources} sources, "
          f"{cfg.views.camera.width}x{cfg.views.camera.height} views")
    print(f"  sampling + views + filters  {np.mean(t_view):6.2f} s/set  ({np.mean(tries):.1f} draws per kept set)")
    print(f"  {'acoustics (' + backend.name + ')':<28}{np.mean(t_ac):6.2f} s/set")
    print(f"  speech                      {np.mean(t_speech):6.2f} s/set")
    print(f"  total                       {total:6.2f} s/set;  view filters passed {np.mean(passed):.0%}")


if __name__ == "__main__":
    main()
