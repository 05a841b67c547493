"""Train your own model on a render with a plain PyTorch loop and append its scores to a leaderboard.

The model is deliberately tiny (interaural level differences in 16 frequency bands -> an MLP predicting the
source azimuth as (cos, sin)); put yours in its place. Its test scores are computed by the task's own
metrics (:class:`simkit.bench.scoring.Scorer`) and appended as leaderboard rows beside a ``simkit bench``
run of the ``iid`` baseline, then the leaderboard is printed. About 15 s of CPU at the defaults.

    python examples/train_your_own.py --out out/example-train
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

import simkit
from simkit.bench.leaderboard import append_rows
from simkit.bench.scoring import Scorer


class LevelDifferenceNet(nn.Module):
    """(B, V, 2, T) binaural clips -> (B, V) azimuth in degrees."""

    def __init__(self, bands: int = 16, n_fft: int = 256) -> None:
        super().__init__()
        self.n_fft, self.bands = n_fft, bands
        self.mlp = nn.Sequential(nn.Linear(bands, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        b, v, ears, t = audio.shape
        spec = torch.stft(audio.reshape(-1, t), self.n_fft, hop_length=self.n_fft // 2,
                          window=torch.hann_window(self.n_fft), return_complex=True).abs() ** 2
        power = spec.mean(-1)[:, 1:]  # (B*V*2, F): mean power per frequency bin
        bands = power[:, : power.shape[1] // self.bands * self.bands].reshape(len(power), self.bands, -1).sum(-1)
        level = torch.log10(bands + 1e-8).reshape(b * v, ears, self.bands)
        xy = self.mlp(level[:, 0] - level[:, 1])  # interaural level difference per band
        return torch.rad2deg(torch.atan2(xy[:, 1], xy[:, 0])).reshape(b, v)


def angle_loss(pred_deg: torch.Tensor, true_deg: torch.Tensor) -> torch.Tensor:
    """1 - cos of the angle between prediction and truth (wrap-around safe)."""
    return (1 - torch.cos(torch.deg2rad(pred_deg - true_deg))).mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/example-train"), help="output folder")
    ap.add_argument("--data", type=Path, default=None, help="an existing render (default: render one in --out)")
    ap.add_argument("--sets-per-scene", type=int, default=2, help="view sets per scene of the render made")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    torch.manual_seed(0)

    data = args.data
    if data is None:
        data = args.out / "render"
        simkit.render(data, scenes=3, sets_per_scene=args.sets_per_scene, preset="efficient")
    results = args.out / "results"

    # 1. a plain PyTorch loop on the train split (random crops: train=True)
    train = DataLoader(simkit.open_dataset(data, "direction", "train", train=True), batch_size=4, shuffle=True)
    model = LevelDifferenceNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    t0 = time.process_time()
    for epoch in range(args.epochs):
        for batch in train:
            loss = angle_loss(model(batch["audio"]), batch["azimuth_deg"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:>3}  loss {loss.item():.3f}")
    train_seconds = time.process_time() - t0

    # 2. predictions on the test split, scored by the task's metrics
    model.eval()
    scorer = Scorer("direction")
    with torch.no_grad():
        for batch in DataLoader(simkit.open_dataset(data, "direction", "test"), batch_size=4):
            scorer.add(batch, {"azimuth_deg": model(batch["audio"])})
    scores = scorer.scores()
    print("test:", ", ".join(f"{k} {v.value:.3f}" for k, v in scores.items()))

    # 3. rows for the leaderboard, beside a `simkit bench` run of the iid baseline on the same render
    params = sum(p.numel() for p in model.parameters())
    rows = scorer.rows("my_model", data, split="test", seed=0, epochs=args.epochs, params=params,
                       train_seconds=round(train_seconds, 3))
    append_rows(results / "leaderboard.csv", rows)
    simkit.bench("iid", data, results=results, quick=True, device="cpu")
    print(simkit.leaderboard(results / "leaderboard.csv", task="direction", references=False))
    print(f"leaderboard: {results / 'leaderboard.csv'}")


if __name__ == "__main__":
    main()
