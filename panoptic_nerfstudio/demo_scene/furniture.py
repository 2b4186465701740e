"""Furniture and room pieces as tuples of primitives, sized in metres like a floor plan.

Each builder returns the primitives of one physical object; a layout decides
which class and instance it becomes. Keeping the shapes here lets several
layouts share one chair or lamp while each arranges its own room.
"""

from __future__ import annotations

from typing import List, Tuple

from panoptic_nerfstudio.demo_scene.classes import CEILING, FLOOR, WALL
from panoptic_nerfstudio.demo_scene.geometry import Box, Cylinder, Primitive, Rect, Sphere

Part = Tuple[int, Tuple[Primitive, ...]]
"""(category id, primitives): one object of a layout, before it gets an instance id and a material."""


def box_at(x: float, y: float, z0: float, sx: float, sy: float, sz: float) -> Box:
    """Box by footprint centre, bottom height and size: reads like a floor plan."""
    return Box((x - sx / 2, y - sy / 2, z0), (x + sx / 2, y + sy / 2, z0 + sz))


def room(half: float, height: float) -> List[Part]:
    """Walls, floor and ceiling of a square room centred on the origin, seen from inside."""
    h, top = half, height
    walls = (
        Rect(0, -h, (-h, -h, 0), (h, h, top), 1.0),
        Rect(0, h, (-h, -h, 0), (h, h, top), -1.0),
        Rect(1, -h, (-h, -h, 0), (h, h, top), 1.0),
        Rect(1, h, (-h, -h, 0), (h, h, top), -1.0),
    )
    floor = (Rect(2, 0.0, (-h, -h, 0), (h, h, 0), 1.0),)
    ceiling = (Rect(2, top, (-h, -h, top), (h, h, top), -1.0),)
    return [(WALL, walls), (FLOOR, floor), (CEILING, ceiling)]


def table(x: float, y: float, sx: float, sy: float, height: float, leg: float = 0.06) -> Tuple[Primitive, ...]:
    """A table top on four square legs of side ``leg``, inset in the corners."""
    top = 0.05
    legs = tuple(
        box_at(x + fx * (sx / 2 - leg), y + fy * (sy / 2 - leg), 0.0, leg, leg, height - top)
        for fx in (-1, 1)
        for fy in (-1, 1)
    )
    return (box_at(x, y, height - top, sx, sy, top),) + legs


def chair(x: float, y: float, facing: Tuple[int, int], leg: float = 0.045) -> Tuple[Primitive, ...]:
    """A 45 cm chair whose seat faces ``facing`` (a unit axis vector); the backrest is on the other side."""
    size, seat_z, seat_t = 0.45, 0.45, 0.06
    fx, fy = facing
    legs = tuple(
        box_at(x + sx * (size / 2 - leg), y + sy * (size / 2 - leg), 0.0, leg, leg, seat_z)
        for sx in (-1, 1)
        for sy in (-1, 1)
    )
    seat = box_at(x, y, seat_z, size, size, seat_t)
    back_x, back_y = x - fx * (size / 2 - 0.03), y - fy * (size / 2 - 0.03)
    back = box_at(back_x, back_y, seat_z + seat_t, 0.06 if fx else size, 0.06 if fy else size, 0.45)
    return (seat, back) + legs


def sofa(x: float, y: float, length: float) -> Tuple[Primitive, ...]:
    """A sofa module along y with its back against -x."""
    depth = 0.75
    base = box_at(x, y, 0.05, depth, length, 0.4)
    back = box_at(x - depth / 2 + 0.1, y, 0.45, 0.2, length, 0.4)
    arms = tuple(box_at(x, y + s * (length / 2 - 0.08), 0.45, depth, 0.16, 0.2) for s in (-1, 1))
    return (base, back) + arms


def table_lamp(x: float, y: float, z0: float) -> Tuple[Primitive, ...]:
    """A small lamp standing at height ``z0``: base, stem and a drum shade."""
    base = Cylinder(x, y, 0.07, z0, z0 + 0.03)
    stem = Cylinder(x, y, 0.025, z0, z0 + 0.3)
    shade = Cylinder(x, y, 0.13, z0 + 0.22, z0 + 0.42)
    return (base, stem, shade)


def floor_lamp(x: float, y: float) -> Tuple[Primitive, ...]:
    """A 1.75 m standard lamp: a disc foot, a 6 cm stem and a globe."""
    return (Cylinder(x, y, 0.16, 0.0, 0.04), Cylinder(x, y, 0.03, 0.0, 1.45), Sphere((x, y, 1.55), 0.2))



def bin_at(x: float, y: float, radius: float = 0.14, height: float = 0.4) -> Tuple[Primitive, ...]:
    """A round waste bin standing on the floor."""
    return (Cylinder(x, y, radius, 0.0, height),)


def thin_floor_lamp(x: float, y: float, stem: float = 0.012) -> Tuple[Primitive, ...]:
    """A standard lamp on a stem only ``2 * stem`` thick: a few pixels wide from across the room."""
    return (Cylinder(x, y, 0.12, 0.0, 0.03), Cylinder(x, y, stem, 0.0, 1.45), Cylinder(x, y, 0.12, 1.4, 1.62))


def pole(x: float, y: float, height: float, radius: float = 0.025) -> Tuple[Primitive, ...]:
    """A floor-to-ceiling pole (room divider, support): one long thin cylinder."""
    return (Cylinder(x, y, radius, 0.0, height),)


def cupboard(x: float, y: float, width: float, depth: float, height: float, front: int) -> Tuple[Primitive, ...]:
    """A free-standing cupboard, ``width`` along x, with a door handle on its front (-y or +y: ``front``)."""
    body = box_at(x, y, 0.0, width, depth, height)
    handle_y = y + front * (depth / 2 + 0.01)
    handle = box_at(x + width / 2 - 0.07, handle_y, height * 0.45, 0.03, 0.02, 0.18)
    return (body, handle)


def baseboards(half: float, height: float = 0.09, thickness: float = 0.015) -> Tuple[Primitive, ...]:
    """Skirting boards along the four walls of a ``room(half, ...)``: thin stuff, a few pixels tall."""
    h, t = half, thickness
    return (
        Box((-h, -h, 0.0), (-h + t, h, height)),
        Box((h - t, -h, 0.0), (h, h, height)),
        Box((-h, -h, 0.0), (h, -h + t, height)),
        Box((-h, h - t, 0.0), (h, h, height)),
    )


def picture_frame(
    axis: int, plane: float, facing: float, along: float, z: float, size: Tuple[float, float], canvas: bool = True
) -> Tuple[Primitive, ...]:
    """A picture frame hung flat on a vertical plane ``x = plane`` (axis 0) or ``y = plane`` (axis 1).

    ``facing`` (+1 or -1) is the side of the plane it hangs on, ``along`` and ``z`` its centre on the
    plane and ``size`` its (width, height). Four 4 cm bars stand 2.5 cm proud; ``canvas`` fills the
    inside 1 cm proud, and without it the plane shows through the frame: a thin ring of a thing.
    """
    bar, depth = 0.04, 0.025
    width, height = size
    u0, u1, z0, z1 = along - width / 2, along + width / 2, z - height / 2, z + height / 2

    def slab(u_lo: float, u_hi: float, z_lo: float, z_hi: float, proud: float) -> Box:
        n_lo, n_hi = sorted((plane, plane + facing * proud))
        lo, hi = [0.0, 0.0, z_lo], [0.0, 0.0, z_hi]
        lo[axis], hi[axis] = n_lo, n_hi
        lo[1 - axis], hi[1 - axis] = u_lo, u_hi
        return Box((lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2]))

    bars = (
        slab(u0, u1, z1 - bar, z1, depth),
        slab(u0, u1, z0, z0 + bar, depth),
        slab(u0, u0 + bar, z0 + bar, z1 - bar, depth),
        slab(u1 - bar, u1, z0 + bar, z1 - bar, depth),
    )
    return bars + ((slab(u0 + bar, u1 - bar, z0 + bar, z1 - bar, 0.01),) if canvas else ())
