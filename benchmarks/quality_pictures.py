"""One picture per benchmark scene: image | 2D input | lifted | ground truth, for a few held-out frames.

Stuff is drawn in its class color, each thing segment in a color of its id; so the 2D input's objects change
color from frame to frame (their ids are per frame), while a lifted object that keeps one 3D id keeps one color,
like the ground truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import torch
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import ClassTable, read_classes, read_panoptic
from panoptic_nerfstudio.data.scene_layout import CLASSES_FILENAME, frame_layers, load_transforms
from panoptic_nerfstudio.utils.panoptic_colors import instance_palette

SCALE = 2
"""Tiles are drawn at twice the image size (nearest neighbour) so that thin structures stay visible."""


def colorize(png: Path, classes: ClassTable) -> np.ndarray:
    """[H, W, 3] uint8 colors of a panoptic PNG: stuff by class color, things by id, void black."""
    frame = read_panoptic(png)
    colors = np.zeros((*frame.ids.shape, 3), dtype=np.uint8)
    for segment in frame.segments:
        on = frame.ids == segment.id
        if segment.isthing:
            color = (instance_palette(torch.tensor([segment.id])).numpy()[0] * 255).astype(np.uint8)
        else:
            color = np.asarray(classes.by_id(segment.category_id).color, dtype=np.uint8)
        colors[on] = color
    return colors


def write_scene_picture(scene: Path, pred_dir: Path, out: Path, frames: int = 3) -> Path:
    """Rows of image | 2D input | lifted | ground truth for ``frames`` evaluated frames spread over the split."""
    meta, root = load_transforms(scene)
    classes = read_classes(root / CLASSES_FILENAME)
    by_stem = {Path(f["file_path"]).stem: f for f in meta["frames"]}
    stems = sorted(p.stem for p in pred_dir.glob("*.png"))
    picks = [stems[i] for i in np.linspace(0, len(stems) - 1, min(frames, len(stems))).round().astype(int)]
    rows: List[np.ndarray] = []
    for stem in picks:
        layers = frame_layers(root, by_stem[stem])
        image = np.asarray(Image.open(layers.image).convert("RGB"))
        tiles = [image, colorize(layers.panoptic, classes), colorize(pred_dir / f"{stem}.png", classes)]
        tiles.append(colorize(layers.gt_panoptic, classes) if layers.gt_panoptic is not None else np.zeros_like(image))
        gap = np.full((image.shape[0], 2, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1))
    picture = np.concatenate([part for row in rows for part in (row, np.full((2, *row.shape[1:]), 255, np.uint8))][:-1])
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).resize((picture.shape[1] * SCALE, picture.shape[0] * SCALE), Image.NEAREST).save(out)
    return out
