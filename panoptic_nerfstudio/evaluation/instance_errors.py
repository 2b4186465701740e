"""Merges and splits: the instance errors a user notices first, counted over a whole scene.

PQ^scene folds them into one number; these name them. Over all evaluated frames together
(3D instance ids are scene-wide, and so are ground-truth ids):
- a ground-truth thing object is **split** when two or more predicted 3D instances each hold
  at least ``share`` of its pixels;
- a ground-truth thing object is **merged** when a predicted 3D instance holds at least
  ``share`` of its pixels and also at least ``share`` of another object's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticFrameLabels

DEFAULT_SHARE = 0.2
"""Share of an object's pixels that makes a predicted instance one of its parts."""


@dataclass
class InstanceErrors:
    objects: int
    """Ground-truth thing objects seen in the frames."""
    merged: int
    """Objects that share a predicted 3D instance with another object."""
    split: int
    """Objects spread over two or more predicted 3D instances."""


def instance_errors(
    predictions: Sequence[PanopticFrameLabels],
    targets: Sequence[PanopticFrameLabels],
    classes: ClassTable,
    share: float = DEFAULT_SHARE,
) -> InstanceErrors:
    """Count merged and split ground-truth thing objects; predicted stuff pixels (instance 0) belong to no instance."""
    thing_ids = torch.from_numpy(classes.category_ids[classes.thing_mask])
    objects, instances = [], []
    for prediction, target in zip(predictions, targets):
        on_thing = torch.isin(target.category, thing_ids) & (target.instance > 0)
        # (category, instance) keys: ground-truth ids need be unique only within a category
        objects.append(target.category[on_thing] * (1 << 32) + target.instance[on_thing])
        instances.append(prediction.instance[on_thing])
    if not objects or sum(len(o) for o in objects) == 0:
        return InstanceErrors(0, 0, 0)
    object_keys, object_index = torch.unique(torch.cat(objects), return_inverse=True)
    instance_ids, instance_index = torch.unique(torch.cat(instances), return_inverse=True)
    overlap = torch.zeros(len(object_keys), len(instance_ids), dtype=torch.long)
    overlap.index_put_((object_index, instance_index), torch.ones_like(object_index), accumulate=True)
    overlap[:, instance_ids == 0] = 0  # an object's pixels labelled stuff are misses, not parts
    part = overlap.double() >= share * overlap.sum(dim=1, keepdim=True).clamp_min(1).double()
    part &= overlap > 0
    split = part.sum(dim=1) >= 2
    shared = part.sum(dim=0) >= 2  # instances that are a part of two or more objects
    merged = (part & shared[None, :]).any(dim=1)
    return InstanceErrors(objects=len(object_keys), merged=int(merged.sum()), split=int(split.sum()))
