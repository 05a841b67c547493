"""simkit.io: atomic writes leave no temporary, whatever interrupts them."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path

import pytest

from simkit import io, signals
from simkit.errors import Interrupted


def test_signal_held_while_the_temporary_is_created_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    # A SIGTERM that arrives inside atomic_path's deferred() block (between mkstemp and the try/finally
    # that removes the file) is raised when the block ends: the file it created must not be orphaned.
    real_mkstemp = tempfile.mkstemp

    def mkstemp_then_signal(*args, **kwargs):
        fd_name = real_mkstemp(*args, **kwargs)
        signals.raise_or_defer(signal.SIGTERM)  # what the handler does for a signal inside deferred()
        return fd_name

    monkeypatch.setattr(io.tempfile, "mkstemp", mkstemp_then_signal)
    with pytest.raises(Interrupted), io.atomic_path(tmp_path / "shard.h5") as tmp:
        tmp.write_bytes(b"never")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_renames_on_success_and_removes_on_error(tmp_path: Path) -> None:
    with io.atomic_path(tmp_path / "a.bin") as tmp:
        tmp.write_bytes(b"done")
    with pytest.raises(RuntimeError), io.atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"] and (tmp_path / "a.bin").read_bytes() == b"done"
