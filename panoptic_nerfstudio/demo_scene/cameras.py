"""Camera intrinsics and camera paths through the demo rooms, as nerfstudio camera-to-world poses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Literal, Optional, Sequence, Tuple

import numpy as np

from panoptic_nerfstudio.demo_scene.geometry import Intrinsics, Rect
from panoptic_nerfstudio.demo_scene.layouts import SceneObject

HORIZONTAL_FOV_DEG = 65.0
"""Wide enough that a view from the orbit takes in most of the furniture."""
ORBIT_RADIUS = 2.2
"""Mean camera distance from the room's vertical axis; the radius varies by at most 0.1 m around it."""


def intrinsics(width: int, height: int) -> Intrinsics:
    """Square pixels, principal point at the image centre; the field of view is fixed, size sets resolution."""
    focal = (width / 2) / math.tan(math.radians(HORIZONTAL_FOV_DEG) / 2)
    return Intrinsics(focal, focal, width / 2, height / 2, width, height)


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world in nerfstudio's OpenGL convention: the camera looks down its -Z, +Y is up."""
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, -forward, position
    return c2w


def _orbit_views(frames: int, seed: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(position, target) of every frame of the orbit; see :func:`orbit_poses`."""
    rng = np.random.default_rng([seed, 2])
    step = 2 * math.pi / frames
    phase = rng.uniform(0, 2 * math.pi)
    views = []
    for k in range(frames):
        azimuth = phase + k * step + rng.uniform(-0.3, 0.3) * step
        radius = ORBIT_RADIUS + 0.05 * math.sin(2 * azimuth) + rng.uniform(-0.05, 0.05)
        height = 1.35 + 0.38 * math.sin(3 * azimuth + 1.0) + rng.uniform(-0.07, 0.07)
        position = np.array([radius * math.cos(azimuth), radius * math.sin(azimuth), height])
        target_z = 0.95 + 0.45 * math.sin(5 * azimuth) + rng.uniform(-0.1, 0.1)
        target = np.array([*rng.uniform(-0.3, 0.3, size=2), target_z])
        views.append((position, target))
    return views


def orbit_poses(frames: int, seed: int) -> List[np.ndarray]:
    """One orbit around the furniture with jittered radius, height and target.

    Azimuth increases monotonically (jitter below half a step), so every held-out
    view lies between two training views; heights and targets vary so that the
    floor, the furniture tops and sometimes the ceiling are all seen.
    """
    return [look_at(position, target) for position, target in _orbit_views(frames, seed)]


# ----------------------------------------------------------------------------- tour

TOUR_PATTERN = ("orbit", "close-up", "orbit", "look-up", "orbit")
"""Frame k of a tour is of kind TOUR_PATTERN[k % 5]. Five is coprime with the usual eval_every of 8,
so the held-out frames (every eighth) mix orbit views, close-ups and views looking up."""

CLOSE_UP_STANDOFF = (0.45, 0.8)
"""Horizontal distance (m) from a close-up camera to its object's bounding box, before clearing obstacles."""
CLEARANCE = 0.12
"""No camera comes closer than this (m) to any object's primitive bounds: it would stand inside it."""
WALL_MARGIN = 0.3
"""Cameras keep this far (m) from the walls, floor and ceiling."""


@dataclass(frozen=True)
class _Room:
    """What a tour needs to know of a room to keep its cameras free."""

    half: float
    height: float
    obstacles: Tuple[Tuple[np.ndarray, np.ndarray], ...]
    """Bounds (lo, hi) of every primitive with a volume; the room's own faces are not obstacles."""
    subjects: Tuple[Tuple[np.ndarray, np.ndarray], ...]
    """Bounds of the thing instances, the objects close-ups are taken of."""

    def free(self, position: np.ndarray) -> bool:
        inside = abs(position[0]) <= self.half - WALL_MARGIN and abs(position[1]) <= self.half - WALL_MARGIN
        inside &= WALL_MARGIN <= position[2] <= self.height - WALL_MARGIN
        return bool(inside) and not any(
            np.all(position >= lo - CLEARANCE) and np.all(position <= hi + CLEARANCE) for lo, hi in self.obstacles
        )


def _close_up(room: _Room, base: np.ndarray, rng: np.random.Generator) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """A view of the thing nearest to the orbit position ``base``, from within about a metre of it.

    The camera steps back from the object, towards ``base``, until it is clear of
    everything; None if the way back is blocked (the frame then stays an orbit view).
    """
    standoff, lift, jitter = rng.uniform(*CLOSE_UP_STANDOFF), rng.uniform(-0.15, 0.35), rng.uniform(-0.05, 0.05, 3)
    gaps = [np.linalg.norm(base - np.clip(base, lo, hi)) for lo, hi in room.subjects]
    lo, hi = room.subjects[int(np.argmin(gaps))]
    centre = (lo + hi) / 2
    away = np.array([base[0] - centre[0], base[1] - centre[1], 0.0])
    norm = np.linalg.norm(away)
    away = away / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])
    half_size = (hi - lo) / 2
    reach = min(half_size[i] / abs(away[i]) for i in range(2) if abs(away[i]) > 1e-9)
    position = centre + away * (reach + standoff)
    position[2] = min(max(hi[2] + lift, WALL_MARGIN + 0.2), room.height - WALL_MARGIN - 0.05)
    for _ in range(25):
        if room.free(position):
            return position, centre + jitter
        position = position + 0.1 * away
    return None


def _looking_up(room: _Room, base: np.ndarray, rng: np.random.Generator) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """A low camera on the orbit's azimuth, pitched 15-30 degrees up: furniture tops below, the ceiling above."""
    shrink, low, pitch = rng.uniform(0.85, 1.0), rng.uniform(0.45, 0.8), math.radians(rng.uniform(15.0, 30.0))
    target_xy = rng.uniform(-0.3, 0.3, 2)
    position = np.array([base[0] * shrink, base[1] * shrink, low])
    outward = np.array([base[0], base[1], 0.0]) / max(math.hypot(base[0], base[1]), 1e-9)
    for _ in range(10):
        if room.free(position):
            distance = math.hypot(position[0] - target_xy[0], position[1] - target_xy[1])
            return position, np.array([*target_xy, low + distance * math.tan(pitch)])
        position = position + 0.05 * outward
    return None


def tour_poses(frames: int, seed: int, objects: Sequence[SceneObject], half: float, height: float) -> List[np.ndarray]:
    """The orbit of :func:`orbit_poses`, with some frames turned into close-ups and views looking up.

    Close-ups (within about a metre of a thing) show textures and thin parts at
    many pixels and break the constant-distance orbit a model may overfit to;
    views looking up show the ceiling and the upper room, which the orbit mostly
    looks down on.
    Each frame draws its own random numbers, so changing one kind of view never
    shifts the others.
    """
    obstacles = tuple(p.bounds() for obj in objects for p in obj.primitives if not isinstance(p, Rect))
    subjects = tuple(obj.bounds() for obj in objects if obj.isthing)
    room = _Room(half, height, obstacles, subjects)
    poses = []
    for k, (position, target) in enumerate(_orbit_views(frames, seed)):
        rng = np.random.default_rng([seed, 5, k])
        kind = TOUR_PATTERN[k % len(TOUR_PATTERN)]
        view = None
        if kind == "close-up" and subjects:
            view = _close_up(room, position, rng)
        elif kind == "look-up":
            view = _looking_up(room, position, rng)
        poses.append(look_at(*(view or (position, target))))
    return poses


CAMERA_PATHS = ("orbit", "tour")
"""Camera paths by name."""

CameraChoice = Literal["layout", "orbit", "tour"]
"""What ``--cameras`` accepts: a camera path, or ``layout`` for the layout's own."""
