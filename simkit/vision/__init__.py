"""Views of a scene: ray-cast RGB / depth / instance images, procedural texture, HM3D-SS view filters,
and shard contact sheets."""

from simkit.vision.camera import View, project_points, render_view, render_views
from simkit.vision.config import CameraConfig, ViewFilterConfig, ViewsConfig
from simkit.vision.filters import depth_ok, pair_matrix, partners_ok, view_set_ok

__all__ = [
    "CameraConfig",
    "View",
    "ViewFilterConfig",
    "ViewsConfig",
    "depth_ok",
    "pair_matrix",
    "partners_ok",
    "project_points",
    "render_view",
    "render_views",
    "view_set_ok",
]
