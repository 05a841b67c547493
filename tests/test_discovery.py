"""Engines, executors and speech sources are one file each, found without an import line: a module dropped
into the package (here: a temporary folder appended to the package's ``__path__``, in a fresh process so the
registries of this one stay as they are) is registered and usable by name; the interface modules import none
of the built-in entries (the speech <-> espeak / librispeech cycle stays broken)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import simkit

SIMKIT = Path(simkit.__file__).parent

ENGINE = '''
import numpy as np

from simkit.acoustics.backend import BACKENDS, BinauralRIRs, check_rir_settings


@BACKENDS.register("silent")
class SilentBackend:
    """Zero RIRs of the configured length: the smallest complete engine."""

    name = "silent"

    def __init__(self, cfg, materials):
        self.n = check_rir_settings(cfg)
        self.sample_rate = cfg.sample_rate

    def version(self):
        return "silent-1"

    def hrtf_id(self):
        return "builtin"

    def hrtf_manifest(self):
        return {"id": "builtin"}

    def render(self, scene, listener_positions, listener_quats, source_positions):
        z = np.zeros((len(listener_positions), len(source_positions), 2, self.n), np.float32)
        return BinauralRIRs(direct=z, indirect=z.copy(), sample_rate=self.sample_rate)
'''

ENGINE_USE = '''
import numpy as np
import simkit.acoustics
from simkit.acoustics import BACKENDS, MaterialDatabase, make_backend
from simkit.acoustics.config import AcousticsConfig

simkit.acoustics.__path__.append(PLUGINS)
backend = make_backend(AcousticsConfig(engine="silent", sample_rate=16000, rir_seconds=0.5),
                       MaterialDatabase.embedded())
rirs = backend.render(None, np.zeros((3, 3)), np.tile([1.0, 0, 0, 0], (3, 1)), np.ones((2, 3)))
print(BACKENDS.names(), backend.version(), rirs.direct.shape)
'''

EXECUTOR = '''
from simkit.executors import EXECUTORS, bind, finish


@EXECUTORS.register("reverse")
def run_reverse(fn, keys, args, done, opts, shared=None):
    """Every unit in this process, last first."""
    for key, a in reversed(list(zip(keys, args, strict=True))):
        finish(key, lambda a=a: fn(*bind(a, shared)), done)
'''

EXECUTOR_USE = '''
import simkit.executors
from simkit.executors import SHARED, executor_for

simkit.executors.__path__.append(PLUGINS)
run, opts = executor_for("reverse", 1)
seen = []
run(divmod, ["a", "b", "c"], [(7, SHARED), (8, SHARED), (9, SHARED)], lambda k, e: seen.append((k, e)), opts,
    shared=2)
print(seen)
from simkit.cli.options import executor_option

print(executor_option().help)
'''

SOURCE = '''
import numpy as np

from simkit.audio.speech import SPEECH_SOURCES, Clip, check_split, clip_samples, normalize_clip


@SPEECH_SOURCES.register("tone")
class ToneSource:
    """Sine tones; the id names the frequency, so load_clip re-creates a drawn clip exactly."""

    name = "tone"

    @classmethod
    def from_config(cls, cfg):
        return cls()

    def identity(self):
        return {"name": self.name}

    def speakers(self, split):
        return [f"{check_split(split)}-tone"]

    def draw(self, split, rng, seconds, sample_rate):
        return self.load_clip(f"tone:{int(rng.integers(200, 400))}@0.00", sample_rate, seconds)

    @staticmethod
    def load_clip(source_id, sample_rate, seconds, corpus=None):
        hz = int(source_id.split(":")[1].split("@")[0])
        t = np.arange(clip_samples(seconds, sample_rate)) / sample_rate
        audio = normalize_clip(np.sin(2 * np.pi * hz * t), source_id)
        return Clip(audio=audio, sample_rate=sample_rate, source_id=source_id, speaker="tone", text="")
'''

SOURCE_USE = '''
import numpy as np
import simkit.audio
from simkit.audio import SpeechSource, load_clip, make_speech_source
from simkit.audio.speech import SPEECH_SOURCES
from simkit.audio.config import SpeechConfig

simkit.audio.__path__.append(PLUGINS)
src = make_speech_source(SpeechConfig(), source="tone")
clip = src.draw("train", np.random.default_rng(0), 0.25, 16000)
again = load_clip(clip.source_id, 16000, 0.25)
print(SPEECH_SOURCES.names(), isinstance(src, SpeechSource), clip.source_id, clip.audio.size,
      again.audio.tobytes() == clip.audio.tobytes())
'''


def run_with_plugin(tmp_path: Path, name: str, module: str, script: str) -> str:
    """Write ``module`` as ``<tmp>/plugins/<name>.py`` and run ``script`` (which appends that folder to a
    package's ``__path__``) in a fresh interpreter; returns its stdout."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / f"{name}.py").write_text(textwrap.dedent(module))
    code = f"PLUGINS = {str(plugins)!r}\n" + textwrap.dedent(script)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_an_engine_file_dropped_into_acoustics_is_found(tmp_path: Path) -> None:
    out = run_with_plugin(tmp_path, "silent_engine", ENGINE, ENGINE_USE)
    assert out.split() == ["['pyroomacoustics',", "'rlr',", "'silent']", "silent-1", "(3,", "2,", "2,", "8000)"]


def test_an_executor_file_dropped_into_executors_is_found_and_listed_in_the_cli_help(tmp_path: Path) -> None:
    out = run_with_plugin(tmp_path, "reverse", EXECUTOR, EXECUTOR_USE).splitlines()
    assert out[0] == "[('c', None), ('b', None), ('a', None)]"
    assert out[1].startswith("process | ray | reverse | serial (default:")


def test_a_speech_source_file_dropped_into_audio_is_found(tmp_path: Path) -> None:
    out = run_with_plugin(tmp_path, "tone", SOURCE, SOURCE_USE).split()
    assert out[:3] == ["['espeak',", "'librispeech',", "'tone']"]
    assert out[3] == "True" and out[4].startswith("tone:") and out[5:] == ["4000", "True"]


def simkit_imports(path: Path) -> set[str]:
    """The simkit modules ``path`` imports anywhere (module level, functions, TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("simkit.")}


@pytest.mark.parametrize(("interface", "entries"), [
    ("acoustics/__init__.py", ("simkit.acoustics.rlr", "simkit.acoustics.pyroom")),
    ("acoustics/backend.py", ("simkit.acoustics.rlr", "simkit.acoustics.pyroom")),
    ("executors/__init__.py", ("simkit.executors.serial", "simkit.executors.process", "simkit.executors.ray")),
    ("audio/__init__.py", ("simkit.audio.espeak", "simkit.audio.librispeech")),
    ("audio/speech.py", ("simkit.audio.espeak", "simkit.audio.librispeech")),
])
def test_interfaces_import_no_registered_entry(interface: str, entries: tuple[str, ...]) -> None:
    """Registration is by discovery: the interface names no engine, executor or source (and the speech
    module is imported by the sources, never the other way round)."""
    assert not simkit_imports(SIMKIT / interface) & set(entries)
