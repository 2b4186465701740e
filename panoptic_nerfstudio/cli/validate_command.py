"""``ns-panoptic validate SCENE``: check a scene before training and summarise it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro
from rich.table import Table

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.data.validation import ValidationReport, validate_scene


@dataclass
class Validate:
    """Check a scene against the panoptic format and print a summary table."""

    scene: tyro.conf.Positional[Path]
    """Scene directory (with transforms.json) or the transforms.json itself."""
    allow_missing_masks: bool = False
    """Accept frames without a panoptic mask (as training does with --pipeline.datamanager.allow-missing-masks)."""

    def main(self) -> int:
        report = validate_scene(self.scene, allow_missing_masks=self.allow_missing_masks)
        CONSOLE.print(summary_table(report))
        for problem in report.problems:
            CONSOLE.print(f"[bold red]error[/bold red] {problem}", soft_wrap=True)
        if not report.ok:
            CONSOLE.print(f"[bold red]{len(report.problems)} problem(s) found in {self.scene}")
            return 1
        if report.frames_without_masks:
            CONSOLE.print(
                f"[bold yellow]{len(report.frames_without_masks)} frame(s) have no panoptic mask and will train on RGB "
                f"only: {', '.join(report.frames_without_masks)}",
                soft_wrap=True,
            )
        CONSOLE.print(f"[bold green]{self.scene} is a valid panoptic scene")
        return 0


def summary_table(report: ValidationReport) -> Table:
    table = Table(title=f"Panoptic scene {report.scene}", show_header=True)
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("frames", f"{len(report.frames) + len(report.frames_without_masks)} valid of {report.total_frames}")
    if report.frames_without_masks:
        table.add_row("frames without masks (RGB only)", str(len(report.frames_without_masks)))
    if report.classes is not None:
        things = int(report.classes.thing_mask.sum())
        table.add_row("classes", f"{len(report.classes)} ({things} thing, {len(report.classes) - things} stuff)")
    if report.frames:
        segments = np.array([f.segments for f in report.frames])
        things_per_frame = np.array([f.things for f in report.frames])
        void = np.array([f.void_fraction for f in report.frames])
        table.add_row("segments per frame", f"{segments.mean():.1f} (min {segments.min()}, max {segments.max()})")
        table.add_row(
            "thing segments per frame",
            f"{things_per_frame.mean():.1f} (min {things_per_frame.min()}, max {things_per_frame.max()})",
        )
        table.add_row("void fraction", f"{void.mean():.3f} (max {void.max():.3f})")
    table.add_row("frames with confidence", str(report.confidence_frames))
    table.add_row("frames with ground truth", str(report.ground_truth_frames))
    table.add_row("problems", str(len(report.problems)))
    return table
