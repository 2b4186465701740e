"""Training speed and memory on this machine, side by side in one run.

Rows: stock nerfacto (torch hash grid, its default sampling), the lite backbone trained with RGB only (nerfacto with the
lite preset's field settings and our faster torch hash grid, i.e. exactly the backbone of our model), the full
panoptic-lifting-lite model with both head feature sources, without the free-space loss around the cameras, with the
contrastive instance head, with a finer head grid (finest resolution 1024 instead of 256), on the slower paths it took
before the pair gather, the hash's shared products and the ``amax`` contraction (``with_slower_paths``: the same
weights), with the 1024 rays per step the preset drew before it drew 1536, with the rays of stuff segments drawn
by an error map (``--pipeline.datamanager.ray-sampler.error-map-candidates 4``, ``error-map-stuff-only True``; each
step's colours recorded in it), and as the preset was on 6487092 (a backbone hash table of 2^15 entries, torch's unfused
Adam, the slower paths, 1024 rays, no free-space loss: the reference of issue 17's speed limit). All rows train on the
default demo scene through the same datamanager and pipeline as ``ns-train``, the preset's rays per step unless a row
says otherwise, forward + backward + Adam step (fused, as the lite preset's optimizers, unless a row says otherwise).
Rounds of steps are interleaved across the rows and each row keeps its best round, because this machine's speed drifts
by up to 2x over minutes. Peak memory is that of a real ``ns-train panoptic-lifting-lite`` run on the demo scene (max
RSS of the child).

    python benchmarks/speed.py [--steps 16] [--rounds 5] [--memory-steps 300]
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
from typing import List, Optional

import torch
from rich.console import Console
from rich.table import Table

from nerfstudio.engine.callbacks import TrainingCallbackAttributes
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.field_components.spatial_distortions import SceneContraction
from nerfstudio.models.nerfacto import NerfactoModelConfig

import this_checkout  # (first: this checkout's package, not an installed copy)

from panoptic_nerfstudio.compat import without_lpips
from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene
from panoptic_nerfstudio.method_configs import FusedAdamOptimizerConfig, panoptic_lifting_lite_config
from panoptic_nerfstudio.pipelines.panoptic_pipeline import PanopticPipelineConfig
from panoptic_nerfstudio.fields.fast_hash_encoding import FastTorchHashEncoding, accelerate_torch_hash_encodings
from panoptic_nerfstudio.fields.fast_scene_contraction import FastSceneContraction, accelerate_scene_contractions

EARLIER_RAYS = 1024
"""Rays per step of the preset before it drew 1536, and of the reference row."""


@dataclass
class Row:
    name: str
    rays: int
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


class Trainee:
    """One model variant, set up on the scene, that can time a few training steps."""

    def __init__(
        self,
        name: str,
        model_config,
        scene: Path,
        accelerate: bool = True,
        fused_adam: bool = True,
        slower_paths: bool = False,
        rays: Optional[int] = None,
        error_map: bool = False,
    ):
        config = panoptic_lifting_lite_config()
        config.pipeline.datamanager.data = scene
        if rays is not None:
            config.pipeline.datamanager.train_num_rays_per_batch = rays
        if error_map:
            sampler = config.pipeline.datamanager.ray_sampler
            sampler.error_map_candidates, sampler.error_map_stuff_only = 4, True
        pipeline_config = PanopticPipelineConfig(datamanager=config.pipeline.datamanager, model=model_config)
        with without_lpips():
            self.pipeline = pipeline_config.setup(device="cpu", test_mode="val")
        self.pipeline.train()
        if accelerate:
            accelerate_torch_hash_encodings(self.pipeline.model)
            accelerate_scene_contractions(self.pipeline.model)
        if slower_paths:
            with_slower_paths(self.pipeline.model)
        if hasattr(self.pipeline.model, "train_step"):
            self.pipeline.model.train_step = 10**9  # every loss active
            # as ns-train does before its first step (the free-space loss takes the training cameras there)
            self.pipeline.model.get_training_callbacks(TrainingCallbackAttributes(None, None, self.pipeline, None))
        self.name = name
        adam = FusedAdamOptimizerConfig if fused_adam else AdamOptimizerConfig
        self.optimizer = adam(lr=1e-3, eps=1e-15).setup(self.pipeline.parameters())
        self.rays = self.pipeline.datamanager.get_train_rays_per_batch()
        self.step_count = 0
        self.best_seconds_per_step = float("inf")

    def step(self) -> None:
        _, losses, _ = self.pipeline.get_train_loss_dict(self.step_count)
        self.optimizer.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        self.optimizer.step()
        self.step_count += 1

    def time_round(self, steps: int) -> None:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        self.best_seconds_per_step = min(self.best_seconds_per_step, (time.perf_counter() - start) / steps)

    def row(self) -> Row:
        return Row(self.name, self.rays, self.rays / self.best_seconds_per_step, 1000 * self.best_seconds_per_step)


class HashEncodingBefore(FastTorchHashEncoding):
    """The hash grid as it ran before the pair gather (for the rows on the slower paths): each corner hashed through
    nerfstudio's ``hash_fn`` and gathered by ``index_select``, whose backward scatters floats one by one."""

    def corner_features(self, ceil: torch.Tensor, floor: torch.Tensor) -> List[torch.Tensor]:
        (cx, cy, cz), (fx, fy, fz) = ([bound[..., i : i + 1] for i in range(3)] for bound in (ceil, floor))

        def corner(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            index = self.hash_fn(torch.cat([x, y, z], dim=-1))
            return self.hash_table.index_select(0, index.reshape(-1)).reshape(*index.shape, -1)

        return [corner(cx, cy, cz), corner(cx, fy, cz), corner(fx, fy, cz), corner(fx, cy, cz),
                corner(cx, cy, fz), corner(cx, fy, fz), corner(fx, fy, fz), corner(fx, cy, fz)]  # fmt: skip


def with_slower_paths(model: torch.nn.Module) -> None:
    """The model on the paths it took before the pair gather: ``HashEncodingBefore`` and nerfstudio's contraction
    with ``torch.linalg.norm``. The same weights, bit for bit, only slower."""
    for module in model.modules():
        if type(module) is FastTorchHashEncoding:
            module.__class__ = HashEncodingBefore
        if type(module) is FastSceneContraction:
            module.__class__ = SceneContraction


def measure(trainees: list, steps: int, rounds: int) -> list:
    """Interleaved rounds, best round per variant: robust to this machine's speed swings."""
    for trainee in trainees:
        trainee.time_round(2)  # warm-up
    for _ in range(rounds):
        for trainee in trainees:
            trainee.time_round(max(2, steps // 8) if trainee.name.startswith("nerfacto (stock") else steps)
    return [trainee.row() for trainee in trainees]


def peak_training_memory(scene: Path, steps: int, out: Path) -> float:
    """Max RSS in GiB of ``ns-train panoptic-lifting-lite`` on the scene."""
    ns_train = Path(sys.executable).with_name("ns-train")
    subprocess.run(
        [str(ns_train), "panoptic-lifting-lite", "--data", str(scene), "--output-dir", str(out),
         "--max-num-iterations", str(steps), "--viewer.quit-on-train-completion", "True", "--vis", "tensorboard"],
        check=True, capture_output=True, env=this_checkout.environment(),
    )
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=16, help="steps per timing round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory-steps", type=int, default=300)
    args = parser.parse_args()
    console = Console(width=160)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene"
        write_demo_scene(scene, DemoSceneConfig())
        stock = NerfactoModelConfig(implementation="torch", camera_optimizer=panoptic_lifting_lite_config().pipeline.model.camera_optimizer)
        lite = panoptic_lifting_lite_config().pipeline.model
        backbone = panoptic_lifting_lite_config().pipeline.model
        backbone.heads.features = "backbone"
        no_free_space = panoptic_lifting_lite_config().pipeline.model
        no_free_space.camera_free_space.loss_mult = 0.0
        contrastive = panoptic_lifting_lite_config().pipeline.model
        contrastive.instance_head = "contrastive"
        fine = panoptic_lifting_lite_config().pipeline.model
        fine.heads.max_res = 1024
        before = panoptic_lifting_lite_config().pipeline.model
        before.log2_hashmap_size = 15
        before.camera_free_space.loss_mult = 0.0
        trainees = [
            Trainee("nerfacto (stock, torch grid)", stock, scene, accelerate=False, fused_adam=False),
            Trainee("lite backbone, RGB only", lite_backbone_as_nerfacto(), scene),
            Trainee("panoptic-lifting-lite (own head grid)", lite, scene),
            Trainee("panoptic-lifting-lite (backbone features)", backbone, scene),
            Trainee("panoptic-lifting-lite without the free-space loss", no_free_space, scene),
            Trainee("panoptic-lifting-lite, contrastive head", contrastive, scene),
            Trainee("panoptic-lifting-lite, head grid to 1024", fine, scene),
            Trainee(
                "panoptic-lifting-lite on the paths before the pair gather (the same weights)",
                panoptic_lifting_lite_config().pipeline.model,
                scene,
                slower_paths=True,
            ),
            Trainee(
                f"panoptic-lifting-lite with {EARLIER_RAYS} rays per step, as before it drew more",
                panoptic_lifting_lite_config().pipeline.model,
                scene,
                rays=EARLIER_RAYS,
            ),
            Trainee(
                "panoptic-lifting-lite, stuff rays drawn by the error map",
                panoptic_lifting_lite_config().pipeline.model,
                scene,
                error_map=True,
            ),
            Trainee(
                "panoptic-lifting-lite before b8d56a6 (2^15 table, unfused Adam), on the slower paths",
                before,
                scene,
                fused_adam=False,
                slower_paths=True,
                rays=EARLIER_RAYS,
            ),
        ]
        rows = measure(trainees, args.steps, args.rounds)
        memory = peak_training_memory(scene, args.memory_steps, Path(tmp) / "outputs") if args.memory_steps else None

    table = Table(title=f"Training speed on this machine ({torch.get_num_threads()} threads)")
    for column in ("model", "rays/step", "rays/s", "ms/step", "x stock nerfacto", "over RGB-only"):
        table.add_column(column, justify="right" if column != "model" else "left")
    base, rgb_only = rows[0].rays_per_second, rows[1].rays_per_second
    for row in rows:
        table.add_row(
            row.name,
            str(row.rays),
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
