"""Acoustic materials: the SoundSpaces / RLRAudioPropagation material JSON, validated, plus label lookup.

Schema (one file, ``{"materials": [...]}``), each entry::

    {"name": "carpet", "labels": ["carpet", "rug"],
     "absorption":   [125.0, 0.02, 250.0, 0.06, ...],   # flat [frequency_Hz, value, ...], ascending
     "scattering":   [125.0, 0.10, ...],                 # values in [0, 1]
     "transmission": [125.0, 0.004, ...],                # values in [0, 1]
     "damping":      [125.0, 3.65e-09, ...],             # medium damping per band, >= 0
     "density": 300.0, "speed": 500.0,                   # required by the engine's loader
     "reference": "where the numbers come from"}         # optional, simkit only

The engine resolves a mesh's material category by exact (case-insensitive) name or by *substring* match of
a label, and its choice among several matches is not reliably predictable. simkit therefore (a) rejects
databases where one name is a substring of another and (b) hands the engine each material with
``labels = [name]`` only; semantic labels stay on the Python side (:meth:`MaterialDatabase.for_label`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simkit.errors import SimkitError
from simkit.io import stable_hash
from simkit.resources import materials_path

SPECTRUM_KEYS = ("absorption", "scattering", "transmission", "damping")
_REQUIRED_KEYS = ("name", "labels", *SPECTRUM_KEYS, "density", "speed")
_OPTIONAL_KEYS = ("reference",)
_UNIT_INTERVAL = ("absorption", "scattering", "transmission")
DEFAULT_MATERIAL = "default"


Spectrum = tuple[tuple[float, float], ...]  # ((frequency_Hz, value), ...), frequencies ascending


@dataclass(frozen=True)
class Material:
    """One acoustic material; spectra are ``((frequency_Hz, value), ...)`` with ascending frequencies."""

    name: str
    labels: tuple[str, ...]
    absorption: Spectrum
    scattering: Spectrum
    transmission: Spectrum
    damping: Spectrum
    density: float
    speed: float
    reference: str = ""

    def value_at(self, quantity: str, frequency: float) -> float:
        """Band value interpolated linearly in log-frequency, held constant beyond the first/last band."""
        bands: Spectrum = getattr(self, quantity)
        freqs = [f for f, _ in bands]
        vals = [v for _, v in bands]
        if frequency <= freqs[0]:
            return vals[0]
        if frequency >= freqs[-1]:
            return vals[-1]
        for i in range(1, len(freqs)):
            if frequency <= freqs[i]:
                w = math.log(frequency / freqs[i - 1]) / math.log(freqs[i] / freqs[i - 1])
                return (1.0 - w) * vals[i - 1] + w * vals[i]
        return vals[-1]

    def to_dict(self) -> dict[str, Any]:
        """The schema entry (flat band lists), semantic labels included."""
        d: dict[str, Any] = {"name": self.name, "labels": list(self.labels)}
        for key in SPECTRUM_KEYS:
            d[key] = [x for pair in getattr(self, key) for x in pair]
        d["density"] = self.density
        d["speed"] = self.speed
        if self.reference:
            d["reference"] = self.reference
        return d


def _norm_label(text: str) -> tuple[str, ...]:
    """Lower-case word tokens: 'Kitchen_Cabinet' -> ('kitchen', 'cabinet')."""
    return tuple(re.findall(r"[a-z0-9]+", text.lower()))


def _token_eq(query_tok: str, label_tok: str) -> bool:
    # naive plural folding so 'curtains' finds 'curtain' and 'chairs' finds 'chair'
    return query_tok == label_tok or query_tok in (label_tok + "s", label_tok + "es")


def _contains(query: tuple[str, ...], label: tuple[str, ...]) -> bool:
    n = len(label)
    return any(
        all(_token_eq(q, lt) for q, lt in zip(query[i:i + n], label, strict=True))
        for i in range(len(query) - n + 1)
    )


class MaterialDatabase:
    """A validated, ordered set of materials with name lookup and semantic-label mapping."""

    def __init__(self, materials: Sequence[Material], source: str = "<memory>") -> None:
        self.source = source
        self._materials = list(materials)
        self._by_name = {m.name.lower(): m for m in self._materials}
        self._validate()
        self._labels: list[tuple[tuple[str, ...], Material]] = []
        for m in self._materials:
            for lab in (m.name, *m.labels):
                toks = _norm_label(lab)
                if toks and all(toks != t for t, _ in self._labels):
                    self._labels.append((toks, m))

    # ---- construction -------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, path: Path | str) -> MaterialDatabase:
        """Load and validate a material JSON file; any problem raises a one-line SimkitError naming it."""
        p = Path(path)
        if not p.is_file():
            raise SimkitError(f"material database {p} does not exist")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise SimkitError(f"material database {p}: invalid JSON ({e.msg}, line {e.lineno})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise SimkitError(f"material database {p} is not readable ({e})") from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: Any, source: str = "<memory>") -> MaterialDatabase:
        """Build from the parsed schema ``{"materials": [...]}``."""
        if not isinstance(data, dict) or not isinstance(data.get("materials"), list):
            raise SimkitError(f"material database {source}: expected an object with a 'materials' list")
        if not data["materials"]:
            raise SimkitError(f"material database {source}: 'materials' is empty")
        mats = [_parse_material(entry, i, source) for i, entry in enumerate(data["materials"])]
        return cls(mats, source=source)

    @classmethod
    def embedded(cls) -> MaterialDatabase:
        """The database shipped in ``scenes/materials.json`` (found by :func:`simkit.resources.materials_path`)."""
        path = materials_path()
        if not path.is_file():
            raise SimkitError(
                f"embedded material database {path} not found (set SIMKIT_SCENES_DIR to the scenes folder)"
            )
        return cls.from_json(path)

    def _validate(self) -> None:
        seen: dict[str, str] = {}
        for m in self._materials:
            key = m.name.lower()
            if key in seen:
                raise SimkitError(f"material database {self.source}: duplicate material name {m.name!r}")
            seen[key] = m.name
        names = list(seen)
        for a in names:
            for b in names:
                if a != b and a in b:
                    raise SimkitError(
                        f"material database {self.source}: material name {seen[a]!r} is a substring of "
                        f"{seen[b]!r} (the engine matches names by substring; rename one)"
                    )
        if DEFAULT_MATERIAL not in seen:
            raise SimkitError(
                f"material database {self.source}: no {DEFAULT_MATERIAL!r} material "
                "(used for unlabelled surfaces)"
            )
        owner: dict[tuple[str, ...], str] = {_norm_label(m.name): m.name for m in self._materials}
        for m in self._materials:
            for lab in m.labels:
                toks = _norm_label(lab)
                if toks in owner and owner[toks] != m.name:
                    raise SimkitError(
                        f"material database {self.source}: material {m.name!r}: label {lab!r} is already "
                        f"used by {owner[toks]!r}"
                    )
                owner[toks] = m.name

    # ---- queries ------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Material names in file order."""
        return [m.name for m in self._materials]

    def __len__(self) -> int:
        return len(self._materials)

    def __iter__(self) -> Iterator[Material]:
        return iter(self._materials)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def lookup(self, name: str) -> Material:
        """The material called ``name`` (case-insensitive, like the engine); unknown raises SimkitError."""
        try:
            return self._by_name[name.lower()]
        except (KeyError, AttributeError):
            raise SimkitError(
                f"material {name!r} is not in material database {self.source} "
                f"(known: {', '.join(self.names)})"
            ) from None

    @property
    def default(self) -> Material:
        """The fallback material for unknown labels."""
        return self._by_name[DEFAULT_MATERIAL]

    def for_label(self, label: str) -> Material:
        """Map a semantic label ('wall', 'Kitchen cabinet', 'curtains') to a material, else the default.

        Exact (normalised) label or name first; otherwise the longest label whose words occur contiguously
        in ``label`` (earlier materials win ties); otherwise :attr:`default`.
        """
        query = _norm_label(label)
        if not query:
            return self.default
        best: tuple[int, int, int] | None = None
        best_mat = self.default
        for order, (toks, mat) in enumerate(self._labels):
            if toks == query:
                return mat
            if _contains(query, toks):
                score = (len(toks), len(" ".join(toks)), -order)
                if best is None or score > best:
                    best, best_mat = score, mat
        return best_mat

    # ---- export -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The full schema (semantic labels and references included)."""
        return {"materials": [m.to_dict() for m in self._materials]}

    def to_engine_json(self) -> str:
        """JSON for ``Context.set_material_database_json``: engine keys only, ``labels = [name]``."""
        mats = []
        for m in self._materials:
            d = m.to_dict()
            d.pop("reference", None)
            d["labels"] = [m.name]
            mats.append(d)
        return json.dumps({"materials": mats}, sort_keys=True)

    def content_hash(self) -> str:
        """Stable hash of the materials (for manifests and caches)."""
        return stable_hash(self.to_dict())


def _parse_material(entry: Any, index: int, source: str) -> Material:
    where = f"material database {source}: material #{index}"
    if not isinstance(entry, dict):
        raise SimkitError(f"{where} is not an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SimkitError(f"{where} has no name")
    where = f"material database {source}: material {name!r}"
    missing = [k for k in _REQUIRED_KEYS if k not in entry]
    if missing:
        raise SimkitError(f"{where}: missing {', '.join(repr(k) for k in missing)}")
    unknown = sorted(set(entry) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS))
    if unknown:
        raise SimkitError(f"{where}: unknown field(s) {', '.join(repr(k) for k in unknown)}")
    labels = entry["labels"]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise SimkitError(f"{where}: 'labels' must be a list of strings")
    spectra = {k: _parse_spectrum(entry[k], k, where) for k in SPECTRUM_KEYS}
    scalars = {}
    for key in ("density", "speed"):
        v = entry[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise SimkitError(f"{where}: {key!r} must be a positive number, got {v!r}")
        scalars[key] = float(v)
    reference = entry.get("reference", "")
    if not isinstance(reference, str):
        raise SimkitError(f"{where}: 'reference' must be a string")
    return Material(
        name=name, labels=tuple(dict.fromkeys(labels)), density=scalars["density"], speed=scalars["speed"],
        reference=reference, **spectra,
    )


def _parse_spectrum(value: Any, key: str, where: str) -> Spectrum:
    if not isinstance(value, list) or len(value) < 2 or len(value) % 2:
        raise SimkitError(f"{where}: {key!r} must be a flat [frequency_Hz, value, ...] list of even length")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value):
        raise SimkitError(f"{where}: {key!r} holds a non-numeric or non-finite entry")
    freqs = [float(x) for x in value[0::2]]
    vals = [float(x) for x in value[1::2]]
    if freqs[0] <= 0 or any(b <= a for a, b in zip(freqs[:-1], freqs[1:], strict=True)):
        raise SimkitError(f"{where}: {key!r} frequencies must be positive and strictly ascending: {freqs}")
    hi = 1.0 if key in _UNIT_INTERVAL else math.inf
    bad = [v for v in vals if not 0.0 <= v <= hi]
    if bad:
        limit = "[0, 1]" if key in _UNIT_INTERVAL else ">= 0"
        raise SimkitError(f"{where}: {key!r} values must be {limit}, got {bad[0]}")
    return tuple(zip(freqs, vals, strict=True))
