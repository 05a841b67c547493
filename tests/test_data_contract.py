"""The dataset contract of simkit/data: schema <-> docs, writer, validator, opener, protocols, registry."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from simkit.data import layout
from simkit.data.opener import open_dataset
from simkit.data.schema import GROUPS, check_shapes
from simkit.data.synthetic import write_synthetic_binaural, write_synthetic_render
from simkit.data.validate import validate_dataset, validate_shard
from simkit.data.writer import DatasetWriter, new_manifest
from simkit.errors import SimkitError
from simkit.registry import Registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "dataset-format.md"
SCENES = {"a": "train", "b": "val", "c": "test"}


def doc_groups() -> dict[str, list[tuple[str, str, str, bool]]]:
    """Group -> rows (name, dtype, shape, required) of the tables under '### Group `x`' in the doc."""
    out: dict[str, list[tuple[str, str, str, bool]]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        m = re.match(r"^### Group `(\w+)`", line)
        if m:
            current = m.group(1)
            out[current] = []
            continue
        if line.startswith("#"):
            current = None
        if current and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[current].append((cells[0].strip("`"), cells[1], cells[2], cells[3] == "yes"))
    return out


def test_doc_and_schema_list_the_same_groups_datasets_dtypes_and_shapes() -> None:
    doc = doc_groups()
    assert list(doc) == list(GROUPS)
    for name, group in GROUPS.items():
        want = [(f.name, f.dtype, "(" + ", ".join(str(d) for d in f.shape) + ")", f.required) for f in group.fields]
        assert doc[name] == want, f"docs/dataset-format.md group {name} is out of step with simkit/data/schema.py"


def test_writer_refuses_arrays_outside_the_schema(tmp_path: Path) -> None:
    good = {"audio/binaural": np.zeros((2, 1, 1, 2, 8), np.float32)}
    check_shapes(good, ["audio"])
    with pytest.raises(ValueError, match="not in the schema"):
        check_shapes({**good, "audio/extra": np.zeros(3)}, ["audio"])
    with pytest.raises(ValueError, match="dimension N=3, elsewhere 2"):
        check_shapes({**good, "meta/set_id": np.array(["x", "y", "z"], dtype=object)}, ["audio", "meta"])
    with pytest.raises(ValueError, match="shape .* does not match"):
        check_shapes({"audio/binaural": np.zeros((2, 1, 1, 3, 8))}, ["audio"])
    manifest = new_manifest(origin=layout.origin("synthetic", "t", "1"), config={"x": 1}, groups=["audio"])
    with DatasetWriter(tmp_path / "d", manifest) as w, pytest.raises(ValueError, match="not in the manifest"):
        w.write_shard("s", good, {"sample_rate": 16000}, groups=["audio", "views"])
    assert not list((tmp_path / "d" / "shards").iterdir()), "a refused shard leaves no file"


def test_writer_refuses_a_directory_of_another_config_or_foreign_files(tmp_path: Path) -> None:
    write_synthetic_render(tmp_path / "r", SCENES, sets_per_scene=1)
    before = (tmp_path / "r" / "manifest.json").read_bytes()
    with pytest.raises(SimkitError, match="another config"):
        write_synthetic_render(tmp_path / "r", SCENES, sets_per_scene=2)
    assert (tmp_path / "r" / "manifest.json").read_bytes() == before
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "notes.txt").write_text("mine")
    with pytest.raises(SimkitError, match="not empty and holds no simkit manifest"):
        write_synthetic_render(tmp_path / "f", SCENES, sets_per_scene=1)


def test_synthetic_sets_are_valid_and_byte_identical_when_repeated(tmp_path: Path) -> None:
    a = write_synthetic_render(tmp_path / "a", SCENES, sets_per_scene=2)
    b = write_synthetic_render(tmp_path / "b", SCENES, sets_per_scene=2)
    for name in ("a", "b", "c"):
        assert (a / "shards" / f"{name}.h5").read_bytes() == (b / "shards" / f"{name}.h5").read_bytes()
        info = validate_shard(a / "shards" / f"{name}.h5")
        assert info.groups == ["audio", "rir", "poses", "labels", "pairs"]
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    rep = validate_dataset(a)
    assert rep.protocol_counts == {"default": {"train": 2, "val": 2, "test": 2}}
    assert rep.origin["kind"] == "synthetic"
    c = write_synthetic_binaural(tmp_path / "c", np.random.default_rng(0))
    assert open_dataset(c, ("audio", "views")).groups == ["audio", "views"]


def test_validator_names_the_first_problem(tmp_path: Path) -> None:
    root = write_synthetic_render(tmp_path / "r", SCENES, sets_per_scene=1)
    shard = root / "shards" / "b.h5"
    with h5py.File(shard, "a") as f:
        data = f["labels/azimuth_deg"][()]
        del f["labels/azimuth_deg"]
        f["labels/azimuth_deg"] = data.astype(np.int16)
    with pytest.raises(SimkitError, match=r"b\.h5: dataset labels/azimuth_deg: dtype int16, schema float32"):
        validate_shard(shard)
    with h5py.File(shard, "a") as f:
        del f["labels/azimuth_deg"]
        f["labels/azimuth_deg"] = data[:, :2]
    with pytest.raises(SimkitError, match="dimension V=2, elsewhere 4"):
        validate_dataset(root)
    with h5py.File(shard, "a") as f:
        f.attrs["n_sets"] = 5
    with pytest.raises(SimkitError, match="b.h5"):
        open_dataset(root)
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(SimkitError, match="not a readable HDF5 file"):
        validate_shard(tmp_path / "x.h5")


def _protocol_set(tmp_path: Path) -> Path:
    """Two shards of 3 sets, a default protocol of whole shards and a family of two set-level protocols."""
    protos = {f"p{k}": layout.protocol_entry(f"protocol {k}", family="fam") for k in (1, 2)}
    protos["default"] = layout.protocol_entry("p1 again", alias="p1")
    manifest = new_manifest(origin=layout.origin("synthetic", "t", "1"), config={"p": 1},
                            groups=["audio", "labels", "pairs", "meta"], protocols=protos)
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "p", manifest) as w:
        for sid in ("s0", "s1"):
            w.write_shard(sid, {
                "audio/binaural": rng.standard_normal((3, 1, 1, 2, 400)).astype(np.float32),
                "labels/azimuth_deg": np.full((3, 1, 1), 60.0, np.float32),
                "pairs/rel_yaw_deg": np.zeros((3, 1, 1), np.float32),
                "meta/set_id": np.array([f"{sid}-{n}" for n in range(3)], dtype=object),
            }, {"sample_rate": 16000})
        w.write_splits({"train": ["s0#0", "s0#1"], "val": ["s0#2"], "test": ["s1"]}, "p1")
        w.write_splits({"train": ["s1#0", "s1#1"], "val": ["s1#2"], "test": ["s0"]}, "p2")
        w.write_splits({"train": ["s0#0", "s0#1"], "val": ["s0#2"], "test": ["s1"]})
        w.finish()
    return tmp_path / "p"


def test_protocols_select_sets_and_families_resolve(tmp_path: Path) -> None:
    root = _protocol_set(tmp_path)
    m = layout.read_manifest(root)
    assert m["scenes"] == {"s0": "mixed", "s1": "test"}
    assert layout.resolve_protocols(m, "all", "x") == ["p1", "p2"]
    assert layout.resolve_protocols(m, "fam", "x") == ["p1", "p2"]
    assert layout.resolve_protocols(m, None, "x") == ["default"]
    with pytest.raises(SimkitError, match=r"no protocol 'p9' \(known: default, p1, p2, fam, slfm-frontal, all\)"):
        layout.resolve_protocols(m, "p9", "x")
    info = open_dataset(root, protocol="p2")
    assert info.selection == {"train": {"s1": [0, 1]}, "val": {"s1": [2]}, "test": {"s0": [0, 1, 2]}}
    assert open_dataset(root).selection["train"] == {"s0": [0, 1]}
    with pytest.raises(SimkitError, match="model m needs group views or frames, which dataset .* lacks"):
        from simkit.data.opener import require_groups

        require_groups(info, ["views|frames"], "model m")
    rep = validate_dataset(root)
    assert rep.protocol_counts["p2"] == {"train": 2, "val": 1, "test": 3}
    (root / "splits" / "p2" / "val.txt").write_text("s1#7\n")
    with pytest.raises(SimkitError, match="entry s1#7 but shard s1 has 3 sets"):
        open_dataset(root, protocol="p2")


def test_unfinished_dataset_without_split_files_is_refused(tmp_path: Path) -> None:
    root = _protocol_set(tmp_path)
    (root / "splits" / "test.txt").unlink()
    with pytest.raises(SimkitError, match=r"not a complete simkit dataset \(missing splits/test\.txt\)"):
        open_dataset(root)


def test_registry_loads_its_modules_lazily() -> None:
    reg: Registry[int] = Registry("thing", modules=("tests_registry_probe_missing",))
    with pytest.raises(ModuleNotFoundError):
        reg.names()
    from simkit.data.adapters import ADAPTERS

    assert {"fair-play"} <= set(ADAPTERS.names())
