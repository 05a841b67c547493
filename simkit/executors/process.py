"""The ``process`` executor: units in spawned worker processes on this machine (the default for several
workers), with the worker side of SIGTERM handling: a running unit unwinds (removing its temporary file), an
idle worker exits with status 143, and a worker exits when its parent dies."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any

from simkit.errors import Interrupted
from simkit.executors import EXECUTORS, Done, ExecutorOptions, bind, finish
from simkit.executors.serial import run_serial

_in_unit = False  # in a worker process: is a unit running (SIGTERM must unwind it) or is it idle
_stopping = False  # a SIGTERM arrived: units still queued in this worker must not start
_shared: Any = None  # in a worker process: the run's shared object, received once at start-up


def _on_sigterm(signum: int, frame: object) -> None:
    global _stopping
    _stopping = True
    if _in_unit:
        from simkit.signals import raise_or_defer

        raise_or_defer(signum)  # unwinds the unit (its temporary file is removed), after any critical section
        return
    os._exit(128 + signum)  # idle between units: nothing to clean up, and no traceback from the pool's loop


def _exit_stopped() -> None:
    os._exit(128 + signal.SIGTERM)


def run_unit(fn: Callable[..., Any], *args: Any) -> Any:
    """Run one unit in a worker process, marked as busy for the SIGTERM handler."""
    global _in_unit
    if _stopping:  # the pool had already handed this worker the next unit
        _exit_stopped()
    _in_unit = True
    try:
        return fn(*bind(args, _shared))
    except Interrupted:
        # the unit has unwound (its temporary file is removed). Exit now: a parent that sent SIGTERM is
        # stopping the pool and a dead one reads nothing, and returning to the pool's loop would leave this
        # worker blocked on a queue whose other ends the remaining workers hold open
        _exit_stopped()
    finally:
        _in_unit = False


def worker_init(shared: Any = None, parent: int | None = None) -> None:
    """Start-up of a worker process: Ctrl-C is the parent's to handle (the terminal signals the whole
    process group), SIGTERM stops the unit cleanly, and the worker exits when its parent (PID ``parent``)
    dies; ``shared`` is the run's shared object (:data:`SHARED`)."""
    global _shared
    from simkit import signals

    _shared = shared
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signals.watch_parent(os.getppid() if parent is None else parent, _exit_stopped)


def _stop_pool(pool: ProcessPoolExecutor, timeout_s: float = 20.0) -> None:
    """Cancel queued units and SIGTERM running workers; SIGKILL what has not exited after ``timeout_s``."""
    procs = list(getattr(pool, "_processes", {}).values())  # no public API lists a pool's processes
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout_s)
        if p.is_alive():
            p.kill()
            p.join()


@EXECUTORS.register("process")
def run_process(fn: Callable[..., Any], keys: Sequence[str], args: Sequence[tuple], done: Done,
                opts: ExecutorOptions, shared: Any = None) -> None:
    """Units in ``opts.workers`` spawned processes on this machine (serial for one worker or one unit)."""
    if opts.workers <= 1 or len(keys) <= 1:
        run_serial(fn, keys, args, done, opts, shared)
        return
    # spawn: the engine and espeak hold native state that must not be forked mid-use
    pool = ProcessPoolExecutor(max_workers=opts.workers, mp_context=get_context("spawn"), initializer=worker_init,
                               initargs=(shared, os.getpid()))
    try:
        pending: dict[Future, str] = {pool.submit(run_unit, fn, *a): k for k, a in zip(keys, args, strict=True)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                finish(pending.pop(fut), fut.result, done)
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)
