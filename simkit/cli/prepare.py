"""``simkit prepare`` (published datasets -> simkit datasets) and ``simkit data stats``."""

from __future__ import annotations

from pathlib import Path

import typer

from simkit.cli import app
from simkit.cli.options import executor_option, ray_address_option, workers_option
from simkit.config import parse_key_values
from simkit.errors import SimkitError

data_app = typer.Typer(no_args_is_help=True, help="Facts about simkit datasets.")
app.add_typer(data_app, name="data")


@app.command()
def prepare(
    name: str = typer.Argument(..., help="Adapter: fair-play | hm3d-ss | rwavs | soundspaces1 | stereocrw-wild | "
                                         "... (`simkit prepare list`)."),
    src: Path = typer.Argument(None, help="The dataset as published (see docs/datasets.md)."),
    out: Path = typer.Option(None, help="Output dataset directory (created; re-runs resume)."),
    option: list[str] = typer.Option([], help="Adapter option KEY=VALUE, repeatable (docs/datasets.md)."),
    sample_rate: int = typer.Option(16000, help="Audio is resampled to this rate (the tasks' 16 kHz)."),
    max_units: int = typer.Option(0, help="Prepare only the first N shards (0 = all), for a trial run."),
    workers: int = workers_option("Shards built"),
    executor: str = executor_option(),
    ray_address: str = ray_address_option(),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Convert a published dataset into a simkit dataset (manifest, split protocols, HDF5 shards)."""
    from simkit.data.adapters import CommonOptions
    from simkit.data.prepare import adapter_names, prepare

    if name == "list":
        typer.echo("\n".join(adapter_names()))
        return
    if src is None:
        raise SimkitError(f"simkit prepare {name} needs SRC, the dataset's folder as published")
    if out is None:
        raise SimkitError("simkit prepare needs --out DIR")
    res = prepare(name, src, out, parse_key_values(option), CommonOptions(sample_rate=sample_rate, max_units=max_units),
                  progress=not quiet, workers=workers, executor=executor, ray_address=ray_address)
    typer.echo(f"prepared {len(res.written)} shards, skipped {len(res.skipped)} already complete")
    for proto, counts in res.summary.get("protocols", {}).items():
        typer.echo(f"  {proto:<12} " + "  ".join(f"{s} {n}" for s, n in counts.items()))
    typer.echo(f"dataset: {res.out.resolve()}")


@data_app.command("stats")
def stats(
    data: Path = typer.Argument(..., help="A simkit dataset (render or prepared)."),
    protocol: str = typer.Option(None, help="Split protocol (default: the dataset's default)."),
) -> None:
    """A seed-Table-7 row: clips, hours, split sizes and the IID binaural accuracy against the labels."""
    from simkit.data.stats import dataset_stats, format_stats

    typer.echo(format_stats(dataset_stats(data, protocol)))
