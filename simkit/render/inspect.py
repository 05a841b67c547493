"""``simkit inspect``: validate every shard of a render and summarise it (counts, RT60 and azimuth histograms)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from simkit.errors import SimkitError
from simkit.render.shard import validate_shard, verify_shard


@dataclass
class InspectReport:
    """Counts per split, pooled RT60 and azimuth values, and scenes listed but not yet rendered."""

    out: Path
    config_hash: str
    counts: dict[str, dict[str, int]]
    rt60: np.ndarray
    azimuth: np.ndarray
    missing: list[str] = field(default_factory=list)
    view_filter_passed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # per set with views
    view_filter_tries: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    shards: list[Path] = field(default_factory=list)  # complete shards, in scene order
    failed: dict[str, str] = field(default_factory=dict)  # scenes the render reported as failed, with the error
    verified: bool = False  # every chunk of every shard was read back (``verify=True``)


def inspect_dataset(out: Path | str, verify: bool = False) -> InspectReport:
    """Validate every shard named by the manifest; raise SimkitError naming the first malformed one.

    ``verify`` also reads every chunk of every shard (checksums, decompression): slower, but it finds
    damage inside the data, which the structural check cannot see."""
    out = Path(out)
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise SimkitError(f"{out} is not a simkit render (no manifest.json)")
    try:
        manifest = json.loads(manifest_path.read_text())
        scenes: dict[str, str] = manifest["scenes"]
        config_hash = manifest["config_hash"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise SimkitError(f"malformed manifest {manifest_path} ({e})") from None
    counts = {s: {"scenes": 0, "view_sets": 0, "clips": 0} for s in ("train", "val", "test")}
    rt60, az, missing, passed, tries, shards = [], [], [], [], [], []
    for scene_id, split in sorted(scenes.items()):
        path = out / "shards" / f"{scene_id}.h5"
        if not path.exists():
            missing.append(scene_id)
            continue
        info = validate_shard(path)
        if verify:
            verify_shard(path)
        if info.split != split or info.scene_id != scene_id:
            raise SimkitError(f"malformed shard {path}: says scene {info.scene_id}/{info.split}, "
                              f"manifest says {scene_id}/{split}")
        if info.config_hash != config_hash:
            raise SimkitError(f"malformed shard {path}: config hash {info.config_hash}, manifest {config_hash}")
        with h5py.File(path, "r") as f:
            rt60.append(f["rir/rt60"][()].ravel())
            az.append(f["labels/azimuth_deg"][()].ravel())
            if info.has_views:
                passed.append(f["views/passed_filters"][()].ravel())
                tries.append(f["views/filter_tries"][()].ravel())
        shards.append(path)
        counts[split]["scenes"] += 1
        counts[split]["view_sets"] += info.n_sets
        counts[split]["clips"] += info.n_sets * info.n_views * info.n_sources
    failed: dict[str, str] = {}
    try:
        reported = json.loads((out / "summary.json").read_text()).get("failed", {})
        failed = {str(k): str(v) for k, v in reported.items() if k in missing}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        pass
    return InspectReport(out, config_hash, counts, _concat(rt60), _concat(az), [m for m in missing if m not in failed],
                         _concat(passed, np.uint8), _concat(tries, np.int32), shards, failed, verify)


def _concat(parts: list[np.ndarray], dtype: type = np.float32) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def text_histogram(values: np.ndarray, bins: np.ndarray, width: int = 40, fmt: str = "{:7.2f}") -> list[str]:
    """Rows ``[lo, hi)  ####  count`` of a histogram, for terminals."""
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=bins)
    top = max(int(counts.max()) if counts.size else 0, 1)
    return [
        f"{fmt.format(lo)} .. {fmt.format(hi)}  {'#' * int(round(width * c / top)):<{width}} {c}"
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def format_report(rep: InspectReport) -> str:
    """Human-readable report for the CLI."""
    lines = [f"render {rep.out}  (config {rep.config_hash})"]
    if rep.verified:
        lines.append(f"verified: every chunk of {len(rep.shards)} shards reads back (checksums match)")
    lines.append("split    scenes  view_sets  clips")
    for split, c in rep.counts.items():
        lines.append(f"{split:<8} {c['scenes']:>6}  {c['view_sets']:>9}  {c['clips']:>5}")
    if rep.failed:
        first = next(iter(rep.failed.values()))
        lines.append(f"failed to render: {len(rep.failed)} scenes ({', '.join(list(rep.failed)[:5])}"
                     f"{', ...' if len(rep.failed) > 5 else ''}); first error: {first}")
    if rep.missing:
        lines.append(f"not rendered yet: {len(rep.missing)} scenes ({', '.join(rep.missing[:5])}"
                     f"{', ...' if len(rep.missing) > 5 else ''})")
    if rep.view_filter_passed.size:
        lines.append(f"views: {rep.view_filter_passed.mean():.0%} of {rep.view_filter_passed.size} view sets pass "
                     f"the HM3D-SS view filters (mean {rep.view_filter_tries.mean():.1f} draws per kept set)")
    rt = rep.rt60[np.isfinite(rep.rt60)]
    if rt.size:
        lines.append(f"RT60 (s): mean {rt.mean():.3f}, median {np.median(rt):.3f}, n {rt.size}")
        lines += text_histogram(rt, np.linspace(0.0, max(1.2, float(rt.max()) + 1e-6), 13))
    if rep.azimuth.size:
        lines.append("azimuth (deg, +90 = left)")
        lines += text_histogram(rep.azimuth, np.linspace(-180, 180, 17), fmt="{:7.1f}")
    return "\n".join(lines)
