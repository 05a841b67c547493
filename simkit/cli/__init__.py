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
    from simkit.cli import bench, render  # noqa: F401


def _click_exceptions():  # noqa: ANN202 - the module differs between typer versions
    """Click's exception module: bundled as ``typer._click`` from typer 0.29 on, the ``click`` package before."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


def _usage_error(e: Exception) -> int:
    """Print a usage error as one ``error:`` line plus the usage hint; returns its exit code."""
    ctx = getattr(e, "ctx", None)
    message = e.format_message() if hasattr(e, "format_message") else str(e)
    print(f"error: {message}", file=sys.stderr)
    if ctx is not None:
        print(f"Try '{ctx.command_path} --help' for help.", file=sys.stderr)
    return int(getattr(e, "exit_code", 2))


def main() -> None:
    """Console-script entry point: every failure the user can cause is one ``error:`` line and an exit code
    (2 bad input or usage, 1 a failed write, 128 + signal number on SIGINT/SIGTERM)."""
    from simkit import signals
    from simkit.errors import Interrupted

    signals.install()
    _register()
    click_ex = _click_exceptions()
    try:
        rc = app(standalone_mode=False)
    except SimkitError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except Interrupted as e:
        print(f"error: interrupted by {e.signal_name}; finished outputs are kept and a re-run resumes",
              file=sys.stderr)
        sys.exit(e.exit_code)
    except click_ex.NoArgsIsHelpError as e:
        print(e.format_message())  # bare `simkit` (or a group): the help is what was asked for
        sys.exit(0)
    except click_ex.ClickException as e:
        sys.exit(_usage_error(e))
    except (typer.Exit, click_ex.Exit) as e:
        sys.exit(getattr(e, "exit_code", 0))
    except (typer.Abort, click_ex.Abort):
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:  # a Ctrl-C that arrived before the handler was installed
        print("error: interrupted by SIGINT", file=sys.stderr)
        sys.exit(130)
    # standalone_mode=False returns the exit code typer/click chose (e.g. 130 for a KeyboardInterrupt)
    if isinstance(rc, int) and rc != 0:
        if rc == 130:
            print("error: interrupted by SIGINT", file=sys.stderr)
        sys.exit(rc)
