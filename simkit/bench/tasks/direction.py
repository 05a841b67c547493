"""Task ``direction``: azimuth of a speech source from one binaural clip, scored per view.

Items are ``(view set, source)`` with the set's V views (see
:class:`simkit.data.datasets.direction.RenderViewSets`); models return ``azimuth_deg`` (B, V) and, when they
estimate camera rotation, ``rel_yaw_deg`` (B, V): the rotation from view 0 to view v. Records have one row
per (set, source, view).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simkit.bench.tasks import TaskSpec, register_task
from simkit.conventions import side_of_azimuth
from simkit.data.datasets.direction import ITEM_DATASETS, RenderViewSets
from simkit.data.opener import DatasetInfo, open_dataset
from simkit.errors import SimkitError
from simkit.models import get_model


def render_info(data_dir: Path, protocol: str | None = None) -> DatasetInfo:
    """The dataset opened for this task (cached by :func:`simkit.data.opener.open_dataset`)."""
    return open_dataset(data_dir, ITEM_DATASETS, protocol or None)


def scores_whole_clip(model: str) -> bool:
    """Whether model ``model`` is evaluated on whole clips (its class sets ``eval_whole_clip``: ``iid``).

    ``model`` may be a list or ``all`` while the harness checks splits before any run; those get the
    networks' crop, which only matters for the run itself (where ``cfg.model`` is one model)."""
    try:
        return bool(getattr(get_model(model).build, "eval_whole_clip", False))
    except SimkitError:
        return False


def reads_images(model: str) -> bool:
    """Whether model ``model`` reads each view's image (it declares the dataset group ``views``: ``slfm``)."""
    try:
        return "views" in get_model(model).groups
    except SimkitError:
        return False


def open_split(data_dir: Path, split: str, cfg: Any, train: bool, negatives: bool = False) -> RenderViewSets:
    """The view-set dataset of ``split``: training items get random crops, view subsets and re-rendering.

    Evaluation items are the centre ``features.clip_seconds`` of each clip, or the whole clip for a model
    that scores whole clips (:func:`scores_whole_clip`)."""
    if negatives:
        raise SimkitError("task direction has no negative pairs (a model declaring needs_negative_pairs)")
    info = render_info(data_dir, cfg.protocol)
    whole = not train and scores_whole_clip(str(cfg.model))
    return RenderViewSets(
        info,
        split,
        clip_samples=None if whole else int(round(cfg.features.clip_seconds * info.sample_rate)),
        views=cfg.views_per_item if train else 0,
        train=train,
        # online re-rendering needs the dry sources and RIRs: renders have them, recordings do not
        reconvolve_prob=cfg.reconvolve_prob if train and info.has("rir") else 0.0,
        seed=cfg.seed,
        max_items=cfg.max_items,
        images=reads_images(str(cfg.model)),
    )


def split_labelled(ds: RenderViewSets) -> bool:
    """Whether any item of the split has a direction label (a finite azimuth or a known side)."""
    return ds.labelled()


def data_info(data_dir: Path, cfg: Any) -> dict[str, Any]:
    """Facts models and the leaderboard need: sample rate, views, dataset name, manifest hash, protocol."""
    return render_info(data_dir, cfg.protocol).facts()


def _np(x: Any) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def records(batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One row per (item, view): identifiers, true and predicted azimuth and camera rotation from view 0."""
    true_az = _np(batch["azimuth_deg"])
    b, v = true_az.shape
    pred_az = _np(outputs["azimuth_deg"]).reshape(b, v)
    true_rot = _np(batch["rel_yaw_deg"])[:, 0, :]
    pred_rot = (
        _np(outputs["rel_yaw_deg"]).reshape(b, v) if "rel_yaw_deg" in outputs else np.full((b, v), np.nan)
    )
    true_rot, pred_rot = true_rot.copy(), pred_rot.copy()
    true_rot[:, 0] = np.nan  # view 0 against itself carries no information
    pred_rot[:, 0] = np.nan
    return {
        "scene_id": np.repeat(np.asarray(batch["scene_id"], dtype=object), v),
        "set_index": np.repeat(_np(batch["set_index"]).astype(np.int64), v),
        "source_index": np.repeat(_np(batch["source_index"]).astype(np.int64), v),
        "view": _np(batch["view_index"]).astype(np.int64).reshape(-1),
        "true_azimuth_deg": true_az.reshape(-1).astype(np.float64),
        "true_side": _np(batch["side"]).reshape(-1).astype(np.float64) if "side" in batch
        else side_of_azimuth(true_az.reshape(-1)),
        "pred_azimuth_deg": pred_az.reshape(-1).astype(np.float64),
        "true_elevation_deg": _np(batch["elevation_deg"]).reshape(-1).astype(np.float64),
        "true_distance_m": _np(batch["distance_m"]).reshape(-1).astype(np.float64),
        "true_rel_yaw_deg": true_rot.reshape(-1).astype(np.float64),
        "pred_rel_yaw_deg": pred_rot.reshape(-1).astype(np.float64),
    }


DIRECTION = register_task(
    TaskSpec(
        name="direction",
        description="sound-source azimuth from binaural audio (left/right, angle, classes, camera rotation)",
        open_split=open_split,
        data_info=data_info,
        records=records,
        select_metric="lr_accuracy",
        metrics=(
            "angle_error_folded_mean", "angle_error_folded_median", "angle_error_mean", "angle_error_median",
            "class16_accuracy", "class4_accuracy", "lr_accuracy", "rotation_error_mean", "rotation_error_median",
        ),
        groups=ITEM_DATASETS,
        labelled=split_labelled,
        image_keys=("image",),  # each view's image, for the models with a camera network (slfm)
    )
)
