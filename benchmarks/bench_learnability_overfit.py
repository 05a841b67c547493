"""Can mono2binaural's loss go below predicting no side difference at all? Overfit a few fixed windows.

Issue 21, item 5 (docs/binaural.md, "Learnability"). Takes ``--items`` train items of a binaural render, one
fixed 0.63 s window each (the task's training windows, drawn once), and trains ``mono2binaural`` on exactly
those windows for ``--steps`` full-batch Adam steps (lr 1e-3, the authors' audio rate). The loss is the
model's own (2.5D Visual Sound's MSE on the L - R spectrogram, after simkit's per-item RMS normalisation);
``zero`` is the same loss for a prediction of no difference (mask 0). Three runs, same seed: images as given,
images shuffled across the items (a fixed permutation), and, as a held-out check, the real-image model's loss
on fresh windows of the same items (other offsets). A ratio below 1 on the fixed windows means the network
can fit L - R at all; below 1 on fresh windows, that it generalises within the items.

    PYTHONPATH=$PWD python benchmarks/bench_learnability_overfit.py /work/out/learn/render --items 32 --steps 300
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from simkit.bench.config import make_config
from simkit.bench.tasks.binaural import open_split
from simkit.models import get_model
from simkit.models.binaural.base import difference_of, normalize_batch, protocol_stft
from simkit.models.binaural.mono2binaural import spec_channels


def windows(render: Path, n_items: int, epoch: int) -> dict:
    """One batch: the first ``n_items`` train items, their windows drawn for ``epoch``."""
    ds = open_split(render, "train", make_config(max_items=n_items), True, negatives=False)
    ds.set_epoch(epoch)
    return next(iter(DataLoader(ds, batch_size=len(ds), shuffle=False)))


def zero_loss(batch: dict) -> float:
    """The model's loss for a predicted L - R of zero: the mean square of the target spectrogram."""
    target = spec_channels(protocol_stft(difference_of(normalize_batch(batch)["binaural"])))
    return float(target.pow(2).mean())


def train(render: Path, batch: dict, steps: int, width: int, seed: int, log_every: int
          ) -> tuple[torch.nn.Module, list[tuple[int, float]]]:
    """mono2binaural trained on ``batch`` alone; the loss every ``log_every`` steps."""
    torch.manual_seed(seed)
    cfg = make_config(model="mono2binaural", task="binauralize", data=str(render), width=width, num_workers=0,
                      seed=seed)
    model = get_model("mono2binaural").build(cfg, {})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    trace = []
    for step in range(steps + 1):
        loss, _ = model.loss(batch)
        if step % log_every == 0:
            trace.append((step, float(loss.detach())))
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, trace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("render", type=Path)
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    batch = windows(args.render, args.items, 0)
    fresh = windows(args.render, args.items, 1)
    shuffled = dict(batch)
    shuffled["image"] = batch["image"][torch.randperm(len(batch["image"]), generator=torch.Generator().manual_seed(1))]
    z, z_fresh = zero_loss(batch), zero_loss(fresh)
    print(f"{args.items} items of {args.render}, width {args.width}, {args.steps} steps; zero-prediction loss "
          f"{z:.4f} (fresh windows {z_fresh:.4f})")
    for label, data in (("images as given", batch), ("images shuffled", shuffled)):
        t0 = time.time()
        model, trace = train(args.render, data, args.steps, args.width, args.seed, args.log_every)
        line = ", ".join(f"{s}: {loss / z:.3f}" for s, loss in trace)
        print(f"{label}: loss / zero by step: {line} ({time.time() - t0:.0f} s)")
        if label == "images as given":
            model.eval()
            with torch.no_grad():
                held, _ = model.loss(fresh)
            print(f"  fresh windows of the same items: loss / zero {float(held) / z_fresh:.3f}")


if __name__ == "__main__":
    main()
