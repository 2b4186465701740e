"""Joining 3D instances the 2D masks show as one object."""

import numpy as np

from panoptic_nerfstudio.inference.mask_evidence import NO_SEGMENT
from panoptic_nerfstudio.inference.mask_joins import joined_by_masks

CHAIR, LAMP = 2, 3


def _pixels(views_segments):
    """Pixels of instances 1 and 2 (5 each per view) from [(view, segment of 1, segment of 2)]."""
    instance, views, segments = [], [], []
    for view, first, second in views_segments:
        instance += [1] * 5 + [2] * 5
        views += [view] * 10
        segments += [first] * 5 + [second] * 5
    return np.array(instance), np.array(views), np.array(segments)


def test_two_instances_the_masks_draw_as_one_segment_become_one():
    instance, views, segments = _pixels([(0, 10, 10), (1, 20, 20), (2, 30, 30), (3, 40, 41)])
    same_as = joined_by_masks(instance, np.array([-1, CHAIR, CHAIR]), views, segments, 3)
    assert same_as.tolist() == [0, 1, 1]


def test_instances_the_masks_separate_in_most_views_stay_apart():
    """A touching pair the network merged in two of five views."""
    instance, views, segments = _pixels([(0, 10, 10), (1, 20, 20), (2, 30, 31), (3, 40, 41), (4, 50, 51)])
    assert joined_by_masks(instance, np.array([-1, CHAIR, CHAIR]), views, segments, 3).tolist() == [0, 1, 2]


def test_other_classes_too_few_views_and_views_without_masks_never_join():
    instance, views, segments = _pixels([(0, 10, 10), (1, 20, 20), (2, 30, 30)])
    assert joined_by_masks(instance, np.array([-1, CHAIR, LAMP]), views, segments, 3).tolist() == [0, 1, 2]
    few = views < 2
    chairs = np.array([-1, CHAIR, CHAIR])
    assert joined_by_masks(instance[few], chairs, views[few], segments[few], 3).tolist() == [0, 1, 2]
    unmasked = np.full_like(segments, NO_SEGMENT)
    assert joined_by_masks(instance, chairs, views, unmasked, 3).tolist() == [0, 1, 2]


def test_a_chain_of_joins_is_one_object_named_by_its_smallest_id():
    instance, views, segments = _pixels([(0, 10, 10), (1, 20, 20), (2, 30, 30)])
    more = np.array([3] * 15), np.array([0] * 5 + [1] * 5 + [2] * 5), np.array([10] * 5 + [20] * 5 + [30] * 5)
    instance, views, segments = (np.concatenate([a, b]) for a, b in zip((instance, views, segments), more))
    same_as = joined_by_masks(instance, np.array([-1, CHAIR, CHAIR, CHAIR, LAMP]), views, segments, 5)
    assert same_as.tolist() == [0, 1, 1, 1, 4]


def test_a_piece_the_masks_draw_with_each_of_two_separate_objects_joins_only_one():
    """Two touching sofas (1, 2) that every view showing both separates, and a small piece of the contact (3) that
    some views draw with the first and others with the second: joining along both would make the pair one object."""
    rows = [(1, v, 10 + v) for v in range(5)] + [(2, v, 50 + v) for v in range(5)]  # both shown, kept apart
    rows += [(i, v, 60 + v) for v in range(5, 8) for i in (1, 3)]  # the piece drawn with the first sofa
    rows += [(i, v, 70 + v) for v in range(8, 11) for i in (2, 3)]  # and with the second
    instance, views, segments = (np.repeat(np.array(column), 5) for column in zip(*rows))
    sofas = np.array([-1, CHAIR, CHAIR, CHAIR])
    assert joined_by_masks(instance, sofas, views, segments, 4).tolist() == [0, 1, 2, 1]
