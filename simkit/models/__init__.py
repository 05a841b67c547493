"""Model catalogue and registry: a new model is one file with a :class:`BenchModel` subclass plus
``@register_model``, anywhere below :mod:`simkit.models` (found automatically) or in any importable module
(``simkit bench --model pkg.module:Name``; docs/extending.md).

Families (pyroomacoustics' ``doa/`` layout: a package per family, a ``base`` module whose base class drives
each subclass's hook, one file per model):

* :mod:`simkit.models.direction` - task ``direction``: ``iid``, ``gcc_phat``, ``supervised``, ``slfm``,
  ``slfm_simple``, ``ours_full``, ``ours_rt`` (base: :class:`simkit.models.direction.base.DirectionModel`, hook
  ``azimuth_rad``);
* :mod:`simkit.models.binaural` - tasks ``binauralize`` / ``av_localize``: ``mono_copy``,
  ``mono2binaural``, ``clup``, ``clup_loc``, ``clup_baseline``, ``clup_baseline_loc`` (base:
  :class:`simkit.models.binaural.base.BinauralModel`, hook ``generate``).

Shared networks and features stay beside the families: :mod:`simkit.models.nets` (ResNet-18) and
:mod:`simkit.models.features` (binaural STFT features).

``simkit bench`` builds a model as ``spec.build(settings, info)``: ``settings`` is any object with the
plain fields of :class:`ModelSettings` (the bench passes its run configuration; models never import the
bench), ``info`` the task's description of the data (sample rate, views per set, ...). A model reads its
``--option`` values into its typed options dataclass with :func:`parse_options`. Batches are dicts of
tensors (already on the model's device) as produced by the task's dataset; ``predict`` returns a dict of
tensors whose keys the task turns into evaluation records.
"""

from __future__ import annotations

import abc
import dataclasses
import numbers
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from simkit.config import from_dict
from simkit.errors import SimkitError
from simkit.registry import Registry

Batch = dict[str, Any]


class FeatureSettings(Protocol):
    """STFT framing of the direction networks' binaural features (read-only, so any dataclass fits)."""

    @property
    def n_fft(self) -> int: ...

    @property
    def hop(self) -> int: ...


class ModelSettings(Protocol):
    """The plain run values a model may build from (the bench's run configuration has them all)."""

    @property
    def model_options(self) -> Mapping[str, Any]:
        """This model's ``--option`` values (numbers, booleans, strings)."""

    @property
    def width(self) -> int:
        """Network width (every network scales with it)."""

    @property
    def seed(self) -> int:
        """The model's own random streams start from it."""

    @property
    def features(self) -> FeatureSettings:
        """STFT framing of the direction networks."""


@dataclass(frozen=True)
class TrainingStage:
    """One stage of a multi-stage model (:meth:`BenchModel.training_stages`).

    ``epochs``: the stage's epoch budget (0: the run's ``--epochs``). ``select_on_loss``: the stage picks its
    checkpoint on its own mean val loss whatever ``--select-metric`` says (a pretext stage, whose heads
    predict nothing yet); otherwise the run's selection applies (:func:`simkit.bench.harness.resolve_selection`).
    """

    name: str
    epochs: int = 0
    select_on_loss: bool = False


class BenchModel(torch.nn.Module, abc.ABC):
    """What the harness drives: ``predict`` always, ``loss`` for models that train.

    ``needs_negative_pairs``: batches must carry another item's audio (``neg_mono``/``neg_binaural``, the
    mismatched pair of the localisation losses); the task builds those pairs only for models that set it.
    """

    needs_negative_pairs: bool = False
    # Trains without labels: by default its checkpoint is then picked label-free, on ``selection_score`` over
    # val (labelled val metrics would leak the labels the model never trains on; simkit issue 20). Selecting
    # such a model on labels is an explicit ``--select-metric`` and is marked in its leaderboard rows.
    self_supervised: bool = False
    # name of the label-free selection score: "loss" (the mean val loss, lower is better) or a model's own
    # score (e.g. SLfM's authors' ``slfm_score``), which ``selection_score`` computes from the mean loss parts
    selection_name: str = "loss"
    selection_higher_is_better: bool = False

    def training_stages(self) -> tuple[TrainingStage, ...]:
        """The model's training stages in order (SLfM: pretext, then geometric); ``()``: one plain stage.

        The harness runs each stage as a whole training run of its own (fresh optimiser over the parameters
        that then require gradients, its own schedule, early stopping and best checkpoint, loaded back before
        the next stage), calling :meth:`begin_stage` first."""
        return ()

    def begin_stage(self, stage: str) -> None:
        """Called before the first epoch of ``stage`` (e.g. to load the previous stage's networks and freeze
        them); the loss of the model then is the stage's loss."""

    def visual_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters of the model's image network, which the bench's ``visual_lr`` trains at their own
        rate (as 2.5D Visual Sound's ``--lr_visual``); none by default."""
        return []

    def selection_score(self, loss: float, parts: Mapping[str, float]) -> float:
        """The label-free selection value from the mean val ``loss`` and mean loss ``parts``: the loss itself
        unless the model has its authors' score."""
        return loss

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
    build: Callable[[ModelSettings, Mapping[str, Any]], BenchModel]
    trainable: bool
    description: str
    options: frozenset[str] | None = None
    groups: tuple[str, ...] = ()  # dataset groups the model needs beyond its task's ("a|b": either)

    @property
    def needs_negative_pairs(self) -> bool:
        """The built model's ``BenchModel.needs_negative_pairs`` (read from the registered class or factory)."""
        return bool(getattr(self.build, "needs_negative_pairs", False))


# Every module below simkit.models registers its models on import; a new model is a new file, nothing else.
MODELS: Registry[ModelSpec] = Registry("model", package="simkit.models")


def register_model(
    name: str, *, task: str, trainable: bool, description: str, options: Iterable[str] | type | None = None,
    groups: Iterable[str] = (),
) -> Callable[[Callable[..., BenchModel]], Callable[..., BenchModel]]:
    """Decorator registering a ``BenchModel`` class (or factory) taking ``(settings, info)`` as model ``name``.

    ``options``: the model's options dataclass (:func:`parse_options`) or the ``--option`` keys it accepts,
    so ``--model all`` can give every model only its own options (:func:`options_for`). ``groups``: dataset
    groups (simkit.data.schema) the model needs beyond its task's, e.g. ``rir`` for online re-rendering.
    """
    if isinstance(options, type):
        options = [f.name for f in dataclasses.fields(options)]
    declared = None if options is None else frozenset(options)

    def deco(build: Callable[..., BenchModel]) -> Callable[..., BenchModel]:
        MODELS.add(name, ModelSpec(name, task, build, trainable, description, declared, tuple(groups)), build)
        return build

    return deco


def number_option(model: str, key: str, value: Any) -> float:
    """``value`` of a numeric model option as a float; a string or boolean is a one-line SimkitError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SimkitError(f"model {model} option {key} must be a number (got {value!r})")
    return float(value)


OptionsT = typing.TypeVar("OptionsT")


def parse_options(model: str, cls: type[OptionsT], given: Mapping[str, Any]) -> OptionsT:
    """The options dataclass ``cls`` of ``model`` from its ``--option`` values (the rest: field defaults).

    ``--option`` numbers arrive as floats (``4`` and ``4.0`` hash alike), so an ``int`` field takes a float
    with an integral value; ``str`` fields are file paths (``""``: none). Unknown keys and wrong types are
    one-line SimkitErrors naming model and option; :func:`simkit.config.from_dict` builds the dataclass.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(given) - set(names))
    if unknown:
        known = ", ".join(sorted(names)) or "none"
        raise SimkitError(f"model {model} has no option(s) {', '.join(unknown)} (known: {known})")
    data: dict[str, Any] = {}
    for key, value in given.items():
        tp = hints[key]
        if tp is str:
            if not isinstance(value, str):
                raise SimkitError(f"model {model} option {key} must be a file path (got {value!r})")
            data[key] = value
            continue
        number = number_option(model, key, value)
        if tp is int:
            if not number.is_integer():
                raise SimkitError(f"model {model} option {key} must be a whole number (got {value!r})")
            data[key] = int(number)
        else:
            data[key] = number
    return from_dict(cls, data, f"model {model} options")


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
    """The model registered as ``name``, or the plug-in ``pkg.module:Name`` (SimkitError otherwise)."""
    return MODELS.get(name)


def models_for_task(task: str) -> list[str]:
    """Names of every model registered for ``task``, sorted."""
    return [n for n, m in MODELS.items() if m.task == task]
