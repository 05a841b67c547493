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

This module is the interface and the helpers every executor shares; each executor is one module of this
package (``serial.py``, ``process.py``, ``ray.py``) that registers its run function with
``@EXECUTORS.register("name")``. :data:`EXECUTORS` imports every module of the package the first time it is
read, so a new executor is one new file and nothing else (docs/executors.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from simkit.errors import OutputError, SimkitError
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
    """Runs ``fn(*args[i])`` for every unit (``SHARED`` bound to ``shared``), calling ``done`` as units finish.

    The function may also carry a ``check_options(opts) -> ExecutorOptions`` attribute (``ray``'s does):
    :func:`executor_for` calls it before anything is written.
    """

    def __call__(self, fn: Callable[..., Any], keys: Sequence[str], args: Sequence[tuple], done: Done,
                 opts: ExecutorOptions, shared: Any = None) -> None: ...


# every module of this package registers its executor(s) on import (read lazily: see the module docstring)
EXECUTORS: Registry[Executor] = Registry("executor", package=__name__)


class Shared:
    """The placeholder :data:`SHARED`: in a unit's argument tuple, it stands for the run's ``shared`` object."""

    def __repr__(self) -> str:
        return "SHARED"


SHARED = Shared()


def bind(args: tuple, shared: Any) -> tuple:
    """``args`` with every :data:`SHARED` placeholder replaced by ``shared``."""
    return tuple(shared if isinstance(a, Shared) else a for a in args)


def finish(key: str, call: Callable[[], Any], done: Done) -> None:
    """Run ``call`` (a unit, or the fetch of its result) and report it: ``done(key, None)``, or
    ``done(key, error)`` for a :class:`SimkitError`; an :class:`OutputError` (or anything else) propagates."""
    try:
        call()
    except OutputError:
        raise
    except SimkitError as e:
        done(key, e)
    else:
        done(key, None)


def default_executor(workers: int) -> str:
    """``process`` when several workers are asked for, else ``serial``."""
    return "process" if workers > 1 else "serial"


def executor_for(name: str | None, workers: int = 1,
                 ray_address: str | None = None) -> tuple[Executor, ExecutorOptions]:
    """The executor ``name`` (default: :func:`default_executor`) and its options, checked before a pipeline
    writes anything: ``workers >= 1``, a registered name, ``ray_address`` only with ``ray``, then the
    executor's own ``check_options`` (``ray``: Ray installed, something listening at ``ray_address``)."""
    if workers < 1:
        raise SimkitError(f"--workers must be >= 1 (got {workers})")
    name = name or default_executor(workers)
    run = EXECUTORS.get(name)
    if ray_address and name != "ray":
        raise SimkitError("--ray-address needs --executor ray")
    opts = ExecutorOptions(workers=workers, ray_address=ray_address)
    check = getattr(run, "check_options", None)
    return run, (check(opts) if check is not None else opts)
