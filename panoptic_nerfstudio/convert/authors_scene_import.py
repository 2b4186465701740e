"""Convert one scene from the Panoptic Lifting authors' layout into our panoptic scene format.

What changes on the way (see authors_scene_layout.py for their side, docs/format.md for ours):

* Cameras: their poses are OpenCV camera-to-world (x right, y down, z forward);
  nerfstudio's transforms.json wants OpenGL axes (y up, z backward), so the
  camera's y and z columns flip. Their rays pass through pixel (i - cx) / fx
  (pixel centres at integer coordinates) while nerfstudio casts them through
  (i + 0.5 - cx) / fx, so cx and cy gain half a pixel: the same rays, exactly.
* Splits: their name lists become nerfstudio's ``train_filenames`` /
  ``val_filenames`` / ``test_filenames``, which nerfstudio's parser reads as is.
* Machine masks: class + instance images become one COCO panoptic mask per
  frame. Each thing instance is a segment; all pixels of one stuff class are
  one segment; class 0 and the frame's ``invalid`` pixels are void. Segment ids
  are renumbered 1..n per frame, as the format intends.
* Confidence: the npz's ``confidence`` (with test-time augmentation) or
  ``confidence_notta``, zero on void, as a 16-bit PNG. A segment's score is its
  mean confidence. Their class probability maps are not carried over: the
  format has no place for them (they only decide which label set a scene uses).
* Ground truth: ``rs_semantics`` + ``rs_instance`` become ``gt_panoptic/`` with
  ids that read ``instance * 256 + class`` for things and ``class`` for stuff, the
  same object keeping its id in every frame; stuff instance ids are dropped, as
  their evaluation drops them.

With ``downscale`` > 1 every layer is resized as their loader resizes it
(images Lanczos, labels nearest, confidence bilinear) and the intrinsics follow.
Output is written to a temporary folder and moved into place at the end, so a
failed conversion leaves nothing half-written behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Literal, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from panoptic_nerfstudio.convert.authors_classes import ClassSetName, authors_class_table, class_set_for_channels
from panoptic_nerfstudio.convert.authors_scene_layout import (
    AuthorsScene,
    AuthorsSceneError,
    check_frame_files,
    image_size,
    open_authors_scene,
    principal_point_fits,
    probability_channels,
    read_color,
    read_confidence,
    read_intrinsics,
    read_invalid,
    read_label_image,
    read_pose,
)
from panoptic_nerfstudio.convert.authors_labels import (
    MAX_GT_INSTANCE,
    ground_truth_frame,
    machine_frame,
    resize_confidence,
    resize_labels,
    resize_mask,
)
from panoptic_nerfstudio.data.panoptic_format import VOID_ID, ClassTable, write_classes, write_confidence, write_panoptic
from panoptic_nerfstudio.data.scene_layout import CLASSES_FILENAME, CONFIDENCE, GT_PANOPTIC, PANOPTIC

IMPORT_MARKER = "panoptic_lifting_import"
"""transforms.json key naming the source and options; marks a folder this importer may replace."""

OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])
"""Right-multiplying a camera-to-world matrix by this flips the camera's y and z axes."""


@dataclass
class AuthorsImportConfig:
    """How to convert (the options of ``ns-panoptic convert panoptic-lifting``)."""

    confidence: Literal["tta", "notta"] = "tta"
    """tta: the test-time-augmented masks and confidence the paper trains with. notta: ``confidence_notta``,
    with the ``m2f_notta_*`` masks where the scene has them (their loader pairs the two)."""
    max_frames: Optional[int] = None
    """Keep at most this many frames, evenly spaced, train and held-out frames in proportion."""
    downscale: int = 1
    """Divide the image size by this; intrinsics and every layer follow."""
    class_set: Literal["auto", "reduced", "extended"] = "auto"
    """Their label list: auto picks it from the probability maps' channel count (22: reduced, 32: extended)."""

    def check(self) -> None:
        if self.downscale < 1:
            raise ValueError(f"--downscale {self.downscale}: must be 1 or more")
        if self.max_frames is not None and self.max_frames < 2:
            raise ValueError(f"--max-frames {self.max_frames}: need at least 2 (one to train on, one held out)")


@dataclass
class AuthorsImportSummary:
    """What one conversion wrote, for the results table."""

    source: Path
    output: Path
    frames: int
    train_frames: int
    val_frames: int
    test_frames: int
    width: int
    height: int
    class_set: str
    confidence: str
    masks: str
    """Folder the machine masks came from."""
    ground_truth: bool
    invalid_frames: int
    """Frames with an ``invalid`` mask."""
    void_fraction: float
    """Fraction of machine-mask pixels that are void (class 0 or invalid)."""
    source_frames: int
    """Frames of the source scene (all of color/)."""


@dataclass
class FramePlan:
    """Which frames to convert and their splits, all in their frame order."""

    frames: List[str]
    train: List[str]
    val: List[str]
    test: List[str]


# ----------------------------------------------------------------------------- cameras


def opencv_to_opengl(c2w: np.ndarray) -> np.ndarray:
    """Camera-to-world with OpenCV camera axes -> the same camera with OpenGL axes (nerfstudio)."""
    return np.asarray(c2w, dtype=np.float64) @ OPENCV_TO_OPENGL


def nerfstudio_intrinsics(k: np.ndarray, source_size: Tuple[int, int], output_size: Tuple[int, int]) -> Dict:
    """transforms.json camera fields for K of a ``source_size`` image, seen at ``output_size``.

    Moving the principal point by half a pixel converts their pixel convention to nerfstudio's; in
    nerfstudio's (corner-origin) convention a resize scales fx and cx by exactly the size ratio.
    """
    (src_w, src_h), (out_w, out_h) = source_size, output_size
    sx, sy = out_w / src_w, out_h / src_h
    return {
        "camera_model": "OPENCV",
        "fl_x": float(k[0, 0] * sx),
        "fl_y": float(k[1, 1] * sy),
        "cx": float((k[0, 2] + 0.5) * sx),
        "cy": float((k[1, 2] + 0.5) * sy),
        "w": int(out_w),
        "h": int(out_h),
        "k1": 0.0,
        "k2": 0.0,
        "p1": 0.0,
        "p2": 0.0,
    }


# ----------------------------------------------------------------------------- frames and splits


def plan_frames(scene: AuthorsScene, max_frames: Optional[int]) -> FramePlan:
    """The frames of any split (others are never read by their loader either), evenly thinned to
    ``max_frames`` with train and held-out frames kept in proportion, at least one of each."""
    in_train = set(scene.train)
    held_set = set(scene.val) | set(scene.test)
    train = [f for f in scene.frames if f in in_train]
    held = [f for f in scene.frames if f in held_set and f not in in_train]
    keep = set(train) | set(held)
    total = len(keep)
    if max_frames is not None and total > max_frames:
        n_held = min(len(held), max_frames - 1, max(1, round(max_frames * len(held) / total))) if held else 0
        keep = set(_evenly(train, max_frames - n_held)) | set(_evenly(held, n_held))
    frames = [f for f in scene.frames if f in keep]
    return FramePlan(
        frames=frames,
        train=[f for f in frames if f in in_train],
        val=[f for f in frames if f in set(scene.val)],
        test=[f for f in frames if f in set(scene.test)],
    )


def _evenly(items: Sequence[str], count: int) -> List[str]:
    if count >= len(items):
        return list(items)
    if count <= 0:
        return []
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]


# ----------------------------------------------------------------------------- the conversion


def choose_class_set(scene: AuthorsScene, first_frame: str, requested: str) -> ClassSetName:
    """The requested list, or the one the probability maps' channel count names."""
    channels = probability_channels(scene.probabilities(first_frame))
    detected = class_set_for_channels(channels)
    if requested != "auto":
        return requested  # type: ignore[return-value]
    if detected is None:
        raise AuthorsSceneError(
            scene.probabilities(first_frame),
            f"'probability' has {channels} channels; the reduced list has 22 (21 classes + void) and the extended "
            "list 32, so the label set is unknown. Pass --class-set reduced or extended if the masks use one of them",
        )
    return detected


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse to write over anything but an earlier conversion, and that only with ``overwrite``."""
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not overwrite:
        raise AuthorsSceneError(out, "already exists; pass --overwrite to replace an earlier conversion")
    try:
        ours = IMPORT_MARKER in json.loads((out / "transforms.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise AuthorsSceneError(out, "exists and was not written by ns-panoptic convert; refusing to replace it")


def import_authors_scene(
    src: Path,
    out: Path,
    config: AuthorsImportConfig = AuthorsImportConfig(),
    overwrite: bool = False,
    on_start: Callable[[int], None] = lambda total: None,
    on_frame: Callable[[str], None] = lambda name: None,
) -> AuthorsImportSummary:
    """Convert the scene at ``src`` (their layout) into ``out`` (ours). Every part is checked before writing."""
    config.check()
    out = Path(out)
    check_output(out, overwrite)
    scene = open_authors_scene(src)
    notta = config.confidence == "notta"
    notta_masks = notta and scene.has_notta_masks
    plan = plan_frames(scene, config.max_frames)
    check_frame_files(scene, plan.frames, notta_masks)
    class_set = choose_class_set(scene, plan.frames[0], config.class_set)
    classes = authors_class_table(class_set)

    k = read_intrinsics(scene.intrinsics)
    source_size = image_size(scene.color(plan.frames[0]), "color frame")
    for frame in plan.frames:
        size = image_size(scene.color(frame), "color frame")
        if size != source_size:
            raise AuthorsSceneError(
                scene.color(frame),
                f"color frame is {size[0]}x{size[1]} but {plan.frames[0]}.jpg is {source_size[0]}x{source_size[1]}; "
                "a scene has one camera",
            )
    if not principal_point_fits(k, source_size):
        raise AuthorsSceneError(
            scene.intrinsics,
            f"principal point ({k[0, 2]:.1f}, {k[1, 2]:.1f}) lies outside the {source_size[0]}x{source_size[1]} "
            "color frames: these intrinsics are for another image size",
        )
    poses = {frame: read_pose(scene.pose(frame)) for frame in plan.frames}
    output_size = (max(1, source_size[0] // config.downscale), max(1, source_size[1] // config.downscale))

    on_start(len(plan.frames))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".converting", dir=out.parent))
    try:
        writer = _FrameWriter(scene, staging, class_set, classes, output_size, notta, notta_masks)
        for frame in plan.frames:
            writer.write(frame)
            on_frame(frame)
        write_classes(staging / CLASSES_FILENAME, classes)
        transforms = _transforms(scene, plan, writer.image_paths, poses, k, source_size, output_size, config)
        (staging / "transforms.json").write_text(json.dumps(transforms, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)  # empty, or an earlier conversion (check_output)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)

    return AuthorsImportSummary(
        source=scene.root,
        output=out,
        frames=len(plan.frames),
        train_frames=len(plan.train),
        val_frames=len(plan.val),
        test_frames=len(plan.test),
        width=output_size[0],
        height=output_size[1],
        class_set=class_set,
        confidence=config.confidence,
        masks=Path(scene.semantics(plan.frames[0], notta_masks)).parent.name,
        ground_truth=scene.has_ground_truth,
        invalid_frames=writer.invalid_frames,
        void_fraction=writer.void_pixels / max(1, writer.pixels),
        source_frames=len(scene.frames),
    )


def _transforms(
    scene: AuthorsScene,
    plan: FramePlan,
    image_paths: Dict[str, str],
    poses: Dict[str, np.ndarray],
    k: np.ndarray,
    source_size: Tuple[int, int],
    output_size: Tuple[int, int],
    config: AuthorsImportConfig,
) -> Dict:
    def names(frames: Sequence[str]) -> List[str]:
        return [image_paths[f] for f in frames]

    return {
        **nerfstudio_intrinsics(k, source_size, output_size),
        "frames": [
            {
                "file_path": image_paths[f],
                "transform_matrix": [[float(v) for v in row] for row in opencv_to_opengl(poses[f])],
            }
            for f in plan.frames
        ],
        "train_filenames": names(plan.train),
        "val_filenames": names(plan.val),
        "test_filenames": names(plan.test),
        IMPORT_MARKER: {
            "source": str(scene.root.resolve()),
            "confidence": config.confidence,
            "downscale": config.downscale,
            "max_frames": config.max_frames,
        },
    }


@dataclass
class _FrameWriter:
    """Reads one frame's layers, converts them and writes our files; counts what it saw."""

    scene: AuthorsScene
    out: Path
    class_set: str
    classes: ClassTable
    size: Tuple[int, int]
    notta: bool
    notta_masks: bool
    image_paths: Dict[str, str] = field(default_factory=dict)
    invalid_frames: int = 0
    void_pixels: int = 0
    pixels: int = 0

    def write(self, frame: str) -> None:
        self.image_paths[frame] = self._write_image(frame)
        semantics = self._labels(self.scene.semantics(frame, self.notta_masks), "class mask")
        instance = self._labels(self.scene.instance(frame, self.notta_masks), "instance mask", check_classes=False)
        valid = np.ones(semantics.shape, dtype=bool)
        invalid_path = self.scene.invalid(frame)
        if invalid_path is not None:
            valid &= ~resize_mask(read_invalid(invalid_path), self.size)
            self.invalid_frames += 1
        key = "confidence_notta" if self.notta else "confidence"
        confidence = resize_confidence(read_confidence(self.scene.probabilities(frame), key), self.size)
        panoptic, confidence = machine_frame(semantics, instance, valid, confidence, self.classes)
        write_panoptic(self.out / PANOPTIC.folder / f"{frame}.png", panoptic)
        write_confidence(self.out / CONFIDENCE.folder / f"{frame}.png", confidence)
        self.void_pixels += int((panoptic.ids == VOID_ID).sum())
        self.pixels += panoptic.ids.size
        if self.scene.has_ground_truth:
            gt_semantics = self._labels(self.scene.gt_semantics(frame), "ground-truth class mask")
            gt_instance = self._labels(self.scene.gt_instance(frame), "ground-truth instance mask", check_classes=False)
            if gt_instance.max() > MAX_GT_INSTANCE:
                raise AuthorsSceneError(
                    self.scene.gt_instance(frame), f"instance id {gt_instance.max()} exceeds {MAX_GT_INSTANCE}"
                )
            write_panoptic(
                self.out / GT_PANOPTIC.folder / f"{frame}.png",
                ground_truth_frame(gt_semantics, gt_instance, self.classes),
            )

    def _write_image(self, frame: str) -> str:
        """A same-size RGB JPEG is copied byte for byte; anything else is decoded, resized and saved as PNG."""
        src = self.scene.color(frame)
        image = read_color(src)  # decodes fully: a truncated JPEG stops here, naming the file
        if image.size == self.size and image.mode == "RGB":
            relative = f"images/{frame}.jpg"
            (self.out / "images").mkdir(exist_ok=True)
            shutil.copyfile(src, self.out / relative)
            return relative
        relative = f"images/{frame}.png"
        (self.out / "images").mkdir(exist_ok=True)
        image.convert("RGB").resize(self.size, Image.LANCZOS).save(self.out / relative)
        return relative

    def _labels(self, path: Path, what: str, check_classes: bool = True) -> np.ndarray:
        labels = read_label_image(path, what)
        if check_classes and labels.max() > len(self.classes):
            raise AuthorsSceneError(
                path,
                f"{what} uses class {labels.max()} but the {self.class_set} list has "
                f"{len(self.classes)} classes (0 is void); pass --class-set for the scene's list",
            )
        return resize_labels(labels, self.size)
