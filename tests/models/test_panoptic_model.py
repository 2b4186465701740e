import socket

import pytest
import torch

from panoptic_nerfstudio.model_components.segmentation_renderers import render_distribution
from tests.inference.test_edge_aware_refinement import two_surfaces
from tests.models.conftest import CLASSES, make_model, make_rays


def _batch(n: int, frame_of_ray=None):
    g = torch.Generator().manual_seed(1)
    frame = torch.arange(n) // (n // 2) if frame_of_ray is None else frame_of_ray
    segment = torch.arange(n) // 8
    semantics = (segment % 3).long()
    instance = torch.where(semantics == 2, segment % 4, torch.full_like(segment, -1))
    return {
        "image": torch.rand(n, 3, generator=g),
        "semantics": semantics,
        "instance": instance,
        "confidence": torch.rand(n, generator=g),
        "segment": segment,
        "indices": torch.stack([frame, torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)], -1),
    }


def test_outputs_are_distributions(model):
    out = model(make_rays(32))
    assert out["semantics"].shape == (32, len(CLASSES))
    assert out["instances"].shape == (32, model.config.num_instance_slots)
    for key in ("semantics", "instances"):
        assert (out[key] >= 0).all()
        assert torch.allclose(out[key].sum(-1), torch.ones(32), atol=1e-4)


def test_render_distribution_bounded_vs_unbounded():
    logits = torch.tensor([[[50.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])  # one sample with a huge logit
    weights = torch.tensor([[[0.1], [0.4], [0.4]]])
    bounded = render_distribution(logits, weights, bounded=True)
    unbounded = render_distribution(logits, weights, bounded=False)
    assert bounded[0].argmax() == 1  # the weighted majority wins
    assert unbounded[0].argmax() == 0  # a single sample's logit outvotes them
    assert torch.allclose(bounded.sum(-1), torch.ones(1))


def _segmentation_loss(model, out, batch):
    model.train_step = 10_000
    losses = model.get_loss_dict(out, batch, model.get_metrics_dict(out, batch))
    return losses["semantic_loss"] + losses["instance_loss"] + losses["consistency_loss"]


@pytest.mark.parametrize("head_features", ["own_grid", "backbone"])
def test_segmentation_losses_do_not_reach_density_or_color(head_features):
    model = make_model(heads={"features": head_features})
    batch = _batch(64)
    out = model(make_rays(64))
    _segmentation_loss(model, out, batch).backward()
    shared = list(model.field.parameters()) + list(model.proposal_networks.parameters())
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in shared)
    head_grads = [p.grad for p in model.heads.parameters() if p.grad is not None]
    assert head_grads and any(torch.count_nonzero(g) > 0 for g in head_grads)


def test_without_gradient_stopping_density_is_shaped(model):
    model = make_model(stop_segmentation_gradients=False)
    out = model(make_rays(64))
    _segmentation_loss(model, out, _batch(64)).backward()
    density_grads = [p.grad for p in model.field.mlp_base.parameters() if p.grad is not None]
    assert any(torch.count_nonzero(g) > 0 for g in density_grads)


def test_model_builds_without_network(monkeypatch):
    """nerfacto's LPIPS would download AlexNet weights; our model must not touch the network."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = make_model()
    assert getattr(model, "lpips", None) is None


def test_eval_outputs_include_viewer_images(model):
    model.eval()
    from nerfstudio.cameras.rays import RayBundle

    rays = make_rays(6 * 5)
    bundle = RayBundle(
        origins=rays.origins.reshape(6, 5, 3),
        directions=rays.directions.reshape(6, 5, 3),
        pixel_area=rays.pixel_area.reshape(6, 5, 1),
        camera_indices=rays.camera_indices.reshape(6, 5, 1),
    )
    out = model.get_outputs_for_camera_ray_bundle(bundle)
    for name in ("rgb", "depth", "accumulation", "semantics_colormap", "instance_colormap", "panoptic"):
        assert out[name].shape == (6, 5, 3) or (name in ("depth", "accumulation") and out[name].shape == (6, 5, 1))
    assert out["confidence"].shape == (6, 5, 1)
    assert ((out["confidence"] >= 0) & (out["confidence"] <= 1)).all()


def test_renders_sample_from_their_own_near_plane_and_training_from_its_own():
    """Rendering (eval mode) starts at ``render_near_plane``, by default the training near plane; 0 is nerfstudio's
    reset. Training always starts at ``near_plane``."""
    default, reset, farther = make_model(), make_model(render_near_plane=0.0), make_model(render_near_plane=0.12)
    for model, near in ((default, default.config.near_plane), (reset, 0.0), (farther, 0.12)):
        model.eval()
        rays = model.collider(make_rays(8))
        assert torch.allclose(rays.nears, torch.full_like(rays.nears, near))
        assert torch.allclose(rays.fars, torch.full_like(rays.fars, model.config.far_plane))
        model.train()
        assert torch.allclose(model.collider(make_rays(8)).nears, torch.full_like(rays.nears, model.config.near_plane))


def test_the_opacity_loss_is_off_by_default_and_otherwise_trains_density_from_its_start_step():
    def losses(model, out, step):
        model.train_step = step
        return model.get_loss_dict(out, _batch(32), model.get_metrics_dict(out, _batch(32)))

    default = make_model()
    assert "opacity_loss" not in losses(default, default(make_rays(32)), 10_000)
    model = make_model(opacity_loss_mult=0.5, opacity_loss_start_step=100)
    out = model(make_rays(32))
    assert "opacity_loss" not in losses(model, out, 99)
    loss = losses(model, out, 100)["opacity_loss"]
    assert torch.allclose(loss, 0.5 * ((1 - out["accumulation"]) ** 2).mean()) and loss > 0
    loss.backward()
    density_grads = [p.grad for p in model.field.mlp_base.parameters() if p.grad is not None]
    assert any(torch.count_nonzero(g) > 0 for g in density_grads)


def test_labels_of_a_full_image_come_from_the_refined_classes_unless_refinement_is_off():
    """``model.infer`` refines the class distribution by the rendered colour and depth before the rule."""
    outputs, truth = two_surfaces()  # classes 0 and 1: the toy table's wall and floor (stuff: no instance table)
    outputs["semantics"] = torch.cat([outputs["semantics"], torch.zeros(*truth.shape, 1)], dim=-1)
    outputs["instances"] = torch.full((*truth.shape, 4), 0.25)
    outputs["surface_points"] = torch.zeros(*truth.shape, 3)
    model = make_model(num_instance_slots=4).eval()
    assert torch.equal(model.infer(outputs).semantics, truth)
    model.config.edge_aware_refinement.enabled = False
    assert torch.equal(model.infer(outputs).semantics, outputs["semantics"].argmax(-1))
    assert not torch.equal(outputs["semantics"].argmax(-1), truth)
