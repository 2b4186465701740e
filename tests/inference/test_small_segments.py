"""Small-piece clean-up: speckles take their surroundings' label; thin structures and large segments stay."""

import torch

from panoptic_nerfstudio.inference.panoptic_rule import PanopticPrediction
from panoptic_nerfstudio.inference.small_segments import remove_small_segments


def _prediction(semantics, instance):
    semantics, instance = torch.tensor(semantics), torch.tensor(instance)
    ones = torch.ones(semantics.shape)
    return PanopticPrediction(semantics, instance, ones, torch.zeros_like(semantics), ones)


def test_a_speckle_takes_the_label_around_it_and_a_thin_pole_stays():
    semantics = torch.zeros(10, 10, dtype=torch.long)
    instance = torch.zeros(10, 10, dtype=torch.long)
    semantics[2, 2] = 1  # a 1-pixel speckle of class 1
    semantics[:, 7], instance[:, 7] = 2, 5  # a pole: one pixel wide, ten tall
    cleaned = remove_small_segments(_prediction(semantics, instance), min_pixels=4)
    assert cleaned.semantics[2, 2] == 0
    assert (cleaned.semantics[:, 7] == 2).all() and (cleaned.instance[:, 7] == 5).all()
    assert int((cleaned.semantics != semantics).sum()) == 1


def test_pieces_of_one_instance_count_apart_and_same_class_instances_are_different_labels():
    semantics = torch.full((6, 6), 3)
    instance = torch.ones(6, 6, dtype=torch.long)
    instance[:, 3:] = 2  # two instances of class 3, 18 pixels each
    instance[0, 0] = 2  # a stray pixel of instance 2 inside instance 1
    cleaned = remove_small_segments(_prediction(semantics, instance), min_pixels=4)
    assert cleaned.instance[0, 0] == 1 and int((cleaned.instance == 2).sum()) == 18


def test_loose_rays_and_a_zero_threshold_are_left_alone():
    prediction = _prediction([[0, 1, 0]], [[0, 0, 0]])  # a 1 x 3 "image": rays, not a picture
    assert torch.equal(remove_small_segments(prediction, 4).semantics, prediction.semantics)
    square = _prediction([[0, 1], [0, 0]], [[0, 0], [0, 0]])
    assert torch.equal(remove_small_segments(square, 0).semantics, square.semantics)
