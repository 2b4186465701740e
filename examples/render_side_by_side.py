"""Render a side-by-side video (RGB | semantics | 3D instances) of a trained panoptic field.

After ``make demo`` this renders the demo scene's field along a path through its training cameras,
on CPU, in a few minutes:

    .venv/bin/python examples/render_side_by_side.py
    .venv/bin/python examples/render_side_by_side.py --load-config outputs/.../config.yml --steps 8 --downscale 2

Every panel comes from the same rendered outputs the viewer and ``ns-render`` show, so an object keeps
its instance color for the whole video (the color is a function of its 3D instance id).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mediapy
import numpy as np
import torch
import tyro
from rich.progress import track

from nerfstudio.cameras.camera_paths import get_interpolated_camera_path
from nerfstudio.utils.eval_utils import eval_setup

from panoptic_nerfstudio.compat import use_bundled_ffmpeg

PANELS = ("rgb", "semantics_colormap", "instance_colormap")


@dataclass
class SideBySide:
    load_config: Path = Path("demo/outputs/scene/panoptic-lifting-lite/demo/config.yml")
    """config.yml of a panoptic-lifting run (the default is the one make demo trains)."""
    output_path: Path = Path("demo/side_by_side.mp4")
    steps: int = 4
    """Interpolated frames between consecutive training cameras."""
    max_keyframes: int = 12
    """Training cameras the path passes through (spread evenly over the sequence)."""
    downscale: int = 1
    """Render at 1/downscale resolution (2 renders four times faster)."""
    fps: int = 12

    def main(self) -> None:
        use_bundled_ffmpeg()
        _, pipeline, _, _ = eval_setup(self.load_config, test_mode="inference")
        cameras = pipeline.datamanager.train_dataparser_outputs.cameras
        keep = np.linspace(0, len(cameras) - 1, min(self.max_keyframes, len(cameras))).round().astype(int)
        path = get_interpolated_camera_path(cameras[torch.from_numpy(keep)], steps=self.steps, order_poses=False)
        if self.downscale > 1:
            path.rescale_output_resolution(1.0 / self.downscale)
        frames = []
        for index in track(range(len(path)), description="Rendering"):
            with torch.no_grad():
                outputs = pipeline.model.get_outputs_for_camera(path[index : index + 1])
            panels = [outputs[name].clamp(0, 1).cpu().numpy() for name in PANELS]
            frames.append((np.concatenate(panels, axis=1) * 255).round().astype(np.uint8))
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        mediapy.write_video(self.output_path, frames, fps=self.fps)
        print(f"{len(frames)} frames ({' | '.join(PANELS)}) written to {self.output_path}")


if __name__ == "__main__":
    tyro.cli(SideBySide).main()
