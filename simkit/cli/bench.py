"""``simkit bench`` and ``simkit leaderboard``: parse options, call :mod:`simkit.bench`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from simkit.cli import app


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


@app.command()
def bench(
    model: str = typer.Option("ours_full", help="Model name, or 'all' for every model of the task."),
    task: str = typer.Option("direction", help="Benchmark task."),
    data: Path = typer.Option(None, help="Dataset directory (output of `simkit render` or `simkit prepare`)."),
    protocol: str = typer.Option(None, help="Split protocol of the dataset: a name (e.g. split3), a family "
                                            "(runs each member), 'all' (the default protocol's family), or "
                                            "'slfm-frontal' (SLfM's frontal test sources) (default: the "
                                            "dataset's default split)."),
    test_data: str = typer.Option(
        None, help="Also score the trained model on the test split of these labelled datasets, comma-separated "
                   "(renders, prepared sets, generated video); one leaderboard block each."),
    epochs: int = typer.Option(None, help="Maximum training epochs (default: 30; --quick: 5)."),
    batch_size: int = typer.Option(None, help="View sets per training step (default: 16)."),
    device: str = typer.Option("auto", help="auto | cuda | cpu."),
    seed: int = typer.Option(None, help="Seed of init, shuffling and augmentation (default: 0)."),
    results: Path = typer.Option(Path("results"), help="Leaderboard and run directories go here."),
    quick: bool = typer.Option(
        False, "--quick", help="Alias of --recipe quick: small subset, network and epochs (~1 min CPU)."
    ),
    recipe: str = typer.Option(
        None, help="Training recipe: default (simkit's CPU-sized defaults), quick (a ~1 min CPU smoke test, as "
                   "--quick) or paper (each model's published widths, optimiser, learning rates, schedule, batch, "
                   "clips and evaluation hop, cited in simkit/bench/recipes.py). Explicit flags and --option values "
                   "win; recorded in every leaderboard row (default: default)."),
    ablate_image: str = typer.Option(
        None, help="Vision-ablation control: shuffle (every item gets another item's image, a seeded derangement "
                   "fixed per run) or blank (all-zero images), in training and scoring; recorded in every row and "
                   "shown beside the model's real-image row by `simkit leaderboard`."),
    patience: int = typer.Option(None, help="Early-stopping patience in epochs (default: 5)."),
    select_metric: str = typer.Option(
        None, help="Val selection of the checkpoint: 'loss' (val loss) or a metric of the task, e.g. lr_accuracy "
                   "(default: self-supervised models label-free, their val loss or their authors' score; other "
                   "models the task's metric). Recorded in every leaderboard row."),
    workers: int = typer.Option(None, help="DataLoader workers (default: -1 = auto: min(8, cores - 1) on CUDA, "
                                           "2 on CPU; --quick: 0)."),
    derive_on: str = typer.Option(None, help="Where training items' derived clips are convolved: auto (the "
                                             "GPU on CUDA, the loader on CPU) | loader | device."),
    width: int = typer.Option(None, help="ResNet-18 first-stage width (default: 32; --quick: 8)."),
    threads: int = typer.Option(None, help="torch CPU threads (0 = torch default) (default: 0)."),
    max_items: int = typer.Option(
        None, help="Cap on items per split, a seeded subset (0 = all) (default: 0; --quick: 160)."
    ),
    max_steps: int = typer.Option(
        None, help="Stop training after this many optimizer steps (0 = no cap) (default: 0)."
    ),
    views_per_item: int = typer.Option(
        None, help="Views per training item: 0 = all V views of a set, k >= 2 = a random k of them (default: 0; "
                   "--recipe paper: slfm 3, SLfM's N_view)."),
    val_items: int = typer.Option(
        None,
        help="Val items scored after each epoch (0 = all) "
        "(default: the task's: direction all, binauralize 8, av_localize 32).",
    ),
    option: list[str] = typer.Option(
        [],
        help="Model option KEY=VALUE, repeatable; VALUE is a number, true/false, or a string (e.g. a path). "
        "With --model all each model gets the options it declares; one no selected model declares is an error.",
    ),
) -> None:
    """Train (if the model trains), select on val, score on test and append rows to the leaderboard."""
    from simkit.bench.config import make_config, parse_model_options
    from simkit.bench.harness import run_bench

    cfg = make_config(
        quick=quick,
        recipe=recipe,
        ablate_image=ablate_image,
        model=model,
        task=task,
        data=str(data) if data else None,
        protocol=protocol,
        test_data=test_data,
        epochs=epochs,
        batch_size=batch_size,
        device=device,
        seed=seed,
        results=str(results),
        patience=patience,
        select_metric=select_metric,
        num_workers=workers,
        derive_on=derive_on,
        width=width,
        cpu_threads=threads,
        max_items=max_items,
        max_steps=max_steps,
        epoch_val_items=val_items,
        views_per_item=views_per_item,
        model_options=parse_model_options(option) or None,
    )
    runs = run_bench(cfg, log=_log)
    for r in runs:
        typer.echo(f"{r.model}: run {r.run_id} ({r.rows_written} leaderboard rows) -> {r.run_dir}")


@app.command()
def leaderboard(
    csv_files: list[Path] = typer.Argument(None, help="Leaderboard CSVs (default: results/leaderboard.csv)."),
    task: str = typer.Option(None, help="Only this task."),
    dataset: str = typer.Option(None, help="Only this dataset."),
    metric: list[str] = typer.Option(
        [], help="Only these metrics (repeatable); the first ranks runs. A binaural metric's name is its variant "
        "(old names wav_l2, amp_l2, pha_l2, snr_db read as wav_eq, amp_eq, pha_eq, snr_eq)."
    ),
    split: str = typer.Option("test", help="Split to show."),
    fmt: str = typer.Option("table", "--format", help="table | csv | markdown."),
    plot: Path = typer.Option(None, help="Also write a PNG bar chart here."),
    aggregate: str = typer.Option("best", help="best (best run per model) | mean (mean ± std over runs)."),
    references: bool = typer.Option(
        True,
        "--references/--no-references",
        help="Add the published reference rows (simkit/bench/references/*.csv) of --task, or of the tasks "
        "in the given leaderboards.",
    ),
) -> None:
    """Model x metric table of the leaderboard: best per column marked, published reference rows included."""
    from simkit.bench.leaderboard import format_pivot, gather_rows, pivot, ranking_metric
    from simkit.bench.plots import plot_pivot

    rows = gather_rows(csv_files, task=task, references=references, log=_log)
    # best run per model: ranked by the first --metric, else by the task's selection metric (one task shown)
    primary = None if metric else ranking_metric(rows, task)
    table = pivot(
        rows, task=task, dataset=dataset, metrics=metric or None, split=split, aggregate=aggregate, primary=primary
    )
    sys.stdout.write(format_pivot(table, fmt))
    if plot:
        plot_pivot(table, plot)
        typer.echo(f"plot: {plot}", err=True)
