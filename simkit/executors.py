"""Executors: how independent units of work are run: ``serial``, ``process`` or ``ray``.

Three pipelines fan out through them: ``simkit render`` (a unit = one scene: render and write its shard),
``simkit prepare`` (one shard: ``adapter.build`` and its write) and ``simkit curate`` (one video's analysis,
cached in the work directory). Each unit writes its own output; the parent only tracks progress and failures.

An executor gets a picklable top-level function, one argument tuple per unit and a ``done(key, error)``
callback, called once per unit in the order units finish. A :class:`SimkitError` raised by a unit is that
unit's failure (``done(key, error)``) and the others go on; :class:`OutputError` (full disk, permissions)
and :class:`Interrupted` (SIGINT/SIGTERM) stop the whole run: units still queued are cancelled, running
workers are told to stop (each removes its temporary file) and the exception reaches the caller. So does an
exception raised by ``done`` itself: a pipeline that stops at its first failed unit (prepare, curate)
re-raises the unit's error there.

A large object every unit needs (prepare's adapter, with everything its scan found) is passed once as
``shared`` and stands in the argument tuples as :data:`SHARED`: it is sent once per worker process (Ray: put
once in the object store), not once per unit.

Data never depend on the executor: every unit derives its randomness from the config's seed and its key.
A new executor is one function plus one ``EXECUTORS.add``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import signal
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Protocol

from simkit.errors import Interrupted, OutputError, SimkitError
from simkit.registry import Registry

Done = Callable[[str, SimkitError | None], None]


@dataclass(frozen=True)
class ExecutorOptions:
    """How many units run at once, and where a Ray cluster is (``None``: start a local Ray runtime);
    ``ray_address_probed``: :func:`executor_for` has already found something listening there."""

    workers: int = 1
    ray_address: str | None = None
    ray_address_probed: bool = False


class Executor(Protocol):
    """Runs ``fn(*args[i])`` for every unit (``SHARED`` bound to ``shared``), calling ``done`` as units finish."""

    def __call__(self, fn: Callable[..., Any], keys: Sequence[str], args: Sequence[tuple], done: Done,
                 opts: ExecutorOptions, shared: Any = None) -> None: ...


EXECUTORS: Registry[Executor] = Registry("executor")


class Shared:
    """The placeholder :data:`SHARED`: in a unit's argument tuple, it stands for the run's ``shared`` object."""

    def __repr__(self) -> str:
        return "SHARED"


SHARED = Shared()


def _bind(args: tuple, shared: Any) -> tuple:
    """``args`` with every :data:`SHARED` placeholder replaced by ``shared``."""
    return tuple(shared if isinstance(a, Shared) else a for a in args)


def _finish(key: str, call: Callable[[], Any], done: Done) -> None:
    try:
        call()
    except OutputError:
        raise
    except SimkitError as e:
        done(key, e)
    else:
        done(key, None)


def run_serial(fn: Callable[..., Any], keys: Sequence[str], args: Sequence[tuple], done: Done,
               opts: ExecutorOptions, shared: Any = None) -> None:
    """Every unit in this process, in order."""
    for key, a in zip(keys, args, strict=True):
        _finish(key, lambda a=a: fn(*_bind(a, shared)), done)


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
        return fn(*_bind(args, _shared))
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
                _finish(pending.pop(fut), fut.result, done)
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


RAY_PROBE_TIMEOUT_S = 3.0
# Bounds on joining a cluster whose address answers TCP but is no Ray GCS (or a stuck one); Ray's defaults
# retry 20 times for ~41 s each (more than 10 minutes measured). One attempt took 13-14 s with these. Set
# before Ray is imported (its C++ side reads them once); a variable the user has set wins.
RAY_JOIN_ENV = {
    "RAY_gcs_server_port_wait_time_s": "1",  # attempts of the driver's GCS connect loop (~1 s apart)
    "RAY_gcs_rpc_server_connect_timeout_s": "3",  # C++ client: wait for the gRPC channel (default 5)
    "RAY_py_gcs_connect_timeout_s": "5",  # Python GcsClient: wait for the GCS to answer (default 30)
}


def parse_ray_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``HOST:PORT`` or ``[IPV6]:PORT`` address; ``None`` for Ray's other forms
    (``auto``, ``ray://...``). A malformed one (no host, a port that is not 1-65535 in ASCII digits, an IPv6
    address without brackets) is :class:`SimkitError`."""
    if "://" in address or ":" not in address:
        return None
    if address.startswith("["):
        host, sep, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        ok = bool(sep) and rest.startswith(":") and ":" in host
    else:
        host, _, port = address.rpartition(":")
        ok = ":" not in host  # an IPv6 host needs brackets: [::1]:6379
    if not (ok and host and re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        raise SimkitError(f"--ray-address {address} is not HOST:PORT (a port 1-65535; IPv6 as [ADDR]:PORT)")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probe_ray_address(address: str, timeout_s: float = RAY_PROBE_TIMEOUT_S) -> None:
    """Raise :class:`SimkitError` for a malformed ``address`` (:func:`parse_ray_address`) or unless something
    accepts a TCP connection there within ``timeout_s``: Ray itself retries an address where nothing listens
    for more than 10 minutes."""
    hp = parse_ray_address(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout_s):
            pass
    except OSError as e:
        reason = f"no answer within {timeout_s:g} s" if isinstance(e, TimeoutError) else (
            e.strerror or str(e))
        raise SimkitError(f"cannot join Ray at {address} ({reason}; is the cluster started? `ray start "
                          f"--head` prints its address)") from None


def _ray_unit(fn: Callable[..., Any], *args: Any) -> Any:
    """A unit in a Ray worker: SIGINT/SIGTERM (and Ray's cancel, which interrupts the main thread like a
    SIGINT) raise :class:`Interrupted` after any critical section, so the unit removes its temporary file."""
    from simkit import signals

    # only while the unit runs: between tasks the worker belongs to Ray, which stops it its own way
    previous = {s: signal.getsignal(s) for s in signals.HANDLED}
    signals.install()
    try:
        return fn(*args)
    finally:
        _restore_handlers(previous)


def run_ray(fn: Callable[..., Any], keys: Sequence[str], args: Sequence[tuple], done: Done,
            opts: ExecutorOptions, shared: Any = None) -> None:
    """One Ray task per unit: a local Ray runtime with ``opts.workers`` CPUs, or the cluster at
    ``opts.ray_address``. Every node must see the output directory (a shared filesystem) and have simkit
    installed (docs/scale.md). On an interrupt or a failed write, running tasks are cancelled and given
    ``RAY_CANCEL_GRACE_S`` to unwind (removing their temporary files) before they are killed."""
    from simkit import signals

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
    hp = parse_ray_address(opts.ray_address) if opts.ray_address else None
    if not opts.ray_address or (hp is not None and _is_loopback(hp[0])):
        # a local runtime, or a cluster joined over loopback, is this machine: keep Ray on 127.0.0.1 (Ray
        # otherwise replaces loopback by the first interface's address; this switch, read when Ray is first
        # imported, is the one that keeps it on loopback)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if opts.ray_address:
        if not opts.ray_address_probed:
            probe_ray_address(opts.ray_address)
        for k, v in RAY_JOIN_ENV.items():
            os.environ.setdefault(k, v)
    try:
        import ray
    except ImportError:
        raise SimkitError("--executor ray needs Ray: pip install 'simkit[ray]'") from None
    started = not ray.is_initialized()
    if started:
        # ray.init replaces the SIGTERM handler (by one that calls sys.exit) and adds its C++ fatal-signal
        # dump: the handlers in force before it (simkit's when the CLI installed them, KeyboardInterrupt for
        # a Python caller) are put back right after it and stay in force when the run ends
        previous = {s: signal.getsignal(s) for s in signals.HANDLED}
        try:
            if opts.ray_address:
                ray.init(address=opts.ray_address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                # "local": a runtime of our own, never a cluster that RAY_ADDRESS or `ray start` left around
                # (joining one would also refuse num_cpus); --ray-address is how a cluster is joined
                ray.init(address="local", num_cpus=opts.workers, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"join Ray at {opts.ray_address}" if opts.ray_address else "start a local Ray runtime"
            raise SimkitError(f"cannot {where} ({str(e).strip().splitlines()[0]})") from None
        except SystemExit as e:
            # ray.init replaces the SIGTERM handler by one that calls sys.exit(SIGTERM)
            if e.code == signal.SIGTERM:
                raise Interrupted(signal.SIGTERM) from None
            raise
        finally:
            _restore_handlers(previous)
    remote = ray.remote(num_cpus=1, max_retries=0)(_ray_unit)
    refs: dict[Any, str] = {}
    try:
        # put once; a task's top-level ObjectRef argument arrives as its value
        shared_ref = ray.put(shared) if any(isinstance(x, Shared) for a in args for x in a) else None
        refs = {remote.remote(fn, *_bind(a, shared_ref)): k for k, a in zip(keys, args, strict=True)}
        while refs:
            # deferred, in short waits: a signal handler that raised inside Ray's native wait would not
            # unwind it; here the signal is held until the wait returns, then raised
            with signals.deferred():
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in ready:
                _finish(refs.pop(ref), lambda ref=ref: _ray_result(ray, ref), done)
    except BaseException:
        _cancel_ray_tasks(ray, list(refs), kill_stuck=not started)
        raise
    finally:
        if started:
            with signals.deferred():  # a second signal must not cut the shutdown short and leave Ray running
                ray.shutdown()
            _restore_handlers(previous)


def _restore_handlers(previous: dict[int, Any]) -> None:
    """Put back the signal handlers ``previous`` (signal -> handler) in the main thread; ``None`` (a handler
    installed outside Python) cannot be put back."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal works only there (and ray.init installs nothing elsewhere)
    for s, handler in previous.items():
        if handler is not None:
            signal.signal(s, handler)


RAY_CANCEL_GRACE_S = 10.0


def _cancel_ray_tasks(ray: Any, refs: list[Any], grace_s: float = RAY_CANCEL_GRACE_S,
                      kill_stuck: bool = True) -> None:
    """Cancel ``refs``: queued tasks never start, running ones get Ray's interrupt (an :class:`Interrupted`
    in :func:`_ray_unit`, which removes the unit's temporary file). With ``kill_stuck``, those still running
    after ``grace_s`` (stuck in native code) are force-cancelled and the next run removes what they left; a
    local runtime passes False, since its shutdown ends every worker anyway. A force-cancel is never sent to
    a task that has finished: Ray 2.x then aborts the driver on an internal check ("Tried to complete task
    that was not pending", seen once in a full-suite run under load)."""
    from simkit.signals import deferred

    if not refs:
        return
    with deferred():
        for ref in refs:
            ray.cancel(ref, force=False)
        _, stuck = ray.wait(refs, num_returns=len(refs), timeout=grace_s)
        if kill_stuck:
            for ref in stuck:
                ray.cancel(ref, force=True)


def _ray_result(ray: Any, ref: Any) -> Any:
    """``ray.get`` with the unit's own exception re-raised (Ray wraps it in a RayTaskError)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, (SimkitError, Interrupted)):
            raise cause from None
        raise SimkitError(f"Ray task failed: {str(e).splitlines()[0]}") from None
    except ray.exceptions.WorkerCrashedError as e:
        raise SimkitError(f"Ray worker crashed: {str(e).splitlines()[0]}") from None


EXECUTORS.add("serial", run_serial)
EXECUTORS.add("process", run_process)
EXECUTORS.add("ray", run_ray)


def default_executor(workers: int) -> str:
    """``process`` when several workers are asked for, else ``serial``."""
    return "process" if workers > 1 else "serial"


def executor_for(name: str | None, workers: int = 1,
                 ray_address: str | None = None) -> tuple[Executor, ExecutorOptions]:
    """The executor ``name`` (default: :func:`default_executor`) and its options, checked before a pipeline
    writes anything: ``workers >= 1``, a registered name, ``ray_address`` only with ``ray``, Ray installed,
    something listening at ``ray_address``."""
    if workers < 1:
        raise SimkitError(f"--workers must be >= 1 (got {workers})")
    name = name or default_executor(workers)
    run = EXECUTORS.get(name)
    if ray_address and name != "ray":
        raise SimkitError("--ray-address needs --executor ray")
    if name == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise SimkitError("--executor ray needs Ray: pip install 'simkit[ray]'")
        if ray_address:
            probe_ray_address(ray_address)  # once: run_ray is told so and does not connect again
    return run, ExecutorOptions(workers=workers, ray_address=ray_address,
                                ray_address_probed=name == "ray" and bool(ray_address))

