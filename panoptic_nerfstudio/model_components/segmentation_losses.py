"""Semantic and segment-consistency losses on rendered distributions.

All losses take per-ray tensors of one batch and are vectorised over rays and
segments (grouping is done with ``index_add``, never with Python loops).
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-8


def weighted_nll(probs: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Mean over rays with target >= 0 of ``-weight * log p[target]``; zero when there are none."""
    valid = target >= 0
    if not bool(valid.any()):
        return probs.sum() * 0.0
    picked = probs[valid].gather(-1, target[valid, None]).squeeze(-1)
    return (-torch.log(picked.clamp_min(EPS)) * weight[valid]).mean()


def semantic_loss(probs: Tensor, labels: Tensor, confidence: Tensor) -> Tensor:
    """Cross-entropy to the 2D labels (void = -1 ignored), weighted by per-pixel confidence."""
    return weighted_nll(probs, labels, confidence)


def segment_mean(probs: Tensor, segment: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Mean distribution of each segment over its valid rays, and each valid ray's group index.

    Returns ``(means [G, D], group [R])`` where ``group`` is -1 for invalid rays.
    """
    group = torch.full_like(segment, -1)
    if not bool(valid.any()):
        return probs.new_zeros((0, probs.shape[-1])), group
    unique, inverse = torch.unique(segment[valid], return_inverse=True)
    group[valid] = inverse
    sums = probs.new_zeros((len(unique), probs.shape[-1])).index_add_(0, inverse, probs[valid])
    counts = torch.bincount(inverse, minlength=len(unique)).to(probs.dtype)
    return sums / counts[:, None], group


def consistency_loss(probs: Tensor, segment: Tensor, valid: Tensor) -> Tensor:
    """Pull the rays of each 2D segment to the segment's dominant prediction.

    The target of a segment is the argmax of its rays' mean rendered
    distribution (no gradient through the target), as in the paper: a segment
    the 2D network drew as one object should be one class / one slot in 3D,
    whatever the 2D label said.
    """
    means, group = segment_mean(probs.detach(), segment, valid)
    target = torch.full_like(segment, -1)
    target[group >= 0] = means.argmax(dim=-1)[group[group >= 0]]
    return weighted_nll(probs, target, torch.ones_like(probs[:, 0]))


def naive_instance_loss(probs: Tensor, instance: Tensor, confidence: Tensor) -> Tensor:
    """Ablation of the linear assignment: each 2D thing id supervises the slot of the same number (modulo K).

    2D ids disagree between frames, so this asks one slot to be different objects in different views: it
    shows what the paper's per-image matching buys (``benchmarks/quality.py``, row "no linear assignment").
    """
    target = torch.where(instance >= 0, instance % probs.shape[-1], -1)
    return weighted_nll(probs, target, confidence)
