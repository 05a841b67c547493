"""``simkit inspect``: validate a dataset (render or prepared) through the contract and summarise it: origin,
groups, split protocols, counts, visibility of visible sources, RT60 and azimuth histograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simkit.data.validate import DatasetReport, validate_dataset
from simkit.data.visibility import shard_visibility

# The report of the contract's validator (every dataset: renders and prepared sets alike).
InspectReport = DatasetReport


def inspect_dataset(out: Path | str, verify: bool = False) -> DatasetReport:
    """Validate the manifest, every protocol and every shard; raise SimkitError naming the first bad file.

    ``verify`` also reads every chunk of every shard (checksums, decompression): slower, but it finds
    damage inside the data, which the structural check cannot see."""
    return validate_dataset(out, verify=verify)


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
    o = rep.origin
    what = f"{o.get('kind', 'render')} {o.get('name', '')} {o.get('version', '')}".strip()
    lines = [f"dataset {rep.root}  ({what}; config {rep.config_hash})"]
    if o.get("source"):
        lines.append(f"source: {o['source']}" + (f"  (licence: {o['licence']})" if o.get("licence") else ""))
    lines.append(f"groups: {', '.join(rep.groups) or 'none'}")
    if rep.sample_rate:
        lines.append(f"audio: {rep.sample_rate} Hz, clips of {rep.clip_seconds:.2f} s")
    if rep.storage:
        n_sets = sum(c["view_sets"] for c in rep.counts.values())
        size = f"{rep.shard_bytes / 1e6:.1f} MB in {len(rep.shards)} shards" + (
            f" = {rep.shard_bytes / n_sets / 1e6:.2f} MB per view set" if n_sets else "")
        snr = (f"; derived clips >= {rep.derived_clip_snr_db:.1f} dB SNR against the rendered ones"
               if rep.derived_clip_snr_db is not None else "")
        lines.append(f"storage: {', '.join(rep.storage)}{snr}; {size}")
    if rep.verified:
        lines.append(f"verified: every chunk of {len(rep.shards)} shards reads back (checksums match)")
    lines.append("split    scenes  view_sets  clips")
    for split, c in rep.counts.items():
        lines.append(f"{split:<8} {c['scenes']:>6}  {c['view_sets']:>9}  {c['clips']:>5}")
    protos = rep.manifest.get("protocols") or {}
    lines.append("protocols (sets per split):")
    for name, counts in rep.protocol_counts.items():
        entry = protos.get(name) or {}
        note = f"  family {entry['family']}" if entry.get("family") else ""
        note += f"  (= {entry['alias']})" if entry.get("alias") else ""
        lines.append(f"  {name:<12} " + "  ".join(f"{s} {n}" for s, n in counts.items()) + note)
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
    vis = shard_visibility(rep.shards)
    if vis is not None:
        lines.append(vis.line())
    rt = rep.rt60[np.isfinite(rep.rt60)]
    if rt.size:
        lines.append(f"RT60 (s): mean {rt.mean():.3f}, median {np.median(rt):.3f}, n {rt.size}")
        lines += text_histogram(rt, np.linspace(0.0, max(1.2, float(rt.max()) + 1e-6), 13))
    side = rep.side_labels[np.isnan(rep.azimuth)] if rep.side_labels.size == rep.azimuth.size else rep.side_labels
    if side.size:
        lines.append(f"side labels (no azimuth): left {int((side > 0).sum())}, right {int((side < 0).sum())}, "
                     f"unknown {int((side == 0).sum())}")
    if np.isfinite(rep.azimuth).any():
        lines.append("azimuth (deg, +90 = left)")
        lines += text_histogram(rep.azimuth, np.linspace(-180, 180, 17), fmt="{:7.1f}")
    return "\n".join(lines)
