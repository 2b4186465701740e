"""``ns-panoptic convert panoptic-lifting SRC_SCENE OUT_SCENE``: import the paper authors' preprocessed scenes.

The format is a positional choice rather than a nested tyro subcommand: tyro
collapses a one-member Union, and a choice gives the same command line and a
help text that lists what can be converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Literal, Optional, Tuple

import tyro
from rich.table import Table
from typing_extensions import Annotated

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.cli.command_errors import report_error
from panoptic_nerfstudio.utils.progress import frames_progress
from panoptic_nerfstudio.convert.authors_scene_import import (
    AuthorsImportConfig,
    AuthorsImportSummary,
    import_authors_scene,
)
from panoptic_nerfstudio.convert.authors_scene_layout import AuthorsSceneError, find_authors_scenes
from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError


@dataclass
class Convert:
    """Convert scenes prepared by another tool into the panoptic scene format (then train them with ns-train)."""

    source_format: Annotated[
        Literal["panoptic-lifting"], tyro.conf.Positional, tyro.conf.arg(metavar="{panoptic-lifting}")
    ]
    """Who prepared SRC_SCENE. panoptic-lifting: the Panoptic Lifting authors' preprocessed Replica, ScanNet,
    Hypersim and in-the-wild scenes (color/, pose/, m2f_*/, rs_*/, splits.json)."""
    src_scene: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="SRC_SCENE")]
    """A scene folder, or a folder with scenes below it (e.g. their data/), each converted to OUT_SCENE/<path>."""
    out_scene: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="OUT_SCENE")]
    """Where the converted scene (or scenes) go."""
    confidence: Literal["tta", "notta"] = "tta"
    """tta: the test-time-augmented masks and confidence the paper trains with. notta: the confidence without
    augmentation, with the m2f_notta_* masks where the scene has them."""
    max_frames: Optional[int] = None
    """Keep at most this many frames per scene (evenly spaced, train and held-out in proportion)."""
    downscale: int = 1
    """Divide the image size by this (e.g. 4 to try a real scene on a CPU)."""
    class_set: Literal["auto", "reduced", "extended"] = "auto"
    """Their label list: reduced (21 classes: Replica, ScanNet, Hypersim) or extended (31: in-the-wild), or
    auto: read from the probability maps."""
    overwrite: bool = False
    """Replace an earlier conversion at OUT_SCENE."""

    def main(self) -> int:
        config = AuthorsImportConfig(self.confidence, self.max_frames, self.downscale, self.class_set)
        try:
            config.check()
            scenes = find_authors_scenes(self.src_scene)
        except ValueError as err:
            return report_error(err)
        jobs = self._jobs(scenes)
        summaries: List[AuthorsImportSummary] = []
        failures: List[Tuple[Path, str]] = []
        with frames_progress() as progress:
            for src, out in jobs:
                task = progress.add_task(f"{src.name}", total=None)
                try:
                    summaries.append(
                        import_authors_scene(
                            src,
                            out,
                            config,
                            overwrite=self.overwrite,
                            on_start=lambda total, task=task: progress.update(task, total=total),
                            on_frame=lambda _, task=task: progress.advance(task),
                        )
                    )
                except (AuthorsSceneError, PanopticFormatError) as err:
                    failures.append((src, str(err)))
                    progress.update(task, description=f"[red]{src.name} (failed)")
        if summaries:
            CONSOLE.print(summary_table(summaries, self.out_scene))
        for _, problem in failures:
            CONSOLE.print(f"[bold red]error[/bold red] {problem}", soft_wrap=True)
        if failures:
            CONSOLE.print(f"[bold red]{len(failures)} of {len(jobs)} scene(s) not converted")
            return 1
        example = summaries[0].output
        CONSOLE.print(
            f"[bold green]Converted {len(summaries)} scene(s).[/bold green] Next: ns-panoptic validate {example}; "
            f"ns-train panoptic-lifting --data {example} (GPU) or panoptic-lifting-lite (CPU); "
            "then ns-panoptic eval --load-config <run>/config.yml",
            soft_wrap=True,
        )
        return 0

    def _jobs(self, scenes: List[Path]) -> List[Tuple[Path, Path]]:
        if scenes == [self.src_scene]:
            return [(self.src_scene, self.out_scene)]
        return [(scene, self.out_scene / scene.relative_to(self.src_scene)) for scene in scenes]


def summary_table(summaries: List[AuthorsImportSummary], out_root: Path) -> Table:
    table = Table(title=f"Converted Panoptic Lifting scenes in {out_root}")
    for column in ("scene", "frames", "train/val/test", "size", "classes", "2D masks", "void", "invalid", "GT"):
        table.add_column(column, justify="left" if column in ("scene", "2D masks") else "right")
    for s in summaries:
        name = s.output.relative_to(out_root).as_posix() if s.output != out_root else s.source.name
        table.add_row(
            name,
            f"{s.frames} of {s.source_frames}",
            f"{s.train_frames}/{s.val_frames}/{s.test_frames}",
            f"{s.width}x{s.height}",
            s.class_set,
            f"{s.masks}, {s.confidence}",
            f"{s.void_fraction:.1%}",
            str(s.invalid_frames),
            "yes" if s.ground_truth else "[yellow]none",
        )
    return table
