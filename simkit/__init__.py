"""simkit: acoustic simulation and benchmark toolkit for audio-visual spatial hearing.

The Python API (docs/api.md): :func:`render`, :func:`prepare`, :func:`curate`, :func:`open_dataset`,
:func:`bench` and :func:`leaderboard`, defined in :mod:`simkit.api` and loaded on first use, so
``import simkit`` imports neither torch nor any simkit part.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_API = ("render", "prepare", "curate", "open_dataset", "bench", "leaderboard")
# These three are also subpackages (simkit/render/, simkit/curate/, simkit/bench/), and importing a subpackage
# sets it as an attribute of this module. The module class below keeps the names on the functions: each is an
# _Entry that calls the API function and forwards every other attribute to the subpackage, so both
# `simkit.render(out)` and `simkit.render.pipeline` (or `import simkit.render.config as c`) keep working.
_SHARED = ("render", "curate", "bench")
__all__ = ["__version__", *_API]


def _function(name: str) -> Any:
    return getattr(importlib.import_module("simkit.api"), name)


class _Entry:
    """``simkit.<name>``: the API function when called; the subpackage ``simkit.<name>`` otherwise."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _function(self._name)(*args, **kwargs)

    @property
    def __wrapped__(self) -> Any:  # inspect.signature / help show the function's typed signature
        return _function(self._name)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return _function(self._name).__doc__

    def _package(self) -> types.ModuleType:
        return importlib.import_module(f"simkit.{self._name}")

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._package(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:  # e.g. monkeypatch of a subpackage attribute
        setattr(self._package(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._package(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._package())

    def __repr__(self) -> str:
        return f"<simkit.{self._name}: function simkit.api.{self._name} and package simkit.{self._name}>"


def _shared(name: str) -> property:
    entry = _Entry(name)

    def get(self: types.ModuleType) -> _Entry:
        return entry

    def set_(self: types.ModuleType, value: Any) -> None:
        self.__dict__[name] = value  # the import system records the subpackage; the entry reaches it anyway

    return property(get, set_)


class _Simkit(types.ModuleType):
    render = _shared("render")
    curate = _shared("curate")
    bench = _shared("bench")


sys.modules[__name__].__class__ = _Simkit


def __getattr__(name: str) -> Any:
    if name in _API:
        return _function(name)
    raise AttributeError(f"module 'simkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
