"""The demo scene's label set, and which classes a simulated 2D network confuses.

Category ids are deliberately sparse (1, 2, 3, 5, ...) so that every scene
exercises the mapping from file ids to the model's dense class index.
"""

from __future__ import annotations

from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable

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
"""The label set of the default layout. Ids are deliberately sparse to exercise the dense-index mapping."""

BASEBOARD, FRAME, POLE, CUPBOARD = 17, 19, 26, 31

EXTENDED_CLASSES = ClassTable(
    CLASSES.categories
    + [
        Category(BASEBOARD, "baseboard", False, (247, 182, 210)),
        Category(FRAME, "frame", True, (255, 187, 120)),
        Category(POLE, "pole", True, (23, 190, 207)),
        Category(CUPBOARD, "cupboard", True, (44, 160, 44)),
    ]
)
"""The label set of the benchmark layouts: the default one plus thin stuff (baseboards), thin things
(picture frames, poles) and cupboards. A cupboard is a free-standing cabinet counted per instance; the
default's ``cabinet`` stays stuff, so the default scene's class table never changes."""

SIMILAR_CLASS = {CHAIR: SOFA, SOFA: CHAIR, LAMP: BIN, BIN: LAMP, POLE: LAMP, FRAME: CUPBOARD, CUPBOARD: FRAME}
"""The wrong class a confused thing segment gets: the one a network mixes it up with
(a pole for a lamp stand, a picture frame for a cupboard door, ...)."""

SIMILAR_STUFF = {WALL: CABINET, CABINET: WALL, TABLE: CABINET, CEILING: WALL, BASEBOARD: WALL}
"""Stuff a network paints over parts of another stuff region (the floor is left reliable)."""

STUFF_GT_ID_STRIDE = 1000
"""Ground-truth ids are category_id * 1000 (+ instance number for things), readable by eye."""
