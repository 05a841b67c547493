"""The Python API: ``simkit.render``, ``prepare``, ``curate``, ``open_dataset``, ``bench`` and ``leaderboard``.

Each function does what the command of the same name does, through the same code: the render config comes
from the one loader (:func:`simkit.render.config.load_render_config` rules), the bench config from
:func:`simkit.bench.config.make_config`, datasets from the task registry. Equivalent arguments give the
same dataset bytes and the same leaderboard rows as the CLI (docs/api.md). Like ``cli`` this module sits on
top of everything; only ``simkit/__init__.py`` imports it (lazily, so ``import simkit`` stays cheap).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simkit.config import deep_merge, from_dict, to_dict
from simkit.errors import SimkitError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from simkit.bench.harness import RunResult
    from simkit.curate.pipeline import CurateConfig, CurateResult
    from simkit.data.prepare import PrepareResult
    from simkit.render.config import RenderConfig
    from simkit.render.pipeline import RenderResult

__all__ = ["bench", "collate_fn", "curate", "leaderboard", "open_dataset", "prepare", "render"]


def _scene_spec(scenes: int | str | Sequence[str] | None) -> str | None:
    # the CLI's --scenes text: "N" (a split-preserving subset) or a comma list of ids
    if scenes is None or isinstance(scenes, str):
        return scenes
    if isinstance(scenes, bool):
        raise SimkitError(f"scenes must be a count, a comma list or a list of scene ids (got {scenes!r})")
    if isinstance(scenes, int):
        return str(scenes)
    return ",".join(str(s) for s in scenes)


def render_config(config: RenderConfig | Mapping[str, Any] | Path | str | None = None,
                  overrides: Mapping[str, Any] | None = None, recipe: str | None = None) -> RenderConfig:
    """A checked render config, built by the one loader (:func:`simkit.render.config.load_render_config`):
    defaults, the ``recipe``'s values, then ``config`` (a RenderConfig, a mapping nested like
    ``manifest.json``'s ``config``, or a JSON file), then dotted ``overrides`` (None values = not given)."""
    from simkit.render.config import RenderConfig, load_render_config

    if isinstance(config, RenderConfig):
        config = to_dict(config)
    elif config is not None and not isinstance(config, (str, Path, Mapping)):
        raise SimkitError(f"config must be a RenderConfig, a mapping or a JSON file path (got {type(config).__name__})")
    return load_render_config(config, dict(overrides or {}), recipe)


def render(
    out: Path | str,
    *,
    scenes: int | str | Sequence[str] | None = None,
    sets_per_scene: int | None = None,
    views: int | None = None,
    sources: int | None = None,
    max_translation: float | None = None,
    preset: str | None = None,
    engine: str | None = None,
    speech: Path | str | None = None,
    hrtf: Path | str | None = None,
    mic: str | None = None,
    mic_spacing: float | None = None,
    storage: str | None = None,
    no_views: bool = False,
    no_view_filters: bool = False,
    visible_sources: bool = False,
    min_visible_share: float | None = None,
    scene_dir: Path | str | None = None,
    scene_format: str | None = None,
    split_file: Path | str | None = None,
    seed: int | None = None,
    config: RenderConfig | Mapping[str, Any] | Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    recipe: str | None = None,
    workers: int = 1,
    executor: str | None = None,
    ray_address: str | None = None,
    progress: bool = False,
) -> RenderResult:
    """Render the simulated binaural set into ``out`` (``simkit render``; re-runs resume).

    ``scenes``: a count (a split-preserving subset of the embedded set, >= 3), scene ids, or None for the
    config's scenes / the whole set. The keyword settings are the CLI's flags (same names, same meaning:
    ``simkit render --help``); ``config`` and ``overrides``
    (dotted keys such as ``"sampling.max_translation"``) set any other field (docs/configuration.md); the
    flags win over both; ``recipe`` (``binaural``, ``binaural-solo``, ``seed000``, ``slfm-hm3d-ss``, ``wild``:
    docs/scenes.md) sets values below them all.
    Raises SimkitError when any scene failed (the others are complete).
    """
    from simkit.data.storage import preset as storage_preset
    from simkit.render.pipeline import render_dataset
    from simkit.scenes.catalog import SceneSet

    def text(p: Path | str | None) -> str | None:
        return str(p) if p else None

    flags = {  # the overrides `simkit render` builds from its flags (simkit/cli/render.py)
        "sets_per_scene": sets_per_scene, "seed": seed, "sampling.views": views, "sampling.sources": sources,
        "sampling.max_translation": max_translation,
        "acoustics.preset": preset, "acoustics.engine": engine, "acoustics.hrtf": text(hrtf),
        "acoustics.mic": mic, "acoustics.mic_spacing": mic_spacing,
        "speech.corpus": text(speech), "scene_set.scene_dir": text(scene_dir), "scene_set.format": scene_format,
        "scene_set.split_file": text(split_file),
        "views.enabled": False if no_views else None, "views.apply_filters": False if no_view_filters else None,
        "sampling.visible_sources": True if visible_sources else None, "sampling.min_visible_share": min_visible_share,
        # a storage preset replaces any storage of the config as a whole, as --storage does
        "storage": dataclasses.asdict(storage_preset(storage)) if storage is not None else None,
    }
    cfg = render_config(config, {**(overrides or {}), **{k: v for k, v in flags.items() if v is not None}}, recipe)
    if scene_dir and not scene_format and cfg.scene_set.format == "procedural":
        raise SimkitError("scene_dir needs scene_format (hm3d, replica, mp3d, gibson or mesh)")
    spec = _scene_spec(scenes)
    cfg.scenes = SceneSet.from_config(cfg.scene_set).resolve(spec) if spec or not cfg.scenes else cfg.scenes
    result = render_dataset(cfg, out, workers=workers, progress=progress, executor=executor, ray_address=ray_address)
    if result.failed:
        named = [msg if sid in msg else f"scene {sid}: {msg}" for sid, msg in result.failed.items()]
        raise SimkitError(f"{len(named)} of {len(cfg.scenes)} scenes failed (first: {named[0]}); the others are "
                          "complete and a re-run retries only the failed ones")
    return result


def prepare(
    name: str,
    src: Path | str,
    out: Path | str,
    *,
    options: Mapping[str, Any] | None = None,
    sample_rate: int = 16000,
    max_units: int = 0,
    workers: int = 1,
    executor: str | None = None,
    ray_address: str | None = None,
    progress: bool = False,
) -> PrepareResult:
    """Convert the published dataset at ``src`` with adapter ``name`` (``fair-play``, ``hm3d-ss``, ...;
    docs/datasets.md) into a simkit dataset at ``out`` (``simkit prepare``; re-runs resume).

    ``options`` are the adapter's ``--option KEY=VALUE`` settings (values as text or typed)."""
    from simkit.data.adapters import CommonOptions
    from simkit.data.prepare import prepare as run

    opts = {str(k): v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in (options or {}).items()}
    return run(name, src, out, opts, CommonOptions(sample_rate=sample_rate, max_units=max_units),
               progress=progress, workers=workers, executor=executor, ray_address=ray_address)


def curate(
    inputs: Path | str | Sequence[Path | str],
    out: Path | str,
    *,
    config: CurateConfig | Mapping[str, Any] | None = None,
    workers: int = 1,
    executor: str | None = None,
    ray_address: str | None = None,
    progress: bool = False,
) -> CurateResult:
    """Cut the videos of ``inputs`` (files or folders) into training clips at ``out`` (``simkit curate``).

    ``config``: a CurateConfig or a mapping of its fields (nested ``motion`` for the camera-motion
    estimate); defaults are seed 000's thresholds."""
    from simkit.curate.pipeline import CurateConfig
    from simkit.curate.pipeline import curate as run

    if config is None or isinstance(config, CurateConfig):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = from_dict(CurateConfig, deep_merge(to_dict(CurateConfig()), config))
    else:
        raise SimkitError(f"config must be a CurateConfig or a mapping (got {type(config).__name__})")
    paths = [Path(inputs)] if isinstance(inputs, (str, Path)) else [Path(p) for p in inputs]
    return run(paths, out, cfg, progress=progress, workers=workers, executor=executor, ray_address=ray_address)


def open_dataset(
    path: Path | str,
    task: str = "direction",
    split: str = "train",
    *,
    protocol: str | None = None,
    train: bool = False,
    negatives: bool = False,
    max_items: int = 0,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> Dataset:
    """The torch Dataset of ``split`` of a simkit dataset (render, prepared or curated) for ``task``.

    Built by the task (:func:`simkit.bench.tasks.get_task`), so items are exactly what that task's models
    see (keys per task: docs/api.md); a plain ``DataLoader`` batches them (``collate_fn=collate_fn(task)``
    for a task that brings its own). ``train`` switches on the task's augmentation (random crops, view
    subsets, re-rendering); ``negatives`` pairs items with another item's audio (binauralize/av_localize);
    ``max_items`` caps the split (a seeded subset); ``options`` are further BenchConfig fields (e.g.
    ``{"features": {"clip_seconds": 1.0}}``, ``{"model": "iid"}`` for whole clips).
    """
    from simkit.bench.config import make_config
    from simkit.bench.harness import require_groups_of
    from simkit.bench.tasks import get_task
    from simkit.data.opener import open_dataset as open_data

    spec = get_task(task)
    if split not in ("train", "val", "test"):
        raise SimkitError(f"split must be train, val or test (got {split!r})")
    cfg = make_config(**{**dict(options or {}), "task": spec.name, "data": str(path), "protocol": protocol or "",
                         "max_items": max_items, "seed": seed})
    groups = open_data(path, (), protocol or None).groups
    require_groups_of(groups, list(spec.groups), f"task {spec.name}", str(path))
    return spec.open_split(Path(path), split, cfg, train, negatives=negatives)


def collate_fn(task: str = "direction") -> Callable[[list[Any]], Any] | None:
    """The DataLoader ``collate_fn`` of ``task`` (None: torch's default, which every built-in task uses)."""
    from simkit.bench.tasks import get_task

    return get_task(task).collate


def bench(
    model: str,
    data: Path | str,
    *,
    task: str = "direction",
    results: Path | str = "results",
    quick: bool = False,
    protocol: str | None = None,
    test_data: Path | str | Sequence[Path | str] | None = None,
    options: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    **settings: Any,
) -> list[RunResult]:
    """Train (if the model trains), select on val, score on test and append rows to
    ``<results>/leaderboard.csv`` (``simkit bench``); one RunResult per model and protocol.

    ``model``: a registered name, ``all`` or a plug-in ``pkg.module:NAME``; ``options``: the model's
    ``--option`` knobs; ``settings``: any other BenchConfig field (``epochs=3``, ``batch_size=8``,
    ``device="cpu"``, ``num_workers=0``, ``recipe="paper"`` (``quick=True`` is ``recipe="quick"``),
    ``ablate_image="shuffle"``, ...; docs/bench.md); ``log`` receives the progress lines."""
    from simkit.bench.config import make_config
    from simkit.bench.harness import run_bench

    if test_data is not None and not isinstance(test_data, (str, Path)):
        test_data = ",".join(str(p) for p in test_data)
    cfg = make_config(quick=quick, model=model, task=task, data=str(data), results=str(results), protocol=protocol,
                      test_data=str(test_data) if test_data is not None else None,
                      model_options=dict(options) if options else None, **settings)
    return run_bench(cfg, log=log)


def leaderboard(
    paths: Path | str | Sequence[Path | str] | None = None,
    *,
    task: str | None = None,
    dataset: str | None = None,
    metrics: Sequence[str] | None = None,
    split: str = "test",
    aggregate: str = "best",
    references: bool = True,
    fmt: str = "table",
    log: Callable[[str], None] | None = None,
) -> str:
    """The model x metric table of leaderboard CSVs (``simkit leaderboard``; default
    ``results/leaderboard.csv``) as text: ``fmt`` table | csv | markdown; best run per model (``aggregate``
    best) or mean ± std over runs (mean); published reference rows included unless ``references=False``."""
    from simkit.bench.leaderboard import format_pivot, gather_rows, pivot, ranking_metric

    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths] if paths else None
    rows = gather_rows(files, task=task, references=references, log=log)
    primary = None if metrics else ranking_metric(rows, task)
    table = pivot(rows, task=task, dataset=dataset, metrics=list(metrics) if metrics else None, split=split,
                  aggregate=aggregate, primary=primary)
    return format_pivot(table, fmt)
