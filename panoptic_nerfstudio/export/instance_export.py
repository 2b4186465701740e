"""One PLY per 3D instance, plus ``instances.json`` listing each instance's class, point count and box.

A 3D instance is a slot of the instance field, so its points from every training view
gather under one id. Its class is the class most of its points carry; with the checkpoint's
instance table (``resolve_instances``) that is every one of them. Instances with fewer than
``min_points`` points are floaters or slivers rather than objects: they are listed in the
JSON under ``skipped`` and get no file.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Tuple

import numpy as np

from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.export.labeled_ply import write_labeled_ply
from panoptic_nerfstudio.export.labeled_points import LabeledPoints
from panoptic_nerfstudio.inference.instance_parts import majority_class

INSTANCES_JSON = "instances.json"


@dataclass
class InstanceRecord:
    """One entry of instances.json."""

    id: int
    """3D instance id (slot + 1), the ``instance_id`` of the point cloud."""
    class_id: int
    """Category id of panoptic_classes.json."""
    class_name: str
    points: int
    file: Optional[str] = None
    """The instance's PLY, relative to the JSON; None where it was skipped."""
    aabb: dict = field(default_factory=dict)
    """Axis-aligned bounding box of its points: {"min": [x, y, z], "max": [x, y, z]}."""


@dataclass
class InstanceExport:
    written: List[InstanceRecord]
    skipped: List[InstanceRecord]


def instance_filename(class_name: str, instance_id: int) -> str:
    """``<class>_<id>.ply``, the class name made safe for any file system (``dining table`` -> ``dining-table``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", class_name).strip("-.") or "class"
    return f"{slug}_{instance_id}.ply"


def group_instances(points: LabeledPoints, classes: ClassTable) -> List[Tuple[InstanceRecord, LabeledPoints]]:
    """Every 3D instance of the cloud (instance_id > 0), in id order, with its points."""
    groups = []
    for instance_id in np.unique(points.instance_ids[points.instance_ids > 0]).tolist():
        own = points.select(points.instance_ids == instance_id)
        class_id = majority_class(own.class_ids)
        name = classes.by_id(class_id).name if class_id in classes else f"class{class_id}"
        aabb = {"min": own.positions.min(axis=0).tolist(), "max": own.positions.max(axis=0).tolist()}
        groups.append((InstanceRecord(int(instance_id), class_id, name, len(own), aabb=aabb), own))
    return groups


def write_instances(
    out_dir: Path,
    points: LabeledPoints,
    classes: ClassTable,
    min_points: int = 10,
    extra_comments: Iterable[str] = (),
    extra_json: Optional[dict] = None,
    track: Callable[[Iterable], Iterable] = lambda items: items,
) -> InstanceExport:
    """Write ``<class>_<id>.ply`` for each instance with at least ``min_points`` points, and instances.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for record, own in track(group_instances(points, classes)):
        if record.points < min_points:
            skipped.append(record)
            continue
        record.file = instance_filename(record.class_name, record.id)
        comments = [*extra_comments, f"instance {record.id} of class {record.class_id} ({record.class_name})"]
        write_labeled_ply(out_dir / record.file, own, classes, extra_comments=comments)
        written.append(record)
    payload = {
        **(extra_json or {}),
        "min_points": min_points,
        "classes": [
            {"id": c.id, "name": c.name, "isthing": c.isthing, "color": list(c.color)} for c in classes.categories
        ],
        "instances": [_as_json(r) for r in written],
        "skipped": [_as_json(r) for r in skipped],
    }
    (out_dir / INSTANCES_JSON).write_text(json.dumps(payload, indent=2) + "\n")
    return InstanceExport(written, skipped)


def _as_json(record: InstanceRecord) -> dict:
    entry = asdict(record)
    entry["class"] = entry.pop("class_name")
    if entry["file"] is None:
        del entry["file"]
    return entry
