"""What moves the IID rule's L/R accuracy of a `wild` render: microphone, distractor count and level, noise SNR.

Renders one base dataset per microphone (the `wild` recipe with 4 sources, float32 storage, no noise, no
distractor gain, views off: the IID rule does not read images), then recomputes every view's mix from the
stored per-source clips for each setting of the sweep, exactly as the render forms it (simkit.audio.mix:
distractor clips scaled by gains drawn in dB, diffuse noise with the microphone's coherence at an SNR drawn
per view), and scores the IID rule (seed 000, Table 7: ``sign(log(E_L / E_R))`` of the whole clip) against
the side of source 0 (the recipe's ``mix.target = first``). Mixing is linear, so this equals a render with
those settings up to the random draws. Prints a Markdown table (docs/wild.md).

    python benchmarks/bench_wild.py --scenes 9 --sets 6 --out /tmp/wild_bench [--preset fast]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import h5py
import numpy as np

from simkit.audio.mix import MixConfig, mix_set
from simkit.conventions import MEDIAN_PLANE_MARGIN_DEG, iid_side, side_of_azimuth
from simkit.data.storage import read_set_binaural

MICS = ("binaural", "spaced-pair", "phone-stereo")
SOURCES = 4
# (distractors, distractor_gain_db, noise_snr_db): the rows of the sweep
SWEEP: list[tuple[int, tuple[float, float], tuple[float, float] | None]] = [
    (0, (0.0, 0.0), None),
    (0, (0.0, 0.0), (20.0, 30.0)),
    (0, (0.0, 0.0), (0.0, 20.0)),
    (0, (0.0, 0.0), (-5.0, 5.0)),
    (0, (0.0, 0.0), (-20.0, -10.0)),
    (1, (-12.0, 0.0), None),
    (2, (-12.0, 0.0), None),
    (3, (-12.0, 0.0), None),
    (2, (-24.0, -12.0), None),
    (2, (0.0, 0.0), None),
    (2, (-12.0, 0.0), (20.0, 30.0)),
    (2, (-12.0, 0.0), (0.0, 20.0)),
    (2, (-12.0, 0.0), (-5.0, 5.0)),
    (2, (-12.0, 0.0), (-20.0, -10.0)),
    (3, (-6.0, 0.0), (0.0, 10.0)),
]


def render_base(out: Path, mic: str, scenes: int, sets: int, preset: str) -> Path:
    from simkit.render.config import load_render_config
    from simkit.render.pipeline import render_dataset
    from simkit.scenes.catalog import resolve_scenes

    cfg = load_render_config(recipe="wild", overrides={
        "scenes": resolve_scenes(str(scenes)), "sets_per_scene": sets, "acoustics.mic": mic,
        "acoustics.preset": preset, "sampling.sources": SOURCES, "mix.distractor_gain_db": [0.0, 0.0],
        "mix.noise_snr_db": None, "storage": "float32", "views.enabled": False})
    render_dataset(cfg, out, progress=False)
    return out


def load(root: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per set: the clips (V, S, 2, T) and the sides (V, S) of a base render."""
    clips, sides = [], []
    for shard in sorted((root / "shards").glob("*.h5")):
        with h5py.File(shard, "r") as f:
            for n in range(int(f.attrs["n_sets"])):
                clips.append(read_set_binaural(f, n))
                sides.append(side_of_azimuth(f["labels/azimuth_deg"][n].astype(np.float64), MEDIAN_PLANE_MARGIN_DEG))
    return clips, sides


def score(clips: list[np.ndarray], sides: list[np.ndarray], mic: str, spacing: float, distractors: int,
          gain_db: tuple[float, float], snr: tuple[float, float] | None, seed: int = 0) -> tuple[float, int]:
    cfg = MixConfig(enabled=True, target="first", distractor_gain_db=gain_db, noise_snr_db=snr)
    hits: list[bool] = []
    for n, (c, s) in enumerate(zip(clips, sides, strict=True)):
        rng = np.random.default_rng([seed, n])
        c = c[:, : 1 + distractors].astype(np.float64)
        if distractors and gain_db != (0.0, 0.0):
            c[:, 1:] *= 10.0 ** (rng.uniform(*gain_db, distractors) / 20.0)[None, :, None, None]
        m = mix_set(c.astype(np.float32), cfg, rng, 16000, mic=mic, spacing_m=spacing)
        pred = iid_side(m.mix)
        keep = s[:, 0] != 0
        hits += list(pred[keep] == s[keep, 0])
    return float(np.mean(hits)), len(hits)


def main() -> None:
    from simkit.acoustics.mics import get_mic
    from simkit.audio.mix import HEAD_WIDTH_M

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=9)
    ap.add_argument("--sets", type=int, default=6)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    data = {}
    for mic in MICS:
        t0 = time.time()
        root = render_base(args.out / mic, mic, args.scenes, args.sets, args.preset)
        data[mic] = load(root)
        print(f"# rendered {mic}: {len(data[mic][0])} sets in {time.time() - t0:.0f} s", flush=True)
    print("| distractors | distractor gain (dB) | noise SNR (dB) | " + " | ".join(MICS) + " |")
    print("|---|---|---|" + "---|" * len(MICS))
    for k, gain, snr in SWEEP:
        row = []
        for mic in MICS:
            spacing = get_mic(mic).resolved_spacing(None) or HEAD_WIDTH_M
            acc, n = score(*data[mic], mic, spacing, k, gain, snr)
            row.append(f"{100 * acc:.1f} %")
        snr_text = "none" if snr is None else f"{snr[0]:g} to {snr[1]:g}"
        gain_text = "-" if k == 0 else f"{gain[0]:g} to {gain[1]:g}"
        print(f"| {k} | {gain_text} | {snr_text} | " + " | ".join(row) + " |", flush=True)
    print(f"(IID L/R accuracy of the mix against source 0's side; {n} labelled clips per cell)")


if __name__ == "__main__":
    main()
