"""Free space around the training cameras: a camera stood there, so nothing solid is within reach of its lens.

A held-out view between two training cameras can look through density that no training view rules out: points a
few tenths of a unit from the camera path, outside the neighbouring cameras' frusta, seen only by far cameras,
whose rays to the surface behind pass through them. Their colour agrees with that surface, so the photometric loss
keeps them, and the held-out view renders them as a floater (the default room's frame 0: a floor-coloured blob
0.13 units in front of the camera, labelled floor over the wall). This loss draws points in a ball around each
training camera and pushes their opacity to 0. A ball's radius follows what its camera sees: a fraction of a low
quantile of its training rays' rendered depth, capped, so that a camera close to a surface keeps that surface.
Its points come from a generator of their own, so the training's other random draws stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch
from torch import Tensor


@dataclass
class CameraFreeSpaceConfig:
    """The free-space loss around the training cameras."""

    loss_mult: float = 0.1
    """Weight of the loss, the mean opacity of the points drawn in the cameras' balls (0: off)."""
    start_step: int = 1000
    """Step from which the loss is on: the balls' radii wait for the rendered depth to mean something."""
    depth_fraction: float = 0.7
    """A camera's ball reaches this fraction of its nearest rendered depth (``depth_quantile``)."""
    max_radius: float = 0.25
    """Largest radius of a ball, in the dataparser's normalised units (the cameras span [-1, 1])."""
    depth_quantile: float = 0.05
    """Quantile of a camera's rays' rendered depth in a batch that stands for its nearest surface."""
    points_per_step: int = 1024
    """Points drawn in the balls per training step."""
    step_size: float = 0.01
    """Length over which a point's density counts as opacity, ``1 - exp(-density * step_size)``."""


class CameraFreeSpace:
    """Each training camera's nearest rendered depth so far, its centre once placed, and the loss's own draws."""

    def __init__(self, config: CameraFreeSpaceConfig, num_cameras: int, seed: int) -> None:
        self.config = config
        self.centres: Optional[Tensor] = None
        self.near = torch.full((num_cameras,), float("inf"))
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def place(self, cameras: Any) -> None:
        """Take the training cameras' centres (nerfstudio ``Cameras``, as many as ``num_cameras``)."""
        centres = cameras.camera_to_worlds[:, :3, 3].detach().float()
        if len(centres) != len(self.near):
            raise ValueError(f"{len(centres)} training cameras, but the free-space loss was made for {len(self.near)}")
        self.centres, self.near = centres, self.near.to(centres.device)

    @torch.no_grad()
    def observe(self, camera: Tensor, depth: Tensor) -> None:
        """Update the near depth of each camera in ``camera`` ([R] indices) from its rays' ``depth`` ([R, 1]): the
        batch's quantile, then a running mean (0.9 old, 0.1 new)."""
        for index in torch.unique(camera).tolist():
            near = torch.quantile(depth[camera == index, 0].float(), self.config.depth_quantile)
            old = self.near[index]
            self.near[index] = near if torch.isinf(old) else 0.9 * old + 0.1 * near

    def loss(self, density_fn: Callable[[Tensor], Tensor]) -> Optional[Tensor]:
        """Mean opacity of points drawn uniformly in the balls of the cameras observed so far; None before any."""
        cfg = self.config
        seen = torch.nonzero(torch.isfinite(self.near)).squeeze(-1)
        if self.centres is None or len(seen) == 0:
            return None
        radius = torch.clamp(cfg.depth_fraction * self.near, max=cfg.max_radius)
        n = cfg.points_per_step
        pick = seen[torch.randint(len(seen), (n,), generator=self.generator).to(seen.device)]
        direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=self.generator), dim=-1)
        reach = torch.rand(n, 1, generator=self.generator) ** (1.0 / 3.0)  # uniform over the ball's volume
        device = self.centres.device
        points = self.centres[pick] + direction.to(device) * reach.to(device) * radius[pick, None]
        return (1.0 - torch.exp(-density_fn(points) * cfg.step_size)).mean()

    def step_losses(
        self, step: int, camera: Tensor, depth: Tensor, density_fn: Callable[[Tensor], Tensor]
    ) -> Dict[str, Tensor]:
        """One training step: observe the batch's rays, then the weighted loss once ``start_step`` is reached."""
        self.observe(camera.to(self.near.device), depth)
        loss = self.loss(density_fn) if step >= self.config.start_step else None
        return {} if loss is None else {"camera_free_space_loss": self.config.loss_mult * loss}

    def state(self) -> Dict[str, Any]:
        """What a resumed run needs to go on as an uninterrupted one: the near depths and the generator."""
        return {"near": self.near.cpu(), "generator": self.generator.get_state()}

    def load_state(self, state: Dict[str, Any]) -> None:
        self.near = state["near"].to(self.near.device)
        self.generator.set_state(state["generator"])


def free_space_of(config: CameraFreeSpaceConfig, num_cameras: int) -> Optional[CameraFreeSpace]:
    """The loss of a run with ``num_cameras`` training cameras, its draws seeded by torch's seed; None where off."""
    return CameraFreeSpace(config, num_cameras, torch.initial_seed() % 2**31) if config.loss_mult > 0 else None
