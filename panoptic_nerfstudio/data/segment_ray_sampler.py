"""Draws training rays as a few images x several 2D segments x several rays each.

Panoptic Lifting needs two groupings that a uniform pixel sampler cannot give:
the instance loss solves one assignment per image, so each image in the batch must
contribute many rays; the segment consistency loss compares rays of one 2D
segment, so several rays must come from the same segment.

Every thing segment of each drawn image gets a group of its own (up to a share of
the groups available per image, ``max_cover_share``; in busier frames a smaller share,
``busy_cover_share``, so that walls and floor keep their rays): the assignment of one image must
see all of its instances at once. Were two neighbouring chairs drawn in different
batches, each would be matched alone to the slot that already wins there, and the pair
would collapse into one slot. The remaining groups are drawn from a mixture: with
weight ``1 - uniform_segment_fraction`` proportional to area (void included), which on
its own makes every pixel equally likely, as RGB training expects; and with weight ``uniform_segment_fraction``
uniformly over the frame's labelled segments, so small objects are seen often
enough for the instance and consistency losses to act on them.
With ``error_map_candidates`` > 1 each group's rays are then picked inside its segment by the colour error each pixel
last had (``pixel_error_map``): rays go to what the field still renders worst.
Everything is vectorised: no Python loop over images, segments or rays.
With several training processes each draws from its own frames (``frames``, see ``utils/distributed.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple, Type

import torch

from nerfstudio.configs.base_config import InstantiateConfig

from panoptic_nerfstudio.data.pixel_error_map import PixelErrorMap
from panoptic_nerfstudio.data.ray_store import RayStore


@dataclass
class SegmentRaySamplerConfig(InstantiateConfig):
    _target: Type = field(default_factory=lambda: SegmentRaySampler)
    images_per_batch: int = 4
    """Images per batch; the instance assignment is solved per image."""
    rays_per_segment: int = 16
    """Rays drawn from each chosen 2D segment (the groups of the consistency loss)."""
    uniform_segment_fraction: float = 0.5
    """Share of segment draws uniform over segments rather than proportional to area."""
    max_cover_share: float = 0.5
    """Every thing segment of a drawn image gets a group before the mixture draws the rest, in at most this share of the
    image's groups (a random subset of them beyond it; 0: none, every group from the mixture). Without a limit a frame
    with as many things as groups gives no ray to the stuff around them: on the 48-object demo room (21 thing segments
    per frame, 32 groups per image in the lite preset then; 48 since 2b05d96) walls, floor and ceiling, 67% of the
    pixels, got 15% of the rays (21% with this limit), and the class head labelled the floor between the objects lamp
    (README, "Two instance heads"). Frames with fewer things than this share of the groups are drawn exactly as
    without it."""
    busy_cover_share: float = 0.25
    """In a busy frame, one with more things than ``max_cover_share`` of the groups (its things cannot all get a group
    anyway), only this share of the groups covers things. On the 60-object demo room (25 to 27 thing segments per
    frame in its input masks, median) a quarter instead of half kept the floor on four contrastive runs of four (two of
    four lost it with half) and raised PQ^scene from 73.6 to 83.0 (README, "Two instance heads"), while on the suite's
    rooms (at most 11 things per frame) a quarter for every frame was no better. Equal to ``max_cover_share``: one
    share for every frame."""
    error_map_candidates: int = 1
    """Candidate pixels drawn per ray, uniformly in the ray's segment; the ray is one of them, drawn in proportion to
    the colour error each had when last trained on (an error map as Instant-NGP's; 1: no error map, uniform in the
    segment, the presets' default). 4 lifted all four runs of the `thin` demo rooms in the quality suite (+4.5 on
    average) but took 5.6 and 8.1 points off the crowded room's scene seed 0 (docs/quality.md, "Tried and not
    kept"). A rank's map holds 4 bytes per training pixel."""
    error_map_stuff_only: bool = False
    """The error map picks the rays of stuff and void segments only; the rays of thing segments stay uniform in their
    segment, as the instance losses had them before: left to the map, a thing's rays would go towards its edges (where
    colour errors are likeliest), which is where the 2D masks err most and touching objects meet."""
    error_map_floor: float = 1.0
    """Added to each candidate's error as this multiple of the recent mean error: the larger, the closer to uniform
    draws (a pixel rendered perfectly keeps a chance)."""


class SegmentRaySampler:
    def __init__(self, config: SegmentRaySamplerConfig, store: RayStore, frames: Optional[torch.Tensor] = None):
        """``frames``: the only frames to draw from (this process's share); None: all of them."""
        if not 0.0 <= config.uniform_segment_fraction <= 1.0:
            raise ValueError("uniform_segment_fraction must lie in [0, 1]")
        for name in ("max_cover_share", "busy_cover_share"):
            if not 0.0 <= getattr(config, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]")
        if config.images_per_batch < 1 or config.rays_per_segment < 1 or config.error_map_candidates < 1:
            raise ValueError("images_per_batch, rays_per_segment and error_map_candidates must be positive")
        if config.error_map_floor < 0:
            raise ValueError("error_map_floor must not be negative")
        self.config = config
        self.store = store
        self.segment_weights = _segment_weights(store, config.uniform_segment_fraction)
        self.thing_columns = _thing_columns(store, self.segment_weights.shape[1])
        self.frames = None if frames is None else torch.as_tensor(frames, dtype=torch.long)
        self.error_map: Optional[PixelErrorMap] = None
        if config.error_map_candidates > 1:
            self.error_map = PixelErrorMap(store.num_pixels, config.error_map_floor)
        self.last_pixels: Optional[torch.Tensor] = None
        """Flat pixel indices of the last batch's rays (what ``record_errors`` stores the errors of)."""

    def rays_per_batch(self, requested: int) -> int:
        """Rays actually drawn for a requested batch size (a multiple of the grouping)."""
        images, groups = self._shape(requested)
        return images * groups * self.config.rays_per_segment

    def _shape(self, requested: int) -> Tuple[int, int]:
        own = self.store.num_frames if self.frames is None else len(self.frames)
        images = min(self.config.images_per_batch, own)
        groups = max(1, requested // (images * self.config.rays_per_segment))
        return images, groups

    def sample(self, num_rays: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Ray indices [R, 3] (frame, y, x) and per-ray targets, grouped image-major, then segment."""
        store = self.store
        images, groups = self._shape(num_rays)
        per_segment = self.config.rays_per_segment

        if self.frames is None:
            frames = torch.randperm(store.num_frames)[:images]
        else:
            frames = self.frames[torch.randperm(len(self.frames))[:images]]
        local = torch.multinomial(self.segment_weights[frames], groups, replacement=True)
        if self.config.max_cover_share > 0:
            local = self._cover_things(frames, local)
        rows = store.frame_segment_offset[frames, None] + local
        area = store.segment_area[rows]
        draws = per_segment * self.config.error_map_candidates
        offset = (torch.rand(images, groups, draws) * area[..., None]).long()
        offset = torch.minimum(offset, area[..., None] - 1)
        pixel = store.sorted_pixels[store.segment_start[rows][..., None] + offset].long()
        if self.error_map is not None:
            candidates = (store.frame_pixel_offset[frames][:, None, None] + pixel).reshape(-1, draws)
            keep = self.error_map.choose(candidates, per_segment)
            if self.config.error_map_stuff_only:
                uniform = torch.arange(per_segment).expand_as(keep)  # the candidates are uniform draws already
                thing = (store.segment_instance[rows] >= 0).reshape(-1, 1)
                keep = torch.where(thing, uniform, keep)
            pixel = pixel.reshape(-1, draws).gather(1, keep).reshape(images, groups, per_segment)
            self.last_pixels = candidates.gather(1, keep).reshape(-1)  # in the order of the batch's rays

        width = store.widths[frames][:, None, None]
        frame = frames[:, None, None].expand_as(pixel).reshape(-1)
        y = (pixel // width).reshape(-1)
        x = (pixel % width).reshape(-1)
        batch = store.gather(frame, y, x)
        indices = torch.stack([frame, y, x], dim=-1)
        batch["indices"] = indices
        return indices, batch

    def record_errors(self, squared_error: torch.Tensor) -> None:
        """Store the last batch's per-ray squared colour error in the error map (nothing without one)."""
        if self.error_map is not None and self.last_pixels is not None:
            self.error_map.record(self.last_pixels, squared_error)

    def _cover_things(self, frames: torch.Tensor, drawn: torch.Tensor) -> torch.Tensor:
        """Replace the first draws of each image by its thing segments, in random order (a random subset of
        ``busy_cover_share`` of the groups if more than ``max_cover_share`` of the groups)."""
        groups = drawn.shape[1]
        cover = math.ceil(self.config.max_cover_share * groups)
        busy = math.ceil(self.config.busy_cover_share * groups)
        is_thing = self.thing_columns[frames]
        order = (torch.rand(is_thing.shape) - is_thing.float()).argsort(dim=1)[:, :groups]
        if order.shape[1] < groups:
            order = torch.cat([order, order.new_zeros(len(frames), groups - order.shape[1])], dim=1)
        things = is_thing.sum(dim=1, keepdim=True)
        count = torch.where(things > cover, things.clamp(max=busy), things)
        return torch.where(torch.arange(groups) < count, order, drawn)


def _thing_columns(store: RayStore, width: int) -> torch.Tensor:
    """[N, max segments per frame] True where the column is a non-empty thing segment of that frame."""
    counts = store.frame_segment_offset[1:] - store.frame_segment_offset[:-1]
    frames = torch.repeat_interleave(torch.arange(store.num_frames), counts)
    column = torch.arange(len(frames)) - store.frame_segment_offset[frames]
    columns = torch.zeros(store.num_frames, width, dtype=torch.bool)
    columns[frames, column] = (store.segment_instance >= 0) & (store.segment_area > 0)
    return columns


def _segment_weights(store: RayStore, uniform_fraction: float) -> torch.Tensor:
    """[N, max segments per frame] draw probabilities per frame (zero padded)."""
    counts = store.frame_segment_offset[1:] - store.frame_segment_offset[:-1]
    frames = torch.repeat_interleave(torch.arange(store.num_frames), counts)
    column = torch.arange(len(frames)) - store.frame_segment_offset[frames]
    area = store.segment_area.double()
    pixels = (store.frame_pixel_offset[1:] - store.frame_pixel_offset[:-1]).double()
    labelled = (column > 0) & (store.segment_area > 0)
    num_labelled = torch.zeros(store.num_frames, dtype=torch.float64).index_add_(0, frames, labelled.double())

    by_area = area / pixels[frames]
    uniform = labelled.double() / num_labelled[frames].clamp(min=1)
    fraction = torch.where(num_labelled[frames] > 0, uniform_fraction, 0.0)
    weights = torch.zeros(store.num_frames, int(counts.max()), dtype=torch.float64)
    weights[frames, column] = (1 - fraction) * by_area + fraction * uniform
    return weights.float()
