"""Every registered direction model on one render with translation, quick recipe, CPU (issue 20; docs/models.md).

    .venv/bin/python benchmarks/bench_direction_models.py --out out/bench-direction
        [--render DIR] [--scenes 20] [--sets-per-scene 12] [--max-translation 1.0] [--seeds 0]
        [--models iid,ours_rt] [--epochs 5] [--rt-items 30,60,120]
        [--rt-options translation_margin=0.1,lambda1=0.5]

Steps (each a real ``simkit`` command, printed before it runs; re-runs resume):

1. ``simkit render --recipe seed000 --scenes N --sets-per-scene M --preset fast --no-views`` (seed 000's
   simulated set: rotation and translation, here 1 m at most; ``--render DIR`` reuses a render instead, which
   must have translation for ours_rt to have its left/right anchor);
2. ``simkit bench --model X --data RENDER --quick --seed S`` for every model of task ``direction`` in the
   registry (:func:`simkit.models.models_for_task`) and every seed, each into its own results folder
   (``OUT/results/X-sS``; one that already has a leaderboard is not run again);
3. a table of the test split: L/R accuracy, angle error (mean; front/back folded mean), 4-class accuracy and
   camera-rotation error (models that estimate it), the share of scored test views predicted on the left
   (1.00 or 0.00: the model answers one side whatever it hears, and its L/R accuracy is the split's share of
   that side), with the checkpoint selection each run used; written to
   ``OUT/table.md`` and printed. ``--rt-items`` adds ours_rt runs with fewer or more training items
   (``--max-items``; rows ``ours_rt-nN``), to see how its left/right anchor grows with the data, and
   ``--rt-options`` ours_rt runs with one model option changed each (rows ``ours_rt-KEYVALUE``).

Also printed: ours_rt's rotation and translation losses (``simkit.models.direction.base``) on the true test
azimuths, on their left/right flip (the mirror minimum makes the rotation loss equal), and on the saved test
predictions of ours_rt, ours_full and slfm and those shifted by 180 deg (the other side): what the loss can
tell apart on this render, and whether it still does at the solution a network found; then ours_rt's loss
and the L/R accuracy of every run's test predictions shifted by one global offset (every 30 deg): the side
the loss would move a network to if only that offset were left to learn; and the test L/R accuracy of
ours_rt / ours_full runs after a label-free choice of side (keep the predictions or shift them by 180 deg,
whichever ours_rt's loss on the val predictions prefers: :func:`side_check`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

SIMKIT = [sys.executable, "-m", "simkit"]
# (metric, column header, format); the direction task's metrics (simkit/bench/tasks/direction.py)
COLUMNS = (
    ("lr_accuracy", "L/R acc", "{:.3f}"),
    ("angle_error_mean", "angle err (deg)", "{:.1f}"),
    ("angle_error_folded_mean", "folded err (deg)", "{:.1f}"),
    ("class4_accuracy", "4-class acc", "{:.3f}"),
    ("rotation_error_mean", "rotation err (deg)", "{:.1f}"),
)


def run(*args: str) -> None:
    print("$ simkit " + " ".join(args), flush=True)
    subprocess.run([*SIMKIT, *args], check=True)


def translation_check(render: Path, results: Path, seeds: list[int], extra: tuple[str, ...] = ()) -> str:
    """ours_rt's rotation and translation losses on the true test azimuths, their left/right flip, and the
    saved test predictions of the trained direction models (and those + 180 deg: the other side); then, per
    run (``extra``: more run names), ours_rt's loss and the L/R accuracy of its predictions shifted by one
    global offset (every 30 deg): where the loss would move a network that had only that offset to learn."""
    import csv

    import h5py
    import torch

    from simkit.models.direction.base import egomotion_loss, rotation_loss, translation_loss

    pairs: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # (scene, set) -> yaw, t, az
    for scene in (render / "splits" / "test.txt").read_text().split():
        with h5py.File(render / "shards" / f"{scene}.h5", "r") as f:
            ry, t = np.asarray(f["pairs/rel_yaw_deg"]), np.asarray(f["pairs/rel_translation"])
            az = np.asarray(f["labels/azimuth_deg"])  # (sets, views, sources)
        for k in range(len(ry)):
            pairs[(scene, k)] = (ry[k], t[k], az[k])

    def losses(theta: torch.Tensor, ry: torch.Tensor, t: torch.Tensor) -> str:
        lr, lt = float(rotation_loss(theta, ry, mirror=True)), float(translation_loss(theta, ry, t))
        return f"{lr:.3f} | {lt:.3f} | {float(egomotion_loss(theta, ry, t, 0.9)[0]):.3f}"

    keys = [(sc, k, j) for (sc, k), (_, _, az) in pairs.items() for j in range(az.shape[-1])]
    th = torch.deg2rad(torch.as_tensor(np.stack([pairs[(sc, k)][2][:, j] for sc, k, j in keys])).float())
    ry_t = torch.as_tensor(np.stack([pairs[(sc, k)][0] for sc, k, _ in keys]))
    t_t = torch.as_tensor(np.stack([pairs[(sc, k)][1] for sc, k, _ in keys]))
    moved = max(float(np.linalg.norm(v[1][..., [0, 2]], axis=-1).max()) for v in pairs.values())
    lines = [f"{len(keys)} test items, largest view-to-view translation {moved:.2f} m", "",
             "| azimuths | rotation loss (mirror min) | translation loss | ours_rt's loss "
             "(mirror min of 0.9 rot + 0.1 trans) |", "|---|---|---|---|",
             f"| true | {losses(th, ry_t, t_t)} |", f"| true, left/right flipped | {losses(-th, ry_t, t_t)} |"]
    offsets = np.arange(-180, 180, 30)
    scan = ["", "ours_rt's loss / L/R accuracy of each run's test predictions + a global offset (deg); "
            "lowest loss in bold:", "",
            "| run | seed | " + " | ".join(f"{o:+d}" for o in offsets) + " |", "|---|---|" + "---|" * len(offsets)]
    for model in ("ours_rt", "ours_full", "slfm", *extra):
        for seed in seeds:
            runs = sorted((results / f"{model}-s{seed}" / "runs").glob("*"))
            if not runs:
                continue
            by: dict[tuple[str, int, int], dict[int, tuple[float, float]]] = {}
            with open(runs[-1] / "predictions.csv") as f:
                for r in csv.DictReader(f):
                    if r["split"] == "test":
                        key = (r["scene_id"], int(r["set_index"]), int(r["source_index"]))
                        by.setdefault(key, {})[int(r["view"])] = (float(r["pred_azimuth_deg"]),
                                                                  float(r["true_azimuth_deg"]))
            ks = sorted(by)
            both = torch.deg2rad(torch.as_tensor([[by[k][v] for v in sorted(by[k])] for k in ks]).float())
            pred, true = both[..., 0], both[..., 1]
            ry_p = torch.as_tensor(np.stack([pairs[(sc, k)][0] for sc, k, _ in ks]))
            t_p = torch.as_tensor(np.stack([pairs[(sc, k)][1] for sc, k, _ in ks]))
            if model in ("ours_rt", "ours_full", "slfm"):
                lines.append(f"| {model} seed {seed}'s predictions | {losses(pred, ry_p, t_p)} |")
                lines.append(f"| {model} seed {seed}'s predictions + 180 deg | {losses(pred + np.pi, ry_p, t_p)} |")
            keep = true.sin().abs() > np.sin(np.deg2rad(5.0))  # lr_accuracy's median-plane rule
            cells = []
            for o in offsets:
                x = pred + np.deg2rad(o)
                lr = float(((x.sin() > 0) == (true.sin() > 0))[keep].float().mean())
                cells.append((float(egomotion_loss(x, ry_p, t_p, 0.9)[0]), lr))
            best = min(range(len(cells)), key=lambda n: cells[n][0])
            scan.append(f"| {model} | {seed} | " + " | ".join(
                (f"**{c[0]:.4f} / {c[1]:.2f}**" if n == best else f"{c[0]:.4f} / {c[1]:.2f}")
                for n, c in enumerate(cells)) + " |")
    return "\n".join(lines + scan)


def side_check(render: Path, results: Path, runs: list[str], seeds: list[int]) -> str:
    """A label-free choice between a run's predictions and their 180-degree shift (the other side): the one
    whose ours_rt loss (``egomotion_loss``, lambda1 0.9) on the saved *val* predictions is lower, applied to
    the test predictions, whose L/R accuracy (labels used only to score) is reported beside the run's own."""
    import csv

    import h5py
    import torch

    from simkit.models.direction.base import egomotion_loss

    geo: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]] = {}  # (split, scene, set) -> yaw, t
    for split in ("val", "test"):
        for scene in (render / "splits" / f"{split}.txt").read_text().split():
            with h5py.File(render / "shards" / f"{scene}.h5", "r") as f:
                ry, t = np.asarray(f["pairs/rel_yaw_deg"]), np.asarray(f["pairs/rel_translation"])
            for k in range(len(ry)):
                geo[(split, scene, k)] = (ry[k], t[k])

    def load(path: Path, split: str) -> tuple[torch.Tensor, ...]:
        by: dict[tuple[str, int, int], dict[int, tuple[float, float]]] = {}
        with open(path) as f:
            for r in csv.DictReader(f):
                if r["split"] == split:
                    key = (r["scene_id"], int(r["set_index"]), int(r["source_index"]))
                    by.setdefault(key, {})[int(r["view"])] = (float(r["pred_azimuth_deg"]),
                                                              float(r["true_azimuth_deg"]))
        ks = sorted(by)
        both = torch.deg2rad(torch.as_tensor([[by[k][v] for v in sorted(by[k])] for k in ks]).float())
        ry = torch.as_tensor(np.stack([geo[(split, sc, k)][0] for sc, k, _ in ks]))
        t = torch.as_tensor(np.stack([geo[(split, sc, k)][1] for sc, k, _ in ks]))
        return both[..., 0], both[..., 1], ry, t

    def lr(pred: torch.Tensor, true: torch.Tensor) -> float:
        keep = true.sin().abs() > np.sin(np.deg2rad(5.0))  # lr_accuracy's median-plane rule
        return float(((pred.sin() > 0) == (true.sin() > 0))[keep].float().mean())

    lines = ["| run | seed | val loss +0 / +180 deg | shift chosen | test L/R as trained | test L/R, side chosen |",
             "|---|---|---|---|---|---|"]
    for name in runs:
        for seed in seeds:
            found = sorted((results / f"{name}-s{seed}" / "runs").glob("*/predictions.csv"))
            if not found:
                continue
            p, _, ry, t = load(found[-1], "val")
            l0, l1 = float(egomotion_loss(p, ry, t, 0.9)[0]), float(egomotion_loss(p + np.pi, ry, t, 0.9)[0])
            p, true, _, _ = load(found[-1], "test")
            chosen = p + np.pi if l1 < l0 else p
            lines.append(f"| {name} | {seed} | {l0:.4f} / {l1:.4f} | {'+180' if l1 < l0 else '+0'} | "
                         f"{lr(p, true):.3f} | {lr(chosen, true):.3f} |")
    return "\n".join(lines)


def left_shares(run_dir: Path) -> dict[str, tuple[float, float]]:
    """{split key of predictions.csv: (share of scored views predicted left, share truly left)}: a model that
    answers one side for every clip shows 0 or 1 here, and its L/R accuracy is then the split's side share."""
    import csv

    by: dict[str, list[tuple[float, float]]] = {}
    with open(run_dir / "predictions.csv") as f:
        for r in csv.DictReader(f):
            by.setdefault(r["split"], []).append((float(r["true_azimuth_deg"]), float(r["pred_azimuth_deg"])))
    out = {}
    for key, pairs in by.items():
        t, p = np.deg2rad(np.array(pairs)).T
        keep = np.abs(np.sin(t)) > np.sin(np.deg2rad(5.0))  # lr_accuracy's median-plane rule
        if keep.any():
            out[key] = (float((np.sin(p[keep]) > 0).mean()), float((np.sin(t[keep]) > 0).mean()))
    return out


def table(results: Path, models: list[str], seeds: list[int]) -> str:
    """Markdown table of the test rows of every run's leaderboard."""
    from simkit.bench.leaderboard import read_leaderboard

    head = ("| model | seed | selection | test views | " + " | ".join(c[1] for c in COLUMNS)
            + " | predicted left | train s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for model in models:
        for seed in seeds:
            csv_path = results / f"{model}-s{seed}" / "leaderboard.csv"
            if not csv_path.is_file():
                continue
            rows = [r for r in read_leaderboard(csv_path) if r["split"] == "test" and not r["is_reference"]]
            by = {r["metric"]: r for r in rows}
            if not by:
                continue
            first = next(iter(by.values()))
            sel = first["select_metric"] or "-"
            n = by["lr_accuracy"]["n_samples"] if "lr_accuracy" in by else ""
            cells = []
            for metric, _, fmt in COLUMNS:
                v = by.get(metric, {}).get("value")
                cells.append("-" if v is None or not np.isfinite(v) else fmt.format(v))
            runs = sorted((results / f"{model}-s{seed}" / "runs").glob("*"))
            shares = left_shares(runs[-1]) if runs else {}
            cells.append(f"{shares['test'][0]:.2f}" if "test" in shares else "-")
            ts = first.get("train_seconds")
            tcell = f"{ts:.0f}" if isinstance(ts, float) and np.isfinite(ts) else "-"
            lines.append(f"| {model} | {seed} | {sel} | {n} | " + " | ".join(cells) + f" | {tcell} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/bench-direction"))
    ap.add_argument("--render", type=Path, default=None, help="reuse this render (default: render OUT/render)")
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--sets-per-scene", type=int, default=12)
    ap.add_argument("--max-translation", type=float, default=None,
                    help="metres (default: the seed000 recipe's)")
    ap.add_argument("--seeds", default="0", help="comma list of bench seeds")
    ap.add_argument("--models", default="", help="comma list (default: every registered direction model)")
    ap.add_argument("--epochs", type=int, default=None, help="default: --quick's")
    ap.add_argument("--rt-options", default="", help="also ours_rt with each of these KEY=VALUE options "
                    "(comma list, one run each), rows ours_rt-KEYVALUE")
    ap.add_argument("--rt-items", default="", help="also ours_rt with these --max-items (training items per "
                    "split; --quick's is 160), rows ours_rt-nN")
    args = ap.parse_args()

    from simkit.models import models_for_task

    models = [m for m in args.models.split(",") if m] or sorted(models_for_task("direction"))
    seeds = [int(s) for s in args.seeds.split(",")]
    render = args.render or args.out / "render"
    if args.render is None:
        extra = [] if args.max_translation is None else ["--max-translation", f"{args.max_translation:g}"]
        run("render", "--recipe", "seed000", "--out", str(render), "--scenes", str(args.scenes),
            "--sets-per-scene", str(args.sets_per_scene), "--preset", "fast", "--no-views", "--quiet", *extra)
    results = args.out / "results"
    for model in models:
        for seed in seeds:
            res = results / f"{model}-s{seed}"
            if (res / "leaderboard.csv").is_file():
                print(f"# {model} seed {seed}: done before ({res})", flush=True)
                continue
            epochs = [] if args.epochs is None else ["--epochs", str(args.epochs)]
            run("bench", "--model", model, "--data", str(render), "--results", str(res), "--quick",
                "--seed", str(seed), "--device", "cpu", *epochs)
    rt_runs = []
    for items in (int(n) for n in args.rt_items.split(",") if n):
        for seed in seeds:
            name = f"ours_rt-n{items}"
            rt_runs += [name] if name not in rt_runs else []
            res = results / f"{name}-s{seed}"
            if not (res / "leaderboard.csv").is_file():
                run("bench", "--model", "ours_rt", "--data", str(render), "--results", str(res), "--quick",
                    "--seed", str(seed), "--device", "cpu", "--max-items", str(items))
    for opt in (o for o in args.rt_options.split(",") if o):
        key, value = opt.split("=", 1)
        name = f"ours_rt-{key}{value}"
        rt_runs += [name] if name not in rt_runs else []
        for seed in seeds:
            res = results / f"{name}-s{seed}"
            if not (res / "leaderboard.csv").is_file():
                run("bench", "--model", "ours_rt", "--data", str(render), "--results", str(res), "--quick",
                    "--seed", str(seed), "--device", "cpu", "--option", opt)
    check = translation_check(render, results, seeds, tuple(rt_runs))
    sides = side_check(render, results, [m for m in ("ours_rt", "ours_full") if m in models] + rt_runs, seeds)
    text = table(results, models + rt_runs, seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text + "\n\n" + check + "\n\n" + sides + "\n")
    print("\n" + text + "\n\nours_rt's losses on the test split (labels, their flip, saved predictions):\n" + check
          + "\n\nThe side chosen without labels (ours_rt's loss on val, +0 or +180 deg):\n" + sides)


if __name__ == "__main__":
    main()
