"""Exported labels against input masks: class changes, merged and split input segments, worst frames."""

import torch

from panoptic_nerfstudio.evaluation.panoptic_quality import VOID_CATEGORY, PanopticFrameLabels
from panoptic_nerfstudio.export.label_changes import frame_changes, summarize, worst_frames

WALL, FLOOR, CHAIR = 0, 1, 3


def labels(category, instance):
    return PanopticFrameLabels(torch.tensor(category), torch.tensor(instance))


def test_identical_labels_change_nothing():
    given = labels([[WALL, WALL, CHAIR], [FLOOR, FLOOR, CHAIR]], [[0, 0, 7], [0, 0, 7]])
    # ids differ (per-frame 7 vs 3D id 2) but the segments are the same: nothing changed
    exported = labels([[WALL, WALL, CHAIR], [FLOOR, FLOOR, CHAIR]], [[0, 0, 2], [0, 0, 2]])
    change = frame_changes("f", exported, given)
    assert (change.pixels, change.class_changed, change.merged, change.split) == (6, 0, 0, 0)
    assert change.input_segments == change.exported_segments == 3


def test_class_changes_count_labelled_input_pixels_only():
    given = labels([[WALL, VOID_CATEGORY], [FLOOR, FLOOR]], [[0, 0], [0, 0]])
    exported = labels([[WALL, WALL], [WALL, FLOOR]], [[0, 0], [0, 0]])
    change = frame_changes("f", exported, given)
    assert change.pixels == 3 and change.class_changed == 1 and change.void_labelled == 1
    assert abs(change.class_changed_fraction - 1 / 3) < 1e-9


def test_two_chairs_under_one_3d_instance_are_merged_and_one_chair_over_two_is_split():
    given = labels([[CHAIR, CHAIR, CHAIR, CHAIR], [CHAIR, CHAIR, CHAIR, CHAIR]], [[5, 5, 9, 9], [5, 5, 9, 9]])
    merged = frame_changes("f", labels(given.category.tolist(), [[1, 1, 1, 1], [1, 1, 1, 1]]), given)
    assert (merged.merged, merged.split, merged.exported_segments) == (2, 0, 1)
    one = labels([[CHAIR] * 4] * 2, [[5] * 4] * 2)
    split = frame_changes("f", labels(one.category.tolist(), [[1, 1, 2, 2], [1, 1, 2, 2]]), one)
    assert (split.merged, split.split, split.exported_segments) == (0, 1, 2)
    # a sliver under another instance (below 20% of the segment) is no split
    sliver = frame_changes("f", labels(one.category.tolist(), [[1, 1, 1, 1], [1, 1, 1, 2]]), one)
    assert sliver.split == 0


def test_a_stuff_region_relabelled_as_its_neighbour_is_a_merge():
    given = labels([[WALL, WALL, FLOOR, FLOOR]], [[0, 0, 0, 0]])
    change = frame_changes("f", labels([[WALL, WALL, WALL, WALL]], [[0, 0, 0, 0]]), given)
    assert change.merged == 2 and change.class_changed == 2


def test_summary_and_worst_frames():
    given = labels([[WALL, FLOOR]], [[0, 0]])
    same = frame_changes("a", given, given)
    changed = frame_changes("b", labels([[WALL, WALL]], [[0, 0]]), given)
    total = summarize([same, changed])
    assert (total.frames, total.pixels, total.class_changed, total.merged) == (2, 4, 1, 2)
    assert [c.name for c in worst_frames([same, changed], 1)] == ["b"]
