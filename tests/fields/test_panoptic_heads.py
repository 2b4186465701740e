import pytest
import torch

from panoptic_nerfstudio.fields.panoptic_heads import PanopticHeads, PanopticHeadsConfig
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


def test_the_class_head_can_read_the_detached_backbone_and_the_slot_head_never_does():
    torch.manual_seed(0)
    config = PanopticHeadsConfig(semantic_reads_backbone=True, num_levels=2, max_res=32, log2_hashmap_size=8)
    heads = PanopticHeads(config, torch.tensor([[-1.0] * 3, [1.0] * 3]), 5, 4, None, backbone_dim=7)
    positions, backbone = torch.rand(6, 3, 3) - 0.5, torch.randn(6, 3, 7, requires_grad=True)
    semantic, instance = heads(positions, backbone)
    other_semantic, other_instance = heads(positions, backbone + 1.0)
    assert semantic.shape == (6, 3, 5) and instance.shape == (6, 3, 4)
    assert not torch.allclose(semantic, other_semantic), "the class head ignored the backbone's features"
    assert torch.equal(instance, other_instance), "the slot head read the backbone's features"
    semantic.sum().backward()
    assert backbone.grad is None, "a segmentation loss reached the backbone"
    with pytest.raises(ValueError, match="own_grid"):
        PanopticHeads(PanopticHeadsConfig(features="backbone", semantic_reads_backbone=True), positions[0], 5, 4, None, 7)


def test_model_whose_class_head_reads_the_backbone_renders_distributions():
    model = make_model(heads={"semantic_reads_backbone": True})
    out = model(make_rays(16))
    assert torch.allclose(out["semantics"].sum(-1), torch.ones(16), atol=1e-4)
    assert model.heads.semantic.in_dim == model.heads.encoding.get_out_dim() + model.field.geo_feat_dim
