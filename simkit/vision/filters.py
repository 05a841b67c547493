"""HM3D-SS view filters: pure functions over depth and instance images.

A view is kept when it looks into open space (max depth >= 4 m, mean depth >= 1 m) rather than at a
nearby wall; a view set is kept when every pair of its views ("partners") shares at least K object
instances that each cover at least P pixels in both images, so camera rotation between the pair is
recoverable from the images. Instance 0 (structure, or no surface) never counts as a shared object.
"""

from __future__ import annotations

import numpy as np

from simkit.vision.config import ViewFilterConfig


def depth_ok(depth: np.ndarray, cfg: ViewFilterConfig | None = None) -> bool:
    """Whether one depth image (H, W; 0 = no surface) passes the depth filter."""
    cfg = cfg or ViewFilterConfig()
    d = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(d) & (d > 0)
    if not valid.any() or valid.mean() < cfg.min_valid_fraction:
        return False
    dv = d[valid]
    return bool(dv.max() >= cfg.min_max_depth and dv.mean() >= cfg.min_mean_depth)


def visible_instances(instance: np.ndarray, min_pixels: int) -> np.ndarray:
    """Sorted object ids (> 0) covering at least ``min_pixels`` pixels of an instance image."""
    ids, counts = np.unique(np.asarray(instance).ravel(), return_counts=True)
    keep = (ids > 0) & (counts >= min_pixels)
    return ids[keep]


def shared_instances(instance_a: np.ndarray, instance_b: np.ndarray, min_pixels: int) -> np.ndarray:
    """Object ids visible (>= ``min_pixels`` pixels) in both instance images."""
    return np.intersect1d(visible_instances(instance_a, min_pixels), visible_instances(instance_b, min_pixels))


def partners_ok(instance_a: np.ndarray, instance_b: np.ndarray, cfg: ViewFilterConfig | None = None) -> bool:
    """Whether two views share at least K objects of at least P pixels each."""
    cfg = cfg or ViewFilterConfig()
    return len(shared_instances(instance_a, instance_b, cfg.min_instance_pixels)) >= cfg.min_shared_instances


def pair_matrix(instances: np.ndarray, cfg: ViewFilterConfig | None = None) -> np.ndarray:
    """(V, V) bool: ``[i, j]`` is True when views i and j pass :func:`partners_ok` (diagonal True)."""
    cfg = cfg or ViewFilterConfig()
    vis = [set(visible_instances(im, cfg.min_instance_pixels).tolist()) for im in instances]
    v = len(vis)
    out = np.eye(v, dtype=bool)
    for i in range(v):
        for j in range(i + 1, v):
            out[i, j] = out[j, i] = len(vis[i] & vis[j]) >= cfg.min_shared_instances
    return out


def view_set_ok(depths: np.ndarray, instances: np.ndarray, cfg: ViewFilterConfig | None = None) -> bool:
    """Whether a view set (V, H, W depth and instance images) passes: every view's depth filter and
    every pair's shared-object filter."""
    cfg = cfg or ViewFilterConfig()
    if len(depths) != len(instances):
        raise ValueError(f"{len(depths)} depth images but {len(instances)} instance images")
    if not all(depth_ok(d, cfg) for d in depths):
        return False
    return bool(pair_matrix(instances, cfg).all())


class SetVerdict:
    """:func:`view_set_ok` one view at a time: :meth:`add` each view's depth and instance images in order;
    it returns False as soon as the set can no longer pass (that view's depth filter, or a pair with an
    earlier view), so a draw is dropped before its remaining views are cast. The verdict after the last
    view is :func:`view_set_ok`'s: both are the AND of the same per-view and per-pair tests."""

    def __init__(self, cfg: ViewFilterConfig | None = None) -> None:
        self.cfg = cfg or ViewFilterConfig()
        self.visible: list[set[int]] = []
        self.ok = True

    def add(self, depth: np.ndarray, instance: np.ndarray) -> bool:
        """Add the next view; whether every view and pair so far passes."""
        if not self.ok:
            return False
        cfg = self.cfg
        if not depth_ok(depth, cfg):
            self.ok = False
            return False
        vis = set(visible_instances(instance, cfg.min_instance_pixels).tolist())
        self.ok = all(len(vis & other) >= cfg.min_shared_instances for other in self.visible)
        self.visible.append(vis)
        return self.ok
