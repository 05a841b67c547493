"""Ray-count quality presets for RLRAudioPropagation (measured cost and accuracy: docs/acoustics.md).

``default`` is the engine's own defaults, which are also SoundSpaces 2.0's / habitat-sim's documented
``RLRAudioPropagationConfiguration`` defaults (5000 indirect rays of depth 200, 200 source rays of depth 10,
500 direct rays, diffraction order 10). ``fast`` cuts the rays that dominate cost; ``high`` spends 4x more
indirect rays and is the reference of the RT60 deviations in the benchmark. ``efficient`` traces the
indirect field once per listener position (``shared_indirect``, see :mod:`simkit.acoustics.rlr`) instead of
once per view, and spends part of the saving on more rays per trace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from simkit.registry import Registry


@dataclass(frozen=True)
class Preset:
    """Engine ray counts; every field name is an ``rlr_audio_propagation.Config`` attribute."""

    indirect_ray_count: int
    indirect_ray_depth: int
    source_ray_count: int
    source_ray_depth: int
    direct_ray_count: int
    max_diffraction_order: int
    # trace the indirect field once per distinct listener position as first-order ambisonics and decode it
    # per view with the listener's HRTF (views of a set share one position); False = one binaural trace per view
    shared_indirect: bool = False
    # with shared_indirect: replace the FOA trace's late part by noise decaying at the rate fitted to its traced
    # early decay per band (simkit.acoustics.late_tail), so a shallower indirect_ray_depth keeps the RT60
    late_tail: bool = False

    def engine_fields(self) -> dict[str, int]:
        """``{Config attribute: value}`` to apply to an engine config (ray counts only)."""
        d = dataclasses.asdict(self)
        d.pop("shared_indirect")
        d.pop("late_tail")
        return d


class PresetRegistry(Registry[Preset]):
    """A :class:`~simkit.registry.Registry` that also reads like a dict (``PRESETS["fast"]``)."""

    def __getitem__(self, name: str) -> Preset:
        return self.get(name)

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> Iterator[tuple[str, Preset]]:
        return ((n, self.get(n)) for n in self.names())


PRESETS = PresetRegistry("ray-count preset")

# The engine's defaults as read from rlr_audio_propagation.Config() (pinned here so a changed engine default
# does not silently change renders; the benchmark and tests check they still agree).
ENGINE_DEFAULTS = Preset(
    indirect_ray_count=5000,
    indirect_ray_depth=200,
    source_ray_count=200,
    source_ray_depth=10,
    direct_ray_count=500,
    max_diffraction_order=10,
)

PRESETS.add("default", ENGINE_DEFAULTS)
PRESETS.add("fast", dataclasses.replace(ENGINE_DEFAULTS, indirect_ray_count=1000, source_ray_count=100))
# Measured on all 100 embedded scenes against ``high`` (docs/acoustics.md, tests/test_slow.py): >= 5x cheaper
# per view set than ``default`` within the fidelity bounds of issue 12.
PRESETS.add(
    "efficient",
    dataclasses.replace(ENGINE_DEFAULTS, indirect_ray_count=3000, source_ray_count=200, shared_indirect=True),
)
PRESETS.add(
    "high",
    dataclasses.replace(
        ENGINE_DEFAULTS, indirect_ray_count=20000, source_ray_count=500, direct_ray_count=1000
    ),
)
