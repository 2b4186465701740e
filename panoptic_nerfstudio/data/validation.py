"""Whole-scene validation: every check training makes, run alone and collected into a report.

``ns-panoptic validate`` prints the report; training runs the same per-frame
decoding (:func:`decode_frame`) when it builds its ray store and stops at the
first problem.

Frames without a mask are problems unless missing masks are allowed (training's
``--pipeline.datamanager.allow-missing-masks``); then they are listed apart, as
frames that train on RGB only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

from panoptic_nerfstudio.data.frame_decoding import DecodedFrame, decode_frame
from panoptic_nerfstudio.data.panoptic_dataparser import load_class_table
from panoptic_nerfstudio.data.panoptic_format import ClassTable, PanopticFormatError, checked_image_size
from panoptic_nerfstudio.data.scene_layout import PANOPTIC, frame_layers, load_transforms


@dataclass
class FrameStats:
    name: str
    segments: int
    things: int
    void_fraction: float


@dataclass
class ValidationReport:
    scene: Path
    classes: Optional[ClassTable] = None
    frames: List[FrameStats] = field(default_factory=list)
    total_frames: int = 0
    confidence_frames: int = 0
    ground_truth_frames: int = 0
    problems: List[str] = field(default_factory=list)
    frames_without_masks: List[str] = field(default_factory=list)
    """Frames with no panoptic mask, accepted because missing masks were allowed (they train RGB only)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_scene(scene: Path, allow_missing_masks: bool = False) -> ValidationReport:
    """Check a scene against docs/format.md; problems are collected, each naming its file."""
    report = ValidationReport(scene=Path(scene))
    try:
        meta, scene_dir = load_transforms(scene)
    except PanopticFormatError as err:
        report.problems.append(str(err))
        return report
    try:
        report.classes = load_class_table(scene_dir)
    except PanopticFormatError as err:
        report.problems.append(str(err))
        return report

    report.total_frames = len(meta["frames"])
    for frame in meta["frames"]:
        try:
            stats = _validate_frame(scene_dir, frame, report, allow_missing_masks)
        except PanopticFormatError as err:
            report.problems.append(str(err))
            continue
        if stats is not None:
            report.frames.append(stats)
    return report


def _validate_frame(
    scene_dir: Path, frame: dict, report: ValidationReport, allow_missing_masks: bool
) -> Optional[FrameStats]:
    """Stats of a valid frame; None for an allowed frame without a mask."""
    assert report.classes is not None
    layers = frame_layers(scene_dir, frame)
    size = checked_image_size(layers.image)
    missing = layers.panoptic is None or not layers.panoptic.exists()
    if missing and PANOPTIC.key in frame:
        raise PanopticFormatError(
            layers.panoptic or layers.image, f"named by '{PANOPTIC.key}' of frame {frame['file_path']} but missing"
        )
    if missing and not allow_missing_masks:
        problem = f"missing panoptic mask for frame {frame['file_path']}"
        raise PanopticFormatError(layers.panoptic or layers.image, problem)
    decoded = None
    if not missing:
        decoded = decode_frame(layers.panoptic, report.classes, size, layers.confidence, allow_downscaled=False)
    if layers.gt_panoptic is not None:
        decode_frame(layers.gt_panoptic, report.classes, size, allow_downscaled=False)
        report.ground_truth_frames += 1
    if decoded is None:
        report.frames_without_masks.append(Path(frame["file_path"]).name)
        return None
    if layers.confidence is not None:
        report.confidence_frames += 1
    return _stats(Path(frame["file_path"]).stem, decoded)


def _stats(name: str, decoded: DecodedFrame) -> FrameStats:
    return FrameStats(
        name=name,
        segments=len(decoded.segment_ids) - 1,
        things=decoded.num_things,
        void_fraction=float(np.mean(decoded.segment_index == 0)),
    )
