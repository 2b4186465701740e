"""Write generated masks into a scene, through the format's own writers (data/panoptic_format.py).

Each file is written under a temporary name and moved into place, panoptic PNG last: a frame whose PNG exists is
complete, which is what resuming relies on. The class table is written before any frame, and a scene whose
existing class table differs from the label map is refused unless everything is regenerated (``--overwrite``),
so masks made with two label sets never mix.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from panoptic_nerfstudio.data.panoptic_format import (
    ClassTable,
    PanopticFormatError,
    PanopticFrame,
    json_path_for,
    read_classes,
    write_classes,
    write_confidence,
    write_panoptic,
)
from panoptic_nerfstudio.data.scene_layout import CLASSES_FILENAME
from panoptic_nerfstudio.segmentation.scene_frames import FrameTarget


def _partial(path: Path) -> Path:
    """A temporary sibling with the same suffix (Pillow picks the format from it)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_frame(target: FrameTarget, frame: PanopticFrame, confidence: np.ndarray) -> None:
    """Write confidence, segments_info and panoptic PNG, each atomically, the PNG last."""
    confidence_tmp = _partial(target.confidence)
    write_confidence(confidence_tmp, np.clip(confidence, 0.0, 1.0))
    os.replace(confidence_tmp, target.confidence)
    png_tmp, json_tmp = _partial(target.panoptic), _partial(json_path_for(target.panoptic))
    write_panoptic(png_tmp, frame, json_path=json_tmp)
    os.replace(json_tmp, json_path_for(target.panoptic))
    os.replace(png_tmp, target.panoptic)


def class_table_needs_writing(scene_dir: Path, classes: ClassTable, label_map_path: Path, overwrite: bool) -> bool:
    """Whether panoptic_classes.json must be (re)written; refuses a different label set unless ``overwrite``.

    Called before the model is loaded, so a wrong label map fails at once."""
    path = Path(scene_dir) / CLASSES_FILENAME
    if not path.exists():
        return True
    if overwrite:
        return True
    if read_classes(path) == classes:
        return False
    raise PanopticFormatError(
        path,
        f"holds a different label set than the label map {label_map_path}; masks already in the scene may use "
        "it. Pass --overwrite to regenerate every frame with this label map",
    )


def prepare_class_table(scene_dir: Path, classes: ClassTable, label_map_path: Path, overwrite: bool) -> None:
    """Write panoptic_classes.json, or check that the one there is the label map's."""
    if class_table_needs_writing(scene_dir, classes, label_map_path, overwrite):
        # atomically: shards of one scene (--shard) may write and read it at the same time
        path = Path(scene_dir) / CLASSES_FILENAME
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
        write_classes(tmp, classes)
        os.replace(tmp, path)
