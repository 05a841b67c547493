"""A tiny name -> object registry: a new model, task, metric, engine or adapter is one file and one registration.

Registries load their built-in entries lazily: ``Registry(kind, package="pkg")`` imports every module of the
package and of its sub-packages (modules register themselves on import, with a decorator or a call) the first
time the registry is read, so adding a file is all it takes; ``modules=(...)`` names modules explicitly.

Third-party plug-ins need no registry edit either: ``get("pkg.module:Name")`` imports ``pkg.module`` (which
registers its entries as the built-in ones do) and returns the entry registered as ``Name``, or the entry
made from the module attribute ``Name`` (e.g. the decorated class or function), as HEAR's evaluation kit
loads any module by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from simkit.errors import SimkitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (classes, factories, specs); unknown names raise a one-line SimkitError."""

    def __init__(self, kind: str, modules: Sequence[str] = (), package: str | None = None) -> None:
        self.kind = kind
        self.modules = tuple(modules)
        self.package = package
        self._items: dict[str, T] = {}
        # id(decorated object) -> (object, name), for dotted-path look-ups; the object is kept so its id stays its
        self._sources: dict[int, tuple[object, str]] = {}
        self._loaded = not self.modules and package is None

    def load_builtin(self) -> None:
        """Import the built-in modules once (they register on import)."""
        if self._loaded:
            return
        self._loaded = True  # first, so modules that read the registry while importing do not recurse
        mods = list(self.modules)
        if self.package is not None:
            pkg = importlib.import_module(self.package)
            # walk_packages imports each sub-package to list it; "_private" modules are helpers, not entries
            mods += [m.name for m in pkgutil.walk_packages(pkg.__path__, f"{self.package}.")
                     if not any(part.startswith("_") for part in m.name.split("."))]
        for mod in mods:
            importlib.import_module(mod)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")``."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T, source: object = None) -> None:
        """Register ``obj`` as ``name``; ``source`` is the module-level object it was made from (a decorated
        class or function), so ``get("module:attribute")`` finds the entry from its attribute."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = obj
        src = obj if source is None else source
        self._sources[id(src)] = (src, name)

    def get(self, name: str) -> T:
        """The entry registered as ``name``, or for ``"pkg.module:Name"`` the plug-in entry it names."""
        if ":" in name:
            return self._get_path(name)
        self.load_builtin()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise SimkitError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def _get_path(self, path: str) -> T:
        """Import ``module`` of ``module:attr`` and return the entry it registered as ``attr`` or made from
        the module's attribute ``attr``; anything else is a one-line SimkitError."""
        self.load_builtin()  # built-ins first: a plug-in reusing a built-in name is then refused by add()
        module, _, attr = path.partition(":")
        if not module or not attr:
            raise SimkitError(f"{self.kind} {path!r}: a plug-in is named as package.module:Name")
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise SimkitError(f"{self.kind} {path!r}: cannot import {module} ({e})") from None
        except ValueError as e:  # e.g. the plug-in registers a name that is already taken
            raise SimkitError(f"{self.kind} {path!r}: {e}") from None
        obj: Any = getattr(mod, attr, None)
        name = self._sources[id(obj)][1] if obj is not None and id(obj) in self._sources else None
        if name is None and obj is None and attr in self._items:
            name = attr  # registered by a call (e.g. a family of variants), not an attribute
        if name is None:
            what = f"module {module} has no attribute {attr}" if obj is None else \
                f"{module}.{attr} is not a registered {self.kind}"
            raise SimkitError(f"{self.kind} {path!r}: {what} (docs/extending.md: registering a {self.kind})")
        return self._items[name]

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
