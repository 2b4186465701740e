"""How many training views see what a held-out view shows: the ground truth's answer for a generated scene.

A neural field learns a surface from the views that see it. A held-out pixel whose surface point no training view
sees, or only one or two do, cannot be triangulated: the field may leave that surface transparent and paint its
colour on what lies behind, and its class then comes from the surface behind. Its label measures the camera path as
much as the method. ``view_counts`` answers the question exactly for the demo scenes, whose geometry is known: each
target pixel's nearest hit is traced back to every source camera, which sees it when nothing lies in between.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from panoptic_nerfstudio.demo_scene.geometry import Hits, Intrinsics, RayGrid, trace
from panoptic_nerfstudio.demo_scene.layouts import SceneObject

CENTRE = ((0.5, 0.5),)
"""One ray through each pixel's centre."""
DEPTH_TOLERANCE = 1e-3
"""A point counts as seen when the ray towards it hits nothing closer than this share of its distance: its own
surface, hit again in floating point, comes back a hair short of it (a millimetre a metre away, so a 1.5 cm
baseboard in front of a wall point still hides it)."""


class PointRays(RayGrid):
    """Rays from one camera centre towards given points: no pixel grid, so no culling by projected bounds."""

    def candidates(self, lo: np.ndarray, hi: np.ndarray) -> Optional[np.ndarray]:
        return None


def pixel_hits(objects: Sequence[SceneObject], intr: Intrinsics, c2w: np.ndarray) -> Hits:
    """The nearest hit of the ray through each pixel centre of camera ``c2w``, row-major."""
    return trace(objects, RayGrid.through(c2w, intr, CENTRE))


def view_counts(
    objects: Sequence[SceneObject], intr: Intrinsics, target: Hits, source_c2ws: Sequence[np.ndarray]
) -> np.ndarray:
    """[H, W] number of source cameras that see the surface point of each pixel of a target view (its
    ``pixel_hits``); -1 where the pixel hits nothing. A source sees a point when the point projects inside its
    image, in front of it, and the ray from the source's centre towards the point hits nothing before it."""
    hit = np.isfinite(target.t)
    points = target.point.T[hit]  # [N, 3]
    counts = np.zeros(len(points), dtype=np.int64)
    for c2w in source_c2ws:
        counts += _seen_from(objects, intr, c2w, points)
    out = np.full(intr.height * intr.width, -1, dtype=np.int64)
    out[hit] = counts
    return out.reshape(intr.height, intr.width)


def _seen_from(objects: Sequence[SceneObject], intr: Intrinsics, c2w: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[N] bool: which points the camera ``c2w`` sees (OpenGL convention: the camera looks down its -z)."""
    offsets = points - c2w[:3, 3]
    local = offsets @ c2w[:3, :3]
    depth = -local[:, 2]
    front = depth > 1e-6
    safe = np.where(front, depth, 1.0)
    cols = intr.fx * local[:, 0] / safe + intr.cx
    rows = -intr.fy * local[:, 1] / safe + intr.cy
    inside = front & (cols >= 0) & (cols < intr.width) & (rows >= 0) & (rows < intr.height)
    seen = np.zeros(len(points), dtype=bool)
    if not inside.any():
        return seen
    distance = np.linalg.norm(offsets[inside], axis=1)
    directions = np.ascontiguousarray((offsets[inside] / distance[:, None]).T)
    first = trace(objects, PointRays(c2w, intr, 1, directions)).t
    seen[inside] = first >= distance * (1.0 - DEPTH_TOLERANCE)
    return seen
