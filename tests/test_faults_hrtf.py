"""HRTF faults through the console script: render rates above an HRTF's own rate (the engine aborted the
process while upsampling it), the HRTF's identity in the manifest and the below-the-grid elevation warning.

Every render runs in a subprocess: a native abort (exit 134) would otherwise take pytest down with it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sofar
from cli_support import SIMKIT

from simkit.acoustics.config import AcousticsConfig
from simkit.acoustics.hrtf import BUILTIN_HRTF_RATE
from simkit.io import file_sha256
from simkit.render.config import RenderConfig
from simkit.render.pipeline import build_manifest

KEMAR = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")  # Debian libmysofa1 (.ci/run installs it)
needs_kemar = pytest.mark.skipif(not KEMAR.is_file(), reason=f"{KEMAR} absent: apt-get install libmysofa1")
TINY = ["--scenes", "proc_000", "--sets-per-scene", "1", "--views", "2", "--sources", "2", "--no-views",
        "--preset", "fast", "--quiet"]


def render(out: Path, tmp: Path, acoustics: dict, sampling: dict | None = None, *args: str,
           sets: int = 1) -> subprocess.CompletedProcess:
    """``simkit render`` of one small set with the given ``acoustics``/``sampling`` config sections."""
    cfg = tmp / f"{out.name}.json"
    cfg.write_text(json.dumps({"acoustics": {"rir_seconds": 0.25, **acoustics}, "sampling": sampling or {}}))
    argv = [SIMKIT, "render", "--out", str(out), "--config", str(cfg), *TINY, "--sets-per-scene", str(sets), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


def toy_sofa(path: Path, sample_rate: int) -> Path:
    """A small HRIR set at ``sample_rate``: the near ear leads by up to 5 samples and is louder."""
    s = sofar.Sofa("SimpleFreeFieldHRIR")
    az, el = np.meshgrid(np.arange(0.0, 360.0, 30.0), np.array([-30.0, 0.0, 30.0]))
    az, el = az.ravel(), el.ravel()
    lateral = np.sin(np.deg2rad(az)) * np.cos(np.deg2rad(el))
    ir = np.zeros((len(az), 2, 64))
    for i, lat in enumerate(lateral):
        ir[i, 0, int(round(16 - 5 * lat))] = 1.0 + 0.5 * lat
        ir[i, 1, int(round(16 + 5 * lat))] = 1.0 - 0.5 * lat
    s.Data_IR = ir
    s.Data_SamplingRate = float(sample_rate)
    s.SourcePosition = np.stack([az, el, np.full(len(az), 1.5)], axis=1)
    s.GLOBAL_Title = "toy HRIRs"
    s.GLOBAL_License = "CC0 1.0"
    s.GLOBAL_Organization = "simkit tests"
    sofar.write_sofa(str(path), s)
    return path


def no_crash(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr


@needs_kemar
def test_kemar_above_its_rate_renders_records_identity_and_warns_once_below_the_grid(tmp_path: Path) -> None:
    # 44.1 kHz KEMAR at 48 kHz aborted 4 of 5 runs; every source here lies below KEMAR's -40 deg (sources 0.1-0.2 m
    # above the floor, at most 1.6 m from ears 1.5 m up: elevation <= -54 deg)
    low = {"source_height_min": 0.1, "source_height_max": 0.2, "source_max_distance": 1.6}
    out = tmp_path / "kemar48"
    proc = render(out, tmp_path, {"sample_rate": 48000}, low, "--hrtf", str(KEMAR), sets=2)
    no_crash(proc)
    warnings = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: 4 of 4 sources lie below"), proc.stderr
    assert "(-40 deg)" in warnings[0]
    hrtf = json.loads((out / "manifest.json").read_text())["hrtf"]
    assert hrtf["file"] == KEMAR.name and hrtf["sha256"] == file_sha256(KEMAR)
    assert (hrtf["sample_rate"], hrtf["render_rate"], hrtf["min_elevation_deg"]) == (44100, 48000, -40.0)
    assert hrtf["resampled"].startswith("soxr VHQ, 44100 -> 48000 Hz")
    assert hrtf["attributes"]["ListenerShortName"] == "KEMAR, normal pinna" and hrtf["licence"]
    summary = json.loads((out / "summary.json").read_text())["hrtf"]
    assert summary == {"min_elevation_deg": -40.0, "sources": 4, "sources_below": 4}


@pytest.mark.parametrize("rate", [22050, 44100])
def test_low_rate_sofa_above_its_rate_renders(tmp_path: Path, rate: int) -> None:
    sofa = toy_sofa(tmp_path / "toy16k.sofa", 16000)  # a 16 kHz SOFA at 22.05-44.1 kHz aborted 3 of 3
    out = tmp_path / f"toy{rate}"
    no_crash(render(out, tmp_path, {"sample_rate": rate}, None, "--hrtf", str(sofa)))
    manifest = json.loads((out / "manifest.json").read_text())
    hrtf = manifest["hrtf"]
    assert (hrtf["sample_rate"], hrtf["render_rate"]) == (16000, rate)
    wrote = {"Title": "toy HRIRs", "License": "CC0 1.0", "Organization": "simkit tests"}
    assert {k: hrtf["attributes"].get(k) for k in wrote} == wrote
    assert manifest["licences"]["hrtf"] == f"{hrtf['id']}: CC0 1.0"


def test_builtin_hrtf_above_its_rate_is_one_error_line(tmp_path: Path) -> None:
    out = tmp_path / "builtin96"
    proc = render(out, tmp_path, {"sample_rate": 96000})  # aborted 5 of 5 before
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: acoustics.sample_rate 96000 Hz is above the 48000 Hz")
    assert "--hrtf" in lines[0]
    assert not (out / "manifest.json").exists()


def test_manifest_records_the_builtin_hrtf() -> None:
    cfg = RenderConfig(acoustics=AcousticsConfig(preset="fast", sample_rate=BUILTIN_HRTF_RATE))
    m = build_manifest(cfg, {"proc_000": "val"})
    assert m["hrtf"]["kind"] == "builtin" and m["hrtf"]["render_rate"] == BUILTIN_HRTF_RATE
    assert "CC-BY-NC 4.0" in m["hrtf"]["licence"] and m["hrtf"]["engine"] == m["engine"]["version"]
    assert m["licences"]["hrtf"].startswith("builtin: ") and "CC-BY-NC" in m["origin"]["licence"]
