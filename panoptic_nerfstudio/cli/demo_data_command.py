"""``ns-panoptic demo-data OUT``: write the synthetic demo scene."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tyro
from rich.table import Table

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.demo_scene import CameraChoice, DemoSceneConfig, LayoutName, write_demo_scene


@dataclass
class DemoData:
    """Write a deterministic synthetic indoor scene with simulated 2D panoptic masks and ground truth."""

    out: tyro.conf.Positional[Path]
    """Output scene directory."""
    seed: int = 0
    size: str = f"{DemoSceneConfig.width}x{DemoSceneConfig.height}"
    """Image size as WIDTHxHEIGHT."""
    frames: int = DemoSceneConfig.frames
    noise: float = DemoSceneConfig.noise
    """Scales every simulated 2D-network defect; 0 gives masks equal to ground truth up to per-frame ids."""
    layout: LayoutName = "default"
    """Room: default (the one the method was tuned on), crowded (touching same-class instances) or thin
    (poles, thin legs, picture frames, baseboards, a low ceiling)."""
    cameras: CameraChoice = "layout"
    """Camera path: orbit, tour (orbit plus close-ups and views looking up), or layout: the layout's own
    (orbit for default, tour for the others)."""

    def main(self) -> int:
        width, height = parse_size(self.size)
        config = DemoSceneConfig(
            seed=self.seed,
            width=width,
            height=height,
            frames=self.frames,
            noise=self.noise,
            layout=self.layout,
            cameras=self.cameras,
        )
        summary = write_demo_scene(self.out, config)
        table = Table(title=f"Demo scene {self.out}")
        table.add_column("item")
        table.add_column("value", justify="right")
        for key, value in vars(summary).items():
            table.add_row(key.replace("_", " "), str(value))
        CONSOLE.print(table)
        return 0


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise SystemExit(f"--size must look like 160x120, got {text!r}") from err
    if width < 8 or height < 8:
        raise SystemExit(f"--size {text} is too small; use at least 8x8")
    return width, height
