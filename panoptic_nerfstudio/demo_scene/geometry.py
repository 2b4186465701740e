"""Analytic ray casting of the demo scene's primitives, vectorised over every pixel of a pinhole camera.

The scene is built from axis-aligned boxes, rectangles, vertical cylinders and
spheres only: their ray intersections have closed forms, so a whole frame is a
handful of numpy operations per primitive and needs no mesh library or GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:  # layouts imports this module; the object type is only needed for hints
    from panoptic_nerfstudio.demo_scene.layouts import SceneObject

_EPS = 1e-6
_FAR = np.float64(np.inf)

# Rays are stored component-first: directions and 1/direction as [3, N] arrays, so
# that per-axis arithmetic runs on contiguous rows; origins are [3, 1] (one camera).


def _max3(a: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(a[0], a[1]), a[2])


def _min3(a: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(a[0], a[1]), a[2])


@dataclass(frozen=True)
class Box:
    """Axis-aligned box, hit from outside."""

    lo: Tuple[float, float, float]
    hi: Tuple[float, float, float]

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        return np.array(self.lo), np.array(self.hi)

    def intersect(self, o: np.ndarray, d: np.ndarray, inv: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds()
        t1, t2 = (lo[:, None] - o) * inv, (hi[:, None] - o) * inv
        t_near, t_far = _max3(np.minimum(t1, t2)), _min3(np.maximum(t1, t2))
        return np.where((t_far >= t_near) & (t_near > _EPS), t_near, _FAR)

    def normal_at(self, p: np.ndarray) -> np.ndarray:
        """Outward normal of the face nearest to each surface point."""
        lo, hi = self.bounds()
        gaps = np.concatenate([np.abs(p - lo[:, None]), np.abs(p - hi[:, None])])  # [6, N]
        face = gaps.argmin(axis=0)
        normal = np.zeros_like(p)
        normal[face % 3, np.arange(p.shape[1])] = np.where(face < 3, -1.0, 1.0)
        return normal


@dataclass(frozen=True)
class Rect:
    """Axis-aligned rectangle with a fixed normal; the room's faces, seen from inside."""

    axis: int
    value: float
    lo: Tuple[float, float, float]
    hi: Tuple[float, float, float]
    facing: float
    """Sign of the normal along ``axis``."""

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        lo, hi = np.array(self.lo), np.array(self.hi)
        lo[self.axis] = hi[self.axis] = self.value
        return lo, hi

    def intersect(self, o: np.ndarray, d: np.ndarray, inv: np.ndarray) -> np.ndarray:
        t = (self.value - o[self.axis]) * inv[self.axis]
        hit = (t > _EPS) & np.isfinite(t)
        for other in range(3):
            if other != self.axis:
                p = o[other] + d[other] * t
                hit &= (p >= self.lo[other] - 1e-4) & (p <= self.hi[other] + 1e-4)
        return np.where(hit, t, _FAR)

    def normal_at(self, p: np.ndarray) -> np.ndarray:
        normal = np.zeros_like(p)
        normal[self.axis] = self.facing
        return normal


@dataclass(frozen=True)
class Cylinder:
    """Vertical closed cylinder."""

    x: float
    y: float
    radius: float
    z0: float
    z1: float

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        r = self.radius
        return np.array([self.x - r, self.y - r, self.z0]), np.array([self.x + r, self.y + r, self.z1])

    def intersect(self, o: np.ndarray, d: np.ndarray, inv: np.ndarray) -> np.ndarray:
        ox, oy = o[0] - self.x, o[1] - self.y
        a = d[0] ** 2 + d[1] ** 2
        b = 2 * (ox * d[0] + oy * d[1])
        c = ox**2 + oy**2 - self.radius**2
        disc = b**2 - 4 * a * c
        with np.errstate(divide="ignore", invalid="ignore"):
            t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        z_side = o[2] + t_side * d[2]
        side = (disc >= 0) & (a > 1e-12) & (t_side > _EPS) & (z_side >= self.z0) & (z_side <= self.z1)
        t_side = np.where(side, t_side, _FAR)
        t_cap = (np.where(d[2] < 0, self.z1, self.z0) - o[2]) * inv[2]
        px, py = ox + t_cap * d[0], oy + t_cap * d[1]
        cap = (t_cap > _EPS) & np.isfinite(t_cap) & (px**2 + py**2 <= self.radius**2)
        return np.minimum(t_side, np.where(cap, t_cap, _FAR))

    def normal_at(self, p: np.ndarray) -> np.ndarray:
        """Side or cap normal, whichever surface the point lies closest to."""
        rx, ry = p[0] - self.x, p[1] - self.y
        side_gap = np.abs(np.sqrt(rx**2 + ry**2) - self.radius)
        top_gap, bottom_gap = np.abs(p[2] - self.z1), np.abs(p[2] - self.z0)
        on_side = side_gap <= np.minimum(top_gap, bottom_gap)
        normal = np.zeros_like(p)
        normal[0] = np.where(on_side, rx / self.radius, 0.0)
        normal[1] = np.where(on_side, ry / self.radius, 0.0)
        normal[2] = np.where(on_side, 0.0, np.where(top_gap <= bottom_gap, 1.0, -1.0))
        return normal


@dataclass(frozen=True)
class Sphere:
    """Sphere, hit from outside (its normal is used for shading only)."""

    center: Tuple[float, float, float]
    radius: float

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        c = np.array(self.center)
        return c - self.radius, c + self.radius

    def intersect(self, o: np.ndarray, d: np.ndarray, inv: np.ndarray) -> np.ndarray:
        oc = o - np.array(self.center)[:, None]
        b = oc[0] * d[0] + oc[1] * d[1] + oc[2] * d[2]
        c = oc[0] ** 2 + oc[1] ** 2 + oc[2] ** 2 - self.radius**2
        disc = b**2 - c  # directions are unit length
        t = -b - np.sqrt(np.maximum(disc, 0))
        return np.where((disc >= 0) & (t > _EPS), t, _FAR)

    def normal_at(self, p: np.ndarray) -> np.ndarray:
        return (p - np.array(self.center)[:, None]) / self.radius


Primitive = Box | Rect | Cylinder | Sphere


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels, with nerfstudio's convention that pixel centres lie at integer + 0.5."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int


def ray_directions(c2w: np.ndarray, intr: Intrinsics, offset: Tuple[float, float]) -> np.ndarray:
    """Unit world directions [3, H*W] through (column + offset[0], row + offset[1]) of every pixel, row-major."""
    rows, cols = np.mgrid[0 : intr.height, 0 : intr.width].astype(np.float64)
    x = ((cols + offset[0] - intr.cx) / intr.fx).ravel()
    y = (-(rows + offset[1] - intr.cy) / intr.fy).ravel()
    rot = c2w[:3, :3]
    d = np.stack([rot[i, 0] * x + rot[i, 1] * y - rot[i, 2] for i in range(3)])
    return d / np.sqrt((d**2).sum(axis=0))


@dataclass
class Hits:
    """Nearest hit per ray: distance (inf for a miss), object, primitive within the object and the 3D point."""

    t: np.ndarray
    obj: np.ndarray
    """Index into the object list, -1 where nothing was hit."""
    part: np.ndarray
    """Index of the primitive within its object."""
    point: np.ndarray
    """[3, N]"""


@dataclass(frozen=True)
class RayGrid:
    """Rays of one pinhole camera: one H x W image of rays per subpixel offset, stacked."""

    c2w: np.ndarray
    intr: Intrinsics
    sets: int
    directions: np.ndarray
    """[3, sets * H * W] unit directions; all rays start at the camera centre."""

    @classmethod
    def through(cls, c2w: np.ndarray, intr: Intrinsics, offsets: Sequence[Tuple[float, float]]) -> RayGrid:
        directions = np.concatenate([ray_directions(c2w, intr, offset) for offset in offsets], axis=1)
        return cls(c2w, intr, len(offsets), directions)

    @property
    def origin(self) -> np.ndarray:
        """[3, 1], broadcasting against the directions."""
        return self.c2w[:3, 3:4]

    def candidates(self, lo: np.ndarray, hi: np.ndarray) -> Optional[np.ndarray]:
        """Indices of the rays that may hit a box, from its projected corners; None means all rays."""
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        cam = (corners - self.c2w[:3, 3]) @ self.c2w[:3, :3]
        depth = -cam[:, 2]
        if np.any(depth < 1e-3):
            return None
        i = self.intr
        u = i.fx * cam[:, 0] / depth + i.cx
        v = -i.fy * cam[:, 1] / depth + i.cy
        c0, c1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 1, i.width)
        r0, r1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 1, i.height)
        if c0 >= c1 or r0 >= r1:
            return np.zeros(0, dtype=np.int64)
        pixels = (np.arange(r0, r1)[:, None] * i.width + np.arange(c0, c1)[None, :]).ravel()
        return (np.arange(self.sets)[:, None] * (i.width * i.height) + pixels[None, :]).ravel()


def trace(objects: Sequence[SceneObject], grid: RayGrid) -> Hits:
    """Nearest hit of every ray of ``grid`` among the objects' primitives."""
    origin, d = grid.origin, grid.directions
    n = d.shape[1]
    best_t = np.full(n, _FAR)
    best_obj = np.full(n, -1, dtype=np.int64)
    best_part = np.zeros(n, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = 1.0 / d
        for index, obj in enumerate(objects):
            rays = grid.candidates(*obj.bounds())
            if rays is not None and rays.size == 0:
                continue
            rd, rinv = (d, inv) if rays is None else (d[:, rays], inv[:, rays])
            for part, prim in enumerate(obj.primitives):
                t = prim.intersect(origin, rd, rinv)
                if rays is None:  # boolean masks: much cheaper than gathering every ray
                    closer = t < best_t
                    best_t[closer], best_obj[closer], best_part[closer] = t[closer], index, part
                else:
                    closer = t < best_t[rays]
                    sel = rays[closer]
                    best_t[sel], best_obj[sel], best_part[sel] = t[closer], index, part
    point = origin + d * np.where(np.isfinite(best_t), best_t, 0.0)
    return Hits(best_t, best_obj, best_part, point)

