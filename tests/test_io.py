"""simkit.io: atomic writes leave no temporary, whatever interrupts them."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest

from simkit import io, signals
from simkit.errors import Interrupted, OutputError


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


def _mkstemp_then_signal(created: list[tuple[int, str]]):
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        fd_name = real_mkstemp(*args, **kwargs)
        created.append(fd_name)
        signals.raise_or_defer(signal.SIGTERM)  # what the handler does for a signal inside deferred()
        return fd_name

    return mkstemp


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_create_temporary_closes_and_removes_the_file_when_a_held_signal_is_raised(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    created: list[tuple[int, str]] = []
    monkeypatch.setattr(io.tempfile, "mkstemp", _mkstemp_then_signal(created))
    with pytest.raises(Interrupted):
        io.create_temporary(tmp_path / "out" / "shard.h5", ".spool.tmp")
    assert len(created) == 1 and not _is_open(created[0][0])
    assert list((tmp_path / "out").iterdir()) == []


def test_create_temporary_names_the_target_when_it_cannot_create_the_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match=r"^cannot write .*file/x\.h5: "):
        io.create_temporary(tmp_path / "file" / "x.h5")  # its folder is a file
    fd, path = io.create_temporary(tmp_path / "x.h5")
    os.close(fd)
    assert path.parent == tmp_path and io.is_temporary(path.name)


@pytest.mark.parametrize(("name", "legacy", "want"), [
    (".x.h5.ab12.tmp", (), True), (".x.h5.ab12.spool.tmp", (), True), (".simkit-manifest.json.k.tmp", (), True),
    ("x.tmp", (), False), (".tmp", (), False), ("..tmp", (), False), (".x.mp4", (), False),
    (".ego_0000.mp4.k3.mp4", ("mp4", "mkv"), True), (".a.mkv", ("mp4", "mkv"), True), (".mp4", ("mp4",), False),
    ("a.mp4", ("mp4",), False),
])
def test_is_temporary(name: str, legacy: tuple[str, ...], want: bool) -> None:
    assert io.is_temporary(name, legacy) is want
