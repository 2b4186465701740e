"""Rendering per-sample categorical fields into per-ray distributions, on the rays' heaviest samples."""

from __future__ import annotations

import torch
from torch import Tensor


def heaviest_samples(weights: Tensor, count: int) -> Tensor:
    """[..., count] indices of each ray's samples with the largest volume weights (all samples if count <= 0).

    The segmentation fields are rendered with these samples only: the heads cost in
    proportion to the samples they see, and the few samples near the surface carry
    nearly all of a ray's weight. Bounded rendering renormalises by the weight kept.
    """
    samples = weights.shape[-2]
    if count <= 0 or count >= samples:
        return torch.arange(samples, device=weights.device).expand(*weights.shape[:-2], samples)
    return weights[..., 0].topk(count, dim=-1).indices


def take_samples(values: Tensor, index: Tensor) -> Tensor:
    """Gather per-sample values [..., samples, D] at sample indices [..., k]."""
    return torch.gather(values, -2, index[..., None].expand(*index.shape, values.shape[-1]))


def render_distribution(logits: Tensor, weights: Tensor, bounded: bool = True, eps: float = 1e-6) -> Tensor:
    """Volume-render a per-sample categorical field into a per-ray distribution.

    Bounded (the paper): softmax per sample, then the weighted sum of
    probabilities, renormalised by the accumulated weight (a ray through empty
    space gets the uniform distribution instead of zeros). Unbounded (ablation):
    the weighted sum of logits, softmax afterwards.
    """
    if bounded:
        rendered = torch.sum(weights * torch.softmax(logits, dim=-1), dim=-2)
        accumulation = torch.sum(weights, dim=-2)
        return (rendered + eps / logits.shape[-1]) / (accumulation + eps)
    return torch.softmax(torch.sum(weights * logits, dim=-2), dim=-1)
