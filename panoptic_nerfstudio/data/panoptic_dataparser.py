"""``panoptic-data``: nerfstudio's own dataparser plus the panoptic layers.

Subclassing nerfstudio's ``Nerfstudio`` parser keeps everything users expect from
``nerfstudio-data`` (intrinsics, distortion, downscales, orientation and scaling,
eval modes including the filename lists in transforms.json). We only attach, for
the frames of the requested split and in the parser's own order, the paths of
their panoptic layers and the scene's class table. The parser checks that the
files exist; decoding and the pixel-level checks happen once, when a dataset
builds its ray store (before training starts).

A frame whose mask is missing stops the run, naming every such frame, unless the
user opted in with ``--pipeline.datamanager.allow-missing-masks`` (the datamanager
passes it on); such frames then carry no mask path and train on RGB only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import List, Optional, Type

import tyro

from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs
from nerfstudio.data.dataparsers.nerfstudio_dataparser import Nerfstudio, NerfstudioDataParserConfig

from panoptic_nerfstudio.data.panoptic_format import ClassTable, PanopticFormatError, checked_image_size, read_classes
from panoptic_nerfstudio.data.scene_layout import (
    CLASSES_FILENAME,
    PANOPTIC,
    FrameLayers,
    frame_layers,
    load_transforms,
)

PANOPTIC_METADATA_KEY = "panoptic"


@dataclass
class PanopticSplit:
    """What a dataset needs to decode its frames' panoptic layers."""

    classes: ClassTable
    layers: List[FrameLayers]
    """One per image of the split, in the dataparser's order; ``panoptic`` is None for a frame without a mask
    (only where missing masks are allowed)."""


@dataclass
class PanopticDataParserConfig(NerfstudioDataParserConfig):
    """A nerfstudio dataset with panoptic layers beside the images (docs/format.md)."""

    _target: Type = field(default_factory=lambda: PanopticDataParser)
    allow_missing_masks: tyro.conf.Suppress[bool] = False
    """Set by the datamanager from its own ``allow_missing_masks`` (the one flag users see)."""


class PanopticDataParser(Nerfstudio):
    config: PanopticDataParserConfig

    def _generate_dataparser_outputs(self, split: str = "train") -> DataparserOutputs:
        meta, scene_dir = load_transforms(self.config.data)
        if self.downscale_factor is None and self.config.downscale_factor is None:
            # nerfstudio is about to open an image to pick the downscale; a broken one would fail deep inside
            # PIL. Headers only (cheap); the pixels are checked when the dataset decodes them.
            for frame in meta["frames"]:
                checked_image_size(scene_dir / frame["file_path"], decode=False)
        outputs = super()._generate_dataparser_outputs(split)
        classes = load_class_table(scene_dir)
        by_image = {self._get_fname(Path(f["file_path"]), scene_dir): f for f in meta["frames"]}
        layers = []
        missing: List[FrameLayers] = []
        for image in outputs.image_filenames:
            frame = by_image[Path(image)]
            found = frame_layers(scene_dir, frame, self.downscale_factor or 1)
            assert found.panoptic is not None
            if not found.panoptic.exists():
                if PANOPTIC.key in frame:  # a broken reference, not an unlabelled frame
                    raise PanopticFormatError(
                        found.panoptic, f"named by '{PANOPTIC.key}' of frame {frame['file_path']} but missing"
                    )
                missing.append(found)
                found = replace(found, panoptic=None)
            layers.append(found)
        if missing and not self.config.allow_missing_masks:
            raise missing_masks_error(missing)
        outputs.metadata[PANOPTIC_METADATA_KEY] = PanopticSplit(classes=classes, layers=layers)
        return outputs


def load_class_table(scene_dir: Path) -> ClassTable:
    """The scene's class table; a scene without any thing class cannot be lifted."""
    path = Path(scene_dir) / CLASSES_FILENAME
    classes = read_classes(path)
    if not classes.thing_mask.any():
        raise PanopticFormatError(path, "no thing class at all (every category has isthing=false)")
    return classes


def missing_masks_error(missing: List[FrameLayers]) -> PanopticFormatError:
    """One error for all frames without a mask: the first file, then every other frame by name."""
    first = missing[0]
    assert first.panoptic is not None
    others = [layers.image.name for layers in missing[1:]]
    more = ""
    if others:
        shown = ", ".join(others[:10]) + (" ..." if len(others) > 10 else "")
        more = f" and {len(others)} more frame(s) ({shown})"
    return PanopticFormatError(
        first.panoptic,
        f"missing panoptic mask for frame {first.image.name}{more}; to train frames without masks on RGB only, "
        "pass --pipeline.datamanager.allow-missing-masks True",
    )
