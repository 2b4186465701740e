"""Where a trained run's field puts each class's surface in the views it was trained on, and whether its samples
reached the object at all.

The `thin` room's poles and lamps are labelled wall on held-out views because the field renders many of their pixels far
behind them: their colour painted on what lies behind (README, "Quality on scenes the method was not tuned on"). On such
a pixel's ray either none of the field's samples lay on the object, or one did and the field left the object
transparent; this benchmark counts the two. (The proposal network is trained to cover the field's weights, so the first
does not say whether the sampler or the density failed first.) For every training-view pixel of the chosen classes (the
demo scene's true geometry, on the ray through the pixel centre that nerfstudio traces), it renders the ray as training
does and counts the pixel at its surface (rendered depth within ``IN_FRONT`` to ``BEHIND`` times the true distance), in
front of it, or behind it, and behind it with no field sample on the object (no sample's midpoint within ``--window``
metres behind the true surface: a pole's diameter by default). No training. The shares count every training pixel of a
class, so they follow its geometry without waiting, as its PQ does, on each of a few objects being matched or not.

    python benchmarks/quality.py --jobs 2 --no-ablations --layouts thin     # trained runs of demo scenes
    python benchmarks/surface_samples.py benchmarks/quality-runs/runs/thin-* --classes pole lamp wall
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy as np
from rich.console import Console
from rich.table import Table

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)
from coverage import BEHIND, IN_FRONT, demo_geometry

if TYPE_CHECKING:
    from torch import Tensor

WINDOW = 0.05
"""Metres behind the true surface within which a field sample lies on the object (the `thin` poles' diameter)."""
RAYS_PER_CHUNK = 4096


@dataclass
class Placement:
    """One class's training-view pixels by where the field renders their surface."""

    pixels: int = 0
    at_surface: int = 0
    in_front: int = 0
    behind: int = 0
    behind_unsampled: int = 0
    """Rendered behind, and no field sample on the object."""

    def add(self, other: "Placement") -> None:
        for key in vars(self):
            setattr(self, key, getattr(self, key) + getattr(other, key))


def placement(depth: Tensor, distance: Tensor, midpoints: Tensor, window: float) -> Placement:
    """Classify rays by their rendered ``depth`` [N] against the true surface ``distance`` [N] (both in scene units),
    given the midpoints [N, S] of their field samples; ``window``: scene units behind the surface that lie on the
    object."""
    ratio = depth / distance
    behind = ratio > BEHIND
    on_object = ((midpoints >= distance[:, None]) & (midpoints <= distance[:, None] + window)).any(-1)
    return Placement(
        pixels=int(len(depth)),
        at_surface=int(((ratio >= IN_FRONT) & (ratio <= BEHIND)).sum()),
        in_front=int((ratio < IN_FRONT).sum()),
        behind=int(behind.sum()),
        behind_unsampled=int((behind & ~on_object).sum()),
    )


def run_placements(config: Path, classes: Optional[List[str]], window: float) -> Dict[str, Placement]:
    """Per chosen class (None: all), the placement of every training-view pixel of a trained run of a demo scene."""
    import torch  # (torch and nerfstudio: only here)

    from inference_stages import chosen_classes  # (a benchmark beside this one)

    from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
    from panoptic_nerfstudio.models.nerfacto_pass import nerfacto_pass

    trainer, pipeline, model, _ = load_panoptic_run(config, test_mode="inference")
    scene = Path(trainer.pipeline.datamanager.data or trainer.data)
    geometry = demo_geometry(scene)
    chosen = chosen_classes(config, geometry.names, classes)
    parsed = pipeline.datamanager.train_dataparser_outputs
    scale = parsed.dataparser_scale  # scene units per metre
    by_name = {Path(path).name: path for path in geometry.poses}
    cameras = parsed.cameras.to(model.device)
    result = {name: Placement() for name in chosen}
    wanted = np.array([geometry.names.index(name) for name in chosen])
    for index, image in enumerate(parsed.image_filenames):
        truth, distance = geometry.surface(geometry.hits(by_name[Path(image).name]))
        ys, xs = np.nonzero(np.isin(truth, wanted))
        for start in range(0, len(ys), RAYS_PER_CHUNK):
            y, x = ys[start : start + RAYS_PER_CHUNK], xs[start : start + RAYS_PER_CHUNK]
            coords = torch.from_numpy(np.stack([y + 0.5, x + 0.5], -1)).float().to(model.device)
            rays = cameras.generate_rays(torch.full((len(y), 1), index, device=model.device), coords=coords)
            with torch.no_grad():
                rendered = nerfacto_pass(model, model.collider(rays))
            frustums = rendered.ray_samples.frustums
            midpoints = ((frustums.starts + frustums.ends) / 2)[..., 0].cpu()
            depth = rendered.outputs["depth"][..., 0].cpu()
            true = torch.from_numpy(distance[y, x] * scale).float()
            for name, class_index in zip(chosen, wanted):
                rows = torch.from_numpy(truth[y, x] == class_index)
                result[name].add(placement(depth[rows], true[rows], midpoints[rows], window * scale))
    return result


def placement_table(runs: List[Path], classes: Optional[List[str]], window: float) -> Table:
    from clustering import config_of  # (a benchmark beside this one; it imports nerfstudio)

    table = Table(title="Training-view pixels by where the field renders their surface (rendered over true depth: "
                  f"at the surface {IN_FRONT} to {BEHIND}); behind, no sample: no field sample within {window} m "
                  "behind the true surface")  # fmt: skip
    for column in ("run", "class", "pixels", "at the surface", "in front", "behind", "behind, no sample"):
        table.add_column(column, justify="left" if column in ("run", "class") else "right")
    for run in runs:
        for name, p in run_placements(config_of(run), classes, window).items():
            if p.pixels:
                table.add_row(run.name, name, str(p.pixels), *(f"{value / p.pixels:.0%}" for value in
                              (p.at_surface, p.in_front, p.behind, p.behind_unsampled)))  # fmt: skip
        table.add_section()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+",
                        help="trained runs of demo scenes: config.yml files, or run folders holding one")  # fmt: skip
    parser.add_argument("--classes", nargs="*", default=None, help="class names (default: all of the scene's)")
    parser.add_argument("--window", type=float, default=WINDOW,
                        help="metres behind the true surface within which a field sample lies on the object")
    args = parser.parse_args()
    Console(width=200).print(placement_table(args.runs, args.classes, args.window))


if __name__ == "__main__":
    main()
