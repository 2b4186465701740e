"""Datamanager that samples rays from the in-memory ray store, grouped by image and segment.

Replaces nerfstudio's image cache + pixel sampler for training and for the eval
loss batches (which would keep a float32 copy of every image and re-collate per
step); full-image evaluation still goes through nerfstudio's eval dataloaders, so
``ns-eval`` and the trainer's image metrics work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple, Type

from nerfstudio.cameras.rays import RayBundle
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManager, VanillaDataManagerConfig
from nerfstudio.data.utils.dataloaders import FixedIndicesEvalDataloader, RandIndicesEvalDataloader
from nerfstudio.model_components.ray_generators import RayGenerator
from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.panoptic_dataset import PanopticDataset
from panoptic_nerfstudio.data.segment_ray_sampler import SegmentRaySampler, SegmentRaySamplerConfig


@dataclass
class PanopticDataManagerConfig(VanillaDataManagerConfig):
    _target: Type = field(default_factory=lambda: PanopticDataManager)
    dataparser: PanopticDataParserConfig = field(default_factory=PanopticDataParserConfig)
    ray_sampler: SegmentRaySamplerConfig = field(default_factory=SegmentRaySamplerConfig)
    """How rays are grouped into images and 2D segments."""


class PanopticDataManager(VanillaDataManager[PanopticDataset]):
    config: PanopticDataManagerConfig
    train_dataset: PanopticDataset
    eval_dataset: PanopticDataset

    def setup_train(self) -> None:
        CONSOLE.print("Setting up training dataset...")
        store = self.train_dataset.store
        CONSOLE.print(
            f"Training rays resident: {store.num_frames} frames, {store.num_pixels:,} pixels, "
            f"{store.nbytes() / 2**20:.0f} MiB"
        )
        self.train_ray_sampler = SegmentRaySampler(self.config.ray_sampler, store)
        self.train_ray_generator = RayGenerator(self.train_dataset.cameras.to(self.device))

    def setup_eval(self) -> None:
        CONSOLE.print("Setting up evaluation dataset...")
        self.eval_ray_sampler = SegmentRaySampler(self.config.ray_sampler, self.eval_dataset.store)
        self.eval_ray_generator = RayGenerator(self.eval_dataset.cameras.to(self.device))
        self.fixed_indices_eval_dataloader = FixedIndicesEvalDataloader(
            input_dataset=self.eval_dataset, device=self.device, num_workers=self.world_size * 4
        )
        self.eval_dataloader = RandIndicesEvalDataloader(
            input_dataset=self.eval_dataset, device=self.device, num_workers=self.world_size * 4
        )

    def next_train(self, step: int) -> Tuple[RayBundle, Dict]:
        self.train_count += 1
        return self._next(self.train_ray_sampler, self.train_ray_generator, self.config.train_num_rays_per_batch)

    def next_eval(self, step: int) -> Tuple[RayBundle, Dict]:
        self.eval_count += 1
        return self._next(self.eval_ray_sampler, self.eval_ray_generator, self.config.eval_num_rays_per_batch)

    def _next(self, sampler: SegmentRaySampler, generator: RayGenerator, num_rays: int) -> Tuple[RayBundle, Dict]:
        indices, batch = sampler.sample(num_rays)
        batch = {key: value.to(self.device) for key, value in batch.items()}
        return generator(indices.to(self.device)), batch

    def get_train_rays_per_batch(self) -> int:
        return self.train_ray_sampler.rays_per_batch(self.config.train_num_rays_per_batch)

    def get_eval_rays_per_batch(self) -> int:
        return self.eval_ray_sampler.rays_per_batch(self.config.eval_num_rays_per_batch)

