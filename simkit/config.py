"""The one converter and validator of simkit's configs, and the one JSON loader (docs/configuration.md).

Every config is a plain dataclass owned by its package (``RenderConfig`` in :mod:`simkit.render.config`,
``AcousticsConfig`` in :mod:`simkit.acoustics.config`, ``BenchConfig`` in :mod:`simkit.bench.config`, an
adapter's ``Options``, ...). This module knows none of them; it gives them:

* :func:`setting`: a dataclass field with its allowed values declared next to its default (``min``/``max``
  closed bounds, ``above``/``below`` open ones, ``choices``, an optional ``label`` such as ``--epochs`` shown
  in messages instead of the field's dotted name). The declaration lives in the field's metadata under
  ``"check"`` as a :class:`Check`; fields without one only have their type checked;
* :func:`from_dict`: a (nested) dataclass from JSON-like data, checking every value's type against the
  field's annotation and then every declared range; ``text=True`` also parses strings (``KEY=VALUE``
  options) into the field's type;
* :func:`validate`: the same type and range checks on a dataclass instance (one built in Python);
* :func:`parse_key_values`: the one ``KEY=VALUE`` parser (``--option``);
* :func:`load_config`: defaults, deep-merged with a JSON file, then dotted overrides, then :func:`from_dict`;
* :func:`to_dict` and :func:`config_hash`: what runs write next to their outputs.

Rules that need a package's knowledge (a preset exists, views fit the yaw range) stay with the package.
Conversion policy: JSON numbers are the only numbers; an ``int`` field takes an integral float (``4.0``,
as a ``KEY=VALUE`` parse or a JSON writer may give) and refuses ``4.5``; a ``float`` field takes an int;
booleans are never numbers; floats must be finite. Every failure is one SimkitError naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any

from simkit.errors import SimkitError
from simkit.io import stable_hash

TEXT_TRUE = ("true", "1", "yes")
TEXT_FALSE = ("false", "0", "no")
TEXT_NONE = ("", "none")


@dataclass(frozen=True)
class Check:
    """Allowed values of one field: closed bounds ``min``/``max``, open bounds ``above``/``below``,
    ``choices``; ``label`` replaces the dotted field name in messages; ``unit`` follows the bounds."""

    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple[Any, ...] | None = None
    label: str | None = None
    unit: str = ""

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (the text after "must be"), or None."""
        if value is None:
            return None  # an Optional field left unset is always allowed
        if self.choices is not None:
            if value not in self.choices:
                return f"one of {', '.join(str(c) for c in self.choices)} (got {value!r})"
            return None
        lo_ok = (self.min is None or value >= self.min) and (self.above is None or value > self.above)
        hi_ok = (self.max is None or value <= self.max) and (self.below is None or value < self.below)
        if lo_ok and hi_ok:
            return None
        unit = f" {self.unit}" if self.unit else ""
        lo = (f"[{_num(self.min)}" if self.min is not None else
              f"({_num(self.above)}" if self.above is not None else None)
        hi = (f"{_num(self.max)}]" if self.max is not None else
              f"{_num(self.below)})" if self.below is not None else None)
        if lo and hi:
            return f"in {lo}, {hi}{unit} (got {value})"
        if lo:
            return f"{'>=' if self.min is not None else '>'} {lo[1:]}{unit} (got {value})"
        return f"{'<=' if self.max is not None else '<'} {hi[:-1]}{unit} (got {value})"


def _num(x: float | None) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def setting(default: Any = MISSING, *, default_factory: Any = MISSING, min: float | None = None,
            max: float | None = None, above: float | None = None, below: float | None = None,
            choices: Iterable[Any] | None = None, label: str | None = None, unit: str = "") -> Any:
    """A dataclass field whose allowed values are declared with it (see :class:`Check`)."""
    check = Check(min=min, max=max, above=above, below=below, label=label, unit=unit,
                  choices=tuple(choices) if choices is not None else None)
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata={"check": check})
    return dataclasses.field(default=default, metadata={"check": check})


def _name(f: dataclasses.Field, where: str) -> str:
    check = f.metadata.get("check")
    if check is not None and check.label:
        return check.label
    return f"{where}.{f.name}" if where else f.name


def from_dict(cls: type, data: Mapping[str, Any], where: str = "", *, text: bool = False) -> Any:
    """Rebuild a (nested) config dataclass from ``to_dict`` output (e.g. a ``--config`` JSON file), checking
    every value's type against the field's annotation and every declared :class:`Check`. Unknown keys, wrong
    types and values out of range raise one SimkitError naming the dotted field (prefixed by ``where``).
    ``text=True``: string values are parsed into the field's type (``KEY=VALUE`` options)."""
    if not isinstance(data, Mapping):
        raise SimkitError(f"config {where or cls.__name__} must be a JSON object (got {_shown(data)})")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            name = f"{where}.{key}" if where else key
            raise SimkitError(f"unknown config field {name} (known: {', '.join(sorted(fields))})")
        f = fields[key]
        sub = f"{where}.{key}" if where else key
        kwargs[key] = convert(hints[key], value, _name(f, where), text=text, where=sub)
    obj = cls(**kwargs)
    _check_ranges(obj, where)
    return obj


def validate(obj: Any, where: str = "") -> None:
    """Type and range checks of an existing config dataclass and every dataclass nested in it (one built in
    Python skips :func:`from_dict`); one SimkitError naming the first bad field."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, f"{where}.{f.name}" if where else f.name)
        else:
            convert(hints[f.name], value, _name(f, where))
    _check_ranges(obj, where)


def _check_ranges(obj: Any, where: str) -> None:
    for f in dataclasses.fields(obj):
        check = f.metadata.get("check")
        if check is not None:
            why = check.problem(getattr(obj, f.name))
            if why is not None:
                raise SimkitError(f"{_name(f, where)} must be {why}")


def _shown(value: Any) -> str:
    return f"{value!r}" if not isinstance(value, (dict, list)) else type(value).__name__


def convert(tp: Any, value: Any, name: str, *, text: bool = False, where: str | None = None) -> Any:
    """``value`` as type ``tp`` (JSON types in, Python types out), or SimkitError naming ``name``; with
    ``text=True`` strings are parsed (``"4"`` -> 4 for an int). ``where``: dotted prefix of nested configs."""
    where = name if where is None else where
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            validate(value, where)
            return value
        if isinstance(value, str) and hasattr(tp, "named"):  # a preset by name, e.g. "storage": "float32"
            try:
                return tp.named(value)
            except SimkitError as e:
                raise SimkitError(f"config field {name}: {e}") from None
        return from_dict(tp, value, where, text=text)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        if text and type(None) in args and isinstance(value, str) and value.strip().lower() in TEXT_NONE:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return convert(inner[0], value, name, text=text, where=where)
        # several types: the first that takes the value, in declaration order; booleans are never numbers, so
        # True stays a bool in float | bool | str, and the text "true" becomes one
        for a in inner:
            try:
                return convert(a, value, name, text=text, where=where)
            except SimkitError:
                continue
        names = " or ".join(getattr(a, "__name__", str(a)) for a in inner)
        raise SimkitError(f"{name} must be {names} (got {_shown(value)})")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise SimkitError(f"{name} must be a list (got {_shown(value)})")
        if origin is tuple and Ellipsis not in args:
            if len(value) != len(args):
                raise SimkitError(f"{name} must have {len(args)} elements (got {len(value)})")
            return tuple(convert(a, v, f"{name}[{i}]", text=text) for i, (a, v) in
                         enumerate(zip(args, value, strict=True)))
        return origin(convert(args[0], v, f"{name}[{i}]", text=text) for i, v in enumerate(value))
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise SimkitError(f"{name} must be an object (got {_shown(value)})")
        kt, vt = args if args else (Any, Any)
        return {convert(kt, k, f"{name} key", text=text): convert(vt, v, f"{name}.{k}", text=text)
                for k, v in value.items()}
    if text and isinstance(value, str) and tp in (bool, int, float):
        value = _from_text(tp, value, name)
    if tp is bool:
        if not isinstance(value, bool):
            raise SimkitError(f"{name} must be true or false (got {_shown(value)})")
        return value
    if tp is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)  # JSON has one number type: 4.0 is the integer 4 (4.5 is refused below)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SimkitError(f"{name} must be an integer (got {_shown(value)})")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SimkitError(f"{name} must be a number (got {_shown(value)})")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SimkitError(f"{name} must be a string (got {_shown(value)})")
        return value
    if tp is Path:
        if isinstance(value, Path):
            return value
        if not isinstance(value, str):
            raise SimkitError(f"{name} must be a path (got {_shown(value)})")
        return Path(value).expanduser()
    return value


def _from_text(tp: type, text: str, name: str) -> Any:
    """A ``KEY=VALUE`` string as a bool, int or float; left as is (and refused by the caller) when it is none."""
    t = text.strip()
    if tp is bool:
        low = t.lower()
        return True if low in TEXT_TRUE else False if low in TEXT_FALSE else text
    try:
        return float(t) if tp is float or not t.lstrip("+-").isdigit() else int(t)
    except ValueError:
        return text


def parse_key_values(items: Iterable[str], flag: str = "--option") -> dict[str, str]:
    """``KEY=VALUE`` items (``--option``, repeatable) as ``{key: value}`` with both stripped; a missing ``=``,
    key or value, or a key given twice, is a SimkitError naming ``flag``. Values stay strings: the config they
    feed converts them (:func:`from_dict` with ``text=True``)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or not key or not val.strip():
            raise SimkitError(f"{flag} expects KEY=VALUE (got {item!r})")
        if key in out:
            raise SimkitError(f"{flag} {key} given twice")
        out[key] = val.strip()
    return out


def read_json_object(path: Path | str, what: str = "config file") -> dict[str, Any]:
    """A JSON file holding an object; missing, unreadable, invalid or non-object files are one SimkitError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SimkitError(f"{what} {path} not found") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SimkitError(f"{what} {path} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise SimkitError(f"{what} {path} must hold a JSON object (got {type(data).__name__})")
    return data


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top: nested objects merge key by key, any other value replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def set_dotted(d: dict[str, Any], dotted: str, value: Any) -> None:
    """``d["a"]["b"] = value`` for ``dotted`` = ``"a.b"`` (missing objects are created)."""
    *parents, leaf = dotted.split(".")
    for i, p in enumerate(parents):
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise SimkitError(f"cannot set {dotted}: {'.'.join(parents[:i + 1])} is not an object")
    d[leaf] = value


def load_config(cls: type, path: Path | str | None = None, overrides: Mapping[str, Any] | None = None,
                *, text: bool = False) -> Any:
    """``cls``'s defaults, deep-merged with the JSON object in ``path`` (any subset of ``to_dict``'s keys),
    then ``overrides`` (dotted keys such as ``"sampling.views"``; None values are skipped, meaning "not
    given"), converted and checked by :func:`from_dict`. ``text=True``: override strings are parsed."""
    d = to_dict(cls())
    if path is not None:
        d = deep_merge(d, read_json_object(path))
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(d, key, value)
    return from_dict(cls, d, text=text)


def to_dict(obj: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-ready data (nested dataclasses as objects, tuples as lists on dump)."""
    return dataclasses.asdict(obj)


def config_hash(data: Any) -> str:
    """Stable hash of a config dataclass or of its (possibly trimmed) ``to_dict``."""
    return stable_hash(to_dict(data) if dataclasses.is_dataclass(data) else data)
