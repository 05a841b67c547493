"""Camera motion from video frames (seed 000, A.2.1): pairwise rotation / translation, accumulated over time.

Frames are sampled at ``fps`` (5 in the seed). For every frame k the relative pose to frames k+1, k+3 and
k+6 is estimated from feature matches (:data:`MATCHERS`; the seed uses SuperGlue, whose weights are not
redistributable here, so the built-in matchers are OpenCV's SIFT and ORB) with intrinsics from a horizontal
field of view. The motion between any two time points is the sum of the 3-frame estimates from the first
point on, the last partial step taken proportionally (the fraction of a 3-frame step it covers); a 3-frame
pair that could not be estimated is replaced by the 6-frame pair minus the next 3-frame pair, else by three
1-frame pairs, else by half the 6-frame pair. Translations are accumulated the same way, each step rotated
into the first time point's frame by the accumulated yaw.

Pose of one pair (OpenCV frame: x right, y down, z forward; ``x1 = R x0 + t``): a RANSAC homography gives the
rotation a pure turn would imply (``K^-1 H K`` projected onto SO(3)); when the matches it leaves unexplained
(rotation-compensated parallax, median in pixels) stay under ``parallax_px`` the pair is a pure rotation
with zero translation, otherwise the RANSAC essential matrix and ``recoverPose`` give R and a unit t.
Yaw (degrees, + = turned left, :mod:`simkit.conventions`) is the rotation vector's component along the
camera's vertical axis, exact for a level camera and insensitive to small pitch/roll jitter. Translation is
the direction of the second camera centre in the first camera's simkit frame (x right, y up, -z forward);
monocular scale is unknown, so every translating step has length 1 (units: steps).

A learned matcher plugs in through :class:`Matcher` (``detect`` per frame, ``match`` per pair) registered in
:data:`MATCHERS` with a factory taking the weights path (``--matcher NAME --matcher-weights PATH``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from simkit.conventions import opencv_to_simkit_camera
from simkit.errors import SimkitError
from simkit.registry import Registry

INTERVALS = (1, 3, 6)  # frame intervals of the pairwise estimates (A.2.1)


@dataclass
class Features:
    """Keypoints (N, 2) in pixels (column, row) and whatever the matcher needs to match them."""

    keypoints: np.ndarray
    descriptors: Any


class Matcher(Protocol):
    """Feature detection and matching; ``match`` returns index arrays into both keypoint sets."""

    name: str

    def detect(self, gray: np.ndarray) -> Features:
        """Features of one grey uint8 image (H, W)."""

    def match(self, a: Features, b: Features) -> tuple[np.ndarray, np.ndarray]:
        """Indices (M,), (M,) of matched keypoints of ``a`` and ``b``."""


MATCHERS: Registry = Registry("feature matcher")  # name -> factory(weights: str | None) -> Matcher


class OpenCVMatcher:
    """SIFT or ORB keypoints, brute-force matching with Lowe's ratio test and a mutual-best check."""

    def __init__(self, kind: str = "sift", n_features: int = 2000, ratio: float = 0.8) -> None:
        import cv2

        self.name, self.ratio = kind, ratio
        if kind == "sift":
            self._det = cv2.SIFT_create(nfeatures=n_features)
            self._norm = cv2.NORM_L2
        elif kind == "orb":
            self._det = cv2.ORB_create(nfeatures=n_features)
            self._norm = cv2.NORM_HAMMING
        else:
            raise ValueError(kind)
        self._bf = cv2.BFMatcher(self._norm)

    def detect(self, gray: np.ndarray) -> Features:
        kps, desc = self._det.detectAndCompute(gray, None)
        pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
        return Features(pts, desc)

    def match(self, a: Features, b: Features) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if a.descriptors is None or b.descriptors is None or len(a.keypoints) < 2 or len(b.keypoints) < 2:
            return empty
        fwd = self._bf.knnMatch(a.descriptors, b.descriptors, k=2)
        back = {m[0].queryIdx: m[0].trainIdx for m in self._bf.knnMatch(b.descriptors, a.descriptors, k=1) if m}
        ia, ib = [], []
        for pair in fwd:
            if len(pair) < 2:
                continue
            m, n = pair
            if m.distance < self.ratio * n.distance and back.get(m.trainIdx) == m.queryIdx:
                ia.append(m.queryIdx)
                ib.append(m.trainIdx)
        return np.asarray(ia, np.int64), np.asarray(ib, np.int64)


def _no_weights(kind: str):
    def factory(weights: str | None) -> Matcher:
        if weights:
            raise SimkitError(f"matcher {kind} takes no weights (got --matcher-weights {weights})")
        return OpenCVMatcher(kind)

    return factory


MATCHERS.add("sift", _no_weights("sift"))
MATCHERS.add("orb", _no_weights("orb"))


def make_matcher(name: str, weights: str | None = None) -> Matcher:
    """The matcher registered as ``name`` (a learned one gets its local ``weights`` path)."""
    return MATCHERS.get(name)(weights)


@dataclass(frozen=True)
class EgomotionConfig:
    """Camera-motion estimation settings (``simkit curate`` options)."""

    fps: float = 5.0  # frames per second sampled from the video (A.2.1)
    hfov_deg: float = 60.0  # horizontal field of view of the camera, for the intrinsics
    width: int = 320  # frames are scaled to this width before matching
    matcher: str = "sift"
    matcher_weights: str | None = None
    min_inliers: int = 15  # fewer RANSAC inliers = the pair is not estimated
    ransac_px: float = 1.0  # RANSAC reprojection threshold (pixels at ``width``)
    parallax_px: float = 0.75  # median rotation-compensated parallax below this = pure rotation, t = 0

    def validate(self) -> None:
        if not self.fps > 0:
            raise SimkitError(f"--motion-fps must be positive (got {self.fps})")
        if not 0 < self.hfov_deg < 180:
            raise SimkitError(f"--hfov must be in (0, 180) degrees (got {self.hfov_deg})")
        if self.width < 32:
            raise SimkitError(f"--motion-width must be >= 32 (got {self.width})")
        if self.min_inliers < 5:
            raise SimkitError(f"--min-inliers must be >= 5 (got {self.min_inliers})")
        if not (self.ransac_px > 0 and self.parallax_px >= 0):
            raise SimkitError("--ransac-px must be positive and --parallax-px >= 0")
        MATCHERS.get(self.matcher)


def intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Pinhole K of square pixels with the principal point at the image centre."""
    f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


@dataclass
class PairMotion:
    """Relative motion from frame a to frame b; ``ok`` False when too few matches / inliers."""

    ok: bool
    yaw_deg: float = np.nan  # + = turned left
    translation: np.ndarray | None = None  # (3,) unit vector in a's simkit frame, zeros = pure rotation
    inliers: int = 0
    parallax_px: float = np.nan


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def _yaw_of(r_cv: np.ndarray) -> float:
    import cv2

    rvec, _ = cv2.Rodrigues(r_cv)
    # OpenCV +y points down; a left turn (simkit +yaw about +y up) is a rotation about camera +y (down) of
    # +angle in x1 = R x0 (the scene turns the other way in camera coordinates)
    return float(np.rad2deg(rvec[1, 0]))


def pair_motion(p0: np.ndarray, p1: np.ndarray, k: np.ndarray, cfg: EgomotionConfig) -> PairMotion:
    """Rotation (and translation direction) between two views from matched pixels (M, 2) each."""
    import cv2

    if len(p0) < max(cfg.min_inliers, 8):
        return PairMotion(False, inliers=len(p0))
    p0 = np.ascontiguousarray(p0, dtype=np.float64)
    p1 = np.ascontiguousarray(p1, dtype=np.float64)
    kinv = np.linalg.inv(k)
    h, hmask = cv2.findHomography(p0, p1, cv2.RANSAC, 2 * cfg.ransac_px, maxIters=2000, confidence=0.999)
    r_h, n_h = None, 0
    if h is not None and hmask is not None and int(hmask.sum()) >= cfg.min_inliers:
        m = kinv @ h @ k
        det = np.linalg.det(m)
        r_h, n_h = _nearest_rotation(m / np.cbrt(det) if det != 0 else m), int(hmask.sum())
    try:
        e, emask = cv2.findEssentialMat(p0, p1, k, cv2.RANSAC, 0.999, cfg.ransac_px)
    except cv2.error:  # a degenerate sample (OpenCV 5.1's five-point solver asserts in solvePoly): no E
        e, emask = None, None
    e_ok = e is not None and emask is not None and e.shape == (3, 3) and int(emask.sum()) >= cfg.min_inliers
    if not e_ok:
        if r_h is not None:  # no epipolar geometry but a rotation explains the matches
            return PairMotion(True, _yaw_of(r_h), np.zeros(3), n_h, np.nan)
        return PairMotion(False, inliers=0 if emask is None else int(emask.sum()))
    inl = emask.reshape(-1).astype(bool)
    par = np.nan
    if r_h is not None:
        # what a pure rotation by r_h leaves unexplained of the epipolar inliers is translation parallax
        x0 = np.c_[p0[inl], np.ones(int(inl.sum()))] @ kinv.T
        q = (x0 @ r_h.T) @ k.T
        proj = q[:, :2] / np.where(np.abs(q[:, 2:]) > 1e-9, q[:, 2:], 1e-9)
        par = float(np.median(np.linalg.norm(proj - p1[inl], axis=1)))
        if par < cfg.parallax_px:
            return PairMotion(True, _yaw_of(r_h), np.zeros(3), n_h, par)
    n_in, r, t, _ = cv2.recoverPose(e, p0, p1, k, mask=emask.copy())
    if n_in < cfg.min_inliers:
        if r_h is not None:
            return PairMotion(True, _yaw_of(r_h), np.zeros(3), n_h, par)
        return PairMotion(False, inliers=int(n_in))
    centre = -(r.T @ t).reshape(3)  # second camera centre in the first camera's OpenCV frame
    centre = opencv_to_simkit_camera(centre)  # -> simkit camera frame (x right, y up, -z forward)
    norm = np.linalg.norm(centre)
    return PairMotion(True, _yaw_of(r), centre / norm if norm > 0 else np.zeros(3), int(n_in), par)


@dataclass
class MotionTrack:
    """Pairwise motion of a video sampled at ``fps``: ``yaw[i][k]`` from frame k to k+i (NaN = failed)."""

    fps: float
    n_frames: int
    yaw: dict[int, np.ndarray]  # interval -> (n_frames,) deg
    translation: dict[int, np.ndarray]  # interval -> (n_frames, 3) unit vectors (NaN = failed)

    def step3(self, k: int) -> tuple[float, np.ndarray]:
        """Yaw and translation from frame k to k+3 (with the fallbacks of the module docstring)."""
        y3, t3 = self.yaw[3], self.translation[3]
        if k < len(y3) and np.isfinite(y3[k]):
            return float(y3[k]), t3[k]
        y6, y1 = self.yaw[6], self.yaw[1]
        if k < len(y6) and np.isfinite(y6[k]) and k + 3 < len(y3) and np.isfinite(y3[k + 3]):
            return float(y6[k] - y3[k + 3]), _unit(self.translation[6][k])
        if k + 2 < len(y1) and np.all(np.isfinite(y1[k : k + 3])):
            t = np.zeros(3)
            yaw = 0.0
            for j in range(3):
                t += _rotate_yaw(self.translation[1][k + j], yaw)
                yaw += float(y1[k + j])
            return yaw, _unit(t)
        if k < len(y6) and np.isfinite(y6[k]):
            return float(y6[k]) / 2.0, _unit(self.translation[6][k])
        return np.nan, np.full(3, np.nan)

    def between(self, t_from: float, t_to: float) -> tuple[float, np.ndarray]:
        """Accumulated yaw (deg) and translation (steps, in the frame at ``t_from``) between two times (s)."""
        a, b = t_from * self.fps, t_to * self.fps
        sign = 1.0
        if b < a:
            a, b, sign = b, a, -1.0
        yaw, trans = 0.0, np.zeros(3)
        k = float(a)
        last = self.n_frames - 1
        while k < b - 1e-9:
            frac = min(3.0, b - k) / 3.0
            base = int(np.floor(k + 1e-9))
            base = min(base, max(0, last - 3))  # a step past the last frame reuses the last full pair
            y, t = self.step3(base)
            if not np.isfinite(y):
                return np.nan, np.full(3, np.nan)
            trans += frac * _rotate_yaw(t, yaw)
            yaw += frac * y
            k += 3.0 * frac
        if sign < 0:  # motion from b back to a, expressed in b's frame
            return -yaw, -_rotate_yaw(trans, -yaw)
        return yaw, trans


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if np.isfinite(n) and n > 1e-9 else np.zeros(3) if np.isfinite(n) else v


def _rotate_yaw(v: np.ndarray, yaw_deg: float) -> np.ndarray:
    """A vector of a frame turned by ``yaw_deg`` (left), expressed in the unturned frame."""
    from simkit.conventions import quat_to_matrix, yaw_to_quat

    return quat_to_matrix(yaw_to_quat(yaw_deg)) @ np.asarray(v, dtype=np.float64)


def estimate_track(frames: np.ndarray, cfg: EgomotionConfig, matcher: Matcher | None = None) -> MotionTrack:
    """Pairwise motion at intervals 1, 3, 6 of grey frames (N, H, W) sampled at ``cfg.fps``."""
    matcher = matcher or make_matcher(cfg.matcher, cfg.matcher_weights)
    n = len(frames)
    k = intrinsics(frames.shape[2], frames.shape[1], cfg.hfov_deg) if n else np.eye(3)
    feats = [matcher.detect(f) for f in frames]
    yaw = {i: np.full(n, np.nan) for i in INTERVALS}
    trans = {i: np.full((n, 3), np.nan) for i in INTERVALS}
    for i in INTERVALS:
        for a in range(n - i):
            ia, ib = matcher.match(feats[a], feats[a + i])
            pm = pair_motion(feats[a].keypoints[ia], feats[a + i].keypoints[ib], k, cfg)
            if pm.ok:
                yaw[i][a] = pm.yaw_deg
                trans[i][a] = pm.translation
    return MotionTrack(cfg.fps, n, yaw, trans)
