"""The one panoptic inference rule, shared by the viewer, ``ns-render`` and evaluation.

Rule (per pixel, from the rendered distributions):
1. semantic class = argmax of the rendered class distribution;
2. if that class is a thing, instance = argmax of the rendered slot distribution,
   and the 3D instance id is ``slot + 1``;
3. on stuff pixels the instance id is 0.
Slot ids are global to the scene (slots live in 3D), so the same object keeps its
id in every view. Slots that never win a pixel are simply unused ids.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def infer_panoptic(semantic_probs: Tensor, instance_probs: Tensor, thing_mask: Tensor) -> PanopticPrediction:
    class_prob, semantics = semantic_probs.max(dim=-1)
    slot_prob, slot = instance_probs.max(dim=-1)
    is_thing = thing_mask.to(semantics.device)[semantics]
    instance = torch.where(is_thing, slot + 1, torch.full_like(slot, STUFF_INSTANCE))
    confidence = torch.where(is_thing, class_prob * slot_prob, class_prob)
    return PanopticPrediction(semantics=semantics, instance=instance, confidence=confidence)
