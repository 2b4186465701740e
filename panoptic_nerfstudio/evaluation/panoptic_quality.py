"""Scene-level panoptic quality (PQ^scene, Siddiqui et al. 2023) on torchmetrics' PanopticQuality.

All evaluated frames of a scene are treated as one image: their pixels are
concatenated before matching, so a predicted object scores only if it keeps one
id across views. Matching, the IoU > 0.5 rule and the void rules (void pixels
excluded; predicted segments lying mostly on void not counted as false
positives) are torchmetrics', which follows the panopticapi reference. We read
its per-category TP / FP / FN / IoU sums to average over the categories that
occur (as panopticapi does) and to split things from stuff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import torch
from torch import Tensor
from torchmetrics.detection import PanopticQuality

from panoptic_nerfstudio.data.panoptic_format import ClassTable

VOID_CATEGORY = -1
"""Category of ground-truth pixels that are not evaluated."""


@dataclass
class PanopticFrameLabels:
    """One frame as (category id, instance id) per pixel; stuff instance ids are ignored."""

    category: Tensor
    """[H, W] long category ids of the class table, VOID_CATEGORY for void."""
    instance: Tensor
    """[H, W] long instance ids."""


@dataclass
class QualityScores:
    pq: float
    sq: float
    rq: float
    categories: int


@dataclass
class PanopticQualityResult:
    all: QualityScores
    things: QualityScores
    stuff: QualityScores
    per_category: Dict[int, QualityScores] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, float]:
        out = {}
        for name in ("all", "things", "stuff"):
            part: QualityScores = getattr(self, name)
            suffix = "" if name == "all" else f"_{name}"
            out.update({f"pq{suffix}": part.pq, f"sq{suffix}": part.sq, f"rq{suffix}": part.rq})
        return out


def scene_panoptic_quality(
    predictions: Sequence[PanopticFrameLabels], targets: Sequence[PanopticFrameLabels], classes: ClassTable
) -> PanopticQualityResult:
    """PQ^scene in percent. Predictions must use scene-consistent instance ids to score on things."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError("need one prediction per target frame, and at least one frame")
    things = {c.id for c in classes.categories if c.isthing}
    stuffs = {c.id for c in classes.categories if not c.isthing}
    metric = PanopticQuality(things=things, stuffs=stuffs, allow_unknown_preds_category=True)
    void = metric.void_color

    def stack(frames: Sequence[PanopticFrameLabels]) -> Tensor:
        points = [torch.stack([f.category.reshape(-1), f.instance.reshape(-1)], dim=-1).long() for f in frames]
        flat = torch.cat(points)
        flat[flat[:, 0] == VOID_CATEGORY] = torch.tensor(void)
        return flat[None]

    metric.update(stack(predictions), stack(targets))
    # The metric's state rows follow its own category order (the `cat_id_to_continuous_id` it keeps).
    ids = sorted(things | stuffs, key=metric.cat_id_to_continuous_id.__getitem__)
    tp, fp, fn = (s.double() for s in (metric.true_positives, metric.false_positives, metric.false_negatives))
    iou = metric.iou_sum.double()
    per_category = {cid: _scores(iou[i : i + 1], tp[i : i + 1], fp[i : i + 1], fn[i : i + 1]) for i, cid in enumerate(ids)}
    thing_rows = torch.tensor([cid in things for cid in ids])
    return PanopticQualityResult(
        all=_scores(iou, tp, fp, fn),
        things=_scores(iou[thing_rows], tp[thing_rows], fp[thing_rows], fn[thing_rows]),
        stuff=_scores(iou[~thing_rows], tp[~thing_rows], fp[~thing_rows], fn[~thing_rows]),
        per_category=per_category,
    )


def _scores(iou: Tensor, tp: Tensor, fp: Tensor, fn: Tensor) -> QualityScores:
    """Means over categories that occur (TP + FP + FN > 0), in percent; NaN if none occur."""
    present = (tp + fp + fn) > 0
    if not bool(present.any()):
        nan = float("nan")
        return QualityScores(nan, nan, nan, 0)
    sq = torch.where(tp > 0, iou / tp.clamp_min(1), torch.zeros_like(iou))
    rq = tp / (tp + 0.5 * fp + 0.5 * fn).clamp_min(1e-12)
    pq = sq * rq
    return QualityScores(
        pq=float(pq[present].mean() * 100),
        sq=float(sq[present].mean() * 100),
        rq=float(rq[present].mean() * 100),
        categories=int(present.sum()),
    )


def frames_with_unique_ids(frames: List[PanopticFrameLabels]) -> List[PanopticFrameLabels]:
    """Make per-frame ids distinct across frames (how 2D masks with per-frame ids are scored at scene level)."""
    out = []
    for n, frame in enumerate(frames):
        shift = (n + 1) * (int(max(f.instance.max() for f in frames)) + 1)
        out.append(PanopticFrameLabels(frame.category, torch.where(frame.instance > 0, frame.instance + shift, frame.instance)))
    return out
