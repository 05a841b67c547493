"""Score a model trained outside ``simkit bench`` (your own PyTorch loop) and make its leaderboard rows.

The same pieces the harness uses: the task's ``records`` turn a batch and the model's outputs into
per-sample columns, the task's metrics score them (:func:`simkit.metrics.evaluate`), and the rows follow
the leaderboard schema (:mod:`simkit.bench.schema`), so ``simkit leaderboard`` shows them next to
``simkit bench`` runs and the published references::

    scorer = Scorer("direction")
    for batch in DataLoader(simkit.open_dataset(render, "direction", "test"), batch_size=8):
        scorer.add(batch, {"azimuth_deg": my_model(batch["audio"])})
    scores = scorer.scores()                    # metric -> MetricValue(value, n)
    append_rows("results/leaderboard.csv", scorer.rows("my_model", render, split="test"))
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import simkit
from simkit.bench.config import make_config
from simkit.bench.tasks import TaskSpec, get_task
from simkit.errors import SimkitError
from simkit.metrics import MetricValue, evaluate, get_metric

OWN_SOURCE = "own training loop"  # the leaderboard's `source` of rows made here (simkit bench writes "simkit bench")


class Scorer:
    """Collects the records of one split, batch by batch, then scores them with ``task``'s metrics."""

    def __init__(self, task: str | TaskSpec, metrics: Sequence[str] | None = None) -> None:
        self.task = get_task(task) if isinstance(task, str) else task
        self.metrics = list(metrics) if metrics is not None else list(self.task.metrics)
        self._cols: dict[str, list[np.ndarray]] = {}

    def add(self, batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        """One batch (as the task's dataset gives it) and the model's outputs for it (the keys the task's
        models return from ``predict``: ``azimuth_deg`` (B, V) for direction, ``binaural`` for binauralize)."""
        try:
            cols = self.task.records(batch, outputs)
        except KeyError as e:
            raise SimkitError(f"task {self.task.name}: batch or outputs lack {e} (see docs/api.md)") from None
        for k, v in cols.items():
            self._cols.setdefault(k, []).append(np.asarray(v))

    def records(self) -> dict[str, np.ndarray]:
        """Every added sample's columns (the rows a run's ``predictions.csv`` holds)."""
        if not self._cols:
            raise SimkitError("nothing to score: add at least one batch")
        return {k: np.concatenate(v) for k, v in self._cols.items()}

    def scores(self) -> dict[str, MetricValue]:
        """Every metric of the task the records support, by name."""
        return evaluate(self.metrics, self.records())

    def rows(self, model: str, data: Path | str, split: str = "test", *, protocol: str | None = None,
             seed: int | None = None, epochs: int | None = None, params: int | None = None,
             train_seconds: float | None = None, device: str = "cpu", run_id: str | None = None,
             source: str = OWN_SOURCE) -> list[dict[str, Any]]:
        """Leaderboard rows of :meth:`scores` for ``model`` on ``split`` of dataset ``data`` (one per metric).

        ``data`` and ``protocol`` name the dataset the way ``simkit bench`` does (directory name @ manifest
        hash, protocol label), so both kinds of row fall into one leaderboard block; ``config_hash`` and
        ``git_commit`` stay empty (no BenchConfig made them)."""
        return score_rows(self.task, self.scores(), model, data, split, protocol=protocol, seed=seed,
                          epochs=epochs, params=params, train_seconds=train_seconds, device=device,
                          run_id=run_id, source=source)


def score_rows(task: str | TaskSpec, scores: Mapping[str, MetricValue], model: str, data: Path | str,
               split: str = "test", *, protocol: str | None = None, seed: int | None = None,
               epochs: int | None = None, params: int | None = None, train_seconds: float | None = None,
               device: str = "cpu", run_id: str | None = None, source: str = OWN_SOURCE) -> list[dict[str, Any]]:
    """Leaderboard rows (:mod:`simkit.bench.schema`) of ``scores`` (metric -> MetricValue); see
    :meth:`Scorer.rows`. Append them with :func:`simkit.bench.leaderboard.append_rows`."""
    spec = get_task(task) if isinstance(task, str) else task
    if not model or "," in model:
        raise SimkitError(f"model name must be non-empty and without commas (got {model!r})")
    if split not in ("train", "val", "test"):
        raise SimkitError(f"split must be train, val or test (got {split!r})")
    info = spec.data_info(Path(data), make_config(task=spec.name, protocol=protocol or ""))
    stamp = datetime.now(timezone.utc)
    run_id = run_id or f"{stamp:%Y%m%dT%H%M%SZ}-{model}-own-{uuid.uuid4().hex[:6]}"  # a label only
    now = stamp.isoformat().replace("+00:00", "Z")
    rows = []
    for name, mv in scores.items():
        m = get_metric(name)
        rows.append({
            "run_id": run_id, "timestamp_utc": now, "model": model, "task": spec.name,
            "dataset": info["dataset"], "split": split, "metric": name, "value": mv.value, "unit": m.unit,
            "higher_is_better": m.higher_is_better, "n_samples": mv.n, "seed": seed, "epochs": epochs,
            "train_seconds": train_seconds, "eval_seconds": None, "device": device, "params": params,
            "git_commit": None, "config_hash": None, "data_manifest_hash": info["manifest_hash"],
            "simkit_version": simkit.__version__, "is_reference": False, "source": source,
            "protocol": info.get("protocol_label", ""),
        })
    return rows
