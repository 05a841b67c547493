"""The ``serial`` executor: every unit in this process, in order (the default for one worker)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from simkit.executors import EXECUTORS, Done, ExecutorOptions, bind, finish


@EXECUTORS.register("serial")
def run_serial(fn: Callable[..., Any], keys: Sequence[str], args: Sequence[tuple], done: Done,
               opts: ExecutorOptions, shared: Any = None) -> None:
    """Every unit in this process, in order."""
    for key, a in zip(keys, args, strict=True):
        finish(key, lambda a=a: fn(*bind(a, shared)), done)
