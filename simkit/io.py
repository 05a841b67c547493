"""Atomic writes, hashing and provenance helpers shared by every writer in simkit."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any


def _default_file_mode() -> int:
    # mkstemp creates 0600 files; finished outputs get the mode an ordinary open() would give them
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(final: Path | str, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it over ``final`` only if the block succeeds.

    A crash leaves at most a ``*.tmp`` file, never a file under the final name that looks complete.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _default_file_mode())
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write text atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


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
    from simkit.errors import SimkitError

    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-test-"):
            pass
    except OSError as e:
        raise SimkitError(f"output directory {p} is not writable ({e.strerror or e})") from None
    return p
