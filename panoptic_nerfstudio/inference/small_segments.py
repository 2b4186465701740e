"""Per-image clean-up of the rule's labels: connected pieces too small to be a segment take their surroundings' label.

A rendered label map has speckles: islands of a few pixels where a floater or a poorly
constrained part of the field wins a wrong class or instance. A 2D panoptic network's own
inference never outputs them (Mask2Former drops segments under an area threshold); here
each connected piece of one (class, instance) label smaller than ``min_pixels`` takes the
label of the nearest pixel of a piece that is large enough. Thin structures stay: a pole a
pixel wide is one long piece, not many small ones.

It needs image neighbourhoods, so it applies to full rendered images (viewer, ``ns-render``,
evaluation, mask export) and not to loose rays (a click, point-cloud export).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from panoptic_nerfstudio.inference.panoptic_rule import PanopticPrediction


def small_pieces(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """[H, W] bool: pixels in 4-connected pieces of one label with fewer than ``min_pixels`` pixels."""
    small = np.zeros(labels.shape, dtype=bool)
    for value in np.unique(labels):
        pieces, count = ndimage.label(labels == value)
        if count == 0:
            continue
        sizes = np.bincount(pieces.ravel(), minlength=count + 1)
        sizes[0] = min_pixels  # background of this label's mask
        small |= sizes[pieces] < min_pixels
    return small


def remove_small_segments(prediction: PanopticPrediction, min_pixels: int) -> PanopticPrediction:
    """The prediction of one image ([H, W] fields) with every small piece relabelled from its nearest kept pixel."""
    if min_pixels <= 1 or prediction.semantics.dim() != 2 or min(prediction.semantics.shape) < 2:
        return prediction
    semantics, instance = prediction.semantics.cpu().numpy(), prediction.instance.cpu().numpy()
    labels = semantics.astype(np.int64) * (int(instance.max()) + 1) + instance
    small = small_pieces(labels, min_pixels)
    if not small.any() or small.all():
        return prediction
    _, (rows, cols) = ndimage.distance_transform_edt(small, return_indices=True)
    source = torch.from_numpy(rows * small.shape[1] + cols).to(prediction.semantics.device).reshape(-1)

    def take(values: torch.Tensor) -> torch.Tensor:
        return values.reshape(-1)[source].reshape(values.shape)

    return PanopticPrediction(
        semantics=take(prediction.semantics),
        instance=take(prediction.instance),
        confidence=take(prediction.confidence),
        fallback=take(prediction.fallback),
        fallback_confidence=take(prediction.fallback_confidence),
    )
