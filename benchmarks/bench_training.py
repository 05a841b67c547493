"""Throughput of the bench's data loader and training step (CPU, plus the CUDA/AMP path on a GPU machine).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_training.py [--data RENDER_DIR] [--device auto]

Without ``--data`` a synthetic render with real clip and RIR lengths (2.55 s clips, 1 s RIRs, 4 views) is
written to a temporary directory. Prints a table and, with ``--json FILE``, writes the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from simkit.bench.config import make_config
from simkit.bench.harness import resolve_device, to_device
from simkit.bench.tasks import get_task
from simkit.data.synthetic import write_synthetic_render
from simkit.models import get_model


def loader_throughput(data: Path, workers: int, reconvolve: float, n_items: int, batch: int) -> float:
    """Items (view sets x V views of one source) per second through a training DataLoader."""
    cfg = make_config(data=str(data), num_workers=workers, reconvolve_prob=reconvolve, batch_size=batch)
    task = get_task("direction")
    ds = task.open_split(data, "train", cfg, True)
    dl = DataLoader(
        ds, batch_size=batch, shuffle=True, num_workers=workers, generator=torch.Generator().manual_seed(0)
    )
    seen, t0 = 0, time.perf_counter()
    while seen < n_items:
        for b in dl:
            seen += len(b["audio"])
            if seen >= n_items:
                break
    return seen / (time.perf_counter() - t0)


def train_throughput(
    data: Path, device: torch.device, width: int, batch: int, steps: int, amp: bool, quick: bool
) -> tuple[float, int]:
    """Training items per second of ``ours_full`` (forward + backward + AdamW), batches pre-loaded."""
    cfg = make_config(
        quick=quick, data=str(data), width=width, batch_size=batch, amp=amp, reconvolve_prob=0.0
    )
    task = get_task("direction")
    ds = task.open_split(data, "train", cfg, True)
    batches = [to_device(b, device) for b, _ in zip(DataLoader(ds, batch_size=batch), range(3), strict=False)]
    torch.manual_seed(0)
    model = get_model("ours_full").build(cfg, task.data_info(data, cfg)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    use_amp = device.type == "cuda" and amp
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)

    def step(b: dict) -> None:
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            loss, _ = model.loss(b)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for b in batches[:2]:  # warm-up (allocator, cuDNN autotuning)
        step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    if device.type == "cuda":
        torch.cuda.synchronize()
    items = steps * len(batches[0]["audio"])
    return items / (time.perf_counter() - t0), sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="render directory (default: synthetic)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--widths", default="8,32,64")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    tmp = None
    data = args.data
    if data is None:
        tmp = tempfile.TemporaryDirectory()
        scenes = {f"s{i}": "train" for i in range(6)} | {"v": "val", "t": "test"}
        data = write_synthetic_render(
            Path(tmp.name) / "render",
            scenes,
            sets_per_scene=4,
            sources=3,
            clip_seconds=2.55,
            rir_samples=16000,
        )
    results: dict[str, object] = {
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "data": "synthetic" if args.data is None else str(args.data),
    }
    rows = []
    for workers in (0, 2):
        for rec in (0.0, 1.0):
            v = loader_throughput(data, workers, rec, n_items=64, batch=args.batch_size)
            rows.append((f"loader workers={workers} reconvolve={rec:g}", "items/s", v))
    devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    for dev in devices:
        for quick in (True, False):
            for width in [int(w) for w in args.widths.split(",")] if not quick else [8]:
                if dev.type == "cpu" and not quick and width > 32:
                    continue  # minutes per step on a laptop CPU; measured on GPU only
                amp_opts = (False, True) if dev.type == "cuda" else (False,)
                for amp in amp_opts:
                    steps = args.steps if dev.type == "cuda" or quick else max(2, args.steps // 2)
                    v, params = train_throughput(data, dev, width, args.batch_size, steps, amp, quick)
                    feat = "quick features (1 s, n_fft 256)" if quick else "full features (2.55 s, n_fft 512)"
                    rows.append(
                        (
                            f"train ours_full {dev.type} width={width} amp={amp} {feat}, {params} params",
                            "items/s",
                            v,
                        )
                    )
    width = max(len(r[0]) for r in rows)
    for name, unit, v in rows:
        print(f"{name:<{width}}  {v:9.1f} {unit}")
    results["rows"] = [{"name": n, "unit": u, "value": v} for n, u, v in rows]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
