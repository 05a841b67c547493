"""Cost and fidelity of ray-count presets against a reference preset on the same view sets.

The figures of issue 12 and docs/acoustics.md: per binaural RIR, the RT60 (T30 of the mixed RIR, mean of both
ears) and the broadband ILD of the mixed RIR (``10 log10(E_left / E_right)``) of each preset are compared with
those of the reference (``high``) rendered at the same listener and source positions; the direct path is
compared byte for byte. CPU seconds are the process time of ``backend.render`` per view set, so a shared
machine inflates them less than wall time. Used by ``benchmarks/bench_render_engine.py`` and the slow test.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.presets import PRESETS, Preset
from simkit.render.config import SamplingConfig

RT60_BOUND = 0.03  # issue 12: mean |dRT60| / RT60_ref over all RIRs of the embedded set
ILD_BOUND_DB = 0.25  # issue 12: mean |dILD| of the mixed RIR


@dataclass
class PresetFigures:
    """One preset on a list of view sets: per-RIR RT60 / ILD, per-set CPU and wall seconds, direct hashes."""

    rt60: np.ndarray  # (n_rirs,) s, NaN where T30 is undefined
    ild_db: np.ndarray  # (n_rirs,)
    cpu_s: np.ndarray  # (n_sets,) process time of backend.render
    wall_s: np.ndarray  # (n_sets,)
    direct_sha: list[str]  # per set, sha256 of the direct RIR bytes
    setup_cpu_s: float  # one-off cost before the first set (the shared-indirect decoder fit)


def mixed_ild_db(mixed: np.ndarray) -> np.ndarray:
    """Broadband ILD in dB of (..., 2, T) RIRs (channel 0 = left; + = louder left)."""
    e = np.sum(np.asarray(mixed, dtype=np.float64) ** 2, axis=-1)
    return 10.0 * np.log10(np.maximum(e[..., 0], 1e-30) / np.maximum(e[..., 1], 1e-30))


def _measure_scene(
    scene_id: str, variants: Mapping[str, Preset], seed: int, sets: int, acoustics: AcousticsConfig,
    sampling: SamplingConfig,
) -> dict[str, dict]:
    from simkit.acoustics import MaterialDatabase, make_backend, rt60_t30_batch
    from simkit.render.pipeline import scene_seed
    from simkit.render.sampling import sample_view_set
    from simkit.scenes.catalog import load_scene

    scene = load_scene(scene_id)
    view_sets = [sample_view_set(scene, sampling, scene_seed(seed, scene_id, n)) for n in range(sets)]
    db = MaterialDatabase.embedded()
    out: dict[str, dict] = {}
    for label, preset in variants.items():
        backend = make_backend(acoustics, db)
        backend.preset = preset  # type: ignore[attr-defined]  (engine-defaults is not a registered preset)
        c0 = time.process_time()
        if preset.shared_indirect:
            backend.foa_decoder()  # type: ignore[attr-defined]  (once per process, cached)
        setup = time.process_time() - c0
        rec: dict = {"rt60": [], "ild": [], "cpu": [], "wall": [], "sha": [], "setup": setup}
        for vs in view_sets:
            t0, c0 = time.perf_counter(), time.process_time()
            rirs = backend.render(scene, vs.positions, vs.quats, vs.source_positions)
            rec["cpu"].append(time.process_time() - c0)
            rec["wall"].append(time.perf_counter() - t0)
            mixed = rirs.mixed(acoustics.indirect_gain)
            rec["rt60"].append(rt60_t30_batch(mixed, acoustics.sample_rate).mean(axis=-1).ravel())
            rec["ild"].append(mixed_ild_db(mixed).ravel())
            rec["sha"].append(hashlib.sha256(rirs.direct.tobytes()).hexdigest())
        out[label] = rec
    return out


def measure_presets(
    scene_ids: Sequence[str],
    variants: Mapping[str, Preset] | Sequence[str],
    seed: int = 0,
    sets_per_scene: int = 1,
    acoustics: AcousticsConfig | None = None,
    sampling: SamplingConfig | None = None,
    workers: int = 1,
) -> dict[str, PresetFigures]:
    """Render the same view sets (the render's sampler and seeds) with every variant; figures per variant."""
    variants = {v: PRESETS[v] for v in variants} if not isinstance(variants, Mapping) else dict(variants)
    acoustics = acoustics or AcousticsConfig()
    sampling = sampling or SamplingConfig()
    args = [(s, variants, seed, sets_per_scene, acoustics, sampling) for s in scene_ids]
    if workers > 1 and len(args) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            per_scene = list(pool.map(_measure_scene, *zip(*args, strict=True)))
    else:
        per_scene = [_measure_scene(*a) for a in args]
    figures = {}
    for label in variants:
        recs = [r[label] for r in per_scene]
        figures[label] = PresetFigures(
            rt60=np.concatenate([x for r in recs for x in r["rt60"]]),
            ild_db=np.concatenate([x for r in recs for x in r["ild"]]),
            cpu_s=np.array([x for r in recs for x in r["cpu"]]),
            wall_s=np.array([x for r in recs for x in r["wall"]]),
            direct_sha=[x for r in recs for x in r["sha"]],
            setup_cpu_s=max(r["setup"] for r in recs),
        )
    return figures


def deviations(fig: PresetFigures, ref: PresetFigures) -> dict[str, float | int | bool]:
    """RT60 (relative) and ILD (dB) deviations of ``fig`` from ``ref`` per RIR; direct-path identity."""
    ok = np.isfinite(fig.rt60) & np.isfinite(ref.rt60)
    rt = np.abs(fig.rt60[ok] / ref.rt60[ok] - 1.0) * 100.0
    ild = np.abs(fig.ild_db - ref.ild_db)
    return {
        "rt60_dev_mean_pct": float(rt.mean()), "rt60_dev_max_pct": float(rt.max()),
        "rt60_signed_mean_pct": float((fig.rt60[ok] / ref.rt60[ok] - 1.0).mean() * 100.0),
        "rt60_compared": int(ok.sum()), "rt60_nan": int((~ok).sum()),
        "ild_dev_mean_db": float(ild.mean()), "ild_dev_max_db": float(ild.max()),
        "direct_identical": fig.direct_sha == ref.direct_sha,
    }
