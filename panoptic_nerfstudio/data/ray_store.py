"""All training pixels of a split, decoded once and kept compact in memory.

Frames may differ in size, so pixels of all frames are concatenated into flat
arrays with per-frame offsets. Per pixel we keep RGB (uint8 x 3), the segment row
local to the frame (int16), the confidence (float16) and the pixel's place in a
per-frame "pixels sorted by segment" list (int32): 11 bytes. Per segment we keep
its class, its thing index in the frame, its area and where its pixels start in
that list, which lets the sampler draw many rays from one 2D segment at O(1) per
ray. 300 frames at 640x480 need about 1 GB in all, 0.75 GB of it for the masks. The per-pixel arrays live in
memory or in memory-mapped files (``pixel_storage``); frames are packed one at a time as they are decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from panoptic_nerfstudio.data.frame_decoding import IGNORE, DecodedFrame
from panoptic_nerfstudio.data.pixel_storage import PixelAllocator


@dataclass
class RayStore:
    rgb: torch.Tensor
    """[P, 3] uint8, all pixels of all frames, row-major per frame."""
    confidence: torch.Tensor
    """[P] float16."""
    pixel_segment: torch.Tensor
    """[P] int16 segment row of each pixel local to its frame (add ``frame_segment_offset``)."""
    sorted_pixels: torch.Tensor
    """[P] int32 pixel index local to its frame, frames in order, each frame's pixels grouped by segment."""
    frame_pixel_offset: torch.Tensor
    """[N+1] int64 start of each frame in the per-pixel arrays."""
    widths: torch.Tensor
    """[N] int64."""
    heights: torch.Tensor
    """[N] int64."""
    frame_segment_offset: torch.Tensor
    """[N+1] int64 first segment row of each frame; row 0 of a frame is its void pixels."""
    segment_class: torch.Tensor
    """[S] int64 dense class index, IGNORE for void."""
    segment_instance: torch.Tensor
    """[S] int64 thing index local to the frame, IGNORE for stuff and void."""
    segment_area: torch.Tensor
    """[S] int64 number of pixels (0 for listed but absent segments is impossible: rows come from pixels)."""
    segment_start: torch.Tensor
    """[S] int64 offset of the segment's first pixel in ``sorted_pixels`` (global)."""
    segment_id: torch.Tensor
    """[S] int64 id of the segment as written in its file (for messages and export)."""

    @property
    def num_frames(self) -> int:
        return int(self.widths.numel())

    @property
    def num_pixels(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def max_things_per_frame(self) -> int:
        """Most thing segments in one frame (the instance slots must be at least this many)."""
        things = (self.segment_instance >= 0).long()
        per_frame = torch.zeros(self.num_frames, dtype=torch.long)
        frame_of_row = torch.repeat_interleave(torch.arange(self.num_frames), self.frame_segment_offset.diff())
        return int(per_frame.index_add_(0, frame_of_row, things).max()) if self.num_frames else 0

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.__dict__.values() if isinstance(t, torch.Tensor))

    def gather(self, frame: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per-ray training targets for pixels (frame, y, x)."""
        flat = self.frame_pixel_offset[frame] + y * self.widths[frame] + x
        segment = self.frame_segment_offset[frame] + self.pixel_segment[flat].long()
        return {
            "image": self.rgb[flat].float() / 255.0,
            "semantics": self.segment_class[segment],
            "instance": self.segment_instance[segment],
            "confidence": self.confidence[flat].float(),
            "segment": segment,
        }

    def frame_layers(self, frame: int) -> Dict[str, torch.Tensor]:
        """Full-image targets of one frame, shaped [H, W, 1] like nerfstudio's image layers."""
        h, w = int(self.heights[frame]), int(self.widths[frame])
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        idx = torch.full_like(ys, frame)
        out = self.gather(idx.reshape(-1), ys.reshape(-1), xs.reshape(-1))
        out.pop("image")
        return {k: v.reshape(h, w, 1) for k, v in out.items()}


def build_ray_store(
    images: Sequence[np.ndarray], frames: Sequence[DecodedFrame], allocator: Optional[PixelAllocator] = None
) -> RayStore:
    """Pack decoded frames and their uint8 RGB images (H, W, 3) into one RayStore."""
    assert len(images) == len(frames) and len(frames) > 0
    builder = RayStoreBuilder([f.segment_index.shape for f in frames], allocator)
    for n, (image, frame) in enumerate(zip(images, frames)):
        builder.add(n, image, frame)
    return builder.finish()


class RayStoreBuilder:
    """Packs frames one at a time into per-pixel arrays allocated up front from the frames' sizes, so that loading
    holds one decoded frame besides the store (not the whole split twice), in memory or on disk (``allocator``)."""

    def __init__(self, sizes: Sequence[Tuple[int, int]], allocator: Optional[PixelAllocator] = None):
        """``sizes``: (height, width) of every frame, in order."""
        assert len(sizes) > 0
        allocator = allocator or PixelAllocator("cpu")
        self.allocator = allocator
        self.heights = [int(h) for h, _ in sizes]
        self.widths = [int(w) for _, w in sizes]
        counts = [h * w for h, w in zip(self.heights, self.widths)]
        self.pixel_offset = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        total = int(self.pixel_offset[-1])
        self.rgb = allocator.empty((total, 3), np.uint8)
        self.confidence = allocator.empty((total,), np.float16)
        self.pixel_segment = allocator.empty((total,), np.int16)
        self.sorted_pixels = allocator.empty((total,), np.int32)
        self.frames: List[Optional[Dict[str, np.ndarray]]] = [None] * len(sizes)
        per_pixel = (self.rgb, self.confidence, self.pixel_segment, self.sorted_pixels)
        self.bytes_per_pixel = sum(a.itemsize * int(np.prod(a.shape[1:])) for a in per_pixel)

    def add(self, n: int, image: np.ndarray, frame: DecodedFrame) -> None:
        """Pack frame ``n`` (its image must have the size given for it)."""
        assert image.shape[:2] == frame.segment_index.shape == (self.heights[n], self.widths[n]), "frame size"
        lo, hi = self.pixel_offset[n], self.pixel_offset[n + 1]
        local = frame.segment_index.reshape(-1).astype(np.int64)
        self.rgb[lo:hi] = image[..., :3].reshape(-1, 3)
        self.confidence[lo:hi] = frame.confidence.reshape(-1)
        self.pixel_segment[lo:hi] = frame.segment_index.reshape(-1)
        self.sorted_pixels[lo:hi] = np.argsort(local, kind="stable")
        area = np.bincount(local, minlength=len(frame.segment_ids))
        self.allocator.wrote(int(hi - lo) * self.bytes_per_pixel)
        self.frames[n] = {
            "area": area,
            "start": lo + np.concatenate([[0], np.cumsum(area)[:-1]]),
            "classes": frame.classes,
            "instances": frame.instances,
            "ids": frame.segment_ids,
        }

    def finish(self) -> RayStore:
        missing = [n for n, f in enumerate(self.frames) if f is None]
        assert not missing, f"frames {missing} were never added"
        tables = self.frames  # type: ignore[assignment]
        segment_offset = np.concatenate([[0], np.cumsum([len(t["ids"]) for t in tables])]).astype(np.int64)
        self.allocator.release_pages()

        def cat(key: str) -> torch.Tensor:
            return torch.from_numpy(np.concatenate([t[key] for t in tables]).astype(np.int64))

        return RayStore(
            rgb=torch.from_numpy(self.rgb),
            confidence=torch.from_numpy(self.confidence),
            pixel_segment=torch.from_numpy(self.pixel_segment),
            sorted_pixels=torch.from_numpy(self.sorted_pixels),
            frame_pixel_offset=torch.from_numpy(self.pixel_offset),
            widths=torch.tensor(self.widths, dtype=torch.int64),
            heights=torch.tensor(self.heights, dtype=torch.int64),
            frame_segment_offset=torch.from_numpy(segment_offset),
            segment_class=cat("classes"),
            segment_instance=cat("instances"),
            segment_area=cat("area"),
            segment_start=cat("start"),
            segment_id=cat("ids"),
        )


__all__ = ["RayStore", "RayStoreBuilder", "build_ray_store", "IGNORE"]
