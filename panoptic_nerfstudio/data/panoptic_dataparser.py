"""``panoptic-data``: nerfstudio's own dataparser plus the panoptic layers.

Subclassing nerfstudio's ``Nerfstudio`` parser keeps everything users expect from
``nerfstudio-data`` (intrinsics, distortion, downscales, orientation and scaling,
eval modes including the filename lists in transforms.json). We only attach, for
the frames of the requested split and in the parser's own order, the paths of
their panoptic layers and the scene's class table. The parser checks that the
files exist; decoding and the pixel-level checks happen once, when a dataset
builds its ray store (before training starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Type

from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs
from nerfstudio.data.dataparsers.nerfstudio_dataparser import Nerfstudio, NerfstudioDataParserConfig

from panoptic_nerfstudio.data.panoptic_format import ClassTable, PanopticFormatError, read_classes
from panoptic_nerfstudio.data.scene_layout import CLASSES_FILENAME, FrameLayers, frame_layers, load_transforms

PANOPTIC_METADATA_KEY = "panoptic"


@dataclass
class PanopticSplit:
    """What a dataset needs to decode its frames' panoptic layers."""

    classes: ClassTable
    layers: List[FrameLayers]
    """One per image of the split, in the dataparser's order."""
    max_things_per_frame: Optional[int] = None
    """Most thing segments in one frame; known once the masks are decoded."""


@dataclass
class PanopticDataParserConfig(NerfstudioDataParserConfig):
    """A nerfstudio dataset with panoptic layers beside the images (shared/FORMAT.md)."""

    _target: Type = field(default_factory=lambda: PanopticDataParser)


class PanopticDataParser(Nerfstudio):
    config: PanopticDataParserConfig

    def _generate_dataparser_outputs(self, split: str = "train") -> DataparserOutputs:
        outputs = super()._generate_dataparser_outputs(split)
        meta, scene_dir = load_transforms(self.config.data)
        classes = load_class_table(scene_dir)
        by_image = {self._get_fname(Path(f["file_path"]), scene_dir): f for f in meta["frames"]}
        layers = []
        for image in outputs.image_filenames:
            frame = by_image[Path(image)]
            found = frame_layers(scene_dir, frame, self.downscale_factor or 1)
            if not found.panoptic.exists():
                raise PanopticFormatError(found.panoptic, f"missing panoptic mask for frame {frame['file_path']}")
            layers.append(found)
        outputs.metadata[PANOPTIC_METADATA_KEY] = PanopticSplit(classes=classes, layers=layers)
        return outputs


def load_class_table(scene_dir: Path) -> ClassTable:
    """The scene's class table; a scene without any thing class cannot be lifted."""
    path = Path(scene_dir) / CLASSES_FILENAME
    classes = read_classes(path)
    if not classes.thing_mask.any():
        raise PanopticFormatError(path, "no thing class at all (every category has isthing=false)")
    return classes
