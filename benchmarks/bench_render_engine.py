"""Cost and fidelity of the RLRAudioPropagation presets and of the engine's default ray counts, in one run.

Every preset in ``simkit.acoustics.PRESETS`` and the ray counts read from a fresh ``rlr_audio_propagation.Config()``
(the engine's and SoundSpaces 2.0's defaults) render the same view sets of embedded scenes (the render's
sampler and seeds: 4 views at one camera position x 3 sources, direct and indirect). Reported per variant:
binaural RIRs per CPU-second, CPU-seconds per view set, the cost ratio against the engine defaults, and against
``high`` per RIR the mean / max |dRT60| and |dILD| of the mixed RIR and whether the direct path is identical
(simkit.render.fidelity).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_render_engine.py --scenes 12 --out bench_render_engine.json
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
import rlr_audio_propagation as rlr

from simkit.acoustics import PRESETS, Preset
from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.presets import ENGINE_DEFAULTS
from simkit.io import atomic_write_json, package_versions
from simkit.render.config import SamplingConfig
from simkit.render.fidelity import ILD_BOUND_DB, RT60_BOUND, deviations, measure_presets
from simkit.scenes.catalog import embedded_scene_ids


def engine_default_preset() -> Preset:
    """The ray counts of a fresh ``rlr_audio_propagation.Config()`` (per-view binaural traces)."""
    cfg = rlr.Config()
    return Preset(**{k: int(getattr(cfg, k)) for k in ENGINE_DEFAULTS.engine_fields()})


def spread_scenes(n: int) -> list[str]:
    """``n`` embedded scenes spread evenly over the 100 (every split, every layout family)."""
    ids = embedded_scene_ids()
    n = max(1, min(n, len(ids)))
    return [ids[int(i)] for i in np.linspace(0, len(ids) - 1, n).round()]


def run(n_scenes: int, sets: int, seed: int, sample_rate: int, threads: int, workers: int,
        presets: list[str]) -> dict:
    variants: dict[str, Preset] = {name: PRESETS[name] for name in presets}
    variants["engine-defaults"] = engine_default_preset()
    if "high" not in variants:
        variants["high"] = PRESETS["high"]
    scenes = spread_scenes(n_scenes)
    acoustics = AcousticsConfig(sample_rate=sample_rate, thread_count=threads)
    sampling = SamplingConfig()
    figs = measure_presets(scenes, variants, seed, sets, acoustics, sampling, workers)
    base = float(figs["engine-defaults"].cpu_s.mean())
    rows = []
    for label, preset in variants.items():
        f = figs[label]
        n_rirs = f.rt60.size
        rows.append({
            "variant": label, **preset.engine_fields(), "shared_indirect": preset.shared_indirect,
            "view_sets": int(f.cpu_s.size), "binaural_rirs": int(n_rirs),
            "rirs_per_cpu_second": n_rirs / float(f.cpu_s.sum()),
            "cpu_seconds_per_view_set": float(f.cpu_s.mean()), "seconds_per_view_set": float(f.wall_s.mean()),
            "cost_ratio_vs_engine_defaults": base / float(f.cpu_s.mean()),
            "setup_cpu_seconds": f.setup_cpu_s, "rt60_mean_s": float(np.nanmean(f.rt60)),
            **deviations(f, figs["high"]),
        })
    return {
        "rows": rows,
        "engine_defaults_equal_default_preset": engine_default_preset() == PRESETS["default"] and (
            "default" not in figs or figs["default"].rt60.tobytes() == figs["engine-defaults"].rt60.tobytes()),
        "bounds": {"rt60_dev_mean_pct": RT60_BOUND * 100, "ild_dev_mean_db": ILD_BOUND_DB, "cost_ratio": 5.0},
        "setup": {
            "scenes": scenes, "view_sets_per_scene": sets, "views": sampling.views, "sources": sampling.sources,
            "sample_rate": sample_rate, "thread_count": threads, "workers": workers,
            "rir_seconds": acoustics.rir_seconds, "seed": seed,
        },
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "versions": package_versions(),
    }


def print_table(result: dict) -> None:
    head = (f"{'variant':<16}{'ind.rays':>9}{'src.rays':>9}{'shared':>7}{'RIR/cpu-s':>10}{'cpu-s/set':>10}"
            f"{'ratio':>7}{'RT60 s':>8}{'|dRT60|%':>9}{'max%':>7}{'|dILD|dB':>9}{'max':>6}{'direct=':>8}")
    print(head)
    print("-" * len(head))
    for r in result["rows"]:
        print(f"{r['variant']:<16}{r['indirect_ray_count']:>9}{r['source_ray_count']:>9}"
              f"{'yes' if r['shared_indirect'] else 'no':>7}{r['rirs_per_cpu_second']:>10.2f}"
              f"{r['cpu_seconds_per_view_set']:>10.3f}{r['cost_ratio_vs_engine_defaults']:>7.2f}"
              f"{r['rt60_mean_s']:>8.3f}{r['rt60_dev_mean_pct']:>9.2f}{r['rt60_dev_max_pct']:>7.1f}"
              f"{r['ild_dev_mean_db']:>9.3f}{r['ild_dev_max_db']:>6.2f}{str(r['direct_identical']):>8}")
    s = result["setup"]
    print(f"({len(s['scenes'])} embedded scenes x {s['view_sets_per_scene']} view sets x {s['views']} views x "
          f"{s['sources']} sources, {s['sample_rate']} Hz, {s['thread_count']} engine thread(s), "
          f"{s['workers']} worker(s); deviations per RIR against high; ratio = engine-defaults CPU / variant CPU; "
          f"engine defaults == default preset: {result['engine_defaults_equal_default_preset']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_render_engine.json", help="where to write the JSON results")
    ap.add_argument("--scenes", type=int, default=12, help="embedded scenes, spread evenly over the 100")
    ap.add_argument("--sets-per-scene", type=int, default=1)
    ap.add_argument("--presets", default="fast,efficient,default,high")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-rate", type=int, default=16000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="processes (CPU time is per process either way)")
    args = ap.parse_args()
    result = run(args.scenes, args.sets_per_scene, args.seed, args.sample_rate, args.threads, args.workers,
                 [p for p in args.presets.split(",") if p])
    print_table(result)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
