"""Executors: serial, process and Ray runs give byte-identical outputs (render, prepare); Ray on a real local
cluster; executor options are checked before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from published_layouts import write_fair_play

from simkit.data.prepare import prepare
from simkit.errors import SimkitError
from simkit.executors import EXECUTORS, SHARED, ExecutorOptions
from simkit.executors.process import run_process
from simkit.executors.serial import run_serial
from simkit.registry import Registry

SIMKIT = str(Path(sys.executable).parent / "simkit")
TINY = ["--scenes", "3", "--sets-per-scene", "1", "--no-views", "--preset", "fast", "--views", "2",
        "--sources", "1", "--quiet"]
FP_OPTS = {"clip_seconds": "1.0", "frame_size": "24x32"}


def render(out: Path, *extra: str) -> dict[str, bytes]:
    proc = subprocess.run([SIMKIT, "render", "--out", str(out), *TINY, *extra], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.h5"))}


def dataset_bytes(out: Path) -> dict[str, bytes]:
    """Every file of a dataset but the lock: shards, manifest, split files, summary."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".simkit-write.lock"}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A real Ray cluster on loopback: a head and one worker node, each with one CPU; yields its address."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray stays on 127.0.0.1 (simkit.executors.ray.run_ray)
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            cluster.add_node(num_cpus=1)
            assert cluster.address.startswith("127.0.0.1:")
            yield cluster.address
        finally:
            cluster.shutdown()


def test_registry_lists_every_executor_and_names_unknown_ones() -> None:
    assert isinstance(EXECUTORS, Registry)
    assert EXECUTORS.names() == ["process", "ray", "serial"]
    with pytest.raises(SimkitError, match="unknown executor 'cluster'"):
        EXECUTORS.get("cluster")


class Counted:
    """A shared object that counts how often the parent pickles it."""

    pickled = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def __getstate__(self) -> dict:
        Counted.pickled += 1
        return self.__dict__


def _scaled(shared: Counted, x: int) -> int:
    if shared.value != 10:
        raise SimkitError(f"unit {x} got shared value {shared.value}")
    return x * shared.value


def test_the_shared_object_goes_once_to_each_worker_not_once_per_unit() -> None:
    keys = [f"u{i}" for i in range(6)]
    for run, most in ((run_serial, 0), (run_process, 2)):
        Counted.pickled = 0
        seen: dict[str, SimkitError | None] = {}
        run(_scaled, keys, [(SHARED, i) for i in range(6)], seen.__setitem__, ExecutorOptions(workers=2),
            shared=Counted(10))
        assert seen == dict.fromkeys(keys), seen  # every unit ran and got the shared object
        assert (Counted.pickled > 0) == (most > 0) and Counted.pickled <= most, Counted.pickled


def test_serial_process_and_ray_cluster_write_identical_shards(tmp_path: Path, ray_cluster: str) -> None:
    serial = render(tmp_path / "serial", "--executor", "serial")
    assert len(serial) == 3
    assert render(tmp_path / "process", "--executor", "process", "--workers", "2") == serial
    out = tmp_path / "ray"
    assert render(out, "--executor", "ray", "--ray-address", ray_cluster) == serial
    # resume on the cluster: nothing left to do, nothing rewritten
    proc = subprocess.run([SIMKIT, "render", "--out", str(out), *TINY, "--executor", "ray", "--ray-address",
                           ray_cluster], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "skipped 3 already complete" in proc.stdout, proc.stderr


def test_prepare_on_the_ray_cluster_writes_the_serial_bytes(tmp_path: Path, ray_cluster: str) -> None:
    src = write_fair_play(tmp_path / "FAIR-Play", n_clips=4, seconds=1.0, n_splits=1)
    prepare("fair-play", src, tmp_path / "serial", FP_OPTS, progress=False)
    serial = dataset_bytes(tmp_path / "serial")
    assert len([k for k in serial if k.startswith("shards/")]) == 4
    opts = [a for k, v in FP_OPTS.items() for a in ("--option", f"{k}={v}")]
    proc = subprocess.run([SIMKIT, "prepare", "fair-play", str(src), "--out", str(tmp_path / "ray"), *opts,
                           "--executor", "ray", "--ray-address", ray_cluster, "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "prepared 4 shards" in proc.stdout, proc.stderr
    assert dataset_bytes(tmp_path / "ray") == serial


@pytest.mark.parametrize(("command", "extra", "message"), [
    (["render", *TINY], ["--ray-address", "127.0.0.1:9"], "--ray-address needs --executor ray"),
    (["prepare", "fair-play", "."], ["--executor", "cluster"], "unknown executor 'cluster' (known: process, ray, "
                                                                "serial)"),
    (["curate", "."], ["--workers", "2", "--ray-address", "127.0.0.1:9"], "--ray-address needs --executor ray"),
])
def test_executor_options_are_one_error_line_before_anything_is_written(
    tmp_path: Path, command: list[str], extra: list[str], message: str
) -> None:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run([SIMKIT, *command, "--out", str(tmp_path / "o"), *extra], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "o").exists()
