"""One picture per benchmark scene: image | 2D input | lifted | ground truth, for a few held-out frames.

Stuff is drawn in its class color, each thing segment in a color of its id; so the 2D input's objects change
color from frame to frame (their ids are per frame), while a lifted object that keeps one 3D id keeps one color,
like the ground truth. Several runs of one scene (the two instance heads on one field, say) get a lifted column
each, in the order given:

    python benchmarks/quality_pictures.py --scene OUT/scenes/crowded-seed0 --out heads.png \
        --predictions OUT/runs/crowded-seed0-train0-full-method/eval/pred \
                      OUT/runs/crowded-seed0-train0-full-method-contrastive/eval/pred
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Sequence

import numpy as np
import torch
from PIL import Image

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

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


def write_scene_picture(scene: Path, pred_dirs: Sequence[Path], out: Path, frames: int = 3) -> Path:
    """Rows of image | 2D input | one lifted tile per folder of ``pred_dirs`` | ground truth, for ``frames`` evaluated
    frames spread over the first folder's frames (each folder must hold them all)."""
    meta, root = load_transforms(scene)
    classes = read_classes(root / CLASSES_FILENAME)
    by_stem = {Path(f["file_path"]).stem: f for f in meta["frames"]}
    stems = sorted(p.stem for p in pred_dirs[0].glob("*.png"))
    if not stems:
        raise FileNotFoundError(f"{pred_dirs[0]}: no predicted frames (*.png)")
    picks = [stems[i] for i in np.linspace(0, len(stems) - 1, min(frames, len(stems))).round().astype(int)]
    for folder in pred_dirs[1:]:
        missing = [stem for stem in picks if not (folder / f"{stem}.png").exists()]
        if missing:
            raise FileNotFoundError(f"{folder}: no prediction of {', '.join(missing)} (the first folder has them)")
    rows: List[np.ndarray] = []
    for stem in picks:
        layers = frame_layers(root, by_stem[stem])
        image = np.asarray(Image.open(layers.image).convert("RGB"))
        tiles = [image, colorize(layers.panoptic, classes)]
        tiles += [colorize(folder / f"{stem}.png", classes) for folder in pred_dirs]
        tiles.append(colorize(layers.gt_panoptic, classes) if layers.gt_panoptic is not None else np.zeros_like(image))
        gap = np.full((image.shape[0], 2, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1))
    picture = np.concatenate([part for row in rows for part in (row, np.full((2, *row.shape[1:]), 255, np.uint8))][:-1])
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).resize((picture.shape[1] * SCALE, picture.shape[0] * SCALE), Image.NEAREST).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", type=Path, required=True, help="the scene the runs were trained on")
    parser.add_argument("--predictions", type=Path, nargs="+", required=True,
                        help="`ns-panoptic eval`'s pred/ folders, one lifted column each")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--frames", type=int, default=3, help="rows: evaluated frames spread over the split")
    args = parser.parse_args()
    print(write_scene_picture(args.scene, args.predictions, args.out, args.frames))


if __name__ == "__main__":
    main()
