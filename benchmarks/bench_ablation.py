"""The vision-ablation control on a render whose binaural cues follow the image (docs/bench.md, "Image ablation").

Writes a synthetic pan-image render (:func:`simkit.data.synthetic.write_synthetic_binaural`: the source's pan is
drawn as a square's column in the image, the mono carries no pan), then runs the console script as a user
would: ``mono_copy``, ``mono2binaural``, and ``mono2binaural`` with ``--ablate-image shuffle`` and ``blank``, all
``--recipe quick`` with the same seed, and prints ``simkit leaderboard --format markdown``. A model that uses its
image beats both of its controls (positive Δ on the distances); with the image shuffled or blanked it can only
learn the mean difference.

    PYTHONPATH=$PWD python benchmarks/bench_ablation.py [--out DIR] [--epochs 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from simkit.data.synthetic import write_synthetic_binaural

SIMKIT = str(Path(sys.executable).parent / "simkit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/bench_ablation"))
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    render = args.out / "render"
    if not (render / "manifest.json").exists():
        splits = {"train": [f"tr{i}" for i in range(6)], "val": ["va0"], "test": ["te0", "te1"]}
        write_synthetic_binaural(render, np.random.default_rng(0), splits=splits, n_sets=8, n_views=2)
    results = args.out / "results"
    common = ["--task", "binauralize", "--data", str(render), "--results", str(results), "--recipe", "quick",
              "--epochs", str(args.epochs), "--val-items", "0"]
    runs = [["--model", "mono_copy"], ["--model", "mono2binaural"],
            ["--model", "mono2binaural", "--ablate-image", "shuffle"],
            ["--model", "mono2binaural", "--ablate-image", "blank"]]
    for extra in runs:
        t0 = time.perf_counter()
        subprocess.run([SIMKIT, "bench", *common, *extra], check=True, stdout=subprocess.DEVNULL)
        print(f"{' '.join(extra)}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    board = subprocess.run([SIMKIT, "leaderboard", str(results / "leaderboard.csv"), "--no-references", "--format",
                            "markdown", "--metric", "stft_distance", "--metric", "stft_distance_raw", "--metric",
                            "env_distance"], check=True, capture_output=True, text=True)
    print(board.stdout)


if __name__ == "__main__":
    main()
