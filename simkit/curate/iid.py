"""Interaural intensity difference cues of seed 000 (A.1.2): the per-window IID, its side, the IID score.

``IID = log(E_L / E_R)`` over a window (natural log of the energy ratio, channel 0 = left); the seed's
pseudo label is its sign, ``d = sign(IID)`` (+1 = left, 0 for a tie: :func:`simkit.conventions.iid_side`).
The IID score of a clip: the IID of 2 s windows every 1 s, and the absolute product of the changes between
consecutive windows - large only when the sound moves steadily from one window to the next, the clips the
seed ranks first.
"""

from __future__ import annotations

import numpy as np

from simkit.conventions import iid_log_ratio


def iid(audio: np.ndarray) -> float:
    """``log(E_L / E_R)`` of a stereo window (2, T) (:func:`simkit.conventions.iid_log_ratio`)."""
    return float(iid_log_ratio(audio))


def iid_track(audio: np.ndarray, sample_rate: int, window_s: float = 2.0, hop_s: float = 1.0) -> np.ndarray:
    """IIDs of windows of ``window_s`` every ``hop_s`` over a clip (2, T): (K,), K = 1 + (dur - window) / hop."""
    n = audio.shape[-1]
    win, hop = int(round(window_s * sample_rate)), int(round(hop_s * sample_rate))
    if win > n:
        return np.zeros(0)
    starts = range(0, n - win + 1, hop)
    return np.array([iid(audio[:, s : s + win]) for s in starts])


def iid_score(track: np.ndarray) -> float:
    """Absolute product of the IID changes between consecutive windows (0 with fewer than two windows)."""
    if len(track) < 2:
        return 0.0
    return float(np.abs(np.prod(np.diff(track))))


def iid_change(track: np.ndarray) -> float:
    """IID of the last window minus the first: > 0 = the sound moved towards the left ear."""
    return float(track[-1] - track[0]) if len(track) >= 2 else 0.0
