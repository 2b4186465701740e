"""The instance loss: per image, match 2D thing segments to the K 3D slots, then cross-entropy.

2D instance ids mean nothing across frames. For each image in the batch we build
a cost between each of its thing segments and each slot, minus the mean rendered
probability of that slot over the segment's rays, and solve the assignment with
``scipy.optimize.linear_sum_assignment``. Each ray is then supervised towards its
segment's slot. The loss depends only on which rays share a segment, never on the
numbers the 2D network gave them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.model_components.segmentation_losses import segment_mean, weighted_nll


@dataclass
class InstanceAssignment:
    """Slot of each thing ray (-1 = not supervised) and how many segments found no slot."""

    target: Tensor
    unassigned_segments: int


def assign_slots(slot_probs: Tensor, segment: Tensor, frame: Tensor, is_thing: Tensor) -> InstanceAssignment:
    """Solve one linear assignment per image between its thing segments and the slots."""
    means, group = segment_mean(slot_probs.detach(), segment, is_thing)
    target = torch.full_like(segment, -1)
    if len(means) == 0:
        return InstanceAssignment(target, 0)
    group_frame = torch.zeros(len(means), dtype=frame.dtype, device=frame.device)
    group_frame[group[is_thing]] = frame[is_thing]

    cost = (-means).cpu().numpy()
    group_frame_np = group_frame.cpu().numpy()
    group_slot = np.full(len(means), -1, dtype=np.int64)
    for image in np.unique(group_frame_np):
        rows = np.flatnonzero(group_frame_np == image)
        matched_rows, slots = linear_sum_assignment(cost[rows])
        group_slot[rows[matched_rows]] = slots
    unassigned = int((group_slot < 0).sum())

    slot_of_group = torch.from_numpy(group_slot).to(segment.device)
    has_group = group >= 0
    target[has_group] = slot_of_group[group[has_group]]
    return InstanceAssignment(target, unassigned)


def instance_loss(
    slot_probs: Tensor, segment: Tensor, frame: Tensor, instance: Tensor, confidence: Tensor
) -> tuple[Tensor, InstanceAssignment]:
    """Confidence-weighted cross-entropy of thing rays to their segment's assigned slot.

    ``instance`` is the per-frame thing index (-1 for stuff and void); only its
    sign is used, so renumbering a frame's 2D ids cannot change the loss.
    """
    assignment = assign_slots(slot_probs, segment, frame, instance >= 0)
    return weighted_nll(slot_probs, assignment.target, confidence), assignment


def warn_if_too_few_slots(most_things: Optional[int], num_slots: int) -> None:
    """Warn when a training frame shows more thing segments (``most_things``; None: unknown) than there are slots:
    the assignment then leaves some of them out of the instance loss."""
    if most_things is not None and most_things > num_slots:
        CONSOLE.print(
            f"[bold yellow]Warning: a training frame has {most_things} thing segments but the model has only "
            f"{num_slots} instance slots; raise --pipeline.model.num-instance-slots."
        )
