"""The typed manifest (``manifest.json``, docs/dataset-format.md): written by
:class:`simkit.data.writer.DatasetWriter`, read by :func:`simkit.data.opener.open_dataset`.

A :class:`Manifest` turns into the JSON object and back with :meth:`Manifest.to_dict` and
:meth:`Manifest.from_dict`, symmetrically (``from_dict(d).to_dict() == d`` for every manifest simkit has
written), in the manner of lhotse's ``Recording.to_dict``/``from_dict`` (``lhotse/audio/recording.py``) and
its manifest (de)serialisation (``lhotse/serialization.py``). Keys a pipeline adds of its own (a render's
``engine``, ``hrtf``, ``licences``; curate's ``curation``) are kept as they are in :attr:`Manifest.extra`.

Every manifest simkit wrote has ``config_hash``, ``config`` and ``scenes``. Older ones still open: those
written before the dataset contract (simkit render before 2026-12-01) have
no ``origin``, ``groups`` or ``protocols``; such a field is None here and stays absent in ``to_dict``
(readers fall back: :func:`simkit.data.layout.protocols_of` gives the default protocol, the opener takes the
groups from the shards). ``schema_version`` is the manifest's version field (:data:`SCHEMA_VERSION`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from simkit.data import layout
from simkit.data.schema import GROUPS, SCHEMA_VERSION
from simkit.errors import SimkitError
from simkit.io import package_versions, stable_hash

# JSON type of every typed field: from_dict refuses a manifest whose field has another one
_TYPES: dict[str, tuple[type, ...]] = {
    "schema_version": (int,), "config": (dict,), "config_hash": (str,), "origin": (dict,), "groups": (list,),
    "protocols": (dict,), "scenes": (dict,), "versions": (dict,), "tool": (str,), "tasks": (list,),
}


@dataclass
class Manifest:
    """What a dataset is: its resolved ``config`` and hash, where it came from (``origin``,
    :func:`simkit.data.layout.origin`), the groups every shard has, the named protocols, ``scenes`` (shard id
    -> split under the default protocol), package versions, the tool that wrote it, the tasks it serves, and
    the pipeline's own keys (``extra``). None = absent (a manifest from before that field)."""

    config_hash: str
    config: dict[str, Any] = field(default_factory=dict)
    schema_version: int | None = SCHEMA_VERSION
    origin: dict[str, Any] | None = None
    groups: list[str] | None = None
    protocols: dict[str, dict[str, Any]] | None = None
    scenes: dict[str, str] = field(default_factory=dict)  # every manifest simkit wrote has them
    versions: dict[str, str] | None = None
    tool: str | None = None
    tasks: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        *,
        origin: Mapping[str, Any],
        config: Mapping[str, Any],
        groups: Sequence[str],
        protocols: Mapping[str, Mapping[str, Any]] | None = None,
        scenes: Mapping[str, str] | None = None,
        config_hash: str | None = None,
        tool: str | None = None,
        tasks: Sequence[str] | None = None,
        **extra: Any,
    ) -> Manifest:
        """A new manifest (:func:`simkit.data.writer.new_manifest`): the ``default`` protocol always, groups
        in schema order, scenes sorted, this install's package versions. No timestamps: equal commands give
        equal bytes."""
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown group(s) {unknown} (known: {', '.join(GROUPS)})")
        protos = {layout.DEFAULT_PROTOCOL: layout.protocol_entry("the dataset's own split")}
        protos.update({k: dict(v) for k, v in (protocols or {}).items()})
        for name in protos:
            layout.check_name("protocol", name)
        return cls(
            config_hash=config_hash or stable_hash(dict(config)), config=dict(config), origin=dict(origin),
            groups=[g for g in GROUPS if g in groups], protocols=protos, scenes=dict(sorted((scenes or {}).items())),
            versions=package_versions(), tool=tool, tasks=None if tasks is None else list(tasks), extra=dict(extra),
        )

    @property
    def version(self) -> int:
        """The schema version (1 for a manifest that does not say)."""
        return 1 if self.schema_version is None else self.schema_version

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``manifest.json`` (fields that are None are left out)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        for k, v in self.extra.items():
            if k in out:
                raise ValueError(f"manifest extra key {k!r} shadows a field")
            out[k] = v
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest") -> Manifest:
        """The manifest of a parsed ``manifest.json``; SimkitError naming ``where`` and the first bad field.
        Reads every manifest simkit has written (see the module docstring)."""
        if not isinstance(data, Mapping) or "config_hash" not in data:
            raise SimkitError(f"{where} is not a simkit manifest (no config_hash)")
        known = {f.name for f in fields(cls)} - {"extra"}
        for key, types in _TYPES.items():
            value = data.get(key)
            # bool is an int to Python, never a version number to a manifest
            if key in data and value is not None and (not isinstance(value, types) or isinstance(value, bool)):
                raise SimkitError(f"{where}: field {key} must be a JSON {_json_type(types[0])} "
                                  f"(got {type(value).__name__})")
        kwargs = {k: data[k] for k in known if k in data}
        kwargs.setdefault("schema_version", None)  # absent stays absent: to_dict gives back what was read
        if kwargs.get("scenes") is None:
            kwargs["scenes"] = {}
        return cls(**kwargs, extra={k: v for k, v in data.items() if k not in known})


def _json_type(t: type) -> str:
    return {int: "integer", dict: "object", list: "array", str: "string"}[t]
