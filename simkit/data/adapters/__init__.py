"""``simkit prepare`` adapters: one module per published dataset, lhotse-recipe style.

An adapter is one file in this package defining an :class:`Adapter` subclass decorated with
:func:`register_adapter` - nothing else to edit (the registry imports every module of the package). It has
two steps, both pure functions of the source and the options:

* :meth:`Adapter.scan` checks the source layout *before anything is written* (every file the dataset
  needs exists, has the published sample rate/shape, every split entry names a clip that exists) and
  returns a :class:`Plan`: the units (one shard each), the split protocols and facts for the manifest.
  Any problem is a SimkitError naming the first bad file.
* :meth:`Adapter.build` turns one unit into a :class:`ShardData` (decoding, resampling, labels). With
  ``--workers``/``--executor`` it runs in worker processes or Ray tasks: the adapter, with whatever ``scan``
  stored on it, is pickled to them, so it must be picklable (plain data, module-level classes) and a build
  must not depend on earlier builds (a cache is fine, a running counter is not).

:func:`simkit.data.prepare.prepare` drives them through :class:`simkit.data.writer.DatasetWriter`:
idempotent, resumable per unit, atomic, deterministic, with a progress bar; the split files are written
last, so an interrupted or failed prepare never looks complete.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from simkit.config import from_dict
from simkit.errors import SimkitError
from simkit.registry import Registry

if TYPE_CHECKING:
    from simkit.audio.speech import SpeechSource

TASK_SAMPLE_RATE = 16000  # the tasks' rate (the binaural protocol and the direction models)


@dataclass
class Unit:
    """One shard to write: its id and whatever :meth:`Adapter.build` needs (picklable, e.g. paths)."""

    shard_id: str
    payload: Any = None


@dataclass
class Protocol:
    """A named split protocol: entries (``shard`` or ``shard#set``) per split, a description and a family."""

    splits: dict[str, list[str]]
    description: str
    family: str | None = None


@dataclass
class Plan:
    """What :meth:`Adapter.scan` found: units in write order, protocols (``default`` = the one used when a
    bench gives no ``--protocol``; ``default_alias`` names the protocol it repeats) and manifest facts."""

    units: list[Unit]
    protocols: dict[str, Protocol]
    default_alias: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class ShardData:
    """The arrays and attributes of one shard (see :meth:`simkit.data.writer.DatasetWriter.write_shard`)."""

    arrays: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    group_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: list[str] | None = None


@dataclass
class CommonOptions:
    """Options every adapter takes (``simkit prepare`` flags)."""

    sample_rate: int = TASK_SAMPLE_RATE  # audio is resampled to this rate (soxr, very high quality)
    max_units: int = 0  # prepare only the first N units of each split protocol's union (0 = all); for trials


@dataclass
class NoOptions:
    """The options of an adapter that takes none (a module-level class, so adapters pickle for the executors)."""


class Adapter(abc.ABC):
    """Base class of the ``simkit prepare`` adapters; see the module docstring."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    homepage: ClassVar[str] = ""
    groups: ClassVar[tuple[str, ...]] = ()
    tasks: ClassVar[tuple[str, ...]] = ()  # the bench tasks the prepared set serves
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any, common: CommonOptions) -> None:
        self.options = options
        self.common = common

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        scan = cls.__dict__.get("scan")
        if scan is not None and not getattr(scan, "absolute_src", False):
            # every adapter's scan sees SRC absolute (source_root), however it was called: prepare() or the API

            @functools.wraps(scan)
            def scan_absolute(self: Adapter, src: Path | str, *args: Any, **kwargs: Any) -> Plan:
                return scan(self, source_root(src), *args, **kwargs)

            scan_absolute.absolute_src = True  # type: ignore[attr-defined]
            cls.scan = scan_absolute  # type: ignore[method-assign]

    @abc.abstractmethod
    def scan(self, src: Path) -> Plan:
        """Check the source and list every unit (shard) and split protocol, before anything is written."""

    @abc.abstractmethod
    def build(self, unit: Unit) -> ShardData:
        """Read one unit of the source and return its arrays and attributes."""

    def speech_source(self) -> SpeechSource:
        """The speech source of an adapter whose options have ``speech`` (a LibriSpeech root, or None for the
        built-in espeak-ng voices) and ``clip_seconds``; made on first use, so once per worker process."""
        if not hasattr(self, "_speech_source"):
            from simkit.audio.config import SpeechConfig
            from simkit.audio.speech import make_speech_source

            o = self.options
            self._speech_source = make_speech_source(SpeechConfig(corpus=str(o.speech) if o.speech else None,
                                                                  clip_seconds=o.clip_seconds))
        return self._speech_source


def source_root(src: Path | str) -> Path:
    """SRC as the absolute path every adapter works from (``~`` expanded, symlinks kept as given): paths an
    adapter builds as ``src / name`` are then absolute, so :func:`inside` reads each one in one way only."""
    return Path(src).expanduser().absolute()


def inside(src: Path, path: Path | str, where: str) -> Path:
    """``path`` (relative to SRC, or absolute, e.g. ``src / name``) as an absolute path, refused with a
    SimkitError starting ``where`` (the file and line that named it, and the name as written there) when it
    resolves outside SRC once ``..`` and symlinks are followed: a dataset may only name its own files, so a
    label such as ``../../home/me/secret.mp4``, an absolute path or a symlink out of SRC cannot pull another
    file into the prepared set. ``src`` must be absolute (:func:`source_root`): with a relative SRC a path
    built as ``src / name`` would be taken as relative to SRC a second time."""
    src = Path(src)
    if not src.is_absolute():
        raise ValueError(f"inside() needs an absolute source root (got {src}); see source_root()")
    full = src / path
    root = src.resolve()
    real = full.resolve()
    if real != root and root not in real.parents:
        raise SimkitError(f"{where} resolves to {real}, outside the source {root}; a dataset may only name "
                          "files inside it")
    return full


def tree_inside(src: Path, folder: Path, where: str) -> Path:
    """:func:`inside` for ``folder`` and every symlink below it (checked from the directory entries, so a
    folder of thousands of files costs one listing, not a stat per file); returns ``folder``."""
    inside(src, folder, where)
    todo = [Path(folder)]
    while todo:
        d = todo.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue  # a missing or unreadable folder is reported by the check that needs it
        for e in entries:
            if e.is_symlink():
                inside(src, e.path, f"{where}: {Path(e.path).relative_to(folder)}")
            elif e.is_dir(follow_symlinks=False):
                todo.append(Path(e.path))
    return Path(folder)


def random_split(n: int, rng: np.random.Generator, val: float = 0.1, test: float = 0.1) -> dict[str, list[int]]:
    """Seeded split of ``n`` items (sorted indices per split): ``val``/``test`` fractions rounded, at least one
    item each once there are three, the rest train (seed 000's random 80/10/10)."""
    order = rng.permutation(n)
    n_va = max(1, int(round(val * n))) if n >= 3 else 0
    n_te = max(1, int(round(test * n))) if n >= 3 else 0
    n_tr = n - n_va - n_te
    return {"train": sorted(order[:n_tr].tolist()), "val": sorted(order[n_tr:n_tr + n_va].tolist()),
            "test": sorted(order[n_tr + n_va:].tolist())}


ADAPTERS: Registry[type[Adapter]] = Registry("adapter", package="simkit.data.adapters")


def register_adapter(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator: add an :class:`Adapter` subclass to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"adapter class {cls.__name__} has no name")
    ADAPTERS.add(cls.name, cls)
    return cls


def get_adapter(name: str) -> type[Adapter]:
    """The adapter class registered as ``name`` (SimkitError listing the known ones otherwise)."""
    return ADAPTERS.get(name)


def parse_options(adapter: type[Adapter], given: Mapping[str, Any]) -> Any:
    """The adapter's Options dataclass from ``KEY=VALUE`` strings (or typed values), converted and checked by
    :func:`simkit.config.from_dict`; unknown keys and bad values raise one SimkitError naming the option."""
    opts_cls = adapter.Options
    names = [f.name for f in dataclasses.fields(opts_cls)]
    unknown = sorted(set(given) - set(names))
    if unknown:
        known = ", ".join(names) or "none"
        raise SimkitError(f"adapter {adapter.name} has no option(s) {', '.join(unknown)} (known: {known})")
    try:
        return from_dict(opts_cls, dict(given), text=True)
    except SimkitError as e:
        raise SimkitError(f"adapter {adapter.name} option {e}") from None


def options_dict(options: Any) -> dict[str, Any]:
    """Options as JSON-ready values (paths as strings) for the manifest's config."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(options).items()}
