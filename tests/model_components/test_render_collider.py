import torch
from nerfstudio.cameras.rays import RayBundle

from panoptic_nerfstudio.model_components.render_collider import RenderNearFarCollider


def rays(n: int = 5) -> RayBundle:
    return RayBundle(origins=torch.zeros(n, 3), directions=torch.tensor([[0.0, 0.0, -1.0]]).repeat(n, 1),
                     pixel_area=torch.ones(n, 1))  # fmt: skip


def test_training_starts_at_the_near_plane_and_rendering_at_its_own():
    collider = RenderNearFarCollider(near_plane=0.05, far_plane=6.0, render_near_plane=0.075)
    for training, near in ((True, 0.05), (False, 0.075)):
        collider.train(training)
        bundle = collider(rays())
        assert torch.equal(bundle.nears, torch.full((5, 1), near)) and torch.equal(bundle.fars, torch.full((5, 1), 6.0))
