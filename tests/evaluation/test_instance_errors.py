"""Merges and splits on hand-made scenes."""

import torch

from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable
from panoptic_nerfstudio.evaluation.instance_errors import instance_errors
from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticFrameLabels

CLASSES = ClassTable([Category(1, "wall", False, (1, 1, 1)), Category(7, "chair", True, (2, 2, 2))])


def _frame(category, instance):
    return PanopticFrameLabels(torch.tensor(category), torch.tensor(instance))


def test_a_perfect_scene_has_neither():
    target = _frame([[7, 7, 7, 7, 1]], [[3, 3, 4, 4, 0]])
    prediction = _frame([[7, 7, 7, 7, 1]], [[9, 9, 2, 2, 0]])
    assert instance_errors([prediction], [target], CLASSES) == type(instance_errors([], [], CLASSES))(2, 0, 0)


def test_two_distant_objects_in_two_frames_sharing_one_instance_are_both_merged():
    """Never seen together, yet one 3D instance: only a scene-wide count sees it."""
    targets = [_frame([[7, 7, 1]], [[3, 3, 0]]), _frame([[7, 7, 1]], [[4, 4, 0]])]
    predictions = [_frame([[7, 7, 1]], [[5, 5, 0]]), _frame([[7, 7, 1]], [[5, 5, 0]])]
    errors = instance_errors(predictions, targets, CLASSES)
    assert (errors.objects, errors.merged, errors.split) == (2, 2, 0)


def test_an_object_giving_over_a_fifth_of_its_pixels_to_its_neighbour_is_split_and_both_merged():
    target = _frame([[7] * 10], [[3, 3, 3, 3, 3, 3, 3, 4, 4, 4]])
    prediction = _frame([[7] * 10], [[1, 1, 1, 1, 1, 2, 2, 2, 2, 2]])  # object 3: 5 px on 1, 2 px (29%) on 2
    errors = instance_errors([prediction], [target], CLASSES)
    assert (errors.objects, errors.merged, errors.split) == (2, 2, 1)


def test_stray_pixels_and_stuff_labels_are_neither():
    target = _frame([[7] * 10 + [7] * 10], [[3] * 10 + [4] * 10])
    prediction = _frame([[7] * 20], [[1] * 9 + [2] + [0] * 3 + [2] * 7])  # 1 stray px, 3 px labelled stuff
    errors = instance_errors([prediction], [target], CLASSES)
    assert (errors.merged, errors.split) == (0, 0)


def test_merges_of_pairs_the_input_masks_keep_apart_are_counted_apart():
    """Objects 3 and 4 merged by lifting, 5 and 6 too; the input draws 3 and 4 as two segments in two of three
    frames, 5 and 6 as one segment (a cluster the network never separates) or misses one of them."""
    row = [7] * 80
    target = _frame([row], [[3] * 20 + [4] * 20 + [5] * 20 + [6] * 20])
    prediction = _frame([row], [[1] * 40 + [2] * 40])
    apart = _frame([row], [[11] * 20 + [12] * 20 + [13] * 40])
    together = _frame([row], [[11] * 40 + [13] * 20 + [1] * 20])
    together = PanopticFrameLabels(torch.tensor([[7] * 60 + [1] * 20]), together.instance)  # 6 labelled wall
    errors = instance_errors([prediction] * 3, [target] * 3, CLASSES, inputs=[apart, apart, together])
    assert (errors.merged, errors.merged_kept_apart) == (4, 2)
    mostly_together = instance_errors([prediction] * 3, [target] * 3, CLASSES, inputs=[apart, together, together])
    assert mostly_together.merged_kept_apart == 0
    assert instance_errors([prediction], [target], CLASSES).merged_kept_apart is None


def test_a_pair_shown_with_too_few_pixels_says_nothing():
    target = _frame([[7] * 40], [[3] * 30 + [4] * 10])
    prediction = _frame([[7] * 40], [[1] * 40])
    given = _frame([[7] * 40], [[11] * 30 + [12] * 10])  # apart, but object 4 shows 10 px < MIN_PAIR_PIXELS
    assert instance_errors([prediction], [target], CLASSES, inputs=[given]).merged_kept_apart == 0
