"""RT60 effect of letting the visible sources' objects (simkit.scenes.emitters) enter the acoustic mesh.

For view sets drawn with ``sampling.visible_sources`` in a few embedded scenes, renders the RIRs three ways
with the default engine and reports the mean RT60 (T30, simkit.acoustics.rt60) and its change:

* ``render``: what ``simkit render`` does: the scene without the objects, the source at its body's centre;
* ``front``: the scene without the objects, the source 5 cm in front of its body's front face (so the same
  source position can also be rendered with the objects present, where the centre would be inside a box);
* ``objects``: the scene with every object of the set in the acoustic mesh (material ``furniture``), the
  source 5 cm in front of its body.

``objects`` vs ``front`` is the objects' own effect on the reverberation; ``moved`` (no objects, the source 1 cm
aside of ``front``) is the control: how much the engine's RT60 moves for a change that alters no geometry.
Usage: PYTHONPATH=$PWD python benchmarks/bench_emitter_rt60.py [--scenes 4] [--sets 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simkit.acoustics import MaterialDatabase, make_backend, rt60_t30_batch
from simkit.render.config import load_render_config
from simkit.render.pipeline import scene_seed
from simkit.render.sampling import FloorSampler, sample_view_set
from simkit.scenes.catalog import SceneSet
from simkit.scenes.emitters import with_emitters
from simkit.scenes.raycast import RayCaster

FRONT_GAP = 0.05  # m in front of the body's front face


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--sets", type=int, default=2)
    args = ap.parse_args()
    cfg = load_render_config(overrides={"sampling.visible_sources": True})
    mats = MaterialDatabase.embedded()
    backend = make_backend(cfg.acoustics, mats)
    sr, gain = cfg.acoustics.sample_rate, cfg.acoustics.indirect_gain
    scene_set = SceneSet.from_config(cfg.scene_set)
    rows: dict[str, list[np.ndarray]] = {"render": [], "front": [], "objects": [], "moved": []}
    t0 = time.time()
    for sid in scene_set.resolve(None)[: args.scenes]:
        scene = scene_set.load(sid, mats)
        caster = RayCaster(scene)
        floor = FloorSampler(scene, caster, cfg.sampling)
        for n in range(args.sets):
            vs = sample_view_set(scene, cfg.sampling, scene_seed(cfg.seed, sid, n), caster=caster, floor=floor)
            front = np.asarray([e.source_position + e.axes()[2] * (0.5 * e.spec.body.size[2] * e.scale + FRONT_GAP)
                                for e in vs.emitters])
            with_objects, _ = with_emitters(scene, vs.emitters)
            for name, sc, src in (("render", scene, vs.source_positions), ("front", scene, front),
                                  ("objects", with_objects, front), ("moved", scene, front + [0.01, 0.0, 0.0])):
                rirs = backend.render(sc, vs.positions, vs.quats, src)
                rt = rt60_t30_batch(rirs.mixed(gain), sr).mean(axis=-1)  # (V, S)
                rows[name].append(rt.reshape(-1))
            kinds = [e.kind for e in vs.emitters]
            print(f"{sid} set {n}: kinds {kinds}  RT60 front {np.nanmean(rows['front'][-1]):.3f} "
                  f"objects {np.nanmean(rows['objects'][-1]):.3f} s", flush=True)
    r = {k: np.concatenate(v) for k, v in rows.items()}
    diff = r["objects"] - r["front"]
    print(f"engine {backend.name}; {args.scenes} scenes x {args.sets} sets, {len(diff)} (view, source) RIRs; "
          f"{time.time() - t0:.0f} s")
    for k, v in r.items():
        print(f"  {k:<8} mean RT60 {np.nanmean(v):.3f} s")
    print(f"  objects - front: mean {np.nanmean(diff):+.4f} s, mean |diff| {np.nanmean(np.abs(diff)):.4f} s, "
          f"relative {np.nanmean(diff / r['front']):+.2%}, max |diff| {np.nanmax(np.abs(diff)):.3f} s")
    moved = r["moved"] - r["front"]
    print(f"  control, moved - front (no objects, source 1 cm aside): mean {np.nanmean(moved):+.4f} s, "
          f"mean |diff| {np.nanmean(np.abs(moved)):.4f} s")
    centre = np.nanmean(r["render"] - r["front"])
    print(f"  render - front (source at the body centre vs in front): mean {centre:+.4f} s")


if __name__ == "__main__":
    main()
