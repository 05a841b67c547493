"""``spaced-pair``: two omnidirectional capsules on the listener's left-right axis (an A-B pair), spacing an
option (``acoustics.mic_spacing``, ``--mic-spacing``).

The default spacing is the head width of simkit's spherical-head model, ``2 * HEAD_RADIUS`` = 0.175 m
(:mod:`simkit.conventions`, the pyroomacoustics backend's built-in ears): the binaural geometry without the
head, so ``binaural`` vs ``spaced-pair`` isolates what the head's shadow adds to the level difference.
"""

from simkit.acoustics.mics import MicModel, add_mic
from simkit.conventions import HEAD_RADIUS

add_mic(MicModel(
    name="spaced-pair",
    description="two omnidirectional capsules on the listener's left-right axis (A-B pair), no head between them",
    source="simkit: default spacing 2 x HEAD_RADIUS = 0.175 m (simkit.conventions; the binaural ears' spacing "
           "without the head); set with acoustics.mic_spacing",
    spacing=2 * HEAD_RADIUS,
    spacing_option=True,
))
