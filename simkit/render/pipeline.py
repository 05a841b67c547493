"""``simkit render``: sample view sets per scene, render binaural RIRs, convolve speech, write one shard per scene.

Layout and resume follow lhotse's recipe style: a manifest written first, one output file per unit of work
(scene) made complete by an atomic rename, and re-runs that skip every shard already finished with the same
config hash. Every random choice flows from ``RenderConfig.seed`` through per-(scene, set) seed sequences, so
the data does not depend on ``workers`` or on the order in which scenes finish.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import simkit
from simkit.config import from_dict
from simkit.data.layout import DEFAULT_PROTOCOL, SPLITS, origin, protocol_entry, shard_path, summary_path
from simkit.data.pipeline import Progress, run_units
from simkit.data.validate import summarize
from simkit.data.writer import DatasetWriter, new_manifest
from simkit.render.config import RenderConfig, validate_render_config

if TYPE_CHECKING:
    from simkit.render.sampling import FloorSampler, ViewSet
    from simkit.scenes.catalog import SceneSet
    from simkit.scenes.raycast import RayCaster
    from simkit.scenes.scene import Scene
    from simkit.vision.camera import View

log = logging.getLogger(__name__)

# A file named here gets one JSON line per rendered scene: CPU seconds (process time) of each render stage
# (benchmarks/bench_pipeline.py reads it). Timing only: nothing of it reaches the shards, manifest or summary.
STAGE_TIMES_ENV = "SIMKIT_STAGE_TIMES"
STAGES = ("setup", "sampling", "views", "acoustics", "speech", "write")

ENGINE_LICENCES = {
    "rlr": "RLRAudioPropagation (SoundSpaces 2.0 acoustic engine): CC-BY-NC 4.0 (non-commercial use only)",
    "pyroomacoustics": "pyroomacoustics: MIT",
}
SPEECH_LICENCES = {
    "espeak": "espeak-ng (libespeak-ng and voices, via espeakng-loader): GPL-3.0-or-later",
    "librispeech": "LibriSpeech ASR corpus: CC-BY 4.0",
}


@dataclass
class RenderResult:
    """What a render produced: where, how much, and what was skipped."""

    out: Path
    rendered: list[str]
    skipped: list[str]
    summary: dict
    failed: dict[str, str]  # scene id -> the one-line error that stopped it (the other scenes still render)


def scene_seed(seed: int, scene_id: str, index: int) -> np.random.Generator:
    """The generator for view set ``index`` of ``scene_id``; independent of worker count and order."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(scene_id.encode()), index]))


def _engine_objects(cfg: RenderConfig):  # -> (backend, speech source); imported lazily for worker start-up
    from simkit.acoustics import MaterialDatabase, make_backend
    from simkit.audio.speech import make_speech_source

    backend = make_backend(cfg.acoustics, MaterialDatabase.embedded())
    return backend, make_speech_source(cfg.speech)


@dataclass
class SampledSet:
    """A view set that went through the view filters: its images (None with ``--no-views``), whether it
    passed and how many sets were drawn to find it."""

    view_set: ViewSet
    views: View | None
    passed: bool
    tries: int
    # with visible sources: the instance id of each source's object in ``views.instance`` (S,)
    source_instance: np.ndarray | None = None


COARSE_STEP = 4  # the filter's first look is at 1/4 of the image size (1/16 of the rays)
COARSE_MARGIN = 0.9  # ...and rejects only draws that miss the depth thresholds by more than 10 %


def sample_filtered_set(
    scene: Scene, caster: RayCaster, floor: FloorSampler, cfg: RenderConfig, rng: np.random.Generator,
    cpu: dict[str, float] | None = None,
) -> SampledSet:
    """Draw view sets until one passes the HM3D-SS view filters (``cfg.views.filter_tries`` at most).

    Views are rendered before any acoustics, so a rejected set costs some ray casting, not an engine run.
    Most draws in small rooms fail the depth rule (4 m of depth in every view), so each draw is first cast
    at a coarse resolution, depth only, and dropped when it clearly fails; the verdict that is stored
    always comes from the full-resolution images. When no draw passes, the first is kept and flagged
    (``views/passed_filters = 0``) rather than failing the scene.

    ``cpu``: when given, the CPU seconds of the draws (``sampling``) and of the rest (``views``) are added to it.
    """
    if cpu is None:
        return _sample_filtered_set(scene, caster, floor, cfg, rng, None)
    c0 = time.process_time()
    timed = {"sampling": 0.0}
    try:
        return _sample_filtered_set(scene, caster, floor, cfg, rng, timed)
    finally:
        cpu["sampling"] = cpu.get("sampling", 0.0) + timed["sampling"]
        cpu["views"] = cpu.get("views", 0.0) + time.process_time() - c0 - timed["sampling"]


def _sample_filtered_set(
    scene: Scene, caster: RayCaster, floor: FloorSampler, cfg: RenderConfig, rng: np.random.Generator,
    timed: dict[str, float] | None,
) -> SampledSet:
    from dataclasses import replace

    from simkit.render.sampling import sample_view_set
    from simkit.vision.camera import cast_view, render_depths, render_views, shade_views
    from simkit.vision.filters import SetVerdict, depth_ok

    def draw() -> ViewSet:
        c0 = time.process_time()
        vs = sample_view_set(scene, cfg.sampling, rng, caster=caster, floor=floor, camera=cfg.views.camera)
        if timed is not None:
            timed["sampling"] += time.process_time() - c0
        return vs

    vc = cfg.views
    if not vc.enabled:
        vs = draw()
        return SampledSet(vs, None, True, 1, _seen_scene(scene, caster, vs)[2])
    cam, flt = vc.camera, vc.filters
    coarse = replace(cam, width=max(8, cam.width // COARSE_STEP), height=max(6, cam.height // COARSE_STEP))
    lenient = replace(flt, min_max_depth=flt.min_max_depth * COARSE_MARGIN,
                      min_mean_depth=flt.min_mean_depth * COARSE_MARGIN,
                      min_valid_fraction=flt.min_valid_fraction * COARSE_MARGIN)
    tries = vc.filter_tries if vc.apply_filters else 1
    first: ViewSet | None = None
    for t in range(1, tries + 1):
        vs = draw()
        first = first or vs
        # the coarse look one view at a time: the first view that clearly fails drops the draw
        if vc.apply_filters and not all(
            depth_ok(render_depths(caster, vs.positions[i:i + 1], vs.yaws_deg[i:i + 1], coarse)[0], lenient)
            for i in range(vs.n_views)
        ):
            continue
        seen, seen_caster, instances = _seen_scene(scene, caster, vs)
        # cast before colouring: a draw is judged on depth and instances alone, view by view, and dropped
        # at its first failing view or pair (SetVerdict: view_set_ok's verdict); only a kept one is shaded
        verdict = SetVerdict(flt)
        hits = []
        for i in range(vs.n_views):
            hits.append(cast_view(seen, seen_caster, vs.positions[i], float(vs.yaws_deg[i]), cam))
            if not verdict.add(hits[-1].depth, hits[-1].instance) and vc.apply_filters:
                break
        if verdict.ok or not vc.apply_filters:  # without filtering the verdict is still recorded
            return SampledSet(vs, shade_views(seen, seen_caster, hits, cam), verdict.ok, t, instances)
    assert first is not None
    seen, seen_caster, instances = _seen_scene(scene, caster, first)
    view = render_views(seen, seen_caster, first.positions, first.yaws_deg, cam)
    return SampledSet(first, view, False, tries, instances)


def _seen_scene(scene: Scene, caster: RayCaster, vs: ViewSet) -> tuple[Scene, RayCaster, np.ndarray | None]:
    """The scene the camera sees: ``scene`` itself, or with visible sources the scene plus their objects
    (:func:`simkit.scenes.emitters.with_emitters`), its caster, and each source's instance id (or None)."""
    if not vs.emitters:
        return scene, caster, None
    from simkit.scenes.emitters import with_emitters
    from simkit.scenes.raycast import RayCaster

    seen, bodies = with_emitters(scene, vs.emitters)
    return seen, RayCaster(seen), bodies


def render_scene(cfg: RenderConfig, scene_id: str, writer: DatasetWriter) -> Path:
    """Render every view set of one scene and write its shard through ``writer`` (an open
    :class:`DatasetWriter` or its :meth:`~DatasetWriter.for_units`); returns the shard path."""
    from simkit.acoustics import MaterialDatabase, rt60_t30_batch
    from simkit.acoustics.mics import get_mic
    from simkit.audio.dsp import fft_convolve
    from simkit.audio.mix import HEAD_WIDTH_M, mix_rng, mix_set, source_gains
    from simkit.render.sampling import FloorSampler
    from simkit.scenes.catalog import SceneSet
    from simkit.scenes.raycast import RayCaster

    clock = time.process_time
    times_file = os.environ.get(STAGE_TIMES_ENV)
    cpu = dict.fromkeys(STAGES, 0.0)
    t_start = clock()
    scene_set = SceneSet.from_config(cfg.scene_set)
    scene = scene_set.load(scene_id, MaterialDatabase.embedded())
    caster = RayCaster(scene)
    floor = FloorSampler(scene, caster, cfg.sampling)
    split = scene_set.split_of(scene_id)
    backend, speech = _engine_objects(cfg)
    ac = cfg.acoustics
    n_clip = int(round(cfg.speech.clip_seconds * ac.sample_rate))
    attrs = {  # scene_id and config_hash: the writer's
        "split": split,
        "sample_rate": ac.sample_rate,
        "n_sets": cfg.sets_per_scene,
        "n_views": cfg.sampling.views,
        "n_sources": cfg.sampling.sources,
        "simkit_version": simkit.__version__,
        "engine": backend.name,
        "engine_version": backend.version(),
        "hrtf_id": backend.hrtf_id(),
        "speech_source": speech.name,
        "indirect_gain": ac.indirect_gain,
        "scene_source": scene_set.cfg.format,
    }
    if ac.mic != "binaural":  # the default's shard attributes stay as they were before microphone models
        attrs["mic"] = ac.mic
    # the diffuse noise's coherence depends on the microphone (simkit.audio.mix.diffuse_coherence)
    noise_spacing = get_mic(ac.mic).resolved_spacing(ac.mic_spacing) or HEAD_WIDTH_M
    group_attrs = {}
    if cfg.views.enabled:
        cam = cfg.views.camera
        group_attrs["views"] = {"width": cam.width, "height": cam.height, "hfov_deg": cam.hfov_deg,
                                "pitch_deg": cam.pitch_deg, "filters_applied": int(cfg.views.apply_filters)}
    # each set is encoded and spooled to disk as it is rendered: memory does not grow with --sets-per-scene
    # beyond the compressed shard (docs/scale.md, "Memory")
    cpu["setup"] = clock() - t_start
    with writer.stream_shard(scene_id, attrs, groups=render_groups(cfg), group_attrs=group_attrs) as shard:
        for n in range(cfg.sets_per_scene):
            rng = scene_seed(cfg.seed, scene_id, n)
            drawn = sample_filtered_set(scene, caster, floor, cfg, rng, cpu)
            vs = drawn.view_set
            c0 = clock()
            rirs = backend.render(scene, vs.positions, vs.quats, vs.source_positions)
            mixed = rirs.mixed(ac.indirect_gain)  # (V, S, 2, R)
            rt60 = rt60_t30_batch(mixed, ac.sample_rate).mean(axis=-1)
            c1 = clock()
            clips = [speech.draw(split, rng, cfg.speech.clip_seconds, ac.sample_rate) for _ in vs.source_positions]
            mono = np.stack([c.audio for c in clips]).astype(np.float32)  # (S, T)
            mix_item: dict = {}
            if cfg.mix.enabled:  # its own random stream: the draws above are those of a render without a mix
                mrng = mix_rng(cfg.seed, scene_id, n)
                mono = (mono * source_gains(cfg.mix, mrng, len(mono))[:, None]).astype(np.float32)
            binaural = fft_convolve(mono[None, :, None, :], mixed, n_clip)  # (V, S, 2, T)
            if cfg.mix.enabled:
                m = mix_set(binaural, cfg.mix, mrng, ac.sample_rate, mic=ac.mic, spacing_m=noise_spacing)
                mix_item = {"audio/mix": m.mix, "labels/mix_target": m.target}
                if m.noise is not None:
                    mix_item.update({"audio/mix_noise": m.noise, "audio/mix_snr_db": m.snr_db})
            c2 = clock()
            cpu["acoustics"] += c1 - c0
            cpu["speech"] += c2 - c1
            item = {
                "rir/direct": rirs.direct,
                "rir/indirect": rirs.indirect,
                "rir/rt60": rt60,
                "audio/source": mono,
                "audio/binaural": binaural,
                "audio/source_id": [c.source_id for c in clips],
                "audio/speaker": [c.speaker for c in clips],
                "audio/text": [c.text for c in clips],
                "poses/position": vs.positions,
                "poses/yaw_deg": vs.yaws_deg,
                "poses/quat_wxyz": vs.quats,
                "sources/position": vs.source_positions,
                **vs.labels().as_datasets(),
                **mix_item,
            }
            if drawn.source_instance is not None:
                item["sources/instance"] = drawn.source_instance.astype(np.uint16)
                item["sources/kind"] = [e.kind for e in vs.emitters]
                if drawn.views is not None:
                    from simkit.data.visibility import source_pixels

                    item["views/source_pixels"] = source_pixels(drawn.views.instance, drawn.source_instance)
            if drawn.views is not None:
                item.update({
                    "views/rgb": drawn.views.rgb,
                    "views/depth": drawn.views.depth,
                    "views/instance": drawn.views.instance,
                    "views/passed_filters": np.uint8(drawn.passed),
                    "views/filter_tries": np.int32(drawn.tries),
                })
            c0 = clock()
            shard.add(item)
            cpu["write"] += clock() - c0
            del item, rirs, mixed, drawn, binaural, mix_item  # the next set's arrays replace these
        c0 = clock()
        path = shard.write()
        cpu["write"] += clock() - c0
    if times_file:
        _append_stage_times(times_file, {"scene": scene_id, "sets": cfg.sets_per_scene, "preset": ac.preset,
                                         "views": cfg.views.enabled, "storage": cfg.storage.clips,
                                         "pid": os.getpid(), "cpu_s": cpu, "total_cpu_s": clock() - t_start})
    return path


def _append_stage_times(path: str, record: dict) -> None:
    """One JSON line appended to ``path`` (a single O_APPEND write: lines from parallel workers stay whole)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def _render_worker(cfg_dict: dict, scene_id: str, writer: DatasetWriter) -> str:
    # Runs in a fresh process: rebuild the config from plain data so nothing unpicklable crosses over.
    cfg = from_dict(RenderConfig, cfg_dict)
    return str(render_scene(cfg, scene_id, writer))


def render_groups(cfg: RenderConfig) -> list[str]:
    """The shard groups (simkit.data.schema) a render with ``cfg`` writes."""
    return ["audio", "rir", "poses", "labels", "pairs", *(["views"] if cfg.views.enabled else [])]


def build_manifest(cfg: RenderConfig, scenes: dict[str, str], scene_set: SceneSet | None = None) -> dict:
    """The manifest: resolved config, hash, versions, engine/microphone/HRTF/speech identity, licences, scene
    splits (``hrtf`` only for a microphone model that uses one)."""
    backend, speech = _engine_objects(cfg)
    source = {"format": cfg.scene_set.format}
    if scene_set is not None and scene_set.paths:
        source.update(scene_dir=str(Path(cfg.scene_set.scene_dir or "").resolve()),
                      split_file=cfg.scene_set.split_file or "seeded 81:9:10 of the scenes found",
                      found_not_in_split=len(scene_set.unlisted), in_split_not_found=len(scene_set.absent))
    from simkit.acoustics.mics import get_mic

    hrtf = backend.hrtf_manifest()  # None: the microphone model uses no HRTF
    licences = {
        "engine": ENGINE_LICENCES.get(backend.name, "see engine documentation"),
        # a corpus states its own licence (LibriSpeech's LICENSE.TXT); the table covers built-in sources
        "speech": getattr(speech, "licence_line", None) or SPEECH_LICENCES.get(speech.name, "see corpus documentation"),
        **({"hrtf": f"{hrtf['id']}: {hrtf['licence']}"} if hrtf is not None else {}),
    }
    return new_manifest(
        origin=origin("render", "simkit render", simkit.__version__, source.get("scene_dir"),
                      "; ".join(licences.values())),
        config=cfg.content_dict(),
        config_hash=cfg.config_hash(),
        groups=render_groups(cfg),
        protocols={DEFAULT_PROTOCOL: protocol_entry("the scene set's train/val/test split")},
        scenes=scenes,
        tool="simkit render",
        seed=cfg.seed,
        engine={"name": backend.name, "version": backend.version(), "hrtf_id": backend.hrtf_id()},
        mic=get_mic(cfg.acoustics.mic).manifest_entry(cfg.acoustics.mic_spacing),
        **({"hrtf": hrtf} if hrtf is not None else {}),
        speech_source=speech.identity(),
        scene_source=source,
        licences=licences,
    )


def render_dataset(
    cfg: RenderConfig,
    out: Path | str,
    workers: int = 1,
    progress: bool = True,
    on_scene: Callable[[str], None] | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
) -> RenderResult:
    """Render ``cfg.scenes`` into ``out`` (resumable); returns what was rendered and the dataset summary.

    ``executor`` is a name of :data:`simkit.executors.EXECUTORS` (default: ``process`` for several
    workers, else ``serial``); the data do not depend on it. A scene that fails with a SimkitError (corrupt
    mesh, no free floor, a scene the engine refuses) is reported in ``RenderResult.failed`` and in
    ``summary.json`` while the other scenes still render; a failed write (full disk) or an interrupt stops
    the render, keeping every finished shard.
    """
    from simkit.executors import executor_for
    from simkit.scenes.catalog import SceneSet

    out = Path(out)
    run = executor_for(executor, workers, ray_address)
    validate_render_config(cfg)  # before anything is written: a bad setting would fail every scene
    scene_set = SceneSet.from_config(cfg.scene_set)
    scene_ids = cfg.scenes or scene_set.resolve(None)
    scene_set.resolve(",".join(scene_ids))  # unknown ids fail here, before anything is written
    scenes = {s: scene_set.split_of(s) for s in scene_ids}
    manifest = build_manifest(cfg, scenes, scene_set)  # validates engine, HRTF and corpus first
    # the writer holds the directory's lock, refuses another config and removes stale temporaries
    with DatasetWriter(out, manifest, compression=cfg.compression, storage=cfg.storage) as writer:
        known = writer.manifest.scenes
        writer.write_splits({sp: [s for s, x in known.items() if x == sp] for sp in SPLITS})
        cfg_dict, shards = cfg.to_dict(), writer.for_units()
        ran = run_units(_render_worker, scene_ids, lambda s: (cfg_dict, s, shards), executor=run,
                        progress=Progress("render scenes", "scene", progress), is_done=writer.is_done,
                        failures="collect", on_unit=on_scene)
        summary = summarize(out)
        summary["failed"] = ran.failed
        if manifest.get("hrtf") is not None:  # omnidirectional microphones have no HRTF grid
            summary["hrtf"] = hrtf_elevation_check(out, [s for s in known if writer.is_done(s)], manifest["hrtf"])
        writer.finish(summary)
    return RenderResult(out, sorted(ran.done), ran.skipped, summary, ran.failed)


def hrtf_elevation_check(out: Path, scene_ids: list[str], hrtf: dict) -> dict:
    """Count the sources (scene, set, source) heard from below the HRTF's lowest measured elevation in
    any view, over every complete shard, and warn once (one line on stderr) when there are any.

    It goes to ``summary.json``, not the manifest: the manifest is written before any source is drawn and
    must stay equal across resumed runs, while the summary is rebuilt from all finished shards each run."""
    import h5py

    low = hrtf.get("min_elevation_deg")
    if low is None or low <= -90.0:  # built-in HRTF (no published grid) or a grid down to the nadir
        return {"min_elevation_deg": low, "sources": None, "sources_below": None}
    total = below = 0
    for scene_id in sorted(scene_ids):
        with h5py.File(shard_path(out, scene_id), "r") as f:
            el = np.asarray(f["labels/elevation_deg"][()], dtype=np.float64)  # (sets, views, sources)
        total += el.shape[0] * el.shape[2]
        below += int(np.count_nonzero((el < low - 1e-6).any(axis=1)))
    if below:
        log.warning("warning: %d of %d sources lie below the lowest elevation the HRTF %s measures (%g deg); the "
                    "engine extrapolates their HRIRs (count in %s, hrtf.sources_below)", below, total, hrtf["id"],
                    low, summary_path(out))
    return {"min_elevation_deg": low, "sources": total, "sources_below": below}

