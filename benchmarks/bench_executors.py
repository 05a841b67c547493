"""Serial vs process vs Ray: the same render on every executor, wall and CPU time, shards compared byte for byte.

One ``RenderConfig`` (the given embedded scenes, the render defaults: views with the HM3D-SS filters, the
``efficient`` preset, espeak-ng speech) is rendered from scratch with ``serial``, ``process`` (``--workers``
spawned processes) and ``ray`` (a local Ray runtime with ``--workers`` CPUs). Each render runs in its own
fresh Python process, cold like ``simkit render``, so no executor inherits another's imports or caches.
Views stay on: they are 42 % of a view set's cost (docs/scale.md) and their ray-casting is part of what has
to be byte-identical across processes.

Reported per executor: the render's wall time (``render_dataset``; for Ray with the runtime already up),
the whole process's wall time (interpreter start, imports, Ray start and stop included), Ray's start-up and
shutdown, the CPU time spent during the render (this process and its workers: ``getrusage`` for serial and
process, whose pool is joined inside the render; for Ray the driver plus every live process of the runtime,
read from ``/proc`` before and after, split into task workers and Ray's own daemons), the speed-up against
serial, and whether every shard is byte-identical to serial's. The Ray runtime is shut down before its
process exits and any of its processes still alive afterwards are named (and stopped).

    .venv/bin/python benchmarks/bench_executors.py --scenes 8 --sets-per-scene 3 --out bench_executors.json
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXECUTOR_NAMES = ("serial", "process", "ray")


def _cpu_rusage() -> float:
    """CPU seconds of this process and its reaped children (user + system)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _descendants(root: int) -> dict[int, tuple[float, str]]:
    """Every live descendant of ``root``: pid -> (CPU seconds incl. its reaped children, command line).

    Read from ``/proc`` (Linux); empty elsewhere, where Ray's CPU time is then not measured."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            stat = (d / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        f = stat[stat.rindex(")") + 2:].split()  # fields after "pid (comm)": state, ppid, ..., utime at 11
        if f[0] == "Z":
            continue
        pid = int(d.name)
        parent[pid] = int(f[1])
        cpu[pid] = sum(int(x) for x in f[11:15]) / tick  # utime, stime, cutime, cstime
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, tuple[float, str]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        out[pid] = (cpu[pid], cmd)
    return out


def _one(executor: str, cfg_path: Path, out: Path, workers: int, result_path: Path) -> None:
    """Child process: render ``cfg_path`` into ``out`` with ``executor``; write the figures to ``result_path``."""
    from simkit.config import from_dict
    from simkit.io import atomic_write_json
    from simkit.render.config import RenderConfig
    from simkit.render.pipeline import render_dataset

    cfg = from_dict(RenderConfig, json.loads(cfg_path.read_text()))
    rec: dict = {"executor": executor, "workers": workers if executor != "serial" else 1}
    ray = None
    try:
        if executor == "ray":
            # the switches simkit.executors.ray.run_ray sets, before Ray is first imported
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            import ray

            # started here with run_ray's own arguments so that its start-up is timed apart from the render;
            # run_ray then finds it initialised and uses it. address="local": always a new runtime of our
            # own, never a cluster some other job left running on the machine.
            t0 = time.perf_counter()
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
            rec["ray_startup_s"] = time.perf_counter() - t0
        before, procs_before = _cpu_rusage(), _descendants(os.getpid())
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        res = render_dataset(cfg, out, workers=workers, progress=True, executor=executor)
        rec["wall_s"] = time.perf_counter() - t0
        if executor == "ray":
            procs_after = _descendants(os.getpid())
            s = resource.getrusage(resource.RUSAGE_SELF)
            driver = s.ru_utime + s.ru_stime - self_before.ru_utime - self_before.ru_stime
            workers_cpu = daemons_cpu = 0.0
            for pid, (c, cmd) in procs_after.items():
                d = c - procs_before.get(pid, (0.0, ""))[0]
                # task workers name themselves ray::IDLE / ray::<function>; ray::DashboardAgent etc. are daemons
                if cmd.startswith("ray::") and not cmd.split()[0].endswith("Agent"):
                    workers_cpu += d
                else:
                    daemons_cpu += d
            rec.update(cpu_s=driver + workers_cpu + daemons_cpu, cpu_driver_s=driver, cpu_ray_workers_s=workers_cpu,
                       cpu_ray_daemons_s=daemons_cpu,
                       ray_processes_lost=len(set(procs_before) - set(procs_after)))
            t0 = time.perf_counter()
            ray.shutdown()
            rec["ray_shutdown_s"] = time.perf_counter() - t0
            rec["ray_left_running"] = _stop_leftovers()
        else:
            rec["cpu_s"] = _cpu_rusage() - before
        rec.update(rendered=len(res.rendered), failed=res.failed, binaural_rirs=int(res.summary.get("n_rirs", 0)),
                   view_sets=sum(int(v["view_sets"]) for v in res.summary.get("splits", {}).values()))
    except BaseException as e:
        rec["error"] = f"{type(e).__name__}: {e}"
        raise
    finally:
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        atomic_write_json(result_path, rec)


def _stop_leftovers(grace_s: float = 10.0) -> list[str]:
    """Command lines of this process's descendants still alive ``grace_s`` after Ray's shutdown (then
    stopped: SIGTERM, SIGKILL), so that no Ray runtime outlives the benchmark."""
    deadline = time.monotonic() + grace_s
    left = _descendants(os.getpid())
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = _descendants(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(1.0 if sig == signal.SIGTERM else 0.0)
    return [cmd[:120] for _, cmd in left.values()]


def _shard_digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "shards").glob("*.h5"))}


def run(work: Path, scenes: list[str], sets: int, workers: int = 2, *, views: bool = True,
        preset: str | None = None, seed: int = 0, executors: tuple[str, ...] = EXECUTOR_NAMES,
        keep: bool = False) -> dict:
    """Render ``scenes`` x ``sets`` view sets from scratch with every executor (``workers`` processes or Ray
    CPUs) under a fresh directory in ``work`` (removed afterwards unless ``keep``); figures per executor."""
    from simkit.errors import SimkitError
    from simkit.io import check_writable_dir, package_versions
    from simkit.render.config import RenderConfig, validate_render_config

    if len(scenes) < 2:  # units are scenes: with one, the parallel executors would render it serially
        raise SimkitError(f"bench_executors needs at least 2 scenes (got {len(scenes)})")
    if workers < 2:
        raise SimkitError(f"--workers must be >= 2 to compare executors (got {workers})")
    unknown = [e for e in executors if e not in EXECUTOR_NAMES]
    if unknown:
        raise SimkitError(f"unknown executor(s) {', '.join(unknown)} (known: {', '.join(EXECUTOR_NAMES)})")
    if "serial" not in executors:
        raise SimkitError("the serial render is the reference of the byte comparison: keep it in --executors")
    cfg = RenderConfig(scenes=list(scenes), sets_per_scene=sets, seed=seed)
    cfg.views.enabled = views
    if preset:
        cfg.acoustics.preset = preset
    validate_render_config(cfg)
    work = check_writable_dir(work)
    tmp = Path(tempfile.mkdtemp(prefix="bench-executors-", dir=work))
    cfg_path = tmp / "config.json"
    cfg_path.write_text(json.dumps(cfg.to_dict()))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local runtime, not someone's cluster
    rows: list[dict] = []
    try:
        for name in executors:
            out, res_path = tmp / name, tmp / f"{name}.result.json"
            print(f"[bench_executors] {name}: {len(scenes)} scenes x {sets} view sets, "
                  f"{1 if name == 'serial' else workers} worker(s)", flush=True)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", name,
                                   "--config-file", str(cfg_path), "--work", str(out), "--workers", str(workers),
                                   "--result-file", str(res_path)], env=env)
            total = time.perf_counter() - t0
            rec = json.loads(res_path.read_text()) if res_path.exists() else {}
            if proc.returncode != 0 or "error" in rec:
                raise SimkitError(f"the {name} render failed (exit {proc.returncode}): "
                                  f"{rec.get('error', 'no result written')}")
            rec.update(process_wall_s=total, load_avg_1min_before=load, shard_sha256=_shard_digests(out),
                       shard_bytes=sum(p.stat().st_size for p in (out / "shards").glob("*.h5")))
            rows.append(rec)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    ref = next(r for r in rows if r["executor"] == "serial")
    ref_sha = dict(ref["shard_sha256"])
    for r in rows:
        mism = sorted(k for k in set(ref_sha) | set(r["shard_sha256"]) if ref_sha.get(k) != r["shard_sha256"].get(k))
        r.update(shards=len(r["shard_sha256"]), identical=not mism and bool(r["shard_sha256"]), mismatched=mism,
                 speedup_vs_serial=ref["wall_s"] / r["wall_s"],
                 process_speedup_vs_serial=ref["process_wall_s"] / r["process_wall_s"],
                 cpu_s_per_view_set=r["cpu_s"] / max(r["view_sets"], 1),
                 cores_busy=r["cpu_s"] / r["wall_s"])
        del r["shard_sha256"]
    return {
        "rows": rows,
        "setup": {"scenes": list(scenes), "view_sets_per_scene": sets, "workers": workers, "views": views,
                  "preset": cfg.acoustics.preset, "seed": seed, "sample_rate": cfg.acoustics.sample_rate,
                  "thread_count": cfg.acoustics.thread_count, "work": str(tmp) if keep else None},
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "versions": {**package_versions(), **package_versions(("ray",))},
    }


def print_table(result: dict) -> None:
    head = (f"{'executor':<10}{'workers':>8}{'sets':>6}{'wall s':>9}{'speed-up':>9}{'proc. wall s':>13}"
            f"{'ray up s':>9}{'ray down s':>11}{'CPU s':>8}{'CPU s/set':>10}{'cores':>7}{'load':>6}  identical")
    print(head)
    print("-" * len(head))

    def opt(v: float | None, w: int) -> str:
        return f"{v:>{w}.2f}" if v is not None else f"{'-':>{w}}"

    for r in result["rows"]:
        print(f"{r['executor']:<10}{r['workers']:>8}{r['view_sets']:>6}{r['wall_s']:>9.2f}"
              f"{r['speedup_vs_serial']:>9.2f}{r['process_wall_s']:>13.2f}{opt(r.get('ray_startup_s'), 9)}"
              f"{opt(r.get('ray_shutdown_s'), 11)}{r['cpu_s']:>8.1f}{r['cpu_s_per_view_set']:>10.2f}"
              f"{r['cores_busy']:>7.2f}{r['load_avg_1min_before']:>6.2f}  {r['identical']}"
              + (f" (differ: {', '.join(r['mismatched'])})" if r["mismatched"] else "")
              + (f" FAILED: {', '.join(r['failed'])}" if r["failed"] else ""))
        if r.get("ray_left_running"):
            print(f"  Ray processes still running after shutdown (stopped): {r['ray_left_running']}")
    ray_row = next((r for r in result["rows"] if r["executor"] == "ray"), None)
    s = result["setup"]
    print(f"({len(s['scenes'])} embedded scenes x {s['view_sets_per_scene']} view sets, views "
          f"{'on' if s['views'] else 'off'}, preset {s['preset']}, {s['sample_rate']} Hz; wall = render_dataset, "
          f"Ray already up; proc. wall = the whole fresh process; CPU = during the render"
          + (f", Ray: driver {ray_row['cpu_driver_s']:.1f} + task workers {ray_row['cpu_ray_workers_s']:.1f} + "
             f"daemons {ray_row['cpu_ray_daemons_s']:.1f} s" if ray_row else "")
          + "; identical = every shard byte-identical to serial's; load = 1-min load average before)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_executors.json", help="where to write the JSON results")
    ap.add_argument("--work", default="out/bench-executors", help="scratch directory for the renders")
    ap.add_argument("--scenes", type=int, default=8, help="embedded scenes, spread evenly over the 100")
    ap.add_argument("--sets-per-scene", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="processes / Ray CPUs of the parallel executors")
    ap.add_argument("--executors", default=",".join(EXECUTOR_NAMES), help="serial first: the byte reference")
    ap.add_argument("--no-views", action="store_true", help="render without RGB/depth/instance views")
    ap.add_argument("--preset", default=None, help="ray-count preset (default: the render's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the rendered datasets under --work")
    # the child process of one executor's render (internal)
    ap.add_argument("--one", choices=EXECUTOR_NAMES, help=argparse.SUPPRESS)
    ap.add_argument("--config-file", help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    from simkit.errors import SimkitError

    try:
        if args.one:
            _one(args.one, Path(args.config_file), Path(args.work), args.workers, Path(args.result_file))
            return
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_render_engine import spread_scenes

        from simkit.io import atomic_write_json

        result = run(Path(args.work), spread_scenes(args.scenes), args.sets_per_scene, args.workers,
                     views=not args.no_views, preset=args.preset, seed=args.seed, keep=args.keep,
                     executors=tuple(e for e in args.executors.split(",") if e))
    except SimkitError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print_table(result)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
