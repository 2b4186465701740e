"""Labeled point clouds as PLY files (written and read with plyfile).

Layout, chosen so that every common reader opens the file as a colored point cloud and
the labels ride along as extra vertex properties (Open3D and trimesh ignore them, plyfile,
CloudCompare and MeshLab show them):

    element vertex N
    property float x, y, z
    property uchar red, green, blue
    property int class_id        category id of the scene's panoptic_classes.json
    property int instance_id     3D instance id; 0 on stuff
    property float confidence    rendered probability of the label

The class table travels in the header, one ``comment panoptic_class {json}`` line per
category, so a file names its classes without the scene beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, List, Tuple

import numpy as np
from plyfile import PlyData, PlyElement, PlyParseError

from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable, PanopticFormatError
from panoptic_nerfstudio.export.labeled_points import LabeledPoints

CLASS_COMMENT = "panoptic_class "
VERTEX_DTYPE = [
    ("x", "f4"),
    ("y", "f4"),
    ("z", "f4"),
    ("red", "u1"),
    ("green", "u1"),
    ("blue", "u1"),
    ("class_id", "i4"),
    ("instance_id", "i4"),
    ("confidence", "f4"),
]


def class_comments(classes: ClassTable) -> List[str]:
    """One header comment per category: its id, name, thing flag and color as one-line JSON."""
    return [
        CLASS_COMMENT + json.dumps({"id": c.id, "name": c.name, "isthing": c.isthing, "color": list(c.color)})
        for c in classes.categories
    ]


def write_labeled_ply(
    path: Path, points: LabeledPoints, classes: ClassTable, extra_comments: Iterable[str] = (), binary: bool = True
) -> None:
    """Write ``points`` with their labels and the class table (binary little-endian unless ``binary`` is False)."""
    vertices = np.empty(len(points), dtype=VERTEX_DTYPE)
    vertices["x"], vertices["y"], vertices["z"] = points.positions.T
    vertices["red"], vertices["green"], vertices["blue"] = points.colors.T
    vertices["class_id"] = points.class_ids
    vertices["instance_id"] = points.instance_ids
    vertices["confidence"] = points.confidence
    comments = [
        "panoptic-nerfstudio labeled point cloud",
        "class_id: category id of panoptic_classes.json; instance_id: 3D instance id, 0 on stuff",
        *extra_comments,
        *class_comments(classes),
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(vertices, "vertex")], text=not binary, comments=comments).write(str(path))


def read_labeled_ply(path: Path) -> Tuple[LabeledPoints, ClassTable]:
    """Read a file written by :func:`write_labeled_ply`; PanopticFormatError naming the file if it is not one."""
    path = Path(path)
    try:
        ply = PlyData.read(str(path))
    except (PlyParseError, OSError, ValueError, EOFError) as error:
        raise PanopticFormatError(path, f"unreadable PLY ({error})") from None
    if "vertex" not in ply:
        raise PanopticFormatError(path, "no vertex element")
    vertex = ply["vertex"].data
    missing = [name for name, _ in VERTEX_DTYPE if name not in (vertex.dtype.names or ())]
    if missing:
        raise PanopticFormatError(path, f"not a labeled point cloud: vertex properties {missing} missing")
    points = LabeledPoints(
        positions=np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float32),
        colors=np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1).astype(np.uint8),
        class_ids=vertex["class_id"].astype(np.int32),
        instance_ids=vertex["instance_id"].astype(np.int32),
        confidence=vertex["confidence"].astype(np.float32),
    )
    return points, ClassTable([_category(path, line) for line in ply.comments if line.startswith(CLASS_COMMENT)])


def _category(path: Path, comment: str) -> Category:
    try:
        entry = json.loads(comment[len(CLASS_COMMENT) :])
        return Category(int(entry["id"]), str(entry["name"]), bool(entry["isthing"]), tuple(entry["color"]))  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError) as error:
        raise PanopticFormatError(path, f"bad class comment {comment!r} ({error})") from None
