import torch

from panoptic_nerfstudio.model_components.segmentation_renderers import heaviest_samples, render_distribution, take_samples
from tests.models.conftest import make_model, make_rays


def test_heaviest_samples_pick_the_largest_weights_of_each_ray():
    weights = torch.tensor([[[0.1], [0.5], [0.05], [0.3]], [[0.6], [0.0], [0.2], [0.1]]])
    chosen = heaviest_samples(weights, 2)
    assert [sorted(row) for row in chosen.tolist()] == [[1, 3], [0, 2]]
    assert torch.allclose(take_samples(weights, chosen)[..., 0].sum(dim=-1), torch.tensor([0.8, 0.8]))
    assert heaviest_samples(weights, 0).tolist() == [[0, 1, 2, 3]] * 2  # 0: every sample
    assert heaviest_samples(weights, 9).shape == (2, 4)


def test_rendering_from_the_heaviest_samples_approximates_all_samples():
    torch.manual_seed(0)
    logits = torch.randn(64, 16, 5)
    weights = torch.softmax(torch.randn(64, 16, 1) * 4, dim=-2) * 0.95  # peaked, like a surface
    full = render_distribution(logits, weights)
    chosen = heaviest_samples(weights, 4)
    partial = render_distribution(take_samples(logits, chosen), take_samples(weights, chosen))
    assert torch.allclose(partial.sum(-1), torch.ones(64), atol=1e-5)
    assert (partial - full).abs().max() < 0.25 and (partial - full).abs().mean() < 0.05


def test_model_with_fewer_head_samples_renders_distributions():
    model = make_model(heads={"samples_per_ray": 3})
    out = model(make_rays(32))
    assert out["semantics"].shape[0] == 32 and torch.allclose(out["semantics"].sum(-1), torch.ones(32), atol=1e-4)
    assert torch.allclose(out["instances"].sum(-1), torch.ones(32), atol=1e-4)
