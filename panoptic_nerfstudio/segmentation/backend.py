"""What every 2D segmentation backend (transformers, detectron2) hands to mask generation.

A backend runs one test-time view over a batch of images and returns, per image, the model's per-pixel class
scores and (for the identity view only) its panoptic segmentation, with class *names* so that a label map can be
applied whatever the model's label ids are. Everything after that -- TTA merging, label mapping, fusion into the
scene format -- is backend-independent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Protocol, Sequence

import numpy as np
import torch

from panoptic_nerfstudio.segmentation.tta_merging import Augmentation


class BackendUnavailableError(RuntimeError):
    """A backend cannot run here (library not installed, weights not available). The message says how to fix it."""


@dataclass(frozen=True)
class PanopticThresholds:
    """Mask2Former's panoptic inference settings (its COCO panoptic test defaults)."""

    object_score: float = 0.8
    """Queries whose best class probability is at most this are dropped."""
    overlap: float = 0.8
    """A query keeps its segment only if at least this fraction of its own mask survives overlaps."""
    mask: float = 0.5
    """Mask probability above which a pixel belongs to a query's mask."""


@dataclass(frozen=True)
class ModelSegment:
    """One segment of the model's own panoptic output."""

    id: int
    class_name: str
    score: Optional[float] = None
    """The model's segment score, where it gives one (detectron2's Mask2Former does not)."""


@dataclass
class ModelPanoptic:
    """The model's panoptic segmentation of one image, at the image's size."""

    ids: np.ndarray
    """[H, W] int64 segment ids, 0 = void."""
    segments: List[ModelSegment] = field(default_factory=list)


@dataclass
class ViewOutput:
    """One image under one test-time view."""

    class_scores: torch.Tensor
    """[C_model, h, w] non-negative per-pixel class scores of the *augmented* image (any resolution, still mirrored
    if the view is): Mask2Former's semantic inference, sum over queries of class probability x mask probability."""
    panoptic: Optional[ModelPanoptic] = None
    """Only for the identity view."""


class SegmentationBackend(Protocol):
    class_names: List[str]
    """The model's classes; index = the model's label id = channel of ``class_scores``."""

    def run(self, images: Sequence[np.ndarray], view: Augmentation, panoptic: bool) -> List[ViewOutput]:
        """Run one view over a batch of [H, W, 3] uint8 RGB images."""
        ...
