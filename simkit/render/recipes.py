"""Render recipes: named sets of render-config values that reproduce a source's simulated set
(``simkit render --recipe NAME``; docs/scenes.md, "Recipes").

A recipe is applied by :func:`simkit.render.config.load_render_config` on top of the defaults and below a
``--config`` file and explicit flags (defaults < recipe < file < flags); the render's resolved config records
its name (``recipe``) and values, so the manifest and the config hash say which recipe made a dataset. Every
value names where it comes from; what simkit cannot reproduce is listed in ``differs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simkit.registry import Registry

SEED000 = "seed 000 (Min et al., CVPR 2025), supplementary"
SLFM = "SLfM (Chen, Qian & Owens, ICCV 2023), IFICL/SLfM@0257622"


@dataclass(frozen=True)
class Value:
    """One recipe setting: the value and the source it reproduces (or why simkit chose it)."""

    value: Any
    source: str


@dataclass(frozen=True)
class Recipe:
    """A named, documented set of dotted render-config overrides (``"sampling.views"`` -> :class:`Value`)."""

    name: str
    reproduces: str  # the dataset it reproduces, with its source
    values: Mapping[str, Value]
    differs: tuple[str, ...] = field(default=())  # what simkit's render of it does not reproduce

    def overrides(self) -> dict[str, Any]:
        """The dotted overrides :func:`simkit.render.config.load_render_config` applies."""
        return {key: v.value for key, v in self.values.items()}


RECIPES: Registry[Recipe] = Registry("recipe")


def add_recipe(recipe: Recipe) -> Recipe:
    """Register ``recipe`` under its name."""
    RECIPES.add(recipe.name, recipe)
    return recipe


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name is one SimkitError listing the known ones."""
    return RECIPES.get(name)


def recipe_names() -> list[str]:
    """Every registered recipe name, sorted."""
    return RECIPES.names()


add_recipe(Recipe(
    name="seed000",
    reproduces=f"the simulated set of {SEED000}: Table 7 'Simulated Dataset' (motion 'Rotation&Translation') "
               "and A.1.2 'Simulated dataset' (50,000 pairs from 200,000 viewpoints, RT60 0.4 s, 81/9/10 scenes)",
    values={
        "sampling.views": Value(4, f"{SEED000} A.1.2: 200,000 viewpoints / 50,000 pairs = 4 views per pair"),
        "sampling.max_translation": Value(
            1.0, f"{SEED000} Table 7: camera motion 'Rotation&Translation'; the seed gives no magnitude, 1 m "
                 "(a step or two) is simkit's choice"),
        "sampling.min_yaw_diff": Value(10.0, f"{SEED000} A.1.2: 'we follow [13]' (SLfM): simkit's HM3D-SS yaw range"),
        "sampling.max_yaw_diff": Value(90.0, f"{SEED000} A.1.2: 'we follow [13]' (SLfM): simkit's HM3D-SS yaw range"),
        "sets_per_scene": Value(
            500, f"{SEED000} A.1.2: 50,000 pairs over 100 scenes (81/9/10, the embedded split's sizes)"),
    },
    differs=(
        "scenes: the seed renders HM3D scenes (SoundSpaces 2.0); simkit's embedded set is 100 procedural "
        "scenes with the same 81/9/10 split sizes (real meshes: --scene-dir/--scene-format)",
        "RT60: the seed reports a mean of 0.4 s; it is a property of the scenes, not a render setting, and "
        "the embedded scenes measure 0.39 s (docs/scenes.md, Reverberation tuning)",
        "clip length: the seed's clips are 5 s (Table 7: 21.6k clips, 30 hrs); simkit keeps SLfM's 2.55 s "
        "(speech.clip_seconds)",
        "sources per pair: not given by the seed; simkit's default (3)",
        "translation magnitude: not given by the seed (see sampling.max_translation)",
    ),
))

add_recipe(Recipe(
    name="slfm-hm3d-ss",
    reproduces=f"{SLFM}: HM3D-SS as 'hm3d-4view-rotation' (Dataset/AI-Habitat), 4 views at one position, "
               "rotation only; 38,207 / 5,264 / 4,720 train/val/test pairs",
    values={
        "sampling.views": Value(4, f"{SLFM}: 'hm3d-4view-rotation', 4 cameras per pair"),
        "sampling.max_translation": Value(0.0, f"{SLFM}: 'hm3d-4view-rotation', rotation only (one position)"),
        "sampling.min_yaw_diff": Value(10.0, "simkit's HM3D-SS yaw range (docs/scenes.md, View-set sampling)"),
        "sampling.max_yaw_diff": Value(90.0, "simkit's HM3D-SS yaw range (docs/scenes.md, View-set sampling)"),
        "sets_per_scene": Value(
            482, f"{SLFM}: 48,191 pairs in all (38,207 + 5,264 + 4,720) spread over the embedded 100 scenes"),
    },
    differs=(
        "scenes: SLfM renders HM3D scenes; simkit's embedded set is 100 procedural scenes, so the pair count "
        "is matched in total, not per scene (real meshes: --scene-dir/--scene-format)",
        "splits: SLfM's split lists mix pairs of one scene; simkit splits by scene (81/9/10)",
        "SLfM's own files import as they are with `simkit prepare hm3d-ss` (docs/datasets.md)",
    ),
))


FAIRPLAY = "FAIR-Play (Gao & Grauman, '2.5D Visual Sound', CVPR 2019)"
ISSUE21 = "simkit issue 21 (sources you can see)"

add_recipe(Recipe(
    name="binaural",
    reproduces=f"a FAIR-Play-like binaural set for the binauralize and av_localize tasks: {FAIRPLAY} records "
               "instruments the camera shows, at 16 kHz in 10 s clips; here every source is a visible sounding "
               "object in the views of its set",
    values={
        "sampling.visible_sources": Value(
            True, f"{ISSUE21}: the image must show the sources, as FAIR-Play's frames show the instruments "
                  "(and SimBinaural places instrument models in its scenes)"),
        "sampling.min_visible_share": Value(
            1.0, f"{FAIRPLAY}: the recordings film the performers, every sounding instrument in the frame "
                 "throughout a clip; here: every source inside the field of view of every view"),
        "sampling.min_yaw_diff": Value(
            5.0, "simkit's choice: with every source in every view the views of a set must overlap, so they "
                 "turn less than HM3D-SS's 10-90 deg"),
        "sampling.max_yaw_diff": Value(
            30.0, "simkit's choice: half the 60 deg field of view, so the views of a set share at least "
                  "30 deg of it for the sources"),
        "mix.enabled": Value(
            True, f"{FAIRPLAY}: one binaural recording per clip hears every instrument at once; here the clip of "
                  "a view is the mix of all its set's sources (audio/mix), and a task item is one view"),
        "acoustics.sample_rate": Value(16000, f"{FAIRPLAY}: the protocol's rate (docs/binaural.md)"),
        "speech.clip_seconds": Value(
            10.0, f"{FAIRPLAY}: 1,871 clips of ~10 s (docs/datasets.md); CLUP scores 10 s test clips (seed 001); "
                  "render cost: docs/binaural.md, 'The binaural recipe'"),
    },
    differs=(
        "sources: FAIR-Play records music (instruments); simkit's sources are speech (espeak or LibriSpeech)",
        "camera: FAIR-Play is video; simkit renders stills, 4 views per set turned 5-30 deg",
        "objects: procedural loudspeakers, radios, TVs and wall speakers (simkit.scenes.emitters), not "
        "instruments; they are seen, not heard: the acoustic mesh does not contain them (docs/scenes.md)",
    ),
))

_BINAURAL = get_recipe("binaural")
LEARNABILITY = "docs/binaural.md, 'Learnability' (bench_learnability_oracles.py, 20 scenes x 6 sets, test split)"

add_recipe(Recipe(
    name="binaural-solo",
    reproduces=f"the binaural recipe ({FAIRPLAY}-like) with one visible source per view set: an easier "
               "binauralize task, where the one object in view is where all of the sound comes from",
    values={
        **_BINAURAL.values,
        "sampling.sources": Value(
            1, f"simkit's choice, measured ({LEARNABILITY}): with one source the image's cue is a static "
               "per-frequency filter of the mix; a linear fit from the object's image position to that filter "
               "(train split) removes 49 % of mono_copy's stft_distance_raw on test, against 24 % with "
               "the binaural recipe's three sources, whose mix no static filter separates"),
    },
    differs=(*_BINAURAL.differs,
             "sources per view: 1 is simkit's choice for a learnable task, not a FAIR-Play count (simkit "
             "has no source for how many instruments a FAIR-Play clip holds); binaural keeps simkit's "
             "default 3"),
))

add_recipe(Recipe(
    name="wild",
    reproduces=f"a proxy for the in-the-wild test sets of {SEED000}, Table 7: the IID rule's L/R accuracy is "
               "57.5 % on YT-Stereo-iPhone, 70.0 % on Stereo-Music, 71.9 % on RWAVS, 75.4 % on L/R Binaural "
               "(97.4 % on the simulated set); a phone's two microphones, several sources at once and "
               "background noise (docs/wild.md)",
    values={
        "acoustics.mic": Value(
            "phone-stereo", f"{SEED000} Table 7: YT-Stereo-iPhone is recorded with phone stereo microphones "
                            "(simkit.acoustics.mics.phone_stereo)"),
        "mix.enabled": Value(True, "the clip per view is the mix of every source of the set (a recording)"),
        "mix.target": Value("first", "source 0 is the designated target, as a video's sounding object is "
                                     "labelled whatever else is heard (simkit's choice)"),
        "sampling.sources": Value(3, "a target and two distractors (simkit's choice, docs/wild.md)"),
        "mix.distractor_gain_db": Value(
            (-12.0, 0.0), "distractors up to 12 dB under the target (simkit's choice, tuned to the seed's "
                          "IID range: docs/wild.md)"),
        "mix.noise_snr_db": Value(
            (0.0, 20.0), "diffuse background noise 0-20 dB under the mix (simkit's choice, tuned to the "
                         "seed's IID range: docs/wild.md)"),
    },
    differs=(
        "the seed's in-the-wild sets are recordings of real scenes (street, music, indoor video); this is a "
        "simulated proxy tuned only so that the IID rule scores inside their range (57-76 %), not a "
        "reproduction of their sources, rooms or noise",
        "the target is not constrained to the camera's field of view (sources are sampled around the camera)",
    ),
))
