"""The ``simkit`` command line: a thin typer layer that parses options and calls library functions.

Each command group lives in its own module and registers itself on ``app``; errors derived from
:class:`simkit.errors.SimkitError` are printed as one ``error:`` line with a non-zero exit.
"""

from __future__ import annotations

import sys

import typer

from simkit.errors import SimkitError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from simkit.cli import bench, prepare, render, video  # noqa: F401


def main() -> None:
    """Console-script entry point."""
    _register()
    try:
        app(standalone_mode=False)
    except SimkitError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # click usage errors arrive here with standalone_mode=False
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
