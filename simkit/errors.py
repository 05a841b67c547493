"""User-facing errors: the CLI prints ``error: <message>`` on one line and exits non-zero."""


class SimkitError(Exception):
    """An error caused by user input or the environment, reported as one clear line."""

    exit_code = 2
