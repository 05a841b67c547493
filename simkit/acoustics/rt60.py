"""Reverberation time: T30 of impulse responses by Schroeder backward integration (ISO 3382-1 style, no noise
compensation), and the Eyring estimate of a procedural layout's room that steers the scene generator."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from simkit.resources import materials_path

FIT_START_DB = -5.0
FIT_END_DB = -35.0


def rt60_t30_batch(rirs: np.ndarray, sample_rate: int) -> np.ndarray:
    """RT60 (s) of every impulse response in a (..., T) array; NaN where the decay never reaches -35 dB.

    The energy decay curve is fitted by least squares between its first crossings of -5 and -35 dB and the
    slope is extrapolated to a 60 dB decay.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    x = np.asarray(rirs, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("rirs must have a non-empty last (time) axis")
    flat = x.reshape(-1, x.shape[-1])
    energy = flat**2
    edc = np.cumsum(energy[:, ::-1], axis=1)[:, ::-1]
    total = edc[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        edc_db = 10.0 * np.log10(edc / total)
    valid = total[:, 0] > 0
    edc_db[~valid] = 0.0

    below_start = edc_db <= FIT_START_DB
    below_end = edc_db <= FIT_END_DB
    i_start = np.argmax(below_start, axis=1)
    i_end = np.argmax(below_end, axis=1)
    reaches = below_end.any(axis=1) & valid

    idx = np.arange(flat.shape[1])
    mask = (idx[None, :] >= i_start[:, None]) & (idx[None, :] <= i_end[:, None]) & reaches[:, None]
    t = idx / float(sample_rate)
    y = np.where(mask, edc_db, 0.0)
    n = mask.sum(axis=1)
    st = (mask * t).sum(axis=1)
    stt = (mask * t * t).sum(axis=1)
    sy = y.sum(axis=1)
    sty = (y * t).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * sty - st * sy) / (n * stt - st * st)
        rt = -60.0 / slope
    ok = reaches & (n >= 2) & (slope < 0)
    out = np.where(ok, rt, np.nan)
    return out.reshape(x.shape[:-1])


def rt60_t30(rir: np.ndarray, sample_rate: int) -> float:
    """RT60 (s) of one impulse response (T,) by T30; NaN when the decay never reaches -35 dB."""
    rir = np.asarray(rir)
    if rir.ndim != 1:
        raise ValueError(f"rt60_t30 takes a 1-D RIR, got shape {rir.shape}; use rt60_t30_batch")
    return float(rt60_t30_batch(rir, sample_rate))


STEERING_FREQUENCY_HZ = 1000.0


@functools.lru_cache(maxsize=4)
def _absorption_at(database: str, frequency: float) -> dict[str, float]:
    from simkit.acoustics.materials import MaterialDatabase

    return {m.name: m.value_at("absorption", frequency) for m in MaterialDatabase.embedded()}


def absorption_1k() -> dict[str, float]:
    """Absorption at 1 kHz of every material of the embedded database (name -> coefficient)."""
    # keyed by the database's path, so a changed $SIMKIT_SCENES_DIR is read afresh
    return dict(_absorption_at(str(materials_path()), STEERING_FREQUENCY_HZ))


def _patch_area(p: dict[str, Any]) -> float:
    """Visible area of a patch box (its two largest extents)."""
    ext = sorted(np.subtract(p["max"], p["min"]))
    return float(ext[1] * ext[2])


def eyring_rt60_1k(
    room: dict[str, Any], surfaces: dict[str, dict[str, Any]], patches: list[dict[str, Any]],
    obstacles: list[dict[str, Any]], door_area: float = 0.0, absorption: Mapping[str, float] | None = None,
) -> float:
    """Eyring RT60 (s) of one room of a procedural layout at 1 kHz (layout schema: docs/scenes.md).

    ``absorption`` maps material name -> absorption coefficient; default: the 1 kHz band of the embedded
    material database (:func:`absorption_1k`), the values the engine uses.

    Doorways count as non-reflecting openings of ``door_area`` m^2 excluded from the surface. It is the
    generator's steering estimate; the engine's RT60 of single rooms matches it within ~10 % (docs/scenes.md).
    """
    alpha_of = absorption if absorption is not None else absorption_1k()
    (x0, z0), (x1, z1) = room["min"], room["max"]
    h = room["height"]
    floor = (x1 - x0) * (z1 - z0)
    walls = 2.0 * ((x1 - x0) + (z1 - z0)) * h - door_area
    volume = floor * h
    area = {"floor": floor, "walls": walls, "ceiling": floor}
    absorb = 0.0
    extra = 0.0
    for o in obstacles:
        w, hh, d = np.subtract(o["max"], o["min"])
        area["floor"] -= w * d
        volume -= w * d * hh
        s = w * d + 2.0 * (w + d) * hh
        extra += s
        absorb += s * alpha_of[o["material"]]
    for p in patches:
        a = _patch_area(p)
        area["floor" if p["label"] == "rug" else "walls"] -= a
        extra += a
        absorb += a * alpha_of[p["material"]]
    for key, a in area.items():
        absorb += max(a, 0.0) * alpha_of[surfaces[key]["material"]]
    total = sum(max(a, 0.0) for a in area.values()) + extra
    alpha = min(absorb / total, 0.95)
    return float(0.161 * volume / (-total * np.log1p(-alpha)))
