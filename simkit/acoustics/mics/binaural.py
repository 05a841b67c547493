"""``binaural``: the engine's HRTF listener (built-in HRTF or ``acoustics.hrtf``), simkit's default."""

from simkit.acoustics.mics import BINAURAL, MicModel, add_mic

add_mic(MicModel(
    name=BINAURAL,
    description="two ears on a head: the engine's binaural listener with its HRTF (built-in or acoustics.hrtf)",
    source="HM3D-SS / SoundSpaces 2.0 binaural rendering, as seed 000's simulated set (A.1.2); docs/binaural.md",
))
