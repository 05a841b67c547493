"""Render a small simulated set and look at one item.

Renders 3 embedded scenes (one per split) with 1 view set each at the cheapest ray preset, every source a
visible sounding object in the views (``visible_sources``: the binaural tasks need them), opens the train
split for the ``direction`` task (what its models see: V binaural clips of one source) and the test split
for ``binauralize`` (mono + RGB view -> binaural), prints one item of each and saves a PNG of the view
with both ears' waveforms. About 5 s of CPU.

    python examples/render_and_look.py --out out/example-render
"""

from __future__ import annotations

import argparse
from pathlib import Path

import simkit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/example-render"), help="output folder")
    ap.add_argument("--scenes", type=int, default=3, help="scenes to render (>= 3: one per split)")
    ap.add_argument("--sets-per-scene", type=int, default=1)
    args = ap.parse_args()

    data = args.out / "render"
    result = simkit.render(data, scenes=args.scenes, sets_per_scene=args.sets_per_scene, preset="efficient",
                           visible_sources=True)
    print(f"rendered {len(result.rendered)} scenes ({len(result.skipped)} already complete) -> {data}")

    # direction: one item = one source of one view set, heard from all V views
    ds = simkit.open_dataset(data, "direction", "train")
    item = ds[0]
    print(f"direction/train: {len(ds)} items; item 0:")
    for key, value in item.items():
        print(f"  {key:<16} {tuple(value.shape) if hasattr(value, 'shape') else value!r}")
    print(f"  source azimuth per view (deg, + = left): {[round(float(a), 1) for a in item['azimuth_deg']]}")

    # binauralize: one item = one (view, source) clip with its RGB view
    clip = simkit.open_dataset(data, "binauralize", "test")[0]
    png = args.out / "item.png"
    save_figure(clip, png)
    print(f"binauralize/test item: image {tuple(clip['image'].shape)}, binaural {tuple(clip['binaural'].shape)}")
    print(f"figure: {png}")


def save_figure(clip: dict, png: Path) -> None:
    """The item's RGB view beside its left and right waveforms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.imshow(clip["image"].numpy())
    a.set_title(f"{clip['scene_id']} set {clip['set_index']} view {clip['view_index']}")
    a.axis("off")
    wave = clip["binaural"].numpy()
    for ear, name in enumerate(("left", "right")):
        b.plot(wave[ear], lw=0.5, label=name)
    b.set_xlabel("sample (16 kHz)")
    b.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
