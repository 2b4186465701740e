"""Before / after picture of scene editing (the README's ``docs/scene_editing.png``).

After ``make demo``:

    .venv/bin/python examples/scene_editing_before_after.py
    .venv/bin/python examples/scene_editing_before_after.py --load-config outputs/.../config.yml --view 5 --instance 7

One training view of a trained run, rendered four times through the model's scene edits (the same ones
``ns-panoptic render`` and the viewer's buttons set): as trained, with one 3D instance removed, with it
isolated on white, and with it recolored. The top row is RGB, the bottom row the ``panoptic`` output. Without
``--instance`` the largest thing instance of the view is taken; without ``--view`` the training view in which
the largest instance of the run covers the most pixels.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
import tyro
from PIL import Image, ImageDraw

from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.inference.scene_edits import SceneEdits, editable_instances, parse_recolor
from panoptic_nerfstudio.models.scene_editing import set_scene_edits

ROWS = ("rgb", "panoptic")


@dataclass
class BeforeAfter:
    load_config: Path = Path("demo/outputs/scene/panoptic-lifting-lite/demo/config.yml")
    """config.yml of a panoptic-lifting run (the default is the one make demo trains)."""
    output_path: Path = Path("docs/scene_editing.png")
    """Where the picture goes."""
    view: Optional[int] = None
    """Training view to render (None: the one where the run's largest instance covers the most pixels)."""
    instance: Optional[int] = None
    """3D instance to edit (None: the largest editable thing instance of the view)."""
    recolor: str = "#ff3399"
    """Tint of the recolored panel."""
    scale: int = 2
    """Each rendered pixel becomes scale x scale pixels in the picture."""

    def main(self) -> None:
        _, pipeline, model, _ = load_panoptic_run(self.load_config)
        cameras = pipeline.datamanager.train_dataparser_outputs.cameras  # type: ignore[attr-defined]
        editable = editable_instances(model.instance_table)
        view, instance = self.choose(model, cameras, editable)
        camera = copy.deepcopy(cameras[view : view + 1])
        tint = parse_recolor(f"{instance}={self.recolor}")[1]
        variants: List[Tuple[str, SceneEdits]] = [
            ("as trained", SceneEdits()),
            (f"--remove-instances {instance}", SceneEdits(remove_instances=(instance,))),
            (f"--isolate-instances {instance}", SceneEdits(isolate_instances=(instance,), background=(1.0, 1.0, 1.0))),
            (f"--recolor-instances {instance}={self.recolor}", SceneEdits(recolor=((instance, tint),))),
        ]
        columns = []
        for title, edits in variants:
            set_scene_edits(model, edits)
            with torch.no_grad():
                outputs = model.get_outputs_for_camera(camera)
            columns.append((title, [self.pixels(outputs[name]) for name in ROWS]))
        set_scene_edits(model, None)
        picture = compose(columns)
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        picture.save(self.output_path)
        name = model.classes.categories[int(model.instance_table.classes[instance])].name
        print(f"training view {view}, {name} #{instance}: {self.output_path} ({picture.width} x {picture.height})")

    def choose(self, model, cameras, editable: List[int]) -> Tuple[int, int]:
        """The view and instance to show (see the options)."""
        views = [self.view] if self.view is not None else list(range(len(cameras)))
        best: Tuple[int, int, int] = (-1, 0, 0)  # pixels, view, instance
        for view in views:
            camera = copy.deepcopy(cameras[view : view + 1])
            if self.view is None:
                camera.rescale_output_resolution(0.25)  # choosing among all views: a quarter of the rays each
            with torch.no_grad():
                ids = model.get_outputs_for_camera(camera)["instance_id"][..., 0].round().long()
            counts = torch.bincount(ids.reshape(-1).cpu(), minlength=len(model.instance_table.classes))
            candidates = [self.instance] if self.instance is not None else editable
            for i in candidates:
                if int(counts[i]) > best[0]:
                    best = (int(counts[i]), view, i)
        if best[0] <= 0:
            raise SystemExit(f"no editable instance is visible in the chosen view(s); editable ids: {editable}")
        return best[1], best[2]

    def pixels(self, image: torch.Tensor) -> np.ndarray:
        array = (image.clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
        return np.repeat(np.repeat(array, self.scale, axis=0), self.scale, axis=1)


def compose(columns: List[Tuple[str, List[np.ndarray]]], gap: int = 4, caption: int = 16) -> Image.Image:
    """Columns of images under their titles, on white."""
    height, width = columns[0][1][0].shape[:2]
    rows = len(columns[0][1])
    picture = Image.new("RGB", (len(columns) * (width + gap) - gap, caption + rows * (height + gap) - gap), "white")
    draw = ImageDraw.Draw(picture)
    for c, (title, images) in enumerate(columns):
        x = c * (width + gap)
        draw.text((x + 2, 2), title, fill=(0, 0, 0))
        for r, image in enumerate(images):
            picture.paste(Image.fromarray(image), (x, caption + r * (height + gap)))
    return picture


if __name__ == "__main__":
    tyro.cli(BeforeAfter).main()
