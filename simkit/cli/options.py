"""Options shared by the commands that fan out through :mod:`simkit.executors` (render, prepare, curate)."""

from __future__ import annotations

from typing import Any

import typer


def workers_option(units: str) -> Any:
    """``--workers N``: ``units`` (e.g. "Scenes rendered") run at once."""
    return typer.Option(1, help=f"{units} in parallel (processes, or Ray CPUs of a local runtime); the data "
                                "do not depend on it.")


def executor_option() -> Any:
    """``--executor NAME``: the help lists :data:`simkit.executors.EXECUTORS`, so a new executor shows up."""
    from simkit.executors import EXECUTORS

    return typer.Option(None, help=f"{' | '.join(EXECUTORS.names())} (default: process for --workers > 1, else "
                                   "serial); the data do not depend on it (docs/executors.md).")


def ray_address_option() -> Any:
    """``--ray-address HOST:PORT``."""
    return typer.Option(None, help="Join the Ray cluster at this address (with --executor ray; default: start "
                                   "a local Ray runtime).")
