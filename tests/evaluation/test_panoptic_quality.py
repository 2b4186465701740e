import math

import pytest
import torch

from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable
from panoptic_nerfstudio.evaluation.panoptic_quality import (
    VOID_CATEGORY,
    PanopticFrameLabels,
    frames_with_unique_ids,
    scene_panoptic_quality,
)

CLASSES = ClassTable([Category(1, "wall", False, (0, 0, 0)), Category(5, "chair", True, (0, 0, 0))])


def _frame(category, instance):
    return PanopticFrameLabels(torch.tensor(category), torch.tensor(instance))


# Two frames of a 2x4 image: wall on the left, chairs 7 and 8 on the right.
GT = [
    _frame([[1, 1, 5, 5], [1, 1, 5, 5]], [[0, 0, 7, 7], [0, 0, 8, 8]]),
    _frame([[1, 1, 5, 5], [1, 1, 5, 5]], [[0, 0, 8, 8], [0, 0, 7, 7]]),
]


def test_perfect_prediction_scores_100():
    result = scene_panoptic_quality(GT, GT, CLASSES)
    assert result.all.pq == pytest.approx(100) and result.things.pq == pytest.approx(100)


def test_consistently_renamed_ids_still_score_100():
    renamed = [_frame(f.category.tolist(), torch.where(f.instance == 7, 3, torch.where(f.instance == 8, 42, 0)).tolist()) for f in GT]
    assert scene_panoptic_quality(renamed, GT, CLASSES).things.pq == pytest.approx(100)


def test_ids_inconsistent_across_frames_fail_on_things():
    # frame 2 swaps the ids of the two chairs: per frame perfect, across the scene each chair is split in half
    swapped = [GT[0], _frame(GT[1].category.tolist(), [[0, 0, 7, 7], [0, 0, 8, 8]])]
    result = scene_panoptic_quality(swapped, GT, CLASSES)
    assert result.stuff.pq == pytest.approx(100)
    assert result.things.pq == pytest.approx(0)  # IoU of each half-match is exactly 0.5, not > 0.5
    # per-frame ids made unique (the 2D baseline): 4 predicted chairs vs 2 true ones, none with IoU > 0.5
    unique = frames_with_unique_ids(GT)
    assert scene_panoptic_quality(unique, GT, CLASSES).things.pq == pytest.approx(0)


def test_hand_computed_case_with_void():
    # GT: wall 6 px, chair 9 (4 px), 2 void px. Pred: wall 5 px (+1 over chair), chair 9 missing one px,
    # and a predicted chair 11 sitting entirely on void (ignored, not a false positive).
    gt = [_frame([[1, 1, 1, 5, 5, -1], [1, 1, 1, 5, 5, -1]], [[0, 0, 0, 9, 9, 0], [0, 0, 0, 9, 9, 0]])]
    pred = [_frame([[1, 1, 1, 1, 5, 5], [1, 1, 1, 5, 5, 5]], [[0, 0, 0, 0, 9, 11], [0, 0, 0, 9, 9, 11]])]
    result = scene_panoptic_quality(pred, gt, CLASSES)
    wall_iou, chair_iou = 6 / 7, 3 / 4  # void pixels are excluded from the unions
    assert result.per_category[1].pq == pytest.approx(100 * wall_iou)
    assert result.per_category[5].pq == pytest.approx(100 * chair_iou)  # no FP from the segment on void
    assert result.all.pq == pytest.approx(100 * (wall_iou + chair_iou) / 2)
    assert result.all.sq == pytest.approx(100 * (wall_iou + chair_iou) / 2) and result.all.rq == pytest.approx(100)


def test_absent_categories_are_not_averaged():
    only_wall = [_frame([[1, 1]], [[0, 0]])]
    result = scene_panoptic_quality(only_wall, only_wall, CLASSES)
    assert result.all.categories == 1 and result.all.pq == pytest.approx(100)
    assert math.isnan(result.things.pq)


# 200 pixels in one frame: one void pixel, a chair (id 7) on 2 of the 199 others (1.005%), wall on the rest.
RARE_GT = [_frame([[1] * 99 + [-1], [1] * 98 + [5, 5]], [[0] * 100, [0] * 98 + [7, 7]])]


def test_the_authors_protocol_leaves_out_categories_under_half_a_percent_of_the_valid_pixels():
    """nihalsid/panoptic-lifting scores PQ^scene without the categories under 0.5% of the valid pixels, in the
    predictions or in the ground truth: a field that misses a one-pixel class is not charged for it there, and a
    handful of pixels of a class the scene lacks is not a false positive."""
    missed = [_frame([[1] * 100, [1] * 100], [[0] * 100, [0] * 100])]  # the chair labelled wall
    wall_iou = 197 / 199  # the void pixel is outside the union
    assert scene_panoptic_quality(missed, RARE_GT, CLASSES).all.pq == pytest.approx(100 * wall_iou / 2)
    kept = scene_panoptic_quality(missed, RARE_GT, CLASSES, min_category_share=0.005)
    assert kept.dropped_categories == () and kept.all.pq == pytest.approx(100 * wall_iou / 2)
    result = scene_panoptic_quality(missed, RARE_GT, CLASSES, min_category_share=0.011)
    assert result.dropped_categories == (5,) and result.per_category.keys() == {1}
    assert result.all.pq == pytest.approx(100)  # the chair's pixels void on both sides: the wall is all right
    # a rare class of the prediction alone is left out too (its pixels void), as in the authors' evaluation
    stray = [_frame([[1] * 99 + [5], [1] * 100], [[0] * 99 + [3], [0] * 100])]
    only_wall = [_frame([[1] * 100, [1] * 100], [[0] * 100, [0] * 100])]
    assert scene_panoptic_quality(stray, only_wall, CLASSES).things.pq == pytest.approx(0)  # a false positive
    left_out = scene_panoptic_quality(stray, only_wall, CLASSES, min_category_share=0.01)  # 1 pixel of 200
    assert left_out.dropped_categories == (5,) and math.isnan(left_out.things.pq)


def test_the_authors_protocol_changes_nothing_when_every_category_is_common():
    for share in (0.0, 0.005):
        result = scene_panoptic_quality(GT, GT, CLASSES, min_category_share=share)
        assert result.dropped_categories == () and result.all.categories == 2
