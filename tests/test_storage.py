"""The compact storage codec (simkit.data.storage, not yet wired into the writer): int16/float16 error bounds,
the decay-floor trim, and its setting checks."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.acoustics import rt60_t30_batch
from simkit.data.storage import INT16_MAX, StorageConfig, encode, trim_below_floor
from simkit.errors import SimkitError


def decaying_rirs(rng: np.random.Generator, shape: tuple[int, ...], rt60: float = 0.4, sr: int = 16000):
    t = np.arange(shape[-1]) / sr
    return (rng.standard_normal(shape) * 10.0 ** (-3.0 * t / rt60)).astype(np.float32)


def test_int16_error_is_within_half_a_step_of_each_rows_peak_and_float16_is_relative() -> None:
    rng = np.random.default_rng(0)
    x = decaying_rirs(rng, (2, 3, 2, 8000)) * rng.uniform(0.01, 3.0, (2, 3, 2, 1)).astype(np.float32)
    sch = {"rir/indirect": ("float32", ("N", "S", 2, "R"))}
    for mode in ("int16", "float16"):
        out, schema, attrs = encode({"rir/indirect": x}, sch, StorageConfig(rir=mode, rir_floor_db=0.0))
        assert out["rir/indirect"].dtype == np.dtype(mode) and schema["rir/indirect"][0] == mode
        scale = out.get("rir/indirect_scale")
        back = out["rir/indirect"].astype(np.float32) * (scale[..., None] if scale is not None else 1)
        err = np.abs(back - x)
        if mode == "int16":
            peak = np.abs(x).max(axis=-1, keepdims=True)
            assert np.all(err <= peak / INT16_MAX / 2 * 1.01)  # + float32 rounding of the scale
            assert schema["rir/indirect_scale"] == ("float32", ("N", "S", 2))
        else:
            assert np.all(err <= np.abs(x) * 2.0**-11 + 6e-8)
        assert "storage" in attrs


def test_trim_zeroes_only_the_tail_below_the_floor() -> None:
    x = decaying_rirs(np.random.default_rng(1), (4, 16000))
    y = trim_below_floor(x, 60.0)
    e = x.astype(np.float64) ** 2
    edc = np.cumsum(e[..., ::-1], axis=-1)[..., ::-1] / e.sum(-1, keepdims=True)
    cut = np.argmax(y[..., ::-1] != 0, axis=-1)  # zeros at the end
    last = y.shape[-1] - cut  # first zeroed sample
    for i in range(len(x)):
        assert np.array_equal(y[i, : last[i]], x[i, : last[i]])
        assert 10 * np.log10(edc[i, last[i]]) <= -60.0 < 10 * np.log10(edc[i, last[i] - 1])
    assert np.all(last < x.shape[-1] * 0.95)  # a 0.4 s decay falls 60 dB well within 1 s
    assert np.array_equal(trim_below_floor(x, 0.0), x)
    rt_x, rt_y = rt60_t30_batch(x, 16000), rt60_t30_batch(y, 16000)
    assert np.all(np.abs(rt_y / rt_x - 1) < 0.01)


def test_bad_storage_settings_are_one_line_errors() -> None:
    for bad in (StorageConfig(clips="mp3"), StorageConfig(rir="int8"), StorageConfig(rir_floor_db=-1.0),
                StorageConfig(source="float16")):
        with pytest.raises(SimkitError, match="storage"):
            bad.validate()
