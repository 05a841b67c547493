"""LibriSpeech reader: ``<root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` + transcripts.

``root`` may be the LibriSpeech folder holding subsets (train-clean-100/, dev-clean/, ...) or one subset
folder. Utterances shorter than ``min_utterance_seconds`` are skipped; speakers are split train/val/test
by ``speaker_split`` with a fixed order that does not depend on the render seed. The audio suffix may be
any case (``.flac``, ``.FLAC``); a UTF-8 byte-order mark opening a ``trans.txt`` is ignored.

The layout says nothing about which corpus it holds, so the corpus and its licence are read from the
release's own files (:func:`corpus_identity`): LibriSpeech's ``LICENSE.TXT`` (beside the subsets) states
CC-BY 4.0; any other corpus in this layout is recorded with its licence file's hash and opening words and
``unknown`` where nothing says more - never as LibriSpeech.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from simkit.audio.dsp import resample, rms
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
from simkit.io import file_sha256, stable_hash

if TYPE_CHECKING:
    from simkit.audio.config import SpeechConfig

LICENCE = "CC-BY-4.0"  # LibriSpeech's, recorded only when the corpus's LICENSE.TXT states it
UNKNOWN = "unknown"
# LibriSpeech's LICENSE.TXT and README.TXT (openslr.org/12), whitespace-collapsed
LICENCE_STATEMENT = ("LibriSpeech ASR corpus is licensed under a Creative Commons Attribution 4.0 "
                     "International License")
README_STATEMENT = "LibriSpeech is a corpus of read speech"
LICENCE_NAMES = ("license.txt", "licence.txt", "license", "licence", "license.md", "licence.md")
README_NAMES = ("readme.txt", "readme", "readme.md")
SPLIT_SALT = "simkit-librispeech-speakers-v1"
# A drawn window must reach this fraction of the utterance's RMS, so clips do not land in long pauses.
MIN_ACTIVITY = 0.3
OFFSET_TRIES = 16

_NAME_RE = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_ID_RE = re.compile(r"^librispeech:(?P<utt>\d+-\d+-\d+)@(?P<offset>\d+\.\d{2})$")
_LAYOUT = "<root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac"


@dataclass(frozen=True)
class Utterance:
    """One indexed LibriSpeech utterance."""

    utt_id: str  # "<speaker>-<chapter>-<utt>"
    speaker: str
    path: Path
    frames: int
    sample_rate: int
    text: str

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _parse_name(path: Path) -> tuple[str, str]:
    """(speaker, chapter) of a .flac path; SimkitError unless name and folders follow the layout."""
    m = _NAME_RE.match(path.stem)
    if m is None:
        raise SimkitError(f"malformed LibriSpeech file name {path} (expected {_LAYOUT})")
    speaker, chapter = m.group(1), m.group(2)
    if path.parent.name != chapter or path.parent.parent.name != speaker:
        raise SimkitError(f"LibriSpeech file {path} is not in its <speaker>/<chapter> folder ({_LAYOUT})")
    return speaker, chapter


def read_transcript(path: Path) -> dict[str, str]:
    """Utterance id -> text of a ``<speaker>-<chapter>.trans.txt`` file; SimkitError naming bad lines."""
    try:
        # utf-8-sig: a byte-order mark (editors on Windows add one) is not part of the first utterance id
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise SimkitError(f"missing LibriSpeech transcript {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SimkitError(f"unreadable LibriSpeech transcript {path}: {_one_line(e)}") from None
    prefix = path.name[: -len(".trans.txt")] + "-"
    out: dict[str, str] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2 or not _NAME_RE.match(parts[0]) or not parts[0].startswith(prefix):
            raise SimkitError(
                f"malformed line {lineno} in LibriSpeech transcript {path} (expected '{prefix}<utt> TEXT')"
            )
        out[parts[0]] = parts[1]
    return out


def _transcript_path(flac: Path) -> Path:
    speaker, chapter = _parse_name(flac)
    return flac.parent / f"{speaker}-{chapter}.trans.txt"


def _text_of(flac: Path, cache: dict[Path, dict[str, str]]) -> str:
    trans = _transcript_path(flac)
    if trans not in cache:
        cache[trans] = read_transcript(trans)
    text = cache[trans].get(flac.stem)
    if text is None:
        raise SimkitError(f"LibriSpeech transcript {trans} has no line for {flac.stem} ({flac})")
    return text


def _info(flac: Path) -> tuple[int, int]:
    try:
        info = sf.info(str(flac))
    except (RuntimeError, OSError) as e:
        raise SimkitError(f"unreadable LibriSpeech audio {flac}: {_one_line(e)}") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise SimkitError(f"unreadable LibriSpeech audio {flac}: no samples")
    return int(info.frames), int(info.samplerate)


def _read(flac: Path) -> tuple[np.ndarray, int]:
    """Whole utterance as mono float32 (multi-channel files are averaged) and its sample rate."""
    try:
        audio, sr = sf.read(str(flac), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as e:
        raise SimkitError(f"unreadable LibriSpeech audio {flac}: {_one_line(e)}") from None
    return audio.mean(axis=1), int(sr)


def _check_root(root: str | Path) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise SimkitError(f"LibriSpeech corpus {path} does not exist (speech.corpus)")
    if not path.is_dir():
        raise SimkitError(f"LibriSpeech corpus {path} is not a folder (speech.corpus)")
    return path.resolve()


def _cut(audio: np.ndarray, sr_native: int, offset: int, seconds: float, sample_rate: int) -> np.ndarray:
    """The clip at ``offset`` (native samples): ``round(seconds * sample_rate)`` samples, unnormalised.

    draw and load_clip both cut through here from the whole decoded file, so their samples are identical.
    """
    n = clip_samples(seconds, sample_rate)
    if sr_native == sample_rate:
        seg = audio[offset : offset + n]
    else:
        # A little right context keeps the resampler's filter tail inside real signal.
        need = int(np.ceil(seconds * sr_native)) + sr_native // 50
        seg = resample(audio[offset : offset + need], sr_native, sample_rate)[:n]
    if seg.shape[0] < n:
        seg = np.pad(seg, (0, n - seg.shape[0]))
    return seg.astype(np.float32, copy=False)


def _offset_samples(offset_s: float, sr_native: int) -> int:
    return int(round(round(offset_s * 100) * sr_native / 100))


def is_flac(path: Path) -> bool:
    """A FLAC file by its suffix, in any case (``.flac``, ``.FLAC``)."""
    return path.suffix.lower() == ".flac" and path.is_file()


def _locate(root: Path, utt_id: str) -> Path:
    speaker, chapter, _ = utt_id.split("-")
    name = f"{speaker}/{chapter}/{utt_id}.*"
    hits = [p for p in sorted(root.glob(name)) if is_flac(p)] or [p for p in sorted(root.glob(f"*/{name}"))
                                                                     if is_flac(p)]
    if not hits:
        raise SimkitError(f"LibriSpeech utterance {utt_id} not found under {root} (expected {_LAYOUT})")
    return hits[0]


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first file of ``folder`` whose lower-case name is one of ``names`` (in that order)."""
    try:
        found = {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_file()}
    except OSError:
        return None
    return next((found[n] for n in names if n in found), None)


def _words(path: Path) -> str:
    """Whitespace-collapsed text of a small text file ("" when unreadable: it then identifies nothing)."""
    try:
        return " ".join(path.read_bytes()[:1 << 20].decode("utf-8-sig", errors="replace").split())
    except OSError:
        return ""


def corpus_identity(root: Path, subset_root: bool = False) -> dict[str, Any]:
    """Which corpus ``root`` holds and under which licence, as its own files say.

    Looks for a licence file (``LICENSE.TXT``, any case, or ``LICENCE``/``LICENSE.md``) and a README in
    ``root`` - and in its parent when ``root`` is a subset folder (``subset_root``), where LibriSpeech keeps
    them. LibriSpeech's licence statement gives ``corpus_name`` LibriSpeech and ``licence`` CC-BY-4.0; its
    README alone gives the name only. Otherwise both are ``unknown``; the licence file found is recorded by
    path (relative to ``root``), sha256 and opening words.
    """
    folders = [root, root.parent] if subset_root else [root]
    lic = next((p for p in (_find(f, LICENCE_NAMES) for f in folders) if p is not None), None)
    readme = next((p for p in (_find(f, README_NAMES) for f in folders) if p is not None), None)
    lic_words = _words(lic) if lic else ""
    known = LICENCE_STATEMENT.lower() in lic_words.lower()
    named = known or (readme is not None and README_STATEMENT.lower() in _words(readme).lower())
    out: dict[str, Any] = {
        "corpus_name": "LibriSpeech" if named else UNKNOWN,
        "licence": LICENCE if known else UNKNOWN,
        "licence_file": None,
        "licence_file_sha256": None,
        "licence_file_opening": None,
    }
    if lic is not None:
        out["licence_file"] = os.path.relpath(lic, root)
        with contextlib.suppress(OSError):  # unreadable: recorded by path only, and it identifies nothing
            out["licence_file_sha256"] = file_sha256(lic)
        out["licence_file_opening"] = lic_words[:200]
    return out



def load_librispeech_clip(root: str | Path, source_id: str, sample_rate: int, seconds: float) -> Clip:
    """Re-create ``librispeech:<utt>@<offset>`` from the corpus at ``root`` (the same samples draw gave)."""
    m = _ID_RE.match(source_id)
    if m is None:
        raise SimkitError(
            f"malformed LibriSpeech source id {source_id!r} "
            "(expected 'librispeech:<speaker>-<chapter>-<utt>@<seconds, 2 decimals>')"
        )
    path = _locate(_check_root(root), m["utt"])
    text = _text_of(path, {})
    audio, sr = _read(path)
    offset = _offset_samples(float(m["offset"]), sr)
    if offset >= audio.shape[0]:
        raise SimkitError(f"LibriSpeech source id {source_id!r}: offset is past the end of {path}")
    clip = _cut(audio, sr, offset, seconds, sample_rate)
    return Clip(
        audio=normalize_clip(clip, source_id), sample_rate=sample_rate, source_id=source_id,
        speaker=path.parent.parent.name, text=text,
    )


_INDEX: dict[tuple[str, float, tuple[float, ...]], LibriSpeechSource] = {}


@SPEECH_SOURCES.register("librispeech")
class LibriSpeechSource:
    """LibriSpeech utterances of at least ``min_utterance_seconds``, speaker-disjoint train/val/test."""

    name = "librispeech"

    @classmethod
    def from_config(cls, cfg: SpeechConfig) -> LibriSpeechSource:
        """The corpus at ``cfg.corpus``, indexed once per process and reused (read-only after indexing)."""
        if cfg.corpus is None:
            raise SimkitError("the librispeech speech source needs speech.corpus (the LibriSpeech folder)")
        # Indexing a full LibriSpeech takes seconds to a minute, and the render asks once per scene:
        # keep one index per (corpus, filter, split) in this process.
        key = (str(Path(cfg.corpus).expanduser().resolve()), float(cfg.min_utterance_seconds),
               tuple(float(f) for f in cfg.speaker_split))
        source = _INDEX.get(key)
        if source is None:
            source = cls(cfg.corpus, min_utterance_seconds=cfg.min_utterance_seconds,
                         speaker_split=cfg.speaker_split)
            _INDEX[key] = source
        return source

    @staticmethod
    def load_clip(source_id: str, sample_rate: int, seconds: float, corpus: str | Path | None = None) -> Clip:
        """:func:`load_librispeech_clip` from the corpus folder ``corpus`` (``speech.corpus``)."""
        if corpus is None:
            raise SimkitError(f"re-creating {source_id} needs the LibriSpeech corpus path (speech.corpus)")
        return load_librispeech_clip(corpus, source_id, sample_rate, seconds)

    def __init__(
        self,
        root: str | Path,
        min_utterance_seconds: float = 10.0,
        speaker_split: tuple[float, float, float] = (0.7, 0.2, 0.1),
    ) -> None:
        self.root = _check_root(root)
        self.min_utterance_seconds = float(min_utterance_seconds)
        self.speaker_split = check_fractions(speaker_split)
        files = sorted(p for p in self.root.rglob("*") if is_flac(p))
        if not files:
            raise SimkitError(f"no .flac files under LibriSpeech corpus {self.root} (expected {_LAYOUT})")
        stems: dict[Path, Path] = {}
        for path in files:  # x.flac and x.FLAC side by side would be one utterance id for two recordings
            other = stems.setdefault(path.with_suffix(""), path)
            if other != path:
                raise SimkitError(f"LibriSpeech utterance {path.stem} has two audio files: {other} and {path}")
        transcripts: dict[Path, dict[str, str]] = {}
        self.n_utterances = len(files)
        # A file four levels down sits in a subset folder; three levels down means root is a subset itself.
        rel = [p.relative_to(self.root).parts for p in files]
        self.subsets = sorted({parts[0] for parts in rel if len(parts) == 4})
        self.corpus = corpus_identity(self.root, subset_root=all(len(parts) == 3 for parts in rel))
        by_speaker: dict[str, list[Utterance]] = {}
        for path in files:
            speaker, _ = _parse_name(path)
            text = _text_of(path, transcripts)
            frames, sr = _info(path)
            if frames / sr >= self.min_utterance_seconds:
                utt = Utterance(path.stem, speaker, path, frames, sr, text)
                by_speaker.setdefault(speaker, []).append(utt)
        if len(by_speaker) < len(SPLITS):
            raise SimkitError(
                f"LibriSpeech corpus {self.root} has {len(by_speaker)} speaker(s) with utterances of at "
                f"least {self.min_utterance_seconds:g} s; need at least {len(SPLITS)} (one per split)"
            )
        self._utterances = by_speaker
        self._splits = assign_splits(list(by_speaker), self.speaker_split, salt=SPLIT_SALT)

    def speakers(self, split: str) -> list[str]:
        """Speaker ids of ``split`` (sorted)."""
        return list(self._splits[check_split(split)])

    def utterances(self, speaker: str) -> list[Utterance]:
        """Eligible utterances of a speaker, sorted by id."""
        return list(self._utterances[speaker])

    @property
    def licence_line(self) -> str:
        """One line crediting the corpus under its licence, as far as the corpus's own files say."""
        if self.corpus["licence"] == LICENCE:
            return "LibriSpeech ASR corpus: CC-BY 4.0"
        name = self.corpus["corpus_name"] if self.corpus["corpus_name"] != UNKNOWN else "LibriSpeech-layout corpus"
        where = f"see {self.corpus['licence_file']}" if self.corpus["licence_file"] else "no licence file"
        return f"{name} at {self.root}: licence unknown ({where})"

    def identity(self) -> dict[str, Any]:
        """Corpus path, subsets, counts, split sizes and hash, and the corpus and licence its files state."""
        eligible = [u for us in self._utterances.values() for u in us]
        return {
            "name": self.name,
            "corpus": str(self.root),
            "subsets": self.subsets,
            **self.corpus,
            "utterances": self.n_utterances,
            "eligible_utterances": len(eligible),
            "eligible_hours": round(sum(u.seconds for u in eligible) / 3600, 3),
            "min_utterance_seconds": self.min_utterance_seconds,
            "sample_rates": sorted({u.sample_rate for u in eligible}),
            "speakers": {s: len(self._splits[s]) for s in SPLITS},
            "speaker_split": list(self.speaker_split),
            "split_hash": stable_hash(self._splits),
            "split_rule": f"speakers ordered by sha256('{SPLIT_SALT}/<speaker>') and cut by speaker_split",
        }

    def draw(self, split: str, rng: np.random.Generator, seconds: float, sample_rate: int) -> Clip:
        """A random speaker of ``split``, one of their utterances, and a random window that holds speech."""
        speakers = [
            s for s in self._splits[check_split(split)]
            if any(u.seconds >= seconds for u in self._utterances[s])
        ]
        if not speakers:
            raise SimkitError(f"no LibriSpeech utterance in split {split!r} is as long as a {seconds} s clip")
        speaker = speakers[int(rng.integers(len(speakers)))]
        utts = [u for u in self._utterances[speaker] if u.seconds >= seconds]
        utt = utts[int(rng.integers(len(utts)))]
        audio, sr = _read(utt.path)
        level = float(rms(audio, axis=None))
        # Offsets are whole centiseconds so the id's 2-decimal offset names the exact sample.
        max_cs = int(np.floor((audio.shape[0] - int(np.ceil(seconds * sr))) * 100 / sr))
        best_cs, best_level = 0, -1.0
        for _ in range(OFFSET_TRIES):
            cs = int(rng.integers(max(max_cs, 0) + 1))
            start = _offset_samples(cs / 100, sr)
            window = float(rms(audio[start : start + int(np.ceil(seconds * sr))], axis=None))
            if window > best_level:
                best_cs, best_level = cs, window
            if window >= MIN_ACTIVITY * level:
                break
        source_id = f"librispeech:{utt.utt_id}@{best_cs / 100:.2f}"
        clip = _cut(audio, sr, _offset_samples(best_cs / 100, sr), seconds, sample_rate)
        return Clip(
            audio=normalize_clip(clip, f"{source_id} ({utt.path})"), sample_rate=sample_rate,
            source_id=source_id, speaker=speaker, text=utt.text,
        )
