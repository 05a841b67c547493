"""CPU cost of the binaural models: training steps per second and generation real-time factor.

Training: ``--steps`` AdamW steps (after one warm-up step) on a fixed batch of ``--batch`` 0.63 s windows
with 240 x 320 views (the render's camera size), for every trainable model of ``binauralize`` and
``av_localize`` at the bench's default network width (``--width``, 32). Generation: seconds to binauralise
one 2.55 s clip (the render's clip length) through ``predict`` - mono2binaural with the protocol's 0.05 s
hop, the CLUP models with their default non-overlapping windows and 6 (and 3) diffusion steps - and the
DiffWave denoiser alone on a whole 2.55 s signal at widths 32 and 64 (DiffWave base; one pass timed, RTF
for 6 and 50 steps = steps x pass). The real-time factor is seconds of compute per second of audio (< 1 =
faster than real time). On a shared machine every figure is the fastest of several timings (the least
disturbed); training also reports the median step.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_binaural.py --threads 1 --out bench_binaural.json
    PYTHONPATH=. .venv/bin/python benchmarks/bench_binaural.py --threads 1 --width 8 --batch 4   # --quick sizes

On small shared CPUs use ``--threads 1`` (two OpenMP threads contended on the 2-core CI VM; docs/bench.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from simkit.bench.config import make_config
from simkit.io import atomic_write_json, package_versions
from simkit.metrics.binaural import SAMPLE_RATE, WINDOW_SECONDS
from simkit.models import get_model
from simkit.models.binaural.diffwave import DiffWave, align_schedule, inference_betas

CLIP_SECONDS = 2.55
TRAINABLE = ("mono2binaural", "clup_baseline", "clup", "clup_baseline_loc", "clup_loc")


def fixed_batch(batch: int, samples: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random audio and images of the shapes the binaural dataset produces."""
    return {
        "mono": 0.1 * torch.randn(batch, samples, generator=gen),
        "binaural": 0.1 * torch.randn(batch, 2, samples, generator=gen),
        "neg_mono": 0.1 * torch.randn(batch, samples, generator=gen),
        "neg_binaural": 0.1 * torch.randn(batch, 2, samples, generator=gen),
        "image": torch.randint(0, 256, (batch, 240, 320, 3), dtype=torch.uint8, generator=gen),
    }


def train_speed(name: str, width: int, batch: int, steps: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = get_model(name).build(make_config(width=width), {})
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data = fixed_batch(batch, int(round(WINDOW_SECONDS * SAMPLE_RATE)), torch.Generator().manual_seed(1))
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        loss, _ = model.loss(data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # step 0 is warm-up (allocator, lazy init)
            times.append(time.perf_counter() - t0)
    # The fastest step is the least disturbed by other load on a shared machine; the median is reported too.
    sec, median = min(times), statistics.median(times)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "steps_per_s": 1.0 / sec,
        "items_per_s": batch / sec,
        "seconds_per_step": sec,
        "median_seconds_per_step": median,
        "params": params,
    }


def fastest(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def generation_rtf(name: str, width: int, options: dict[str, float], repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = get_model(name).build(make_config(width=width, model_options=options), {})
    model.eval()
    data = fixed_batch(1, int(round(CLIP_SECONDS * SAMPLE_RATE)), torch.Generator().manual_seed(2))
    sec = fastest(lambda: model.predict(data), repeats)
    return {"seconds_per_clip": sec, "rtf": sec / CLIP_SECONDS}


def denoiser_rtf(channels: int, steps: tuple[int, ...], repeats: int) -> dict[str, float]:
    """RTF of DiffWave sampling on a whole 2.55 s clip: ``steps`` x the time of one denoising pass."""
    torch.manual_seed(0)
    net = DiffWave(channels, blocks=3, layers_per_block=10).eval()
    one = align_schedule(inference_betas(1))
    local = 0.1 * torch.randn(1, 1, int(round(CLIP_SECONDS * SAMPLE_RATE)))
    gen = torch.Generator().manual_seed(0)
    sec = fastest(lambda: net.sample(local, None, one, gen), repeats)
    return {"seconds_per_pass": sec, **{f"rtf_{k}_steps": k * sec / CLIP_SECONDS for k in steps}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--width", type=int, default=32, help="--width of simkit bench (network sizes derive from it)"
    )
    ap.add_argument("--batch", type=int, default=8, help="windows per training step")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per model")
    ap.add_argument(
        "--repeats", type=int, default=3, help="timed repeats per generation figure (min is kept)"
    )
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--out", default="", help="also write the results as JSON here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out: dict = {
        "host": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "processor": platform.processor(),
        },
        "versions": package_versions(("torch", "numpy")),
        "width": args.width,
        "batch": args.batch,
        "train": {},
        "generate": {},
        "denoiser": {},
    }
    for name in TRAINABLE:
        r = train_speed(name, args.width, args.batch, args.steps)
        out["train"][name] = r
        print(
            f"train {name:18s} {r['steps_per_s']:6.2f} steps/s  {r['items_per_s']:6.1f} windows/s  "
            f"{r['params']:>9d} params",
            flush=True,
        )
    for label, name, opts in (
        ("mono2binaural (hop 0.05 s)", "mono2binaural", {}),
        ("clup_baseline (6 steps)", "clup_baseline", {}),
        ("clup (6 steps)", "clup", {}),
        ("clup (3 steps)", "clup", {"infer_steps": 3.0}),
    ):
        r = generation_rtf(name, args.width, opts, args.repeats)
        out["generate"][label] = r
        print(
            f"generate {label:28s} {r['seconds_per_clip']:7.2f} s per {CLIP_SECONDS} s clip"
            f"  RTF {r['rtf']:6.2f}",
            flush=True,
        )
    for channels in (32, 64):
        r = denoiser_rtf(channels, (6, 50), args.repeats)
        out["denoiser"][f"C{channels}"] = r
        print(
            f"denoiser C={channels:<3d} {r['seconds_per_pass']:.2f} s per pass  RTF {r['rtf_6_steps']:.2f} "
            f"(6 steps), {r['rtf_50_steps']:.2f} (50 steps)",
            flush=True,
        )
    if args.out:
        atomic_write_json(args.out, out)


if __name__ == "__main__":
    main()
