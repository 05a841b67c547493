"""Contact sheet of a rendered shard: one row per view set, one panel per view, sources marked.

Reads only the shard fields of docs/dataset-format.md: ``views/rgb``, ``poses/position``, ``poses/yaw_deg``,
``sources/position`` and ``labels/azimuth_deg``. A source in the camera's field of view gets a ring at its
projected pixel; every source is listed in the panel with its azimuth (+90 = left). The camera intrinsics
come from the ``views`` group attributes ``hfov_deg`` and ``pitch_deg`` when present, else the
:class:`simkit.vision.camera.CameraConfig` defaults. Shards rendered without views show, per view, a
top-down compass with each source's direction instead of an image.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from simkit.conventions import azimuth_to_local_direction
from simkit.errors import SimkitError
from simkit.io import atomic_path
from simkit.vision.camera import project_points
from simkit.vision.config import CameraConfig

SOURCE_COLORS = ("#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#af52de", "#ff9500", "#64d2ff", "#ffffff")


def contact_sheet(shard_path: str | Path, out_png: str | Path, max_sets: int = 4) -> Path:
    """Draw the first ``max_sets`` view sets of a shard into ``out_png`` (written atomically)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, safe in worker processes

    path = Path(shard_path)
    if max_sets < 1:
        raise SimkitError(f"max_sets must be >= 1 (got {max_sets})")
    try:
        f = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as e:
        raise SimkitError(f"cannot open shard {path} ({e})") from None
    with f:
        needed = ("poses/position", "poses/yaw_deg", "sources/position", "labels/azimuth_deg")
        missing = [k for k in needed if k not in f]
        if missing:
            raise SimkitError(f"shard {path} lacks {missing[0]} (see docs/dataset-format.md)")
        pos, yaw, src, az = (f[k][:max_sets] for k in needed)
        rgb = f["views/rgb"][:max_sets] if "views/rgb" in f else None
        vattrs = dict(f["views"].attrs) if "views" in f else {}
        passed = f["views/passed_filters"][:max_sets] if "views/passed_filters" in f else None
        scene_id = str(f.attrs.get("scene_id", path.stem))
    n, v = yaw.shape
    if n == 0:
        raise SimkitError(f"shard {path} holds no view sets")
    cfg = CameraConfig()
    if rgb is not None:
        cfg = CameraConfig(width=rgb.shape[3], height=rgb.shape[2],
                           hfov_deg=float(vattrs.get("hfov_deg", cfg.hfov_deg)),
                           pitch_deg=float(vattrs.get("pitch_deg", cfg.pitch_deg)))
    fig = Figure(figsize=(3.2 * v, 2.7 * n))
    axes = fig.subplots(n, v, squeeze=False)
    for i in range(n):
        for j in range(v):
            ax = axes[i, j]
            flag = "  (fails view filters)" if passed is not None and not passed[i] else ""
            ax.set_title(f"set {i} view {j}  yaw {yaw[i, j]:+.1f}°{flag}", fontsize=8)
            if rgb is not None:
                ax.imshow(rgb[i, j])
                px, front = project_points(src[i], pos[i, j], float(yaw[i, j]), cfg)
                for s in range(src.shape[1]):
                    c = SOURCE_COLORS[s % len(SOURCE_COLORS)]
                    inside = front[s] and 0 <= px[s, 0] < cfg.width and 0 <= px[s, 1] < cfg.height
                    if inside:
                        ax.plot(px[s, 0], px[s, 1], "o", ms=9, mfc="none", mec=c, mew=2)
                        ax.text(px[s, 0] + 6, px[s, 1], f"s{s}", color=c, fontsize=7, va="center")
                ax.set_xlim(0, cfg.width)
                ax.set_ylim(cfg.height, 0)
            else:
                ax.set_facecolor("#202020")
                ax.plot(0, 0, "^", color="white", ms=8)  # listener, facing up the panel (-z)
                for s in range(src.shape[1]):
                    d = azimuth_to_local_direction(az[i, j, s])  # x right, -z forward
                    ax.plot([0, d[0]], [0, -d[2]], "-", color=SOURCE_COLORS[s % len(SOURCE_COLORS)], lw=2)
                ax.set_xlim(-1.2, 1.2)
                ax.set_ylim(-1.2, 1.2)
                ax.set_aspect("equal")
            lines = [f"s{s} az {az[i, j, s]:+.0f}°" for s in range(src.shape[1])]
            for s, text in enumerate(lines):
                ax.text(0.02, 0.97 - 0.1 * s, text, transform=ax.transAxes, fontsize=7, va="top",
                        color=SOURCE_COLORS[s % len(SOURCE_COLORS)],
                        bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "edgecolor": "none"})
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{scene_id}: azimuth +90 = left, -90 = right", fontsize=9)
    fig.tight_layout()
    out = Path(out_png)
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return out
