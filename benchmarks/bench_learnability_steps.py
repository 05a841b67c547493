"""mono2binaural with more optimiser steps than the bench's CPU runs afford: an in-memory training loop.

Issue 21, item 5 (docs/binaural.md, "Learnability"). ``simkit bench`` on a 10 s binaural render spends most
of a CPU epoch reading whole clips for 0.63 s windows; this loads every train clip and image once, then trains
``mono2binaural`` (simkit's model and loss, ``model.loss``) for ``--steps`` Adam steps (lr 1e-3, the authors'
audio rate, one rate for all parameters, no weight decay) on random 0.63 s windows, ``--batch`` per step,
windows drawn from one seeded generator. ``--ablate shuffle`` permutes the images across the train clips once
and across the test clips once (the bench's ``--ablate-image shuffle`` control). Every ``--log-every`` steps it
prints the loss on fixed val windows (one per val clip) against predicting zero L - R. At the
end it scores the test split as the task does (:meth:`BinauralModel.predict`, whole clips, windows every
``--hop`` s; the protocol's 0.05 s costs 12x more) with ``stft_distance_raw``, ``stft_distance``,
``env_distance`` and ``diff_corr``, beside ``mono_copy``.

    PYTHONPATH=$PWD python benchmarks/bench_learnability_steps.py /work/out/learn/render-s1 --steps 2000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from simkit.bench.config import make_config
from simkit.bench.tasks.binaural import open_split
from simkit.metrics.binaural import WINDOW_SECONDS, binaural_metrics
from simkit.models import get_model
from simkit.models.binaural.base import difference_of, normalize_batch, protocol_stft
from simkit.models.binaural.mono2binaural import spec_channels

METRICS = ("stft_distance", "stft_distance_raw", "env_distance", "diff_corr")


def load(render: Path, split: str) -> dict[str, torch.Tensor]:
    """Every whole clip of ``split``: ``binaural`` (N, 2, T), ``mono`` (N, T), ``image`` (N, H, W, 3)."""
    ds = open_split(render, split, make_config(), False, negatives=False)
    batches = list(DataLoader(ds, batch_size=16, shuffle=False))
    return {k: torch.cat([b[k] for b in batches]) for k in ("binaural", "mono", "image")}


def windows(data: dict[str, torch.Tensor], rows: torch.Tensor, starts: torch.Tensor, width: int) -> dict:
    """A batch of windows ``[start, start + width)`` of clips ``rows``."""
    idx = starts[:, None] + torch.arange(width)[None, :]
    binaural = torch.stack([data["binaural"][r, :, i] for r, i in zip(rows.tolist(), idx, strict=True)])
    return {"binaural": binaural, "mono": binaural.mean(1), "image": data["image"][rows]}


def zero_loss(batch: dict) -> float:
    """The model's loss for a predicted L - R of zero."""
    return float(spec_channels(protocol_stft(difference_of(normalize_batch(batch)["binaural"]))).pow(2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("render", type=Path)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hop", type=float, default=0.63, help="test generation hop in s (protocol: 0.05)")
    ap.add_argument("--ablate", choices=("none", "shuffle"), default="none")
    ap.add_argument("--log-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    train, val, test = (load(args.render, s) for s in ("train", "val", "test"))
    if args.ablate == "shuffle":
        for data in (train, val, test):
            data["image"] = data["image"][torch.randperm(len(data["image"]), generator=gen)]
    width = int(round(WINDOW_SECONDS * 16000))
    n_samples = train["binaural"].shape[-1]
    val_batch = windows(val, torch.arange(len(val["mono"])),
                        torch.randint(0, n_samples - width + 1, (len(val["mono"]),), generator=gen), width)
    z_val = zero_loss(val_batch)
    print(f"{args.render}: {len(train['mono'])} train / {len(val['mono'])} val / {len(test['mono'])} test clips "
          f"loaded in {time.time() - t0:.0f} s; images {args.ablate}; zero-prediction val loss {z_val:.4f}",
          flush=True)
    cfg = make_config(model="mono2binaural", task="binauralize", data=str(args.render), width=args.width,
                      num_workers=0, seed=args.seed, model_options={"eval_hop_seconds": args.hop})
    model = get_model("mono2binaural").build(cfg, {})
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    trace = []
    t0 = time.time()
    for step in range(1, args.steps + 1):
        model.train()
        rows = torch.randint(0, len(train["mono"]), (args.batch,), generator=gen)
        starts = torch.randint(0, n_samples - width + 1, (args.batch,), generator=gen)
        loss, _ = model.loss(windows(train, rows, starts, width))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.log_every == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                val_loss = float(model.loss(val_batch)[0])
            trace.append({"step": step, "val_loss_over_zero": val_loss / z_val})
            print(f"  step {step}: train loss {float(loss.detach()):.4f}, val loss / zero {val_loss / z_val:.3f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    scores: dict[str, list[dict[str, float]]] = {"mono2binaural": [], "mono_copy": []}
    for i in range(len(test["mono"])):
        item = {"mono": test["mono"][i : i + 1], "image": test["image"][i : i + 1]}
        pred = model.predict(item)["binaural"][0].double().numpy()
        target = test["binaural"][i].double().numpy()
        mono = test["mono"][i].double().numpy()
        scores["mono2binaural"].append(binaural_metrics(pred, target))
        scores["mono_copy"].append(binaural_metrics(np.stack([mono, mono]), target))
    table = {name: {m: float(np.nanmean([r[m] for r in rows])) for m in METRICS} for name, rows in scores.items()}
    print(f"test ({args.steps} steps x {args.batch}, images {args.ablate}, hop {args.hop} s):")
    for name, vals in table.items():
        print(f"  {name}: " + ", ".join(f"{m} {v:.5g}" for m, v in vals.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "trace": trace,
                                         "test": table}, indent=1))


if __name__ == "__main__":
    main()
