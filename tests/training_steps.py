"""In-process training of the lite preset for tests: the pipeline ns-train builds, stepped by hand."""

from pathlib import Path
from typing import Callable, Dict, Iterator, Optional

import torch

from nerfstudio.pipelines.base_pipeline import VanillaPipeline

from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config


def lite_pipeline(scene: Path, rays_per_batch: int, images_per_batch: Optional[int] = None) -> VanillaPipeline:
    """The lite preset on ``scene`` with every segmentation loss on from step 0 (their start steps are for long runs)."""
    config = panoptic_lifting_lite_config()
    config.pipeline.datamanager.data = scene
    config.pipeline.datamanager.train_num_rays_per_batch = rays_per_batch
    if images_per_batch is not None:
        config.pipeline.datamanager.ray_sampler.images_per_batch = images_per_batch
    config.pipeline.model.instance_loss_start_step = 0
    config.pipeline.model.consistency_loss_start_step = 0
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    pipeline.train()
    return pipeline


def train_steps(
    pipeline: VanillaPipeline, steps: int, check: Callable[[Dict[str, torch.Tensor]], None] = lambda losses: None
) -> Iterator[Dict[str, torch.Tensor]]:
    """Yield each step's losses (after ``check`` saw them, before the optimizer step uses them)."""
    optimizer = torch.optim.Adam(pipeline.parameters(), lr=1e-2, eps=1e-15)
    for step in range(steps):
        pipeline.model.train_step = step
        _, losses, _ = pipeline.get_train_loss_dict(step)
        check(losses)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        yield losses
