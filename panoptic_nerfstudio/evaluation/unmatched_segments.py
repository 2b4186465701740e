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

    def as_list(self, classes: ClassTable) -> List[Dict[str, object]]:
        """Both lists for metrics.json, each entry named by its class."""
        return [
            {"side": side, "class": classes.by_id(s.category).name, "instance": s.instance, "pixels": s.pixels,
             "cause": s.cause, "best_iou": round(s.best_iou, 3)}
            for side, segments in (("missed", self.missed), ("false instance", self.false_instances))
            for s in segments
        ]  # fmt: skip


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

    missed = []
    for g in (key for key in target_area if key != _STUFF and key not in matched_target):
        holder = max(((n, p) for (t, p), n in inter.items() if t == g), key=lambda item: (item[0], -item[1]))[1]
        missed.append(_segment(g, target_area[g], _missed_cause(g, holder, matched_prediction), best(g, 0)))
    false_instances = []
    for p in (key for key in predicted_area if key != _STUFF and key not in matched_prediction):
        if valid_area[p] * 2 < predicted_area[p]:  # mostly on void: PQ counts no false positive
            continue
        holder = max(((n, g) for (g, q), n in inter.items() if q == p), key=lambda item: (item[0], -item[1]))[1]
        false_instances.append(_segment(p, valid_area[p], _false_cause(p, holder, matched_target), best(p, 1)))
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


def _missed_cause(target: int, holder: int, matched_prediction: Dict[int, int]) -> str:
    if holder == _STUFF:
        return LOST_TO_STUFF
    if holder >> _SHIFT != target >> _SHIFT:
        return WRONG_CLASS
    return MERGED if holder in matched_prediction else PARTLY_LABELLED


def _false_cause(prediction: int, holder: int, matched_target: Dict[int, int]) -> str:
    if holder == _STUFF:
        return ON_STUFF
    if holder >> _SHIFT != prediction >> _SHIFT:
        return WRONG_CLASS
    return SECOND_PIECE if holder in matched_target else PARTLY_LABELLED
