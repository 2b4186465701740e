"""Which samples along the rays belong to which objects: the panoptic rule applied to each sample on its own.

Scene edits (remove, isolate, recolor an object; ``scene_edits``) act on the field
before the volume weights are computed, so they must know, for every sample the
renderer uses, which object it is part of. That answer comes from the one rule
(``panoptic_rule.infer_panoptic``) and the run's instance table, applied to the
sample's own class and slot distributions instead of a pixel's rendered ones:

1. class = argmax of the sample's class distribution; on things, slot = argmax of its
   slot distribution, 3D instance id = slot + 1 (0 on stuff);
2. where the table splits that slot into parts, the sample takes the id of the part
   whose stored point is nearest to the sample's own position (a pixel uses its rendered
   surface point; a sample is a point already);
3. the instance's class from the table, or, for a dropped instance, the sample's most
   likely stuff class and no instance;
4. a sample labelled with an instance but beyond that instance's reach of its surface points
   over the training views (the table's ``points`` and ``reach``) is part of no object:
   instance 0 and class ``NO_OBJECT``. The heads are smooth and nothing trains them in
   empty space, so a faint floater near a camera can read as a chair metres away; without
   this, isolating the chair shows the floater as haze.

A pixel's label and its samples' labels therefore agree wherever the heaviest samples
agree with each other, and an edit reaches every sample the renderer integrates, not
only the few heaviest ones the heads are rendered from (so no ghost of a removed object
remains in front of what is behind it).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from panoptic_nerfstudio.inference.panoptic_rule import (
    STUFF_INSTANCE,
    InstanceTable,
    PanopticPrediction,
    beyond_reach,
    infer_panoptic,
)


NO_OBJECT = -1
"""Class of a sample that lies outside the box of the instance it reads as: no edit selects it by class."""


def sample_labels(
    semantic_logits: Tensor,
    instance_logits: Tensor,
    thing_mask: Tensor,
    table: Optional[InstanceTable],
    positions: Tensor,
) -> PanopticPrediction:
    """Labels of each sample from its logits [..., S, C] and [..., S, K] and its position [..., S, 3]: the rule of
    ``infer_panoptic`` with the run's ``table`` (None: slots as they are), parts chosen by the sample's position.

    Per-sample softmax keeps each argmax of the logits, so bounded and unbounded fields label samples alike."""
    labels = infer_panoptic(
        torch.softmax(semantic_logits.float(), dim=-1),
        torch.softmax(instance_logits.float(), dim=-1),
        thing_mask,
        table,
        positions,
        beyond_reach_is_stuff=False,
    )
    if table is None or table.reach is None:
        return labels
    outside = beyond_reach(labels.instance, positions, table)
    labels.instance = labels.instance.masked_fill(outside, STUFF_INSTANCE)
    labels.semantics = labels.semantics.masked_fill(outside, NO_OBJECT)
    return labels


def _as_tensor(values: Sequence[int] | Tensor, device: torch.device) -> Tensor:
    return torch.as_tensor(list(values) if not isinstance(values, Tensor) else values, dtype=torch.long, device=device)


def members(
    labels: PanopticPrediction, instance_ids: Sequence[int] | Tensor = (), classes: Sequence[int] | Tensor = ()
) -> Tensor:
    """[...] bool: True for the samples of the 3D instances ``instance_ids`` and of the classes ``classes`` (dense
    indices). Instance 0 (stuff) is never a member by id; a stuff class is selected by its class."""
    device = labels.instance.device
    ids, wanted = _as_tensor(instance_ids, device), _as_tensor(classes, device)
    by_id = torch.isin(labels.instance, ids) & (labels.instance != STUFF_INSTANCE)
    return by_id | torch.isin(labels.semantics, wanted)
