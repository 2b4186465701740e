"""``ns-panoptic export pointcloud|instances|masks``: a trained panoptic field as labeled 3D data (and 2D labels).

Both render every training view (optionally downscaled), lift each surface pixel to 3D with
its rendered depth, and label it with the model's one inference rule. ``pointcloud`` writes
the whole labeled cloud as one PLY; ``instances`` writes one PLY per 3D instance plus
instances.json. ``masks`` (``cli/mask_export_command.py``) writes 3D-consistent 2D masks as a scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import torch
import tyro
from rich.table import Table
from typing_extensions import Annotated

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.export.instance_export import INSTANCES_JSON, write_instances
from panoptic_nerfstudio.export.labeled_ply import write_labeled_ply
from panoptic_nerfstudio.export.labeled_points import (
    LabeledPoints,
    crop,
    to_dataset_frame,
    training_views,
    view_points,
)
from panoptic_nerfstudio.cli.command_errors import report_error
from panoptic_nerfstudio.cli.mask_export_command import ExportMasks
from panoptic_nerfstudio.cli.trained_run import TrainedRunError, load_panoptic_run
from panoptic_nerfstudio.utils.progress import frames_progress

POINT_CLOUD_PLY = "point_cloud.ply"


@dataclass
class _ExportFromRenders:
    load_config: Path
    """config.yml of a panoptic-lifting training run."""
    output_dir: Path = Path("panoptic_export")
    downscale: float = 1.0
    """Render the training views at 1/downscale of their resolution (2: a quarter of the points, 4x faster)."""
    max_views: Optional[int] = None
    """Render at most this many training views, spread evenly over the sequence (None: all)."""
    min_accumulation: float = 0.5
    """Keep a pixel only where the ray's rendered opacity reaches this: below it the ray mostly sees empty space."""
    num_rays: Optional[int] = 1_000_000
    """Rays to render over all views: each view renders its share, pixels drawn at random (seeded by --seed), or
    every pixel where the views have fewer. Each ray that hits a surface becomes a point (None: every pixel)."""
    seed: int = 0
    bounding_box_min: Optional[Tuple[float, float, float]] = None
    """Crop to an axis-aligned box (min corner), in nerfstudio's normalized frame like ns-export's box."""
    bounding_box_max: Optional[Tuple[float, float, float]] = None
    save_world_frame: bool = False
    """Write points in the frame of the dataset's transforms.json instead of nerfstudio's normalized frame."""

    def labeled_points(self) -> Tuple[LabeledPoints, ClassTable, List[str]]:
        """The cloud, the class table and the header comments that say where it came from."""
        if (self.bounding_box_min is None) != (self.bounding_box_max is None):
            raise TrainedRunError(self.load_config, "give both --bounding-box-min and --bounding-box-max, or neither")
        _, pipeline, model, _ = load_panoptic_run(self.load_config)
        dataparser_outputs = pipeline.datamanager.train_dataparser_outputs  # type: ignore[attr-defined]
        cameras = dataparser_outputs.cameras
        views = list(training_views(cameras, self.downscale, self.max_views))
        rays_per_view = None if self.num_rays is None else max(1, math.ceil(self.num_rays / len(views)))
        generator = torch.Generator().manual_seed(self.seed)
        parts = []
        with frames_progress() as progress:
            for camera in progress.track(views, description=":camera: Rendering training views"):
                parts.append(view_points(model, camera, self.min_accumulation, rays_per_view, generator))
        box = (self.bounding_box_min, self.bounding_box_max) if self.bounding_box_min is not None else None
        points = crop(LabeledPoints.concatenate(parts), box)  # type: ignore[arg-type]
        frame = "nerfstudio (normalized)"
        if self.save_world_frame:
            points = to_dataset_frame(points, dataparser_outputs)
            frame = "dataset (transforms.json)"
        comments = [
            f"source {self.load_config}",
            f"frame {frame}",
            f"views {len(views)} downscale {self.downscale} rays per view {rays_per_view or 'all'}",
        ]
        return points, model.classes, comments

    def fail(self, error: TrainedRunError) -> int:
        return report_error(error)


@dataclass
class ExportPointCloud(_ExportFromRenders):
    """A PLY point cloud of the training views: xyz, rgb, semantic class and 3D instance id per point."""

    def main(self) -> int:
        try:
            points, classes, comments = self.labeled_points()
        except TrainedRunError as error:
            return self.fail(error)
        path = self.output_dir / POINT_CLOUD_PLY
        write_labeled_ply(path, points, classes, extra_comments=comments)
        CONSOLE.print(class_table(points, classes))
        CONSOLE.print(f"[bold green]:white_check_mark: {len(points):,} labeled points in {path}")
        return 0


@dataclass
class ExportInstances(_ExportFromRenders):
    """One PLY per 3D instance, named <class>_<id>.ply, and instances.json (class, point count, bounding box)."""

    min_points: int = 10
    """Instances with fewer points get no file (listed under "skipped" in instances.json)."""

    def main(self) -> int:
        try:
            points, classes, comments = self.labeled_points()
        except TrainedRunError as error:
            return self.fail(error)
        with frames_progress() as progress:
            result = write_instances(
                self.output_dir,
                points,
                classes,
                min_points=self.min_points,
                extra_comments=comments,
                extra_json={"source": str(self.load_config), "frame": comments[1][len("frame ") :]},
                track=lambda items: progress.track(items, description=":package: Writing instances"),
            )
        table = Table(title=f"3D instances ({len(result.written)} written)")
        for column in ("file", "class", "points", "size (x, y, z)"):
            table.add_column(column, justify="right" if column in ("points",) else "left")
        for record in result.written:
            size = [hi - lo for lo, hi in zip(record.aabb["min"], record.aabb["max"])]
            table.add_row(record.file, record.class_name, f"{record.points:,}", ", ".join(f"{s:.3f}" for s in size))
        CONSOLE.print(table)
        if result.skipped:
            CONSOLE.print(
                f"{len(result.skipped)} instance(s) under --min-points {self.min_points} were skipped: "
                + ", ".join(f"{r.class_name} {r.id} ({r.points} points)" for r in result.skipped)
            )
        CONSOLE.print(f"[bold green]:white_check_mark: {self.output_dir / INSTANCES_JSON}")
        return 0


def class_table(points: LabeledPoints, classes: ClassTable) -> Table:
    """Points and 3D instances per class."""
    table = Table(title="Labeled points per class")
    for column in ("class", "kind", "points", "instances"):
        table.add_column(column, justify="left" if column in ("class", "kind") else "right")
    for category in classes.categories:
        mine = points.class_ids == category.id
        if not mine.any():
            continue
        instances = len(set(points.instance_ids[mine].tolist()) - {0})
        kind = "thing" if category.isthing else "stuff"
        table.add_row(category.name, kind, f"{int(mine.sum()):,}", str(instances) if category.isthing else "")
    return table


Export = Annotated[
    Union[
        Annotated[ExportPointCloud, tyro.conf.subcommand(name="pointcloud")],
        Annotated[ExportInstances, tyro.conf.subcommand(name="instances")],
        Annotated[ExportMasks, tyro.conf.subcommand(name="masks")],
    ],
    tyro.conf.subcommand(
        name="export",
        description="Labeled export: a point cloud, one PLY per 3D instance, or 3D-consistent 2D masks as a scene.",
    ),
]
"""The ``export`` subcommand group of ``ns-panoptic``."""
