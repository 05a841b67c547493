"""The one converter/validator and JSON loader (simkit.config) and the commands that go through it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_support import SIMKIT, one_error_line

from simkit.config import (
    config_hash,
    deep_merge,
    from_dict,
    load_config,
    parse_key_values,
    set_dotted,
    setting,
    to_dict,
    validate,
)
from simkit.errors import SimkitError
from simkit.render.config import RenderConfig, load_render_config


@dataclass
class Inner:
    rate: int = setting(16000, min=8000, max=192000, unit="Hz")
    gain: float = setting(0.5, above=0, below=1)
    mode: str = setting("a", choices=("a", "b"))


@dataclass
class Outer:
    n: int = setting(3, min=1, label="--n")
    name: str | None = None
    flag: bool = False
    path: Path | None = None
    pair: tuple[float, float] = (0.0, 1.0)
    opts: dict[str, float | bool | str] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def _error(data: dict, **kw: object) -> str:
    with pytest.raises(SimkitError) as e:
        from_dict(Outer, data, **kw)
    return str(e.value)


def test_types_are_checked_and_named_by_dotted_field() -> None:
    assert _error({"inner": {"rate": "fast"}}) == "inner.rate must be an integer (got 'fast')"
    assert _error({"inner": {"gain": True}}) == "inner.gain must be a number (got True)"
    assert _error({"inner": {"gain": float("inf")}}) == "inner.gain must be a number (got inf)"
    assert _error({"flag": 1}) == "flag must be true or false (got 1)"
    assert _error({"name": 3}) == "name must be a string (got 3)"
    assert _error({"pair": [1.0]}) == "pair must have 2 elements (got 1)"
    assert _error({"inner": 5}) == "config inner must be a JSON object (got 5)"
    cfg = from_dict(Outer, {"name": None, "pair": [1, 2], "path": "~/x", "inner": {"gain": 0.25}})
    assert cfg.pair == (1.0, 2.0) and isinstance(cfg.pair[0], float)
    assert cfg.path == Path("~/x").expanduser() and cfg.inner == Inner(gain=0.25)


def test_unknown_keys_name_the_field_and_the_known_ones() -> None:
    assert _error({"inner": {"rat": 1}}) == "unknown config field inner.rat (known: gain, mode, rate)"


def test_declared_ranges_are_checked_with_their_label_and_unit() -> None:
    assert _error({"n": 0}) == "--n must be >= 1 (got 0)"
    assert _error({"inner": {"rate": 4000}}) == "inner.rate must be in [8000, 192000] Hz (got 4000)"
    assert _error({"inner": {"gain": 1.0}}) == "inner.gain must be in (0, 1) (got 1.0)"
    assert _error({"inner": {"mode": "c"}}) == "inner.mode must be one of a, b (got 'c')"
    bad = Outer(inner=Inner(gain=0.0))  # built in Python: validate() applies the same checks
    with pytest.raises(SimkitError, match=r"^inner\.gain must be in \(0, 1\) \(got 0\.0\)$"):
        validate(bad)
    validate(Outer())


def test_int_fields_take_integral_floats_only() -> None:
    """JSON has one number type: 4.0 is the integer 4, 4.5 is refused; floats take ints as floats."""
    cfg = from_dict(Outer, {"n": 4.0, "pair": [0, 1], "inner": {"rate": 22050.0}})
    assert cfg.n == 4 and isinstance(cfg.n, int) and cfg.inner.rate == 22050 and isinstance(cfg.inner.rate, int)
    assert all(isinstance(x, float) for x in cfg.pair)
    assert _error({"n": 4.5}) == "--n must be an integer (got 4.5)"
    assert _error({"n": True}) == "--n must be an integer (got True)"


def test_text_values_are_parsed_into_the_field_type() -> None:
    cfg = from_dict(Outer, {"n": "7", "flag": "Yes", "name": "none", "path": "", "inner": {"gain": "1e-1"},
                            "opts": {"a": "4", "b": "TRUE", "c": "w/x.pt"}}, text=True)
    assert (cfg.n, cfg.flag, cfg.name, cfg.path, cfg.inner.gain) == (7, True, None, None, 0.1)
    assert cfg.opts == {"a": 4.0, "b": True, "c": "w/x.pt"} and isinstance(cfg.opts["a"], float)
    assert from_dict(Outer, {"n": "4.0"}, text=True).n == 4
    assert _error({"n": "4.5"}, text=True) == "--n must be an integer (got 4.5)"
    assert _error({"flag": "maybe"}, text=True) == "flag must be true or false (got 'maybe')"
    # typed values keep their type in a union: True stays a bool, 3 becomes 3.0
    assert from_dict(Outer, {"opts": {"x": True, "y": 3}}).opts == {"x": True, "y": 3.0}


def test_key_value_parser() -> None:
    assert parse_key_values([" a = 1 ", "b=x=y"]) == {"a": "1", "b": "x=y"}
    for bad in (["a"], ["=1"], ["a="]):
        with pytest.raises(SimkitError, match="--option expects KEY=VALUE"):
            parse_key_values(bad)
    with pytest.raises(SimkitError, match="^--set a given twice$"):
        parse_key_values(["a=1", "a=2"], "--set")


def test_deep_merge_and_dotted_overrides() -> None:
    base = {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    assert deep_merge(base, {"a": {"c": {"d": 5}}, "e": {"f": 1}}) == {"a": {"b": 1, "c": {"d": 5}}, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}  # not modified
    d: dict = {"a": {"b": 1}, "s": "float32"}
    set_dotted(d, "a.x.y", 2)
    assert d == {"a": {"b": 1, "x": {"y": 2}}, "s": "float32"}
    with pytest.raises(SimkitError, match="cannot set s.rir: s is not an object"):
        set_dotted(d, "s.rir", "int16")


def test_loader_merges_file_then_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"n": 5, "inner": {"mode": "b"}}))
    cfg = load_config(Outer, f, {"inner.rate": 48000, "name": None})
    assert cfg == Outer(n=5, inner=Inner(rate=48000, mode="b"))  # None = not given: name stays default
    assert load_config(Outer, None, {"n": "9"}, text=True).n == 9
    for text, needle in (("{", "is not valid JSON"), ("[1]", r"must hold a JSON object \(got list\)")):
        f.write_text(text)
        with pytest.raises(SimkitError, match=needle):
            load_config(Outer, f)
    with pytest.raises(SimkitError, match="not found"):
        load_config(Outer, tmp_path / "missing.json")


def test_render_config_loads_and_hashes_as_before(tmp_path: Path) -> None:
    """The loader gives the same config (and hash) as the defaults for an empty file; a file's sub-object
    merges; the hash of the default render is the one renders made before the move carry."""
    f = tmp_path / "r.json"
    f.write_text("{}")
    assert load_render_config(f) == RenderConfig()
    assert RenderConfig().config_hash() == "0a50415382e0ff58" == config_hash(RenderConfig().content_dict())
    f.write_text(json.dumps({"views": {"camera": {"width": 64}}, "storage": "float32"}))
    cfg = load_render_config(f, {"sampling.views": 2, "views.camera.height": 48})
    assert (cfg.views.camera.width, cfg.views.camera.height, cfg.sampling.views) == (64, 48, 2)
    assert cfg.storage.clips == "float32" and cfg.views.camera.hfov_deg == 60.0
    assert from_dict(RenderConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
    assert dataclasses.asdict(cfg) == to_dict(cfg)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SIMKIT, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("text", "needle"), [
    ('{"sampling": {"views": 2', "is not valid JSON"),
    ('[1, 2]', "must hold a JSON object"),
    ('{"views": {"camera": {"widht": 64}}}', "unknown config field views.camera.widht"),
    ('{"compression": 4.5}', "compression must be an integer (got 4.5)"),
    ('{"scene_set": {"up_axis": "w"}}', "scene_set.up_axis must be one of"),
])
def test_render_bad_config_file_is_one_error_line(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text(text)
    proc = _run("render", "--out", str(tmp_path / "out"), "--config", str(cfg), "--quiet")
    assert proc.returncode == 2
    one_error_line(proc, needle)
    assert not (tmp_path / "out").exists()


def test_render_bad_option_value_is_one_error_line(tmp_path: Path) -> None:
    proc = _run("render", "--out", str(tmp_path / "out"), "--seed", "-1", "--quiet")
    assert proc.returncode == 2
    one_error_line(proc, "seed must be >= 0 (got -1)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--option", "clip_seconds"], "--option expects KEY=VALUE (got 'clip_seconds')"),
    (["--option", "clip_seconds=1", "--option", "clip_seconds=2"], "--option clip_seconds given twice"),
    (["--option", "clip_seconds=long"], "adapter fair-play option clip_seconds must be a number (got 'long')"),
    (["--option", "source_rate=44.1"], "adapter fair-play option source_rate must be an integer (got 44.1)"),
])
def test_prepare_bad_option_is_one_error_line(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = _run("prepare", "fair-play", str(tmp_path), "--out", str(tmp_path / "out"), *args, "--quiet")
    assert proc.returncode == 2
    one_error_line(proc, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--option", "ngf"], "--option expects KEY=VALUE (got 'ngf')"),
    (["--epochs", "-1"], "--epochs must be >= 0 (got -1)"),
    (["--device", "tpu"], "--device must be one of auto, cuda, cpu (got 'tpu')"),
])
def test_bench_bad_value_is_one_error_line(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = _run("bench", "--data", str(tmp_path), "--results", str(tmp_path / "res"), *args)
    assert proc.returncode == 2
    one_error_line(proc, needle)
    assert not (tmp_path / "res").exists()
