"""Time to quality on a GPU: PQ^scene, mIoU and PSNR of the paper-sized ``panoptic-lifting`` against training
wall-clock, every N steps.

The run is nerfstudio's trainer in this process, configured as ``ns-train panoptic-lifting`` (mixed precision,
tiny-cuda-nn where importable, 4096 rays, two proposal networks, camera optimizer). Every ``--every`` steps the
clock stops, the run's instance table is made over the training views (as at a checkpoint) and the held-out split
is scored with the same code as ``ns-panoptic eval``; then the clock runs on. Wall-clock counts training only
(nerfstudio's own evaluation steps are switched off; CUDA is synchronised before each reading).

Scenes: the demo room at 640 x 480 (written here, 48 views, every 8th held out) or a scene of yours, e.g. a
paper scene converted with ``ns-panoptic convert panoptic-lifting`` (``--scene``; its validation split is scored
and needs gt_panoptic/ for PQ^scene).

    python benchmarks/gpu.py [--scene DIR] [--steps 30000] [--every 2000] [--output-dir benchmarks/gpu-runs]
    python benchmarks/gpu.py --dry-run [--method panoptic-lifting-lite]   # a few CPU steps at tiny size

``--dry-run`` checks the script on a CPU: a 48 x 36 demo scene of 8 frames, 6 steps scored every 3, 256 rays,
``--machine.device-type cpu --mixed-precision False --pipeline.model.implementation torch``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

RESULTS = "time_to_quality.json"


@dataclass
class Plan:
    """What one benchmark run does (from the command line)."""

    scene: Optional[Path]
    size: str
    frames: int
    method: str
    steps: int
    every: int
    rays: Optional[int]
    device: str
    output_dir: Path
    seed: int


def parse(argv: Optional[Sequence[str]] = None) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", type=Path, help="a scene folder (default: write the demo room at --size)")
    parser.add_argument("--size", default="640x480", help="demo room: WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=48, help="demo room: views")
    parser.add_argument("--method", default="panoptic-lifting", choices=["panoptic-lifting", "panoptic-lifting-lite"])
    parser.add_argument("--steps", type=int, default=30000, help="training steps")
    parser.add_argument("--every", type=int, default=2000, help="score every this many steps (and at the end)")
    parser.add_argument("--rays", type=int, help="rays per step (default: the method's)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/gpu-runs"))
    parser.add_argument("--seed", type=int, default=42, help="nerfstudio's training seed")
    parser.add_argument("--dry-run", action="store_true", help="a few CPU steps at tiny size (checks the script)")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.size, args.frames, args.steps, args.every, args.rays, args.device = "48x36", 8, 6, 3, 256, "cpu"
    if args.steps < 1 or args.every < 1:
        parser.error("--steps and --every must be positive")
    return Plan(args.scene, args.size, args.frames, args.method, args.steps, args.every, args.rays, args.device,
                args.output_dir, args.seed)  # fmt: skip


def trainer_config(plan: Plan, scene: Path):
    from panoptic_nerfstudio.method_configs import panoptic_lifting_config, panoptic_lifting_lite_config

    config = panoptic_lifting_config() if plan.method == "panoptic-lifting" else panoptic_lifting_lite_config()
    config.pipeline.datamanager.data = scene
    config.output_dir = plan.output_dir
    config.experiment_name = scene.name
    config.max_num_iterations = plan.steps
    config.steps_per_save = plan.steps  # one checkpoint, at the end
    config.steps_per_eval_batch = config.steps_per_eval_image = config.steps_per_eval_all_images = 10**9
    config.vis = "tensorboard"
    config.viewer.quit_on_train_completion = True
    config.machine.device_type = plan.device
    config.machine.seed = plan.seed
    if plan.device == "cpu":  # what a CPU needs (see the README): no autocast, nerfstudio's torch hash grid
        config.mixed_precision = False
        config.pipeline.model.implementation = "torch"
    if plan.rays is not None:
        config.pipeline.datamanager.train_num_rays_per_batch = plan.rays
    config.set_timestamp()
    return config


class QualityClock:
    """A training callback: every ``every`` steps (and at the last) stop the clock, score, start it again."""

    def __init__(self, trainer, every: int, last: int, console: Console):
        self.trainer, self.every, self.last, self.console = trainer, every, last, console
        self.rows: List[Dict[str, float]] = []
        self.training_seconds = 0.0
        self.started = time.perf_counter()

    def _sync(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def __call__(self, step: int) -> None:
        if (step + 1) % self.every and step != self.last:
            return
        self._sync()
        self.training_seconds += time.perf_counter() - self.started
        self.rows.append({"step": step + 1, "seconds": self.training_seconds, **self.score()})
        self.console.print(row_text(self.rows[-1]))
        self._sync()
        self.started = time.perf_counter()

    def score(self) -> Dict[str, float]:
        from panoptic_nerfstudio.evaluation.scene_evaluation import evaluate_scene
        from panoptic_nerfstudio.inference.instance_table import calibrate_from_dataset

        pipeline = self.trainer.pipeline
        model = pipeline.model
        train = pipeline.datamanager.train_dataset
        calibrate_from_dataset(model, train)  # as at a checkpoint save
        was_training = model.training
        model.eval()
        evaluation = evaluate_scene(model, pipeline.datamanager.eval_dataset)
        model.train(was_training)
        row = {"psnr": evaluation.psnr, "miou": evaluation.lifted_miou}
        if evaluation.lifted_pq is not None:
            pq = evaluation.lifted_pq
            row.update(pq=pq.all.pq, pq_things=pq.things.pq, pq_stuff=pq.stuff.pq)
        return row


def row_text(row: Dict[str, float]) -> str:
    pq = f"PQ^scene {row['pq']:.1f}, " if "pq" in row else ""
    return f"step {row['step']}: {row['seconds']:.0f} s of training, {pq}mIoU {row['miou']:.1f}, PSNR {row['psnr']:.2f}"


def results_table(rows: List[Dict[str, float]], title: str) -> Table:
    table = Table(title=title)
    for column in ("step", "training time", "PQ^scene", "PQ things", "PQ stuff", "mIoU", "PSNR"):
        table.add_column(column, justify="right")
    for row in rows:
        pq = [f"{row[k]:.1f}" if k in row else "-" for k in ("pq", "pq_things", "pq_stuff")]
        minutes = f"{row['seconds'] / 60:.1f} min"
        table.add_row(str(row["step"]), minutes, *pq, f"{row['miou']:.1f}", f"{row['psnr']:.2f}")
    final = rows[-1].get("pq")
    if final is not None and final > 0:
        reached = next(r for r in rows if r.get("pq", -1) >= 0.95 * final)
        table.caption = f"95% of the final PQ^scene after {reached['seconds'] / 60:.1f} min (step {reached['step']})"
    return table


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, float]]:
    plan = parse(argv)
    console = Console(width=140)
    if plan.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA device: this benchmark times a GPU (--dry-run checks the script on a CPU)")
    from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackLocation

    from panoptic_nerfstudio.cli.demo_data_command import parse_size
    from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene

    scene = plan.scene
    if scene is None:
        width, height = parse_size(plan.size)
        scene = plan.output_dir / f"demo-{width}x{height}" / "scene"
        if not (scene / "transforms.json").exists():
            console.print(f"Writing the demo room at {width}x{height} ({plan.frames} views) to {scene}")
            write_demo_scene(scene, DemoSceneConfig(width=width, height=height, frames=plan.frames))
    config = trainer_config(plan, scene)
    random.seed(plan.seed), np.random.seed(plan.seed), torch.manual_seed(plan.seed)  # as ns-train's train_loop
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    clock = QualityClock(trainer, plan.every, plan.steps - 1, console)
    trainer.callbacks.append(TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION], clock))
    clock.started = time.perf_counter()
    trainer.train()

    device = torch.cuda.get_device_name() if plan.device == "cuda" else "cpu"
    title = f"{plan.method} on {scene} ({device}): quality against training time"
    console.print(results_table(clock.rows, title))
    out = config.get_base_dir() / RESULTS
    summary = {"scene": str(scene), "method": plan.method, "device": device, "rows": clock.rows}
    out.write_text(json.dumps(summary, indent=2))
    console.print(f"Results in {out}; the run's config in {config.get_base_dir() / 'config.yml'}")
    return clock.rows


if __name__ == "__main__":
    main()
