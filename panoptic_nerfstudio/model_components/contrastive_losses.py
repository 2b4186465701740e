"""The contrastive head's losses: rays of one 2D thing segment together, segments of one frame apart.

2D instance ids mean nothing across frames, and these losses never read them: only
which rays share a segment, and which segments share a frame. A frame's segments are
different objects (the 2D network drew them apart), so their embeddings are pushed
apart; two segments of different frames may be the same object, so nothing compares
them. The segment sampler (``data/segment_ray_sampler.py``) gives every thing segment of
a drawn image a group of rays, so each frame's segments are all seen together.

With ``e_i`` a thing ray's rendered embedding, ``mu_s`` the mean embedding of segment
``s``'s rays in the batch (no gradient: the target; with ``slow_target_momentum``, the mean of a slowly
updated copy's embeddings of those rays, as Contrastive Lift's slow-fast target) and ``c_i`` the ray's confidence:

- contrastive: ``c_i * -log softmax_s(-|e_i - mu_s|^2 / T)[segment of i]`` over the thing
  segments of i's frame (an InfoNCE with the segment centroids as prototypes);
- concentration: ``c_i * |e_i - mu_(segment of i)|^2``.

Both are means over thing rays. Vectorised: no loop over frames or segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch
from torch import Tensor

from panoptic_nerfstudio.fields.instance_embedding import ContrastiveHeadConfig
from panoptic_nerfstudio.model_components.segmentation_losses import segment_mean


@dataclass
class ContrastiveLosses:
    contrastive: Tensor
    concentration: Tensor


def segment_centroids(embedding: Tensor, segment: Tensor, frame: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Detached mean embedding of each segment over its valid rays ``[G, D]``, each ray's group ``[R]`` (-1 where
    not valid) and each group's frame ``[G]``."""
    centroids, group = segment_mean(embedding.detach(), segment, valid)
    group_frame = torch.full((len(centroids),), -1, dtype=frame.dtype, device=frame.device)
    has_group = group >= 0
    group_frame[group[has_group]] = frame[has_group]
    return centroids, group, group_frame


def contrastive_losses(
    embedding: Tensor,
    segment: Tensor,
    frame: Tensor,
    is_thing: Tensor,
    confidence: Tensor,
    temperature: float,
    target: Optional[Tensor] = None,
) -> ContrastiveLosses:
    """The contrastive and concentration losses of rendered embeddings [R, D] (see the module's docstring).

    ``segment``: [R] global 2D segment of each ray; ``frame``: [R] its image; ``is_thing``: [R] rays of thing
    segments (the only ones that count); ``confidence``: [R] per-ray weight; ``target``: [R, D] the embeddings
    whose segment means are the centroids (the slow copy's; default: ``embedding`` itself)."""
    zero = embedding.sum() * 0.0
    if not bool(is_thing.any()):
        return ContrastiveLosses(zero, zero)
    centroids, group, group_frame = segment_centroids(embedding if target is None else target, segment, frame, is_thing)
    rays = torch.nonzero(group >= 0).squeeze(-1)
    mine, weight = group[rays], confidence[rays]
    squared = (embedding[rays, None, :] - centroids[None]).square().sum(dim=-1)  # [n, G]
    logits = -squared / temperature
    same_frame = group_frame[None, :] == frame[rays, None]
    logits = logits.masked_fill(~same_frame, float("-inf"))
    picked = torch.log_softmax(logits, dim=-1).gather(-1, mine[:, None]).squeeze(-1)
    own = squared.gather(-1, mine[:, None]).squeeze(-1)
    return ContrastiveLosses(contrastive=(-picked * weight).mean(), concentration=(own * weight).mean())


def contrastive_loss_dict(
    embedding: Tensor,
    batch: Dict[str, Tensor],
    confidence: Tensor,
    config: ContrastiveHeadConfig,
    target: Optional[Tensor] = None,
) -> Dict[str, Tensor]:
    """The model's weighted ``contrastive_loss`` and ``concentration_loss`` of a training batch (the segment
    sampler's: ``segment``, ``instance`` >= 0 on thing rays, ``indices`` whose first column is the frame), the
    centroids from ``target`` when given (see ``contrastive_losses``)."""
    frame = batch["indices"][:, 0].to(embedding.device)
    is_thing = batch["instance"] >= 0
    found = contrastive_losses(embedding, batch["segment"], frame, is_thing, confidence, config.temperature, target)
    return {
        "contrastive_loss": config.contrastive_loss_mult * found.contrastive,
        "concentration_loss": config.concentration_loss_mult * found.concentration,
    }
