"""Atomic writes, hashing and provenance helpers shared by every writer in simkit."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from simkit.errors import OutputError


def _default_file_mode() -> int:
    # mkstemp creates 0600 files; finished outputs get the mode an ordinary open() would give them
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


# errnos that mean "this output cannot be written here": the run stops with one line naming the path
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO}


def output_error(path: Path | str, e: OSError) -> OutputError:
    """The one-line error for a failed write of ``path``."""
    cause = {errno.EFBIG: "file size limit reached"}.get(e.errno or 0, e.strerror or str(e))
    return OutputError(f"cannot write {path}: {cause}")


def create_temporary(final: Path | str, suffix: str = ".tmp") -> tuple[int, Path]:
    """Create ``.<name>.<random><suffix>`` beside ``final`` (its folder made if needed), open for writing;
    returns ``(fd, path)``, which the caller closes and removes.

    Interrupt-safe: a SIGINT/SIGTERM that arrives meanwhile is held and raised once the file exists, and
    then the file is closed and removed before :class:`simkit.errors.Interrupted` goes on, so no temporary
    is orphaned. A failure to create it is :class:`OutputError` naming ``final``. Every simkit writer
    creates its temporaries here, so :func:`is_temporary` recognises what a killed one left.
    """
    from simkit.signals import deferred

    final = Path(final)
    fd, tmp_path = -1, None
    try:
        with deferred():  # an interrupt between creating the file and naming it here would orphan it
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
            tmp_path = Path(tmp)
    except BaseException as e:
        # a signal held by deferred() is raised as the block ends, after the file exists: close and remove it
        if fd >= 0:
            os.close(fd)
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink()
        if isinstance(e, OSError):
            raise output_error(final, e) from None
        raise
    return fd, tmp_path


def is_temporary(name: str, legacy: tuple[str, ...] = ()) -> bool:
    """Whether the file name ``name`` is a temporary a killed simkit writer left: ``.<name>.<random>.tmp``
    (:func:`create_temporary`; the spool's ``.spool.tmp`` too), or ``.<...>.<ext>`` for an extension in
    ``legacy`` (the temporaries of older writers, e.g. egovideo's ``mp4``)."""
    return name.startswith(".") and any(name.endswith(f".{ext}") and len(name) > len(ext) + 2
                                        for ext in ("tmp", *legacy))


@contextlib.contextmanager
def atomic_path(final: Path | str, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it over ``final`` only if the block succeeds.

    A crash leaves at most a ``.<name>.*.tmp`` file, never a file under the final name that looks complete;
    an interrupt or error removes the temporary file. A full disk, a file-size limit or a permission problem
    becomes :class:`OutputError` naming ``final``.
    """
    final = Path(final)
    fd, tmp_path = create_temporary(final, suffix)
    try:
        os.close(fd)
        yield tmp_path
        os.chmod(tmp_path, _default_file_mode())
        os.replace(tmp_path, final)
    except OSError as e:
        if e.errno in _OUTPUT_ERRNOS:
            raise output_error(final, e) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink()


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a short write is retried, an error raised)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[n:]


def fsync_dir(path: Path | str) -> None:
    """fsync a directory so a rename in it survives a power cut (best effort where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` (truncated): every byte written and the length checked, then fsynced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size != len(data):
        raise OSError(errno.EIO, f"wrote {size} of {len(data)} bytes")


def atomic_write_bytes(path: Path | str, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` atomically: every byte written and length-checked, fsynced, then renamed into place."""
    path = Path(path)
    with atomic_path(path) as tmp:
        write_file(tmp, data, fsync)
    if fsync:
        fsync_dir(path.parent)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write text atomically (temp file + rename)."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=False)


def atomic_write_json(path: Path | str, obj: Any) -> None:
    """Write JSON atomically, keys sorted so equal objects give equal bytes."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def stable_hash(obj: Any, length: int = 16) -> str:
    """Short sha256 of the canonical JSON of ``obj`` (the config hash)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def file_sha256(path: Path | str, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def package_versions(names: tuple[str, ...] = (
    "simkit", "numpy", "scipy", "h5py", "torch", "rlr-audio-propagation", "trimesh", "embreex",
    "soundfile", "soxr", "espeakng-loader", "pyroomacoustics",
)) -> dict[str, str]:
    """Installed versions of the packages a run depends on (``missing`` when absent)."""
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "missing"
    return out


def check_writable_dir(path: Path | str) -> Path:
    """Create ``path`` if needed and prove it is writable; raise SimkitError naming it otherwise."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-test-"):
            pass
    except OSError as e:
        raise OutputError(f"output directory {p} is not writable ({e.strerror or e})") from None
    return p
