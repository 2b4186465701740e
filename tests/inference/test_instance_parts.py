"""Splitting one slot's surface points into parts: far groups apart, loose points near a part joined, far ones none."""

import numpy as np

from panoptic_nerfstudio.inference.instance_parts import NO_PART, join_nearest, numbered_by_size, split_slot

EPS = 0.05
"""The gap of these tests: points 0.02 apart on a line chain into one DBSCAN group."""


def _line(start, count, spacing=0.02):
    """``count`` points along x from ``start``, ``spacing`` apart: each inner point is a DBSCAN core point."""
    return np.stack([start + spacing * np.arange(count), np.zeros(count), np.zeros(count)], axis=1)


def _slot():
    """A 51-point part from x = 0 to 1, a point 0.04 past its end (noise, near the part), and far from it: a 6-point
    group at x = 3 and a lone point at x = 5."""
    return np.concatenate([_line(0.0, 51), [[1.04, 0, 0]], _line(3.0, 6), [[5.0, 0, 0]]])


def test_far_small_groups_and_far_noise_belong_to_no_part_and_near_noise_joins():
    parts = split_slot(_slot(), EPS, min_part_points=20)
    assert parts.count == 1
    assert (parts.part[:52] == 0).all()  # the part and the noise point 0.04 from its end
    assert (parts.part[52:] == NO_PART).all()  # 2 m and 4 m from the part: no id of theirs


def test_a_far_small_group_of_another_class_stays_a_part_and_far_noise_still_has_none():
    classes = np.array([2] * 52 + [3] * 6 + [2])
    parts = split_slot(_slot(), EPS, min_part_points=20, classes=classes)
    assert parts.count == 2
    assert (parts.part[:52] == 0).all() and (parts.part[52:58] == 1).all()
    assert parts.part[58] == NO_PART


def test_two_large_groups_are_two_parts_and_points_near_either_join_it():
    points = np.concatenate([_line(0.0, 30), _line(2.0, 40), [[2.82, 0, 0]], [[1.4, 0, 0]]])
    parts = split_slot(points, EPS, min_part_points=20)
    assert parts.count == 2
    assert (parts.part[:30] == 1).all() and (parts.part[30:71] == 0).all()  # part 0 the larger
    assert parts.part[71] == NO_PART  # halfway between them, far from both


def test_a_slot_with_no_group_large_enough_stays_whole():
    parts = split_slot(_slot(), EPS, min_part_points=100)
    assert parts.count == 1 and (parts.part == 0).all()


def test_joining_within_a_distance_and_numbering_by_size_keep_points_of_no_part():
    points = np.array([[0.0, 0, 0], [1.0, 0, 0], [1.1, 0, 0], [9.0, 0, 0]])
    part = join_nearest(points, np.array([0, 1, NO_PART, NO_PART]), max_distance=0.5)
    assert part.tolist() == [0, 1, 1, NO_PART]
    assert numbered_by_size(part, 2).part.tolist() == [1, 0, 0, NO_PART]
