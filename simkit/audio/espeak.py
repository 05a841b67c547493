"""Offline speech from espeak-ng (the libespeak-ng bundled by the ``espeakng-loader`` package), via ctypes.

A "speaker" is a voice configuration: an English accent, a voice variant (timbre) and a pitch/rate pair,
written ``<accent>+<variant>_p<pitch>_r<rate>`` (e.g. ``en-us+f1_p52_r170``). Utterances are sentences
built deterministically from word lists, so a clip id ``espeak:<voice>/s<NNNN>@0.00`` fully determines
its samples. espeak-ng is GPL-3.0-or-later.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import math
import os
import re
import shutil
import tempfile
import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simkit.audio.dsp import resample
from simkit.audio.speech import (
    SPEECH_SOURCES,
    SPLITS,
    Clip,
    assign_splits,
    check_fractions,
    check_split,
    clip_samples,
    normalize_clip,
)
from simkit.errors import SimkitError
from simkit.io import stable_hash
from simkit.signals import deferred

if TYPE_CHECKING:
    from simkit.audio.config import SpeechConfig

LICENCE = "GPL-3.0-or-later"

# English accents shipped with espeak-ng (en-Shaw is Shavian script, not an accent).
ACCENTS: tuple[str, ...] = (
    "en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc", "en-029",
)
# Voice variants (espeak-ng-data/voices/!v) that keep the source dry and natural-sounding: no built-in
# echo (it would add reverberation before the RIR), no Klatt/robot voices, no whisper.
FEMALE_VARIANTS: tuple[str, ...] = (
    "f1", "Andrea", "Annie", "aunty", "belinda", "linda", "steph", "anika", "shelby",
)
MALE_VARIANTS: tuple[str, ...] = (
    "m1", "m3", "m4", "m6", "m7", "Alex", "Andy", "Denis", "Gene", "Jacky", "Lee", "Michael", "antonio",
    "john", "quincy", "robert", "travis",
)
PITCH_RANGE = (38, 62)  # espeakPITCH, 0..100 (50 = the variant's own pitch)
RATE_RANGE = (150, 190)  # espeakRATE, words per minute (175 = espeak default)

_VOICE_RE = re.compile(r"^(?P<accent>[a-z0-9-]+)\+(?P<variant>[A-Za-z0-9]+)_p(?P<pitch>\d+)_r(?P<rate>\d+)$")
_ID_RE = re.compile(r"^espeak:(?P<voice>[^/@]+)/s(?P<sentence>\d{4})@(?P<offset>\d+\.\d{2})$")

# ---------------------------------------------------------------------------------------------- sentences

_ADJ = (
    "quiet", "bright", "ancient", "curious", "gentle", "heavy", "narrow", "silver", "patient", "crowded",
    "distant", "golden", "humble", "restless", "wooden", "clever", "frozen", "hollow", "sturdy", "tired",
    "busy", "careful", "cheerful", "modest",
)
_NOUN = (
    "teacher", "farmer", "sailor", "painter", "doctor", "merchant", "baker", "traveller", "gardener",
    "musician", "soldier", "student", "captain", "neighbour", "writer", "hunter", "weaver", "pilot", "miller",
    "shepherd", "carpenter", "librarian", "fisherman", "engineer",
)
_VERB = (  # regular verbs: past tense == past participle, so every template reads correctly
    "carried", "painted", "repaired", "discovered", "followed", "described", "collected", "delivered",
    "opened", "measured", "borrowed", "cleaned", "counted", "wrapped", "noticed", "finished", "watched",
    "gathered", "polished", "remembered",
)
_NUM = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve")
_OADJ = (
    "old", "small", "broken", "painted", "heavy", "green", "empty", "tiny", "shiny", "wooden", "rusty",
    "fragile", "brown", "square", "secret", "clean",
)
_OBJ = (
    "lanterns", "letters", "baskets", "maps", "windows", "bottles", "blankets", "paintings", "tools",
    "candles", "boxes", "ropes", "coins", "wheels", "books", "bells", "stones", "apples", "shoes", "jars",
    "mirrors", "drums", "flags", "keys",
)
_PLACE = (
    "the narrow bridge", "the village square", "the northern harbour", "the old mill", "the busy market",
    "the quiet library", "the riverside path", "the station platform", "the mountain road",
    "the school garden", "the empty theatre", "the stone chapel", "the long corridor", "the kitchen table",
    "the city gate", "the farm house", "the little island", "the railway yard", "the east tower",
    "the hospital door",
)
_TIME = (
    "before the evening storm arrived", "after the long winter ended", "while the children were sleeping",
    "during the first week of spring", "as the sun was rising", "before anyone else woke up",
    "on a cold and windy morning", "when the bells began to ring", "after the market had closed",
    "late on a rainy afternoon", "while the kettle was boiling", "just before the guests arrived",
    "as the train pulled away", "on the last day of summer", "when the lights went out",
    "after a very long journey",
)
_PRON = ("she", "he", "they")
_TEMPLATES = (
    "The {adj} {noun} {verb} {num} {oadj} {obj} across {place} {time}.",
    "{Time}, the {adj} {noun} {verb} {num} {oadj} {obj} near {place}.",
    "Nobody knew why the {adj} {noun} {verb} {num} {oadj} {obj} at {place} {time}.",
    "{Num} {oadj} {obj} were {verb} by the {adj} {noun} from {place} {time}.",
    "When the {adj} {noun} reached {place}, {pron} {verb} {num} {oadj} {obj} {time}.",
    "Everyone agreed that the {adj} {noun} had {verb} {num} {oadj} {obj} beside {place} {time}.",
)
_SLOTS = (
    ("template", _TEMPLATES), ("adj", _ADJ), ("noun", _NOUN), ("verb", _VERB), ("num", _NUM),
    ("oadj", _OADJ), ("obj", _OBJ), ("place", _PLACE), ("time", _TIME), ("pron", _PRON),
)
N_SENTENCES = 1000


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


@lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    """The fixed sentence table (``N_SENTENCES`` distinct English sentences of 14-20 words)."""
    # Each slot is picked by a hash of (index, attempt, slot): varied, stable everywhere (no RNG stream),
    # and a repeat of an earlier sentence is re-drawn with the next attempt, so all sentences are distinct.
    out: list[str] = []
    seen: set[str] = set()
    for i in range(N_SENTENCES):
        for attempt in range(1000):
            words: dict[str, str] = {}
            for name, options in _SLOTS:
                h = hashlib.sha256(f"simkit-sentence/{i}/{attempt}/{name}".encode()).digest()
                words[name] = options[int.from_bytes(h[:8], "big") % len(options)]
            template = words.pop("template")
            sentence = template.format(Time=_cap(words["time"]), Num=_cap(words["num"]), **words)
            if sentence not in seen:
                break
        seen.add(sentence)
        out.append(sentence)
    return tuple(out)


# ------------------------------------------------------------------------------------------------- voices


def voice_id(accent: str, variant: str) -> str:
    """The voice configuration of (accent, variant): its pitch and rate come from a fixed hash of the pair."""
    h = int.from_bytes(hashlib.sha256(f"{accent}+{variant}".encode()).digest()[:8], "big")
    pitch = PITCH_RANGE[0] + h % (PITCH_RANGE[1] - PITCH_RANGE[0] + 1)
    rate = RATE_RANGE[0] + (h >> 16) % (RATE_RANGE[1] - RATE_RANGE[0] + 1)
    return f"{accent}+{variant}_p{pitch}_r{rate}"


def parse_voice(voice: str) -> tuple[str, str, int, int]:
    """(espeak voice name ``accent+variant``, variant, pitch, rate) of a voice id; SimkitError if unknown."""
    m = _VOICE_RE.match(voice)
    if m is None:
        raise SimkitError(f"malformed espeak voice {voice!r} (expected '<accent>+<variant>_p<P>_r<R>')")
    accent, variant = m["accent"], m["variant"]
    pitch, rate = int(m["pitch"]), int(m["rate"])
    if accent not in ACCENTS:
        raise SimkitError(f"unknown espeak accent {accent!r} in voice {voice!r} (known: {' '.join(ACCENTS)})")
    if variant not in FEMALE_VARIANTS + MALE_VARIANTS:
        raise SimkitError(f"unknown espeak voice variant {variant!r} in voice {voice!r}")
    if not (0 <= pitch <= 100 and 80 <= rate <= 450):
        raise SimkitError(f"espeak voice {voice!r}: pitch must be 0..100 and rate 80..450 words per minute")
    return f"{accent}+{variant}", variant, pitch, rate


def variant_splits(speaker_split: tuple[float, float, float]) -> dict[str, list[str]]:
    """Voice variants (timbres) per split: female and male variants are split separately, 7:2:1 each."""
    fr = check_fractions(speaker_split)
    female = assign_splits(FEMALE_VARIANTS, fr, salt="simkit-espeak-variants-v1")
    male = assign_splits(MALE_VARIANTS, fr, salt="simkit-espeak-variants-v1")
    return {s: sorted(female[s] + male[s]) for s in SPLITS}


# ----------------------------------------------------------------------------------------------- library

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_BUFFER_MS = 1000
# int callback(short *wav, int numsamples, espeak_EVENT *events)
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)

# libespeak-ng is not thread-safe and keeps per-process global state.
_LOCK = threading.Lock()
_PRIVATE_LIB: dict[int, tuple[Path, Path]] = {}  # pid -> (private library copy, data dir)


def _fresh_lock_in_child() -> None:
    # A fork taken while another thread synthesised would copy a held lock into the child.
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


def _loader() -> Any:
    try:
        import espeakng_loader
    except ImportError:
        raise SimkitError(
            "espeak-ng speech needs the espeakng-loader package (pip install espeakng-loader), "
            "or set speech.corpus to a LibriSpeech folder"
        ) from None
    return espeakng_loader


def _private_library() -> tuple[Path, Path]:
    """A private copy of libespeak-ng for this process (made once), and the espeak-ng-data folder.

    The wavegen keeps static state between utterances (flutter phase, gain control), so equal requests
    would give different samples. Each utterance therefore runs in a freshly loaded library instance
    (dlopen, synthesise, dlclose); the private file name guarantees that no other user of the bundled
    library in this process keeps it mapped, so dlclose really unloads it.
    """
    pid = os.getpid()
    cached = _PRIVATE_LIB.get(pid)
    if cached is not None and cached[0].exists():
        return cached
    loader = _loader()
    src = Path(loader.get_library_path())
    try:
        data = Path(loader.get_data_path())
    except RuntimeError as e:
        raise SimkitError(f"espeak-ng data folder missing: {e}") from None
    if not src.exists():
        raise SimkitError(f"espeak-ng library missing at {src} (reinstall espeakng-loader)")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    try:
        cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        cache = cache_home / "simkit" / "espeak" / digest
        target = cache / f"libespeak-ng-simkit{src.suffix}"
        if not target.exists():
            cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=".lib-", suffix=src.suffix)
            os.close(fd)
            shutil.copyfile(src, tmp)
            os.replace(tmp, target)  # atomic: concurrent workers never see a half-written library
    except (OSError, RuntimeError):  # no writable home cache: a per-process temporary copy
        tmpdir = tempfile.mkdtemp(prefix="simkit-espeak-")
        atexit.register(shutil.rmtree, tmpdir, True)
        target = Path(tmpdir) / f"libespeak-ng-simkit{src.suffix}"
        shutil.copyfile(src, target)
    _PRIVATE_LIB[pid] = (target, data)
    return target, data


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Terminate.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int


def _unload(lib: ctypes.CDLL, path: Path) -> None:
    import _ctypes

    close = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary
    close(lib._handle)
    noload = getattr(os, "RTLD_NOLOAD", None)
    if noload is not None:
        try:
            again = ctypes.CDLL(str(path), mode=noload | os.RTLD_LOCAL)
        except OSError:
            return  # unloaded, as intended
        close(again._handle)
        raise SimkitError(f"espeak-ng library {path} stayed loaded after dlclose; synthesis would not repeat")


def synthesize(text: str, voice: str) -> tuple[np.ndarray, int]:
    """Synthesise ``text`` with a voice id; returns (int16 samples, sample rate). Same input, same samples."""
    name, _, pitch, rate = parse_voice(voice)
    with _LOCK:
        path, data = _private_library()
        lib = ctypes.CDLL(str(path), mode=getattr(os, "RTLD_LOCAL", 0))
        sr = 0
        try:
            _declare(lib)
            sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, str(data).encode(),
                                       _INITIALIZE_DONT_EXIT)
            if sr <= 0:
                raise SimkitError(f"espeak-ng failed to initialise with data folder {data}")
            chunks: list[np.ndarray] = []

            def on_audio(wav: Any, n: int, _events: Any) -> int:
                if n > 0 and wav:
                    chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
                return 0  # 0 = keep going

            callback = _SYNTH_CALLBACK(on_audio)  # must outlive espeak_Synth
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_SetVoiceByName(name.encode()) != 0:
                raise SimkitError(f"espeak-ng has no voice {name!r}")
            lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
            lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
            lib.espeak_ng_SetRandSeed(0)
            buf = text.encode("utf-8") + b"\0"
            # ctypes ignores an exception raised in on_audio: a Ctrl-C must wait for the synthesis to end
            with deferred():
                status = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != 0:
                raise SimkitError(f"espeak-ng synthesis failed (status {status}) for voice {voice!r}")
        finally:
            if sr > 0:
                lib.espeak_Terminate()  # frees the voice and dictionary before the library goes
            _unload(lib, path)
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return pcm.astype(np.int16, copy=False), int(sr)


@lru_cache(maxsize=1)
def engine_version() -> str:
    """libespeak-ng version string (e.g. ``1.52.0``)."""
    with _LOCK:
        path, _ = _private_library()
        lib = ctypes.CDLL(str(path), mode=getattr(os, "RTLD_LOCAL", 0))
        try:
            _declare(lib)
            version = lib.espeak_Info(None)
        finally:
            _unload(lib, path)
    return version.decode() if version else "unknown"


# ------------------------------------------------------------------------------------------------- clips


def _trim_leading_silence(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Drop the silence espeak puts before the first phoneme (keeping 5 ms), so clips start on speech."""
    peak = np.max(np.abs(x)) if x.size else 0.0
    if peak <= 0:
        return x
    start = int(np.argmax(np.abs(x) >= 0.01 * peak))
    return x[max(0, start - sample_rate // 200):]


def load_espeak_clip(source_id: str, sample_rate: int, seconds: float) -> Clip:
    """Synthesise the clip named ``espeak:<voice>/s<NNNN>@0.00``.

    The utterance is sentence NNNN; when it is shorter than the clip, the following sentences of the table
    are appended to the text (and re-synthesised) until it fills the clip.
    """
    m = _ID_RE.match(source_id)
    if m is None:
        raise SimkitError(f"malformed espeak source id {source_id!r} (expected 'espeak:<voice>/sNNNN@0.00')")
    if float(m["offset"]) != 0.0:
        raise SimkitError(f"espeak source id {source_id!r}: clips always start at offset 0.00")
    voice, first = m["voice"], int(m["sentence"])
    if first >= N_SENTENCES:
        raise SimkitError(f"espeak source id {source_id!r}: sentence index must be below {N_SENTENCES}")
    parse_voice(voice)
    n = clip_samples(seconds, sample_rate)
    table = sentences()
    count = 1
    for _ in range(64):
        text = " ".join(table[(first + k) % N_SENTENCES] for k in range(count))
        pcm, sr = synthesize(text, voice)
        audio = resample(_trim_leading_silence(pcm.astype(np.float32) / 32768.0, sr), sr, sample_rate)
        if audio.shape[-1] >= n:
            return Clip(
                audio=normalize_clip(audio[:n], source_id), sample_rate=sample_rate, source_id=source_id,
                speaker=voice, text=text,
            )
        # Jump straight to (about) enough sentences instead of adding one at a time.
        count = max(count + 1, math.ceil(count * 1.1 * n / max(audio.shape[-1], 1)))
    raise SimkitError(f"espeak clip {source_id} of {seconds} s is too long to synthesise")


@SPEECH_SOURCES.register("espeak")
class EspeakSource:
    """Built-in speech: espeak-ng voices x a fixed sentence table; voices are split train/val/test."""

    name = "espeak"

    @classmethod
    def from_config(cls, cfg: SpeechConfig) -> EspeakSource:
        """The espeak-ng source with the config's speaker split (``speech.corpus`` unused)."""
        return cls(speaker_split=cfg.speaker_split)

    @staticmethod
    def load_clip(source_id: str, sample_rate: int, seconds: float, corpus: str | Path | None = None) -> Clip:
        """:func:`load_espeak_clip` (espeak needs no corpus)."""
        return load_espeak_clip(source_id, sample_rate, seconds)

    def __init__(self, speaker_split: tuple[float, float, float] = (0.7, 0.2, 0.1)) -> None:
        self.speaker_split = check_fractions(speaker_split)
        self._variants = variant_splits(self.speaker_split)
        self._voices = {
            s: sorted(voice_id(a, v) for v in self._variants[s] for a in ACCENTS) for s in SPLITS
        }

    def speakers(self, split: str) -> list[str]:
        """Voice ids of ``split``."""
        return list(self._voices[check_split(split)])

    def identity(self) -> dict[str, Any]:
        """Engine, versions, voices per split, sentence table hash and licence (no machine paths)."""
        try:
            loader_version = metadata.version("espeakng-loader")
        except metadata.PackageNotFoundError:
            loader_version = "unknown"
        return {
            "name": self.name,
            "engine": "espeak-ng",
            "engine_version": engine_version(),
            "espeakng_loader_version": loader_version,
            "licence": LICENCE,
            "accents": list(ACCENTS),
            "variants": {s: list(self._variants[s]) for s in SPLITS},
            "voices": {s: len(self._voices[s]) for s in SPLITS},
            "voice_list_hash": stable_hash(self._voices),
            "sentences": N_SENTENCES,
            "sentence_table_hash": stable_hash(list(sentences())),
            "speaker_split": list(self.speaker_split),
            "split_rule": "voice variants (timbres) split 7:2:1 by a fixed sha256 order, female and male "
            "separately; each split uses its variants with every accent",
        }

    def draw(self, split: str, rng: np.random.Generator, seconds: float, sample_rate: int) -> Clip:
        """A random voice of ``split`` saying a random sentence (clip starts at speech onset)."""
        voices = self._voices[check_split(split)]
        voice = voices[int(rng.integers(len(voices)))]
        sentence = int(rng.integers(N_SENTENCES))
        return load_espeak_clip(f"espeak:{voice}/s{sentence:04d}@0.00", sample_rate, seconds)
