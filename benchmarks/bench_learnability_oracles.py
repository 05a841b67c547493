"""What can an image buy on a binaural render? Upper bounds for ``binauralize`` on ``stft_distance_raw``.

Issue 21, item 5 (docs/binaural.md, "Learnability"). Every prediction here keeps the true mid signal (the mono
``(L + R) / 2``, the model's input) and replaces only the side signal ``L - R`` by an estimate ``D'``; the
prediction is ``(m + D'/2, m - D'/2)``, scored with simkit's ``stft_distance_raw`` and ``diff_corr`` (the
task's metrics, :mod:`simkit.metrics.binaural`). Rows:

* ``mono_copy``: ``D' = 0`` (the floor every model must beat).
* ``direct-path oracle``: ``D'`` = each source's dry signal through the L - R of its direct-path RIR only
  (``rir/direct``), summed over the view's sources: what a model that knew every source's direction exactly
  and nothing of the room could predict. It uses the dry sources, which no model sees: an upper bound.
* ``static mask oracle``: the best time-invariant complex filter on the mix, fitted per clip on the test clip
  itself (``M(f) = sum_t D X* / sum_t |X|^2`` with ``X = S(2m)``, as mono2binaural's mask multiplies the
  mix's STFT): the most a per-clip constant "pan per frequency" can explain; ``real`` = ILD only (phase 0).
* ``image regression``: a per-frequency complex mask predicted from the horizontal positions of the sources'
  objects in the view (centroids of their instance masks, -1 = left edge .. 1 = right edge), fitted by least
  squares on the train split and scored on test: the image cue a model can learn, with a linear model.
  Features: 1, mean x, mean x^2 over the view's sources (one source: its x, x^2).

Each item is one view (``audio/mix``, the recipe's mix of its sources). Numbers are means over the split's
views. ``--split`` scores another split; fitting always uses train.

    PYTHONPATH=$PWD python benchmarks/bench_learnability_oracles.py /work/out/learn/render [--max-sets 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

from simkit.audio.dsp import fft_convolve
from simkit.data.datasets.binaural import open_binaural_dataset
from simkit.data.storage import DIRECT, read_mix, read_rirs, read_source
from simkit.metrics.binaural import clip_metric, stft

METRICS = ("stft_distance_raw", "diff_corr")


def object_x(f: h5py.File, n: int, v: int) -> np.ndarray:
    """Horizontal centroid of each source's object in view v of set n, -1 (left edge) .. 1 (right edge);
    NaN where the object covers no pixel."""
    inst = np.asarray(f["views/instance"][n, v])
    width = inst.shape[1]
    xs = []
    for i in np.asarray(f["sources/instance"][n]).reshape(-1):
        cols = np.nonzero(inst == int(i))[1]
        xs.append(2.0 * (cols.mean() + 0.5) / width - 1.0 if cols.size else np.nan)
    return np.array(xs)


def items(root: Path, split: str, max_sets: int) -> list[dict]:
    """Per view of ``split``: mix (2, T), direct-path side signal (T,), object x per source."""
    info = open_binaural_dataset(root)
    out: list[dict] = []
    for shard in info.splits[split]:
        with h5py.File(info.shard(shard), "r") as f:
            sets = info.sets(split, shard)[: max_sets or None]
            for n in sets:
                n_src = int(f["sources/instance"].shape[1])
                mix = read_mix(f, n, range(info.n_views))  # (V, 2, T)
                t = mix.shape[-1]
                d_dir = np.zeros((info.n_views, t))
                for s in range(n_src):
                    direct = read_rirs(f, DIRECT, n, range(info.n_views), s)  # (V, 2, R)
                    side = direct[:, 0] - direct[:, 1]
                    d_dir += fft_convolve(read_source(f, n, s)[None, :], side, t)
                for v in range(info.n_views):
                    out.append({"mix": mix[v].astype(np.float64), "d_direct": d_dir[v], "x": object_x(f, n, v)})
    return out


def features(x: np.ndarray) -> np.ndarray:
    """Image features of one view: 1, mean x, mean x^2 over its visible sources (0 when none is seen)."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.array([1.0, 0.0, 0.0])
    return np.array([1.0, x.mean(), (x**2).mean()])


def spectra(item: dict) -> tuple[np.ndarray, np.ndarray]:
    """STFTs (F, frames) of the mix ``L + R`` and the true side signal ``L - R``."""
    mix = item["mix"]
    return stft(mix[0] + mix[1]), stft(mix[0] - mix[1])


def side_from_mask(item: dict, mask: np.ndarray) -> np.ndarray:
    """Time signal of ``mask(f) * S(L + R)``: the filter applied to the mix in the time domain (the STFT's
    per-frequency gain as a zero-phase-window FIR would need an iSTFT; a frequency-domain product over the
    whole clip is the same static filter)."""
    mix = item["mix"]
    t = mix.shape[-1]
    spec = np.fft.rfft(mix[0] + mix[1], n=2 * t)
    freqs = np.linspace(0.0, 1.0, spec.shape[-1])
    grid = np.linspace(0.0, 1.0, mask.shape[-1])
    gain = np.interp(freqs, grid, mask.real) + 1j * np.interp(freqs, grid, mask.imag)
    return np.fft.irfft(spec * gain, n=2 * t)[:t]


def score(item: dict, side: np.ndarray) -> dict[str, float]:
    """The task's metrics of the prediction ``(m + side/2, m - side/2)`` against the true clip."""
    mix = item["mix"]
    mid = (mix[0] + mix[1]) / 2.0
    pred = np.stack([mid + side / 2.0, mid - side / 2.0])
    return {m: clip_metric(m, pred, mix) for m in METRICS}


def fit_regression(train: list[dict]) -> np.ndarray:
    """Least-squares (K, F) complex weights: mask(f) = sum_k w[k, f] feature_k, minimising
    sum over items, frames of |mask(f) X - D|^2 per frequency."""
    n_feat = 3
    gram: np.ndarray | None = None
    rhs: np.ndarray | None = None
    for it in train:
        x_spec, d_spec = spectra(it)
        phi = features(it["x"])
        power = (np.abs(x_spec) ** 2).sum(-1)  # (F,)
        cross = (d_spec * np.conj(x_spec)).sum(-1)  # (F,)
        g = np.einsum("k,l,f->fkl", phi, phi, power)
        r = np.einsum("k,f->fk", phi, cross)
        gram = g if gram is None else gram + g
        rhs = r if rhs is None else rhs + r
    assert gram is not None and rhs is not None
    ridge = 1e-9 * np.trace(gram, axis1=1, axis2=2)[:, None, None] * np.eye(n_feat)
    return np.linalg.solve(gram + ridge, rhs[..., None])[..., 0].T  # (K, F)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("render", type=Path)
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-sets", type=int, default=0, help="sets per shard (0 = all)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    train = items(args.render, "train", args.max_sets)
    test = items(args.render, args.split, args.max_sets)
    weights = fit_regression(train)
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in (
        "mono_copy", "direct-path oracle", "static mask oracle (complex, per clip)",
        "static mask oracle (real: ILD only, per clip)", "image regression (train fit)")}
    side_share = []
    for it in test:
        mix = it["mix"]
        t = mix.shape[-1]
        x_spec, d_spec = spectra(it)
        m_opt = (d_spec * np.conj(x_spec)).sum(-1) / np.maximum((np.abs(x_spec) ** 2).sum(-1), 1e-20)
        m_real = ((d_spec * np.conj(x_spec)).sum(-1)).real / np.maximum((np.abs(x_spec) ** 2).sum(-1), 1e-20)
        m_reg = features(it["x"]) @ weights
        rows["mono_copy"].append(score(it, np.zeros(t)))
        rows["direct-path oracle"].append(score(it, it["d_direct"]))
        rows["static mask oracle (complex, per clip)"].append(score(it, side_from_mask(it, m_opt)))
        rows["static mask oracle (real: ILD only, per clip)"].append(score(it, side_from_mask(it, m_real)))
        rows["image regression (train fit)"].append(score(it, side_from_mask(it, m_reg)))
        side = mix[0] - mix[1]
        side_share.append(float(np.sum((side - it["d_direct"]) ** 2) / max(np.sum(side**2), 1e-20)))
    floor = np.mean([r["stft_distance_raw"] for r in rows["mono_copy"]])
    print(f"render {args.render}: {len(train)} train / {len(test)} {args.split} views; residual energy of "
          f"L - R after the direct path: {np.mean(side_share):.3f} (mean share)")
    print(f"\n| {args.split} prediction (mid kept, L - R replaced) | STFT raw | x mono_copy | diff_corr |")
    print("|---|---|---|---|")
    table = {}
    for name, vals in rows.items():
        raw = float(np.mean([v["stft_distance_raw"] for v in vals]))
        corr = float(np.nanmean([v["diff_corr"] for v in vals]))
        table[name] = {"stft_distance_raw": raw, "diff_corr": corr}
        print(f"| {name} | {raw:.5f} | {raw / floor:.3f} | {corr:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"render": str(args.render), "split": args.split, "rows": table,
                                         "side_residual_share": float(np.mean(side_share))}, indent=1))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
