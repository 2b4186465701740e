"""How much exported labels differ from the 2D input masks of the same frame.

Label transfer (``ns-panoptic export masks``) replaces each frame's machine-made mask by the
field's labels. Per frame, over the pixels the input labels (its void pixels have no class to
change):
- **class changed**: pixels whose class differs from the input's;
- **merged**: input segments that share the exported segment most of their pixels lie under
  (more than half) with another input segment: two input segments became one;
- **split**: input segments over two or more exported segments, each holding at least
  ``share`` of the input segment's pixels: one input segment became several.
Segments are (class, instance) pairs, so a stuff class is one segment per frame, as in the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import torch

from panoptic_nerfstudio.evaluation.instance_errors import DEFAULT_SHARE
from panoptic_nerfstudio.evaluation.panoptic_quality import VOID_CATEGORY, PanopticFrameLabels

MOSTLY = 0.5
"""Share of an input segment's pixels an exported segment must hold for the input segment to lie "mostly under" it."""


@dataclass
class FrameChanges:
    """Exported labels against the input mask of one frame."""

    name: str
    pixels: int
    """Pixels the input mask labels (not void)."""
    class_changed: int
    """Of those, pixels whose exported class differs from the input's."""
    void_labelled: int
    """Input void pixels, which the export labels (it has no void)."""
    input_segments: int
    exported_segments: int
    merged: int
    """Input segments mostly under one exported segment together with another input segment."""
    split: int
    """Input segments spread over several exported segments."""

    @property
    def class_changed_fraction(self) -> float:
        return self.class_changed / self.pixels if self.pixels else 0.0

    @property
    def segments_changed(self) -> int:
        return self.merged + self.split


def frame_changes(
    name: str, exported: PanopticFrameLabels, given: PanopticFrameLabels, share: float = DEFAULT_SHARE
) -> FrameChanges:
    """Compare a frame's exported labels with its input mask (both [H, W], the same size; void: VOID_CATEGORY)."""
    if exported.category.shape != given.category.shape:
        raise ValueError(f"{name}: exported labels {tuple(exported.category.shape)} and input mask "
                         f"{tuple(given.category.shape)} differ in size")  # fmt: skip
    labelled = given.category != VOID_CATEGORY
    class_changed = int(((exported.category != given.category) & labelled).sum())
    exported_keys = _segment_keys(exported)
    input_keys, input_index = torch.unique(_segment_keys(given)[labelled], return_inverse=True)
    under_keys, under_index = torch.unique(exported_keys[labelled], return_inverse=True)
    merged = split = 0
    if len(input_keys):
        overlap = torch.zeros(len(input_keys), len(under_keys), dtype=torch.long)
        overlap.index_put_((input_index, under_index), torch.ones_like(input_index), accumulate=True)
        sizes = overlap.sum(dim=1)
        largest, dominant = overlap.max(dim=1)
        mostly = largest.double() > MOSTLY * sizes.double()
        takers = torch.bincount(dominant[mostly], minlength=len(under_keys))  # input segments mostly under each
        merged = int((mostly & (takers[dominant] >= 2)).sum())
        parts = (overlap.double() >= share * sizes[:, None].double()) & (overlap > 0)
        split = int((parts.sum(dim=1) >= 2).sum())
    return FrameChanges(
        name=name,
        pixels=int(labelled.sum()),
        class_changed=class_changed,
        void_labelled=int((~labelled).sum()),
        input_segments=len(input_keys),
        exported_segments=len(torch.unique(exported_keys[exported.category != VOID_CATEGORY])),
        merged=merged,
        split=split,
    )


@dataclass
class ChangesSummary:
    """All frames together."""

    frames: int
    pixels: int
    class_changed: int
    void_labelled: int
    input_segments: int
    merged: int
    split: int

    @property
    def class_changed_fraction(self) -> float:
        return self.class_changed / self.pixels if self.pixels else 0.0


def summarize(changes: Sequence[FrameChanges]) -> ChangesSummary:
    return ChangesSummary(
        frames=len(changes),
        pixels=sum(c.pixels for c in changes),
        class_changed=sum(c.class_changed for c in changes),
        void_labelled=sum(c.void_labelled for c in changes),
        input_segments=sum(c.input_segments for c in changes),
        merged=sum(c.merged for c in changes),
        split=sum(c.split for c in changes),
    )


def worst_frames(changes: Sequence[FrameChanges], count: int) -> List[FrameChanges]:
    """The ``count`` frames the export changed most: by class-changed fraction, then by merged and split segments."""
    return sorted(changes, key=lambda c: (c.class_changed_fraction, c.segments_changed), reverse=True)[:count]


def _segment_keys(labels: PanopticFrameLabels) -> torch.Tensor:
    """One key per (class, instance) pair; a stuff pixel's instance is ignored (one segment per stuff class)."""
    category = labels.category.long()
    instance = torch.where(labels.instance > 0, labels.instance.long(), torch.zeros_like(category))
    return category * (1 << 32) + instance

