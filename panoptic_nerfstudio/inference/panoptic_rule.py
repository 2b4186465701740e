"""The one panoptic inference rule: pure tensor functions, no model, no I/O.

Every output that carries labels (the viewer, ``ns-render``, ``ns-eval``,
``ns-panoptic eval``, export, click-to-identify) is made by ``infer_panoptic`` with
the trained run's instance table; nothing else turns distributions into labels.

Rule (per pixel, from the rendered distributions):
1. semantic class = argmax of the rendered class distribution;
2. if that class is a thing, slot = argmax of the rendered slot distribution, and
   the 3D instance id is ``slot + 1``; on stuff pixels the instance id is 0;
3. a slot is not an object: the per-image assignment never asks two objects that
   are never seen together to differ, so one slot may cover several objects far
   apart. The table splits such a slot into its spatially separate parts, each a
   3D instance of its own: a thing pixel takes the id of the part nearest to its
   rendered surface point (the first part keeps ``slot + 1``, others get ids above K);
   the other way round, instances of one class that the 2D masks draw as one segment
   in most views that show both (one object over two slots) are joined under the
   smallest of their ids;
4. one class per 3D instance: every pixel of an instance takes the thing class
   most of that instance's pixels have (otherwise an object's few pixels read as a
   neighbouring class form a second, tiny segment: a false positive in PQ);
5. a 3D instance covering too little of the views' pixels is dropped, and its
   pixels take their most likely stuff class (not a part split off a slot: the
   field labelled it apart from the rest of its slot, so it is an object; nor one
   that several views show: a small object at the back of a room, not a speckle);
6. a thing pixel whose rendered surface point lies beyond its instance's reach of the
   instance's surface points over the training views is not that object: it takes its
   most likely stuff class. The class field is blurry at the scale of chair legs and
   thin stands, so floor between legs, wall beside a lamp stand and haze near a camera
   read as a thing whose surface is elsewhere. Every instance the table has points of
   is tested. (Only instances of ``POINTS_PER_PART`` points or more were while the
   table left out what lies beyond the cameras' box: the cupboards at the back of a
   room then had a few points on one face, and the faces a held-out view showed lay
   beyond their reach.)
The table (``InstanceTable``, built by ``instance_table``) is made once per trained
run over its training views and stored in the checkpoint. Instance ids are global to
the scene, so the same object keeps its id in every view, video and command.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import Tensor

STUFF_INSTANCE = 0
KEEP_CLASS = -2
"""Instance table entry: leave the pixels' classes as they are (no post-processing known yet)."""
DROP_INSTANCE = -1
"""Instance table entry: too small, the pixels become their most likely stuff class."""
POINTS_PER_PART = 256
"""Surface points the table keeps per 3D instance (``instance_table``): pixels of a split slot take the id of the
part with the nearest one, and a label beyond an instance's reach of them is not that object (rule 6)."""


@dataclass
class PanopticPrediction:
    semantics: Tensor
    """[...] long dense class index."""
    instance: Tensor
    """[...] long 3D instance id: slot + 1 on thing pixels, 0 on stuff."""
    confidence: Tensor
    """[...] float probability of the chosen class (times the slot's on things)."""
    fallback: Tensor
    """[...] long most likely stuff class, taken where an instance is dropped (-1: no stuff class)."""
    fallback_confidence: Tensor
    """[...] float probability of the fallback class."""


@dataclass
class InstanceTable:
    """What a trained run knows of its 3D instances; every row is indexed by 3D instance id (0: stuff)."""

    classes: Tensor
    """[N] long per id: the instance's class, DROP_INSTANCE, or KEEP_CLASS (nothing known: pixels keep theirs)."""
    slots: Tensor
    """[N] long per id: the slot the instance is a part of (-1 for id 0). Ids 1..K are slots 0..K-1."""
    points: Tensor
    """[P, 3] float surface points of each instance over the views (a sample of at most a few hundred each)."""
    point_ids: Tensor
    """[P] long 3D instance id of each point."""
    reach: Optional[Tensor] = None
    """[N] float per id: how far from its stored points a sample may lie and still be part of the instance (inf
    where nothing is known; None: no limit). A pixel whose surface point reads as an instance beyond its reach takes
    its stuff class (rule 6); a *sample* that does (a faint floater near a camera, say) is part of no object
    (``sample_membership``)."""
    same_as: Optional[Tensor] = None
    """[N] long per id: the 3D instance it is one object with (the smallest id of instances the 2D masks join,
    ``mask_joins``; itself when alone). Pixels take that id. None: every id is its own instance."""

    def completed(self) -> "InstanceTable":
        """This table with its optional fields set: no limit of reach, every instance its own."""
        table = self
        if table.reach is None:
            table = dataclasses.replace(table, reach=unlimited_reach(len(table.classes)))
        if table.same_as is None:
            table = dataclasses.replace(table, same_as=torch.arange(len(table.classes)))
        return table

    @staticmethod
    def unknown(num_slots: int) -> "InstanceTable":
        """The table of a run not yet calibrated: one instance per slot, classes as rendered."""
        return InstanceTable(
            classes=torch.full((num_slots + 1,), KEEP_CLASS, dtype=torch.long),
            slots=torch.arange(-1, num_slots, dtype=torch.long),
            points=torch.zeros(0, 3),
            point_ids=torch.zeros(0, dtype=torch.long),
            reach=unlimited_reach(num_slots + 1),
            same_as=torch.arange(num_slots + 1),
        )


def unlimited_reach(num_ids: int) -> Tensor:
    """[num_ids] reach of a table that knows nothing of where its instances are: infinite."""
    return torch.full((num_ids,), float("inf"))


def infer_panoptic(
    semantic_probs: Tensor,
    instance_probs: Tensor,
    thing_mask: Tensor,
    table: Optional[InstanceTable] = None,
    points: Optional[Tensor] = None,
    beyond_reach_is_stuff: bool = True,
) -> PanopticPrediction:
    """Panoptic labels of rendered distributions [..., C] and [..., K]. With the run's ``table``, slots are split
    into their parts by the rendered surface ``points`` ([..., 3]), instances take their classes and, with
    ``beyond_reach_is_stuff``, thing labels beyond the reach of their instance become stuff (rule 6;
    ``sample_membership`` marks such samples part of no object instead)."""
    thing_mask = thing_mask.to(semantic_probs.device)
    class_prob, semantics = semantic_probs.max(dim=-1)
    slot_prob, slot = instance_probs.max(dim=-1)
    is_thing = thing_mask[semantics]
    instance = torch.where(is_thing, slot + 1, torch.full_like(slot, STUFF_INSTANCE))
    confidence = torch.where(is_thing, class_prob * slot_prob, class_prob)
    if bool(thing_mask.all()):
        fallback_confidence, fallback = torch.zeros_like(class_prob), torch.full_like(semantics, -1)
    else:
        fallback_confidence, fallback = semantic_probs.masked_fill(thing_mask, -1.0).max(dim=-1)
    prediction = PanopticPrediction(semantics, instance, confidence, fallback, fallback_confidence)
    if table is None:
        return prediction
    if points is not None and len(table.point_ids) > 0:
        prediction.instance = nearest_parts(prediction.instance, points, table, split_slots(table))
    if table.same_as is not None:
        prediction.instance = table.same_as.to(prediction.instance.device)[prediction.instance]
    prediction = apply_instance_classes(prediction, table.classes)
    if points is not None and beyond_reach_is_stuff and table.reach is not None:
        prediction = to_stuff(prediction, beyond_reach(prediction.instance, points, table))
    return prediction


def split_slots(table: InstanceTable) -> List[int]:
    """The slots the table splits into two or more 3D instances."""
    slots, counts = table.slots[1:].unique(return_counts=True)
    return slots[counts > 1].tolist()


def nearest_parts(instance: Tensor, points: Tensor, table: InstanceTable, slots: List[int]) -> Tensor:
    """Instance ids with each pixel of the split ``slots`` moved to the part whose stored point is nearest its own
    point (among the parts that have points)."""
    device = instance.device
    point_ids = table.point_ids.to(device)
    stored = table.points.to(device=device, dtype=points.dtype)
    point_slots = table.slots.to(device)[point_ids]
    flat, flat_points = instance.reshape(-1).clone(), points.reshape(-1, 3)
    for slot in sorted(set(slots) & set(point_slots.unique().tolist())):
        pixels = torch.nonzero(flat == slot + 1).squeeze(-1)
        if len(pixels) == 0:
            continue
        mine = point_slots == slot
        for chunk in pixels.split(4096):
            nearest = torch.cdist(flat_points[chunk], stored[mine]).argmin(dim=-1)
            flat[chunk] = point_ids[mine][nearest]
    return flat.reshape(instance.shape)


def apply_instance_classes(prediction: PanopticPrediction, instance_classes: Tensor) -> PanopticPrediction:
    """Give every instance pixel its instance's class (``instance_classes``: [N] per id), or its stuff fallback where
    the instance is dropped."""
    table = instance_classes.to(prediction.instance.device)[prediction.instance]
    on_instance = prediction.instance != STUFF_INSTANCE
    relabel = on_instance & (table >= 0)
    prediction = dataclasses.replace(prediction, semantics=torch.where(relabel, table, prediction.semantics))
    return to_stuff(prediction, on_instance & (table == DROP_INSTANCE))


def to_stuff(prediction: PanopticPrediction, where: Tensor) -> PanopticPrediction:
    """The prediction with the pixels ``where`` [...] given their most likely stuff class and no instance (where the
    label set has a stuff class)."""
    where = where & (prediction.fallback >= 0)
    return PanopticPrediction(
        semantics=torch.where(where, prediction.fallback, prediction.semantics),
        instance=prediction.instance.masked_fill(where, STUFF_INSTANCE),
        confidence=torch.where(where, prediction.fallback_confidence, prediction.confidence),
        fallback=prediction.fallback,
        fallback_confidence=prediction.fallback_confidence,
    )


def beyond_reach(instance: Tensor, positions: Tensor, table: InstanceTable) -> Tensor:
    """[...] bool: labels whose instance ([...], positions [..., 3]) has no stored point within its reach (a joined
    instance's points are all its members')."""
    flat, flat_positions = instance.reshape(-1), positions.reshape(-1, 3).float()
    outside = torch.zeros_like(flat, dtype=torch.bool)
    reach = table.reach.to(flat.device)
    all_stored = table.points.to(flat_positions)  # once, not per instance: this runs on every rendered image
    point_ids = table.point_ids.to(flat.device)
    if table.same_as is not None:
        point_ids = table.same_as.to(flat.device)[point_ids]
    for instance_id in flat.unique().tolist():
        if instance_id == STUFF_INSTANCE or not torch.isfinite(reach[instance_id]):
            continue
        stored = all_stored[point_ids == instance_id]
        samples = torch.nonzero(flat == instance_id).squeeze(-1)
        if len(stored) == 0:
            outside[samples] = True
            continue
        for chunk in samples.split(8192):
            nearest = torch.cdist(flat_positions[chunk], stored).min(dim=-1).values
            outside[chunk] = nearest > reach[instance_id]
    return outside.reshape(instance.shape)


def instance_class_counts(prediction: PanopticPrediction, num_ids: int, num_classes: int) -> Tensor:
    """[N, C] pixel count of each (instance id, class) pair of a prediction, for ids 0..N-1; row 0 counts stuff."""
    pair = prediction.instance.reshape(-1).cpu() * num_classes + prediction.semantics.reshape(-1).cpu()
    return torch.bincount(pair, minlength=num_ids * num_classes).reshape(num_ids, num_classes)


def resolve_instances(
    counts: Tensor, min_area_fraction: float, keep: Optional[Tensor] = None, votes: Optional[Tensor] = None
) -> Tensor:
    """[N] classes of an instance table from [N, C] counts: the majority class of each instance (of ``votes`` [N, C]
    where given, else of the counts), DROP_INSTANCE where it covers less than ``min_area_fraction`` of all counted
    pixels (except where ``keep`` [N] is set), KEEP_CLASS for stuff (row 0) and for instances not seen."""
    areas = counts.sum(dim=1)
    table = (counts if votes is None else votes).argmax(dim=1)
    small = areas < min_area_fraction * float(areas.sum())
    table[small if keep is None else small & ~keep] = DROP_INSTANCE
    table[areas == 0] = KEEP_CLASS  # never seen in these views: nothing is known of it
    table[STUFF_INSTANCE] = KEEP_CLASS
    return table
