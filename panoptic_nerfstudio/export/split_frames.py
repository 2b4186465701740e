"""The frames of a trained run's scene that a mask export labels: one split (or both), each with its source files,
its entry in the scene's transforms.json and the camera that renders it at the export's resolution.

The cameras are the run's own (its dataparser's, in nerfstudio's normalized frame, where the field lives), so
a frame is labelled from exactly the viewpoint it was trained or evaluated from. ``all`` is the union of the
training and evaluation frames (each once), in nerfstudio's order (by file name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Literal, Sequence, Tuple

import torch

from nerfstudio.cameras.cameras import Cameras

from panoptic_nerfstudio.cli.command_errors import CommandError
from panoptic_nerfstudio.data.panoptic_dataset import PanopticDataset
from panoptic_nerfstudio.data.panoptic_format import checked_image_size
from panoptic_nerfstudio.data.scene_layout import FrameLayers

Split = Literal["train", "eval", "all"]


@dataclass
class SourceFrame:
    entry: dict
    """The frame's entry in the source scene's transforms.json."""
    layers: FrameLayers
    """Its files in the source scene, full size."""
    camera: Cameras
    """One camera rendering at the export's size."""
    size: Tuple[int, int]
    """(W, H) of the export: the image's size divided by the downscale, rounded down."""

    @property
    def stem(self) -> str:
        return self.layers.image.stem


def split_datasets(datamanager, split: Split) -> List[PanopticDataset]:
    """The run's datasets of a split (the datamanager's training and evaluation datasets)."""
    chosen = {"train": ["train_dataset"], "eval": ["eval_dataset"], "all": ["train_dataset", "eval_dataset"]}[split]
    return [getattr(datamanager, name) for name in chosen]


def source_frames(
    datasets: Sequence[PanopticDataset], meta: dict, scene_dir: Path, downscale: int
) -> List[SourceFrame]:
    """Every frame of ``datasets`` (each image once), sorted by image path, with its camera scaled by 1/downscale."""
    if downscale < 1:
        raise CommandError(f"--downscale must be a positive integer, not {downscale}")
    entries: Dict[Path, dict] = {Path(scene_dir) / entry["file_path"]: entry for entry in meta["frames"]}
    found: Dict[Path, SourceFrame] = {}
    for dataset in datasets:
        for index, layers in enumerate(dataset.panoptic.layers):
            if layers.image in found:
                continue
            if layers.image not in entries:
                raise CommandError(f"{layers.image}: the run's frame is not in {Path(scene_dir) / 'transforms.json'}")
            found[layers.image] = _source_frame(entries[layers.image], layers, dataset.cameras[index : index + 1], downscale)
    frames = [found[path] for path in sorted(found)]
    stems = [frame.stem for frame in frames]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise CommandError(f"frames in different folders share the name(s) {', '.join(repeated)}; an exported "
                           "scene finds a frame's masks by its name")  # fmt: skip
    return frames


def _source_frame(entry: dict, layers: FrameLayers, camera: Cameras, downscale: int) -> SourceFrame:
    width, height = checked_image_size(layers.image, decode=False)
    if (int(camera.width), int(camera.height)) != (width, height):
        raise CommandError(
            f"{layers.image}: the run's camera renders {int(camera.width)}x{int(camera.height)} but the image is "
            f"{width}x{height}"
        )
    size = (width // downscale, height // downscale)
    if min(size) < 1:
        raise CommandError(f"--downscale {downscale} leaves no pixel of the {width}x{height} image {layers.image}")
    if downscale != 1:
        camera.rescale_output_resolution(1.0 / downscale)  # rebinds the slice's tensors: the dataset's stay
        camera.width = torch.full_like(camera.width, size[0])  # the written images' size, exactly
        camera.height = torch.full_like(camera.height, size[1])
    return SourceFrame(entry=entry, layers=layers, camera=camera, size=size)
