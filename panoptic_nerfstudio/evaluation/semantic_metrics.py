"""Semantic segmentation metrics (mIoU) from torchmetrics' confusion matrix."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.classification import multiclass_confusion_matrix

IGNORE = -1


def confusion_matrix(predicted: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """[C, C] counts (rows = target, columns = prediction); target pixels equal to -1 are ignored."""
    return multiclass_confusion_matrix(
        predicted.reshape(-1).long(), target.reshape(-1).long(), num_classes, ignore_index=IGNORE, normalize=None
    )


def iou_from_confusion(confusion: Tensor) -> Tensor:
    """Per-class IoU; NaN for classes absent from both target and prediction."""
    confusion = confusion.double()
    hits = confusion.diagonal()
    union = confusion.sum(0) + confusion.sum(1) - hits
    return torch.where(union > 0, hits / union.clamp_min(1), torch.full_like(hits, float("nan")))


def mean_iou(predicted: Tensor, target: Tensor, num_classes: int) -> float:
    """Mean IoU over the classes present in target or prediction, in percent."""
    iou = iou_from_confusion(confusion_matrix(predicted, target, num_classes))
    present = ~torch.isnan(iou)
    return float(iou[present].mean() * 100.0) if bool(present.any()) else float("nan")
