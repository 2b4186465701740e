"""Scene-level panoptic quality (PQ^scene, Siddiqui et al. 2023) on torchmetrics' PanopticQuality.

All evaluated frames of a scene are treated as one image: their pixels are
concatenated before matching, so a predicted object scores only if it keeps one
id across views. Matching, the IoU > 0.5 rule and the void rules (void pixels
excluded; predicted segments lying mostly on void not counted as false
positives) are torchmetrics', which follows the panopticapi reference. We read
its per-category TP / FP / FN / IoU sums to average over the categories that
occur (as panopticapi does) and to split things from stuff.

Two protocols. By default every category that occurs is scored, so a class of a few hundred pixels (a baseboard
line) weighs as much as the walls. The authors' evaluation script (``util/panoptic_quality.py`` of
nihalsid/panoptic-lifting, which produced the published PQ^scene) first drops each category that covers less than
0.5% of the valid pixels of all frames together, in the predictions or in the ground truth, turning its pixels void
in both: ``min_category_share=AUTHORS_MIN_CATEGORY_SHARE`` scores that way, for figures comparable with the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Set, Tuple

import torch
from torch import Tensor
from torchmetrics.detection import PanopticQuality

from panoptic_nerfstudio.data.panoptic_format import ClassTable

VOID_CATEGORY = -1
"""Category of ground-truth pixels that are not evaluated."""
AUTHORS_MIN_CATEGORY_SHARE = 0.005
"""The authors' evaluation drops categories under this share of the valid pixels (their ``robust`` argument)."""


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
    dropped_categories: Tuple[int, ...] = ()
    """Category ids left out as rarer than ``min_category_share`` (their pixels void in predictions and targets)."""

    def as_dict(self) -> Dict[str, float]:
        out = {}
        for name in ("all", "things", "stuff"):
            part: QualityScores = getattr(self, name)
            suffix = "" if name == "all" else f"_{name}"
            out.update({f"pq{suffix}": part.pq, f"sq{suffix}": part.sq, f"rq{suffix}": part.rq})
        return out


def rare_categories(
    predictions: Sequence[PanopticFrameLabels], targets: Sequence[PanopticFrameLabels], min_share: float
) -> Set[int]:
    """Categories covering less than ``min_share`` of the pixels with a ground-truth label (all frames together) in
    the predictions or in the targets: the classes the authors' evaluation leaves out."""
    if min_share <= 0:
        return set()
    target = torch.cat([f.category.reshape(-1) for f in targets])
    valid = target != VOID_CATEGORY
    predicted = torch.cat([f.category.reshape(-1) for f in predictions])[valid]
    threshold = min_share * int(valid.sum())
    rare: Set[int] = set()
    for labels in (target[valid], predicted):
        ids, counts = labels.unique(return_counts=True)
        rare |= {int(i) for i, n in zip(ids, counts) if i != VOID_CATEGORY and n < threshold}
    return rare


def without_categories(frames: Sequence[PanopticFrameLabels], categories: Set[int]) -> List[PanopticFrameLabels]:
    """The frames with the pixels of ``categories`` made void."""
    if not categories:
        return list(frames)
    left_out = torch.tensor(sorted(categories))
    out = []
    for frame in frames:
        gone = torch.isin(frame.category, left_out)
        category, instance = frame.category.masked_fill(gone, VOID_CATEGORY), frame.instance.masked_fill(gone, 0)
        out.append(PanopticFrameLabels(category, instance))
    return out


def scene_panoptic_quality(
    predictions: Sequence[PanopticFrameLabels],
    targets: Sequence[PanopticFrameLabels],
    classes: ClassTable,
    min_category_share: float = 0.0,
) -> PanopticQualityResult:
    """PQ^scene in percent. Predictions must use scene-consistent instance ids to score on things. Categories under
    ``min_category_share`` of the valid pixels are left out (``AUTHORS_MIN_CATEGORY_SHARE``: the authors' protocol;
    0: every category that occurs is scored)."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError("need one prediction per target frame, and at least one frame")
    dropped = rare_categories(predictions, targets, min_category_share)
    predictions, targets = without_categories(predictions, dropped), without_categories(targets, dropped)
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
        per_category={cid: scores for cid, scores in per_category.items() if cid not in dropped},
        dropped_categories=tuple(sorted(dropped)),
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
