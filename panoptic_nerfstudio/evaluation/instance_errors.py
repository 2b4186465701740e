"""Merges and splits: the instance errors a user notices first, counted over a whole scene.

PQ^scene folds them into one number; these name them. Over all evaluated frames together
(3D instance ids are scene-wide, and so are ground-truth ids):
- a ground-truth thing object is **split** when two or more predicted 3D instances each hold
  at least ``share`` of its pixels;
- a ground-truth thing object is **merged** when a predicted 3D instance holds at least
  ``share`` of its pixels and also at least ``share`` of another object's pixels.
The shares are of an object's pixels that carry a 3D instance: pixels labelled stuff are misses (PQ counts them),
not parts. So an object the field mostly misses is counted by the few pixels it does label: on `thin` seed 1 a
picture frame of 42 held-out pixels, 38 labelled wall and 4 with the neighbouring lamp's instance, counts as merged
with that lamp.

Some merges the input could not have prevented: a cluster of bins the 2D network draws as one segment in most views
gives lifting nothing to separate them by. Given the 2D input masks of the same frames, the merges are also counted
for pairs that the **masks keep apart**: objects merged with another that the input draws in different segments in
more than half of the frames showing both (``MIN_PAIR_PIXELS`` pixels or more of each): the merges lifting should
never make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticFrameLabels
from panoptic_nerfstudio.inference.mask_evidence import NO_SEGMENT
from panoptic_nerfstudio.inference.mask_joins import main_segments

DEFAULT_SHARE = 0.2
"""Share of an object's pixels that makes a predicted instance one of its parts."""
MIN_PAIR_PIXELS = 16
"""Pixels each of two objects must show in a frame for the input's segments there to say whether they are apart."""


@dataclass
class InstanceErrors:
    objects: int
    """Ground-truth thing objects seen in the frames."""
    merged: int
    """Objects that share a predicted 3D instance with another object."""
    split: int
    """Objects spread over two or more predicted 3D instances."""
    merged_kept_apart: Optional[int] = None
    """Merged objects whose merge joins a pair the input masks keep apart (None: no input given)."""


def instance_errors(
    predictions: Sequence[PanopticFrameLabels],
    targets: Sequence[PanopticFrameLabels],
    classes: ClassTable,
    share: float = DEFAULT_SHARE,
    inputs: Optional[Sequence[PanopticFrameLabels]] = None,
) -> InstanceErrors:
    """Count merged and split ground-truth thing objects; predicted stuff pixels (instance 0) belong to no instance.
    With the frames' 2D ``inputs``, also the merged objects of pairs the masks keep apart."""
    thing_ids = torch.from_numpy(classes.category_ids[classes.thing_mask])
    objects, instances, frames, segments = [], [], [], []
    for index, (prediction, target) in enumerate(zip(predictions, targets)):
        on_thing = torch.isin(target.category, thing_ids) & (target.instance > 0)
        # (category, instance) keys: ground-truth ids need be unique only within a category
        objects.append(target.category[on_thing] * (1 << 32) + target.instance[on_thing])
        instances.append(prediction.instance[on_thing])
        if inputs is not None:  # each pixel's frame and input thing segment, NO_SEGMENT where the input has no thing
            frames.append(torch.full((int(on_thing.sum()),), index))
            given = inputs[index]
            in_thing = torch.isin(given.category, thing_ids) & (given.instance > 0)
            segment = torch.where(in_thing, given.instance, NO_SEGMENT)
            segments.append(segment[on_thing])
    if not objects or sum(len(o) for o in objects) == 0:
        return InstanceErrors(0, 0, 0, None if inputs is None else 0)
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
    kept_apart = None
    if inputs is not None:
        members = [torch.nonzero(column)[:, 0] for column in part.T[shared]]  # the objects of each shared instance
        pairs = [(int(a), int(b)) for objects_of in members for a, b in torch.combinations(objects_of)]
        frame_of, segment_of = torch.cat(frames).numpy(), torch.cat(segments).numpy()
        main = main_segments(object_index.numpy(), frame_of, segment_of, MIN_PAIR_PIXELS)
        apart = [kept_apart_by_masks(main, a, b, len(predictions)) for a, b in pairs]
        kept_apart = len({index for (a, b), yes in zip(pairs, apart) if yes for index in (a, b)})
    return InstanceErrors(len(object_keys), int(merged.sum()), int(split.sum()), kept_apart)


def kept_apart_by_masks(main: dict, a: int, b: int, num_frames: int) -> bool:
    """Whether the input puts objects ``a`` and ``b`` into different thing segments in more than half of the frames
    that show both; ``main``: {(object, frame): the input segment most of its pixels there lie in}
    (``main_segments``)."""
    both = [(main[(a, f)], main[(b, f)]) for f in range(num_frames) if (a, f) in main and (b, f) in main]
    separated = sum(first != second and NO_SEGMENT not in (first, second) for first, second in both)
    return 2 * separated > len(both)
