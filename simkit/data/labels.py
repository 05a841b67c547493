"""Ground truth of a view set, built one way for every producer (render, adapters, synthetic datasets).

:meth:`ViewLabels.from_poses` turns camera positions, yaws and source positions (world frame, metres,
degrees, :mod:`simkit.conventions`) into the ``labels/*`` and ``pairs/*`` datasets of a shard
(docs/dataset-format.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simkit import conventions


@dataclass
class ViewLabels:
    """Ground truth of a view set, shaped as the shard datasets of docs/dataset-format.md (without N)."""

    azimuth_deg: np.ndarray  # (V, S) +90 = left
    elevation_deg: np.ndarray  # (V, S)
    distance_m: np.ndarray  # (V, S)
    rel_yaw_deg: np.ndarray  # (V, V) [i, j] = wrap(yaw_j - yaw_i)
    rel_translation: np.ndarray  # (V, V, 3) [i, j] = view j's position in the frame of view i

    @classmethod
    def from_poses(cls, positions: np.ndarray, yaws_deg: np.ndarray, source_positions: np.ndarray) -> ViewLabels:
        """Azimuth/elevation/distance of every source (S, 3) from every view (positions (V, 3), yaws (V,)),
        and the pairwise camera motion. A source position of NaN gives NaN labels for it."""
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        yaws = np.asarray(yaws_deg, dtype=np.float64).reshape(-1)
        src = np.asarray(source_positions, dtype=np.float64).reshape(-1, 3)
        v, s = len(pos), len(src)
        az, el, dist = np.zeros((v, s)), np.zeros((v, s)), np.zeros((v, s))
        rel_t = np.zeros((v, v, 3))
        for i in range(v):
            az[i], el[i], dist[i] = conventions.source_labels(src, pos[i], float(yaws[i]))
            rel_t[i] = conventions.relative_translation(pos[i], float(yaws[i]), pos)
        rel_yaw = np.asarray(conventions.relative_yaw_deg(yaws[:, None], yaws[None, :]))
        return cls(az, el, dist, rel_yaw.reshape(v, v), rel_t)

    def as_datasets(self) -> dict[str, np.ndarray]:
        """``{"labels/azimuth_deg": ..., "pairs/rel_yaw_deg": ...}`` with the shard's float32 dtype."""
        return {
            "labels/azimuth_deg": self.azimuth_deg.astype(np.float32),
            "labels/elevation_deg": self.elevation_deg.astype(np.float32),
            "labels/distance_m": self.distance_m.astype(np.float32),
            "pairs/rel_yaw_deg": self.rel_yaw_deg.astype(np.float32),
            "pairs/rel_translation": self.rel_translation.astype(np.float32),
        }
