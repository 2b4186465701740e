"""The one panoptic inference rule, shared by the viewer, ``ns-render``, export and evaluation.

Rule (per pixel, from the rendered distributions):
1. semantic class = argmax of the rendered class distribution;
2. if that class is a thing, instance = argmax of the rendered slot distribution,
   and the 3D instance id is ``slot + 1``;
3. on stuff pixels the instance id is 0.
Slot ids are global to the scene (slots live in 3D), so the same object keeps its
id in every view. Slots that never win are simply unused ids.

Post-processing over a set of views (``resolve_instances``), applied by
``apply_instance_classes``:
4. one class per 3D instance: every pixel of an instance takes the thing class
   most of that instance's pixels have. Otherwise an object's few pixels read as
   a neighbouring class form a second, tiny segment: a false positive in PQ;
5. a 3D instance covering less than a fraction of the views' pixels is dropped,
   and its pixels take their most likely stuff class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

STUFF_INSTANCE = 0
KEEP_CLASS = -2
"""Instance table entry: leave the pixels' classes as they are (no post-processing known yet)."""
DROP_INSTANCE = -1
"""Instance table entry: too small, the pixels become their most likely stuff class."""


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


def infer_panoptic(
    semantic_probs: Tensor, instance_probs: Tensor, thing_mask: Tensor, instance_classes: Optional[Tensor] = None
) -> PanopticPrediction:
    """Panoptic labels of rendered distributions; ``instance_classes`` ([K + 1]) is a table from ``resolve_instances``."""
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
    return apply_instance_classes(prediction, instance_classes) if instance_classes is not None else prediction


def apply_instance_classes(prediction: PanopticPrediction, instance_classes: Tensor) -> PanopticPrediction:
    """Give every instance pixel its instance's class, or its stuff fallback where the instance is dropped."""
    table = instance_classes.to(prediction.instance.device)[prediction.instance]
    on_instance = prediction.instance != STUFF_INSTANCE
    drop = on_instance & (table == DROP_INSTANCE) & (prediction.fallback >= 0)
    relabel = on_instance & (table >= 0)
    semantics = torch.where(relabel, table, prediction.semantics)
    return PanopticPrediction(
        semantics=torch.where(drop, prediction.fallback, semantics),
        instance=torch.where(drop, torch.full_like(prediction.instance, STUFF_INSTANCE), prediction.instance),
        confidence=torch.where(drop, prediction.fallback_confidence, prediction.confidence),
        fallback=prediction.fallback,
        fallback_confidence=prediction.fallback_confidence,
    )


def instance_class_counts(prediction: PanopticPrediction, num_slots: int, num_classes: int) -> Tensor:
    """[K + 1, C] pixel count of each (instance id, class) pair of a prediction; row 0 counts stuff pixels."""
    pair = prediction.instance.reshape(-1).cpu() * num_classes + prediction.semantics.reshape(-1).cpu()
    return torch.bincount(pair, minlength=(num_slots + 1) * num_classes).reshape(num_slots + 1, num_classes)


def resolve_instances(counts: Tensor, min_area_fraction: float) -> Tensor:
    """[K + 1] instance table: the majority class of each instance, DROP_INSTANCE where it covers less than
    ``min_area_fraction`` of all counted pixels, KEEP_CLASS for stuff (row 0) and for instances not seen."""
    areas = counts.sum(dim=1)
    table = counts.argmax(dim=1)
    table[areas < min_area_fraction * float(areas.sum())] = DROP_INSTANCE
    table[areas == 0] = KEEP_CLASS  # never seen in these views: nothing is known of it
    table[STUFF_INSTANCE] = KEEP_CLASS
    return table
