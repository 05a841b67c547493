"""What the fault tests share: the console script as a user runs it, and the one-error-line check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SIMKIT = str(Path(sys.executable).parent / "simkit")  # the console script of the interpreter running the tests


def one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The single ``error:`` line of ``proc``'s stderr, which must contain every one of ``needles``; no
    traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]
