"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def write_librispeech(
    root: Path,
    speakers: dict[str, dict[str, list[float]]],
    subset: str | None = "train-clean-100",
    sample_rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write a tiny LibriSpeech-layout corpus: ``{speaker: {chapter: [utterance seconds, ...]}}``.

    Each utterance is a real FLAC file of syllable-like noise bursts (0.25 s on / 0.1 s off) and each
    chapter gets its ``<speaker>-<chapter>.trans.txt``. Returns the folder holding ``subset`` (or the
    subset folder itself when ``subset`` is None).
    """
    rng = np.random.default_rng(seed)
    base = root if subset is None else root / subset
    for speaker, chapters in speakers.items():
        for chapter, durations in chapters.items():
            folder = base / speaker / chapter
            folder.mkdir(parents=True, exist_ok=True)
            lines = []
            for i, seconds in enumerate(durations):
                utt = f"{speaker}-{chapter}-{i:04d}"
                n = int(round(seconds * sample_rate))
                t = np.arange(n) / sample_rate
                gate = (np.mod(t, 0.35) < 0.25).astype(np.float64)
                audio = 0.1 * rng.standard_normal(n) * gate
                sf.write(folder / f"{utt}.flac", audio.astype(np.float32), sample_rate, subtype="PCM_16")
                lines.append(f"{utt} SPEAKER {speaker} CHAPTER {chapter} UTTERANCE {i}")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def librispeech_corpus(tmp_path: Path) -> Callable[..., Path]:
    """Factory for tiny fake LibriSpeech corpora under ``tmp_path`` (see ``write_librispeech``)."""
    counter = iter(range(1000))

    def make(speakers: dict[str, dict[str, list[float]]], **kwargs: object) -> Path:
        return write_librispeech(tmp_path / f"LibriSpeech{next(counter)}", speakers, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's torch work on one thread.

    On the 2-core CI VM two OpenMP threads per process contend: the binaural model tests took 158 s with
    torch's default two threads (single steps stalling for 10+ s) and 8 s with one.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real render (RLR engine, espeak speech, views) of 6 embedded scenes (4/1/1), 3 view sets each, `fast`."""
    from simkit.acoustics.config import AcousticsConfig
    from simkit.render.config import RenderConfig
    from simkit.render.pipeline import render_dataset
    from simkit.scenes.catalog import resolve_scenes

    out = tmp_path_factory.mktemp("tiny") / "render"
    cfg = RenderConfig(scenes=resolve_scenes("6"), sets_per_scene=3, acoustics=AcousticsConfig(preset="fast"))
    render_dataset(cfg, out, workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_visible_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_render with visible sources in every view (what the binaural tasks need; `--recipe binaural` without
    its mix and 10 s clips): 6 embedded scenes (4/1/1), 3 view sets each, `fast`."""
    from simkit.acoustics.config import AcousticsConfig
    from simkit.render.config import RenderConfig, SamplingConfig
    from simkit.render.pipeline import render_dataset
    from simkit.scenes.catalog import resolve_scenes

    out = tmp_path_factory.mktemp("tiny_visible") / "render"
    sampling = SamplingConfig(visible_sources=True, min_visible_share=1.0, min_yaw_diff=5.0, max_yaw_diff=30.0)
    cfg = RenderConfig(scenes=resolve_scenes("6"), sets_per_scene=3, acoustics=AcousticsConfig(preset="fast"),
                       sampling=sampling)
    render_dataset(cfg, out, workers=2, progress=False)
    return out
