"""The authors' label images as our panoptic frames: machine masks, ground truth, and resizing as their loader does.

Machine masks: class + instance images become one COCO panoptic mask per frame. Each
thing instance is a segment; all pixels of one stuff class are one segment; class 0 and
the frame's ``invalid`` pixels are void; ids are renumbered 1..n per frame. Ground truth
keeps scene-wide ids ``instance * 256 + class`` for things and ``class`` for stuff.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import VOID_ID, ClassTable, PanopticFrame, SegmentInfo

GT_INSTANCE_STRIDE = 256
"""Ground-truth ids are ``instance * 256 + class``: readable, and unique for their < 256 classes."""

MAX_GT_INSTANCE = (256**3 - 1) // GT_INSTANCE_STRIDE
"""Largest ground-truth instance id that still fits a 24-bit segment id."""


def thing_lookup(classes: ClassTable) -> np.ndarray:
    """Bool per class index 0..N (index = their class id = our category id; 0 = void, not a thing)."""
    lut = np.zeros(max(c.id for c in classes.categories) + 1, dtype=bool)
    for category in classes.categories:
        lut[category.id] = category.isthing
    return lut


def _segment_keys(semantics: np.ndarray, instance: np.ndarray, things: np.ndarray) -> np.ndarray:
    """``instance * 256 + class`` for thing pixels, ``class`` for stuff, 0 for void: one key per segment."""
    return np.where(things[semantics], instance, 0) * GT_INSTANCE_STRIDE + semantics


def machine_frame(
    semantics: np.ndarray,
    instance: np.ndarray,
    valid: np.ndarray,
    confidence: np.ndarray,
    classes: ClassTable,
) -> Tuple[PanopticFrame, np.ndarray]:
    """One frame's Mask2Former class + instance maps as a panoptic mask with per-frame ids 1..n, and its
    confidence with void set to 0. A thing pixel without an instance joins its class's instance-less segment."""
    keys = _segment_keys(semantics, instance, thing_lookup(classes))
    keys[~valid] = VOID_ID
    unique, inverse = np.unique(keys, return_inverse=True)
    offset = 0 if unique[0] == VOID_ID else 1  # id of unique[j] is j + offset; void stays 0
    ids = inverse.reshape(keys.shape) + offset
    confidence = np.where(ids == VOID_ID, 0.0, confidence).astype(np.float32)
    counts = np.bincount(ids.ravel())
    sums = np.bincount(ids.ravel(), weights=confidence.ravel().astype(np.float64))
    segments = []
    for j, key in enumerate(unique.tolist()):
        if key == VOID_ID:
            continue
        sid = j + offset
        category = classes.by_id(key % GT_INSTANCE_STRIDE)
        score = float(np.clip(sums[sid] / counts[sid], 0.0, 1.0))
        segments.append(SegmentInfo(sid, category.id, category.isthing, round(score, 6)))
    return PanopticFrame(ids=ids.astype(np.int64), segments=segments), confidence


def ground_truth_frame(semantics: np.ndarray, instance: np.ndarray, classes: ClassTable) -> PanopticFrame:
    """Ground truth with scene-wide ids: ``instance * 256 + class`` for things, ``class`` for stuff."""
    ids = _segment_keys(semantics, instance, thing_lookup(classes))
    segments = []
    for key in np.unique(ids).tolist():
        if key == VOID_ID:
            continue
        category = classes.by_id(key % GT_INSTANCE_STRIDE)
        segments.append(SegmentInfo(int(key), category.id, category.isthing, 1.0))
    return PanopticFrame(ids=ids.astype(np.int64), segments=segments)


# ----------------------------------------------------------------------------- resizing


def resize_labels(labels: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize to (width, height), as their loader resizes label images."""
    if labels.shape[::-1] == tuple(size):
        return labels
    resized = Image.fromarray(labels.astype(np.int32)).resize(size, Image.NEAREST)  # 32-bit "I" image
    return np.asarray(resized).astype(np.int64)


def resize_mask(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    return resize_labels(mask.astype(np.int64), size).astype(bool)


def resize_confidence(confidence: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Bilinear resize to (width, height), as their loader resizes probability maps."""
    if confidence.shape[::-1] == tuple(size):
        return confidence
    tensor = torch.from_numpy(np.ascontiguousarray(confidence, dtype=np.float32))[None, None]
    resized = torch.nn.functional.interpolate(tensor, size=(size[1], size[0]), mode="bilinear", align_corners=False)
    return resized[0, 0].numpy().clip(0.0, 1.0)
