"""Tasks ``binauralize`` and ``av_localize`` (seed 001: CLUP's binaural generation and localisation).

``binauralize``: input the mono mix ``(L + R) / 2`` of a rendered binaural clip and the RGB view it was
rendered from; output the binaural clip; target the view's rendered clip. Scored on the whole clip with every
binaural metric variant of :mod:`simkit.metrics.binaural` (2.5D, PseudoBinaural, CCStereo and CLUP's literal
equations; 16 kHz, peak-normalised; lower is better except the SNRs); models generate whole clips with the
sliding-window protocol (:class:`simkit.models.binaural.base.BinauralModel`).
Records: one row per clip with one column per variant (:data:`simkit.metrics.binaural.VARIANTS`).

``av_localize``: is this (image, mono audio) pair matched? Every item pairs a view with its own clip
(positive) and with another view set's clip (negative). Models return raw distances ``d_pos``/``d_neg`` per
0.63 s window; the metrics softmax-scale them and report AV distance and accuracy (supp. eq. 10-11).
Records: one row per (clip, window). On a render with visible sources the items carry their sources' instance
masks and a model's localisation map (``loc_map``, CLUP's OSA attention) is also scored against them:
``map_mass_in_object`` and ``map_peak_in_object`` (:mod:`simkit.metrics.av_localization`).

Both refuse a render whose sources are not visible in its views (one line naming ``--recipe binaural``:
:func:`simkit.data.datasets.binaural.open_binaural_dataset`); on a render with mixed clips (``audio/mix``) an
item is one view, its image and the mix of all its sources.

Both read :class:`simkit.data.datasets.binaural.BinauralClips` and need a render with views; the negative
pairs are built only for models that declare ``needs_negative_pairs`` (the CLUP family: every
``av_localize`` model, and ``clup``/``clup_baseline`` whose localisation losses use them). After each
training epoch only a fixed subset of val is scored (:data:`EPOCH_VAL_ITEMS`; the final scores use all). Every
``binauralize`` run writes ``examples.png`` through the task's figure hook: :func:`plot_examples` draws
predicted vs true difference spectrograms and envelopes for a few test clips.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from simkit.audio.dsp import peak_normalize
from simkit.bench.tasks import TaskSpec, register_task
from simkit.data.datasets.binaural import REQUIRED, BinauralClips, open_binaural_dataset
from simkit.data.opener import DatasetInfo
from simkit.errors import SimkitError
from simkit.io import atomic_path
from simkit.metrics.av_localization import MASS, PEAK, map_in_mask
from simkit.metrics.binaural import SAMPLE_RATE, VARIANTS, binaural_metrics, envelope, stft
from simkit.models import BenchModel

# Val clips scored after each training epoch (checkpoint selection, early stopping); the final val and test
# scores use every clip, and ``--val-items`` overrides both. binauralize: whole-clip generation (6 DiffWave
# passes per 0.63 s window for the CLUP models, ~0.12 s per clip at --quick width on one CPU thread) would
# otherwise dominate a run; av_localize scores cheap localiser passes, so it keeps more.
EPOCH_VAL_ITEMS = 8
EPOCH_VAL_ITEMS_AV = 32
# the item entries holding what the models see of the scene: the view (or the clip's centre frame) and, for
# whole-clip evaluation of recorded video, every frame (``--ablate-image`` replaces them)
IMAGE_KEYS = ("image", "frames")


def render_info(data_dir: Path, protocol: str | None = None) -> DatasetInfo:
    """The dataset opened for the binaural tasks (views or frames required, 16 kHz); cached by the opener."""
    info = open_binaural_dataset(data_dir, protocol or None)
    if info.sample_rate != SAMPLE_RATE:
        raise SimkitError(
            f"dataset {data_dir} is at {info.sample_rate} Hz; the binaural tasks follow the FAIR-Play "
            f"protocol at {SAMPLE_RATE} Hz"
        )
    return info


def open_split(data_dir: Path, split: str, cfg: Any, train: bool, negatives: bool = True) -> BinauralClips:
    """Clips of ``split``: random 0.63 s windows when training, whole clips otherwise; with ``negatives``
    each item also carries another clip's audio (the harness passes the model's ``needs_negative_pairs``;
    direct callers get the pairs by default)."""
    return BinauralClips(
        render_info(data_dir, cfg.protocol), split, train=train, negatives=negatives, seed=cfg.seed,
        max_items=cfg.max_items,
    )


def data_info(data_dir: Path, cfg: Any) -> dict[str, Any]:
    """Sample rate, clip length, views, dataset name, manifest hash and protocol of the dataset."""
    return render_info(data_dir, cfg.protocol).facts()


def _np(x: Any) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _ids(batch: Mapping[str, Any], repeat: int = 1) -> dict[str, np.ndarray]:
    return {
        "scene_id": np.repeat(np.asarray(batch["scene_id"], dtype=object), repeat),
        "set_index": np.repeat(_np(batch["set_index"]).astype(np.int64), repeat),
        "view": np.repeat(_np(batch["view_index"]).astype(np.int64), repeat),
        "source_index": np.repeat(_np(batch["source_index"]).astype(np.int64), repeat),
    }


def binauralize_records(batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One row per clip: identifiers and every metric variant of ``outputs["binaural"]`` on the whole clip."""
    pred, target = _np(outputs["binaural"]), _np(batch["binaural"])
    if pred.shape != target.shape:
        raise SimkitError(f"model returned binaural audio of shape {pred.shape}, expected {target.shape}")
    per_clip = [binaural_metrics(p, t) for p, t in zip(pred, target, strict=True)]
    cols = _ids(batch)
    for name in VARIANTS:
        cols[name] = np.asarray([m[name] for m in per_clip], dtype=np.float64)
    return cols


def av_records(batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One row per (clip, window): identifiers, window index and the raw pair distances."""
    d_pos, d_neg = _np(outputs["d_pos"]), _np(outputs["d_neg"])
    b = len(batch["scene_id"])
    d_pos, d_neg = d_pos.reshape(b, -1), d_neg.reshape(b, -1)
    w = d_pos.shape[1]
    cols = _ids(batch, w)
    cols["window"] = np.tile(np.arange(w, dtype=np.int64), b)
    cols["d_pos"] = d_pos.reshape(-1).astype(np.float64)
    cols["d_neg"] = d_neg.reshape(-1).astype(np.float64)
    if "loc_map" in outputs and "masks" in batch:
        # the map of each window against the union of the item's source objects (simkit.metrics.av_localization)
        maps = _np(outputs["loc_map"]).reshape(b, w, *np.shape(outputs["loc_map"])[-2:])
        masks = _np(batch["masks"]).astype(bool).any(axis=1)  # (B, H, W)
        scored = [map_in_mask(maps[i, k], masks[i]) for i in range(b) for k in range(w)]
        cols[MASS] = np.asarray([x[0] for x in scored], dtype=np.float64)
        cols[PEAK] = np.asarray([x[1] for x in scored], dtype=np.float64)
    return cols


def _log_spec(x: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.abs(stft(x)) + 1e-4)


@torch.no_grad()
def plot_examples(
    model: BenchModel,
    dataset: Dataset,
    path: Path | str,
    n_clips: int = 3,
    device: str | torch.device = "cpu",
) -> Path:
    """PNG of true vs predicted difference spectrograms (L - R, dB) and L/R Hilbert envelopes of ``n_clips``
    evenly spaced items of ``dataset`` (the first, the last, ...: different view sets and views rather than
    the sources of one view; as CLUP supp. Fig. 3-4), all on peak-normalised clips like the metrics.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(n_clips, len(dataset))  # type: ignore[arg-type]
    if n == 0:
        raise SimkitError("no clips to plot (empty split)")
    picks = np.linspace(0, len(dataset) - 1, n).round().astype(int)  # type: ignore[arg-type]
    batch = default_collate([dataset[int(i)] for i in picks])
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    model.eval()
    pred = _np(model.predict(batch)["binaural"])
    true = _np(batch["binaural"])
    fig, axes = plt.subplots(n, 4, figsize=(15, 2.6 * n), squeeze=False)
    sr = SAMPLE_RATE
    for i in range(n):
        p, t = peak_normalize(pred[i].astype(np.float64)), peak_normalize(true[i].astype(np.float64))
        specs = (_log_spec(t[0] - t[1]), _log_spec(p[0] - p[1]))
        vmax = max(float(s.max()) for s in specs)
        for ax, spec, title in zip(axes[i, :2], specs, ("true L - R", "predicted L - R"), strict=True):
            ax.imshow(
                spec,
                origin="lower",
                aspect="auto",
                vmin=vmax - 80,
                vmax=vmax,
                cmap="magma",
                extent=(0, t.shape[-1] / sr, 0, sr / 2000),
            )
            item = (
                f"{batch['scene_id'][i]} set {int(batch['set_index'][i])} view {int(batch['view_index'][i])} "
                f"source {int(batch['source_index'][i])}"
            )
            ax.set_title(f"{item}: {title} (dB)", fontsize=8)
            ax.set_ylabel("kHz")
        time = np.arange(t.shape[-1]) / sr
        for c, (ax, ear) in enumerate(zip(axes[i, 2:], ("left", "right"), strict=True)):
            ax.plot(time, envelope(t[c]), lw=0.8, label="true")
            ax.plot(time, envelope(p[c]), lw=0.8, alpha=0.8, label="predicted")
            ax.set_title(f"{ear} envelope", fontsize=8)
            ax.legend(fontsize=7, loc="upper right")
        for ax in axes[i]:
            ax.set_xlabel("s")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(path)


BINAURALIZE = register_task(
    TaskSpec(
        name="binauralize",
        description="mono (L + R) / 2 + RGB view -> binaural clip, every binaural metric variant (2.5D, PB, CCS, CLUP)",
        open_split=open_split,
        data_info=data_info,
        records=binauralize_records,
        select_metric="stft_distance",
        metrics=tuple(VARIANTS),  # every binaural metric variant (simkit.metrics.binaural.VARIANTS)
        item_key="mono",
        epoch_val_items=EPOCH_VAL_ITEMS,
        plot_examples=plot_examples,
        groups=REQUIRED,
        image_keys=IMAGE_KEYS,
    )
)

AV_LOCALIZE = register_task(
    TaskSpec(
        name="av_localize",
        description="matched vs mismatched (image, mono audio) pairs: AV distance, accuracy (CLUP eq. 10-11)",
        open_split=open_split,
        data_info=data_info,
        records=av_records,
        select_metric="av_distance",
        metrics=("av_accuracy", "av_distance", MASS, PEAK),
        item_key="mono",
        epoch_val_items=EPOCH_VAL_ITEMS_AV,
        groups=REQUIRED,
        image_keys=IMAGE_KEYS,
    )
)
