"""The ``simkit`` command line: a thin typer layer that parses options and calls library functions.

Each command group lives in its own module and registers itself on ``app``; errors derived from
:class:`simkit.errors.SimkitError` are printed as one ``error:`` line with a non-zero exit. Anything else is
one ``error: unexpected ...`` line too, exit 1 (its traceback only with ``--debug`` or ``SIMKIT_DEBUG=1``),
and a stdout whose reader went away (``simkit ... | head``) ends the command quietly, exit 141.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import traceback

import typer

from simkit.errors import SimkitError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from simkit.cli import bench, prepare, render, scenes, video  # noqa: F401


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


DEBUG_ENV = "SIMKIT_DEBUG"
_debug_flag = False  # set by the global --debug option


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help=f"Print the traceback of an unexpected error (as "
                                                      f"{DEBUG_ENV}=1 does)."),
) -> None:
    global _debug_flag
    _debug_flag = debug


def _debugging() -> bool:
    """``--debug`` given, or ``SIMKIT_DEBUG`` set to anything but empty or ``0``."""
    return _debug_flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _both(name: str) -> tuple[type[BaseException], ...]:
    """``typer.<name>`` and click's own ``<name>`` where click has one: typer 0.29's bundled click has no
    ``Exit`` or ``Abort`` (typer raises its own), while older typers let click's reach the caller."""
    found = [getattr(typer, name)]
    other = getattr(_click_exceptions(), name, None)
    if isinstance(other, type) and issubclass(other, BaseException) and other not in found:
        found.append(other)
    return tuple(found)


def _stream_id(fd: int) -> tuple[int, int] | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _pipe_reader_gone(fd: int) -> bool:
    """Whether ``fd`` is a pipe whose reading end has been closed (poll reports an error on its writing end)."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return False


def _broken_pipe(e: BaseException, stdout_id: tuple[int, int] | None) -> bool:
    """``e`` is a write to our stdout or stderr after its reader went away (``simkit ... | head``): a
    ``BrokenPipeError``, or Rich's ``SystemExit(1)`` raised while handling one (Rich then points stdout at
    /dev/null). A broken pipe to anything else (a subprocess) is no reason to exit quietly."""
    if not isinstance(e, BrokenPipeError) and not isinstance(e.__context__, BrokenPipeError):
        return False
    return _stream_id(1) != stdout_id or _pipe_reader_gone(1) or _pipe_reader_gone(2)


BROKEN_PIPE_EXIT = 128 + 13  # SIGPIPE: what a tool killed by SIGPIPE gives (`yes | head`)


def _quiet_exit_on_broken_pipe() -> None:
    """Exit 141 without a word: stdout (and stderr, if its reader is gone too) go to /dev/null first, so that
    Python's final flush of what they still buffer raises no second BrokenPipeError at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    if _pipe_reader_gone(2):
        os.dup2(devnull, 2)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.exit(BROKEN_PIPE_EXIT)


def _say(line: str) -> None:
    """Print one line on stderr; a stderr that is gone cannot be told anything."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def _unexpected(e: BaseException) -> None:
    """An exception simkit did not expect (a bug, MemoryError, a library's SystemExit): one ``error:`` line,
    the traceback only when debugging, exit 1."""
    cause = e
    if isinstance(e, SystemExit) and isinstance(e.__context__, Exception):
        cause = e.__context__  # a library's sys.exit while handling an error (click's on EPIPE): name that error
    if isinstance(cause, SystemExit):
        what = f"SystemExit({cause.code!r})"
    else:
        text = str(cause).strip()
        what = type(cause).__name__ + (f": {text.splitlines()[0]}" if text else "")
    if _debugging():
        traceback.print_exception(e, file=sys.stderr)
        _say(f"error: unexpected {what}")
    else:
        _say(f"error: unexpected {what}; rerun with {DEBUG_ENV}=1 (or simkit --debug ...) for the traceback")
    sys.exit(1)


def main() -> None:
    """Console-script entry point: every failure the user can cause is one ``error:`` line and an exit code
    (2 bad input or usage, 1 a failed write or an unexpected error, 128 + signal number on SIGINT/SIGTERM);
    a closed stdout (``simkit ... | head``) ends the command quietly with 141."""
    from simkit import signals
    from simkit.errors import Interrupted

    signals.install()
    stdout_id = _stream_id(1)
    click_ex = _click_exceptions()
    try:
        _register()
        rc = app(standalone_mode=False)
        sys.stdout.flush()  # here, not at interpreter exit: a reader that went away is a broken pipe we handle
    except SimkitError as e:
        _say(f"error: {e}")
        sys.exit(e.exit_code)
    except Interrupted as e:
        _say(f"error: interrupted by {e.signal_name}; finished outputs are kept and a re-run resumes")
        sys.exit(e.exit_code)
    except click_ex.NoArgsIsHelpError as e:
        print(e.format_message())  # bare `simkit` (or a group): the help is what was asked for
        sys.exit(0)
    except click_ex.ClickException as e:
        sys.exit(_usage_error(e))
    except _both("Exit") as e:
        sys.exit(getattr(e, "exit_code", 0))
    except _both("Abort"):
        _say("error: aborted")
        sys.exit(130)
    except KeyboardInterrupt:  # a Ctrl-C that arrived before the handler was installed
        _say("error: interrupted by SIGINT")
        sys.exit(130)
    except (Exception, SystemExit) as e:
        # simkit's commands never call sys.exit (they raise typer.Exit), so a SystemExit here is a library's
        if _broken_pipe(e, stdout_id):
            _quiet_exit_on_broken_pipe()
        _unexpected(e)
    # standalone_mode=False returns the exit code typer/click chose (e.g. 130 for a KeyboardInterrupt)
    if isinstance(rc, int) and rc != 0:
        if rc == 130:
            _say("error: interrupted by SIGINT")
        sys.exit(rc)
