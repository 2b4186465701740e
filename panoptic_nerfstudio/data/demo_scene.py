"""A deterministic synthetic indoor scene with simulated 2D panoptic masks and ground truth.

The scene is a 6 x 6 x 3 m room (z up, metres, origin at the floor centre) whose
walls, floor and ceiling enclose a small living/dining area within 1.6 m of the
centre:

* stuff: wall, floor, ceiling, two cabinets (a sideboard and a tall shelf) and
  a table;
* things: four chairs (two of them side by side), two sofa modules standing
  close together, three lamps (two small table lamps, one floor lamp) and two
  bins next to each other -- eleven instances, several of them small in most
  views and some in touching pairs that a 2D network is likely to merge.

Everything is built from axis-aligned boxes, rectangles, vertical cylinders and
spheres, ray traced analytically and vectorised over all pixels by pinhole
cameras (65 degree horizontal field of view) on one jittered orbit 2.1-2.3 m
around the centre, looking inwards. Every surface carries a procedural 3D
texture (checker, stripes, planks, panel grid and value noise at several
scales) under view-independent Lambertian shading, so a small NeRF can recover
the geometry from a few dozen 160 x 120 views. Images are 2 x 2 supersampled;
labels come from the ray through each pixel centre, as nerfstudio casts it.
The geometry is fixed; the seed changes colours, cameras and mask defects.

Ground truth (``gt_panoptic/``) keeps one id per thing instance and per stuff
class across all frames. The machine masks (``panoptic/`` and
``confidence/``) imitate a real 2D panoptic network such as Mask2Former run
frame by frame, with these defects, each scaled by ``DemoSceneConfig.noise``:

* fresh random segment ids in every frame (things and stuff), so ids say
  nothing about identity across views -- this one is never scaled away;
* missed small instances, set to void or absorbed by the surrounding stuff;
* touching instances of one class merged into one segment;
* thing segments given a similar but wrong class, with a low score;
* blobs of a stuff region painted with a similar stuff class (wall read as
  cabinet, ...), with low confidence;
* boundaries shifted by a smooth 1-2 px displacement, plus segments that
  bleed a pixel into their neighbours;
* thin void bands along some segment boundaries;
* confidence equal to the segment score, lowered near segment boundaries.
"""

from __future__ import annotations

import json
import math
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import (
    VOID_ID,
    Category,
    ClassTable,
    PanopticFrame,
    SegmentInfo,
    write_classes,
    write_confidence,
    write_panoptic,
)


@dataclass
class DemoSceneConfig:
    """What to generate. The same config always gives bit-identical files."""

    seed: int = 0
    width: int = 160
    height: int = 120
    frames: int = 48
    eval_every: int = 8
    """Every eval_every-th frame (indices 0, eval_every, ...) is held out for val/test."""
    noise: float = 1.0
    """Scales every machine-mask defect; 0 gives masks equal to ground truth up to per-frame ids."""


@dataclass
class DemoSceneSummary:
    """What was written, for a results table."""

    path: Path
    width: int
    height: int
    frames: int
    train_frames: int
    eval_frames: int
    classes: int
    stuff_classes: int
    thing_classes: int
    thing_instances: int
    segments_per_frame: float
    """Mean number of machine-mask segments per frame."""
    missed_segments: int
    """Thing instances (per frame) the simulated network dropped."""
    merged_segments: int
    """Times two touching instances became one machine segment."""
    confused_segments: int
    """Thing segments given a wrong class."""
    stuff_patches: int
    """Stuff regions partly painted with a wrong stuff class."""
    mask_void_fraction: float
    """Fraction of machine-mask pixels that are void."""
    mask_class_accuracy: float
    """Fraction of pixels whose machine class equals the true class (void counts as wrong)."""


# ----------------------------------------------------------------------------- classes

WALL, FLOOR, CABINET, CHAIR, SOFA, TABLE, LAMP, BIN, CEILING = 1, 2, 3, 5, 6, 7, 11, 14, 22

CLASSES = ClassTable(
    [
        Category(WALL, "wall", False, (174, 199, 232)),
        Category(FLOOR, "floor", False, (152, 223, 138)),
        Category(CABINET, "cabinet", False, (31, 119, 180)),
        Category(CHAIR, "chair", True, (188, 189, 34)),
        Category(SOFA, "sofa", True, (140, 86, 75)),
        Category(TABLE, "table", False, (255, 152, 150)),
        Category(LAMP, "lamp", True, (214, 39, 40)),
        Category(BIN, "bin", True, (148, 103, 189)),
        Category(CEILING, "ceiling", False, (197, 176, 213)),
    ]
)
"""The label set. Ids are deliberately sparse to exercise the dense-index mapping."""

SIMILAR_CLASS = {CHAIR: SOFA, SOFA: CHAIR, LAMP: BIN, BIN: LAMP}
"""The wrong class a confused thing segment gets: the one a network mixes it up with."""

SIMILAR_STUFF = {WALL: CABINET, CABINET: WALL, TABLE: CABINET, CEILING: WALL}
"""Stuff a network paints over parts of another stuff region (the floor is left reliable)."""

STUFF_GT_ID_STRIDE = 1000
"""Ground-truth ids are category_id * 1000 (+ instance number for things), readable by eye."""


# ----------------------------------------------------------------------------- geometry

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
class Material:
    """Procedural surface appearance; the pattern is a function of the 3D hit point, so it is multi-view consistent."""

    base: Tuple[float, float, float]
    pattern: str = "none"
    """none | checker | stripes_v | stripes_h | planks | grid"""
    scale: float = 0.2
    contrast: float = 0.3
    noise: float = 0.35
    offset: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Shifts the pattern so that instances of one class do not look identical."""


@dataclass(frozen=True)
class SceneObject:
    """One labelled physical entity: a thing instance, or (part of) a stuff class."""

    category_id: int
    gt_id: int
    primitives: Tuple[Primitive, ...]
    material: Material

    @property
    def isthing(self) -> bool:
        return CLASSES.by_id(self.category_id).isthing

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        lows, highs = zip(*(p.bounds() for p in self.primitives))
        return np.min(lows, axis=0), np.max(highs, axis=0)


ROOM_HALF = 3.0
ROOM_HEIGHT = 3.0


# ----------------------------------------------------------------------------- layout


def _box_at(x: float, y: float, z0: float, sx: float, sy: float, sz: float) -> Box:
    """Box by footprint centre, bottom height and size: reads like a floor plan."""
    return Box((x - sx / 2, y - sy / 2, z0), (x + sx / 2, y + sy / 2, z0 + sz))


def _room() -> List[Tuple[int, Tuple[Primitive, ...]]]:
    h, top = ROOM_HALF, ROOM_HEIGHT
    walls = (
        Rect(0, -h, (-h, -h, 0), (h, h, top), 1.0),
        Rect(0, h, (-h, -h, 0), (h, h, top), -1.0),
        Rect(1, -h, (-h, -h, 0), (h, h, top), 1.0),
        Rect(1, h, (-h, -h, 0), (h, h, top), -1.0),
    )
    floor = (Rect(2, 0.0, (-h, -h, 0), (h, h, 0), 1.0),)
    ceiling = (Rect(2, top, (-h, -h, top), (h, h, top), -1.0),)
    return [(WALL, walls), (FLOOR, floor), (CEILING, ceiling)]


def _table(x: float, y: float, sx: float, sy: float, height: float) -> Tuple[Primitive, ...]:
    leg, top = 0.06, 0.05
    legs = tuple(
        _box_at(x + fx * (sx / 2 - leg), y + fy * (sy / 2 - leg), 0.0, leg, leg, height - top)
        for fx in (-1, 1)
        for fy in (-1, 1)
    )
    return (_box_at(x, y, height - top, sx, sy, top),) + legs


def _chair(x: float, y: float, facing: Tuple[int, int]) -> Tuple[Primitive, ...]:
    """A chair whose seat faces ``facing`` (a unit axis vector); the backrest is on the other side."""
    size, seat_z, seat_t, leg = 0.45, 0.45, 0.06, 0.045
    fx, fy = facing
    legs = tuple(
        _box_at(x + sx * (size / 2 - leg), y + sy * (size / 2 - leg), 0.0, leg, leg, seat_z)
        for sx in (-1, 1)
        for sy in (-1, 1)
    )
    seat = _box_at(x, y, seat_z, size, size, seat_t)
    back_x, back_y = x - fx * (size / 2 - 0.03), y - fy * (size / 2 - 0.03)
    back = _box_at(back_x, back_y, seat_z + seat_t, 0.06 if fx else size, 0.06 if fy else size, 0.45)
    return (seat, back) + legs


def _sofa(x: float, y: float, length: float) -> Tuple[Primitive, ...]:
    """A sofa module along y with its back against -x."""
    depth = 0.75
    base = _box_at(x, y, 0.05, depth, length, 0.4)
    back = _box_at(x - depth / 2 + 0.1, y, 0.45, 0.2, length, 0.4)
    arms = tuple(_box_at(x, y + s * (length / 2 - 0.08), 0.45, depth, 0.16, 0.2) for s in (-1, 1))
    return (base, back) + arms


def _table_lamp(x: float, y: float, z0: float) -> Tuple[Primitive, ...]:
    base = Cylinder(x, y, 0.07, z0, z0 + 0.03)
    stem = Cylinder(x, y, 0.025, z0, z0 + 0.3)
    shade = Cylinder(x, y, 0.13, z0 + 0.22, z0 + 0.42)
    return (base, stem, shade)


def _floor_lamp(x: float, y: float) -> Tuple[Primitive, ...]:
    return (Cylinder(x, y, 0.16, 0.0, 0.04), Cylinder(x, y, 0.03, 0.0, 1.45), Sphere((x, y, 1.55), 0.2))


def _layout() -> List[Tuple[int, Tuple[Primitive, ...]]]:
    """Every object as (category, primitives), in a fixed order that defines the instance numbers.

    All furniture lies within 1.6 m of the room's vertical axis, so that the camera
    orbit (2.1-2.3 m) keeps at least half a metre from it.
    """
    table_h = 0.76
    return _room() + [
        (CABINET, (_box_at(0.8, -0.9, 0.0, 0.6, 0.4, 0.85),)),  # sideboard
        (CABINET, (_box_at(1.0, 0.75, 0.0, 0.4, 0.4, 1.5),)),  # tall shelf
        (TABLE, _table(0.15, 0.0, 1.0, 0.7, table_h)),
        (CHAIR, _chair(-0.1, 0.63, (0, -1))),  # side-by-side pair
        (CHAIR, _chair(0.4, 0.63, (0, -1))),
        (CHAIR, _chair(0.15, -0.63, (0, 1))),
        (CHAIR, _chair(0.95, 0.0, (-1, 0))),
        (SOFA, _sofa(-0.925, -0.45, 0.8)),  # two modules, 5 cm apart
        (SOFA, _sofa(-0.925, 0.4, 0.8)),
        (LAMP, _table_lamp(0.95, -0.9, 0.85)),  # on the sideboard
        (LAMP, _table_lamp(0.45, -0.15, table_h)),  # on the table
        (LAMP, _floor_lamp(-0.9, 1.05)),
        (BIN, (Cylinder(-0.43, -1.07, 0.14, 0.0, 0.4),)),  # touching pair
        (BIN, (Cylinder(-0.14, -1.07, 0.14, 0.0, 0.4),)),
    ]


_MATERIALS: Dict[int, Material] = {
    WALL: Material((0.80, 0.75, 0.66), "stripes_v", 0.16, 0.22, 0.35),
    FLOOR: Material((0.56, 0.39, 0.23), "planks", 0.18, 0.45, 0.35),
    CEILING: Material((0.86, 0.86, 0.82), "grid", 0.6, 0.35, 0.3),
    CABINET: Material((0.42, 0.28, 0.18), "stripes_h", 0.18, 0.35, 0.35),
    TABLE: Material((0.68, 0.52, 0.34), "planks", 0.1, 0.25, 0.4),
    CHAIR: Material((0.24, 0.40, 0.62), "checker", 0.07, 0.35, 0.3),
    SOFA: Material((0.62, 0.24, 0.22), "checker", 0.12, 0.25, 0.45),
    LAMP: Material((0.92, 0.84, 0.52), "stripes_h", 0.05, 0.3, 0.3),
    BIN: Material((0.30, 0.56, 0.36), "stripes_v", 0.04, 0.4, 0.3),
}


def _instance_material(category_id: int, rng: np.random.Generator) -> Material:
    """The class material with a per-instance tint and pattern offset."""
    base = _MATERIALS[category_id]
    tint = np.clip(np.array(base.base) * (1 + rng.uniform(-0.15, 0.15, size=3)), 0.05, 0.95)
    offset = rng.uniform(0.0, 1.0, size=3)
    return replace(base, base=tuple(float(v) for v in tint), offset=tuple(float(v) for v in offset))


def build_scene(seed: int) -> List[SceneObject]:
    """The scene's objects with ground-truth ids. Geometry is fixed; colours vary with the seed."""
    rng = np.random.default_rng([seed, 1])
    objects: List[SceneObject] = []
    counts: Dict[int, int] = {}
    for category_id, primitives in _layout():
        isthing = CLASSES.by_id(category_id).isthing
        counts[category_id] = counts.get(category_id, 0) + 1
        gt_id = category_id * STUFF_GT_ID_STRIDE + (counts[category_id] if isthing else 0)
        objects.append(SceneObject(category_id, gt_id, primitives, _instance_material(category_id, rng)))
    return objects


# ----------------------------------------------------------------------------- cameras


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int


HORIZONTAL_FOV_DEG = 65.0
ORBIT_RADIUS = 2.2
"""Mean camera distance from the room's vertical axis; the radius varies by at most 0.1 m around it."""


def _intrinsics(width: int, height: int) -> Intrinsics:
    focal = (width / 2) / math.tan(math.radians(HORIZONTAL_FOV_DEG) / 2)
    return Intrinsics(focal, focal, width / 2, height / 2, width, height)


def _look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world in nerfstudio's OpenGL convention: the camera looks down its -Z, +Y is up."""
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, -forward, position
    return c2w


def camera_poses(frames: int, seed: int) -> List[np.ndarray]:
    """One orbit around the furniture with jittered radius, height and target.

    Azimuth increases monotonically (jitter below half a step), so every held-out
    view lies between two training views; heights and targets vary so that the
    floor, the furniture tops and sometimes the ceiling are all seen.
    """
    rng = np.random.default_rng([seed, 2])
    step = 2 * math.pi / frames
    phase = rng.uniform(0, 2 * math.pi)
    poses = []
    for k in range(frames):
        azimuth = phase + k * step + rng.uniform(-0.3, 0.3) * step
        radius = ORBIT_RADIUS + 0.05 * math.sin(2 * azimuth) + rng.uniform(-0.05, 0.05)
        height = 1.35 + 0.38 * math.sin(3 * azimuth + 1.0) + rng.uniform(-0.07, 0.07)
        position = np.array([radius * math.cos(azimuth), radius * math.sin(azimuth), height])
        target_z = 0.95 + 0.45 * math.sin(5 * azimuth) + rng.uniform(-0.1, 0.1)
        target = np.array([*rng.uniform(-0.3, 0.3, size=2), target_z])
        poses.append(_look_at(position, target))
    return poses


def _ray_directions(c2w: np.ndarray, intr: Intrinsics, offset: Tuple[float, float]) -> np.ndarray:
    """Unit world directions [3, H*W] through (column + offset[0], row + offset[1]) of every pixel, row-major."""
    rows, cols = np.mgrid[0 : intr.height, 0 : intr.width].astype(np.float64)
    x = ((cols + offset[0] - intr.cx) / intr.fx).ravel()
    y = (-(rows + offset[1] - intr.cy) / intr.fy).ravel()
    rot = c2w[:3, :3]
    d = np.stack([rot[i, 0] * x + rot[i, 1] * y - rot[i, 2] for i in range(3)])
    return d / np.sqrt((d**2).sum(axis=0))


# ----------------------------------------------------------------------------- rendering


@dataclass
class _Hits:
    t: np.ndarray
    obj: np.ndarray
    """Index into the object list, -1 where nothing was hit."""
    part: np.ndarray
    """Index of the primitive within its object."""
    point: np.ndarray
    """[3, N]"""


@dataclass(frozen=True)
class _RayGrid:
    """Rays of one pinhole camera: one H x W image of rays per subpixel offset, stacked."""

    c2w: np.ndarray
    intr: Intrinsics
    sets: int
    directions: np.ndarray
    """[3, sets * H * W] unit directions; all rays start at the camera centre."""

    @classmethod
    def through(cls, c2w: np.ndarray, intr: Intrinsics, offsets: Sequence[Tuple[float, float]]) -> _RayGrid:
        directions = np.concatenate([_ray_directions(c2w, intr, offset) for offset in offsets], axis=1)
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


def trace(objects: Sequence[SceneObject], grid: _RayGrid) -> _Hits:
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
    return _Hits(best_t, best_obj, best_part, point)


def _unit(v: Sequence[float]) -> np.ndarray:
    return np.array(v) / np.linalg.norm(v)


_LIGHTS = ((_unit([0.35, -0.45, 0.82]), 0.5), (_unit([-0.6, 0.5, 0.35]), 0.22), (_unit([0.2, 0.3, -1.0]), 0.25))
"""(direction towards the light, strength): a key light, a fill, and a bounce from the floor for the ceiling."""
_AMBIENT = 0.36


def _hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Pseudo-random value in [0, 1) per integer lattice point."""
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791)
    return table[h & (len(table) - 1)]


def _value_noise(p: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Smooth 3D value noise with unit lattice spacing at points [3, N]."""
    cell = np.floor(p)
    f = p - cell
    f = f * f * (3 - 2 * f)
    i = cell.astype(np.int64)
    out = np.zeros(p.shape[1])
    for dx in (0, 1):
        wx = f[0] if dx else 1 - f[0]
        for dy in (0, 1):
            wxy = wx * (f[1] if dy else 1 - f[1])
            for dz in (0, 1):
                wz = f[2] if dz else 1 - f[2]
                out += wxy * wz * _hash01(i[0] + dx, i[1] + dy, i[2] + dz, table)
    return out


_NOISE_OCTAVES = ((0.55, 0.45), (0.18, 0.35), (0.06, 0.2))
"""(lattice spacing in metres, weight): coarse blotches down to near-pixel grain."""


def _parity(v: np.ndarray) -> np.ndarray:
    return (np.floor(v).astype(np.int64) % 2).astype(np.float64)


def _pattern(material: Material, p: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Pattern value in [0, 1] at world points [3, N]."""
    s = material.scale
    q = p + np.array(material.offset)[:, None]
    if material.pattern == "checker":
        return _parity(np.floor(q[0] / s) + np.floor(q[1] / s) + np.floor(q[2] / s))
    if material.pattern == "stripes_v":
        return _parity((q[0] + q[1]) / s)
    if material.pattern == "stripes_h":
        return _parity(q[2] / s)
    if material.pattern == "planks":
        plank = np.floor(q[1] / s).astype(np.int64)
        joint = np.floor(q[0] / (6 * s) + 0.37 * plank).astype(np.int64)
        return _hash01(plank, joint, np.zeros_like(plank), table)
    if material.pattern == "grid":
        frac = np.minimum(np.abs(q[0] / s - np.round(q[0] / s)), np.abs(q[1] / s - np.round(q[1] / s)))
        return 1.0 - (frac < 0.04)
    return np.full(p.shape[1], 0.5)


def _albedo(material: Material, p: np.ndarray, table: np.ndarray) -> np.ndarray:
    """[3, N] surface colour: base colour modulated by the pattern and by value noise."""
    noise_at = p + np.array(material.offset)[:, None] * 7.0
    noise = sum(w * _value_noise(noise_at / s, table) for s, w in _NOISE_OCTAVES)
    pattern = _pattern(material, p, table)
    m = material
    gain = (1 - m.contrast / 2 + m.contrast * pattern) * (1 - m.noise / 2 + m.noise * noise)
    return np.array(m.base)[:, None] * gain


def _shade(objects: Sequence[SceneObject], hits: _Hits, table: np.ndarray) -> np.ndarray:
    """[3, N] colour in [0, 1]: textured albedo times view-independent Lambertian light."""
    color = np.zeros((3, len(hits.t)))
    normal = np.zeros((3, len(hits.t)))
    for index, obj in enumerate(objects):
        sel = np.flatnonzero(hits.obj == index)
        if sel.size == 0:
            continue
        point = hits.point[:, sel]
        color[:, sel] = _albedo(obj.material, point, table)
        for part, prim in enumerate(obj.primitives):
            on_part = hits.part[sel] == part
            normal[:, sel[on_part]] = prim.normal_at(point[:, on_part])
    light = np.full(len(hits.t), _AMBIENT)
    for direction, strength in _LIGHTS:
        cosine = direction[0] * normal[0] + direction[1] * normal[1] + direction[2] * normal[2]
        light += strength * np.clip(cosine, 0.0, None)
    return np.clip(color * light, 0.0, 1.0)


_SUBPIXELS = ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))


def render_frame(
    objects: Sequence[SceneObject], c2w: np.ndarray, intr: Intrinsics, table: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB image, [H, W] object index per pixel centre).

    Colour averages 2 x 2 subpixel rays against texture aliasing; labels use the
    single ray through the pixel centre, the one nerfstudio casts for the pixel.
    """
    shape, pixels = (intr.height, intr.width), intr.height * intr.width
    hits = trace(objects, _RayGrid.through(c2w, intr, _SUBPIXELS + ((0.5, 0.5),)))
    sub = len(_SUBPIXELS) * pixels
    color = _shade(objects, _Hits(hits.t[:sub], hits.obj[:sub], hits.part[:sub], hits.point[:, :sub]), table)
    color = color.reshape(3, len(_SUBPIXELS), pixels).mean(axis=1)
    rgb = np.round(255 * color).astype(np.uint8).T.reshape(*shape, 3)
    return rgb, hits.obj[sub:].reshape(shape)


# ----------------------------------------------------------------------------- mask helpers


def _shift(a: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """``a`` moved by (dy, dx): out[y, x] = a[y - dy, x - dx], ``fill`` where that falls outside."""
    out = np.full_like(a, fill)
    h, w = a.shape
    target = (slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0)))
    out[target] = a[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    return out


_NEIGHBOURS4 = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    for _ in range(radius):
        grown = mask.copy()
        for dy, dx in _NEIGHBOURS4:
            grown |= _shift(mask, dy, dx, False)
        mask = grown
    return mask


def boundary_mask(labels: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another label (void included); the image border is not a boundary."""
    edge = np.zeros(labels.shape, dtype=bool)
    for dy, dx in _NEIGHBOURS4:
        neighbour = _shift(labels, dy, dx, -1)
        edge |= (neighbour != labels) & (neighbour != -1)
    return edge


def boundary_distance(labels: np.ndarray, cap: int = 8) -> np.ndarray:
    """City-block distance to the nearest boundary pixel, 1 on the boundary, ``cap`` at most."""
    current = boundary_mask(labels)
    dist = np.where(current, 1, cap)
    for k in range(2, cap):
        current = _dilate(current, 1)
        dist[current & (dist == cap)] = k
    return dist


def _smooth_field(rng: np.random.Generator, shape: Tuple[int, int], cell: int) -> np.ndarray:
    """Unit-variance-ish random field varying over ``cell`` pixels, bilinearly interpolated."""
    h, w = shape
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.standard_normal((gh, gw))
    ys, xs = np.arange(h) / cell, np.arange(w) / cell
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    g00, g01 = grid[np.ix_(y0, x0)], grid[np.ix_(y0, x0 + 1)]
    g10, g11 = grid[np.ix_(y0 + 1, x0)], grid[np.ix_(y0 + 1, x0 + 1)]
    return (g00 * (1 - fx) + g01 * fx) * (1 - fy) + (g10 * (1 - fx) + g11 * fx) * fy


def _fresh_ids(rng: np.random.Generator, count: int) -> List[int]:
    """Distinct random segment ids in 1..2^24-1, as a per-frame network would emit."""
    ids: List[int] = []
    seen = set()
    while len(ids) < count:
        candidate = int(rng.integers(1, 256**3))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return ids


# ----------------------------------------------------------------------------- machine masks

# Defect rates at noise = 1. Each is multiplied by DemoSceneConfig.noise.
SMALL_AREA_FRACTION = 0.012
"""Thing segments below this fraction of the image may be missed, the smaller the likelier."""
MISS_RATE = 0.7
MERGE_RATE = 0.2
CONFUSION_RATE = 0.12
STUFF_PATCH_RATE = 0.4
BOUNDARY_SHIFT_PX = 0.9
BLEED_RATE = 0.2
VOID_BAND_RATE = 0.15
BOUNDARY_CONFIDENCE_DROP = 0.55


@dataclass
class _Segment:
    category_id: int
    isthing: bool
    score: float = 1.0


@dataclass
class _MaskStats:
    missed: int = 0
    merged: int = 0
    confused: int = 0
    stuff_patches: int = 0

    def __add__(self, other: _MaskStats) -> _MaskStats:
        return _MaskStats(*(a + b for a, b in zip(astuple(self), astuple(other))))


@dataclass
class _Simulation:
    """A frame's machine mask while the defects are applied; labels are keys into ``segments``."""

    labels: np.ndarray
    segments: Dict[int, _Segment]
    rng: np.random.Generator
    noise: float
    doubt: np.ndarray
    """[H, W] confidence multiplier, below 1 where the network painted a region with a wrong class."""
    stats: _MaskStats = field(default_factory=_MaskStats)

    def chance(self, rate: float) -> bool:
        """A defect with probability ``rate * noise``."""
        return bool(self.rng.random() < rate * self.noise)

    def present(self) -> List[int]:
        return [int(k) for k in np.unique(self.labels) if k != VOID_ID]


def _miss_small(sim: _Simulation) -> None:
    """Drop small thing segments, to void or into the stuff around them."""
    keys, counts = np.unique(sim.labels, return_counts=True)
    small = SMALL_AREA_FRACTION * sim.labels.size
    for key, area in zip(keys.tolist(), counts.tolist()):
        if key == VOID_ID or not sim.segments[key].isthing or area >= small:
            continue
        if not sim.chance(MISS_RATE * (1 - area / small)):
            continue
        sim.stats.missed += 1
        mask = sim.labels == key
        ring = sim.labels[_dilate(mask, 2) & ~mask]
        stuff = np.array([k for k in ring.tolist() if k != VOID_ID and not sim.segments[k].isthing], dtype=np.int64)
        to_void = sim.rng.random() < 0.5 or stuff.size == 0
        if to_void:
            sim.labels[mask] = VOID_ID
        else:
            values, votes = np.unique(stuff, return_counts=True)
            sim.labels[mask] = values[votes.argmax()]


def _merge_neighbours(sim: _Simulation) -> None:
    """Touching instances of one class become one segment."""
    things = [k for k in sim.present() if sim.segments[k].isthing]
    for i, a in enumerate(things):
        for b in things[i + 1 :]:
            if sim.segments[a].category_id != sim.segments[b].category_id:
                continue
            mask_a, mask_b = sim.labels == a, sim.labels == b
            if not mask_a.any() or not mask_b.any() or not (_dilate(mask_a, 2) & mask_b).any():
                continue
            if sim.chance(MERGE_RATE):
                sim.labels[mask_b] = a
                sim.stats.merged += 1


def _stuff_patches(sim: _Simulation) -> None:
    """Blobs of some stuff regions get a similar stuff class (wall read as cabinet, table as cabinet, ...).

    The blob joins that class's segment in the frame, so each stuff class keeps a single segment.
    """
    h, w = sim.labels.shape
    for key in sim.present():
        seg = sim.segments[key]
        if seg.isthing or seg.category_id not in SIMILAR_STUFF or not sim.chance(STUFF_PATCH_RATE):
            continue
        region = sim.labels == key
        blob = _smooth_field(sim.rng, (h, w), max(4, min(h, w) // 4))
        fraction = sim.rng.uniform(0.15, 0.45)
        blob = region & (blob >= np.quantile(blob[region], 1 - fraction))
        target = SIMILAR_STUFF[seg.category_id]
        target_key = target * STUFF_GT_ID_STRIDE
        sim.segments.setdefault(target_key, _Segment(target, False))
        sim.labels[blob] = target_key
        sim.doubt[blob] *= sim.rng.uniform(0.45, 0.75)
        sim.stats.stuff_patches += 1


def _score_and_confuse(sim: _Simulation) -> None:
    """Scores near 1 for good segments; a few thing segments get a similar wrong class and a low score."""
    for key in sim.present():
        seg = sim.segments[key]
        if seg.isthing and sim.chance(CONFUSION_RATE):
            sim.segments[key] = _Segment(SIMILAR_CLASS[seg.category_id], True, float(sim.rng.uniform(0.3, 0.55)))
            sim.stats.confused += 1
            continue
        drop = sim.rng.uniform(0.02, 0.25) if seg.isthing else sim.rng.uniform(0.01, 0.1)
        sim.segments[key] = _Segment(seg.category_id, seg.isthing, float(np.clip(1 - sim.noise * drop, 0.05, 1.0)))


def _warp_boundaries(sim: _Simulation) -> None:
    """Move every boundary by a smooth random displacement of about a pixel or two."""
    h, w = sim.labels.shape
    cell = max(4, min(h, w) // 10)
    dy = _smooth_field(sim.rng, (h, w), cell) * BOUNDARY_SHIFT_PX * sim.noise
    dx = _smooth_field(sim.rng, (h, w), cell) * BOUNDARY_SHIFT_PX * sim.noise
    rows = np.clip(np.round(np.arange(h)[:, None] + dy), 0, h - 1).astype(np.int64)
    cols = np.clip(np.round(np.arange(w)[None, :] + dx), 0, w - 1).astype(np.int64)
    sim.labels, sim.doubt = sim.labels[rows, cols], sim.doubt[rows, cols]


def _bleed(sim: _Simulation) -> None:
    """Some segments spill one pixel into their labelled neighbours."""
    for key in sim.present():
        if sim.chance(BLEED_RATE):
            mask = sim.labels == key
            sim.labels[_dilate(mask, 1) & (sim.labels != VOID_ID)] = key


def _void_bands(sim: _Simulation) -> None:
    """Some segments lose their outermost pixel ring to void, as uncertain networks leave it unlabelled."""
    edge = boundary_mask(sim.labels)
    for key in sim.present():
        if sim.chance(VOID_BAND_RATE):
            sim.labels[edge & (sim.labels == key)] = VOID_ID


def _confidence(sim: _Simulation) -> np.ndarray:
    """Segment score, lowered towards segment boundaries and in wrongly painted blobs; 0 on void."""
    score = np.zeros(sim.labels.shape)
    for key in sim.present():
        score[sim.labels == key] = sim.segments[key].score
    dist = boundary_distance(sim.labels).astype(np.float64)
    factor = 1 - sim.noise * BOUNDARY_CONFIDENCE_DROP * np.exp(-(dist - 1) / 1.2)
    jitter = 1 - sim.noise * 0.04 * sim.rng.random(sim.labels.shape)
    conf = np.clip(score * sim.doubt * factor * jitter, 0.0, 1.0)
    conf[sim.labels == VOID_ID] = 0.0
    return conf


_DEFECTS = (_miss_small, _merge_neighbours, _stuff_patches, _score_and_confuse, _warp_boundaries, _bleed, _void_bands)
"""In order: decisions on whole segments first, then pixel-level boundary damage."""


def simulate_machine_mask(
    gt_ids: np.ndarray, gt_segments: Dict[int, SegmentInfo], rng: np.random.Generator, noise: float
) -> Tuple[PanopticFrame, np.ndarray, _MaskStats]:
    """A 2D network's panoptic output for one frame: (mask with fresh ids, confidence, defect counts)."""
    segments = {k: _Segment(s.category_id, s.isthing) for k, s in sorted(gt_segments.items())}
    sim = _Simulation(gt_ids.copy(), segments, rng, noise, doubt=np.ones(gt_ids.shape))
    for step in _DEFECTS:
        step(sim)
    confidence = _confidence(sim)
    keys = sim.present()
    new_ids = _fresh_ids(rng, len(keys))
    lut = dict(zip(keys, new_ids))
    ids = np.zeros_like(sim.labels)
    for key, new in lut.items():
        ids[sim.labels == key] = new
    infos = sorted((SegmentInfo(lut[k], *astuple(sim.segments[k])) for k in keys), key=lambda s: s.id)
    return PanopticFrame(ids=ids, segments=infos), confidence, sim.stats


# ----------------------------------------------------------------------------- writing


def _ground_truth(objects: Sequence[SceneObject], object_index: np.ndarray) -> PanopticFrame:
    lut = np.array([obj.gt_id for obj in objects] + [VOID_ID], dtype=np.int64)
    ids = lut[object_index]  # index -1 (no hit) picks the trailing void
    by_id = {obj.gt_id: obj for obj in objects}
    present = [by_id[int(k)] for k in np.unique(ids) if k != VOID_ID]
    return PanopticFrame(ids=ids, segments=[SegmentInfo(o.gt_id, o.category_id, o.isthing, 1.0) for o in present])


def _check(config: DemoSceneConfig) -> None:
    if config.width < 8 or config.height < 8:
        raise ValueError(f"image size {config.width}x{config.height} is too small; use at least 8x8")
    if config.frames < 2:
        raise ValueError(f"frames={config.frames}: need at least 2 (one training, one held out)")
    if config.eval_every < 2:
        raise ValueError(f"eval_every={config.eval_every}: need at least 2 so that some frames are for training")
    if not (math.isfinite(config.noise) and config.noise >= 0):
        raise ValueError(f"noise={config.noise}: must be a finite number >= 0")


_LAYER_DIRS = ("images", "panoptic", "confidence", "gt_panoptic")
_MARKER = "panoptic_demo_scene"
"""Key in transforms.json that marks a directory as written by this module, so rewriting it is safe."""


def _prepare(out: Path) -> None:
    """Refuse to write into someone else's data; clear the frames of an earlier demo scene."""
    if out.exists() and any(out.iterdir()):
        transforms = out / "transforms.json"
        try:
            ours = _MARKER in json.loads(transforms.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise FileExistsError(f"{out} exists and is not a demo scene; choose an empty or new directory")
        for folder in _LAYER_DIRS:
            for stale in sorted((out / folder).glob("frame_*")):
                stale.unlink()
    for folder in _LAYER_DIRS:
        (out / folder).mkdir(parents=True, exist_ok=True)


def _transforms(config: DemoSceneConfig, intr: Intrinsics, poses: Sequence[np.ndarray], names: List[str]) -> dict:
    held_out = [n for i, n in enumerate(names) if i % config.eval_every == 0]
    train = [n for i, n in enumerate(names) if i % config.eval_every != 0]
    return {
        "camera_model": "OPENCV",
        "fl_x": intr.fx,
        "fl_y": intr.fy,
        "cx": intr.cx,
        "cy": intr.cy,
        "w": intr.width,
        "h": intr.height,
        "k1": 0.0,
        "k2": 0.0,
        "p1": 0.0,
        "p2": 0.0,
        "frames": [
            {"file_path": name, "transform_matrix": [[round(float(v), 10) for v in row] for row in pose]}
            for name, pose in zip(names, poses)
        ],
        "train_filenames": train,
        "val_filenames": held_out,
        "test_filenames": held_out,
        _MARKER: {"seed": config.seed, "noise": config.noise, "eval_every": config.eval_every},
    }


@dataclass
class _Tally:
    """Running totals over the frames, for the summary."""

    defects: _MaskStats = field(default_factory=_MaskStats)
    segments: int = 0
    void: int = 0
    correct: int = 0

    def add(self, machine: PanopticFrame, gt: PanopticFrame, defects: _MaskStats) -> None:
        predicted = _category_map(machine)
        self.defects = self.defects + defects
        self.segments += len(machine.segments)
        self.void += int((machine.ids == VOID_ID).sum())
        self.correct += int(((predicted == _category_map(gt)) & (predicted >= 0)).sum())


def _category_map(frame: PanopticFrame) -> np.ndarray:
    """[H, W] category id per pixel, -1 on void."""
    keys = np.array([VOID_ID] + [s.id for s in frame.segments], dtype=np.int64)
    cats = np.array([-1] + [s.category_id for s in frame.segments], dtype=np.int64)
    order = np.argsort(keys)
    return cats[order][np.searchsorted(keys[order], frame.ids)]


def write_demo_scene(out: Path, config: DemoSceneConfig = DemoSceneConfig()) -> DemoSceneSummary:
    """Render the scene and write it in the panoptic scene format (shared/FORMAT.md)."""
    _check(config)
    out = Path(out)
    _prepare(out)
    objects = build_scene(config.seed)
    texture_table = np.random.default_rng([config.seed, 4]).random(4096)
    intr = _intrinsics(config.width, config.height)
    poses = camera_poses(config.frames, config.seed)
    names = [f"images/frame_{k:05d}.png" for k in range(config.frames)]
    # transforms.json first: it marks the directory as a demo scene even if writing stops half way.
    transforms = _transforms(config, intr, poses, names)
    (out / "transforms.json").write_text(json.dumps(transforms, indent=2) + "\n", encoding="utf-8")
    write_classes(out / "panoptic_classes.json", CLASSES)

    tally = _Tally()
    for k, (name, pose) in enumerate(zip(names, poses)):
        stem = Path(name).stem
        rgb, object_index = render_frame(objects, pose, intr, texture_table)
        Image.fromarray(rgb).save(out / name)
        gt = _ground_truth(objects, object_index)
        write_panoptic(out / "gt_panoptic" / f"{stem}.png", gt)
        rng = np.random.default_rng([config.seed, 3, k])  # per frame: a frame's mask does not depend on the others
        machine, confidence, defects = simulate_machine_mask(gt.ids, gt.segment_table(), rng, config.noise)
        write_panoptic(out / "panoptic" / f"{stem}.png", machine)
        write_confidence(out / "confidence" / f"{stem}.png", confidence)
        tally.add(machine, gt, defects)
    return _summary(out, config, transforms, objects, tally)


def _summary(
    out: Path, config: DemoSceneConfig, transforms: dict, objects: Sequence[SceneObject], tally: _Tally
) -> DemoSceneSummary:
    pixels = config.frames * config.width * config.height
    return DemoSceneSummary(
        path=out,
        width=config.width,
        height=config.height,
        frames=config.frames,
        train_frames=len(transforms["train_filenames"]),
        eval_frames=len(transforms["val_filenames"]),
        classes=len(CLASSES),
        stuff_classes=int((~CLASSES.thing_mask).sum()),
        thing_classes=int(CLASSES.thing_mask.sum()),
        thing_instances=sum(obj.isthing for obj in objects),
        segments_per_frame=round(tally.segments / config.frames, 2),
        missed_segments=tally.defects.missed,
        merged_segments=tally.defects.merged,
        confused_segments=tally.defects.confused,
        stuff_patches=tally.defects.stuff_patches,
        mask_void_fraction=round(tally.void / pixels, 4),
        mask_class_accuracy=round(tally.correct / pixels, 4),
    )
