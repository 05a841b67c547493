"""The fault battery: the real console script in subprocesses, under kills, signals, full disks, corrupt data,
broken leaderboards, bad configs and concurrent writers.

Each case asserts the exit code, the one ``error:`` line (never a traceback), that nothing complete-looking is
corrupt and that nothing the user had changed. docs/failures.md lists the same cases.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_support import SIMKIT, one_error_line

from simkit.bench.leaderboard import append_rows, read_leaderboard
from simkit.data.validate import validate_shard, verify_shard

BASE = ["--scenes", "3", "--sets-per-scene", "1", "--no-views", "--preset", "fast", "--quiet"]
TINY = [*BASE, "--views", "2", "--sources", "1"]


def run(*args: str, limit_bytes: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The console script with ``args``; ``limit_bytes`` caps the size of every file it writes (RLIMIT_FSIZE:
    writes past it fail with EFBIG, as on a full disk)."""

    def cap() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([SIMKIT, *args], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=cap if limit_bytes is not None else None)


def temporaries(out: Path) -> list[Path]:
    return sorted(out.rglob(".*.tmp"))


def shard_temporaries(out: Path) -> list[Path]:
    return sorted((out / "shards").glob(".*.tmp"))


def assert_shards_sound(out: Path) -> list[Path]:
    """Every file under a final shard name is complete and reads back in full."""
    shards = sorted((out / "shards").glob("*.h5"))
    for p in shards:
        validate_shard(p)
        verify_shard(p)
    return shards


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the process ended before {what}: {proc.communicate()}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_group_gone(pgid: int, timeout: float = 30) -> bool:
    end = time.monotonic() + timeout
    while group_alive(pgid) and time.monotonic() < end:
        time.sleep(0.1)
    return not group_alive(pgid)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "render"
    proc = run("render", "--out", str(out), *TINY)
    assert proc.returncode == 0, proc.stderr
    return out


# --- usage errors -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "needle"), [
    (["render", "--nosuchflag"], "--nosuchflag"),
    (["render", "--views", "abc"], "--views"),
    (["nosuchcmd"], "nosuchcmd"),
    (["bench", "--epochs", "x"], "--epochs"),
])
def test_usage_errors_are_one_line_plus_hint_exit_2(args: list[str], needle: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc, needle)
    assert "--help" in proc.stderr  # the usage hint


def test_bare_simkit_prints_help_and_exits_0() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert "render" in proc.stdout and "bench" in proc.stdout
    assert "Traceback" not in proc.stderr


# --- bad configuration --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "needle"), [
    ('{"compression": 42}', "compression"),
    ('{"compression": "high"}', "compression"),
    ('{"sampling": {"views": "two"}}', "sampling.views"),
    ('{"sampling": {"views": 2.7}}', "sampling.views"),
    ('{"sampling": {"source_max_distance": "far"}}', "sampling.source_max_distance"),
    ('{"acoustics": {"indirect_gain": -1}}', "acoustics.indirect_gain"),
    ('{"sampling": {"views": 1}}', "sampling.views"),
])
def test_bad_config_is_one_line_and_writes_nothing(tmp_path: Path, config: str, needle: str) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text(config)
    out = tmp_path / "out"
    proc = run("render", "--out", str(out), "--config", str(cfg), *BASE)
    assert proc.returncode == 2
    one_error_line(proc, needle)
    assert not out.exists()
    assert run("render", "--out", str(out), *TINY).returncode == 0  # the corrected command then works there


def test_split_file_naming_a_missing_scene_is_an_error(tmp_path: Path) -> None:
    split = tmp_path / "splits.json"
    split.write_text('{"train": ["proc_000", "proc_999"], "val": ["proc_001"], "test": ["proc_002"]}')
    proc = run("render", "--out", str(tmp_path / "out"), "--split-file", str(split), *TINY)
    assert proc.returncode == 2
    one_error_line(proc, "proc_999")
    assert not (tmp_path / "out").exists()


# --- interrupts and kills -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("signum", "workers"), [(signal.SIGINT, "1"), (signal.SIGTERM, "2")])
def test_interrupt_exits_128_plus_signal_removes_temporaries_and_resumes(
    tmp_path: Path, signum: int, workers: str
) -> None:
    out = tmp_path / "out"
    args = ["render", "--out", str(out), "--scenes", "4", "--sets-per-scene", "2", "--preset", "fast",
            "--workers", workers, "--quiet"]
    proc = subprocess.Popen([SIMKIT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    # interrupt in the middle of a shard write, as a terminal does: the whole process group
    wait_for(lambda: bool(shard_temporaries(out)), proc, "a shard write")
    os.killpg(proc.pid, signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    one_error_line(subprocess.CompletedProcess(args, proc.returncode, "", stderr), "interrupted")
    assert wait_group_gone(proc.pid), "worker processes outlived the interrupted render"
    assert temporaries(out) == []
    before = assert_shards_sound(out)
    again = run(*args)
    assert again.returncode == 0, again.stderr
    assert len(assert_shards_sound(out)) == 4 and len(before) < 4


def _panning_videos(root: Path, n: int) -> Path:
    """``n`` 6 s videos (160x120, 5 fps) of a blocky wall panning sideways, with stereo noise (~1.5 s of
    analysis each; pixel noise would make feature matching take minutes)."""
    from simkit.video.io import write_video

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for k in range(n):
        wall = np.repeat(np.repeat((rng.random((15, 60, 3)) * 255).astype(np.uint8), 8, axis=0), 8, axis=1)
        frames = np.stack([wall[:, 4 * t: 4 * t + 160] for t in range(30)])
        audio = (0.1 * rng.standard_normal((2, 6 * 16000)) * np.array([[1.0], [0.5]])).astype(np.float32)
        write_video(root / f"v{k}.mp4", frames, 5, audio, 16000)
    return root


@pytest.mark.parametrize("command", ["prepare", "curate"])
def test_interrupted_prepare_or_curate_in_workers_exits_130_and_resumes_to_the_serial_bytes(
    tmp_path: Path, command: str
) -> None:
    if command == "prepare":
        from published_layouts import write_fair_play

        src = write_fair_play(tmp_path / "FAIR-Play", n_clips=8, seconds=6.0, n_splits=1)
        args = ["prepare", "fair-play", str(src), "--option", "clip_seconds=6", "--quiet"]
        unit_done = lambda out: any((out / "shards").glob("*.h5"))  # noqa: E731
    else:
        args = ["curate", str(_panning_videos(tmp_path / "videos", 4)), "--no-progress"]
        unit_done = lambda out: any((out / "work").glob("*.json"))  # noqa: E731
    out = tmp_path / "out"
    argv = [*args, "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen([SIMKIT, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    # Ctrl-C as a terminal sends it (to the whole process group), once a worker has finished a unit
    wait_for(lambda: unit_done(out), proc, "a finished unit")
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    one_error_line(subprocess.CompletedProcess(argv, 130, "", stderr), "interrupted by SIGINT")
    assert wait_group_gone(proc.pid), f"worker processes outlived the interrupted {command}"
    assert temporaries(out) == [] and not (out / "splits").exists()  # nothing looks complete
    assert_shards_sound(out)
    kept = {p: p.read_bytes() for p in [*(out / "shards").glob("*.h5"), *(out / "work").glob("*.json")]}
    again = run(*argv)
    assert again.returncode == 0, again.stderr
    assert all(p.read_bytes() == b for p, b in kept.items()), "the resume rewrote finished units"
    if command == "prepare":  # (curate's worker bytes are compared with serial ones in test_curate.py)
        serial = run(*args, "--out", str(tmp_path / "serial"))
        assert serial.returncode == 0, serial.stderr

        def files(d: Path) -> dict[str, bytes]:
            return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()
                    and p.name != ".simkit-write.lock"}

        assert files(out) == files(tmp_path / "serial")
    else:
        assert len(list((out / "work").glob("*.json"))) == 4 and (out / "splits").is_dir()


def test_interrupted_bench_leaves_no_row_and_no_run_directory(rendered: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = subprocess.Popen([SIMKIT, "bench", "--model", "ours_full", "--data", str(rendered), "--results",
                             str(results), "--quick", "--epochs", "50"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any((results / "runs").glob(".*.partial/config.json")), proc, "training to start")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    one_error_line(subprocess.CompletedProcess([], 130, "", stderr), "interrupted by SIGINT")
    assert list((results / "runs").iterdir()) == []
    assert not (results / "leaderboard.csv").exists()


def test_kill_9_leaves_no_complete_looking_shard_and_no_orphan_workers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["render", "--out", str(out), "--scenes", "4", "--sets-per-scene", "2", "--preset", "fast",
            "--workers", "2", "--quiet"]
    proc = subprocess.Popen([SIMKIT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for(lambda: bool(shard_temporaries(out)), proc, "a shard write")
    proc.kill()  # SIGKILL of the parent only: its workers must notice and stop
    proc.wait()
    assert wait_group_gone(proc.pid), "worker processes outlived their killed parent"
    assert_shards_sound(out)
    # resume removes the killed run's temporaries and finishes the render
    again = run(*args)
    assert again.returncode == 0, again.stderr
    assert temporaries(out) == []
    assert len(assert_shards_sound(out)) == 4


def test_second_render_into_a_busy_directory_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["render", "--out", str(out), "--scenes", "4", "--sets-per-scene", "2", "--preset", "fast", "--quiet"]
    first = subprocess.Popen([SIMKIT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (out / "manifest.json").exists(), first, "the first render's manifest")
        second = run(*args)
        assert second.returncode == 2
        one_error_line(second, "another simkit render is writing into")
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0, first.stderr.read() if first.stderr else ""
    assert len(assert_shards_sound(out)) == 4


# --- full disk ----------------------------------------------------------------------------------------------

def test_full_disk_is_one_line_removes_the_temporary_and_keeps_finished_shards(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run("render", "--out", str(out), *TINY[:1], "proc_000", *TINY[2:])
    assert first.returncode == 0, first.stderr
    kept = (out / "shards" / "proc_000.h5").read_bytes()
    # the manifest (a few KB) fits, a shard (~1 MB) does not: its write fails as on a full disk
    proc = run("render", "--out", str(out), "--scenes", "proc_000,proc_001,proc_006", *TINY[2:],
               limit_bytes=64 * 1024)
    assert proc.returncode == 1, proc.stderr
    one_error_line(proc, "cannot write")
    assert "file size limit" in proc.stderr and "shards/proc_" in proc.stderr
    assert temporaries(out) == []
    assert (out / "shards" / "proc_000.h5").read_bytes() == kept
    assert [p.name for p in assert_shards_sound(out)] == ["proc_000.h5"]
    # still full: the same one line, nothing changes
    again = run("render", "--out", str(out), "--scenes", "proc_000,proc_001,proc_006", *TINY[2:],
                limit_bytes=64 * 1024)
    assert again.returncode == 1
    one_error_line(again, "cannot write")
    assert temporaries(out) == []


# --- corrupt data -------------------------------------------------------------------------------------------

def test_corrupt_chunk_is_found_by_verify_and_before_training(rendered: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(rendered), str(data)], check=True)
    shard = data / "shards" / "proc_000.h5"
    with h5py.File(shard, "r") as f:  # overwrite the middle of a bulky dataset's first chunk
        ds = f["rir/indirect"]
        offset = ds.id.get_chunk_info(0).byte_offset
    with open(shard, "r+b") as fh:
        fh.seek(offset + 64)
        fh.write(os.urandom(4096))
    assert run("inspect", str(data)).returncode == 0  # the structure is intact
    proc = run("inspect", str(data), "--verify")
    assert proc.returncode == 2
    line = one_error_line(proc, "proc_000.h5")
    assert "rir/indirect" in line
    results = tmp_path / "results"
    bench = run("bench", "--model", "iid", "--data", str(data), "--results", str(results), "--quick")
    assert bench.returncode == 2
    one_error_line(bench, "rir/indirect")
    assert not (results / "runs").exists() and not (results / "leaderboard.csv").exists()


# --- leaderboard --------------------------------------------------------------------------------------------

def test_malformed_leaderboard_is_refused_before_training_and_kept(rendered: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    board = results / "leaderboard.csv"
    board.write_text("run_id,model\nbroken,row,with,too,many\n")
    before = board.read_bytes()
    proc = run("bench", "--model", "ours_full", "--data", str(rendered), "--results", str(results), "--quick")
    assert proc.returncode == 2
    one_error_line(proc, "leaderboard.csv:1")
    assert board.read_bytes() == before
    assert not (results / "runs").exists()  # nothing trained


def test_short_leaderboard_append_leaves_the_file_as_it_was(rendered: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    ok = run("bench", "--model", "iid", "--data", str(rendered), "--results", str(results), "--quick")
    assert ok.returncode == 0, ok.stderr
    board = results / "leaderboard.csv"
    rows = read_leaderboard(board)
    for _ in range(20):  # a leaderboard far bigger than any of a run's own files
        append_rows(board, rows)
    before = board.read_bytes()
    runs_before = set((results / "runs").iterdir())
    proc = run("bench", "--model", "iid", "--data", str(rendered), "--results", str(results), "--quick",
               limit_bytes=len(before) + 500)  # room for part of one row: the append is cut short
    assert proc.returncode == 1, proc.stderr
    one_error_line(proc, "cannot write")
    assert board.read_bytes() == before
    new_runs = set((results / "runs").iterdir()) - runs_before
    assert len(new_runs) == 1 and (new_runs.pop() / "metrics.json").is_file()  # the scores are not lost


def test_concurrent_bench_appends_keep_every_row(rendered: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    args = [SIMKIT, "bench", "--model", "iid", "--data", str(rendered), "--results", str(results), "--quick"]
    procs = [subprocess.Popen([*args, "--seed", str(s)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for s in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    rows = read_leaderboard(results / "leaderboard.csv")
    assert {r["seed"] for r in rows} == {1, 2}
    per_run: dict[str, int] = {}
    for r in rows:
        per_run[r["run_id"]] = per_run.get(r["run_id"], 0) + 1
    assert len(per_run) == 2 and len(set(per_run.values())) == 1  # both runs, all rows of each


def test_directory_left_by_a_writer_killed_before_its_manifest_is_reused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / ".simkit-write.lock").touch()
    (out / ".manifest.json.k1ll3d.tmp").write_text("{")
    proc = run("render", "--out", str(out), *TINY)
    assert proc.returncode == 0, proc.stderr
    assert temporaries(out) == [] and len(assert_shards_sound(out)) == 3
