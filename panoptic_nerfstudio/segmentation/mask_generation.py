"""From a batch of images to scene-format frames: run every test-time view, map and merge class probabilities,
fuse with the identity view's panoptic segmentation.

Per view and image, the model's class scores are summed into the scene's categories (plus a void channel) and
normalised to a per-pixel distribution at the view's own resolution; the views' distributions are averaged at the
image's size (:mod:`tta_merging`), and :func:`fuse_panoptic` turns the result into a frame and its confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

from panoptic_nerfstudio.data.panoptic_format import PanopticFrame
from panoptic_nerfstudio.segmentation.backend import ModelPanoptic, SegmentationBackend
from panoptic_nerfstudio.segmentation.label_map import LabelAssignment, LabelMap
from panoptic_nerfstudio.segmentation.panoptic_fusion import fuse_panoptic
from panoptic_nerfstudio.segmentation.tta_merging import Augmentation, ProbabilityMerger, pixel_distribution


@dataclass
class SegmentedFrame:
    frame: PanopticFrame
    confidence: np.ndarray
    """float32 [H, W] in [0, 1]: merged probability of each pixel's class, 0 on void."""


class MaskGenerator:
    """A backend plus a label map plus a set of test-time views."""

    def __init__(self, backend: SegmentationBackend, label_map: LabelMap, views: Sequence[Augmentation]):
        if not views or not views[0].is_identity:
            raise ValueError("the first view must be the identity (its panoptic segmentation gives the instances)")
        self.backend = backend
        self.label_map = label_map
        self.views = list(views)
        self.assignment: LabelAssignment = label_map.assign(backend.class_names)

    def segment(self, images: Sequence[np.ndarray]) -> List[SegmentedFrame]:
        """Scene-format frames for [H, W, 3] uint8 RGB images, in order."""
        mergers = [ProbabilityMerger(image.shape[:2]) for image in images]
        panoptics: List[ModelPanoptic] = []
        for view in self.views:
            outputs = self.backend.run(images, view, panoptic=view.is_identity)
            for merger, output in zip(mergers, outputs):
                mapped = self.assignment.project(output.class_scores.float(), dim=0)
                distribution = pixel_distribution(mapped, dim=0, void_channel=self.assignment.void_channel)
                merger.add(distribution, view)
                if view.is_identity:
                    assert output.panoptic is not None, "backend gave no panoptic output for the identity view"
                    panoptics.append(output.panoptic)
        results = []
        for merger, panoptic in zip(mergers, panoptics):
            frame, confidence = fuse_panoptic(panoptic, merger.merged(), self.label_map)
            results.append(SegmentedFrame(frame, confidence))
        return results
