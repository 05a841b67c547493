"""Every extension kind is one file: a model, a metric, a task and an adapter from a package outside simkit,
used by dotted path (``pkg.module:Name``) through the console script, end to end on a tiny FAIR-Play layout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from cli_support import SIMKIT, one_error_line
from published_layouts import write_fair_play

from simkit.bench.leaderboard import read_leaderboard
from simkit.errors import SimkitError
from simkit.metrics import METRICS, get_metric
from simkit.models import MODELS, get_model
from simkit.registry import Registry

MODEL = '''
"""A plug-in binaural model: the difference is a fixed fraction of the mono (no image, no training)."""
from dataclasses import dataclass

from simkit.models import parse_options, register_model
from simkit.models.binaural.base import BinauralModel, binaural_from_difference


@dataclass(frozen=True)
class PanOptions:
    gain: float = 0.5  # L - R = gain * mono
    windows: int = 1  # an int option: --option values arrive as floats


@register_model("plugin_pan", task="binauralize_plus", trainable=False, description="L - R = gain * mono",
                options=PanOptions)
class PanModel(BinauralModel):
    def __init__(self, cfg, info):
        self.opts = parse_options("plugin_pan", PanOptions, cfg.model_options)
        assert isinstance(self.opts.windows, int)
        super().__init__()

    def generate(self, mono, image):
        return binaural_from_difference(mono, self.opts.gain * mono)


def helper():
    """Not a model: naming it is an error."""
'''

METRIC = '''
"""A plug-in metric of binauralize's records: the worst clip's STFT distance."""
import numpy as np

from simkit.metrics import MetricValue, register_metric


@register_metric("worst_stft_distance", task="binauralize_plus", higher_is_better=False, unit="STFT units",
                 requires=("stft_distance",), description="largest per-clip STFT distance")
def worst(records):
    v = np.asarray(records["stft_distance"], dtype=np.float64)
    return MetricValue(float(v.max()), int(v.size))
'''

TASK = '''
"""A plug-in task: binauralize's data and records, its metrics and one more, listed explicitly."""
import dataclasses

from simkit.bench.tasks import get_task, register_task

BINAURALIZE = get_task("binauralize")
TASK = register_task(dataclasses.replace(
    BINAURALIZE, name="binauralize_plus", description="binauralize with the worst clip's STFT distance",
    metrics=(*BINAURALIZE.metrics, "simkit_plugin_demo.metrics:worst"),
))
'''

ADAPTER = '''
"""A plug-in adapter: FAIR-Play's layout under another name (a new adapter is one class like this)."""
from simkit.data.adapters import register_adapter
from simkit.data.adapters.fair_play import FairPlay


@register_adapter
class FairPlayCopy(FairPlay):
    name = "fair-play-copy"
    description = "FAIR-Play, read by a plug-in"
'''


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package ``simkit_plugin_demo`` (model, metric, task, adapter, an empty module) in its own folder."""
    root = tmp_path_factory.mktemp("plugins")
    pkg = root / "simkit_plugin_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "empty.py").write_text("def helper():\n    return 1\n")
    (pkg / "clash.py").write_text("from simkit.metrics import register_metric\n\n\n"
                                  "@register_metric('lr_accuracy', task='direction', higher_is_better=True, unit='%',"
                                  " requires=(), description='a taken name')\ndef x(records):\n    return None\n")
    for name, text in (("models", MODEL), ("metrics", METRIC), ("tasks", TASK), ("adapters", ADAPTER)):
        (pkg / f"{name}.py").write_text(textwrap.dedent(text))
    return root


def run(plugins: Path, *args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([SIMKIT, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


def test_a_model_a_metric_a_task_and_an_adapter_from_a_plugin_package_run_end_to_end(
    plugins: Path, tmp_path: Path
) -> None:
    src = write_fair_play(tmp_path / "FAIR-Play", n_clips=4, n_splits=1)
    data = tmp_path / "prepared"
    proc = run(plugins, "prepare", "simkit_plugin_demo.adapters:FairPlayCopy", src, "--out", data,
               "--option", "clip_seconds=1.0", "--option", "frame_size=24x32", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert len(list((data / "shards").glob("*.h5"))) >= 1
    results = tmp_path / "results"
    common = ("--quick", "--device", "cpu", "--data", data, "--results", results)
    # gain 0 makes the plug-in the mono_copy floor: the same scores, so the plug-in really ran
    proc = run(plugins, "bench", "--task", "simkit_plugin_demo.tasks:TASK", "--model",
               "simkit_plugin_demo.models:PanModel", "--option", "gain=0", "--option", "windows=2", *common)
    assert proc.returncode == 0, proc.stderr
    assert "plugin_pan: run" in proc.stdout
    proc = run(plugins, "bench", "--task", "binauralize", "--model", "mono_copy", *common)
    assert proc.returncode == 0, proc.stderr
    rows = read_leaderboard(results / "leaderboard.csv")
    value = {(r["model"], r["split"], r["metric"]): float(r["value"]) for r in rows}
    assert {r["task"] for r in rows if r["model"] == "plugin_pan"} == {"binauralize_plus"}
    for split in ("val", "test"):
        assert value[("plugin_pan", split, "stft_distance")] == pytest.approx(
            value[("mono_copy", split, "stft_distance")], rel=1e-6)
        # the plug-in task's extra metric is reported beside binauralize's own (only by that task)
        assert value[("plugin_pan", split, "worst_stft_distance")] >= value[("plugin_pan", split, "stft_distance")]
        assert ("mono_copy", split, "worst_stft_distance") not in value


def test_plugin_errors_are_one_line(plugins: Path, tmp_path: Path) -> None:
    proc = run(plugins, "bench", "--task", "binauralize", "--model", "simkit_plugin_demo.empty:helper",
               "--data", tmp_path, "--results", tmp_path / "r")
    assert proc.returncode != 0
    one_error_line(proc, "model 'simkit_plugin_demo.empty:helper'",
                   "simkit_plugin_demo.empty.helper is not a registered model")
    proc = run(plugins, "prepare", "no_such_plugin.mod:Adapter", tmp_path, "--out", tmp_path / "o")
    assert proc.returncode != 0
    one_error_line(proc, "adapter 'no_such_plugin.mod:Adapter'", "cannot import no_such_plugin.mod")


def test_dotted_paths_resolve_registered_entries_and_refuse_the_rest(
    plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # built-in entries by their module's attribute: the decorated class or function
    assert get_model("simkit.models.direction.iid:IIDModel") is get_model("iid")
    assert get_model("simkit.models.direction.ours:build_ours_rt") is get_model("ours_rt")
    assert get_metric("simkit.metrics.direction:lr_accuracy") is get_metric("lr_accuracy")
    # variants registered by one call have no attribute of their own: found by their registered name
    assert get_metric("simkit.metrics.binaural:stft_distance_ccs") is get_metric("stft_distance_ccs")
    monkeypatch.syspath_prepend(str(plugins))
    n_models, n_metrics = len(MODELS.names()), len(METRICS.names())
    for path, message in (
        ("simkit_plugin_demo.empty:helper", "empty.helper is not a registered model"),
        ("simkit_plugin_demo.empty:nothing", "has no attribute nothing"),
        ("simkit_plugin_demo.nope:X", "cannot import simkit_plugin_demo.nope"),
        ("simkit_plugin_demo.empty", "unknown model"),
        (":X", "package.module:Name"),
    ):
        with pytest.raises(SimkitError, match=message):
            get_model(path)
    with pytest.raises(SimkitError, match="clash:x': metric 'lr_accuracy' registered twice"):
        get_metric("simkit_plugin_demo.clash:x")  # a plug-in cannot replace a built-in
    assert get_metric("lr_accuracy").description != "a taken name"
    assert (len(MODELS.names()), len(METRICS.names())) == (n_models, n_metrics)  # nothing registered


def test_registries_find_every_module_of_their_package_without_a_list(tmp_path: Path) -> None:
    pkg = tmp_path / "found_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from simkit.registry import Registry\nREG = Registry('thing', package='found_pkg')\n")
    (pkg / "a.py").write_text("from found_pkg import REG\nREG.add('a', 1)\n")
    (pkg / "_private.py").write_text("raise RuntimeError('helpers are not imported')\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from found_pkg import REG\nREG.add('b', 2)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import found_pkg  # type: ignore[import-not-found]

        reg: Registry[int] = found_pkg.REG
        assert reg.names() == ["a", "b"] and reg.get("found_pkg.sub.b:b") == 2
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "found_pkg"]:
            del sys.modules[name]


def test_every_task_lists_exactly_its_registered_metrics() -> None:
    from simkit.bench.tasks import TASKS
    from simkit.metrics import metrics_for_task

    for name, task in TASKS.items():
        assert task.metrics, name
        assert sorted(task.metrics) == [m.name for m in metrics_for_task(name)], name
        assert task.select_metric in task.metrics
    assert np.all([get_metric(n).task == "direction" for n in TASKS.get("direction").metrics])
