"""The whole pipeline in one run (issue 19 item 4): render cost by stage, views, loader CPU and DataLoader speed.

Parts, all on the same scenes (default ``proc_000, proc_042, proc_085``; 4 views x 3 sources, 320x240 views):

* ``render``: whole ``simkit render`` processes (``--workers 1``, a fresh output directory each), for every
  preset of ``--presets`` (default ``efficient``, the render default, and ``default``, the engine's and
  SoundSpaces 2.0's ray counts), with and without views, at 1 and K (``--sets``) sets per scene. The
  **marginal CPU per view set** is (CPU of the K-set run - CPU of the 1-set run) / (scenes x (K - 1)): the
  child's own user + system time (``os.wait4``), so interpreter start, imports, the decoder fit and each
  scene's load cancel out. The same difference of the render's own stage timing (``SIMKIT_STAGE_TIMES``,
  simkit.render.pipeline: process time of sampling, views, acoustics, speech and write) splits it by stage;
  ``other`` is the whole-process difference the stages do not cover. Disk: the marginal shard bytes per set.
  A compact and a float32 render (views, first preset) give the storage columns.
* ``views``: CPU-ms per view of the ray-cast camera now and before its vectorised rewrite
  (benchmarks/bench_views.py, same scenes; identical bytes checked there).
* ``loader``: loader CPU-ms per item of each task's items (benchmarks/bench_storage.task_cpu_ms: direction and
  binauralize training and evaluation items as ``simkit bench`` builds them) from a float32 and a compact
  render of its own with ``--visible-sources`` (the binaural tasks refuse sources in free air), and their
  ratio; items/s of a torch DataLoader over the training split of each task and storage
  (``simkit bench``'s batch size and collate, derivation in the loader) with 0, 1, 2 and N workers.

Prints one markdown report (tables, ratios against the issue's targets, the projection for 50,000 view sets,
the machine and its load) and writes one JSON (rewritten after each part).

    PYTHONPATH=. nice -n 5 .venv/bin/python benchmarks/bench_pipeline.py --out bench_pipeline.json
    PYTHONPATH=. .venv/bin/python benchmarks/bench_pipeline.py --sets 2 --scenes proc_042 --skip views  # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

REPO = Path(__file__).resolve().parents[1]
PARTS = ("render", "views", "loader")
STAGE_COLS = ("sampling", "views", "acoustics", "speech", "write")
TARGETS = {"render_ratio_with_views": 6.0, "views_speedup": 5.0, "loader_ratio": 1.3}
PROJECT_SETS = 50_000
DEVICE_TAG = " [derive on device]"  # bench_storage.task_datasets's suffix for deferred derivation


def run_render(argv: list[str], times_file: Path) -> dict:
    """One ``simkit render`` process to completion: its CPU (user + system, itself and anything it waited for),
    wall time and the per-scene stage lines it appended to ``times_file``."""
    from simkit.errors import SimkitError
    from simkit.render.pipeline import STAGE_TIMES_ENV

    times_file.unlink(missing_ok=True)
    env = {**os.environ, STAGE_TIMES_ENV: str(times_file),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "simkit", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
    if os.waitstatus_to_exitcode(status) != 0:
        raise SimkitError(f"simkit {' '.join(argv)} failed: {err[-1] if err else status}")
    lines = [json.loads(x) for x in times_file.read_text().splitlines()] if times_file.is_file() else []
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
            "wall_s": wall, "max_rss_mb": usage.ru_maxrss / 1024, "scenes": lines}


def variant_name(preset: str, views: bool, storage: str) -> str:
    return f"{preset}, {'views' if views else 'no views'}" + ("" if storage == "compact" else f", {storage}")


def render_part(work: Path, scenes: list[str], k: int, presets: list[str], seed: int, log) -> dict:
    """Every variant at 1 and ``k`` sets per scene; marginal CPU and bytes per view set, by stage."""
    variants = [(p, v, "compact") for p in presets for v in (True, False)] + [(presets[0], True, "float32")]
    rows, runs = [], {}
    for preset, views, storage in variants:
        name = variant_name(preset, views, storage)
        got = {}
        for n in (1, k):  # adjacent, so a change in the machine's load hits both ends of the difference
            out = work / f"{preset}-{'views' if views else 'noviews'}-{storage}-{n}"
            shutil.rmtree(out, ignore_errors=True)
            argv = ["render", "--out", str(out), "--scenes", ",".join(scenes), "--sets-per-scene", str(n),
                    "--preset", preset, "--storage", storage, "--seed", str(seed), "--workers", "1", "--quiet"]
            if not views:
                argv.append("--no-views")
            r = run_render(argv, work / "stages.jsonl")
            r["shard_bytes"] = sum(p.stat().st_size for p in (out / "shards").glob("*.h5"))
            r["out"] = str(out)
            got[n] = r
            log(f"  {name}, {n} set(s) per scene: {r['cpu_s']:.1f} CPU-s, {r['wall_s']:.1f} s wall")
        runs[name] = {str(n): {kk: vv for kk, vv in r.items() if kk != "out"} for n, r in got.items()}
        denom = len(scenes) * (k - 1)
        stage = {}
        for col in ("setup", *STAGE_COLS):
            big = sum(s["cpu_s"][col] for s in got[k]["scenes"])
            small = sum(s["cpu_s"][col] for s in got[1]["scenes"])
            stage[col] = (big - small) / denom
        whole = (got[k]["cpu_s"] - got[1]["cpu_s"]) / denom
        rows.append({
            "variant": name, "preset": preset, "views": views, "storage": storage,
            "stages_cpu_s": stage, "whole_cpu_s": whole,
            "other_cpu_s": whole - sum(stage[c] for c in STAGE_COLS),
            "in_run_cpu_s": sum(sum(s["cpu_s"][c] for c in STAGE_COLS) for s in got[k]["scenes"]) / (len(scenes) * k),
            "mb_per_set": (got[k]["shard_bytes"] - got[1]["shard_bytes"]) / denom / 1e6,
            "process_overhead_cpu_s": got[1]["cpu_s"] - whole * len(scenes),  # start, imports, setup: per process
            "out": got[k]["out"],
        })
    by = {r["variant"]: r for r in rows}
    ratios = {}
    if "default" in presets and presets[0] != "default":
        for views in (True, False):
            a, b = by[variant_name(presets[0], views, "compact")], by[variant_name("default", views, "compact")]
            ratios["with views" if views else "without views"] = b["whole_cpu_s"] / a["whole_cpu_s"]
    return {"scenes": scenes, "sets": k, "rows": rows, "ratios_vs_default": ratios, "runs": runs,
            "note": "marginal per view set = (K-set run - 1-set run) / (scenes x (K-1)); CPU = user + system "
                    "of the whole simkit render process (os.wait4); stages from SIMKIT_STAGE_TIMES"}


def views_part(scenes: list[str], seed: int) -> dict:
    """CPU-ms per view now and before the vectorised camera (bench_views.bench, one set per scene, 2 repeats)."""
    import bench_views

    r = bench_views.bench(scenes, 1, 2, seed, 320, 240)
    s = r["summary"]
    return {"old_ms_per_view": s["old"]["views"], "new_ms_per_view": s["new"]["views"],
            "speedup": s["speedup_views"], "summary": s, "rows": r["rows"]}


def loader_speed(root: Path, task_name: str, workers: int, seconds: float) -> float:
    """Items/s of ``simkit bench``'s training DataLoader for ``task_name`` (its batch size, collate and
    training items; derivation in the loader) over whole passes after a warm-up pass."""
    import torch
    from torch.utils.data import DataLoader

    from simkit.bench.config import BenchConfig
    from simkit.bench.harness import batch_items
    from simkit.bench.tasks import get_task, load_builtin

    load_builtin()
    task = get_task(task_name)
    cfg = BenchConfig(model="ours_full" if task_name == "direction" else "clup", task=task_name, data=str(root))
    ds = task.open_split(root, "train", cfg, True, negatives=False)
    gen = torch.Generator()
    gen.manual_seed(0)
    loader = DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, num_workers=workers, generator=gen,
                        collate_fn=task.collate, persistent_workers=workers > 0)
    for _ in loader:  # warm-up: workers started, shards opened
        pass
    t0, n, epoch = time.perf_counter(), 0, 1
    while time.perf_counter() - t0 < seconds:
        epoch += 1
        ds.set_epoch(epoch)  # persistent workers keep their copy: new crops only in-process; cost is the same
        for batch in loader:
            n += batch_items(batch, task)
    return n / (time.perf_counter() - t0)


def loader_part(roots: dict[str, Path], items: int, workers: list[int], seconds: float, log) -> dict:
    """Loader CPU-ms per item per task (float32 and compact) and DataLoader items/s by workers."""
    import bench_storage
    import torch

    torch.set_num_threads(1)  # as a loader worker runs (torch sets 1 thread in DataLoader workers)
    cpu_ms = {}
    for storage, root in roots.items():
        cpu_ms[storage] = bench_storage.task_cpu_ms(root, items)
        log(f"  task CPU-ms per item, {storage}: "
            + ", ".join(f"{k} {v:.2f}" for k, v in cpu_ms[storage].items()))
    ratio = {}
    if {"compact", "float32"} <= roots.keys():
        # a float32 item has no derivation to defer: every compact row is set against the float32 item as read
        for k, v in cpu_ms["compact"].items():
            base = k.replace(DEVICE_TAG, "")
            if base in cpu_ms["float32"]:
                ratio[k] = v / cpu_ms["float32"][base]
    speed = []
    for task_name in ("direction", "binauralize"):
        for storage, root in roots.items():
            for w in workers:
                ips = loader_speed(root, task_name, w, seconds)
                speed.append({"task": task_name, "storage": storage, "workers": w, "items_per_s": ips})
                log(f"  DataLoader {task_name}, {storage}, {w} workers: {ips:.0f} items/s")
    return {"items": items, "task_cpu_ms_per_item": cpu_ms, "ratio_compact_vs_float32": ratio,
            "dataloader": speed, "seconds_per_measurement": seconds, "torch_threads": 1}


def report(res: dict) -> str:
    """The markdown report of a result dict (what main prints)."""
    out: list[str] = []
    m = res["machine"]
    if "render" in res:
        r = res["render"]
        out += [f"### Render: marginal CPU-s per view set by stage ({len(r['scenes'])} scenes x ({r['sets']} - 1) "
                "sets, whole `simkit render` processes)", "",
                "| variant | " + " | ".join(STAGE_COLS) + " | other | **whole process** | vs `default` | MB/set |",
                "|---|" + "---|" * (len(STAGE_COLS) + 4)]
        by = {x["variant"]: x for x in r["rows"]}
        for x in r["rows"]:
            ref = by.get(variant_name("default", x["views"], "compact"))
            ratio = f"{ref['whole_cpu_s'] / x['whole_cpu_s']:.2f}×" if ref and x["storage"] == "compact" else "—"
            out.append(f"| {x['variant']} | " + " | ".join(f"{x['stages_cpu_s'][c]:.3f}" for c in STAGE_COLS)
                       + f" | {x['other_cpu_s']:.3f} | **{x['whole_cpu_s']:.3f}** | {ratio} | {x['mb_per_set']:.2f} |")
        out += ["", "(other = whole-process difference not inside the five stages: per-set work outside them and "
                "noise; the per-process overhead cancels in the difference)", ""]
    if "views" in res:
        v = res["views"]
        out += [f"**Views**: {v['new_ms_per_view']:.1f} CPU-ms per 320×240 view (RGB + depth + instances), before "
                f"the vectorised camera {v['old_ms_per_view']:.1f}: **{v['speedup']:.1f}×** "
                f"(target {TARGETS['views_speedup']:.0f}×; benchmarks/bench_views.py on the same scenes)", ""]
    if "loader" in res:
        lo = res["loader"]
        cm = lo["task_cpu_ms_per_item"]
        stores = list(cm)
        out += ["### Loader CPU-ms per item (in-process, `simkit bench`'s items)", "",
                "| items | " + " | ".join(stores) + " | compact / float32 (as read) |",
                "|---|" + "---|" * (len(stores) + 1)]
        for k in cm[stores[0]]:
            rt = lo["ratio_compact_vs_float32"].get(k)
            out.append(f"| {k} | " + " | ".join(f"{cm[s].get(k, float('nan')):.2f}" for s in stores)
                       + f" | {'—' if rt is None else f'{rt:.2f}×'} |")
        ws = sorted({d["workers"] for d in lo["dataloader"]})
        out += ["", "### DataLoader items/s (training split, batch 16, derivation in the loader)", "",
                "| task, storage | " + " | ".join(f"{w} workers" for w in ws) + " |", "|---|" + "---|" * len(ws)]
        for task_name in dict.fromkeys(d["task"] for d in lo["dataloader"]):
            for s in stores:
                vals = {d["workers"]: d["items_per_s"] for d in lo["dataloader"]
                        if d["task"] == task_name and d["storage"] == s}
                out.append(f"| {task_name}, {s} | " + " | ".join(f"{vals[w]:.0f}" for w in ws) + " |")
        out += ["", f"({DEVICE_TAG.strip()}: the item carries source samples and RIRs and the training device "
                "convolves them after the transfer, `simkit bench`'s default on CUDA; a float32 item has nothing to "
                "defer, so its row is the item as read and the ratio is against that)", ""]
    if "summary" in res:
        out += ["### Against the targets", ""]
        for k, (value, target, ok) in res["summary"]["targets"].items():
            out.append(f"- {k}: {value} (target {target}): {'met' if ok else 'NOT met'}")
        p = res["summary"].get("projection")
        if p:
            dflt = "" if p["cpu_h_default"] != p["cpu_h_default"] else \
                f"; `--preset default` {p['cpu_h_default']:.1f} CPU-h"
            out += ["", f"**Projection, {PROJECT_SETS:,} view sets** ({p['variant']}): {p['cpu_h']:.1f} CPU-h "
                    f"({p['cpu_s_per_set']:.3f} CPU-s per set{dflt}); disk "
                    f"{p['disk_gb_compact']:.0f} GB compact ({p['mb_compact']:.2f} MB/set), "
                    f"{p['disk_gb_float32']:.0f} GB float32 ({p['mb_float32']:.2f} MB/set)"]
    out += ["", f"({m.get('cpu_model', '?')}, {m['cpus']} CPUs, load average {m['load_avg'][0]:.2f} at start, "
            f"{m.get('load_avg_end', [float('nan')])[0]:.2f} at end; simkit {res['versions']['simkit']}; "
            f"wall {res.get('total_wall_s', 0):.0f} s)"]
    return "\n".join(out)


def summarize(res: dict) -> dict:
    """Ratios against the issue's targets and the 50,000-set projection from this run's figures."""
    targets: dict[str, tuple[str, str, bool]] = {}
    out: dict[str, Any] = {"targets": targets}
    if "render" in res:
        rr = res["render"]["ratios_vs_default"]
        for key in ("with views", "without views"):
            if key in rr:
                targets[f"whole render vs `--preset default`, {key}"] = (
                    f"{rr[key]:.2f}×", f"≥ {TARGETS['render_ratio_with_views']:.0f}×",
                    rr[key] >= TARGETS["render_ratio_with_views"])
        by = {x["variant"]: x for x in res["render"]["rows"]}
        first = res["render"]["rows"][0]
        f32 = next((x for x in res["render"]["rows"] if x["storage"] == "float32"), None)
        dflt = by.get(variant_name("default", True, "compact"))
        out["projection"] = {
            "variant": first["variant"], "cpu_s_per_set": first["whole_cpu_s"],
            "cpu_h": first["whole_cpu_s"] * PROJECT_SETS / 3600,
            "cpu_h_default": dflt["whole_cpu_s"] * PROJECT_SETS / 3600 if dflt else float("nan"),
            "mb_compact": first["mb_per_set"], "disk_gb_compact": first["mb_per_set"] * PROJECT_SETS / 1e3,
            "mb_float32": f32["mb_per_set"] if f32 else float("nan"),
            "disk_gb_float32": f32["mb_per_set"] * PROJECT_SETS / 1e3 if f32 else float("nan"),
        }
    if "views" in res:
        s = res["views"]["speedup"]
        targets["views, old / new CPU per view"] = (f"{s:.1f}×", f"≥ {TARGETS['views_speedup']:.0f}×",
                                                     s >= TARGETS["views_speedup"])
    if "loader" in res:
        for k, v in res["loader"]["ratio_compact_vs_float32"].items():
            if "train" in k:
                targets[f"loader CPU, compact / float32, {k}"] = (f"{v:.2f}×", f"≤ {TARGETS['loader_ratio']}×",
                                                                  v <= TARGETS["loader_ratio"])
    return out


def main() -> None:
    from simkit.acoustics import PRESETS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_pipeline.json", help="where to write the JSON results")
    ap.add_argument("--work", default="out/bench-pipeline", help="scratch directory for the renders")
    ap.add_argument("--scenes", default="proc_000,proc_042,proc_085",
                    help="comma list of scene ids (one of train and one of val for the loader part)")
    ap.add_argument("--sets", type=int, default=4, help="K: view sets per scene of the larger render (>= 2)")
    ap.add_argument("--presets", default="efficient,default",
                    help="comma list; the first is the one projected (and rendered in float32 for the loader)")
    ap.add_argument("--loader-items", type=int, default=200, help="reads per task for the loader CPU")
    ap.add_argument("--loader-workers", default="0,1,2,N",
                    help="DataLoader workers to time; N = this machine's usable cores")
    ap.add_argument("--loader-seconds", type=float, default=2.0, help="timed seconds per DataLoader figure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help=f"comma list of parts not to run ({', '.join(PARTS)})")
    args = ap.parse_args()

    from bench_scale import machine_info

    from simkit.bench.harness import usable_cores
    from simkit.errors import SimkitError
    from simkit.io import atomic_write_json, package_versions

    def log(msg: str) -> None:
        print(f"[bench_pipeline {time.perf_counter() - t_all:5.0f}s]{msg}", flush=True)

    t_all = time.perf_counter()
    try:
        skip = [p for p in args.skip.split(",") if p]
        if any(p not in PARTS for p in skip):
            raise SimkitError(f"--skip: parts are {', '.join(PARTS)} (got {args.skip!r})")
        if args.sets < 2:
            raise SimkitError("--sets must be >= 2 (the marginal cost is the K-set run minus the 1-set run)")
        presets = [p for p in args.presets.split(",") if p]
        bad = [p for p in presets if p not in PRESETS]
        if not presets or bad:
            raise SimkitError(f"--presets: unknown {bad} (known: {', '.join(PRESETS)})")
        scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
        try:
            workers = sorted({usable_cores() if w.strip() == "N" else int(w) for w in args.loader_workers.split(",")})
        except ValueError:
            raise SimkitError(f"--loader-workers: integers or N (got {args.loader_workers!r})") from None
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
        res: dict[str, Any] = {
            "command": [Path(sys.executable).name, *sys.argv], "scenes": scenes, "sets": args.sets,
            "presets": presets, "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine_info(), "versions": package_versions(), "wall_s": {},
        }
        res["machine"]["usable_cores"] = usable_cores()

        def part(name: str, fn) -> None:
            if name in skip:
                return
            log(f" {name} ...")
            t0 = time.perf_counter()
            res[name] = fn()
            res["wall_s"][name] = time.perf_counter() - t0
            atomic_write_json(args.out, res)

        part("render", lambda: render_part(work, scenes, args.sets, presets, args.seed, log))
        part("views", lambda: views_part(scenes, args.seed))
        if "loader" not in skip:
            # the loader's own two renders (first preset, views, K sets) with visible sources: the binaural
            # tasks refuse a render whose sources float in free air (simkit.data.datasets.binaural)
            roots = {}
            for storage in ("float32", "compact"):
                roots[storage] = work / f"loader-{storage}"
                shutil.rmtree(roots[storage], ignore_errors=True)
                run_render(["render", "--out", str(roots[storage]), "--scenes", ",".join(scenes),
                            "--sets-per-scene", str(args.sets), "--preset", presets[0], "--storage", storage,
                            "--visible-sources", "--seed", str(args.seed), "--workers", "1", "--quiet"],
                           work / "loader-stages.jsonl")
            part("loader", lambda: loader_part(roots, args.loader_items, workers, args.loader_seconds, log))
        res["total_wall_s"] = time.perf_counter() - t_all
        res["machine"]["load_avg_end"] = list(os.getloadavg())
        res["summary"] = summarize(res)
        atomic_write_json(args.out, res)
    except SimkitError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print()
    print(report(res))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
