"""The near plane of rendering, apart from training's.

nerfstudio's near/far collider either keeps the training near plane outside training or drops it to 0 (so that a
viewer camera moving close to an object does not clip it). Neither is what a lifted room wants: no training sample
lies closer to its camera than the training near plane, so the space just past it is shaped by few rays, and a
held-out camera that renders from there can sit in a floater (on the suite of issue 17, held-out close-ups labelled
by a haze a few centimetres in front of the lens; README, "Quality on scenes the method was not tuned on"). This
collider gives rendering (the viewer, ``ns-render``, ``ns-eval``, the instance table's renders) its own near plane.
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
