"""Training speed and memory on this machine, side by side in one run.

Rows: stock nerfacto (torch hash grid, its default sampling), the lite backbone
trained with RGB only (nerfacto with the lite preset's field settings), and the
full panoptic-lifting-lite model with both head feature sources. All rows train
on the default demo scene through the same datamanager, 1024 rays per step,
forward + backward + Adam step, after a warm-up. Peak memory is that of a real
``ns-train panoptic-lifting-lite`` run on the demo scene (max RSS of the child).

    python benchmarks/speed.py [--steps 40] [--memory-steps 300]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from nerfstudio.models.nerfacto import NerfactoModelConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig

from panoptic_nerfstudio.compat import without_lpips
from panoptic_nerfstudio.data.demo_scene import DemoSceneConfig, write_demo_scene
from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config

RAYS = 1024


@dataclass
class Row:
    name: str
    rays_per_second: float
    ms_per_step: float


def lite_backbone_as_nerfacto() -> NerfactoModelConfig:
    """nerfacto configured exactly like the lite preset's backbone (no panoptic heads)."""
    lite = panoptic_lifting_lite_config().pipeline.model
    stock = NerfactoModelConfig()
    for f in fields(NerfactoModelConfig):
        if f.name != "_target":
            setattr(stock, f.name, getattr(lite, f.name))
    return stock


def measure(name: str, model_config, scene: Path, steps: int, warmup: int = 5) -> Row:
    config = panoptic_lifting_lite_config()
    config.pipeline.datamanager.data = scene
    config.pipeline.datamanager.train_num_rays_per_batch = RAYS
    pipeline_config = VanillaPipelineConfig(datamanager=config.pipeline.datamanager, model=model_config)
    with without_lpips():
        pipeline = pipeline_config.setup(device="cpu", test_mode="val")
    pipeline.train()
    if hasattr(pipeline.model, "train_step"):
        pipeline.model.train_step = 10**9  # every loss active
    optimizer = torch.optim.Adam(pipeline.parameters(), lr=1e-3, eps=1e-15)
    rays = pipeline.datamanager.get_train_rays_per_batch()

    def step(i: int) -> None:
        _, losses, _ = pipeline.get_train_loss_dict(i)
        optimizer.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        optimizer.step()

    for i in range(warmup):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    elapsed = time.perf_counter() - start
    return Row(name, rays * steps / elapsed, 1000 * elapsed / steps)


def peak_training_memory(scene: Path, steps: int, out: Path) -> float:
    """Max RSS in GiB of ``ns-train panoptic-lifting-lite`` on the scene."""
    ns_train = Path(sys.executable).with_name("ns-train")
    subprocess.run(
        [str(ns_train), "panoptic-lifting-lite", "--data", str(scene), "--output-dir", str(out),
         "--max-num-iterations", str(steps), "--viewer.quit-on-train-completion", "True", "--vis", "tensorboard"],
        check=True, capture_output=True,
    )
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--memory-steps", type=int, default=300)
    args = parser.parse_args()
    console = Console()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene"
        write_demo_scene(scene, DemoSceneConfig())
        stock = NerfactoModelConfig(implementation="torch", camera_optimizer=panoptic_lifting_lite_config().pipeline.model.camera_optimizer)
        lite = panoptic_lifting_lite_config().pipeline.model
        backbone = panoptic_lifting_lite_config().pipeline.model
        backbone.head_features = "backbone"
        rows = [
            measure("nerfacto (stock, torch grid)", stock, scene, max(4, args.steps // 8)),
            measure("lite backbone, RGB only", lite_backbone_as_nerfacto(), scene, args.steps),
            measure("panoptic-lifting-lite (own head grid)", lite, scene, args.steps),
            measure("panoptic-lifting-lite (backbone features)", backbone, scene, args.steps),
        ]
        memory = peak_training_memory(scene, args.memory_steps, Path(tmp) / "outputs") if args.memory_steps else None

    table = Table(title=f"Training speed on this machine ({torch.get_num_threads()} threads, {RAYS} rays/step)")
    for column in ("model", "rays/s", "ms/step", "x stock nerfacto", "over RGB-only"):
        table.add_column(column, justify="right" if column != "model" else "left")
    base, rgb_only = rows[0].rays_per_second, rows[1].rays_per_second
    for row in rows:
        table.add_row(
            row.name,
            f"{row.rays_per_second:,.0f}",
            f"{row.ms_per_step:.1f}",
            f"{row.rays_per_second / base:.1f}x",
            f"{rgb_only / row.rays_per_second - 1:+.0%}",
        )
    console.print(table)
    if memory is not None:
        console.print(f"Peak memory of ns-train panoptic-lifting-lite on the demo scene: {memory:.2f} GiB")


if __name__ == "__main__":
    main()
