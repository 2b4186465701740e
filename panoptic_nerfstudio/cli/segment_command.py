"""``ns-panoptic segment --data SCENE``: 2D panoptic masks for every image of a scene, with Mask2Former.

Writes ``panoptic/``, ``confidence/`` and ``panoptic_classes.json`` (docs/format.md) where training reads them.
Frames that already have masks are skipped, so an interrupted run continues where it stopped; ``--overwrite``
regenerates everything (needed when changing the label map). ``--shard K/N`` segments every N-th frame starting at
K, so N processes or machines split a capture; the scene is validated by the shard that finds every frame done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Literal, Optional, Tuple

import torch
from rich.table import Table

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.cli.command_errors import CommandError, report_error
from panoptic_nerfstudio.utils.progress import frames_progress
from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError
from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.segmentation.backend import BackendUnavailableError, PanopticThresholds, SegmentationBackend
from panoptic_nerfstudio.segmentation.detectron2_backend import Detectron2OutputError
from panoptic_nerfstudio.segmentation.frame_shards import FrameShard, parse_shard
from panoptic_nerfstudio.segmentation.label_map import LabelMap, load_label_map
from panoptic_nerfstudio.segmentation.mask_generation import MaskGenerator, SegmentedFrame
from panoptic_nerfstudio.segmentation.panoptic_writer import class_table_needs_writing, prepare_class_table, write_frame
from panoptic_nerfstudio.segmentation.scene_frames import FrameTarget, read_rgb, scene_frame_targets
from panoptic_nerfstudio.segmentation.tta_merging import Augmentation, tta_augmentations


@dataclass
class Segment:
    """Run a Mask2Former panoptic model over every image of a scene; write panoptic/, confidence/, panoptic_classes.json."""

    data: Path
    """Scene directory with transforms.json (e.g. the output of ns-process-data), or the transforms.json itself."""
    backend: Literal["transformers", "detectron2"] = "transformers"
    """transformers needs only pip; detectron2 needs detectron2 and the Mask2Former project installed."""
    model: Optional[str] = None
    """transformers: a Hugging Face model id or a local directory written by save_pretrained (default
    facebook/mask2former-swin-large-coco-panoptic). detectron2: a Mask2Former config YAML."""
    weights: Optional[Path] = None
    """detectron2 only: the checkpoint file (default: the config's MODEL.WEIGHTS, if it is a local file)."""
    label_map: str = "coco133"
    """A shipped label map (coco133: COCO's own 133 classes; indoor21: the paper's 21 indoor classes) or a JSON file."""
    unmapped: Optional[str] = None
    """Where model classes the label map does not name go: 'void' or one of its categories (default: the map's)."""
    tta: bool = True
    """Test-time augmentation: merge class probabilities over horizontal flips and the scales below."""
    tta_scales: Tuple[float, ...] = (0.75, 1.0, 1.25)
    """Input scales of the test-time views, relative to the model's own input size."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = 2
    """Images per forward pass."""
    overwrite: bool = False
    """Regenerate frames that already have masks (and replace panoptic_classes.json)."""
    shard: Optional[str] = None
    """K/N: segment only every N-th frame of transforms.json starting at frame K (0-based), so that N processes
    or machines split the scene; run K = 0 .. N-1 with the same options. Validation runs once all frames have masks."""
    object_threshold: float = PanopticThresholds.object_score
    """Mask2Former panoptic inference: queries scoring at most this are dropped."""
    overlap_threshold: float = PanopticThresholds.overlap
    """Mask2Former panoptic inference: fraction of a query's mask that must survive overlaps."""

    def main(self) -> int:
        try:
            return self.run()
        except (PanopticFormatError, BackendUnavailableError, Detectron2OutputError) as err:
            return report_error(err)

    def run(self) -> int:
        if self.batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            shard = parse_shard(self.shard)
        except ValueError as err:
            raise CommandError(str(err)) from err
        label_map = load_label_map(self.label_map)
        if self.unmapped is not None:
            label_map = label_map.with_unmapped(self.unmapped)
        scene_dir, all_targets = scene_frame_targets(self.data)
        targets = shard.select(all_targets)
        if not shard.whole:
            CONSOLE.print(f"Shard {shard}: {len(targets)} of the scene's {len(all_targets)} frame(s)")
        pending = targets if self.overwrite else [t for t in targets if not t.done]
        new_class_table = class_table_needs_writing(scene_dir, label_map.classes, label_map.path, self.overwrite)
        skipped = len(targets) - len(pending)
        if skipped:
            CONSOLE.print(f"{skipped} of {len(targets)} frame(s) already have masks and are kept (--overwrite redoes them)")
        if not pending:
            prepare_class_table(scene_dir, label_map.classes, label_map.path, self.overwrite)
            where = scene_dir if shard.whole else f"shard {shard} of {scene_dir}"
            CONSOLE.print(f"[bold green]Nothing to do: every frame of {where} has masks")
            return 0

        device = resolve_device(self.device)
        backend = self.build_backend(device)
        views = tta_augmentations(self.tta_scales, flip=True) if self.tta else [Augmentation()]
        generator = MaskGenerator(backend, label_map, views)
        if new_class_table:
            prepare_class_table(scene_dir, label_map.classes, label_map.path, overwrite=True)
        if generator.assignment.unknown_sources:
            CONSOLE.print(
                f"[yellow]The label map names classes the model does not have: "
                f"{', '.join(generator.assignment.unknown_sources)}",
                soft_wrap=True,
            )

        stats = SegmentationStats()
        start = time.perf_counter()
        with frames_progress() as progress:
            task = progress.add_task(f"Segmenting ({len(views)} view(s) per image)", total=len(pending))
            for first in range(0, len(pending), self.batch_size):
                batch = pending[first : first + self.batch_size]
                images = [read_rgb(t.image) for t in batch]
                for target, result in zip(batch, generator.segment(images)):
                    write_frame(target, result.frame, result.confidence)
                    stats.add(result)
                progress.advance(task, len(batch))
        elapsed = time.perf_counter() - start

        CONSOLE.print(summary_table(scene_dir, label_map, stats, skipped, views, elapsed, device))
        if not all_frames_done(scene_dir, all_targets, shard):
            return 0
        report = validate_scene(scene_dir)
        if not report.ok:
            for problem in report.problems:
                CONSOLE.print(f"[bold red]error[/bold red] {problem}", soft_wrap=True)
            return 1
        CONSOLE.print(
            f"[bold green]{scene_dir} is a valid panoptic scene; train with: ns-train panoptic-lifting --data {scene_dir}"
        )
        return 0

    def build_backend(self, device: str) -> SegmentationBackend:
        thresholds = PanopticThresholds(object_score=self.object_threshold, overlap=self.overlap_threshold)
        if self.backend == "detectron2":
            from panoptic_nerfstudio.segmentation.detectron2_backend import Detectron2Backend

            if self.model is None:
                raise BackendUnavailableError("--backend detectron2 needs --model CONFIG.yaml (a Mask2Former config)")
            return Detectron2Backend(Path(self.model), self.weights, device, thresholds)
        from panoptic_nerfstudio.segmentation.transformers_backend import DEFAULT_MODEL, TransformersBackend

        name = self.model or DEFAULT_MODEL
        with CONSOLE.status(f"Loading {name}"):
            return TransformersBackend.from_pretrained(name, device, thresholds)


def all_frames_done(scene_dir: Path, targets: List[FrameTarget], shard: FrameShard) -> bool:
    """Whether every frame of the scene has masks; if not (other shards still running), say so."""
    missing = [t for t in targets if not t.done]
    if not missing:
        return True
    CONSOLE.print(
        f"[bold]Shard {shard} is done; {len(missing)} of {len(targets)} frame(s) of {scene_dir} have no "
        f"masks yet (other shards), e.g. {missing[0].image.name}. The scene is validated by the run that finds "
        "every frame done (or run ns-panoptic validate).",
        soft_wrap=True,
    )
    return False


def resolve_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(f"--device cuda, but torch {torch.__version__} sees no CUDA device")
    return choice


@dataclass
class SegmentationStats:
    frames: int = 0
    segments: int = 0
    things: int = 0
    void_fraction: float = 0.0
    confidence: float = 0.0

    def add(self, result: SegmentedFrame) -> None:
        labelled = result.frame.ids != 0
        self.frames += 1
        self.segments += len(result.frame.segments)
        self.things += sum(s.isthing for s in result.frame.segments)
        self.void_fraction += float(1.0 - labelled.mean())
        self.confidence += float(result.confidence[labelled].mean()) if labelled.any() else 0.0


def summary_table(
    scene_dir: Path,
    label_map: LabelMap,
    stats: SegmentationStats,
    skipped: int,
    views: List[Augmentation],
    elapsed: float,
    device: str,
) -> Table:
    table = Table(title=f"Panoptic masks for {scene_dir}")
    table.add_column("item")
    table.add_column("value", justify="right")
    n = max(stats.frames, 1)
    things = int(label_map.classes.thing_mask.sum())
    table.add_row("frames segmented", str(stats.frames))
    table.add_row("frames kept from before", str(skipped))
    table.add_row("label map", f"{label_map.path.name}: {len(label_map.classes)} classes ({things} thing)")
    table.add_row("test-time views", ", ".join(f"{v.scale:g}{' flip' if v.flip else ''}" for v in views))
    table.add_row("segments per frame", f"{stats.segments / n:.1f} ({stats.things / n:.1f} thing)")
    table.add_row("void fraction", f"{stats.void_fraction / n:.3f}")
    table.add_row("mean confidence (labelled pixels)", f"{stats.confidence / n:.3f}")
    table.add_row("time", f"{elapsed:.1f} s ({elapsed / n:.2f} s per frame on {device})")
    return table

