"""Several listener positions in one engine call (issue 19 item 2's idea), measured: is there per-call cost to save?

The ``efficient`` preset traces the indirect field once per distinct listener position (first-order
ambisonics, decoded per view), and the views of a default set share one position, so a set is one FOA call
with 1 listener x S sources, plus one direct call with V listeners. This script times, on the render's own
view sets (its sampler and seeds), the engine calls the render makes against calls that batch more listener
positions into one context (process time, one engine thread, the backend's own ``_simulate``):

* ``sets``: N view sets of a scene, each its own FOA call (1 listener, its S sources), against one call with
  the N positions and all N x S sources (every listener hears every source; the render keeps the N x S
  matching pairs and wastes the rest);
* ``translated``: one set with ``--max-translation`` (seed 000's simulated set moves each view, so a set has V
  distinct positions): the V positions in one FOA call (what the render does) against V calls of one position;
* ``direct``: the N sets' direct calls (V listeners each) against one call with the N x V listeners and
  N x S sources.

For each batched call it also reports whether its responses are byte-identical to the separate calls', and
the mean |dRT60| (T30 of the FOA W channel / the binaural direct energy) between the two.

    PYTHONPATH=. nice -n 5 .venv/bin/python benchmarks/bench_engine_batch.py --out bench_engine_batch.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simkit.acoustics import MaterialDatabase, make_backend, rt60_t30_batch
from simkit.acoustics.config import AcousticsConfig
from simkit.io import atomic_write_json, package_versions
from simkit.render.config import SamplingConfig
from simkit.render.pipeline import scene_seed
from simkit.render.sampling import sample_view_set
from simkit.scenes.catalog import load_scene


def _cpu(fn):
    c0 = time.process_time()
    out = fn()
    return out, time.process_time() - c0


def _rt_dev(a: np.ndarray, b: np.ndarray, sr: int) -> float:
    """Mean |dRT60| in % of the W (first) channel's T30, b against a, where both are defined."""
    ra, rb = rt60_t30_batch(a[..., 0, :], sr), rt60_t30_batch(b[..., 0, :], sr)
    ok = np.isfinite(ra) & np.isfinite(rb)
    return float(np.mean(np.abs(rb[ok] / ra[ok] - 1)) * 100) if ok.any() else float("nan")


def scene_figures(scene_id: str, n_sets: int, translation: float, preset: str, seed: int) -> dict:
    scene = load_scene(scene_id)
    cfg = AcousticsConfig(preset=preset)
    backend = make_backend(cfg, MaterialDatabase.embedded())
    vertices, groups = backend._mesh(scene)
    sim = backend._simulate
    sampling = SamplingConfig()
    sets = [sample_view_set(scene, sampling, scene_seed(seed, scene_id, n)) for n in range(n_sets)]
    ident = np.array([[1.0, 0.0, 0.0, 0.0]])
    s = sets[0].source_positions.shape[0]
    sr = cfg.sample_rate
    out: dict = {"scene": scene_id, "faces": len(scene.faces), "sets": n_sets, "sources_per_set": s}

    # FOA indirect: one call per set (the render) against one call for all N positions and N x S sources
    sep, t_sep = [], 0.0
    for vs in sets:
        r, t = _cpu(lambda vs=vs: sim(vertices, groups, vs.positions[:1], ident, vs.source_positions,
                                      direct=False, ambisonic=True))
        sep.append(r[0])
        t_sep += t
    lp = np.stack([vs.positions[0] for vs in sets])
    sp = np.concatenate([vs.source_positions for vs in sets])
    big, t_big = _cpu(lambda: sim(vertices, groups, lp, np.tile(ident, (n_sets, 1)), sp, direct=False,
                                  ambisonic=True))
    mine = np.stack([big[i, i * s:(i + 1) * s] for i in range(n_sets)])
    out["sets_foa"] = {"separate_cpu_s_per_set": t_sep / n_sets, "batched_cpu_s_per_set": t_big / n_sets,
                       "identical": bool(mine.tobytes() == np.stack(sep).tobytes()),
                       "rt60_dev_pct": _rt_dev(np.stack(sep), mine, sr)}

    # the same N positions in one call, but only the first set's S sources: the listener term alone
    _, t_l = _cpu(lambda: sim(vertices, groups, lp, np.tile(ident, (n_sets, 1)), sets[0].source_positions,
                              direct=False, ambisonic=True))
    out["sets_foa"]["batched_same_sources_cpu_s_per_position"] = t_l / n_sets

    # direct: V listeners per set, one call per set against one call for all
    t_dsep, dsep = 0.0, []
    for vs in sets:
        r, t = _cpu(lambda vs=vs: sim(vertices, groups, vs.positions, vs.quats, vs.source_positions, direct=True))
        dsep.append(r)
        t_dsep += t
    v = sets[0].positions.shape[0]
    dbig, t_dbig = _cpu(lambda: sim(vertices, groups, np.concatenate([vs.positions for vs in sets]),
                                    np.concatenate([vs.quats for vs in sets]), sp, direct=True))
    dmine = np.stack([dbig[i * v:(i + 1) * v, i * s:(i + 1) * s] for i in range(n_sets)])
    out["direct"] = {"separate_cpu_s_per_set": t_dsep / n_sets, "batched_cpu_s_per_set": t_dbig / n_sets,
                     "identical": bool(dmine.tobytes() == np.stack(dsep).tobytes())}

    # translated views: V distinct positions, same S sources; one call (the render) against V calls
    moved = sample_view_set(scene, SamplingConfig(max_translation=translation), scene_seed(seed, scene_id, 0))
    tv = moved.positions
    one, t_one = _cpu(lambda: sim(vertices, groups, tv, np.tile(ident, (len(tv), 1)), moved.source_positions,
                                  direct=False, ambisonic=True))
    t_many, many = 0.0, []
    for p in tv:
        r, t = _cpu(lambda p=p: sim(vertices, groups, p[None], ident, moved.source_positions, direct=False,
                                    ambisonic=True))
        many.append(r[0])
        t_many += t
    out["translated_foa"] = {"positions": len(np.unique(tv, axis=0)), "one_call_cpu_s": t_one,
                             "separate_calls_cpu_s": t_many,
                             "identical": bool(one.tobytes() == np.stack(many).tobytes()),
                             "rt60_dev_pct": _rt_dev(np.stack(many), one, sr)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", default="proc_000,proc_042,proc_085")
    ap.add_argument("--sets", type=int, default=6, help="view sets per scene batched into one call")
    ap.add_argument("--max-translation", type=float, default=1.0, help="m, for the translated-views case")
    ap.add_argument("--preset", default="efficient")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench_engine_batch.json")
    args = ap.parse_args()
    rows = []
    for sid in [x.strip() for x in args.scenes.split(",") if x.strip()]:
        r = scene_figures(sid, args.sets, args.max_translation, args.preset, args.seed)
        rows.append(r)
        f, d, t = r["sets_foa"], r["direct"], r["translated_foa"]
        print(f"{sid} ({r['faces']} faces): FOA per set {f['separate_cpu_s_per_set']:.3f} separate, "
              f"{f['batched_cpu_s_per_set']:.3f} batched ({f['batched_same_sources_cpu_s_per_position']:.3f} per "
              f"position with shared sources; identical {f['identical']}, |dRT60| {f['rt60_dev_pct']:.2f} %); "
              f"direct per set {d['separate_cpu_s_per_set']:.3f} / {d['batched_cpu_s_per_set']:.3f}; "
              f"translated {t['positions']} positions: one call {t['one_call_cpu_s']:.3f}, separate "
              f"{t['separate_calls_cpu_s']:.3f}", flush=True)

    def mean(part: str, key: str) -> float:
        return float(np.mean([r[part][key] for r in rows]))

    print(f"\n| engine work, {args.preset}, mean of {len(rows)} scenes | separate calls | one call |\n|---|---|---|")
    print(f"| FOA indirect, CPU-s per view set ({args.sets} sets batched, all sources) | "
          f"{mean('sets_foa', 'separate_cpu_s_per_set'):.3f} | {mean('sets_foa', 'batched_cpu_s_per_set'):.3f} |")
    print(f"| FOA indirect, CPU-s per position, sources shared | {mean('sets_foa', 'separate_cpu_s_per_set'):.3f} | "
          f"{mean('sets_foa', 'batched_same_sources_cpu_s_per_position'):.3f} |")
    print(f"| direct, CPU-s per view set | {mean('direct', 'separate_cpu_s_per_set'):.3f} | "
          f"{mean('direct', 'batched_cpu_s_per_set'):.3f} |")
    print(f"| translated set (V positions), FOA CPU-s per set | {mean('translated_foa', 'separate_calls_cpu_s'):.3f} | "
          f"{mean('translated_foa', 'one_call_cpu_s'):.3f} |")
    atomic_write_json(args.out, {"args": vars(args), "rows": rows, "versions": package_versions()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
