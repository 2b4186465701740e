"""A slot the 2D masks separate consistently (touching objects of one class) is split; one cut by noise is not."""

import numpy as np
import torch

from panoptic_nerfstudio.inference.instance_parts import SlotParts
from panoptic_nerfstudio.inference.instance_table import ViewSamples, input_segments, resolve_table
from panoptic_nerfstudio.inference.mask_evidence import NO_SEGMENT, refine_parts, split_by_masks

PER_VIEW = 40
"""Points each touching object shows in a view."""


def touching_pair(views: int, separating: int, seed: int = 0):
    """Two unit cubes side by side (x in [0, 1) and [1, 2)): points, views, input segments and the true object.
    The first ``separating`` views give each cube its own segment; the others show both as one merged segment."""
    rng = np.random.default_rng(seed)
    points, view, segment, truth = [], [], [], []
    for v in range(views):
        for obj in (0, 1):
            p = rng.random((PER_VIEW, 3))
            p[:, 0] += obj
            points.append(p)
            view += [v] * PER_VIEW
            segment += [v * 10 + (obj if v < separating else 0)] * PER_VIEW
            truth += [obj] * PER_VIEW
    return np.concatenate(points), np.array(view), np.array(segment), np.array(truth)


def agreement(part: np.ndarray, truth: np.ndarray) -> float:
    """Share of points whose part matches the truth, up to renaming the two parts."""
    same = float((part == truth).mean())
    return max(same, 1.0 - same)


def test_a_pair_the_masks_separate_in_a_few_views_is_split_along_the_masks():
    points, views, segments, truth = touching_pair(views=20, separating=5)
    parts = split_by_masks(points, views, segments, min_part_points=50)
    assert parts.count == 2
    assert agreement(parts.part, truth) > 0.97  # points of merged views go to their nearest separated point


def test_too_few_separating_views_leave_the_slot_whole():
    points, views, segments, _ = touching_pair(views=20, separating=2)
    assert split_by_masks(points, views, segments, min_part_points=50).count == 1


def test_one_object_cut_at_random_places_stays_whole():
    """Mask noise cutting one object at a different place in every view gives inconsistent clusters."""
    rng = np.random.default_rng(1)
    points, views, segments = [], [], []
    for v in range(20):
        p = rng.random((80, 3)) * [2.0, 1.0, 1.0]
        cut = rng.uniform(0.2, 1.8)
        axis = v % 3
        points.append(p)
        views += [v] * 80
        segments += (v * 10 + (p[:, axis] * [1.0, 2.0, 2.0][axis] > cut)).tolist()
    parts = split_by_masks(np.concatenate(points), np.array(views), np.array(segments), min_part_points=50)
    assert parts.count == 1


def test_pixels_without_input_segments_do_not_split_anything():
    points, views, _, _ = touching_pair(views=20, separating=20)
    segments = np.full(len(points), NO_SEGMENT)
    assert split_by_masks(points, views, segments, min_part_points=50).count == 1


def test_groups_too_small_to_count_leave_the_slot_whole():
    points, views, segments, _ = touching_pair(views=20, separating=10)
    assert split_by_masks(points, views, segments, min_part_points=10 * PER_VIEW * 20).count == 1


def test_spatial_parts_are_refined_and_renumbered_by_size():
    """A slot whose spatial split found two parts: the first (a touching pair, smaller in all) splits in two."""
    pair_points, pair_views, pair_segments, _ = touching_pair(views=10, separating=10)
    far = np.random.default_rng(2).random((1500, 3)) + [10.0, 0, 0]
    points = np.concatenate([pair_points, far])
    views = np.concatenate([pair_views, np.repeat(np.arange(10), 150)])
    segments = np.concatenate([pair_segments, 1000 + np.repeat(np.arange(10), 150)])
    spatial = SlotParts(np.array([1] * len(pair_points) + [0] * len(far)), 2)
    refined = refine_parts(spatial, points, views, segments, min_part_points=50)
    assert refined.count == 3
    assert set(refined.part[len(pair_points):].tolist()) == {0}  # the far object (1500 points) stays part 0
    assert set(refined.part[: len(pair_points)].tolist()) == {1, 2}


def test_the_table_gives_each_object_of_a_masked_pair_its_own_instance():
    points, views, segments, truth = touching_pair(views=20, separating=6)
    n = len(points)
    samples = ViewSamples(
        slots=torch.zeros(n, dtype=torch.long),
        classes=torch.full((n,), 3),
        points=torch.from_numpy(points).float(),
        footprints=torch.full((n,), 0.5),  # a 5-unit gap: spatially the cubes are one part
        stuff_pixels=0,
        views=torch.from_numpy(views),
        segments=torch.from_numpy(segments),
    )
    table = resolve_table(samples, num_slots=2, num_classes=4, min_area_fraction=0.01)
    assert table.slots.tolist() == [-1, 0, 1, 0]  # slot 0 now has two 3D instances, ids 1 and 3
    assert sorted(table.point_ids.unique().tolist()) == [1, 3]
    assert not resolve_table(samples, 2, 4, 0.01, split_by_masks=False).slots.tolist() == [-1, 0, 1, 0]


def test_input_segments_are_read_at_the_pixel_centres_of_a_downscaled_render():
    full = torch.arange(8 * 8).reshape(8, 8)
    small = input_segments(lambda index: full, 0, 2, 2)
    assert small.tolist() == [[full[2, 2].item(), full[2, 6].item()], [full[6, 2].item(), full[6, 6].item()]]
