"""Ray budgets per room volume (issue 19 item 2's idea), measured: do small rooms need fewer indirect rays?

For embedded scenes spread over the 100 (one view set each, the render's sampler and seeds), renders the
``efficient`` pipeline (shared FOA indirect trace, decoded per view) with several ``indirect_ray_count``
values and a reference with many more rays (``--ref-rays``, same pipeline, so the FOA / decoder bias that
every candidate shares cancels and what is left is the Monte-Carlo error of the ray count), and reports per
scene the bounding-box volume, the mean RT60 and each candidate's mean |dRT60| and |dILD| against the
reference, with the engine CPU (simkit.render.fidelity.measure_presets: process time of backend.render).

Then it scores budget rules that pick a ray count per scene from its volume before rendering:
``rays = clip(round_to_candidate(base * (V / V_median) ** p), min, max)`` for a few exponents, against a
flat 3000 (``efficient``): mean deviation over all RIRs and total engine CPU. A rule is only worth adopting
if it cuts CPU without raising the deviation; the fidelity bounds themselves are against ``high``
(tests/test_slow_fidelity.py), which this script does not render.

    PYTHONPATH=. nice -n 5 .venv/bin/python benchmarks/bench_ray_budget.py --scenes 16 --out bench_ray_budget.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render_engine import spread_scenes  # noqa: E402

from simkit.acoustics import PRESETS  # noqa: E402
from simkit.io import atomic_write_json, package_versions  # noqa: E402
from simkit.render.fidelity import measure_presets  # noqa: E402
from simkit.scenes.catalog import load_scene  # noqa: E402


def per_rir(fig, ref) -> tuple[np.ndarray, np.ndarray]:
    """|dRT60| (%, NaN where either is undefined) and |dILD| (dB) per RIR against the reference."""
    ok = np.isfinite(fig.rt60) & np.isfinite(ref.rt60)
    rt = np.full(fig.rt60.shape, np.nan)
    rt[ok] = np.abs(fig.rt60[ok] / ref.rt60[ok] - 1) * 100
    return rt, np.abs(fig.ild_db - ref.ild_db)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=16, help="embedded scenes spread evenly over the 100")
    ap.add_argument("--rays", default="1000,1500,2000,3000", help="candidate indirect_ray_count values")
    ap.add_argument("--ref-rays", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench_ray_budget.json")
    args = ap.parse_args()
    rays = sorted(int(x) for x in args.rays.split(","))
    base = PRESETS["efficient"]
    variants = {f"r{n}": dataclasses.replace(base, indirect_ray_count=n) for n in rays}
    variants["ref"] = dataclasses.replace(base, indirect_ray_count=args.ref_rays)
    rows = []
    t0 = time.perf_counter()
    for sid in spread_scenes(args.scenes):
        lo, hi = load_scene(sid).bounds
        volume = float(np.prod(hi - lo))
        figs = measure_presets([sid], variants, seed=args.seed)
        ref = figs["ref"]
        row = {"scene": sid, "volume_m3": volume, "rt60_ref_s": float(np.nanmean(ref.rt60)),
               "ref_cpu_s": float(ref.cpu_s.sum()), "cand": {}}
        for n in rays:
            rt, ild = per_rir(figs[f"r{n}"], ref)
            row["cand"][n] = {"cpu_s": float(figs[f"r{n}"].cpu_s.sum()), "rt": rt.tolist(), "ild": ild.tolist(),
                              "rt60_dev_mean_pct": float(np.nanmean(rt)), "ild_dev_mean_db": float(ild.mean())}
        rows.append(row)
        print(f"{sid}: V {volume:6.0f} m3, RT60 {row['rt60_ref_s']:.2f} s; mean |dRT60| % vs {args.ref_rays} rays: "
              + ", ".join(f"{n}: {row['cand'][n]['rt60_dev_mean_pct']:.2f}" for n in rays)
              + f" ({time.perf_counter() - t0:.0f} s)", flush=True)

    vols = np.array([r["volume_m3"] for r in rows])
    v_med = float(np.median(vols))

    def score(choice: list[int]) -> dict:
        rt = np.concatenate([rows[i]["cand"][n]["rt"] for i, n in enumerate(choice)])
        ild = np.concatenate([rows[i]["cand"][n]["ild"] for i, n in enumerate(choice)])
        cpu = sum(rows[i]["cand"][n]["cpu_s"] for i, n in enumerate(choice))
        return {"rt60_dev_mean_pct": float(np.nanmean(rt)), "rt60_dev_max_pct": float(np.nanmax(rt)),
                "ild_dev_mean_db": float(ild.mean()), "cpu_s": float(cpu)}

    def nearest(x: float) -> int:
        return min(rays, key=lambda n: abs(n - x))

    rules = {f"flat {n}": score([n] * len(rows)) for n in rays}
    for p in (0.5, 1.0):
        choice = [nearest(min(max(3000 * (v / v_med) ** p, rays[0]), 3000)) for v in vols]
        rules[f"3000 x (V/Vmed)^{p}, capped at 3000"] = {**score(choice), "rays": choice}
    flat = rules["flat 3000"]["cpu_s"] if 3000 in rays else max(r["cpu_s"] for r in rules.values())
    # the relation the idea rests on: is the error of few rays larger in large rooms?
    order = np.argsort(np.argsort(vols))
    dev_lo = np.array([r["cand"][rays[0]]["rt60_dev_mean_pct"] for r in rows])
    spearman = float(np.corrcoef(order, np.argsort(np.argsort(dev_lo)))[0, 1])
    print(f"\nSpearman rank correlation of volume with the {rays[0]}-ray |dRT60|: {spearman:+.2f} "
          f"({len(rows)} scenes, volumes {vols.min():.0f}-{vols.max():.0f} m3, median {v_med:.0f})")
    print(f"\n| rule (vs {args.ref_rays} rays, same pipeline) | mean / max \\|ΔRT60\\| % | mean \\|ΔILD\\| dB | "
          "engine CPU vs flat 3000 |\n|---|---|---|---|")
    for name, r in rules.items():
        print(f"| {name} | {r['rt60_dev_mean_pct']:.2f} / {r['rt60_dev_max_pct']:.1f} | {r['ild_dev_mean_db']:.3f} | "
              f"{r['cpu_s'] / flat:.2f} |")
    atomic_write_json(args.out, {"args": vars(args), "rows": rows, "rules": rules, "volume_median_m3": v_med,
                                 "spearman_volume_dev": spearman, "versions": package_versions()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
