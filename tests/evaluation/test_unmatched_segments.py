"""Unmatched objects and predicted instances, each named by where its pixels went, on hand-made scenes."""

import torch

from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable
from panoptic_nerfstudio.evaluation.unmatched_segments import match_report
from panoptic_nerfstudio.evaluation.panoptic_quality import VOID_CATEGORY, PanopticFrameLabels, scene_panoptic_quality

WALL, CHAIR, LAMP = 1, 7, 9
CLASSES = ClassTable(
    [Category(WALL, "wall", False, (1, 1, 1)), Category(CHAIR, "chair", True, (2, 2, 2)),
     Category(LAMP, "lamp", True, (3, 3, 3))]
)  # fmt: skip


def _frame(pairs):
    """One row of pixels from (category, instance, count) runs."""
    category = [c for c, _, n in pairs for _ in range(n)]
    instance = [i for _, i, n in pairs for _ in range(n)]
    return PanopticFrameLabels(torch.tensor([category]), torch.tensor([instance]))


def _causes(segments):
    return sorted((CLASSES.by_id(s.category).name, s.instance, s.cause) for s in segments)


def test_a_perfect_scene_leaves_nothing_unmatched():
    target = _frame([(CHAIR, 3, 10), (LAMP, 4, 10), (WALL, 0, 10)])
    prediction = _frame([(CHAIR, 8, 10), (LAMP, 2, 10), (WALL, 0, 10)])
    report = match_report([prediction], [target], CLASSES)
    assert report.missed == [] and report.false_instances == []
    assert sum(report.counts()["missed"].values()) == 0


def test_each_missed_object_is_named_by_where_most_of_its_pixels_went():
    """Chair 3 matched; chair 4 mostly labelled wall; chair 5 mostly in chair 3's instance; lamp 6 mostly labelled
    chair; lamp 7 half in its own instance, which spills over the wall (IoU 8 / 17)."""
    target = _frame([(CHAIR, 3, 20), (CHAIR, 4, 10), (CHAIR, 5, 10), (LAMP, 6, 10), (LAMP, 7, 10), (WALL, 0, 10)])
    prediction = _frame([
        (CHAIR, 1, 20), (WALL, 0, 7), (CHAIR, 2, 3), (CHAIR, 1, 6), (CHAIR, 9, 4), (CHAIR, 2, 10),
        (LAMP, 5, 8), (WALL, 0, 2), (LAMP, 5, 7), (WALL, 0, 3),
    ])  # fmt: skip
    report = match_report([prediction], [target], CLASSES)
    assert _causes(report.missed) == [
        ("chair", 4, "lost to stuff"), ("chair", 5, "merged"),
        ("lamp", 6, "wrong class"), ("lamp", 7, "partly labelled"),
    ]  # fmt: skip
    assert _causes(report.false_instances) == [
        ("chair", 2, "wrong class"), ("chair", 9, "partly labelled"), ("lamp", 5, "partly labelled")
    ]  # fmt: skip
    lamp = next(s for s in report.missed if s.instance == 7)
    assert abs(lamp.best_iou - 8 / 17) < 1e-9 and lamp.pixels == 10


def test_a_second_piece_of_a_matched_object_and_a_segment_on_the_wall_are_false_instances():
    target = _frame([(CHAIR, 3, 20), (WALL, 0, 20)])
    prediction = _frame([(CHAIR, 1, 14), (CHAIR, 2, 6), (WALL, 0, 15), (LAMP, 4, 5)])
    report = match_report([prediction], [target], CLASSES)
    assert report.missed == []
    assert _causes(report.false_instances) == [("chair", 2, "second piece"), ("lamp", 4, "on stuff")]


def test_one_instance_over_frames_is_one_segment_and_void_is_left_out_as_pq_leaves_it_out():
    """Chair 3 in two frames, one 3D instance: one match. A segment lying mostly on void ground truth is no false
    positive (PQ's rule), and void pixels are not in the union: chair 5 has IoU 10 / 12 without them."""
    void = (VOID_CATEGORY, 0, 8)
    targets = [_frame([(CHAIR, 3, 10), (CHAIR, 5, 10), void]), _frame([(CHAIR, 3, 10), (WALL, 0, 10), void])]
    predictions = [
        _frame([(CHAIR, 1, 10), (CHAIR, 2, 10), (CHAIR, 2, 6), (LAMP, 6, 2)]),
        _frame([(CHAIR, 1, 10), (CHAIR, 2, 2), (WALL, 0, 8), (LAMP, 7, 8)]),
    ]
    report = match_report(predictions, targets, CLASSES)
    assert report.missed == [] and report.false_instances == []


def test_the_counts_are_those_of_panoptic_quality():
    """Missed objects are PQ's false negatives and unmatched predicted segments its false positives, class by
    class: the report names the segments the metric counts."""
    generator = torch.Generator().manual_seed(0)
    targets, predictions = [], []
    for _ in range(4):
        truth = torch.randint(0, 6, (12, 16), generator=generator)
        swapped = torch.randint(0, 6, (12, 16), generator=generator)
        noisy = torch.where(torch.rand(12, 16, generator=generator) < 0.3, swapped, truth)
        for labels, out in ((truth, targets), (noisy, predictions)):
            category = torch.tensor([WALL, CHAIR, CHAIR, LAMP, LAMP, VOID_CATEGORY if out is targets else WALL])[labels]
            out.append(PanopticFrameLabels(category, torch.where(category == WALL, 0, labels)))
    report = match_report(predictions, targets, CLASSES)
    quality = scene_panoptic_quality(predictions, targets, CLASSES)
    rq = {cid: s.rq for cid, s in quality.per_category.items()}
    for cid in (CHAIR, LAMP):
        fn = sum(s.category == cid for s in report.missed)
        fp = sum(s.category == cid for s in report.false_instances)
        tp = 2 - fn  # two objects of each class in every frame, one scene-wide id each
        assert abs(rq[cid] - 100 * tp / (tp + 0.5 * fp + 0.5 * fn)) < 1e-6
