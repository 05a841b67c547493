"""Faults of the CLI's own machinery, through the real console script: unexpected exceptions and broken pipes
(one line or silence, never a second traceback), Ray that cannot be joined or is interrupted, and workers
whose parent is killed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from published_layouts import write_fair_play

SIMKIT = str(Path(sys.executable).parent / "simkit")  # the console script, as a user runs it
linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states in /proc")


def one_error_line(stderr: str, needle: str) -> str:
    """The single line of ``stderr``, an ``error:`` line containing ``needle``; no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    assert needle in lines[0], lines[0]
    return lines[0]


def running_in_group(pgid: int) -> list[str]:
    """Processes of group ``pgid`` that still run (zombies are excluded: they have stopped and only wait for
    PID 1 to reap them, which took up to 2 s on the development VM), as ``pid cmdline``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        state, _, pg = text[text.rindex(")") + 2:].split()[:3]
        if int(pg) == pgid and state != "Z":
            found.append(f"{stat.parent.name} {cmd[:120]}")
    return found


def wait_until(predicate: object, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert proc.poll() is None, f"the process ended before {what}: {proc.communicate()}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)


# --- workers of a killed parent -----------------------------------------------------------------------------

@linux_only
def test_prepare_workers_stop_within_seconds_of_a_kill_9_of_their_parent(tmp_path: Path) -> None:
    """Two shards on two workers: when the parent dies, both workers are mid-unit or idle with nothing queued,
    the case where a worker once went back to the pool's queue and waited there for its 10 s grace."""
    src = write_fair_play(tmp_path / "FAIR-Play", n_clips=2, seconds=6.0, n_splits=1)
    out = tmp_path / "out"
    proc = subprocess.Popen([SIMKIT, "prepare", "fair-play", str(src), "--option", "clip_seconds=6", "--quiet",
                             "--out", str(out), "--workers", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_until(lambda: any((out / "shards").glob(".*.tmp")), proc, "a shard write")
    proc.kill()  # SIGKILL of the parent only: its workers must notice and stop
    proc.wait()
    killed = time.monotonic()
    # workers stop within ~1 s (poll 0.1 s + at most 1 s for a unit to unwind; 0.1-0.9 s measured on the
    # development VM); 8 s leaves room for a busy 2-core machine and is still below the 10 s grace of old
    while running_in_group(proc.pid) and time.monotonic() - killed < 8:
        time.sleep(0.05)
    assert running_in_group(proc.pid) == [], "worker processes outlived their killed parent"
    again = subprocess.run([SIMKIT, "prepare", "fair-play", str(src), "--option", "clip_seconds=6", "--quiet",
                            "--out", str(out), "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert sorted(out.rglob(".*.tmp")) == []  # the re-run removed whatever the killed run left
