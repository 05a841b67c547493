"""A built wheel works outside the checkout: embedded scenes, materials and reference rows ship inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_renders_and_lists_reference_rows_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(REPO)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    assert "License classifiers are deprecated" not in build.stderr and "project.license" not in build.stderr
    (wheel,) = wheels.glob("simkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "simkit/_embedded/scenes/materials.json" in names
    assert sum(n.startswith("simkit/_embedded/scenes/procedural/proc_") for n in names) == 100
    assert "simkit/bench/references/direction.csv" in names
    # the model families and the task package are found by their registries from the wheel too (below)
    assert {"simkit/models/direction/base.py", "simkit/models/direction/ours.py", "simkit/models/binaural/base.py",
            "simkit/models/binaural/clup.py", "simkit/bench/tasks/direction.py",
            "simkit/bench/tasks/binaural.py"} <= set(names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"  # neither the checkout nor its scenes/ are reachable from here
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SIMKIT_SCENES_DIR"}
    env["PYTHONPATH"] = str(site)  # ahead of the editable install of the checkout

    def simkit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "simkit", *args], capture_output=True, text=True, cwd=work,
                              env=env, timeout=300)

    where = subprocess.run([sys.executable, "-c", "import simkit; print(simkit.__file__)"], capture_output=True,
                           text=True, cwd=work, env=env)
    assert where.stdout.strip().startswith(str(site)), where.stdout
    found = subprocess.run([sys.executable, "-c", "from simkit.models import MODELS; from simkit.bench.tasks import "
                            "TASKS; print(len(MODELS.names()), TASKS.names())"],
                           capture_output=True, text=True, cwd=work, env=env)
    from simkit.bench.tasks import TASKS
    from simkit.models import MODELS

    # the wheel's discovery finds every model and task the source tree registers
    assert found.stdout.split(maxsplit=1) == [str(len(MODELS.names())), f"{TASKS.names()}\n"], found.stderr
    # simkit.resources finds every kind of package data inside the installed wheel
    found = subprocess.run([sys.executable, "-c", "from simkit import resources as r; print(r.materials_path()); "
                            "print(r.splits_path()); print(r.procedural_dir() / 'proc_000.json'); "
                            "print(r.reference_path('binaural.csv'))"],
                           capture_output=True, text=True, cwd=work, env=env)
    paths = [Path(line) for line in found.stdout.split()]
    assert len(paths) == 4 and all(p.is_file() and str(p).startswith(str(site)) for p in paths), found
    proc = simkit("render", "--out", "r", "--scenes", "3", "--sets-per-scene", "1", "--no-views", "--preset",
                  "fast", "--views", "2", "--sources", "1", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert len(list((work / "r" / "shards").glob("*.h5"))) == 3
    board = simkit("leaderboard", "--task", "direction")
    assert board.returncode == 0, board.stderr
    assert "(paper)" in board.stdout and "RWAVS" in board.stdout
