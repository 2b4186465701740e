"""Which images of a scene to segment and where each frame's masks go.

Frames come from the scene's transforms.json and their output paths from the same layer rule training reads
(:mod:`panoptic_nerfstudio.data.scene_layout`): a frame's own ``panoptic_file_path`` / ``confidence_file_path``,
else ``panoptic/<stem>.png`` and ``confidence/<stem>.png``. A frame is done when its panoptic PNG exists; the
writer puts that file in place last, so an interrupted run never leaves a frame that looks done but is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError, checked_image_size, json_path_for
from panoptic_nerfstudio.data.scene_layout import CONFIDENCE, PANOPTIC, layer_path, load_transforms


@dataclass(frozen=True)
class FrameTarget:
    image: Path
    panoptic: Path
    confidence: Path

    @property
    def done(self) -> bool:
        return self.panoptic.exists() and json_path_for(self.panoptic).exists()


def scene_frame_targets(data: Path) -> Tuple[Path, List[FrameTarget]]:
    """The scene directory and one target per frame of transforms.json (repeated images listed once)."""
    meta, scene_dir = load_transforms(data)
    targets: List[FrameTarget] = []
    writers: Dict[Path, Path] = {}
    for frame in meta["frames"]:
        target = FrameTarget(
            image=scene_dir / frame["file_path"],
            panoptic=layer_path(scene_dir, frame, PANOPTIC),
            confidence=layer_path(scene_dir, frame, CONFIDENCE),
        )
        previous = writers.get(target.panoptic)
        if previous is not None:
            if previous == target.image:
                continue
            raise PanopticFormatError(
                scene_dir / "transforms.json",
                f"frames {previous} and {target.image} would both write {target.panoptic} (same image stem); "
                "give them explicit "
                f"'{PANOPTIC.key}' and '{CONFIDENCE.key}' entries",
            )
        writers[target.panoptic] = target.image
        targets.append(target)
    return scene_dir, targets


def read_rgb(path: Path) -> np.ndarray:
    """[H, W, 3] uint8 RGB of a training image; unreadable files fail naming the file."""
    checked_image_size(path, decode=False)
    try:
        with Image.open(path) as img:
            return np.array(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise PanopticFormatError(path, f"unreadable image: {err}") from err
