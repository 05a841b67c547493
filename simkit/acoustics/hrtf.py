"""SOFA HRTF files: validation (a one-line SimkitError for every bad file) and HRIR loading.

A usable HRTF is an AES69 (SOFA) file in the ``SimpleFreeFieldHRIR`` convention, or ``GeneralFIR`` laid
out the same way: ``Data.IR`` of shape (M measurements, 2 receivers, N samples), receiver 0 = left ear,
``SourcePosition`` giving the direction of each measurement relative to the head. SOFA's head frame is
x = front, y = left, z = up, with azimuth counter-clockwise from the front (+90 = left): the same azimuth
labelling as :mod:`simkit.conventions`, so only the axes are re-expressed on load: SOFA (azimuth a,
elevation e) is the listener-frame vector ``cos e * azimuth_to_local_direction(a) + sin e * UP``, and SOFA
cartesian (x, y, z) is listener (-y, z, -x).

Sampling rate. RLRAudioPropagation 0.0.1 resamples an HRTF to the render rate itself, but *upsampling* aborts
the process (SIGABRT, nothing printed; measured: the MIT KEMAR at 44.1 kHz rendered at 48 kHz, a 16 kHz SOFA at
22.05 or 44.1 kHz, the built-in HRTF above 48 kHz), while downsampling works. So simkit hands the engine only
HRIRs at the render rate: :func:`resample_sofa` writes a copy resampled with soxr, and the built-in HRTF,
which cannot be resampled from outside, is refused above :data:`BUILTIN_HRTF_RATE`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from simkit.conventions import UP, azimuth_to_local_direction
from simkit.errors import SimkitError
from simkit.io import file_sha256

# Conventions whose Data.IR is a time-domain (M, R, N) impulse response per source direction.
ACCEPTED_CONVENTIONS = ("SimpleFreeFieldHRIR", "GeneralFIR")

# SOFA global attributes recorded in a render manifest (those present and non-empty), file spelling.
IDENTITY_ATTRIBUTES = ("Title", "DatabaseName", "ListenerShortName", "License", "Organization", "AuthorContact",
                       "References", "Origin", "DateCreated")

# The engine's built-in HRTF (Meta's Oculus Audio "ovra" internal HRTF, compiled into the native library):
# highest render rate it survives. Measured: every render above 48 kHz aborts (it is upsampled), 48 kHz and
# below render. No file or measurement grid is published for it.
BUILTIN_HRTF_RATE = 48000
BUILTIN_HRTF_DESCRIPTION = ("RLRAudioPropagation built-in HRTF (Meta Oculus Audio internal HRTF, compiled into "
                            "the engine's native library)")
BUILTIN_HRTF_LICENCE = "part of RLRAudioPropagation: CC-BY-NC 4.0 (non-commercial use only)"
RESAMPLER = "soxr VHQ"  # how simkit resamples HRIRs (recorded in manifests)


@dataclass(frozen=True)
class HrtfInfo:
    """What a render records about the HRTF it used."""

    path: str
    sha256: str
    convention: str
    sample_rate: int
    n_measurements: int
    n_samples: int
    min_elevation_deg: float = -90.0  # lowest measured elevation: sources below it get the nearest direction
    attributes: tuple[tuple[str, str], ...] = ()  # (name, value) of the IDENTITY_ATTRIBUTES the file sets

    @property
    def licence(self) -> str:
        """The file's own ``License`` attribute, or a statement that it gives none."""
        return dict(self.attributes).get("License") or "not stated in the SOFA file"

    def manifest_entry(self, render_rate: int) -> dict[str, Any]:
        """What a manifest records: identity, licence, rates (and resampling), grid extent, SOFA attributes."""
        return {
            "kind": "sofa", "id": self.hrtf_id, "file": Path(self.path).name, "sha256": self.sha256,
            "convention": self.convention, "sample_rate": self.sample_rate, "render_rate": int(render_rate),
            "resampled": None if self.sample_rate == int(render_rate)
            else f"{RESAMPLER}, {self.sample_rate} -> {int(render_rate)} Hz, by simkit",
            "measurements": self.n_measurements, "min_elevation_deg": self.min_elevation_deg,
            "licence": self.licence, "attributes": dict(self.attributes),
        }

    @property
    def hrtf_id(self) -> str:
        """Identity written to manifests and shards: ``<file name>@<sha256 prefix>``."""
        return f"{Path(self.path).name}@{self.sha256[:16]}"


@dataclass
class Hrir:
    """Head-related impulse responses resolved into the simkit listener frame."""

    ir: np.ndarray  # (M, 2, N) float32, channel 0 = left ear
    directions: np.ndarray  # (M, 3) unit vectors in the listener frame (x right, y up, -z front)
    sample_rate: int
    info: HrtfInfo


def _read(path: Path):  # -> sofar.Sofa
    import sofar

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sofar.read_sofa(str(path), verify=True, verbose=False)
    except Exception as e:  # sofar raises ValueError/KeyError/OSError/netCDF errors for malformed files
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SimkitError(f"HRTF file {path} is not a valid SOFA file ({reason})") from None


def validate_sofa(path: str | Path, sample_rate: int | None = None) -> HrtfInfo:
    """Check that ``path`` is a readable binaural HRIR SOFA file; return its identity.

    ``sample_rate`` (Hz), when given, must equal the file's sampling rate: engines do not resample HRIRs
    silently. Every problem raises a one-line :class:`SimkitError` naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise SimkitError(f"HRTF file {p} not found")
    if not h5py.is_hdf5(p):
        raise SimkitError(f"HRTF file {p} is not a SOFA file (SOFA files are HDF5/netCDF-4)")
    sofa = _read(p)
    convention = str(getattr(sofa, "GLOBAL_SOFAConventions", ""))
    if convention not in ACCEPTED_CONVENTIONS:
        raise SimkitError(
            f"HRTF file {p} uses SOFA convention {convention or '(none)'!r}; "
            f"need one of {', '.join(ACCEPTED_CONVENTIONS)} (time-domain HRIRs)"
        )
    ir = np.asarray(getattr(sofa, "Data_IR", np.zeros(0)), dtype=np.float64)
    if ir.ndim == 2:  # sofar drops a trailing singleton dimension (one-sample IRs)
        ir = ir[:, :, None]
    if ir.ndim != 3 or ir.shape[0] < 1 or ir.shape[2] < 1:
        raise SimkitError(f"HRTF file {p} has Data.IR of shape {ir.shape}; expected (measurements, 2, samples)")
    if ir.shape[1] != 2:
        raise SimkitError(f"HRTF file {p} has {ir.shape[1]} receivers; a binaural HRTF needs 2 (left, right)")
    if not np.all(np.isfinite(ir)):
        raise SimkitError(f"HRTF file {p} contains non-finite HRIR samples")
    fs_raw = np.ravel(np.asarray(getattr(sofa, "Data_SamplingRate", np.nan), dtype=np.float64))
    if fs_raw.size != 1 or not np.isfinite(fs_raw[0]) or fs_raw[0] <= 0:
        raise SimkitError(f"HRTF file {p} has no single valid Data.SamplingRate")
    units = str(getattr(sofa, "Data_SamplingRate_Units", "hertz")).lower()
    if units not in ("hertz", "hz"):
        raise SimkitError(f"HRTF file {p} gives its sampling rate in {units!r}; expected hertz")
    fs = int(round(fs_raw[0]))
    if sample_rate is not None and fs != int(sample_rate):
        raise SimkitError(
            f"HRTF file {p} is sampled at {fs} Hz but the render uses {int(sample_rate)} Hz; "
            "resample the SOFA file or change acoustics.sample_rate"
        )
    pos = np.atleast_2d(np.asarray(getattr(sofa, "SourcePosition", np.zeros((0, 3))), dtype=np.float64))
    if pos.shape != (ir.shape[0], 3) and not (pos.shape == (1, 3) and ir.shape[0] == 1):
        raise SimkitError(
            f"HRTF file {p} has {pos.shape[0]} source positions for {ir.shape[0]} measurements"
        )
    if not np.all(np.isfinite(pos)):
        raise SimkitError(f"HRTF file {p} has non-finite source positions")
    up = np.clip(_sofa_directions(sofa, p) @ UP, -1.0, 1.0)
    attributes = tuple(
        (name, value) for name in IDENTITY_ATTRIBUTES
        if (value := str(getattr(sofa, f"GLOBAL_{name}", "") or "").strip())
    )
    return HrtfInfo(
        path=str(p), sha256=file_sha256(p), convention=convention, sample_rate=fs,
        n_measurements=int(ir.shape[0]), n_samples=int(ir.shape[2]),
        min_elevation_deg=round(float(np.rad2deg(np.arcsin(up.min()))), 6), attributes=attributes,
    )


def builtin_manifest_entry(engine_version: str, render_rate: int) -> dict[str, Any]:
    """What a manifest records about the engine's built-in HRTF (identified by the engine build)."""
    return {"kind": "builtin", "id": "builtin", "description": BUILTIN_HRTF_DESCRIPTION,
            "engine": engine_version, "render_rate": int(render_rate), "max_render_rate": BUILTIN_HRTF_RATE,
            "licence": BUILTIN_HRTF_LICENCE}


def check_builtin_rate(sample_rate: int) -> None:
    """Refuse a render rate the built-in HRTF cannot be used at (the engine would abort while upsampling it)."""
    if sample_rate > BUILTIN_HRTF_RATE:
        raise SimkitError(
            f"acoustics.sample_rate {sample_rate} Hz is above the {BUILTIN_HRTF_RATE} Hz the engine's built-in "
            "HRTF supports (the engine aborts); render at <= 48000 Hz or give a SOFA file with --hrtf "
            "(simkit resamples it to any rate)"
        )


def resample_ir(ir: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """HRIRs (M, R, N) resampled along the last axis with soxr (VHQ, delay-compensated), in ``ir``'s dtype."""
    import soxr

    m, r, n = ir.shape
    out = soxr.resample(np.ascontiguousarray(ir.reshape(m * r, n).T), from_rate, to_rate, quality="VHQ")
    return np.ascontiguousarray(out.T.reshape(m, r, -1))


def resample_sofa(path: str | Path, sample_rate: int, dest: str | Path) -> Path:
    """Write ``path``'s SOFA file resampled to ``sample_rate`` (Hz) at ``dest``; returns ``dest``.

    Data.IR goes through :func:`resample_ir`; Data.Delay (in samples) is scaled by the rate ratio; every other
    variable and attribute is copied, so the engine reads the same directions at the render rate.
    """
    import sofar

    p = Path(path)
    sofa = _read(p)
    fs = int(round(float(np.ravel(sofa.Data_SamplingRate)[0])))
    ir = np.asarray(sofa.Data_IR, dtype=np.float64)
    if ir.ndim == 2:
        ir = ir[:, :, None]
    sofa.Data_IR = resample_ir(ir, fs, int(sample_rate))
    sofa.Data_SamplingRate = float(sample_rate)
    delay = getattr(sofa, "Data_Delay", None)
    if delay is not None:
        sofa.Data_Delay = np.asarray(delay, dtype=np.float64) * (float(sample_rate) / fs)
    dest = Path(dest)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sofar.write_sofa(str(dest), sofa, compression=0)
    except Exception as e:  # sofar re-verifies on write; a file that read back valid should write too
        raise SimkitError(f"HRTF file {p} could not be resampled to {sample_rate} Hz ({e})") from None
    return dest


def _sofa_directions(sofa, path: Path) -> np.ndarray:
    """Unit measurement directions (M, 3) in the simkit listener frame."""
    pos = np.atleast_2d(np.asarray(sofa.SourcePosition, dtype=np.float64))
    ptype = str(getattr(sofa, "SourcePosition_Type", "spherical")).lower()
    units = [u.strip().lower() for u in str(getattr(sofa, "SourcePosition_Units", "degree")).split(",")]
    if ptype == "spherical":
        az, el = pos[:, 0], pos[:, 1]
        if units and units[0] in ("radian", "radians"):
            az, el = np.rad2deg(az), np.rad2deg(el)
        el_r = np.deg2rad(el)[:, None]
        d = np.cos(el_r) * azimuth_to_local_direction(az) + np.sin(el_r) * UP
    elif ptype == "cartesian":
        # SOFA head frame x front, y left, z up -> listener frame x right, y up, -z front.
        d = np.stack([-pos[:, 1], pos[:, 2], -pos[:, 0]], axis=-1)
    else:
        raise SimkitError(f"HRTF file {path} has SourcePosition type {ptype!r}; expected spherical or cartesian")
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    if np.any(n < 1e-9):
        raise SimkitError(f"HRTF file {path} has a zero-length source position")
    return d / n


def load_hrir(path: str | Path, sample_rate: int | None = None) -> Hrir:
    """Validate ``path`` and return its HRIRs with measurement directions in the listener frame."""
    info = validate_sofa(path, sample_rate)
    sofa = _read(Path(path))
    ir = np.asarray(sofa.Data_IR, dtype=np.float32)
    if ir.ndim == 2:
        ir = ir[:, :, None]
    return Hrir(ir=ir, directions=_sofa_directions(sofa, Path(path)), sample_rate=info.sample_rate, info=info)
