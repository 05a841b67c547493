"""A tiny name -> object registry so a new model, task, metric, backend or adapter is one registration.

Registries load their built-in entries lazily: ``Registry(kind, modules=(...))`` imports the named modules
(which register themselves on import) the first time the registry is read, ``package="pkg"`` imports every
module of a package (a new adapter is then one file and nothing else).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from simkit.errors import SimkitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (classes, factories, specs); unknown names raise a one-line SimkitError."""

    def __init__(self, kind: str, modules: Sequence[str] = (), package: str | None = None) -> None:
        self.kind = kind
        self.modules = tuple(modules)
        self.package = package
        self._items: dict[str, T] = {}
        self._loaded = not self.modules and package is None

    def load_builtin(self) -> None:
        """Import the built-in modules once (they register on import)."""
        if self._loaded:
            return
        self._loaded = True  # first, so modules that read the registry while importing do not recurse
        mods = list(self.modules)
        if self.package is not None:
            pkg = importlib.import_module(self.package)
            mods += [f"{self.package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)
                     if not m.name.startswith("_")]
        for mod in mods:
            importlib.import_module(mod)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")``."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        self.load_builtin()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise SimkitError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        self.load_builtin()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs in name order."""
        return [(n, self._items[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        self.load_builtin()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
