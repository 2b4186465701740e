"""Edge-aware refinement of a rendered class distribution: bleeding labels go back across the rendered outline."""

import dataclasses

import torch

from panoptic_nerfstudio.inference.edge_aware_refinement import EdgeAwareRefinementConfig, refined_semantics

H, W = 12, 16
CONFIG = EdgeAwareRefinementConfig()


def two_surfaces():
    """Left half: a grey floor at depth 1; right half: a red chair at depth 2. The class field bleeds the floor
    (class 0) two columns into the chair (class 1): there it says floor 0.6, chair 0.4."""
    rgb = torch.zeros(H, W, 3)
    rgb[:, : W // 2] = 0.5
    rgb[:, W // 2 :, 0] = 0.9
    depth = torch.ones(H, W, 1)
    depth[:, W // 2 :] = 2.0
    probs = torch.zeros(H, W, 2)
    probs[:, :, 0] = torch.where(torch.arange(W) < W // 2 + 2, 0.6, 0.1)
    probs[:, : W // 2, 0] = 0.9
    probs[:, :, 1] = 1 - probs[:, :, 0]
    truth = (torch.arange(W) >= W // 2).long().expand(H, W)
    return {"rgb": rgb, "depth": depth, "semantics": probs}, truth


def test_a_class_bleeding_across_a_colour_and_depth_edge_goes_back_to_its_side():
    outputs, truth = two_surfaces()
    assert (outputs["semantics"].argmax(-1) != truth).sum() == 2 * H  # as rendered: two columns wrong
    refined = refined_semantics(outputs, CONFIG)
    assert torch.equal(refined.argmax(-1), truth)
    assert torch.allclose(refined.sum(-1), torch.ones(H, W))


def test_a_thin_structure_with_its_own_colour_and_depth_stays_but_one_the_image_does_not_show_is_voted_away():
    """A one-pixel column (a pole) the class field calls class 1 with 0.7 in front of a wall of class 0."""
    rgb, depth = torch.full((H, W, 3), 0.5), torch.full((H, W, 1), 3.0)
    probs = torch.tensor([0.9, 0.1]).expand(H, W, 2).clone()
    probs[:, 7] = torch.tensor([0.3, 0.7])
    pole = torch.zeros(H, W, dtype=torch.bool)
    pole[:, 7] = True
    seen = rgb.clone(), depth.clone()
    seen[0][:, 7], seen[1][:, 7] = 0.1, 1.5  # darker and nearer than the wall: the render shows the pole
    kept = refined_semantics({"rgb": seen[0], "depth": seen[1], "semantics": probs}, CONFIG).argmax(-1)
    assert torch.equal(kept == 1, pole)
    # The same labels where the render shows no pole (the wall's colour and depth): the wall's vote wins.
    voted = refined_semantics({"rgb": rgb, "depth": depth, "semantics": probs}, CONFIG).argmax(-1)
    assert not bool((voted == 1).any())


def test_off_or_without_an_image_the_distribution_is_as_rendered():
    outputs, _ = two_surfaces()
    off = dataclasses.replace(CONFIG, enabled=False)
    assert refined_semantics(outputs, off) is outputs["semantics"]
    assert refined_semantics({"semantics": outputs["semantics"]}, CONFIG) is outputs["semantics"]  # no rgb or depth
    rays = {name: value.reshape(H * W, -1) for name, value in outputs.items()}  # loose rays (a click): no neighbours
    assert refined_semantics(rays, CONFIG) is rays["semantics"]
