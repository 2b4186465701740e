"""Fuse the merged (TTA) class distribution with the model's panoptic segmentation into one scene-format frame.

The two disagree in places: the panoptic output comes from a single view and the model's own classes, the merged
distribution from every view after label mapping. The rule:

* each pixel's class is the argmax of the merged distribution; the void channel wins -> void;
* a pixel of a stuff class joins that class's single segment of the frame (stuff has one segment per frame, so
  COCO's wall-brick and wall-other-merged both become the one "wall");
* a pixel of a thing class keeps its instance only if the model's panoptic segment there maps to that same class;
  otherwise no instance can be trusted for it and it becomes void (instances are never invented);
* confidence is the merged probability of the chosen class (0 on void pixels);
* a segment's score is the model's score for it (for stuff: the best score of the model segments mapped to that
  class); where the model gives none, the mean confidence over the segment's pixels.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import torch

from panoptic_nerfstudio.data.panoptic_format import VOID_ID, PanopticFrame, SegmentInfo
from panoptic_nerfstudio.segmentation.backend import ModelPanoptic
from panoptic_nerfstudio.segmentation.label_map import VOID, LabelMap
from panoptic_nerfstudio.segmentation.tta_merging import labels_and_confidence


def fuse_panoptic(
    panoptic: ModelPanoptic, merged: torch.Tensor, label_map: LabelMap
) -> Tuple[PanopticFrame, np.ndarray]:
    """The frame and its float32 [H, W] confidence from the model's panoptic output and the merged [K+1, H, W]
    distribution over the map's K categories plus the void channel."""
    num_classes = len(label_map.classes)
    if merged.shape[0] != num_classes + 1:
        raise ValueError(f"merged distribution has {merged.shape[0]} channels, expected {num_classes} + 1 (void)")
    if tuple(merged.shape[1:]) != panoptic.ids.shape:
        raise ValueError(f"merged distribution is {tuple(merged.shape[1:])}, panoptic output {panoptic.ids.shape}")
    labels_t, confidence_t = labels_and_confidence(merged)
    labels = labels_t.cpu().numpy().astype(np.int64)
    confidence = confidence_t.cpu().numpy().astype(np.float32)
    is_thing = np.append(label_map.classes.thing_mask, False)  # void channel last

    base_target = _segment_targets(panoptic, label_map)
    present, inverse = np.unique(panoptic.ids, return_inverse=True)
    inverse = inverse.reshape(panoptic.ids.shape)
    pixel_base_target = np.array([base_target.get(int(i), VOID) for i in present], dtype=np.int64)[inverse]

    ids = np.zeros(labels.shape, dtype=np.int64)
    segments: List[SegmentInfo] = []
    scores_by_id: Dict[int, float] = {s.id: s.score for s in panoptic.segments if s.score is not None}

    def add(mask: np.ndarray, category_index: int, model_scores: List[float]) -> None:
        segment_id = len(segments) + 1
        ids[mask] = segment_id
        score = max(model_scores) if model_scores else float(confidence[mask].mean())
        category = label_map.classes.categories[category_index]
        segments.append(SegmentInfo(segment_id, category.id, category.isthing, float(np.clip(score, 0.0, 1.0))))

    for k in np.unique(labels):
        k = int(k)
        if k == num_classes or is_thing[k]:
            continue
        model_scores = [scores_by_id[i] for i, t in base_target.items() if t == k and i in scores_by_id]
        add(labels == k, k, model_scores)

    instance_pixels = is_thing[labels] & (panoptic.ids != VOID_ID) & (pixel_base_target == labels)
    for segment_id in np.unique(panoptic.ids[instance_pixels]):
        segment_id = int(segment_id)
        mask = instance_pixels & (panoptic.ids == segment_id)
        add(mask, base_target[segment_id], [scores_by_id[segment_id]] if segment_id in scores_by_id else [])

    confidence = np.where(ids != VOID_ID, confidence, 0.0).astype(np.float32)
    return PanopticFrame(ids=ids, segments=segments), confidence


def panoptic_semantics(panoptic: ModelPanoptic, label_map: LabelMap) -> torch.Tensor:
    """A one-hot [K+1, H, W] distribution read off the panoptic output alone (void where the model left void),
    for turning a model's panoptic output into a frame without any class probabilities."""
    num_classes = len(label_map.classes)
    base_target = _segment_targets(panoptic, label_map)
    present, inverse = np.unique(panoptic.ids, return_inverse=True)
    lut = np.array([base_target.get(int(i), VOID) for i in present], dtype=np.int64)
    channel = lut[inverse.reshape(panoptic.ids.shape)]
    channel[channel == VOID] = num_classes
    onehot = torch.nn.functional.one_hot(torch.from_numpy(channel), num_classes + 1)
    return onehot.permute(2, 0, 1).float()


def map_model_panoptic(panoptic: ModelPanoptic, label_map: LabelMap) -> Tuple[PanopticFrame, np.ndarray]:
    """The model's panoptic output alone, mapped to the scene's label set by the same rule."""
    return fuse_panoptic(panoptic, panoptic_semantics(panoptic, label_map), label_map)


def _segment_targets(panoptic: ModelPanoptic, label_map: LabelMap) -> Dict[int, int]:
    """Model segment id -> dense category index (or VOID); void id 0 is absent."""
    return {s.id: label_map.target_of(s.class_name) for s in panoptic.segments if s.id != VOID_ID}
