"""Datamanager that samples rays from the in-memory ray store, grouped by image and segment.

Replaces nerfstudio's image cache + pixel sampler for training and for the eval
loss batches (which would keep a float32 copy of every image and re-collate per
step); full-image evaluation still goes through nerfstudio's eval dataloaders, so
``ns-eval`` and the trainer's image metrics work unchanged.

The datamanager also carries, in the checkpoint, the state of the random streams
that draw the rays (and nerfacto's sample jitter, which shares torch's global
stream): nerfstudio reseeds at start-up, so without it a run resumed with
``--load-dir`` would redraw the batches of steps 0, 1, ... instead of continuing. With the sampler's error map
(``pixel_error_map``) the checkpoint carries the map too, and the pipeline hands each step's rendered colours back
(``record_train_errors``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Type

import numpy as np
import torch
import tyro

from nerfstudio.cameras.rays import RayBundle
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManager, VanillaDataManagerConfig
from nerfstudio.data.pixel_samplers import PixelSamplerConfig
from nerfstudio.data.utils.dataloaders import FixedIndicesEvalDataloader, RandIndicesEvalDataloader
from nerfstudio.model_components.ray_generators import RayGenerator
from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.panoptic_dataset import PanopticDataset
from panoptic_nerfstudio.data.pixel_error_map import PixelErrorMap
from panoptic_nerfstudio.data.pixel_storage import PixelAllocator, PixelCache
from panoptic_nerfstudio.data.segment_ray_sampler import SegmentRaySampler, SegmentRaySamplerConfig
from panoptic_nerfstudio.utils.distributed import decorrelate_ranks, rank_and_world_size, rank_frames


MAX_THINGS_METADATA_KEY = "max_things_per_frame"
"""Key of the training dataset's metadata (which the pipeline hands to the model): most thing segments in a frame."""


@dataclass
class PanopticDataManagerConfig(VanillaDataManagerConfig):
    """Training rays from the in-memory ray store, grouped by image and 2D segment."""

    _target: Type = field(default_factory=lambda: PanopticDataManager)
    dataparser: PanopticDataParserConfig = field(default_factory=PanopticDataParserConfig)
    """The panoptic-data dataparser: a nerfstudio dataset plus its panoptic layers."""
    ray_sampler: SegmentRaySamplerConfig = field(default_factory=SegmentRaySamplerConfig)
    """How rays are grouped into images and 2D segments."""
    allow_missing_masks: bool = False
    """Train frames that have no panoptic mask on RGB only (their rays carry no labels). Off: a missing mask
    stops the run before training, naming the frames."""
    cache_images: PixelCache = "cpu"
    """Where the decoded pixels (RGB, masks, confidence: 11 bytes per pixel) live: cpu in memory; disk in
    memory-mapped files under cache_dir, paged in as rays are drawn (for scenes larger than memory)."""
    cache_dir: Optional[Path] = None
    """Folder of --cache-images disk's files (default: the system's temporary folder); use a disk, not tmpfs. The
    files are unlinked as soon as they are mapped: nothing is left behind."""
    # nerfstudio's image-cache sampling, which the segment ray sampler replaces: hidden, since they would do nothing.
    train_num_images_to_sample_from: tyro.conf.Suppress[int] = -1
    """Unused: every training image stays in the ray store."""
    train_num_times_to_repeat_images: tyro.conf.Suppress[int] = -1
    """Unused: every training image stays in the ray store."""
    eval_num_images_to_sample_from: tyro.conf.Suppress[int] = -1
    """Unused: every evaluation image stays in the ray store."""
    eval_num_times_to_repeat_images: tyro.conf.Suppress[int] = -1
    """Unused: every evaluation image stays in the ray store."""
    eval_image_indices: tyro.conf.Suppress[Optional[Tuple[int, ...]]] = (0,)
    """Unused: full-image evaluation covers every evaluation image."""
    patch_size: tyro.conf.Suppress[int] = 1
    """Unused: rays are grouped by 2D segment, not by patch."""
    pixel_sampler: tyro.conf.Suppress[PixelSamplerConfig] = field(default_factory=PixelSamplerConfig)
    """Unused: the segment ray sampler (``ray_sampler``) draws the rays."""


class PanopticDataManager(VanillaDataManager[PanopticDataset]):
    config: PanopticDataManagerConfig
    train_dataset: PanopticDataset
    eval_dataset: PanopticDataset

    def __init__(self, config: PanopticDataManagerConfig, *args: Any, **kwargs: Any):
        # The dataparser reads the one user-facing flag from a copy of its config: the user's config stays as given.
        dataparser = replace(config.dataparser, allow_missing_masks=config.allow_missing_masks)
        super().__init__(replace(config, dataparser=dataparser), *args, **kwargs)
        self._warn_about_frames_without_masks()

    def _warn_about_frames_without_masks(self) -> None:
        """Once per run, for both splits together: how many frames train on RGB only, and which."""
        datasets = (self.train_dataset, self.eval_dataset)
        names = sorted({name for dataset in datasets for name in dataset.frames_without_masks})
        if names:  # a set: with eval-mode "all" the two splits hold the same frames
            total = len({name for dataset in datasets for name in dataset.image_filenames})
            shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            CONSOLE.print(
                f"[bold yellow]Warning: {len(names)} of {total} frames have no panoptic mask and train on RGB only "
                f"(--pipeline.datamanager.allow-missing-masks): {shown}",
                soft_wrap=True,
            )

    def create_train_dataset(self) -> PanopticDataset:
        dataset = super().create_train_dataset()
        dataset.pixel_allocator = PixelAllocator(self.config.cache_images, self.config.cache_dir)
        return dataset

    def create_eval_dataset(self) -> PanopticDataset:
        dataset = super().create_eval_dataset()
        dataset.pixel_allocator = PixelAllocator(self.config.cache_images, self.config.cache_dir)
        return dataset

    def setup_train(self) -> None:
        CONSOLE.print("Setting up training dataset...")
        store = self.train_dataset.store
        CONSOLE.print(
            f"Training rays {'resident' if self.config.cache_images == 'cpu' else 'memory-mapped'}: "
            f"{store.num_frames} frames, {store.num_pixels:,} pixels, {store.nbytes() / 2**20:.0f} MiB"
        )
        rank, world_size = rank_and_world_size()
        # several training processes: each draws from its own frames, so no two ranks train on the same rays
        frames = rank_frames(store.num_frames, rank, world_size) if world_size > 1 else None
        self.train_ray_sampler: SegmentRaySampler = self.config.ray_sampler.setup(store=store, frames=frames)
        self.train_ray_generator = RayGenerator(self.train_dataset.cameras.to(self.device))
        # Explicit metadata for the model (the pipeline gives it the training dataset's metadata).
        self.train_dataset.metadata[MAX_THINGS_METADATA_KEY] = store.max_things_per_frame

    def setup_eval(self) -> None:
        CONSOLE.print("Setting up evaluation dataset...")
        # no error map: nothing records the eval batches' errors, and its 4x candidates would draw from torch's
        # global stream, which training's batches and jitter share
        eval_sampler = replace(self.config.ray_sampler, error_map_candidates=1)
        self.eval_ray_sampler: SegmentRaySampler = eval_sampler.setup(store=self.eval_dataset.store)
        self.eval_ray_generator = RayGenerator(self.eval_dataset.cameras.to(self.device))
        self.fixed_indices_eval_dataloader = FixedIndicesEvalDataloader(
            input_dataset=self.eval_dataset, device=self.device, num_workers=self.world_size * 4
        )
        self.eval_dataloader = RandIndicesEvalDataloader(
            input_dataset=self.eval_dataset, device=self.device, num_workers=self.world_size * 4
        )

    def next_train(self, step: int) -> Tuple[RayBundle, Dict]:
        self.train_count += 1
        sampler, generator = self.train_ray_sampler, self.train_ray_generator
        bundle, batch = self._next(sampler, generator, self.config.train_num_rays_per_batch)
        self._last_train_image = batch["image"]
        return bundle, batch

    def record_train_errors(self, rgb: torch.Tensor) -> None:
        """Give the sampler's error map the squared colour error of the last training batch's rendered ``rgb``."""
        if self._train_error_map is not None:
            self.train_ray_sampler.record_errors(((rgb.detach() - self._last_train_image) ** 2).mean(dim=-1))

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

    # ------------------------------------------------------------------ resuming

    @property
    def _train_error_map(self) -> Optional[PixelErrorMap]:
        """The training sampler's error map (None without one, or before ``setup_train``)."""
        return getattr(getattr(self, "train_ray_sampler", None), "error_map", None)

    def get_extra_state(self) -> Dict[str, Any]:
        """Saved with the pipeline's state dict in every checkpoint (only tensors, numbers and tuples: weights_only)."""
        state = random_state()
        if self._train_error_map is not None:
            state["error_map"] = self._train_error_map.state()
        return state

    def set_extra_state(self, state: Any) -> None:
        """Continue the saved random streams, but only when training: loading a checkpoint to evaluate or render
        leaves the process's streams alone."""
        if self.test_mode == "val" and isinstance(state, dict):
            restore_random_state(state)
            if self._train_error_map is not None and "error_map" in state:  # rank 0's map: other ranks' frames unseen
                self._train_error_map.load_state(state["error_map"])
            decorrelate_ranks()  # rank 0 saved its streams; the other ranks must not replay them


def random_state() -> Dict[str, Any]:
    """Every random stream training draws from: torch (CPU and CUDA), numpy's global and Python's ``random``."""
    numpy_state = np.random.get_state(legacy=False)
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
        "numpy_pos": int(numpy_state["state"]["pos"]),
        "numpy_gauss": (int(numpy_state["has_gauss"]), float(numpy_state["gauss"])),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    has_gauss, gauss = state["numpy_gauss"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": state["numpy_key"].numpy().astype(np.uint32), "pos": state["numpy_pos"]},
            "has_gauss": has_gauss,
            "gauss": gauss,
        }
    )
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
