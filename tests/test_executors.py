"""Executors: serial, process and Ray renders give byte-identical shards; Ray on a real local cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simkit.errors import SimkitError
from simkit.executors import EXECUTORS
from simkit.registry import Registry

SIMKIT = str(Path(sys.executable).parent / "simkit")
TINY = ["--scenes", "3", "--sets-per-scene", "1", "--no-views", "--preset", "fast", "--views", "2",
        "--sources", "1", "--quiet"]


def render(out: Path, *extra: str) -> dict[str, bytes]:
    proc = subprocess.run([SIMKIT, "render", "--out", str(out), *TINY, *extra], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.h5"))}


def test_registry_lists_every_executor_and_names_unknown_ones() -> None:
    assert isinstance(EXECUTORS, Registry)
    assert EXECUTORS.names() == ["process", "ray", "serial"]
    with pytest.raises(SimkitError, match="unknown executor 'cluster'"):
        EXECUTORS.get("cluster")


def test_serial_process_and_ray_cluster_write_identical_shards(tmp_path: Path, monkeypatch) -> None:
    serial = render(tmp_path / "serial", "--executor", "serial")
    assert len(serial) == 3
    assert render(tmp_path / "process", "--executor", "process", "--workers", "2") == serial
    # a real cluster on loopback: a head and one worker node, each with one CPU
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray stays on 127.0.0.1 (executors.run_ray)
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        assert cluster.address.startswith("127.0.0.1:")
        out = tmp_path / "ray"
        assert render(out, "--executor", "ray", "--ray-address", cluster.address) == serial
        # resume on the cluster: nothing left to do, nothing rewritten
        proc = subprocess.run([SIMKIT, "render", "--out", str(out), *TINY, "--executor", "ray", "--ray-address",
                               cluster.address], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and "skipped 3 already complete" in proc.stdout, proc.stderr
    finally:
        cluster.shutdown()


def test_ray_address_needs_the_ray_executor(tmp_path: Path) -> None:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run([SIMKIT, "render", "--out", str(tmp_path / "o"), *TINY, "--ray-address", "127.0.0.1:9"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: --ray-address needs --executor ray"
