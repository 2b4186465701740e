"""The label sets of the Panoptic Lifting authors' preprocessed scenes, as data.

Their scenes store classes as small integers: 0 is void, 1..N index a
ScanNet-derived list whose thing/stuff flags live in their preprocessing
resources. Two lists are in use:

* ``reduced`` (21 classes, the benchmark set of the paper): Replica, ScanNet and
  Hypersim scenes. Things: bed, chair, sofa, refrigerator, television, person,
  toilet, sink, bag.
* ``extended`` (31 classes): their in-the-wild captures. It inserts small
  objects (bottle, cup, ...) before ``otherprop``, so indices above 20 differ
  from ``reduced``.

We keep their indices as our category ids, so a converted mask can be compared
with their files by eye. A scene does not say which list it uses; its
probability maps do: they carry one channel per class plus void (22 or 32).
Names follow theirs except for one spelling fix (their "refridgerator").
Colors are the ScanNet benchmark palette where the class has one.
"""

from __future__ import annotations

from typing import Dict, List, Literal, Tuple

from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable

ClassSetName = Literal["reduced", "extended"]

REDUCED: List[Tuple[str, bool]] = [
    ("wall", False),
    ("floor", False),
    ("cabinet", False),
    ("bed", True),
    ("chair", True),
    ("sofa", True),
    ("table", False),
    ("door", False),
    ("window", False),
    ("counter", False),
    ("shelves", False),
    ("curtain", False),
    ("ceiling", False),
    ("refrigerator", True),
    ("television", True),
    ("person", True),
    ("toilet", True),
    ("sink", True),
    ("lamp", False),
    ("bag", True),
    ("otherprop", False),
]
"""(name, isthing) for class indices 1..21; index 0 is void."""

EXTENDED: List[Tuple[str, bool]] = REDUCED[:-1] + [
    ("bottle", True),
    ("cup", True),
    ("keyboard", True),
    ("mouse", True),
    ("book", True),
    ("laptop", True),
    ("blanket", False),
    ("pillow", True),
    ("clock", False),
    ("cellphone", True),
    ("otherprop", False),
]
"""(name, isthing) for class indices 1..31 of the in-the-wild scenes; index 0 is void."""

CLASS_SETS: Dict[str, List[Tuple[str, bool]]] = {"reduced": REDUCED, "extended": EXTENDED}

COLORS: Dict[str, Tuple[int, int, int]] = {
    "wall": (174, 199, 232),
    "floor": (152, 223, 138),
    "cabinet": (31, 119, 180),
    "bed": (255, 187, 120),
    "chair": (188, 189, 34),
    "sofa": (140, 86, 75),
    "table": (255, 152, 150),
    "door": (214, 39, 40),
    "window": (197, 176, 213),
    "counter": (23, 190, 207),
    "shelves": (148, 103, 189),
    "curtain": (219, 219, 141),
    "ceiling": (206, 190, 160),
    "refrigerator": (255, 127, 14),
    "television": (0, 128, 128),
    "person": (220, 20, 60),
    "toilet": (44, 160, 44),
    "sink": (112, 128, 144),
    "lamp": (247, 182, 210),
    "bag": (227, 119, 194),
    "otherprop": (96, 96, 96),
    "bottle": (82, 84, 163),
    "cup": (196, 156, 148),
    "keyboard": (158, 218, 229),
    "mouse": (178, 76, 0),
    "book": (128, 0, 64),
    "laptop": (64, 64, 192),
    "blanket": (190, 150, 100),
    "pillow": (250, 220, 90),
    "clock": (120, 170, 60),
    "cellphone": (30, 60, 90),
}


def authors_class_table(name: ClassSetName) -> ClassTable:
    """Our class table for one of their lists: category id = their class index (1..N)."""
    return ClassTable(
        [Category(index, label, isthing, COLORS[label]) for index, (label, isthing) in enumerate(CLASS_SETS[name], 1)]
    )


def class_set_for_channels(channels: int) -> ClassSetName | None:
    """The list whose probability maps have ``channels`` channels (classes + void), None if neither."""
    for name, rows in CLASS_SETS.items():
        if len(rows) + 1 == channels:
            return name  # type: ignore[return-value]
    return None
