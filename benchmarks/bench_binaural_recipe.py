"""Render cost of ``simkit render --recipe binaural``: wall time and shard size per view set, with the recipe's
10 s clips and with SLfM's 2.55 s (``--config`` overriding ``speech.clip_seconds``), each a whole ``simkit
render`` process (one worker), then the visibility statistic of the 10 s render (``simkit data stats``).

Usage: PYTHONPATH=$PWD python benchmarks/bench_binaural_recipe.py [--scenes 3] [--sets 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def render(out: Path, scenes: int, sets: int, clip: float | None) -> tuple[float, float]:
    """Seconds and shard MB per view set of one render."""
    cmd = [sys.executable, "-m", "simkit", "render", "--recipe", "binaural", "--out", str(out), "--scenes",
           str(scenes), "--sets-per-scene", str(sets), "--workers", "1", "--quiet"]
    if clip is not None:
        cfg = out.with_suffix(".json")
        cfg.write_text(json.dumps({"speech": {"clip_seconds": clip}}))
        cmd += ["--config", str(cfg)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    size = sum(p.stat().st_size for p in out.rglob("*.h5"))
    n = scenes * sets
    return seconds / n, size / n / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--sets", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="keep the renders here (default: a temporary folder)")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_binaural_recipe_"))
    try:
        for name, clip in (("10 s (recipe)", None), ("2.55 s", 2.55)):
            out = root / name.split()[0].replace(".", "_")
            shutil.rmtree(out, ignore_errors=True)
            per_set, mb = render(out, args.scenes, args.sets, clip)
            print(f"clips {name:<14} {per_set:6.2f} s per view set  {mb:6.2f} MB per view set "
                  f"({args.scenes} scenes x {args.sets} sets)", flush=True)
        stats = subprocess.run([sys.executable, "-m", "simkit", "data", "stats", str(root / "10")], check=True,
                               capture_output=True, text=True).stdout
        print(next(line for line in stats.splitlines() if line.startswith("visibility")))
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
