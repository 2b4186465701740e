"""Scene edits: remove, isolate or recolor objects of a trained panoptic field, by 3D instance id or by class.

An edit is applied to the field's samples before the volume weights are computed
(``models/scene_editing.py``), using each sample's labels from the one rule and the
run's instance table (``sample_membership``):

- remove: the density of every sample of a removed instance or class is zero, so the
  renderer shows what the field has behind the object;
- isolate: the density of every sample that is *not* of an isolated instance or class is
  zero, so only those objects are rendered, on ``background``;
- recolor: the color of an instance's samples is tinted (its shading kept).

Instance ids are the 3D ids of the run's table (what click-to-identify, the
``instance_id`` output and ``ns-panoptic eval`` show); classes are named as in the class
table. ``resolve_edits`` checks both against the run and names the valid ones when not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.inference.panoptic_rule import KEEP_CLASS, InstanceTable, PanopticPrediction
from panoptic_nerfstudio.inference.sample_membership import members

RGB = Tuple[float, float, float]

TINT_FLOOR = 0.3
"""A tinted sample's color is ``tint * (TINT_FLOOR + TINT_GAIN * luminance)``: mid-grey becomes the tint itself,
darker and lighter surfaces keep their shading."""
TINT_GAIN = 1.4


class SceneEditError(ValueError):
    """An edit that names an instance or class the run does not have, or a malformed recolor; the message lists
    the valid ones."""


@dataclass(frozen=True)
class SceneEdits:
    """What to change when rendering a trained field. Instances are 3D instance ids, classes dense class indices."""

    remove_instances: Tuple[int, ...] = ()
    """3D instances whose samples get zero density."""
    remove_classes: Tuple[int, ...] = ()
    """Classes (dense indices) whose samples get zero density."""
    isolate_instances: Tuple[int, ...] = ()
    """3D instances to keep when isolating (all other samples get zero density)."""
    isolate_classes: Tuple[int, ...] = ()
    """Classes to keep when isolating."""
    recolor: Tuple[Tuple[int, RGB], ...] = ()
    """(3D instance id, RGB tint in [0, 1]) pairs."""
    background: RGB = (0.0, 0.0, 0.0)
    """Color behind isolated objects (every output that shows colors)."""

    @property
    def isolating(self) -> bool:
        return bool(self.isolate_instances or self.isolate_classes)

    @property
    def active(self) -> bool:
        """True where the edits change anything."""
        return bool(self.remove_instances or self.remove_classes or self.isolating or self.recolor)

    def describe(self, classes: ClassTable) -> str:
        """One line for people: what is removed, isolated and recolored."""
        parts = []
        for verb, ids, indices in (
            ("removed", self.remove_instances, self.remove_classes),
            ("isolated", self.isolate_instances, self.isolate_classes),
        ):
            names = [f"#{i}" for i in ids] + [classes.categories[c].name for c in indices]
            if names:
                parts.append(f"{verb} {', '.join(names)}")
        if self.recolor:
            parts.append("recolored " + ", ".join(f"#{i}" for i, _ in self.recolor))
        return "; ".join(parts) or "none"


def kept_samples(edits: SceneEdits, labels: PanopticPrediction) -> Tensor:
    """[...] bool: the samples whose density the edits leave as it is (removed ones and, when isolating, those of
    no isolated object are False)."""
    keep = ~members(labels, edits.remove_instances, edits.remove_classes)
    if edits.isolating:
        keep &= members(labels, edits.isolate_instances, edits.isolate_classes)
    return keep


def tinted_colors(edits: SceneEdits, labels: PanopticPrediction, rgb: Tensor) -> Tensor:
    """Sample colors [..., 3] with each recolored instance's samples tinted (shading kept, hue replaced)."""
    if not edits.recolor:
        return rgb
    luminance = (rgb * torch.tensor([0.299, 0.587, 0.114], device=rgb.device, dtype=rgb.dtype)).sum(-1, keepdim=True)
    for instance_id, color in edits.recolor:
        tint = torch.tensor(color, device=rgb.device, dtype=rgb.dtype)
        tinted = (tint * (TINT_FLOOR + TINT_GAIN * luminance)).clamp(0.0, 1.0)
        rgb = torch.where(members(labels, [instance_id])[..., None], tinted, rgb)
    return rgb


@dataclass
class RemainingLabels:
    """What an edited scene still holds, for labelling its pixels: the rule then picks among these only."""

    classes: Tensor
    """[C] bool: classes the edits leave in the scene."""
    slots: Tensor
    """[K] bool: slots with at least one 3D instance left."""
    table: InstanceTable
    """The run's table without the stored points of the parts taken away (pixels of a split slot then go to the
    nearest part that is left)."""


def remaining_labels(edits: SceneEdits, table: InstanceTable, num_classes: int, num_slots: int) -> RemainingLabels:
    """The classes, slots and parts an edit leaves. A removed instance or class is gone; when isolating, only the
    isolated instances (with their classes) and the isolated classes (with their instances) are left. Instances of
    unknown class (KEEP_CLASS) go only by id.

    Without this a pixel whose remaining samples are all other objects could still take a removed slot: a slot
    distribution is a mixture, and stuff samples (whose slots no loss trains) leak mass to every slot."""
    ids = torch.arange(len(table.classes))
    if table.same_as is not None:  # a joined instance goes or stays whole: each id answers as the one it joins
        ids = table.same_as.cpu()
    instance_classes = table.classes.cpu()[ids]
    by_class = lambda wanted: torch.isin(instance_classes, torch.tensor(wanted, dtype=torch.long))  # noqa: E731
    removed = torch.isin(ids, torch.tensor(edits.remove_instances, dtype=torch.long))
    left_ids = ~removed & ~by_class(edits.remove_classes)
    left_classes = ~torch.isin(torch.arange(num_classes), torch.tensor(edits.remove_classes, dtype=torch.long))
    if edits.isolating:
        isolated = torch.isin(ids, torch.tensor(edits.isolate_instances, dtype=torch.long))
        left_ids &= isolated | by_class(edits.isolate_classes)
        of_instances = [int(instance_classes[i]) for i in edits.isolate_instances]
        if all(value >= 0 for value in of_instances):  # (an instance of unknown class may show any class)
            kept_classes = torch.tensor(list(edits.isolate_classes) + of_instances, dtype=torch.long)
            left_classes &= torch.isin(torch.arange(num_classes), kept_classes)
    left_ids[0] = True  # stuff
    slots = torch.zeros(num_slots, dtype=torch.bool)
    slot_of = table.slots.cpu()
    slots[slot_of[1:][left_ids[1:]]] = True
    point_ids = table.point_ids.cpu()
    keep_points = left_ids[point_ids] if len(point_ids) else torch.zeros(0, dtype=torch.bool)
    edited = InstanceTable(
        classes=table.classes,
        slots=table.slots,
        points=table.points[keep_points.to(table.points.device)],
        point_ids=table.point_ids[keep_points.to(table.point_ids.device)],
        reach=table.reach,
        same_as=table.same_as,
    )
    return RemainingLabels(classes=left_classes, slots=slots, table=edited)


# ---------------------------------------------------------------------- checking edits against a run


def editable_instances(table: InstanceTable) -> List[int]:
    """The 3D ids an edit may name: those the table gives a class (not dropped, seen in the training views). A table
    never calibrated (every entry KEEP_CLASS, e.g. ``--pipeline.model.min-instance-area 0``) knows no more than its
    slots, so every id is editable there."""
    classes = table.classes.tolist()
    if all(value == KEEP_CLASS for value in classes[1:]):
        return list(range(1, len(classes)))
    return [i for i in range(1, len(classes)) if classes[i] >= 0]


def _describe_instances(ids: Sequence[int], table: InstanceTable, classes: ClassTable) -> str:
    names = []
    for i in ids:
        value = int(table.classes[i])
        names.append(f"{i} ({classes.categories[value].name})" if value >= 0 else str(i))
    return ", ".join(names) if names else "none (the run's instance table has no instances)"


def check_instances(ids: Sequence[int], table: InstanceTable, classes: ClassTable, option: str) -> Tuple[int, ...]:
    """``ids`` as a tuple, or SceneEditError naming the unknown ones and listing the valid ids with their classes."""
    valid = editable_instances(table)
    unknown = [int(i) for i in ids if int(i) not in valid]
    if unknown:
        raise SceneEditError(
            f"{option}: no 3D instance {', '.join(map(str, unknown))} in this run; valid ids: "
            f"{_describe_instances(valid, table, classes)}"
        )
    return tuple(dict.fromkeys(int(i) for i in ids))


def class_indices(names: Sequence[str], classes: ClassTable, option: str) -> Tuple[int, ...]:
    """Dense indices of class names, or SceneEditError naming the unknown ones and listing the class table."""
    unknown = [name for name in names if name not in classes.names]
    if unknown:
        raise SceneEditError(
            f"{option}: no class {', '.join(repr(n) for n in unknown)} in the class table; valid classes: "
            + ", ".join(classes.names)
        )
    return tuple(dict.fromkeys(classes.names.index(name) for name in names))


_RECOLOR = re.compile(r"^\s*(\d+)\s*=\s*#?([0-9a-fA-F]{6})\s*$")


def parse_recolor(spec: str) -> Tuple[int, RGB]:
    """``ID=#RRGGBB`` as (id, RGB in [0, 1]), or SceneEditError."""
    match = _RECOLOR.match(spec)
    if match is None:
        raise SceneEditError(f"--recolor-instances: {spec!r} is not ID=#RRGGBB (for example 3=#ff8800)")
    hex_color = match.group(2)
    rgb = tuple(int(hex_color[k : k + 2], 16) / 255.0 for k in (0, 2, 4))
    return int(match.group(1)), (rgb[0], rgb[1], rgb[2])


def resolve_edits(
    table: InstanceTable,
    classes: ClassTable,
    remove_instances: Sequence[int] = (),
    remove_classes: Sequence[str] = (),
    isolate_instances: Sequence[int] = (),
    isolate_classes: Sequence[str] = (),
    recolor_instances: Sequence[str] = (),
    background: RGB = (0.0, 0.0, 0.0),
) -> SceneEdits:
    """The edits a user asked for, checked against the run's table and class table (SceneEditError if not valid)."""
    recolor = [parse_recolor(spec) for spec in recolor_instances]
    check_instances([i for i, _ in recolor], table, classes, "--recolor-instances")
    return SceneEdits(
        remove_instances=check_instances(remove_instances, table, classes, "--remove-instances"),
        remove_classes=class_indices(remove_classes, classes, "--remove-classes"),
        isolate_instances=check_instances(isolate_instances, table, classes, "--isolate-instances"),
        isolate_classes=class_indices(isolate_classes, classes, "--isolate-classes"),
        recolor=tuple(dict(recolor).items()),
        background=background,
    )
