"""Which thing objects PQ^scene leaves unmatched, and why: where most of their pixels went.

PQ^scene says how much was lost, not what. Over all evaluated frames together (3D ids are scene-wide), a
ground-truth thing object is matched by the predicted segment of its class that covers it with IoU > 0.5, as the
metric matches (void ground truth left out of the union, as panopticapi does). An object left unmatched is named by
the prediction that holds most of its pixels:

- **lost to stuff**: a stuff class (a pole or lamp the field paints as the wall behind it);
- **partly labelled**: an unmatched instance of its own class, which covers too little of it or spills too far
  beyond it for IoU > 0.5 (half a lamp labelled, the rest wall);
- **merged**: an instance of its own class that PQ^scene matches to another object;
- **wrong class**: an instance of another thing class.

A predicted thing segment left unmatched (a false positive; not one lying mostly on void, which PQ does not count)
is named by the ground truth under most of its pixels: **on stuff**, **partly labelled** (an object of its class
that nothing matches), **second piece** (an object of its class that another instance matches: a split), or
**wrong class**.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor

from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.evaluation.panoptic_quality import VOID_CATEGORY, PanopticFrameLabels

LOST_TO_STUFF, PARTLY_LABELLED, MERGED, WRONG_CLASS = "lost to stuff", "partly labelled", "merged", "wrong class"
MISSED_CAUSES = (LOST_TO_STUFF, PARTLY_LABELLED, MERGED, WRONG_CLASS)
ON_STUFF, SECOND_PIECE = "on stuff", "second piece"
FALSE_INSTANCE_CAUSES = (ON_STUFF, PARTLY_LABELLED, SECOND_PIECE, WRONG_CLASS)
_STUFF = -1  # key of every stuff pixel (ground truth or prediction)
_SHIFT = 32  # key = category << _SHIFT | instance


@dataclass
class UnmatchedSegment:
    """A thing segment over the whole scene that PQ^scene does not match."""

    category: int
    """Its category id."""
    instance: int
    """Its instance id (ground truth's, or the predicted 3D instance)."""
    pixels: int
    """Its pixels over all frames (ground-truth void left out)."""
    cause: str
    """Where most of its pixels went (the module's docstring)."""
    best_iou: float
    """Its highest IoU with a segment of its class on the other side (0.5 or less)."""


@dataclass
class MatchReport:
    missed: List[UnmatchedSegment]
    """Ground-truth thing objects left unmatched, largest first."""
    false_instances: List[UnmatchedSegment]
    """Predicted thing segments left unmatched (false positives), largest first."""

    def counts(self) -> Dict[str, Dict[str, int]]:
        """{"missed": {cause: objects}, "false_instances": {cause: segments}}, every cause listed."""
        missed, false = Counter(s.cause for s in self.missed), Counter(s.cause for s in self.false_instances)
        return {
            "missed": {cause: missed[cause] for cause in MISSED_CAUSES},
            "false_instances": {cause: false[cause] for cause in FALSE_INSTANCE_CAUSES},
        }

    def metrics(self) -> Dict[str, int]:
        """The counts under their metrics.json keys (``metric_key``): ``missed_lost_to_stuff``, ..."""
        return {metric_key(side, cause): n for side, by_cause in self.counts().items() for cause, n in by_cause.items()}

    def as_list(self, classes: ClassTable) -> List[Dict[str, object]]:
        """Both lists for metrics.json, each entry named by its class."""
        return [
            {"side": side, "class": classes.by_id(s.category).name, "instance": s.instance, "pixels": s.pixels,
             "cause": s.cause, "best_iou": round(s.best_iou, 3)}
            for side, segments in (("missed", self.missed), ("false instance", self.false_instances))
            for s in segments
        ]  # fmt: skip


def metric_key(side: str, cause: str) -> str:
    """The metrics.json key of a count: ``side`` "missed" or "false_instances", then the cause, words joined by "_"."""
    return f"{side}_{cause.replace(' ', '_')}"


def match_report(
    predictions: Sequence[PanopticFrameLabels], targets: Sequence[PanopticFrameLabels], classes: ClassTable
) -> MatchReport:
    """The unmatched thing objects and predicted thing segments of a scene, each with its cause."""
    things = torch.from_numpy(classes.category_ids[classes.thing_mask]).long()
    target_keys = torch.cat([_keys(t, things) for t in targets])
    prediction_keys = torch.cat([_keys(p, things) for p in predictions])
    valid = torch.cat([t.category.reshape(-1) != VOID_CATEGORY for t in targets])
    predicted_area = Counter(dict(zip(*_unique_counts(prediction_keys))))  # void included: PQ's false-positive rule
    pairs, overlap = torch.unique(torch.stack([target_keys[valid], prediction_keys[valid]]), dim=1, return_counts=True)
    pairs_list = [(int(a), int(b)) for a, b in pairs.T.tolist()]
    inter = dict(zip(pairs_list, overlap.tolist()))
    target_area, valid_area = Counter(), Counter()
    for (g, p), n in inter.items():
        target_area[g] += n
        valid_area[p] += n
    iou = {
        (g, p): n / (target_area[g] + valid_area[p] - n)
        for (g, p), n in inter.items()
        if g != _STUFF and p != _STUFF and g >> _SHIFT == p >> _SHIFT
    }
    matched_target = {g: p for (g, p), value in iou.items() if value > 0.5}  # IoU > 0.5: unique both ways
    matched_prediction = {p: g for g, p in matched_target.items()}

    def best(key: int, side: int) -> float:
        return max((value for pair, value in iou.items() if pair[side] == key), default=0.0)

    def holder(key: int, side: int) -> int:
        """The other side's segment holding most of the key's pixels (the smaller key on a tie)."""
        shares = ((n, pair[1 - side]) for pair, n in inter.items() if pair[side] == key)
        return max(shares, key=lambda share: (share[0], -share[1]))[1]

    missed = [
        _segment(g, target_area[g], _cause(g, holder(g, 0), matched_prediction, LOST_TO_STUFF, MERGED), best(g, 0))
        for g in target_area
        if g != _STUFF and g not in matched_target
    ]
    false_instances = [
        _segment(p, valid_area[p], _cause(p, holder(p, 1), matched_target, ON_STUFF, SECOND_PIECE), best(p, 1))
        for p in predicted_area
        if p != _STUFF and p not in matched_prediction and valid_area[p] * 2 >= predicted_area[p]
    ]  # (a segment mostly on void is no false positive in PQ)
    return MatchReport(
        missed=sorted(missed, key=lambda s: -s.pixels), false_instances=sorted(false_instances, key=lambda s: -s.pixels)
    )


def _keys(frame: PanopticFrameLabels, things: Tensor) -> Tensor:
    """[H * W] key of each pixel's thing segment (category << _SHIFT | instance), _STUFF where it is none."""
    category, instance = frame.category.reshape(-1).long(), frame.instance.reshape(-1).long()
    is_thing = torch.isin(category, things) & (instance > 0)
    return torch.where(is_thing, (category << _SHIFT) | instance, torch.full_like(category, _STUFF))


def _unique_counts(keys: Tensor) -> Tuple[List[int], List[int]]:
    values, counts = torch.unique(keys, return_counts=True)
    return values.tolist(), counts.tolist()


def _segment(key: int, pixels: int, cause: str, best_iou: float) -> UnmatchedSegment:
    return UnmatchedSegment(key >> _SHIFT, key & ((1 << _SHIFT) - 1), pixels, cause, best_iou)


def _cause(key: int, holder: int, matched: Dict[int, int], on_stuff: str, matched_elsewhere: str) -> str:
    """Why segment ``key`` is unmatched, from ``holder``, the segment on the other side holding most of its pixels
    (``matched``: the other side's matched segments): ``on_stuff`` when that is stuff, WRONG_CLASS when of another
    class, ``matched_elsewhere`` when PQ^scene matches it to another segment, PARTLY_LABELLED when it is unmatched
    too."""
    if holder == _STUFF:
        return on_stuff
    if holder >> _SHIFT != key >> _SHIFT:
        return WRONG_CLASS
    return matched_elsewhere if holder in matched else PARTLY_LABELLED
