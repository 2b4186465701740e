"""The one panoptic inference rule, shared by the viewer, ``ns-render``, export and evaluation.

Rule (per pixel, from the rendered distributions):
1. semantic class = argmax of the rendered class distribution;
2. if that class is a thing, instance = argmax of the rendered slot distribution,
   and the 3D instance id is ``slot + 1``;
3. on stuff pixels the instance id is 0;
4. post-processing: a 3D instance whose total area over a set of views is tiny
   (``small_instances``) is suppressed, and its pixels take their most likely
   stuff class. Stray slots that win a handful of pixels would otherwise each
   count as a false positive in PQ.
Slot ids are global to the scene (slots live in 3D), so the same object keeps its
id in every view. Slots that never win a pixel are simply unused ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

STUFF_INSTANCE = 0


@dataclass
class PanopticPrediction:
    semantics: Tensor
    """[...] long dense class index."""
    instance: Tensor
    """[...] long 3D instance id: slot + 1 on thing pixels, 0 on stuff."""
    confidence: Tensor
    """[...] float probability of the chosen class (times the slot's on things)."""
    fallback: Tensor
    """[...] long most likely stuff class, taken where an instance is suppressed (-1: no stuff class)."""
    fallback_confidence: Tensor
    """[...] float probability of the fallback class."""


def infer_panoptic(
    semantic_probs: Tensor, instance_probs: Tensor, thing_mask: Tensor, suppressed: Optional[Tensor] = None
) -> PanopticPrediction:
    """Panoptic labels of rendered distributions; ``suppressed`` is a [K + 1] bool mask of instance ids to drop."""
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
    return suppress_instances(prediction, suppressed) if suppressed is not None else prediction


def suppress_instances(prediction: PanopticPrediction, suppressed: Tensor) -> PanopticPrediction:
    """Turn the pixels of suppressed instances into their most likely stuff class (a no-op without stuff classes)."""
    drop = suppressed.to(prediction.instance.device)[prediction.instance] & (prediction.fallback >= 0)
    return PanopticPrediction(
        semantics=torch.where(drop, prediction.fallback, prediction.semantics),
        instance=torch.where(drop, torch.full_like(prediction.instance, STUFF_INSTANCE), prediction.instance),
        confidence=torch.where(drop, prediction.fallback_confidence, prediction.confidence),
        fallback=prediction.fallback,
        fallback_confidence=prediction.fallback_confidence,
    )


def instance_areas(instance: Tensor, num_slots: int) -> Tensor:
    """[K + 1] pixel count of each instance id (index 0: stuff) in an instance map."""
    return torch.bincount(instance.reshape(-1).cpu(), minlength=num_slots + 1)


def small_instances(areas: Tensor, min_area_fraction: float) -> Tensor:
    """[K + 1] bool: instances present but covering less than ``min_area_fraction`` of all counted pixels."""
    small = (areas > 0) & (areas < min_area_fraction * float(areas.sum()))
    small[STUFF_INSTANCE] = False
    return small
