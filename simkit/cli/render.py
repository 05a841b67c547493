"""``simkit render`` and ``simkit inspect``."""

from __future__ import annotations

from pathlib import Path

import typer

from simkit.cli import app
from simkit.config import AcousticsConfig, RenderConfig, SamplingConfig, SpeechConfig
from simkit.errors import SimkitError

_DEF = RenderConfig()


@app.command()
def render(
    out: Path = typer.Option(Path("out/render"), help="Dataset directory (created; re-runs resume)."),
    scenes: str = typer.Option(None, help="N (a split-preserving subset of the embedded scenes) or a comma "
                                          "list of scene ids; default: all 100 embedded scenes (81/9/10)."),
    sets_per_scene: int = typer.Option(_DEF.sets_per_scene, help="View sets per scene."),
    views: int = typer.Option(_DEF.sampling.views, help="Views per view set."),
    sources: int = typer.Option(_DEF.sampling.sources, help="Sources per view set."),
    preset: str = typer.Option(_DEF.acoustics.preset, help="Ray-count preset: fast | default | high."),
    speech: Path = typer.Option(None, help="LibriSpeech root; default: built-in espeak-ng speech."),
    hrtf: Path = typer.Option(None, help="SOFA HRTF for the engine; default: the engine's built-in HRTF."),
    workers: int = typer.Option(1, help="Scenes rendered in parallel processes (data do not depend on it)."),
    seed: int = typer.Option(_DEF.seed, help="Seed every random choice flows from."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Render the simulated binaural set (SoundSpaces 2.0 engine) into HDF5 shards, one per scene."""
    from simkit.render.pipeline import render_dataset
    from simkit.scenes.catalog import resolve_scenes

    if views < 2:
        raise SimkitError(f"--views must be >= 2 (got {views}): the set's views give the camera motion")
    if sources < 1:
        raise SimkitError(f"--sources must be >= 1 (got {sources})")
    cfg = RenderConfig(
        scenes=resolve_scenes(scenes),
        sets_per_scene=sets_per_scene,
        seed=seed,
        acoustics=AcousticsConfig(preset=preset, hrtf=str(hrtf) if hrtf else None),
        sampling=SamplingConfig(views=views, sources=sources),
        speech=SpeechConfig(corpus=str(speech) if speech else None),
    )
    result = render_dataset(cfg, out, workers=workers, progress=not quiet)
    s = result.summary
    typer.echo(f"rendered {len(result.rendered)} scenes, skipped {len(result.skipped)} already complete")
    for split, c in s["splits"].items():
        typer.echo(f"  {split:<5} {c['scenes']:>3} scenes  {c['view_sets']:>5} view sets  {c['clips']:>6} clips")
    if s["rt60_mean_s"] is not None:
        typer.echo(f"  mean RT60 {s['rt60_mean_s']:.3f} s over {s['n_rirs']} RIRs")
    typer.echo(f"dataset: {result.out.resolve()}")


@app.command()
def inspect(
    data: Path = typer.Argument(..., help="A render directory."),
) -> None:
    """Validate every shard of a render; print counts per split and RT60/azimuth histograms."""
    from simkit.render.inspect import format_report, inspect_dataset

    typer.echo(format_report(inspect_dataset(data)))
