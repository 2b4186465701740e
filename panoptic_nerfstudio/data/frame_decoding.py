"""Decode one frame's panoptic layers into what training needs, checking the contract.

A frame is reduced to a small per-pixel segment index plus a per-segment table
(class, thing index, score). Everything per ray (class, instance, segment) is then
a table lookup, so masks are decoded once and stored in a few bytes per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from panoptic_nerfstudio.data.panoptic_format import (
    VOID_ID,
    ClassTable,
    PanopticFormatError,
    read_confidence,
    read_panoptic,
    read_png_header,
)

IGNORE = -1
"""Label of rays a loss must skip: void for classes; void and stuff for instances."""


@dataclass
class DecodedFrame:
    segment_index: np.ndarray
    """[H, W] int16: 0 = void, s = row s of the tables below."""
    segment_ids: np.ndarray
    """[S+1] int64 segment ids as written in the file (row 0 is void, id 0)."""
    classes: np.ndarray
    """[S+1] int16 dense class index; IGNORE for void."""
    instances: np.ndarray
    """[S+1] int16 thing index local to this frame (0..T-1); IGNORE for stuff and void."""
    scores: np.ndarray
    """[S+1] float32 segment scores (void row 0)."""
    confidence: np.ndarray
    """[H, W] float16 per-pixel confidence: the confidence layer, else the segment score."""

    @property
    def num_things(self) -> int:
        return int((self.instances >= 0).sum())

    def pixel_classes(self) -> np.ndarray:
        """[H, W] int64 dense class index per pixel; IGNORE on void."""
        return self.classes.astype(np.int64)[self.segment_index]

    def pixel_thing_ids(self) -> np.ndarray:
        """[H, W] int64 segment id as written in the file on thing pixels; 0 on stuff and void."""
        return np.where(self.instances >= 0, self.segment_ids, 0)[self.segment_index]


def decode_frame(
    panoptic_path: Path,
    classes: ClassTable,
    image_size: Tuple[int, int],
    confidence_path: Optional[Path] = None,
    allow_downscaled: bool = True,
) -> DecodedFrame:
    """Read and check one frame's mask (and confidence) against its image size (W, H).

    A mask at an integer multiple of the image size (the image comes from a
    downscaled ``images_<d>/`` folder) is reduced by nearest neighbour, which keeps
    ids intact, unless ``allow_downscaled`` is False; any other size is an error. Sizes are checked
    from the PNG headers first, so a wrong-size (or absurdly large) layer is refused before it is decoded.
    """
    panoptic_path = Path(panoptic_path)
    header = read_png_header(panoptic_path, "panoptic mask")
    _check_size(header.size, image_size, panoptic_path, "panoptic mask", allow_downscaled)
    if confidence_path is not None:
        confidence_path = Path(confidence_path)
        header = read_png_header(confidence_path, "confidence map")
        _check_size(header.size, image_size, confidence_path, "confidence map", allow_downscaled)
    frame = read_panoptic(panoptic_path)
    ids = _fit_to_image(frame.ids, image_size, panoptic_path, "panoptic mask", allow_downscaled)
    table = frame.segment_table()
    thing_flags = classes.thing_mask

    present = np.unique(ids)
    present = present[present != VOID_ID]
    seen_stuff: dict = {}
    for segment in frame.segments:
        if segment.category_id not in classes:
            raise PanopticFormatError(
                panoptic_path.with_suffix(".json"),
                f"segment {segment.id} has unknown category {segment.category_id} (not in panoptic_classes.json)",
            )
        category = classes.by_id(segment.category_id)
        if segment.isthing != category.isthing:
            raise PanopticFormatError(
                panoptic_path.with_suffix(".json"),
                f"segment {segment.id} says isthing={segment.isthing} but category "
                f"{category.id} ({category.name}) has isthing={category.isthing}",
            )
        if not category.isthing:
            if category.id in seen_stuff:
                raise PanopticFormatError(
                    panoptic_path.with_suffix(".json"),
                    f"stuff category {category.id} ({category.name}) has two segments "
                    f"({seen_stuff[category.id]} and {segment.id}); stuff has at most one per frame",
                )
            seen_stuff[category.id] = segment.id

    segment_ids = np.concatenate([[VOID_ID], present]).astype(np.int64)
    index = np.searchsorted(segment_ids, ids).astype(np.int16) if len(segment_ids) < 2**15 else None
    if index is None:
        raise PanopticFormatError(panoptic_path, f"{len(segment_ids) - 1} segments in one frame; at most 32767")

    rows = [table[int(i)] for i in present]
    class_index = np.array([IGNORE] + [classes.index_of(s.category_id) for s in rows], dtype=np.int16)
    is_thing = np.array([False] + [bool(thing_flags[c]) for c in class_index[1:]], dtype=bool)
    instances = np.full(len(segment_ids), IGNORE, dtype=np.int16)
    instances[is_thing] = np.arange(int(is_thing.sum()), dtype=np.int16)
    scores = np.array([0.0] + [s.score for s in rows], dtype=np.float32)

    if confidence_path is not None:
        confidence = read_confidence(confidence_path)
        confidence = _fit_to_image(confidence, image_size, confidence_path, "confidence map", allow_downscaled)
        confidence = confidence.astype(np.float16)
    else:
        confidence = scores[index].astype(np.float16)

    return DecodedFrame(index, segment_ids, class_index, instances, scores, confidence)


def unlabelled_frame(image_size: Tuple[int, int]) -> DecodedFrame:
    """A frame without a mask (allowed only on request): every pixel void, so its rays train RGB only."""
    width, height = image_size
    return DecodedFrame(
        segment_index=np.zeros((height, width), dtype=np.int16),
        segment_ids=np.array([VOID_ID], dtype=np.int64),
        classes=np.array([IGNORE], dtype=np.int16),
        instances=np.array([IGNORE], dtype=np.int16),
        scores=np.zeros(1, dtype=np.float32),
        confidence=np.zeros((height, width), dtype=np.float16),
    )


def _fit_to_image(
    layer: np.ndarray, image_size: Tuple[int, int], path: Path, what: str, allow_downscaled: bool
) -> np.ndarray:
    width, height = image_size
    layer_h, layer_w = layer.shape[:2]
    _check_size((layer_w, layer_h), image_size, path, what, allow_downscaled)
    if (layer_w, layer_h) == (width, height):
        return layer
    return _nearest_resize(layer, width, height)


def _check_size(
    layer_size: Tuple[int, int], image_size: Tuple[int, int], path: Path, what: str, allow_downscaled: bool
) -> None:
    """The image's size, or (if allowed) an integer multiple of it; anything else is an error naming the file."""
    (layer_w, layer_h), (width, height) = layer_size, image_size
    if (layer_w, layer_h) == (width, height):
        return
    factor_w, factor_h = layer_w / width, layer_h / height
    if allow_downscaled and factor_w == factor_h and factor_w > 1 and factor_w.is_integer():
        return
    raise PanopticFormatError(
        path, f"{what} is {layer_w}x{layer_h} but its image is {width}x{height} (size mismatch with the image)"
    )


def _nearest_resize(layer: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour sampling at pixel centres, so ids and values are never blended."""
    rows = ((np.arange(height) + 0.5) * layer.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * layer.shape[1] / width).astype(np.int64)
    return layer[rows[:, None], cols[None, :]]
