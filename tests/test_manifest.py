"""The typed manifest (simkit.data.manifest): symmetric to_dict/from_dict, old manifests still open.

The fixtures in tests/fixtures/manifests/ are manifests as simkit wrote them: ``*_main.json`` by the code
before the Manifest type (render, prepare fair-play, curate), ``render_2026-11-22.json`` in the format of the
first render (before the dataset contract: no origin, groups or protocols; schema version 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simkit.data import layout
from simkit.data.manifest import Manifest
from simkit.data.opener import open_dataset
from simkit.data.synthetic import write_synthetic_binaural
from simkit.data.writer import DatasetWriter, new_manifest
from simkit.errors import SimkitError

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
WRITTEN = sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("path", WRITTEN, ids=[p.stem for p in WRITTEN])
def test_every_written_manifest_round_trips(path: Path) -> None:
    data = json.loads(path.read_text())
    m = Manifest.from_dict(data, str(path))
    assert m.to_dict() == data
    assert Manifest.from_dict(m.to_dict()) == m
    assert m.config_hash == data["config_hash"] and m.scenes == data["scenes"]


def test_fields_are_typed_and_pipeline_keys_kept_as_extra() -> None:
    render = Manifest.from_dict(json.loads((FIXTURES / "render_main.json").read_text()))
    assert render.version == 2 and render.tool == "simkit render" and render.groups[:2] == ["audio", "rir"]
    assert {"engine", "hrtf", "licences", "seed"} <= set(render.extra)
    legacy = Manifest.from_dict(json.loads((FIXTURES / "render_2026-11-22.json").read_text()))
    assert legacy.version == 1 and legacy.origin is None and legacy.groups is None and legacy.protocols is None
    prepare = Manifest.from_dict(json.loads((FIXTURES / "prepare_fair_play_main.json").read_text()))
    assert prepare.tasks and prepare.protocols and "split1" in prepare.protocols


def test_new_manifest_writes_the_keys_it_always_wrote() -> None:
    m = new_manifest(origin=layout.origin("synthetic", "t", "1"), config={"x": 1}, groups=["frames", "audio"],
                     tool="t", tasks=["direction"], seed=3)
    assert set(m) == {"schema_version", "config", "config_hash", "origin", "groups", "protocols", "scenes",
                      "versions", "tool", "tasks", "seed"}
    assert m["groups"] == ["audio", "frames"] and list(m["protocols"]) == ["default"]
    main = json.loads((FIXTURES / "render_main.json").read_text())
    assert {"schema_version", "config", "config_hash", "origin", "groups", "protocols", "scenes", "versions",
            "tool"} <= set(main)


@pytest.mark.parametrize("bad, field", [({"config_hash": 3}, "config_hash"), ({"groups": "audio"}, "groups"),
                                        ({"schema_version": True}, "schema_version"), ({"scenes": []}, "scenes")])
def test_a_bad_field_is_one_error_naming_it(bad: dict, field: str) -> None:
    data = {**json.loads((FIXTURES / "render_main.json").read_text()), **bad}
    with pytest.raises(SimkitError, match=f"m.json: field {field} must be a JSON"):
        Manifest.from_dict(data, "m.json")
    with pytest.raises(SimkitError, match="not a simkit manifest"):
        Manifest.from_dict([1, 2], "m.json")


def test_writer_resuming_a_main_manifest_rewrites_the_same_bytes(tmp_path: Path) -> None:
    text = (FIXTURES / "prepare_fair_play_main.json").read_text()
    (tmp_path / layout.MANIFEST).write_text(text)
    with DatasetWriter(tmp_path, json.loads(text)) as w:
        assert w.manifest.tool == "simkit prepare fair-play"
    assert (tmp_path / layout.MANIFEST).read_text() == text


def test_a_legacy_manifest_still_opens(tmp_path: Path) -> None:
    root = write_synthetic_binaural(tmp_path / "d", np.random.default_rng(0))
    current = layout.read_manifest(root)
    legacy = {**json.loads((FIXTURES / "render_2026-11-22.json").read_text()),
              "config_hash": current["config_hash"]}  # the shards' hash: only the manifest's format is old
    layout.write_manifest(root, legacy)
    info = open_dataset(root, cache=False)
    assert info.manifest == legacy and info.protocol == "default" and info.origin == {}
    assert set(info.splits) == {"train", "val", "test"}
