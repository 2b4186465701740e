"""The demo rooms: which objects stand where, their classes, and how a camera moves through them.

A layout fixes the geometry and the label set; the seed only changes colours,
cameras and mask defects. Objects are listed in a fixed order, and that order
numbers the instances of each class in the ground truth.

``default``: a 6 x 6 x 3 m room whose furniture stays within 1.6 m of the
centre -- walls, floor, ceiling, two cabinets (a sideboard and a tall shelf)
and a table as stuff; four chairs (two side by side), two sofa modules close
together, three lamps and two touching bins as things. The method was tuned on
this room; the other layouts are scenes it was not tuned on.

``crowded``: touching instances of one class everywhere -- a row of four
chairs, three cupboards side by side, a 2 x 2 cluster of bins, two sofa
modules end to end -- the cases a 2D network merges and lifting must split.

``thin``: thin things and thin stuff -- floor-to-ceiling poles and lamp stands
a few pixels wide, a table and chairs on 2.5-3 cm legs, picture frames (some empty,
a ring around the wall), baseboards, and a 2.6 m ceiling that shows as a strip
at the top of many frames. Two frames 2.9 m apart hang on opposite faces of a
counter, one facing +x from x = 0.3 and the other -x from x = -0.3, with the
counter reaching at least 15 cm past their edges: a camera sees the first only
from x > 0 and the second only from x < 0, so no frame ever shows both. A model
that gives two never co-visible objects one id fails there.

``many``: 48 small things on a 7 x 7 grid, 38 cm apart, around a low table -- bins
and lamps standing on the floor in a chessboard pattern, more objects than the slot
head's default 32 slots (the contrastive instance head's scene). Filmed on the orbit.
``many60``: the same on an 8 x 8 grid, 32.5 cm apart, with four cells left for the table: 60 things.

``checks``: the three failures of lifting in one small room, for a regression test -- two cupboards
standing side by side and touching, a picture frame and a bin on the two faces of a long counter (never in
one view, so only geometry can tell them apart), and one floor-to-ceiling pole. Filmed on the orbit.

The ``crowded`` and ``thin`` layouts are filmed on the ``tour`` camera path, with close-ups
and views looking up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Literal, Tuple

import numpy as np

from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.demo_scene.classes import (
    BASEBOARD,
    BIN,
    CABINET,
    CHAIR,
    CLASSES,
    CUPBOARD,
    EXTENDED_CLASSES,
    FRAME,
    LAMP,
    POLE,
    SOFA,
    STUFF_GT_ID_STRIDE,
    TABLE,
)
from panoptic_nerfstudio.demo_scene.furniture import (
    Part,
    baseboards,
    bin_at,
    box_at,
    chair,
    cupboard,
    floor_lamp,
    picture_frame,
    pole,
    room,
    sofa,
    table,
    table_lamp,
    thin_floor_lamp,
)
from panoptic_nerfstudio.demo_scene.geometry import Cylinder, Primitive
from panoptic_nerfstudio.demo_scene.shading import Material, instance_material


@dataclass(frozen=True)
class SceneObject:
    """One labelled physical entity: a thing instance, or (part of) a stuff class."""

    category_id: int
    gt_id: int
    primitives: Tuple[Primitive, ...]
    material: Material
    isthing: bool

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        lows, highs = zip(*(p.bounds() for p in self.primitives))
        return np.min(lows, axis=0), np.max(highs, axis=0)


@dataclass(frozen=True)
class Layout:
    """A room: its label set, its objects and the camera path it is filmed with unless told otherwise."""

    name: str
    summary: str
    """What the room is for, in a few words; listed when an unknown layout is asked for."""
    classes: ClassTable
    parts: Callable[[], List[Part]]
    """Every object as (category, primitives), in the order that numbers the instances."""
    cameras: str
    """Camera path used by default: ``orbit`` or ``tour`` (see :mod:`panoptic_nerfstudio.demo_scene.cameras`)."""
    half: float = 3.0
    """Half the room's side: walls at x, y = +-half."""
    height: float = 3.0
    """Ceiling height."""


def _default_parts() -> List[Part]:
    """The room the method was tuned on.

    All furniture lies within 1.6 m of the room's vertical axis, so that the camera
    orbit (2.1-2.3 m) keeps at least half a metre from it.
    """
    table_h = 0.76
    return room(3.0, 3.0) + [
        (CABINET, (box_at(0.8, -0.9, 0.0, 0.6, 0.4, 0.85),)),  # sideboard
        (CABINET, (box_at(1.0, 0.75, 0.0, 0.4, 0.4, 1.5),)),  # tall shelf
        (TABLE, table(0.15, 0.0, 1.0, 0.7, table_h)),
        (CHAIR, chair(-0.1, 0.63, (0, -1))),  # side-by-side pair
        (CHAIR, chair(0.4, 0.63, (0, -1))),
        (CHAIR, chair(0.15, -0.63, (0, 1))),
        (CHAIR, chair(0.95, 0.0, (-1, 0))),
        (SOFA, sofa(-0.925, -0.45, 0.8)),  # two modules, 5 cm apart
        (SOFA, sofa(-0.925, 0.4, 0.8)),
        (LAMP, table_lamp(0.95, -0.9, 0.85)),  # on the sideboard
        (LAMP, table_lamp(0.45, -0.15, table_h)),  # on the table
        (LAMP, floor_lamp(-0.9, 1.05)),
        (BIN, (Cylinder(-0.43, -1.07, 0.14, 0.0, 0.4),)),  # touching pair
        (BIN, (Cylinder(-0.14, -1.07, 0.14, 0.0, 0.4),)),
    ]


def _crowded_parts() -> List[Part]:
    """Touching same-class instances.

    The cupboards stand against the north wall, behind the orbit, where only views
    across the room and close-ups see them; everything else keeps within 1.75 m of
    the axis, clear of the orbit.
    """
    table_h = 0.76
    chairs = [(CHAIR, chair(x, -0.35, (0, 1))) for x in (-0.425, 0.025, 0.475, 0.925)]  # seats edge to edge
    cupboards = [(CUPBOARD, cupboard(x, 2.78, 0.45, 0.4, 1.3, -1)) for x in (-0.45, 0.0, 0.45)]  # on the wall
    bins = [(BIN, bin_at(1.35 + dx, 0.35 + dy, 0.13)) for dy in (-0.13, 0.13) for dx in (-0.13, 0.13)]
    return (
        room(3.0, 3.0)
        + [
            (CABINET, (box_at(0.3, -1.3, 0.0, 1.2, 0.4, 0.8),)),  # sideboard behind the chairs
            (TABLE, table(0.25, 0.2, 1.3, 0.6, table_h)),
        ]
        + chairs
        + cupboards
        + bins
        + [
            (SOFA, sofa(-1.15, -0.45, 0.75)),  # two modules end to end
            (SOFA, sofa(-1.15, 0.3, 0.75)),
            (LAMP, floor_lamp(-1.0, 1.1)),
            (LAMP, table_lamp(0.6, -1.3, 0.8)),  # on the sideboard
        ]
    )


MANY_SPACING = 0.38
"""Distance between neighbouring objects of the ``many`` layout's grid."""
MANY60_SPACING = 0.325
"""The ``many60`` layout's: its 8 x 8 grid's corners lie about as far from the room's axis as ``many``'s."""


def _grid_of_things(side: int, spacing: float) -> List[Part]:
    """Small things (bins and floor-standing lamps, alternating) on a ``side`` x ``side`` grid around a low table,
    leaving out the cells within one spacing of the table (one cell for an odd side, four for an even one)."""
    things: List[Part] = []
    for i in range(side):
        for j in range(side):
            x, y = (i - (side - 1) / 2) * spacing, (j - (side - 1) / 2) * spacing
            if max(abs(x), abs(y)) < 0.75 * spacing:
                continue
            things.append((BIN, bin_at(x, y, 0.1, 0.3)) if (i + j) % 2 == 0 else (LAMP, table_lamp(x, y, 0.0)))
    return room(3.0, 3.0) + [(TABLE, table(0.0, 0.0, 0.3, 0.3, 0.45))] + things


def _many_parts() -> List[Part]:
    """48 small things on a 7 x 7 grid; the grid's corners lie 1.61 m from the room's axis, inside the orbit's
    2.1 m."""
    return _grid_of_things(7, MANY_SPACING)


def _many60_parts() -> List[Part]:
    """60 small things on an 8 x 8 grid (corners 1.61 m from the axis): the instance head issue's 60-object room."""
    return _grid_of_things(8, MANY60_SPACING)


THIN_ROOM_HEIGHT = 2.6
"""Lower than the default room, so that the ceiling shows as a strip at the top of many frames."""


def _thin_parts() -> List[Part]:
    """Thin things and thin stuff, and two same-class frames that no camera sees together."""
    top = THIN_ROOM_HEIGHT
    return room(3.0, top) + [
        (BASEBOARD, baseboards(3.0)),
        (CABINET, (box_at(0.0, 0.0, 0.0, 0.6, 3.4, 0.9),)),  # a long counter through the room
        (FRAME, picture_frame(0, 0.3, 1.0, 1.4, 0.5, (0.3, 0.4))),  # the never co-visible pair: +x face ...
        (FRAME, picture_frame(0, -0.3, -1.0, -1.4, 0.5, (0.3, 0.4))),  # ... and -x face, 2.9 m apart
        (FRAME, picture_frame(0, 3.0, -1.0, 0.4, 1.5, (0.6, 0.45))),  # on the walls
        (FRAME, picture_frame(1, 3.0, -1.0, -0.8, 1.45, (0.5, 0.7), canvas=False)),
        (FRAME, picture_frame(0, -3.0, 1.0, -0.6, 1.5, (0.7, 0.5))),
        (FRAME, picture_frame(1, -3.0, 1.0, 0.9, 1.4, (0.45, 0.6), canvas=False)),
        (TABLE, table(1.1, -0.5, 0.9, 0.6, 0.74, leg=0.03)),
        (CHAIR, chair(1.1, 0.05, (0, -1), leg=0.025)),
        (CHAIR, chair(1.1, -1.0, (0, 1), leg=0.025)),  # tucked under the table
        (POLE, pole(-1.0, 0.8, top)),
        (POLE, pole(0.9, 1.0, top)),
        (POLE, pole(-0.9, -1.2, top)),
        (LAMP, thin_floor_lamp(-1.3, -0.2)),
        (LAMP, thin_floor_lamp(1.25, 0.95)),
    ]


CHECKS_TOUCHING = ((0.6, -0.9), (1.05, -0.9))
"""Footprint centres of the ``checks`` layout's touching cupboards (0.45 m wide: their sides meet). Large enough
that the simulated network separates them in most views; touching bins were missed or merged in nearly all."""


def _checks_parts() -> List[Part]:
    """Touching same-class things, a never co-visible pair of different classes, and a thin pole.

    The frame hangs on the counter's +x face and the bin stands against its -x face, lower than the counter:
    cameras on the orbit (1.35 +- 0.45 m high) see over the counter's 0.9 m only the floor beyond the bin."""
    return room(3.0, 3.0) + [
        (CABINET, (box_at(0.0, 0.0, 0.0, 0.6, 3.4, 0.9),)),
        (FRAME, picture_frame(0, 0.3, 1.0, 0.6, 0.5, (0.4, 0.45))),
        (BIN, bin_at(-0.5, -0.6, 0.14, 0.4)),
        *[(CUPBOARD, cupboard(x, y, 0.45, 0.4, 1.0, 1)) for x, y in CHECKS_TOUCHING],
        (POLE, pole(-1.2, 1.2, 3.0)),
    ]


LayoutName = Literal["default", "crowded", "thin", "many", "many60", "checks"]
"""The names ``--layout`` accepts; the same as the keys of :data:`LAYOUTS`."""

LAYOUTS: Dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("default", "the living/dining room the method was tuned on", CLASSES, _default_parts, "orbit"),
        Layout("crowded", "touching chairs, cupboards, bins and sofas", EXTENDED_CLASSES, _crowded_parts, "tour"),
        Layout(
            "thin",
            "poles, lamp stands, thin legs, picture frames, baseboards, a low ceiling",
            EXTENDED_CLASSES,
            _thin_parts,
            "tour",
            height=THIN_ROOM_HEIGHT,
        ),
        Layout("many", "48 small bins and lamps on a grid: more objects than 32 slots", EXTENDED_CLASSES, _many_parts,
               "orbit"),  # fmt: skip
        Layout("many60", "60 small bins and lamps on a denser grid", EXTENDED_CLASSES, _many60_parts, "orbit"),
        Layout("checks", "touching cupboards, a never co-visible pair, a pole: the regression test's room",
               EXTENDED_CLASSES, _checks_parts, "orbit"),  # fmt: skip
    )
}
"""Every layout by name; ``default`` keeps its files byte-identical across releases."""


def get_layout(name: str) -> Layout:
    """The layout called ``name``; a ValueError lists the known ones."""
    if name not in LAYOUTS:
        known = "; ".join(f"{layout.name} ({layout.summary})" for layout in LAYOUTS.values())
        raise ValueError(f"unknown layout {name!r}; choose one of: {known}")
    return LAYOUTS[name]


def build_scene(seed: int, layout: str = "default") -> List[SceneObject]:
    """The layout's objects with ground-truth ids. Geometry is fixed; colours vary with the seed."""
    spec = get_layout(layout)
    rng = np.random.default_rng([seed, 1])
    objects: List[SceneObject] = []
    counts: Dict[int, int] = {}
    for category_id, primitives in spec.parts():
        isthing = spec.classes.by_id(category_id).isthing
        counts[category_id] = counts.get(category_id, 0) + 1
        gt_id = category_id * STUFF_GT_ID_STRIDE + (counts[category_id] if isthing else 0)
        material = instance_material(category_id, rng)
        objects.append(SceneObject(category_id, gt_id, primitives, material, isthing))
    return objects
