"""The panoptic model's pass is nerfacto's: same weights, same RGB, depth and accumulation, bit for bit."""

import pytest
import torch

from nerfstudio.models.nerfacto import NerfactoModel

from tests.models.conftest import make_model, make_rays


@pytest.mark.parametrize("training", [False, True])
def test_rgb_depth_and_accumulation_equal_nerfactos(training):
    model = make_model()
    model.train(training)
    rays = model.collider(make_rays(48, seed=3))  # near and far, as Model.forward sets them
    torch.manual_seed(7)  # the proposal sampler jitters its samples in training mode
    ours = model.get_outputs(rays)
    torch.manual_seed(7)
    stock = NerfactoModel.get_outputs(model, rays)
    for key in ("rgb", "depth", "accumulation", "expected_depth", "prop_depth_0"):
        assert torch.equal(ours[key], stock[key]), key
    assert {"semantics", "instances"} <= set(ours) and not {"semantics", "instances"} & set(stock)


def test_the_comparison_sees_a_changed_field():
    """Not vacuous: another model's weights give other colors."""
    rays = make_rays(16, seed=1)
    torch.manual_seed(0)
    a = make_model().eval()
    torch.manual_seed(1)
    b = make_model().eval()
    rays = a.collider(rays)
    assert not torch.equal(a.get_outputs(rays)["rgb"], NerfactoModel.get_outputs(b, rays)["rgb"])
