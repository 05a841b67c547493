"""Every scale figure of issue 12 in one run on the same scenes: engine cost and fidelity, storage, executors.

Picks the embedded scenes once (``spread_scenes``: evenly over the 100, every split and layout family), then
runs on those scenes

* ``engine`` (bench_render_engine.run): every preset and the engine's default ray counts: binaural RIRs per
  CPU-second, CPU-seconds per view set, the cost ratio against the engine defaults, and the RT60 / ILD
  deviations from ``high``;
* ``storage`` (bench_storage.run): bytes per view set for each storage option, with its fidelity and
  loader speed;
* ``executors`` (bench_executors.run): the same render with serial, process and Ray: wall and CPU time,
  Ray start-up, shards byte-identical to serial's;
* ``memory`` (:func:`memory_run`): peak RSS of whole ``simkit render`` processes on the first scene at several
  ``--sets-per-scene`` (``--memory-sets``), and the growth per added set (docs/scale.md, "Memory");

prints the three tables and writes one JSON (machine, package versions, the command, every part's result and
wall time; rewritten after each part, so a run stopped half-way keeps what it measured).

    nice -n 10 .venv/bin/python benchmarks/bench_scale.py --out bench_scale.json
    .venv/bin/python benchmarks/bench_scale.py --scenes 16 --engine-sets 2 --storage-sets 4 --executor-sets 5
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

PARTS = ("engine", "storage", "executors", "memory")


def machine_info() -> dict:
    """What the figures were measured on (the CPU model, cores, memory, load)."""
    info: dict = {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                  "python": platform.python_version(), "load_avg": list(os.getloadavg())}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
        info["memory_gib"] = round(mem_kb / 2**20, 1)
    except (OSError, StopIteration):
        pass
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    return info


def main() -> None:
    from simkit.acoustics import PRESETS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_scale.json", help="where to write the JSON results")
    ap.add_argument("--work", default="out/bench-scale", help="scratch directory for the renders")
    ap.add_argument("--scenes", type=int, default=8, help="embedded scenes, spread evenly over the 100")
    ap.add_argument("--engine-sets", type=int, default=1, help="view sets per scene for the engine part")
    ap.add_argument("--storage-sets", type=int, default=2, help="view sets per scene for the storage part")
    ap.add_argument("--executor-sets", type=int, default=3, help="view sets per scene for the executors part")
    ap.add_argument("--memory-sets", default="4,16,32",
                    help="memory part: --sets-per-scene values, one render each (first scene, preset fast)")
    ap.add_argument("--workers", type=int, default=2, help="processes (engine part) / workers (executors part)")
    by_cost = sorted(PRESETS, key=lambda n: (PRESETS[n].indirect_ray_count, PRESETS[n].source_ray_count))
    ap.add_argument("--presets", default=",".join(by_cost), help="engine part: presets besides engine defaults")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help=f"comma list of parts not to run ({', '.join(PARTS)})")
    args = ap.parse_args()

    from simkit.errors import SimkitError

    try:
        result = run_all(args)
    except SimkitError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"wrote {args.out} ({result['total_wall_s']:.0f} s)")


def peak_rss_mb(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall s) of the command ``argv`` run to completion: its own peak and that of anything
    it waited for (``wait4``), so one ``simkit render`` process is measured whole."""
    import subprocess

    from simkit.errors import SimkitError

    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
        raise SimkitError(f"{' '.join(argv[:2])} failed: {err[-1] if err else status}")
    return usage.ru_maxrss / 1024, wall


def memory_run(work: Path, scene: str, sets: list[int], seed: int = 0) -> dict:
    """Peak RSS of ``simkit render --scenes SCENE --sets-per-scene N --preset fast`` for each N (the default
    4 views x 3 sources with images and compact storage), a fresh output directory each, and the least-squares
    growth in MB per added set."""
    import shutil

    import numpy as np

    simkit = str(Path(sys.executable).parent / "simkit")
    rows = []
    for n in sets:
        out = work / f"sets-{n}"
        shutil.rmtree(out, ignore_errors=True)
        rss, wall = peak_rss_mb([simkit, "render", "--out", str(out), "--scenes", scene, "--sets-per-scene",
                                 str(n), "--preset", "fast", "--seed", str(seed), "--quiet"])
        shard = sum(p.stat().st_size for p in (out / "shards").glob("*.h5"))
        rows.append({"sets": n, "peak_rss_mb": round(rss, 1), "wall_s": round(wall, 1),
                     "shard_mb": round(shard / 1e6, 2)})
        print(f"  {n:>4} sets: peak RSS {rss:7.1f} MB, shard {shard / 1e6:6.2f} MB, {wall:5.1f} s", flush=True)
    slope = float(np.polyfit([r["sets"] for r in rows], [r["peak_rss_mb"] for r in rows], 1)[0]) \
        if len(rows) > 1 else None
    return {"scene": scene, "preset": "fast", "rows": rows,
            "mb_per_set": round(slope, 3) if slope is not None else None}


def print_memory(r: dict) -> None:
    print("| sets per scene | peak RSS (MB) | shard (MB) | wall (s) |\n|---|---|---|---|")
    for row in r["rows"]:
        print(f"| {row['sets']} | {row['peak_rss_mb']:.0f} | {row['shard_mb']:.2f} | {row['wall_s']:.0f} |")
    if r["mb_per_set"] is not None:
        print(f"growth: {r['mb_per_set']:.2f} MB per added set (scene {r['scene']}, preset {r['preset']})")


def run_all(args: argparse.Namespace) -> dict:
    import bench_executors
    import bench_render_engine
    import bench_storage as storage

    from simkit.errors import SimkitError
    from simkit.io import atomic_write_json, package_versions

    skip = [p for p in args.skip.split(",") if p]
    unknown = [p for p in skip if p not in PARTS]
    if unknown:
        raise SimkitError(f"--skip: unknown part(s) {', '.join(unknown)} (parts: {', '.join(PARTS)})")
    if min(args.scenes, args.engine_sets, args.storage_sets, args.executor_sets) < 1:
        raise SimkitError("--scenes and every --*-sets must be >= 1")
    try:
        memory_sets = [int(x) for x in args.memory_sets.split(",") if x.strip()]
    except ValueError:
        raise SimkitError(f"--memory-sets must be a comma list of integers (got {args.memory_sets!r})") from None
    if not memory_sets or min(memory_sets) < 1:
        raise SimkitError("--memory-sets needs at least one value, each >= 1")
    scenes = bench_render_engine.spread_scenes(args.scenes)
    work = Path(args.work)
    result: dict = {
        "scenes": scenes, "command": [Path(sys.executable).name, *sys.argv], "skipped": skip,
        "sizes": {"engine_sets_per_scene": args.engine_sets, "storage_sets_per_scene": args.storage_sets,
                  "executor_sets_per_scene": args.executor_sets, "memory_sets_per_scene": memory_sets,
                  "workers": args.workers, "seed": args.seed},
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine_info(),
        "versions": {**package_versions(), **package_versions(("ray",))}, "wall_s": {}, "complete": False,
    }
    t_all = time.perf_counter()
    print(f"[bench_scale] {len(scenes)} scenes: {', '.join(scenes)}", flush=True)

    def part(name: str, fn) -> None:
        if name in skip:
            return
        print(f"\n[bench_scale] {name} ...", flush=True)
        t0 = time.perf_counter()
        r = fn()
        result["wall_s"][name] = time.perf_counter() - t0
        for k in ("machine", "versions"):  # one copy, at the top
            r.pop(k, None)
        result[name] = r
        atomic_write_json(args.out, result)

    presets = [p for p in args.presets.split(",") if p]
    part("engine", lambda: bench_render_engine.run(len(scenes), args.engine_sets, args.seed, 16000, 1,
                                                   args.workers, presets))
    if "engine" in result and result["engine"]["setup"]["scenes"] != scenes:
        raise SimkitError("the engine part rendered other scenes than the others")  # spread_scenes changed
    part("storage", lambda: storage.run(work / "storage", scenes, args.storage_sets))
    part("executors", lambda: bench_executors.run(work / "executors", scenes, args.executor_sets, args.workers,
                                                  seed=args.seed))
    part("memory", lambda: memory_run(work / "memory", scenes[0], memory_sets, args.seed))
    result["total_wall_s"] = time.perf_counter() - t_all
    result["machine"]["load_avg_end"] = list(os.getloadavg())
    result["complete"] = True
    atomic_write_json(args.out, result)

    print(f"\n=== same {len(scenes)} embedded scenes: {', '.join(scenes)} ===")
    for name, title, printer in (
        ("engine", "Engine: presets and engine defaults (cost, ratio, fidelity vs high)",
         bench_render_engine.print_table),
        ("storage", "Storage: bytes per view set per option", storage.print_table),
        ("executors", "Executors: the same render, serial vs process vs Ray", bench_executors.print_table),
        ("memory", "Memory: peak RSS of one render process by sets per scene", print_memory),
    ):
        if name in result:
            print(f"\n## {title} ({result['wall_s'][name]:.0f} s)")
            printer(result[name])
    m = result["machine"]
    print(f"\n({m.get('cpu_model', m['processor'])}, {m['cpus']} CPUs, load {m['load_avg'][0]:.2f} at start, "
          f"{m['load_avg_end'][0]:.2f} at end; simkit {result['versions']['simkit']}, "
          f"engine {result['versions']['rlr-audio-propagation']}, ray {result['versions']['ray']}; "
          f"skipped: {', '.join(skip) or 'nothing'})")
    return result


if __name__ == "__main__":
    main()
