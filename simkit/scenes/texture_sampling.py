"""Bilinear texture lookup at trimesh-convention UVs, shared by the mesh loaders (a face's colour at its UV
centroid) and the camera (:func:`simkit.vision.camera.albedo`)."""

from __future__ import annotations

import numpy as np


def sample_texture(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear, wrap-around lookup of an (h, w, 3) uint8 image at trimesh-convention UVs -> float [0, 1]."""
    h, w = image.shape[:2]
    x = np.mod(uv[:, 0], 1.0) * w - 0.5
    y = (1.0 - np.mod(uv[:, 1], 1.0)) * h - 0.5
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    x0m, x1m = np.mod(x0, w), np.mod(x0 + 1, w)
    y0m, y1m = np.mod(y0, h), np.mod(y0 + 1, h)

    def texel(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        # convert the four gathered texels, not the whole image, per call (same values: a per-element op)
        return image[yy, xx].astype(np.float64) / 255.0

    top = texel(y0m, x0m) * (1 - fx) + texel(y0m, x1m) * fx
    bot = texel(y1m, x0m) * (1 - fx) + texel(y1m, x1m) * fx
    return top * (1 - fy) + bot * fy
