"""User-facing errors: the CLI prints ``error: <message>`` on one line and exits non-zero."""

from __future__ import annotations

import signal


class SimkitError(Exception):
    """An error caused by user input or the environment, reported as one clear line."""

    exit_code = 2


class OutputError(SimkitError):
    """Writing an output failed (full disk, file-size limit, permissions): the whole run stops, because every
    later write would fail the same way. Finished outputs are kept; the temporary file is removed."""

    exit_code = 1


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (see :mod:`simkit.signals`). A BaseException, like KeyboardInterrupt, so
    ``except Exception`` blocks do not swallow it; the CLI exits ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name
