"""``phone-stereo``: the two microphones of a phone held in landscape, filming with its rear camera.

Geometry (docs/acoustics.md, "Microphones"):

* Body: Apple iPhone XS, 143.6 x 70.9 x 7.7 mm (Apple's technical specifications; Wikipedia "iPhone XS"
  infobox), which records stereo video (Settings > Camera > "Record Stereo Sound"; C. Ryan, "iPhone XS Max
  Microphones", cryan.com/blog/20190130.jsp). Seed 000's YT-Stereo-iPhone set is
  iPhone stereo video.
* Capsules: the bottom-edge microphone and the top microphone, at the two far ends of the long axis (iFixit
  iPhone 4 teardown: "the two microphones are positioned at the two far ends of the phone"; from the XS on,
  microphones on the bottom edge beside the port, SlashGear 2024-08-21 "Here's where the microphones are
  located on an iPhone", and one at the top of the front by the earpiece, e.g. the XR's in a Yale CPSC 035
  report, "iPhone XR Microphone Testing"). Spacing = body length 143.6 mm less about 5 mm at each end for
  the openings' inset: **0.134 m** (the inset is simkit's estimate; no published drawing gives it).
* Orientation: landscape with the rear camera facing the scene, so the long axis is the listener's left-right
  axis (+x) and both capsules lie on it, 0.067 m either side of the camera; the 7.7 mm depth offsets between
  front, back and edge openings are left out (< 0.03 ms of path).
* Capsules are omnidirectional and the body is not modelled: in landscape only its 7.7 mm thickness lies
  between them, so unlike a head it casts no shadow below ~10 kHz (wavelength 34 mm at 10 kHz). Level
  differences between the channels then come from distance and the room only. No phone-side processing
  (multi-microphone stereo processing, gain control) is modelled.
"""

from simkit.acoustics.mics import MicModel, add_mic

PHONE_BODY_MM = (143.6, 70.9, 7.7)  # iPhone XS height x width x depth (Apple technical specifications)
CAPSULE_INSET_MM = 5.0  # each opening's distance from its end of the body (simkit's estimate)
PHONE_SPACING = round((PHONE_BODY_MM[0] - 2 * CAPSULE_INSET_MM) / 1000.0, 3)  # 0.134 m

add_mic(MicModel(
    name="phone-stereo",
    description=f"two omnidirectional capsules {PHONE_SPACING} m apart at the ends of a phone held in landscape "
                "(rear camera facing the scene): the listener's left-right axis, no head shadow",
    source="iPhone XS body 143.6 x 70.9 x 7.7 mm (Apple technical specifications); microphones at the two far "
           "ends of the long axis (iFixit iPhone 4 teardown; bottom-edge and top-front microphones); ~5 mm inset "
           "per end (simkit's estimate); docs/acoustics.md, Microphones",
    spacing=PHONE_SPACING,
))
