"""Test-time augmentation: run the 2D model on flipped and rescaled copies of each image and merge the per-pixel
class probabilities.

The merged distribution is what Panoptic Lifting's semantic loss needs: its argmax is the pixel's class and the
merged probability of that class is the pixel's confidence (``confidence/``), which down-weights pixels the
augmented views disagree on. Each pass is first turned into a per-pixel distribution at its own resolution, then
brought back to the image's orientation and size, so every pass weighs the same whatever its scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """One test-time view of an image: resized by ``scale`` (relative to the model's input size), maybe mirrored."""

    scale: float = 1.0
    flip: bool = False

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and not self.flip


def tta_augmentations(scales: Sequence[float] = (1.0,), flip: bool = False) -> List[Augmentation]:
    """The identity view first (its panoptic segmentation gives the instances), then every other scale x flip."""
    if any(not s > 0 for s in scales):
        raise ValueError(f"test-time scales must be positive, got {list(scales)}")
    views = [Augmentation()]
    for scale in dict.fromkeys(float(s) for s in scales):
        for mirrored in (False, True) if flip else (False,):
            view = Augmentation(scale, mirrored)
            if not view.is_identity:
                views.append(view)
    return views


def flip_horizontal(x: torch.Tensor) -> torch.Tensor:
    """Mirror along the last (width) axis; its own inverse, so it both applies and undoes a flip."""
    return x.flip(-1)


def pixel_distribution(scores: torch.Tensor, dim: int = 0, void_channel: Optional[int] = None) -> torch.Tensor:
    """Non-negative per-pixel class scores normalised to sum to 1 along ``dim``.

    A pixel no class claims at all (zero total score) has no distribution: it stays all zero, or, with
    ``void_channel``, is certain to be void -- never silently the first class.
    """
    total = scores.sum(dim=dim, keepdim=True)
    empty = total <= torch.finfo(total.dtype).tiny
    distribution = scores / torch.where(empty, torch.ones_like(total), total)
    if void_channel is not None:
        distribution.select(dim, void_channel)[empty.squeeze(dim)] = 1.0
    return distribution


class ProbabilityMerger:
    """Running mean of per-pixel class distributions from several views of one image, at the image's size."""

    def __init__(self, size: Tuple[int, int]):
        self.size = tuple(size)
        """(height, width) of the image the merged map describes."""
        self._sum: torch.Tensor | None = None
        self.count = 0

    def add(self, distribution: torch.Tensor, augmentation: Augmentation = Augmentation()) -> None:
        """Add one view's [C, h, w] distribution, as computed on the augmented image (it is un-flipped and resized
        here; bilinear resizing of a distribution is a convex combination, so it stays a distribution)."""
        if augmentation.flip:
            distribution = flip_horizontal(distribution)
        if tuple(distribution.shape[-2:]) != self.size:
            distribution = F.interpolate(distribution[None].float(), size=self.size, mode="bilinear", align_corners=False)[0]
        distribution = distribution.float()
        self._sum = distribution.clone() if self._sum is None else self._sum.add_(distribution)
        self.count += 1

    def merged(self) -> torch.Tensor:
        """[C, H, W] mean distribution over the added views."""
        if self._sum is None:
            raise ValueError("no view was added")
        return self._sum / self.count


def merge_probabilities(
    distributions: Sequence[torch.Tensor], augmentations: Sequence[Augmentation], size: Tuple[int, int]
) -> torch.Tensor:
    """Mean over views of per-pixel distributions, each undone from its augmentation and resized to ``size``."""
    if len(distributions) != len(augmentations):
        raise ValueError(f"{len(distributions)} maps for {len(augmentations)} augmentations")
    merger = ProbabilityMerger(size)
    for distribution, augmentation in zip(distributions, augmentations):
        merger.add(distribution, augmentation)
    return merger.merged()


def labels_and_confidence(merged: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel chosen channel (argmax over dim 0) and its merged probability, the pixel's confidence."""
    confidence, labels = merged.max(dim=0)
    return labels, confidence.clamp(0.0, 1.0)
