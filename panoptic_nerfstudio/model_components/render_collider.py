"""The near plane of rendering, apart from training's.

nerfstudio's near/far collider either keeps the training near plane outside training or drops it to 0, so that a
viewer camera moving close to an object does not clip it. On the suite of issue 17, dropping it to 0 put a held-out
close-up of the crowded room inside a floater in front of the lens (one cupboard, wall to wall), so the model keeps the
training near plane by default. This collider lets rendering (the viewer, ``ns-render``, ``ns-eval``, the instance
table's renders) use any other: 0 for cameras that must come close, or a farther one. A farther one (0.075 or 0.1
against 0.05) was measured on 18 suite runs and did not help on balance (README, "Quality on scenes the method was not
tuned on").
"""

from __future__ import annotations

import torch
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.model_components.scene_colliders import NearFarCollider


class RenderNearFarCollider(NearFarCollider):
    """Fixed nears and fars: ``near_plane`` while training, ``render_near_plane`` otherwise (eval mode)."""

    def __init__(self, near_plane: float, far_plane: float, render_near_plane: float) -> None:
        super().__init__(near_plane=near_plane, far_plane=far_plane, reset_near_plane=False)
        self.render_near_plane = render_near_plane

    def set_nears_and_fars(self, ray_bundle: RayBundle) -> RayBundle:
        ray_bundle = super().set_nears_and_fars(ray_bundle)
        if not self.training:
            ray_bundle.nears = torch.full_like(ray_bundle.nears, self.render_near_plane)
        return ray_bundle
