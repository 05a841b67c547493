"""``simkit scenes``: regenerate the embedded procedural scenes (layout files and split file)."""

from __future__ import annotations

from pathlib import Path

import typer

from simkit.cli import app
from simkit.errors import SimkitError

scenes_app = typer.Typer(no_args_is_help=True, help="The embedded procedural scenes.")
app.add_typer(scenes_app, name="scenes")


@scenes_app.command("generate")
def generate(
    write: Path = typer.Option(None, "--write", help="Directory for the <scene_id>.json layouts "
                                                      "(the shipped ones: scenes/procedural)."),
    splits: Path = typer.Option(None, "--splits", help="Also write the train/val/test split file here "
                                                       "(the shipped one: scenes/splits.json)."),
    scenes: str = typer.Option(None, "--scenes", help="Comma list of scene ids to write (default: all 100)."),
) -> None:
    """Regenerate the procedural layouts (steered by the Eyring RT60 of the embedded material database)."""
    if write is None and splits is None:
        raise SimkitError("nothing to do: pass --write DIR and/or --splits FILE")
    if write is not None:
        from simkit.acoustics.rt60 import eyring_rt60_1k
        from simkit.scenes.generator import write_layouts

        ids = None if scenes is None else [s.strip() for s in scenes.split(",") if s.strip()]
        paths = write_layouts(write, eyring_rt60_1k, ids)
        typer.echo(f"wrote {len(paths)} layouts to {write}")
    if splits is not None:
        from simkit.scenes.catalog import write_splits

        write_splits(splits)
        typer.echo(f"wrote {splits}")
