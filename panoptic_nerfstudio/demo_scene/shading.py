"""Appearance: procedural 3D textures under view-independent Lambertian light, 2 x 2 supersampled.

Every surface carries a texture that is a function of the 3D hit point
(checker, stripes, planks, panel grid and value noise at several scales), so
it is consistent across views and a small NeRF can recover the geometry from a
few dozen low-resolution frames. Light does not depend on the view direction
either, so colour is a property of the surface point alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Dict, Sequence, Tuple

import numpy as np

from panoptic_nerfstudio.demo_scene.classes import (
    BASEBOARD,
    BIN,
    CABINET,
    CEILING,
    CHAIR,
    CUPBOARD,
    FLOOR,
    FRAME,
    LAMP,
    POLE,
    SOFA,
    TABLE,
    WALL,
)
from panoptic_nerfstudio.demo_scene.geometry import Hits, Intrinsics, RayGrid, trace

if TYPE_CHECKING:  # layouts imports this module; the object type is only needed for hints
    from panoptic_nerfstudio.demo_scene.layouts import SceneObject


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


CLASS_MATERIALS: Dict[int, Material] = {
    WALL: Material((0.80, 0.75, 0.66), "stripes_v", 0.16, 0.22, 0.35),
    FLOOR: Material((0.56, 0.39, 0.23), "planks", 0.18, 0.45, 0.35),
    CEILING: Material((0.86, 0.86, 0.82), "grid", 0.6, 0.35, 0.3),
    CABINET: Material((0.42, 0.28, 0.18), "stripes_h", 0.18, 0.35, 0.35),
    TABLE: Material((0.68, 0.52, 0.34), "planks", 0.1, 0.25, 0.4),
    CHAIR: Material((0.24, 0.40, 0.62), "checker", 0.07, 0.35, 0.3),
    SOFA: Material((0.62, 0.24, 0.22), "checker", 0.12, 0.25, 0.45),
    LAMP: Material((0.92, 0.84, 0.52), "stripes_h", 0.05, 0.3, 0.3),
    BIN: Material((0.30, 0.56, 0.36), "stripes_v", 0.04, 0.4, 0.3),
    BASEBOARD: Material((0.93, 0.92, 0.88), "none", 0.2, 0.2, 0.25),
    FRAME: Material((0.36, 0.22, 0.40), "checker", 0.05, 0.5, 0.4),
    POLE: Material((0.55, 0.58, 0.64), "stripes_h", 0.12, 0.35, 0.25),
    CUPBOARD: Material((0.58, 0.47, 0.30), "grid", 0.22, 0.35, 0.35),
}
"""Each class's look; instances vary it (see :func:`instance_material`)."""


def instance_material(category_id: int, rng: np.random.Generator) -> Material:
    """The class material with a per-instance tint and pattern offset."""
    base = CLASS_MATERIALS[category_id]
    tint = np.clip(np.array(base.base) * (1 + rng.uniform(-0.15, 0.15, size=3)), 0.05, 0.95)
    offset = rng.uniform(0.0, 1.0, size=3)
    return replace(base, base=tuple(float(v) for v in tint), offset=tuple(float(v) for v in offset))


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


def _shade(objects: Sequence[SceneObject], hits: Hits, table: np.ndarray) -> np.ndarray:
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
    hits = trace(objects, RayGrid.through(c2w, intr, _SUBPIXELS + ((0.5, 0.5),)))
    sub = len(_SUBPIXELS) * pixels
    color = _shade(objects, Hits(hits.t[:sub], hits.obj[:sub], hits.part[:sub], hits.point[:, :sub]), table)
    color = color.reshape(3, len(_SUBPIXELS), pixels).mean(axis=1)
    rgb = np.round(255 * color).astype(np.uint8).T.reshape(*shape, 3)
    return rgb, hits.obj[sub:].reshape(shape)
