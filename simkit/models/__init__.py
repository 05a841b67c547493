"""Model registry: a new model is one file with a :class:`BenchModel` subclass plus ``@register_model``.

``simkit bench`` builds a model as ``spec.build(cfg, info)`` where ``cfg`` is the resolved
:class:`simkit.bench.config.BenchConfig` and ``info`` the task's description of the data (sample rate,
views per set, ...). Batches are dicts of tensors (already on the model's device) as produced by the task's
dataset; ``predict`` returns a dict of tensors whose keys the task turns into evaluation records.
"""

from __future__ import annotations

import abc
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from simkit.errors import SimkitError
from simkit.registry import Registry

if TYPE_CHECKING:
    from simkit.bench.config import BenchConfig

Batch = dict[str, Any]


class BenchModel(torch.nn.Module, abc.ABC):
    """What the harness drives: ``predict`` always, ``loss`` for models that train.

    ``needs_negative_pairs``: batches must carry another item's audio (``neg_mono``/``neg_binaural``, the
    mismatched pair of the localisation losses); the task builds those pairs only for models that set it.
    """

    needs_negative_pairs: bool = False

    @abc.abstractmethod
    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Outputs for a batch (the task documents the keys it reads, e.g. ``azimuth_deg``)."""

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar training loss and named parts for logging; models without training never get here."""
        raise SimkitError(f"model {type(self).__name__} does not train")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model; ``options`` names the ``--option`` keys it accepts (None: not declared, it gets
    every given option and rejects unknown ones itself)."""

    name: str
    task: str
    build: Callable[[BenchConfig, Mapping[str, Any]], BenchModel]
    trainable: bool
    description: str
    options: frozenset[str] | None = None
    groups: tuple[str, ...] = ()  # dataset groups the model needs beyond its task's ("a|b": either)

    @property
    def needs_negative_pairs(self) -> bool:
        """The built model's ``BenchModel.needs_negative_pairs`` (read from the registered class or factory)."""
        return bool(getattr(self.build, "needs_negative_pairs", False))


# Modules holding the built-in models; each registers itself on import. Add a module name here to add a file.
BUILTIN_MODULES: tuple[str, ...] = (
    "simkit.models.iid",
    "simkit.models.gcc_phat",
    "simkit.models.supervised",
    "simkit.models.slfm",
    "simkit.models.ours",
    "simkit.models.binaural",
)
MODELS: Registry[ModelSpec] = Registry("model", modules=BUILTIN_MODULES)


def register_model(
    name: str, *, task: str, trainable: bool, description: str, options: Iterable[str] | None = None,
    groups: Iterable[str] = (),
) -> Callable[[Callable[..., BenchModel]], Callable[..., BenchModel]]:
    """Decorator registering a ``BenchModel`` class (or factory) taking ``(cfg, info)`` as model ``name``.

    ``options``: the ``--option`` keys the model accepts (its defaults' keys), so ``--model all`` can give
    every model only its own options (:func:`options_for`). ``groups``: dataset groups (simkit.data.schema)
    the model needs beyond its task's, e.g. ``rir`` for online re-rendering.
    """
    declared = None if options is None else frozenset(options)

    def deco(build: Callable[..., BenchModel]) -> Callable[..., BenchModel]:
        MODELS.add(name, ModelSpec(name, task, build, trainable, description, declared, tuple(groups)))
        return build

    return deco


def number_option(model: str, key: str, value: Any) -> float:
    """``value`` of a numeric model option as a float; a string or boolean is a one-line SimkitError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SimkitError(f"model {model} option {key} must be a number (got {value!r})")
    return float(value)


def options_for(specs: Iterable[ModelSpec], given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``--option`` values each model of ``specs`` receives: the keys it declares.

    A model that declares nothing (``options=None``) receives every option and judges them itself. A key
    that no model of ``specs`` accepts is an error (a typo must not pass silently because the option list
    was shared by several models).
    """
    specs = list(specs)
    out: dict[str, dict[str, Any]] = {}
    accepted: set[str] = set()
    for s in specs:
        keys = set(given) if s.options is None else set(given) & s.options
        out[s.name] = {k: given[k] for k in given if k in keys}
        accepted |= keys
    unknown = sorted(set(given) - accepted)
    if unknown:
        known = ", ".join(sorted(set().union(*(s.options or () for s in specs)))) or "none"
        who = f"model {specs[0].name} has" if len(specs) == 1 else f"no selected model ({len(specs)}) has"
        raise SimkitError(f"{who} no option(s) {', '.join(unknown)} (known: {known})")
    return out


load_builtin = MODELS.load_builtin


def get_model(name: str) -> ModelSpec:
    """The model registered as ``name`` (SimkitError listing the known ones otherwise)."""
    return MODELS.get(name)


def models_for_task(task: str) -> list[str]:
    """Names of every model registered for ``task``, sorted."""
    return [n for n, m in MODELS.items() if m.task == task]
