"""Faults of the CLI's own machinery, through the real console script: unexpected exceptions and broken pipes
(one line or silence, never a second traceback), Ray that cannot be joined or is interrupted, and workers
whose parent is killed."""

from __future__ import annotations

import os
import signal
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


# --- broken pipes and unexpected errors ---------------------------------------------------------------------

@pytest.mark.parametrize("args", [["leaderboard", "--help"], ["--help"], ["leaderboard", "--task", "binauralize"]])
def test_stdout_whose_reader_is_gone_ends_quietly_with_141(tmp_path: Path, args: list[str]) -> None:
    """Rich's help (Rich raises SystemExit(1) on EPIPE) and a plain table written to stdout (EPIPE at the
    final flush), into a pipe whose reading end is already closed: the broken pipe happens every time."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([SIMKIT, *args], stdout=write, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    # the only line allowed is the leaderboard's own note that it shows the published rows alone
    assert [ln for ln in proc.stderr.splitlines() if "published reference rows" not in ln] == [], proc.stderr


def test_help_piped_into_head_prints_its_first_line_and_nothing_on_stderr(tmp_path: Path) -> None:
    pipeline = f"'{SIMKIT}' leaderboard --help | head -1; echo \"simkit=${{PIPESTATUS[0]}}\""
    proc = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=120)
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[-1] in ("simkit=0", "simkit=141"), proc.stdout  # 0: head read it all in time
    assert len(proc.stdout.splitlines()) == 2


def run_main_with_fault(cwd: Path, fault: str, *args: str, debug: str | None = None) -> subprocess.CompletedProcess:
    """``simkit leaderboard --task binauralize`` through :func:`simkit.cli.main`, in a fresh interpreter, with
    the library function the command calls (``with_references``) replaced by one that raises ``fault``: the
    test seam for errors no real input provokes on demand (MemoryError, a library's SystemExit)."""
    code = (
        "import sys\n"
        "import simkit.bench.leaderboard as lb\n"
        "def fault(*a, **k):\n"
        f"    raise {fault}\n"
        "lb.with_references = fault\n"
        f"sys.argv = ['simkit', *{list(args)!r}, 'leaderboard', '--task', 'binauralize']\n"
        "from simkit.cli import main\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SIMKIT_DEBUG"}
    if debug is not None:
        env["SIMKIT_DEBUG"] = debug
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    # (no leaderboard in cwd: the command notes that it shows the published rows alone, then calls the fault)
    proc.stderr = "".join(ln for ln in proc.stderr.splitlines(True) if "published reference rows" not in ln)
    return proc


@pytest.mark.parametrize(("fault", "needle"), [
    ("MemoryError()", "error: unexpected MemoryError; rerun with SIMKIT_DEBUG=1"),
    ("SystemExit(1)", "error: unexpected SystemExit(1); rerun with SIMKIT_DEBUG=1"),  # as Ray's handlers do
    ("KeyError('k')", "error: unexpected KeyError: 'k'; rerun with SIMKIT_DEBUG=1"),
    ("BrokenPipeError(32, 'Broken pipe')", "error: unexpected BrokenPipeError: [Errno 32] Broken pipe;"),
])
def test_unexpected_exception_is_one_error_line_exit_1(tmp_path: Path, fault: str, needle: str) -> None:
    """Anything simkit does not expect is one line, exit 1; a broken pipe that is not stdout's (a
    subprocess's) is such an error too, not a reason to exit quietly."""
    proc = run_main_with_fault(tmp_path, fault)
    assert proc.returncode == 1, proc.stderr
    one_error_line(proc.stderr, needle)


@pytest.mark.parametrize(("args", "debug"), [((), "1"), (("--debug",), None), (("--debug",), "0")])
def test_debug_prints_the_traceback_before_the_error_line(tmp_path: Path, args: tuple[str, ...],
                                                          debug: str | None) -> None:
    proc = run_main_with_fault(tmp_path, "MemoryError('no room')", *args, debug=debug)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):", proc.stderr
    assert "in fault" in proc.stderr and "MemoryError: no room" in lines[-2]
    assert lines[-1] == "error: unexpected MemoryError: no room"
    assert [ln for ln in lines if ln.startswith("error:")] == [lines[-1]]



# --- Ray ----------------------------------------------------------------------------------------------------

RENDER = ["render", "--scenes", "4", "--sets-per-scene", "2", "--preset", "fast", "--no-views", "--quiet"]


def test_ray_address_where_nothing_listens_is_one_line_exit_2_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    start = time.monotonic()
    proc = subprocess.run([SIMKIT, *RENDER, "--out", str(out), "--executor", "ray", "--ray-address", "127.0.0.1:1"],
                          capture_output=True, text=True, timeout=300)  # Ray alone retried for > 10 minutes
    took = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, "cannot join Ray at 127.0.0.1:1 (Connection refused")
    assert took < 60, f"took {took:.0f} s"  # ~1 s measured: a TCP probe before Ray is imported
    assert not out.exists()  # refused before anything is written


@pytest.mark.parametrize(("address", "needle"), [
    ("127.0.0.1:99999", "is not HOST:PORT"),  # once wrapped silently to another port
    ("127.0.0.1:\u00b2", "is not HOST:PORT"),  # '²'.isdigit() is True: int() then raised a traceback
])
def test_malformed_ray_address_is_one_line_exit_2(tmp_path: Path, address: str, needle: str) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([SIMKIT, *RENDER, "--out", str(out), "--executor", "ray", "--ray-address", address],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, f"--ray-address {address} {needle}")
    assert not out.exists()


@pytest.mark.parametrize(("address", "want"), [
    ("127.0.0.1:6379", ("127.0.0.1", 6379)), ("head.example:1", ("head.example", 1)),
    ("[::1]:6379", ("::1", 6379)), ("localhost:65535", ("localhost", 65535)),
    ("auto", None), ("ray://head:10001", None), ("local", None),
])
def test_parse_ray_address(address: str, want: tuple[str, int] | None) -> None:
    from simkit.executors.ray import parse_ray_address

    assert parse_ray_address(address) == want


@pytest.mark.parametrize("address", ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:\u00b2",
                                     "127.0.0.1:\u0661", "127.0.0.1:", ":6379", "::1:6379", "[::1]6379", "[::1",
                                     "[::1]:", "127.0.0.1:+1", "127.0.0.1: 1", "127.0.0.1:0x10"])
def test_parse_ray_address_refuses_a_malformed_address_with_one_line(address: str) -> None:
    from simkit.errors import SimkitError
    from simkit.executors.ray import parse_ray_address

    with pytest.raises(SimkitError, match="is not HOST:PORT") as e:
        parse_ray_address(address)
    assert "\n" not in str(e.value)


def test_ray_address_is_probed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """executor_for probes the address (before anything is written); run_ray, told so, does not connect
    again: each probe could wait up to RAY_PROBE_TIMEOUT_S."""
    import socket

    from simkit import executors
    from simkit.errors import SimkitError

    connects = []

    def refuse(address, timeout=None):
        connects.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(SimkitError, match=r"cannot join Ray at \[::1\]:1 \(Connection refused"):
        executors.executor_for("ray", 1, "[::1]:1")
    assert connects == [("::1", 1)]
    _, opts = executors.executor_for("ray", 1, None)
    assert not opts.ray_address_probed
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None: socket.socket())
    run, opts = executors.executor_for("ray", 1, "127.0.0.1:1")
    assert opts.ray_address_probed


RAY_CALLER = """
import signal, sys
from simkit.executors import ExecutorOptions
from simkit.executors.ray import run_ray

before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
seen = {}
run_ray(abs, ["a"], [(-1,)], seen.__setitem__, ExecutorOptions(workers=1))
after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
assert seen == {"a": None}, seen
assert before == {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}, before
assert after == before, after
print("handlers kept")
"""


def test_run_ray_leaves_a_python_callers_signal_handlers_as_they_were(tmp_path: Path) -> None:
    """run_ray from the Python API: Ctrl-C must still be KeyboardInterrupt afterwards (it once left simkit's
    handlers installed for good)."""
    proc = subprocess.run([sys.executable, "-c", RAY_CALLER], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "handlers kept" in proc.stdout


def _descendants(root: int, known: dict[int, str]) -> None:
    """Add to ``known`` every process below ``root`` (pid -> its start time, which tells a reused PID apart)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        pid, ppid = int(stat.parent.name), int(fields[1])
        if (ppid == root or ppid in known) and pid not in known:
            known[pid] = fields[19]


def _still_running(known: dict[int, str]) -> list[str]:
    left = []
    for pid, started in known.items():
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if fields[19] == started and fields[0] != "Z":
            left.append(f"{pid} {cmd[:100]}")
    return left


@linux_only
def test_sigterm_during_a_local_ray_render_exits_143_and_leaves_no_temporary_or_ray_process(tmp_path: Path) -> None:
    """SIGTERM to the driver alone (as `kill PID` sends it) while a Ray task writes its shard."""
    out = tmp_path / "out"
    argv = [SIMKIT, *RENDER, "--out", str(out), "--executor", "ray", "--workers", "2"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    ray_procs: dict[int, str] = {}  # the driver's descendants: GCS, raylet, workers, ...

    def writing() -> bool:
        _descendants(proc.pid, ray_procs)
        return any((out / "shards").glob(".*.tmp"))

    wait_until(writing, proc, "a shard write", timeout=240)
    _descendants(proc.pid, ray_procs)
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "SIGTERM received" not in stderr, stderr  # no Ray C++ dump
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: interrupted by SIGTERM; finished outputs are kept and a re-run resumes"], stderr
    assert sorted(out.rglob(".*.tmp")) == []  # the interrupted task removed its temporary
    assert len(ray_procs) >= 3, ray_procs  # (the driver did start a runtime of its own)
    end = time.monotonic() + 15  # gone when the driver exits (measured); room for a busy machine
    while _still_running(ray_procs) and time.monotonic() < end:
        time.sleep(0.1)
    assert _still_running(ray_procs) == [], "Ray processes outlived the interrupted render"
