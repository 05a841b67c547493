"""The one module that owns every axis, angle and channel convention in simkit.

World frame (the RLRAudioPropagation / habitat frame): metres, **+y up**, right-handed.
A listener or camera with yaw 0 faces **-z**, its right is **+x**, its up is **+y**.
Yaw is a rotation about +y; **positive yaw turns the listener to its left** (counter-clockwise seen from
above). Orientation quaternions are ``[w, x, y, z]`` and rotate local vectors into the world frame.

Azimuth (degrees, in (-180, 180]): angle of a source in the listener's horizontal plane,
**+90 = left, -90 = right, 0 = front, +-180 = back** (the seeds' labelling). Elevation: degrees above the
listener's horizontal plane. Binaural channel 0 is the **left** ear, channel 1 the right.

Consequence used by the self-supervised losses: if the listener turns by ``delta = yaw_j - yaw_i`` (degrees)
without moving, a static source's azimuth changes as ``az_j = wrap(az_i - delta)``.

Rules every producer and consumer shares (defined once, here):

- **Side of an azimuth** (:func:`side_of_azimuth`): +1 left (0 < az < 180), -1 right, 0 on the median plane
  (0 and +-180, or within a margin of it), NaN for an unknown (NaN) azimuth.
- **IID sign** (:func:`iid_sign`, :func:`iid_side`): seed 000's ``d = sign(log(E_L / E_R))``, +1 left, -1 right,
  and **0 = undecided for an exact tie** (equal energies, silence). Callers decide what undecided means:
  ``simkit data stats`` scores it as a miss, the curation's IID-change check never lets it agree, the SLfM
  IID loss gets a 0 target, and the ``iid`` bench model (which must name an azimuth) answers left (+90).
- **Split names**: :data:`SPLITS`.
- **Frame changes**: z-up world <-> simkit's y-up world (:func:`zup_to_yup`, :func:`yup_to_zup`), and the
  OpenCV camera frame (x right, y down, z forward) <-> simkit's camera frame (x right, y up, -z forward)
  (:func:`opencv_to_simkit_camera`; it is its own inverse).
"""

from __future__ import annotations

import sys

import numpy as np

UP = np.array([0.0, 1.0, 0.0])
FORWARD = np.array([0.0, 0.0, -1.0])  # listener/camera looks along -z at yaw 0
RIGHT = np.array([1.0, 0.0, 0.0])
LEFT_CHANNEL = 0
RIGHT_CHANNEL = 1
SPEED_OF_SOUND = 343.0  # m/s, used for delay bounds and the spherical-head model
HEAD_RADIUS = 0.0875  # m, spherical-head (Woodworth) model and the two-ear fallback microphone spacing
SPLITS: tuple[str, str, str] = ("train", "val", "test")  # every dataset's, scene set's and speech corpus's splits
# Sources this close to the median plane (azimuth near 0 or +-180 deg) have no well-defined side (lr_accuracy,
# simkit data stats).
MEDIAN_PLANE_MARGIN_DEG = 5.0
IID_ENERGY_FLOOR = 1e-12  # added to each ear's energy before the log: silence gives IID 0 (a tie), not NaN


def mono_of(binaural):  # numpy array or torch tensor (..., 2, T) -> (..., T)
    """simkit's mono of a binaural clip: ``(L + R) / 2`` of (..., 2, T) audio (numpy or torch)."""
    return 0.5 * (binaural[..., LEFT_CHANNEL, :] + binaural[..., RIGHT_CHANNEL, :])


def wrap_deg(angle: np.ndarray | float) -> np.ndarray | float:
    """Wrap degrees into (-180, 180]."""
    a = np.mod(np.asarray(angle, dtype=np.float64) + 180.0, 360.0) - 180.0
    a = np.where(a == -180.0, 180.0, a)
    return float(a) if np.ndim(a) == 0 else a


def yaw_to_quat(yaw_deg: np.ndarray | float) -> np.ndarray:
    """Quaternion(s) ``[w, x, y, z]`` for a rotation of ``yaw_deg`` about +y (positive = turn left)."""
    half = np.deg2rad(np.asarray(yaw_deg, dtype=np.float64)) / 2.0
    q = np.stack([np.cos(half), np.zeros_like(half), np.sin(half), np.zeros_like(half)], axis=-1)
    return q


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (local -> world) of a unit quaternion ``[w, x, y, z]``; works on stacks (..., 4)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


def yaw_pitch_to_matrix(yaw_deg: float, pitch_deg: float = 0.0) -> np.ndarray:
    """Camera rotation (local -> world): yaw about +y then pitch about the local +x (positive = look up)."""
    ry = quat_to_matrix(yaw_to_quat(yaw_deg))
    p = np.deg2rad(pitch_deg)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(p), -np.sin(p)], [0.0, np.sin(p), np.cos(p)]])
    return ry @ rx


def world_to_local(points: np.ndarray, position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Express world points (..., 3) in the frame of a listener at ``position`` with ``rotation`` (3x3)."""
    return (np.asarray(points, dtype=np.float64) - position) @ rotation


def direction_to_azimuth_elevation(local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation (degrees) of listener-frame vectors (..., 3): +90 left, 0 front, 180 back."""
    local = np.asarray(local, dtype=np.float64)
    x, y, z = local[..., 0], local[..., 1], local[..., 2]
    az = np.rad2deg(np.arctan2(-x, -z))
    el = np.rad2deg(np.arctan2(y, np.hypot(x, z)))
    return wrap_deg(az), el


def source_labels(
    source_pos: np.ndarray, listener_pos: np.ndarray, listener_yaw_deg: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuth (deg), elevation (deg) and distance (m) of sources (S, 3) seen from a yawed listener."""
    rot = quat_to_matrix(yaw_to_quat(listener_yaw_deg))
    local = world_to_local(source_pos, np.asarray(listener_pos, dtype=np.float64), rot)
    az, el = direction_to_azimuth_elevation(local)
    return np.asarray(az), np.asarray(el), np.linalg.norm(local, axis=-1)


def azimuth_to_local_direction(azimuth_deg: np.ndarray | float) -> np.ndarray:
    """Unit horizontal listener-frame vector(s) for an azimuth (inverse of the azimuth definition)."""
    a = np.deg2rad(np.asarray(azimuth_deg, dtype=np.float64))
    return np.stack([-np.sin(a), np.zeros_like(a), -np.cos(a)], axis=-1)


def relative_yaw_deg(yaw_from: np.ndarray | float, yaw_to: np.ndarray | float) -> np.ndarray | float:
    """Camera rotation between two views, ``wrap(yaw_to - yaw_from)``; a static source moves by its negative."""
    return wrap_deg(np.asarray(yaw_to) - np.asarray(yaw_from))


def relative_translation(
    pos_from: np.ndarray, yaw_from_deg: float, pos_to: np.ndarray
) -> np.ndarray:
    """Translation from view ``from`` to view ``to`` expressed in the frame of view ``from`` (x right, -z fwd)."""
    rot = quat_to_matrix(yaw_to_quat(yaw_from_deg))
    return world_to_local(pos_to, np.asarray(pos_from, dtype=np.float64), rot)


def azimuth_class(azimuth_deg: np.ndarray | float, n_classes: int = 16) -> np.ndarray:
    """Class index of an azimuth in ``n_classes`` equal bins centred on 0, 360/n, ... (counter-clockwise).

    With 16 classes the bin centres are the seed's labels 0, 22.5, 45, ..., 180, ..., -22.5; with 4 classes
    they are front (0), left (1), back (2), right (3).

    An azimuth exactly on a bin edge belongs to the neighbouring bin whose centre is nearer the median
    plane (0 or 180 deg). The rule is symmetric under both mirrors of a binaural head: the left/right ear
    swap (a -> -a) and the front/back confusion (a -> 180 - a). With 4 classes the seed's labels +-45 are
    front and +-135 are back, so left and right hold 67.5, 90 and 112.5 (and their mirrors). docs/bench.md
    ("Direction protocols") gives the reasons.
    """
    width = 360.0 / n_classes
    a = np.asarray(azimuth_deg, dtype=np.float64)
    # wrap only what lies outside (-180, 180]: wrapping adds 180 and would round a hair off an edge onto it
    a = np.where((a > -180.0) & (a <= 180.0), a, wrap_deg(a))
    k = np.floor((a + width / 2.0) / width)
    # the division may round an azimuth a hair off an edge onto it: decide in degrees, where edges are exact
    r = a - k * width
    k = np.where(r < -width / 2.0, k - 1.0, np.where(r >= width / 2.0, k + 1.0, k))
    edge = (a - k * width) == -width / 2.0  # exactly between bins k - 1 and k
    lower = k - 1.0

    def centre(i: np.ndarray) -> np.ndarray:
        return np.abs(np.asarray(wrap_deg(i * width), dtype=np.float64))

    # on an edge take the bin nearer the median plane; an exact tie (only when +-90 is an edge) goes frontward
    c_k, c_lower = centre(k), centre(lower)
    d_k, d_lower = np.minimum(c_k, 180.0 - c_k), np.minimum(c_lower, 180.0 - c_lower)
    take_lower = edge & ((d_lower < d_k) | ((d_lower == d_k) & (c_lower < c_k)))
    return (np.where(take_lower, lower, k).astype(np.int64) % n_classes).astype(np.int64)


def class_center_deg(index: np.ndarray | int, n_classes: int = 16) -> np.ndarray | float:
    """Azimuth (deg) at the centre of class ``index`` (inverse of :func:`azimuth_class`)."""
    return wrap_deg(np.asarray(index, dtype=np.float64) * 360.0 / n_classes)


def side_of_azimuth(azimuth_deg: np.ndarray | float, margin_deg: float = 0.0) -> np.ndarray:
    """Side of azimuths (float64 array): +1 left, -1 right, 0 on the median plane, NaN where unknown.

    The median plane is 0 and +-180 deg exactly (``sin`` rounded to 12 decimals, so +-180 gives 0, not the
    sign of 1e-16), or, with ``margin_deg`` > 0, every azimuth whose ``|sin|`` is at most ``sin(margin_deg)``.
    """
    a = np.asarray(azimuth_deg, dtype=np.float64)
    known = np.isfinite(a)
    s = np.sin(np.deg2rad(np.where(known, a, 0.0)))
    side = np.sign(np.round(s, 12))
    if margin_deg > 0:
        side = np.where(np.abs(s) > np.sin(np.deg2rad(margin_deg)), side, 0.0)
    return np.where(known, side, np.nan)


def iid_log_ratio(audio: np.ndarray) -> np.ndarray | float:
    """Interaural intensity difference ``log(E_L / E_R)`` (natural log, float64) of clips (..., 2, T)."""
    e = np.square(np.asarray(audio, dtype=np.float64)).sum(-1)
    d = np.log(e[..., LEFT_CHANNEL] + IID_ENERGY_FLOOR) - np.log(e[..., RIGHT_CHANNEL] + IID_ENERGY_FLOOR)
    return float(d) if np.ndim(d) == 0 else d


def iid_sign(iid):  # numpy array, float or torch tensor -> the same kind
    """The IID side ``sign(iid)``: +1 left, -1 right, 0 undecided (an exact tie). Works on torch tensors too."""
    torch = sys.modules.get("torch")  # never imported here: a tensor can only come from a caller that did
    if torch is not None and isinstance(iid, torch.Tensor):
        return torch.sign(iid)
    return np.sign(iid)


def iid_side(audio: np.ndarray) -> np.ndarray | float:
    """Seed 000's IID label ``d = sign(log(E_L / E_R))`` of clips (..., 2, T): +1 left, -1 right, 0 a tie."""
    return iid_sign(iid_log_ratio(audio))


def zup_to_yup(points: np.ndarray) -> np.ndarray:
    """Points (..., 3) of a z-up world (x, y, z) in simkit's y-up world: (x, z, -y), a -90 deg turn about x
    (what habitat-sim applies to z-up meshes)."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def yup_to_zup(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`zup_to_yup`: simkit's (x, y, z) -> the z-up world's (x, -z, y)."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


# (x, y, z) OpenCV (right, down, forward) <-> simkit camera (right, up, backward): flip y and z; self-inverse.
_OPENCV_FLIP = np.array([1.0, -1.0, -1.0])


def opencv_to_simkit_camera(vectors: np.ndarray) -> np.ndarray:
    """Camera-frame vectors (..., 3) from OpenCV's frame to simkit's: (x, y, z) -> (x, -y, -z).

    The change is its own inverse, so it also takes simkit camera vectors to OpenCV's."""
    return np.asarray(vectors, dtype=np.float64) * _OPENCV_FLIP
