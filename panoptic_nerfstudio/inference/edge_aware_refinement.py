"""Edge-aware refinement of a rendered class distribution, guided by the rendered image and depth.

The segmentation heads' grid is coarser than the density field: a class bleeds a few pixels
across an object's outline (floor beside a chair or a cabinet's base reads as the furniture),
while the rendered colour and depth, made by the finer density field, keep the outline sharp.
A few mean-field steps of a dense CRF with a Potts model and a bilateral kernel (Krähenbühl and
Koltun, NeurIPS 2011) move the bleeding labels back: each pixel's class probabilities are
multiplied by the exponentiated, kernel-weighted mean of its neighbours' current probabilities,
where neighbours of like colour and depth weigh most. A pixel changes class where its like
neighbours mostly say another class and its own odds are weaker than their vote; neighbours
across a depth or colour edge barely count, so a thin pole in front of a wall is not voted
away by the wall around it.

Only the class distribution is refined, not the slots: refining the slots moved pixels between
touching objects of one class (the crowded room's chairs merged more). It needs image
neighbourhoods, so it applies to full rendered images (viewer, ``ns-render``, evaluation, mask
export), not to loose rays, and not to the instance table's calibration, which sees the
unrefined distributions. Written here in torch: no dense-CRF library is a dependency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class EdgeAwareRefinementConfig:
    """Mean-field refinement of each rendered image's class distribution (``inference/edge_aware_refinement.py``)."""

    enabled: bool = True
    """Refine the class distribution of full rendered images before the inference rule (False: as rendered)."""
    radius: int = 3
    """Neighbourhood half-width in pixels: a (2 radius + 1)^2 window around each pixel."""
    spatial_sigma: float = 3.0
    """Pixel distance at which a neighbour's weight falls to exp(-1/2)."""
    color_sigma: float = 0.2
    """Rendered RGB difference (0-1 per channel, Euclidean) at which a neighbour's weight falls to exp(-1/2)."""
    depth_sigma: float = 0.2
    """Difference of log rendered depth (about a relative depth difference) at which the weight falls to exp(-1/2)."""
    strength: float = 10.0
    """Weight of the neighbours' message against the pixel's own log probabilities (the Potts compatibility)."""
    iterations: int = 3
    """Mean-field steps."""


def window_offsets(radius: int) -> Iterator[Tuple[int, int]]:
    """Pixel offsets of a (2 radius + 1)^2 window, the centre left out."""
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if (dy, dx) != (0, 0):
                yield dy, dx


def shifted(image: Tensor, radius: int, dy: int, dx: int) -> Tensor:
    """[C, H, W] view of a ``radius``-padded [C, H + 2r, W + 2r] image at offset (dy, dx) from each pixel."""
    height, width = image.shape[-2] - 2 * radius, image.shape[-1] - 2 * radius
    return image[:, radius + dy : radius + dy + height, radius + dx : radius + dx + width]


def refine_distribution(probs: Tensor, guide: Tensor, config: EdgeAwareRefinementConfig, eps: float = 1e-6) -> Tensor:
    """[H, W, C] distribution after ``config.iterations`` mean-field steps Q <- softmax(log P + strength * M), M the
    neighbours' Q averaged with weights exp(-|guide difference|^2 / 2 - pixel distance^2 / 2 spatial_sigma^2);
    ``guide`` [H, W, G] is already divided by its sigmas. Neighbours outside the image count for nothing."""
    r = config.radius
    unary = torch.log(probs.clamp_min(eps)).permute(2, 0, 1)
    centre = guide.permute(2, 0, 1)
    padded_guide = F.pad(centre, (r, r, r, r), value=float("nan"))
    q = probs.permute(2, 0, 1)
    for _ in range(config.iterations):
        padded = F.pad(q, (r, r, r, r))
        message, total = torch.zeros_like(q), torch.full_like(q[0], eps)
        for dy, dx in window_offsets(r):  # weights made again each step: memory of one image, not of the window
            difference = ((shifted(padded_guide, r, dy, dx) - centre) ** 2).sum(dim=0)
            weight = torch.exp(-0.5 * difference - (dy * dy + dx * dx) / (2 * config.spatial_sigma**2))
            weight = torch.nan_to_num(weight, nan=0.0)
            message += weight * shifted(padded, r, dy, dx)
            total += weight
        q = torch.softmax(unary + config.strength * message / total, dim=0)
    return q.permute(1, 2, 0)


def refined_semantics(outputs: Dict[str, Tensor], config: EdgeAwareRefinementConfig) -> Tensor:
    """The class distribution of rendered ``outputs`` refined by the image's rendered RGB and depth; as rendered when
    refinement is off or the outputs are not a full image (loose rays, a click)."""
    probs = outputs["semantics"]
    if not config.enabled or config.iterations <= 0 or "rgb" not in outputs or "depth" not in outputs:
        return probs
    if probs.dim() != 3 or min(probs.shape[:2]) < 2:
        return probs
    log_depth = torch.log(outputs["depth"].clamp_min(1e-3))
    guide = torch.cat([outputs["rgb"] / config.color_sigma, log_depth / config.depth_sigma], dim=-1)
    return refine_distribution(probs, guide.to(probs.dtype), config)
