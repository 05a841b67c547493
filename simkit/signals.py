"""SIGINT and SIGTERM as one exception, :class:`simkit.errors.Interrupted`, with critical sections.

The CLI installs :func:`install` once. A signal then raises ``Interrupted`` in the main thread, so every
``finally`` runs (temporary files are removed, locks released) and the CLI prints one line and exits
``128 + signum``. Inside :func:`deferred` the signal is only recorded and raised when the block ends: HDF5
code may swallow an exception raised inside it, which once let a Ctrl-C during a shard write go unnoticed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

from simkit.errors import Interrupted

_state = threading.local()
_pending: list[int] = []
HANDLED = (signal.SIGINT, signal.SIGTERM)


def _depth() -> int:
    return getattr(_state, "depth", 0)


def raise_or_defer(signum: int) -> None:
    """Raise :class:`Interrupted` now, or when the enclosing :func:`deferred` block ends."""
    if _depth() > 0:
        _pending.append(signum)
        return
    raise Interrupted(signum)


def _handler(signum: int, frame: FrameType | None) -> None:
    raise_or_defer(signum)


def install(signals: tuple[int, ...] = HANDLED) -> None:
    """Route ``signals`` to :class:`Interrupted` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for s in signals:
        signal.signal(s, _handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then raise the first one that arrived."""
    _state.depth = _depth() + 1
    try:
        yield
    finally:
        _state.depth -= 1
        if _state.depth == 0 and _pending:
            signum = _pending[0]
            _pending.clear()
            raise Interrupted(signum)


def watch_parent(parent: int, on_exit: Callable[[], None], interval_s: float = 0.1, grace_s: float = 1.0) -> None:
    """In a worker process: stop when the parent ``parent`` (its PID, as the parent gave it) dies, so a
    ``kill -9`` of the parent never leaves workers running on.

    A thread polls the parent PID every ``interval_s`` (``parent`` comes from the parent, not from
    ``os.getppid()`` here: a parent killed while the worker was still importing would otherwise never be
    noticed). On the parent's death it sends the worker SIGTERM, which unwinds a running unit (its temporary
    file is removed) through the worker's handler, and calls ``on_exit`` after at most ``grace_s`` (a unit
    stuck in native code does not see the signal before then; the next run removes the temporary it left).
    """
    if os.getppid() != parent:  # already orphaned (or re-parented) before the watch started
        on_exit()

    def poll() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        on_exit()

    threading.Thread(target=poll, name="simkit-parent-watch", daemon=True).start()
