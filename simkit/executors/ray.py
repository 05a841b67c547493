"""The ``ray`` executor: one Ray task per unit, on a local Ray runtime or a cluster joined with
``--ray-address`` (docs/scale.md); Ray is an optional dependency (``simkit[ray]``), imported only when a run
starts."""

from __future__ import annotations

import dataclasses
import importlib.util
import ipaddress
import logging
import os
import re
import signal
import socket
from collections.abc import Callable, Sequence
from typing import Any

from simkit.errors import Interrupted, SimkitError
from simkit.executors import EXECUTORS, Done, ExecutorOptions, Shared, bind, finish

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


@EXECUTORS.register("ray")
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
        refs = {remote.remote(fn, *bind(a, shared_ref)): k for k, a in zip(keys, args, strict=True)}
        while refs:
            # deferred, in short waits: a signal handler that raised inside Ray's native wait would not
            # unwind it; here the signal is held until the wait returns, then raised
            with signals.deferred():
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in ready:
                finish(refs.pop(ref), lambda ref=ref: _ray_result(ray, ref), done)
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


def check_ray_options(opts: ExecutorOptions) -> ExecutorOptions:
    """What :func:`simkit.executors.executor_for` checks for ``ray`` before anything is written: Ray
    installed, something listening at ``opts.ray_address`` (probed once: :func:`run_ray` is told so and does
    not connect again)."""
    if importlib.util.find_spec("ray") is None:
        raise SimkitError("--executor ray needs Ray: pip install 'simkit[ray]'")
    if opts.ray_address:
        probe_ray_address(opts.ray_address)
    return dataclasses.replace(opts, ray_address_probed=bool(opts.ray_address))


run_ray.check_options = check_ray_options  # type: ignore[attr-defined]
