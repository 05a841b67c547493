"""Is binaural generation learnable on simkit's renders? Issue 21's benchmark, whole processes, CPU.

Renders ``--recipe binaural`` (visible sounding objects in view, the clip of a view = the mix of its sources),
then trains and scores on ``binauralize`` with the bench's quick recipe: ``mono_copy`` (no training: both ears
get the mono), ``mono2binaural``, ``mono2binaural`` with its images shuffled across items (``--ablate-image
shuffle``: what it learns without seeing where the sources are), ``clup_baseline`` and ``clup``. It prints one
markdown table of the test split: STFT distance (the protocol's, peak-normalised), ``stft_distance_raw`` (no
normalisation: a model that only moves the peak cannot game it), ENV and ``diff_corr`` (the correlation of the
predicted with the true L - R: ~0 = the model predicts no side difference, or noise). A model has learnt the
task when it beats ``mono_copy`` and its own shuffled-image control on ``stft_distance_raw`` and its
``diff_corr`` is clearly above 0.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_learnability.py --scenes 20 --sets-per-scene 4 \
        --epochs 10 --out out/learnability

Re-runs resume the render and reuse finished bench runs (one results directory per model row). ``--json``
writes the table's numbers. ``--render-args`` changes the render one knob at a time (``'--sources 1'``: one
object per view); ``--row-args INDEX=FLAGS`` gives one row its own flags (the CLUP rows at CPU size take
``--option residual_channels=8 ...``, which ``mono_copy`` would refuse). The commands of the published table:
docs/binaural.md, "Learnability"; the oracles, the overfit check and longer mono2binaural training are
``bench_learnability_oracles.py``, ``bench_learnability_overfit.py`` and ``bench_learnability_steps.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

METRICS = ("stft_distance", "stft_distance_raw", "env_distance", "diff_corr")
# (row label, model, extra bench arguments)
ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("mono_copy", "mono_copy", ()),
    ("mono2binaural", "mono2binaural", ()),
    ("mono2binaural, images shuffled", "mono2binaural", ("--ablate-image", "shuffle")),
    ("clup_baseline", "clup_baseline", ()),
    ("clup", "clup", ()),
)


def simkit(*args: str) -> None:
    """Run the console script next to this interpreter (the venv's), failing loudly."""
    exe = Path(sys.executable).with_name("simkit")
    cmd = [str(exe) if exe.exists() else "simkit", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def test_rows(results: Path) -> dict[str, float]:
    """The test split's values of METRICS in one results directory's leaderboard (its newest run)."""
    with open(results / "leaderboard.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test" and r["metric"] in METRICS]
    newest = max(r["timestamp_utc"] for r in rows)
    return {r["metric"]: float(r["value"]) for r in rows if r["timestamp_utc"] == newest}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/learnability"))
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--sets-per-scene", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--recipe", default="quick", help="bench recipe of every row (quick | default | paper)")
    ap.add_argument("--bench-args", default="",
                    help="more `simkit bench` flags for every row, e.g. '--max-items 0 --batch-size 16 --width 8' "
                         "(explicit flags override the recipe's values)")
    ap.add_argument("--render-args", default="",
                    help="more `simkit render` flags, e.g. '--sources 1' (an easier render: one object per view)")
    ap.add_argument("--row-args", action="append", default=[], metavar="INDEX=FLAGS",
                    help="more `simkit bench` flags for one row only (after --bench-args), e.g. "
                         "'3=--option residual_channels=8'; repeatable")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--rows", default=",".join(str(i) for i in range(len(ROWS))),
                    help="which rows to run, by index (default: all)")
    args = ap.parse_args()
    data = args.out / "render"
    t0 = time.time()
    simkit("render", "--recipe", "binaural", "--out", str(data), "--scenes", str(args.scenes),
           "--sets-per-scene", str(args.sets_per_scene), "--seed", str(args.seed), *args.render_args.split())
    row_args: dict[int, list[str]] = {}
    for spec in args.row_args:
        index, _, flags = spec.partition("=")
        row_args.setdefault(int(index), []).extend(flags.split())
    render_s = time.time() - t0
    table = []
    for index in (int(i) for i in args.rows.split(",")):
        label, model, extra = ROWS[index]
        results = args.out / f"results-{index}"
        t0 = time.time()
        if not (results / "leaderboard.csv").exists():
            simkit("bench", "--task", "binauralize", "--model", model, "--data", str(data), "--results",
                   str(results), "--recipe", args.recipe, "--epochs", str(args.epochs), "--seed", str(args.seed),
                   "--threads", str(args.threads), *args.bench_args.split(), *row_args.get(index, []), *extra)
        table.append({"row": label, "seconds": round(time.time() - t0, 1), **test_rows(results)})
    print(f"\nbench: --recipe {args.recipe} --epochs {args.epochs} {args.bench_args}".rstrip())
    print(f"render: {render_s:.0f} s ({args.scenes} scenes x {args.sets_per_scene} sets, recipe binaural); "
          f"cpu: {os.cpu_count()} cores\n")
    print("| model | test STFT | test STFT raw | test ENV | L-R correlation |")
    print("|---|---|---|---|---|")
    for r in table:
        print(f"| {r['row']} | " + " | ".join(f"{r.get(m, float('nan')):.4g}" for m in METRICS) + " |")
    if args.json:
        args.json.write_text(json.dumps({"render_seconds": render_s, "rows": table}, indent=1))


if __name__ == "__main__":
    main()
