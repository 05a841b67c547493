"""Issue 12's fidelity bounds of the ``efficient`` preset over the whole embedded set (``make test-slow``).

All 100 embedded scenes, one view set each (the render's sampler: 4 views at one position x 3 sources = 1200
binaural RIRs), rendered with ``efficient`` and with ``high``: per RIR, mean |dRT60| <= 3 % and mean |dILD| of
the mixed RIR <= 0.25 dB, the direct path byte-identical. ~25 CPU-minutes (``high`` is 95 % of it).
"""

from __future__ import annotations

import json
import os

import pytest

from simkit.render.fidelity import ILD_BOUND_DB, RT60_BOUND, deviations, measure_presets
from simkit.scenes.catalog import embedded_scene_ids

pytestmark = pytest.mark.slow


def test_efficient_preset_holds_the_fidelity_bounds_against_high_on_all_embedded_scenes():
    scenes = embedded_scene_ids()
    assert len(scenes) == 100
    figs = measure_presets(scenes, ["efficient", "high"], workers=min(2, os.cpu_count() or 1))
    dev = deviations(figs["efficient"], figs["high"])
    print(json.dumps(dev | {"rirs": int(figs["high"].rt60.size)}))
    assert figs["high"].rt60.size == 1200 and dev["rt60_compared"] >= 1150, dev
    assert dev["direct_identical"], dev
    assert dev["rt60_dev_mean_pct"] <= RT60_BOUND * 100, dev
    assert dev["ild_dev_mean_db"] <= ILD_BOUND_DB, dev
