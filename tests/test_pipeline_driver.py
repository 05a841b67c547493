"""The one pipeline driver (simkit.data.pipeline.run_units): skip, executor, progress, failures; and the
video pipelines' configs going through the one converter (simkit.config.from_dict)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simkit.config import from_dict
from simkit.curate.pipeline import CurateConfig
from simkit.data.pipeline import Progress, run_units
from simkit.errors import OutputError, SimkitError
from simkit.executors import executor_for
from simkit.render.egovideo import EgoVideoConfig

KEYS = ["a", "b", "c", "d"]


def _touch(out: str, key: str) -> str:
    if key == "c":
        raise SimkitError(f"unit {key} is broken")
    if key == "full":
        raise OutputError("cannot write: No space left on device")
    (Path(out) / key).write_text(key)
    return key


def _quiet(**kw) -> Progress:
    return Progress("test", "unit", enabled=False, **kw)


@pytest.mark.parametrize("executor, workers", [("serial", 1), ("process", 2)])
def test_collect_runs_every_unit_and_records_the_failed_one(tmp_path: Path, executor: str, workers: int) -> None:
    (tmp_path / "a").write_text("a")  # finished by an earlier run
    seen: list[str] = []
    ran = run_units(_touch, KEYS, lambda k: (str(tmp_path), k), executor=executor_for(executor, workers),
                    progress=_quiet(), is_done=lambda k: (tmp_path / k).is_file(), failures="collect",
                    on_unit=seen.append)
    assert ran.skipped == ["a"] and sorted(ran.done) == ["b", "d"]
    assert ran.failed == {"c": "unit c is broken"}
    assert sorted(seen) == ["b", "c", "d"]  # on_unit follows failed units too in collect mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "d"]


def test_stop_raises_the_first_failure_and_runs_nothing_after_it(tmp_path: Path) -> None:
    seen: list[str] = []
    with pytest.raises(SimkitError, match="unit c is broken"):
        run_units(_touch, KEYS, lambda k: (str(tmp_path), k), executor=executor_for("serial"), progress=_quiet(),
                  failures="stop", on_unit=seen.append)
    assert seen == ["a", "b"] and not (tmp_path / "d").exists()


def test_an_output_error_stops_even_a_collecting_run(tmp_path: Path) -> None:
    with pytest.raises(OutputError):
        run_units(_touch, ["a", "full", "b"], lambda k: (str(tmp_path), k), executor=executor_for("serial"),
                  progress=_quiet(), failures="collect")
    assert not (tmp_path / "b").exists()


def test_the_bar_counts_weights_and_optionally_the_skipped_units(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    (tmp_path / "a").write_text("a")
    weight = {"a": 5, "b": 2, "d": 3}.__getitem__
    for count_skipped, total in ((False, 5), (True, 10)):
        run_units(_touch, ["a", "b", "d"], lambda k: (str(tmp_path), k), executor=executor_for("serial"),
                  progress=Progress("bar", "s", weight=weight, count_skipped=count_skipped),
                  is_done=lambda k: k == "a")
        assert f"{total}/{total}" in capsys.readouterr().err


def test_bad_failure_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="failures"):
        run_units(_touch, [], lambda k: (k,), executor=executor_for("serial"), progress=_quiet(), failures="skip")


def test_video_configs_go_through_the_one_converter() -> None:
    ego = EgoVideoConfig(source_azimuths=(20.0, -30.0), keyframes="0:0,2:40", sources=2)
    assert from_dict(EgoVideoConfig, ego.to_dict()) == ego
    cur = CurateConfig(split_fractions=(1.0, 0.0, 0.0), max_clips=3)
    back = from_dict(CurateConfig, cur.to_dict())
    assert back == cur and back.config_hash() == cur.config_hash()
    with pytest.raises(SimkitError, match="egovideo.camera.width must be an integer"):
        from_dict(EgoVideoConfig, {**ego.to_dict(), "camera": {"width": "wide"}}, "egovideo")
    with pytest.raises(SimkitError, match="unknown config field curate.colour"):
        from_dict(CurateConfig, {"colour": 1}, "curate")
    # validate: the ranges first (their messages name the option), then the converter for every field
    with pytest.raises(SimkitError, match=r"--seconds must be in \(0, 3600\] \(got inf\)"):
        EgoVideoConfig(seconds=float("inf")).validate()
    with pytest.raises(SimkitError, match="egovideo.source_distance must be a number"):
        EgoVideoConfig(source_distance=float("nan")).validate()
    with pytest.raises(SimkitError, match="curate.seed must be an integer"):
        CurateConfig(seed="0").validate()  # type: ignore[arg-type]
