"""Writing a demo scene in the panoptic scene format (docs/format.md), and the summary of what was written."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence

import numpy as np
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import (
    VOID_ID,
    PanopticFrame,
    SegmentInfo,
    write_classes,
    write_confidence,
    write_panoptic,
)
from panoptic_nerfstudio.demo_scene.cameras import CAMERA_PATHS, CameraChoice, intrinsics, orbit_poses, tour_poses
from panoptic_nerfstudio.demo_scene.geometry import Intrinsics
from panoptic_nerfstudio.demo_scene.layouts import LayoutName, SceneObject, build_scene, get_layout
from panoptic_nerfstudio.demo_scene.mask_defects import MaskStats, simulate_machine_mask
from panoptic_nerfstudio.demo_scene.shading import render_frame


@dataclass
class DemoSceneConfig:
    """What to generate. The same config always gives bit-identical files."""

    seed: int = 0
    width: int = 160
    height: int = 120
    frames: int = 48
    eval_every: int = 8
    """Every eval_every-th frame (indices 0, eval_every, ...) is held out for val/test."""
    noise: float = 1.0
    """Scales every machine-mask defect; 0 gives masks equal to ground truth up to per-frame ids."""
    layout: LayoutName = "default"
    """Which room (see :data:`~panoptic_nerfstudio.demo_scene.layouts.LAYOUTS`); ``default`` is the one the
    method was tuned on, the others are benchmark scenes it was not."""
    cameras: CameraChoice = "layout"
    """Camera path: ``orbit``, ``tour`` (orbit plus close-ups and views looking up), or ``layout`` for the
    layout's own (orbit for ``default``, tour for the others)."""


@dataclass
class DemoSceneSummary:
    """What was written, for a results table."""

    path: Path
    layout: str
    cameras: str
    """The camera path actually used."""
    width: int
    height: int
    frames: int
    train_frames: int
    eval_frames: int
    classes: int
    stuff_classes: int
    thing_classes: int
    thing_instances: int
    segments_per_frame: float
    """Mean number of machine-mask segments per frame."""
    missed_segments: int
    """Thing instances (per frame) the simulated network dropped."""
    merged_segments: int
    """Times two touching instances became one machine segment."""
    confused_segments: int
    """Thing segments given a wrong class."""
    stuff_patches: int
    """Stuff regions partly painted with a wrong stuff class."""
    mask_void_fraction: float
    """Fraction of machine-mask pixels that are void."""
    mask_class_accuracy: float
    """Fraction of pixels whose machine class equals the true class (void counts as wrong)."""


def _ground_truth(objects: Sequence[SceneObject], object_index: np.ndarray) -> PanopticFrame:
    """Exact labels from the object hit by each pixel-centre ray: one id per thing instance and per stuff class."""
    lut = np.array([obj.gt_id for obj in objects] + [VOID_ID], dtype=np.int64)
    ids = lut[object_index]  # index -1 (no hit) picks the trailing void
    by_id = {obj.gt_id: obj for obj in objects}
    present = [by_id[int(k)] for k in np.unique(ids) if k != VOID_ID]
    return PanopticFrame(ids=ids, segments=[SegmentInfo(o.gt_id, o.category_id, o.isthing, 1.0) for o in present])


def _check(config: DemoSceneConfig) -> None:
    """Reject configs that would write a scene training cannot use, before anything is written."""
    if config.width < 8 or config.height < 8:
        raise ValueError(f"image size {config.width}x{config.height} is too small; use at least 8x8")
    if config.frames < 2:
        raise ValueError(f"frames={config.frames}: need at least 2 (one training, one held out)")
    if config.eval_every < 2:
        raise ValueError(f"eval_every={config.eval_every}: need at least 2 so that some frames are for training")
    if not (math.isfinite(config.noise) and config.noise >= 0):
        raise ValueError(f"noise={config.noise}: must be a finite number >= 0")
    get_layout(config.layout)  # raises for an unknown name, listing the known ones
    if config.cameras not in ("layout",) + CAMERA_PATHS:
        raise ValueError(f"cameras={config.cameras!r}: choose layout, {', '.join(CAMERA_PATHS)}")


def _camera_path(config: DemoSceneConfig) -> str:
    """The path named by ``config.cameras``, with ``layout`` resolved to the layout's own."""
    return get_layout(config.layout).cameras if config.cameras == "layout" else config.cameras


def _poses(config: DemoSceneConfig, objects: Sequence[SceneObject]) -> List[np.ndarray]:
    layout = get_layout(config.layout)
    if _camera_path(config) == "tour":
        return tour_poses(config.frames, config.seed, objects, layout.half, layout.height)
    return orbit_poses(config.frames, config.seed)


def _marker(config: DemoSceneConfig) -> dict:
    """How the scene was made, under the key that marks a demo scene.

    Layout and camera path are recorded only when they are not the defaults, so
    that the default scene's transforms.json stays byte-identical to earlier releases.
    """
    marker: dict = {"seed": config.seed, "noise": config.noise, "eval_every": config.eval_every}
    if config.layout != "default":
        marker["layout"] = config.layout
    if config.cameras != "layout":
        marker["cameras"] = config.cameras
    return marker


_LAYER_DIRS = ("images", "panoptic", "confidence", "gt_panoptic")
_MARKER = "panoptic_demo_scene"
"""Key in transforms.json that marks a directory as written by this module, so rewriting it is safe."""


def _prepare(out: Path) -> None:
    """Refuse to write into someone else's data; clear the frames of an earlier demo scene."""
    if out.exists() and any(out.iterdir()):
        transforms = out / "transforms.json"
        try:
            ours = _MARKER in json.loads(transforms.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise FileExistsError(f"{out} exists and is not a demo scene; choose an empty or new directory")
        for folder in _LAYER_DIRS:
            for stale in sorted((out / folder).glob("frame_*")):
                stale.unlink()
    for folder in _LAYER_DIRS:
        (out / folder).mkdir(parents=True, exist_ok=True)


def _transforms(config: DemoSceneConfig, intr: Intrinsics, poses: Sequence[np.ndarray], names: List[str]) -> dict:
    held_out = [n for i, n in enumerate(names) if i % config.eval_every == 0]
    train = [n for i, n in enumerate(names) if i % config.eval_every != 0]
    return {
        "camera_model": "OPENCV",
        "fl_x": intr.fx,
        "fl_y": intr.fy,
        "cx": intr.cx,
        "cy": intr.cy,
        "w": intr.width,
        "h": intr.height,
        "k1": 0.0,
        "k2": 0.0,
        "p1": 0.0,
        "p2": 0.0,
        "frames": [
            {"file_path": name, "transform_matrix": [[round(float(v), 10) for v in row] for row in pose]}
            for name, pose in zip(names, poses)
        ],
        "train_filenames": train,
        "val_filenames": held_out,
        "test_filenames": held_out,
        _MARKER: _marker(config),
    }


@dataclass
class _Tally:
    """Running totals over the frames, for the summary."""

    defects: MaskStats = field(default_factory=MaskStats)
    segments: int = 0
    void: int = 0
    correct: int = 0

    def add(self, machine: PanopticFrame, gt: PanopticFrame, defects: MaskStats) -> None:
        predicted = _category_map(machine)
        self.defects = self.defects + defects
        self.segments += len(machine.segments)
        self.void += int((machine.ids == VOID_ID).sum())
        self.correct += int(((predicted == _category_map(gt)) & (predicted >= 0)).sum())


def _category_map(frame: PanopticFrame) -> np.ndarray:
    """[H, W] category id per pixel, -1 on void."""
    keys = np.array([VOID_ID] + [s.id for s in frame.segments], dtype=np.int64)
    cats = np.array([-1] + [s.category_id for s in frame.segments], dtype=np.int64)
    order = np.argsort(keys)
    return cats[order][np.searchsorted(keys[order], frame.ids)]


def write_demo_scene(out: Path, config: DemoSceneConfig = DemoSceneConfig()) -> DemoSceneSummary:
    """Render the scene and write it in the panoptic scene format (docs/format.md)."""
    _check(config)
    out = Path(out)
    _prepare(out)
    classes = get_layout(config.layout).classes
    objects = build_scene(config.seed, config.layout)
    texture_table = np.random.default_rng([config.seed, 4]).random(4096)
    intr = intrinsics(config.width, config.height)
    poses = _poses(config, objects)
    names = [f"images/frame_{k:05d}.png" for k in range(config.frames)]
    # transforms.json first: it marks the directory as a demo scene even if writing stops half way.
    transforms = _transforms(config, intr, poses, names)
    (out / "transforms.json").write_text(json.dumps(transforms, indent=2) + "\n", encoding="utf-8")
    write_classes(out / "panoptic_classes.json", classes)

    tally = _Tally()
    for k, (name, pose) in enumerate(zip(names, poses)):
        stem = Path(name).stem
        rgb, object_index = render_frame(objects, pose, intr, texture_table)
        Image.fromarray(rgb).save(out / name)
        gt = _ground_truth(objects, object_index)
        write_panoptic(out / "gt_panoptic" / f"{stem}.png", gt)
        rng = np.random.default_rng([config.seed, 3, k])  # per frame: a frame's mask does not depend on the others
        machine, confidence, defects = simulate_machine_mask(gt.ids, gt.segment_table(), rng, config.noise)
        write_panoptic(out / "panoptic" / f"{stem}.png", machine)
        write_confidence(out / "confidence" / f"{stem}.png", confidence)
        tally.add(machine, gt, defects)
    return _summary(out, config, transforms, objects, tally)


def _summary(
    out: Path, config: DemoSceneConfig, transforms: dict, objects: Sequence[SceneObject], tally: _Tally
) -> DemoSceneSummary:
    pixels = config.frames * config.width * config.height
    classes = get_layout(config.layout).classes
    return DemoSceneSummary(
        path=out,
        layout=config.layout,
        cameras=_camera_path(config),
        width=config.width,
        height=config.height,
        frames=config.frames,
        train_frames=len(transforms["train_filenames"]),
        eval_frames=len(transforms["val_filenames"]),
        classes=len(classes),
        stuff_classes=int((~classes.thing_mask).sum()),
        thing_classes=int(classes.thing_mask.sum()),
        thing_instances=sum(obj.isthing for obj in objects),
        segments_per_frame=round(tally.segments / config.frames, 2),
        missed_segments=tally.defects.missed,
        merged_segments=tally.defects.merged,
        confused_segments=tally.defects.confused,
        stuff_patches=tally.defects.stuff_patches,
        mask_void_fraction=round(tally.void / pixels, 4),
        mask_class_accuracy=round(tally.correct / pixels, 4),
    )
