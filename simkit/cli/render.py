"""``simkit render`` and ``simkit inspect``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from simkit.cli import app
from simkit.cli.options import executor_option, ray_address_option, workers_option
from simkit.data.storage import preset as storage_preset
from simkit.errors import SimkitError
from simkit.render.config import RenderConfig, load_render_config
from simkit.render.recipes import recipe_names

_DEF = RenderConfig()


@app.command()
def render(
    out: Path = typer.Option(Path("out/render"), help="Dataset directory (created; re-runs resume)."),
    scenes: str = typer.Option(None, help="N (a split-preserving subset) or a comma list of scene ids; "
                                          "default: every scene of the set (embedded: 100 scenes, 81/9/10)."),
    sets_per_scene: int = typer.Option(None, help=f"View sets per scene (default: {_DEF.sets_per_scene})."),
    views: int = typer.Option(None, help=f"Views per view set (default: {_DEF.sampling.views})."),
    sources: int = typer.Option(None, help=f"Sources per view set (default: {_DEF.sampling.sources})."),
    max_translation: float = typer.Option(
        None, help="Move each view up to this many metres from the set's position (default: 0, the HM3D-SS "
                   "protocol; seed 000's simulated set has rotation and translation)."),
    preset: str = typer.Option(None, help=f"Ray-count preset: efficient | fast | default | high (default: "
                                          f"{_DEF.acoustics.preset})."),
    engine: str = typer.Option(None, help="Acoustic engine: rlr (SoundSpaces 2.0) | pyroomacoustics (shoebox "
                                          "rooms only, a cross-check) (default: rlr)."),
    speech: Path = typer.Option(None, help="LibriSpeech root; default: built-in espeak-ng speech."),
    hrtf: Path = typer.Option(None, help="SOFA HRTF for the engine (--mic binaural); default: the engine's "
                                         "built-in HRTF."),
    mic: str = typer.Option(None, help="Microphone model: binaural (HRTF ears) | phone-stereo (a phone's two "
                                       "microphones, landscape) | spaced-pair (two omnis, --mic-spacing) "
                                       f"(default: {_DEF.acoustics.mic}; docs/acoustics.md, Microphones)."),
    mic_spacing: float = typer.Option(None, help="--mic spaced-pair: capsule spacing (m, default 0.175)."),
    storage: str = typer.Option(None, help="Shard storage: compact (clips derived on read, int16 RIRs and "
                                           "sources; ~0.6 MB per view set) | float32 (every array as rendered) "
                                           "(default: compact; replaces any storage set in --config; "
                                           "docs/dataset-format.md)."),
    no_views: bool = typer.Option(False, "--no-views", help="Skip RGB/depth/instance views and view filters."),
    visible_sources: bool = typer.Option(False, "--visible-sources",
                                         help="Each source is a visible sounding object (docs/scenes.md)."),
    min_visible_share: float = typer.Option(None, help="With --visible-sources: every source lies in the field "
                                                       "of view of at least this share of its set's views."),
    no_view_filters: bool = typer.Option(False, "--no-view-filters",
                                         help="Keep the first sampled view set even if it fails the HM3D-SS "
                                              "view filters (the verdict is still stored)."),
    scene_dir: Path = typer.Option(None, help="Root of a real mesh dataset (with --scene-format)."),
    scene_format: str = typer.Option(None, help="procedural | hm3d | replica | mp3d | gibson | mesh "
                                                "(default: procedural)."),
    split_file: Path = typer.Option(None, help="Scene splits: JSON {train,val,test} or a folder/file of "
                                               "train.txt/val.txt/test.txt; default: embedded splits, or a "
                                               "seeded 81:9:10 split of the meshes found."),
    recipe: str = typer.Option(None, help=f"Named render settings reproducing a source's set: "
                                          f"{' | '.join(recipe_names())} (docs/scenes.md, Recipes); "
                                          "--config and command-line options override it."),
    config: Path = typer.Option(None, help="JSON file of render settings (see docs/configuration.md); "
                                           "command-line options override it."),
    workers: int = workers_option("Scenes rendered"),
    executor: str = executor_option(),
    ray_address: str = ray_address_option(),
    seed: int = typer.Option(None, help=f"Seed every random choice flows from (default: {_DEF.seed})."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Render the simulated binaural set (SoundSpaces 2.0 engine) with views into HDF5 shards, one per scene."""
    from simkit.render.pipeline import render_dataset
    from simkit.scenes.catalog import SceneSet

    overrides = {
        "sets_per_scene": sets_per_scene, "seed": seed, "sampling.views": views, "sampling.sources": sources,
        "sampling.max_translation": max_translation,
        "acoustics.preset": preset, "acoustics.engine": engine, "acoustics.hrtf": str(hrtf) if hrtf else None,
        "acoustics.mic": mic, "acoustics.mic_spacing": mic_spacing,
        "speech.corpus": str(speech) if speech else None, "scene_set.scene_dir": str(scene_dir) if scene_dir else None,
        "scene_set.format": scene_format, "scene_set.split_file": str(split_file) if split_file else None,
        "sampling.visible_sources": True if visible_sources else None,
        "sampling.min_visible_share": min_visible_share,
        "views.enabled": False if no_views else None, "views.apply_filters": False if no_view_filters else None,
        # --storage replaces any storage of --config as a whole (a preset, not a merge)
        "storage": dataclasses.asdict(storage_preset(storage)) if storage is not None else None,
    }
    cfg = load_render_config(config, overrides, recipe)
    if scene_dir and not scene_format and cfg.scene_set.format == "procedural":
        raise SimkitError("--scene-dir needs --scene-format (hm3d, replica, mp3d, gibson or mesh)")
    cfg.scenes = SceneSet.from_config(cfg.scene_set).resolve(scenes) if scenes or not cfg.scenes else cfg.scenes
    result = render_dataset(cfg, out, workers=workers, progress=not quiet, executor=executor,
                            ray_address=ray_address)
    s = result.summary
    typer.echo(f"rendered {len(result.rendered)} scenes, skipped {len(result.skipped)} already complete")
    for split, c in s["splits"].items():
        typer.echo(f"  {split:<5} {c['scenes']:>3} scenes  {c['view_sets']:>5} view sets  {c['clips']:>6} clips")
    if s["rt60_mean_s"] is not None:
        typer.echo(f"  mean RT60 {s['rt60_mean_s']:.3f} s over {s['n_rirs']} RIRs")
    if s.get("view_filter_pass_rate") is not None:
        typer.echo(f"  views: {s['view_filter_pass_rate']:.0%} of view sets pass the HM3D-SS view filters")
    typer.echo(f"dataset: {result.out.resolve()}")
    if result.failed:
        named = {sid: msg if sid in msg else f"scene {sid}: {msg}" for sid, msg in result.failed.items()}
        for message in named.values():
            typer.echo(f"failed: {message}", err=True)
        raise SimkitError(f"{len(named)} of {len(cfg.scenes)} scenes failed (first: {next(iter(named.values()))}); "
                          "the others are complete and a re-run retries only the failed ones")


@app.command()
def inspect(
    data: Path = typer.Argument(..., help="A simkit dataset: a render or a `simkit prepare` output."),
    preview: Path = typer.Option(None, help="Write a contact sheet PNG of one shard's views with each "
                                            "source's azimuth drawn."),
    preview_scene: str = typer.Option(None, help="Scene of the contact sheet (default: the first shard)."),
    preview_sets: int = typer.Option(4, help="View sets (rows) on the contact sheet."),
    verify: bool = typer.Option(False, "--verify", help="Also read every chunk of every shard (HDF5 "
                                                        "checksums): names the first corrupt shard and dataset."),
) -> None:
    """Validate every shard of a dataset; print its origin, groups, protocols, counts and histograms."""
    from simkit.data.inspect import format_report, inspect_dataset

    rep = inspect_dataset(data, verify=verify)
    typer.echo(format_report(rep))
    if preview is not None:
        from simkit.vision.preview import contact_sheet

        if preview_sets < 1:
            raise SimkitError(f"--preview-sets must be >= 1 (got {preview_sets})")
        shards = {p.stem: p for p in rep.shards}
        if not shards:
            raise SimkitError(f"{data} has no complete shard to preview")
        if preview_scene is not None and preview_scene not in shards:
            raise SimkitError(f"no complete shard for scene {preview_scene!r} in {data}")
        shard = shards[preview_scene] if preview_scene else next(iter(shards.values()))
        png = contact_sheet(shard, preview, max_sets=preview_sets)
        typer.echo(f"preview: {Path(png).resolve()}")
