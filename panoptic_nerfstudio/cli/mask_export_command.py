"""``ns-panoptic export masks``: 3D-consistent 2D panoptic labels of a capture, written as a scene of their own.

Label transfer: from noisy per-frame masks to multi-view-consistent, denoised ones (e.g. to fine-tune a 2D
network). The logic is ``export/mask_export.py``; this is the command: options, checks, the printed report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.cli.command_errors import EXIT_OK, CommandError, report_error
from panoptic_nerfstudio.cli.label_changes_table import frames_table, overall_table
from panoptic_nerfstudio.cli.trained_run import load_panoptic_run, read_panoptic_config
from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError
from panoptic_nerfstudio.data.scene_layout import load_transforms
from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.export.mask_export import REPORT_FILENAME, export_masks
from panoptic_nerfstudio.export.scene_transforms import EXPORT_KEY
from panoptic_nerfstudio.export.split_frames import Split, source_frames, split_datasets
from panoptic_nerfstudio.utils.progress import frames_progress


@dataclass
class ExportMasks:
    """Panoptic masks of every frame of a split, from the trained field: one id per 3D instance, the same in every
    frame, written with images, confidence, transforms.json and class table as a scene of their own (it validates
    and trains like any other). Prints how the labels differ from the input masks."""

    load_config: Path
    """config.yml of a panoptic-lifting training run."""
    output_dir: Path = Path("panoptic_masks")
    """The scene to write. It must be empty, new, or an earlier export (which is overwritten)."""
    split: Split = "all"
    """Frames to label: the run's training frames, its evaluation frames, or both."""
    downscale: int = 1
    """Write images and masks at 1/downscale of the images' size (intrinsics scaled to match)."""

    def main(self) -> int:
        try:
            result = self._export()
        except (CommandError, PanopticFormatError) as error:
            return report_error(error)
        if result.changes:
            CONSOLE.print(frames_table(result.changes))
        CONSOLE.print(overall_table(result))
        if result.split_lists_dropped:
            CONSOLE.print(
                f"[yellow]The scene's train/val/test lists name frames of the --split {self.split} export left out: "
                "they are not written, so training on the export splits it by nerfstudio's --eval-mode.",
                soft_wrap=True,
            )
        report = validate_scene(self.output_dir)
        for problem in report.problems:
            CONSOLE.print(f"[bold red]error[/bold red] {problem}", soft_wrap=True)
        if not report.ok:
            return report_error(f"{self.output_dir}: the exported scene does not validate ({len(report.problems)} problems)")
        CONSOLE.print(
            f"[bold green]:white_check_mark: {report.total_frames} frames in {self.output_dir} "
            f"(a valid scene; differences per frame in {REPORT_FILENAME})"
        )
        return EXIT_OK

    def _export(self):
        read_panoptic_config(self.load_config)  # a wrong config is refused before the output folder is touched
        _, pipeline, model, checkpoint = load_panoptic_run(self.load_config)
        datamanager = pipeline.datamanager
        meta, scene_dir = load_transforms(datamanager.dataparser.config.data)
        self._check_output(scene_dir)
        frames = source_frames(split_datasets(datamanager, self.split), meta, scene_dir, self.downscale)
        if not frames:
            raise CommandError(f"{self.load_config}: the run's {self.split} split has no frames")
        provenance = {
            "source": str(self.load_config),
            "checkpoint": str(checkpoint),
            "scene": str(scene_dir),
            "split": self.split,
            "downscale": self.downscale,
        }
        with frames_progress() as progress:
            return export_masks(
                model, frames, model.classes, meta, self.output_dir, self.downscale, provenance,
                track=lambda items: progress.track(items, description=":label: Labelling frames"),
            )  # fmt: skip

    def _check_output(self, scene_dir: Path) -> None:
        """Never write into the source scene, nor over a folder that is not an earlier export."""
        out = self.output_dir
        if out.resolve() == Path(scene_dir).resolve():
            raise CommandError(f"{out}: that is the run's own scene; choose another --output-dir")
        if not out.exists() or (out.is_dir() and not any(out.iterdir())):
            return
        transforms = out / "transforms.json"
        try:
            earlier = EXPORT_KEY in json.loads(transforms.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            earlier = False
        if not earlier:
            raise CommandError(f"{out}: exists and is not an earlier mask export; choose a new or empty --output-dir")
