"""The camera, view filters and views of a render (:class:`ViewsConfig`); docs/configuration.md lists them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simkit.config import setting
from simkit.config import validate as validate_fields
from simkit.errors import SimkitError


@dataclass
class CameraConfig:
    """Pinhole camera of the views (HM3D-SS: 320x240, 60 deg horizontal FOV, pitched 22.5 deg down)."""

    width: int = setting(320, min=1)  # pixels
    height: int = setting(240, min=1)  # pixels
    hfov_deg: float = setting(60.0, above=0, below=180)  # horizontal field of view
    pitch_deg: float = setting(-22.5, min=-90, max=90)  # camera tilt about its right axis, negative = down
    ambient: float = setting(0.35, min=0)  # shading: constant term
    headlight: float = setting(0.45, min=0)  # shading: light at the camera, weight of |n . view|
    sun: float = setting(0.25, min=0)  # shading: fixed light from above, weight of max(0, n . l)
    background: tuple[int, int, int] = (0, 0, 0)  # RGB where a ray hits nothing (depth 0, instance 0)

    def validate(self, where: str = "camera") -> None:
        """One SimkitError naming the first bad field (types, ranges, RGB background)."""
        validate_fields(self, where)
        if not all(0 <= c <= 255 for c in self.background):
            raise SimkitError(f"{where}.background must be RGB values 0..255 (got {list(self.background)})")

    @property
    def focal_px(self) -> float:
        """Focal length in pixels."""
        return 0.5 * self.width / math.tan(math.radians(self.hfov_deg) / 2.0)


@dataclass
class ViewFilterConfig:
    """Thresholds of the HM3D-SS view filters (:mod:`simkit.vision.filters`)."""

    min_max_depth: float = setting(4.0, min=0)  # m, the farthest visible surface must be at least this far
    min_mean_depth: float = setting(1.0, min=0)  # m, mean depth over pixels that hit a surface
    # share of pixels that must hit a surface (mesh holes read as depth 0)
    min_valid_fraction: float = setting(0.9, min=0, max=1)
    min_shared_instances: int = setting(1, min=0)  # K: objects both partner views must show
    # P: pixels an object needs in a view to count as visible (at 320x240)
    min_instance_pixels: int = setting(200, min=0)


@dataclass
class ViewsConfig:
    """Whether and how the RGB / depth / instance views of every view set are rendered and filtered."""

    enabled: bool = True  # False = --no-views: no images, no view filters
    camera: CameraConfig = field(default_factory=CameraConfig)
    filters: ViewFilterConfig = field(default_factory=ViewFilterConfig)
    apply_filters: bool = True  # resample view sets that fail the filters (up to filter_tries)
    # view sets sampled per kept set; if none passes, the first is kept and flagged
    filter_tries: int = setting(20, min=1)


def check_views_config(vc: ViewsConfig, where: str = "views") -> None:
    """The rule a field range cannot say: the background is an RGB colour."""
    vc.camera.validate(f"{where}.camera")
