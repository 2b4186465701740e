import copy

import torch

from nerfstudio.field_components.spatial_distortions import SceneContraction
from nerfstudio.fields.density_fields import HashMLPDensityField

from panoptic_nerfstudio.fields.fast_hash_encoding import accelerate_torch_hash_encodings
from panoptic_nerfstudio.fields.fast_scene_contraction import FastSceneContraction, accelerate_scene_contractions


def _points() -> torch.Tensor:
    torch.manual_seed(0)
    points = torch.randn(4096, 3) * 1.5
    # Ties of the largest coordinate and a point on the unit cube (not the origin: both paths give it a NaN gradient).
    points[:3] = torch.tensor([[1.5, -1.5, 0.2], [2.0, 2.0, -2.0], [1.0, 0.3, -0.2]])
    return points


def test_values_and_gradients_equal_nerfstudios_bit_for_bit():
    reference = SceneContraction(order=float("inf"))
    fast = copy.deepcopy(reference)
    assert accelerate_scene_contractions(fast) == 1 and isinstance(fast, FastSceneContraction)
    points = _points()
    upstream = torch.randn_like(points)
    results = []
    for contraction in (reference, fast):
        x = points.clone().requires_grad_()
        out = contraction(x)
        (grad,) = torch.autograd.grad(out, x, upstream)
        results.append((out, grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_a_contracted_field_trains_to_the_same_weights():
    """A proposal network's density field, its contraction switched: the same parameter gradients, exactly."""
    torch.manual_seed(0)
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    contraction = SceneContraction(order=float("inf"))
    reference = HashMLPDensityField(aabb, spatial_distortion=contraction, implementation="torch")
    accelerate_torch_hash_encodings(reference)  # (nerfstudio's own gather accumulates its gradient in no fixed order)
    fast = copy.deepcopy(reference)
    assert accelerate_scene_contractions(fast) == 1
    points = _points()
    grads = []
    for field in (reference, fast):
        grads.append(torch.autograd.grad(field.density_fn(points).sum(), list(field.parameters())))
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_other_norms_keep_nerfstudios_path():
    points = _points()
    for order in (None, 2):
        contraction = SceneContraction(order=order)
        expected = contraction(points)
        accelerate_scene_contractions(contraction)
        assert torch.equal(contraction(points), expected)
