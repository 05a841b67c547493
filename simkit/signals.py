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
from collections.abc import Iterator
from types import FrameType

from simkit.errors import Interrupted

_state = threading.local()
_pending: list[int] = []
HANDLED = (signal.SIGINT, signal.SIGTERM)


def _depth() -> int:
    return getattr(_state, "depth", 0)


def _handler(signum: int, frame: FrameType | None) -> None:
    if _depth() > 0:
        _pending.append(signum)
        return
    raise Interrupted(signum)


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


def watch_parent(interval_s: float = 0.5, grace_s: float = 10.0) -> None:
    """In a worker process: SIGTERM ourselves when the parent dies (its PID changes), so a ``kill -9`` of
    the parent never leaves workers rendering on. The SIGTERM goes through the worker's handler, so it removes
    its temporary file on the way out; a worker still alive ``grace_s`` later (stuck in native code) exits
    hard, and the next run removes what it left."""
    parent = os.getppid()

    def poll() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=poll, name="simkit-parent-watch", daemon=True).start()
