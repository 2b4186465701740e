"""Label transfer: a trained panoptic field's labels of every frame of a split, written as a scene of their own.

For each frame the field is rendered from the frame's camera and labelled by the model's one inference rule
with the run's instance table (``model.get_distributions_for_camera`` then ``model.infer``), so a frame gets
the labels the viewer, ``ns-render`` and ``ns-panoptic eval`` show. The labels are encoded as in ``ns-panoptic
eval``'s predictions (``prediction_to_frame``): a thing pixel carries its **3D instance id**, the same in every
frame; a stuff pixel carries one id per class, above every 3D instance id of the run (3D instances the run's
instance table does not know get one id per instance and class, see ``segment_instances``). The output folder is a
scene in the project's format (docs/format.md): images (copied, or downscaled), ``panoptic/``, ``confidence/``
(the rendered probability of the chosen label), ``panoptic_classes.json`` and ``transforms.json`` (see
``scene_transforms``), so it validates and trains like any other.

Each frame is compared with its 2D input mask (``label_changes``); where the source scene has ground truth for
every exported frame, both are also scored against it with PQ^scene (the input masks with per-frame ids).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import (
    ClassTable,
    PanopticFrame,
    read_png_header,
    write_classes,
    write_confidence,
    write_panoptic,
)
from panoptic_nerfstudio.data.scene_layout import CLASSES_FILENAME, CONFIDENCE, PANOPTIC
from panoptic_nerfstudio.evaluation.panoptic_quality import (
    PanopticFrameLabels,
    PanopticQualityResult,
    frames_with_unique_ids,
    scene_panoptic_quality,
)
from panoptic_nerfstudio.evaluation.prediction_encoding import prediction_to_frame
from panoptic_nerfstudio.evaluation.scene_evaluation import LabelsViews, labels_of, labels_of_prediction
from panoptic_nerfstudio.export.label_changes import FrameChanges, frame_changes, summarize
from panoptic_nerfstudio.export.scene_transforms import exported_transforms
from panoptic_nerfstudio.export.split_frames import SourceFrame
from panoptic_nerfstudio.inference.panoptic_rule import KEEP_CLASS

IMAGES_FOLDER = "images"
REPORT_FILENAME = "label_changes.json"
"""Per-frame and overall differences from the input masks, written beside transforms.json."""


@dataclass
class LabelQuality:
    """PQ^scene against the source scene's ground truth, of the export and of the input masks of the same frames."""

    exported: PanopticQualityResult
    given: PanopticQualityResult


@dataclass
class MaskExport:
    out_dir: Path
    changes: List[FrameChanges]
    instances: List[int]
    """The 3D instance ids the export holds (over all frames)."""
    split_lists_dropped: bool
    """The source's train/val/test lists could not be kept (the export leaves one empty)."""
    quality: Optional[LabelQuality] = None
    frame_instances: Dict[str, List[int]] = field(default_factory=dict)
    """Per frame (by image stem): its 3D instance ids."""


def max_instance_id(model) -> int:
    """The largest 3D instance id the run's instance table can give: the slots K, and parts of split slots above."""
    return max(int(model.config.num_instance_slots), len(model.instance_table.classes) - 1)


@torch.no_grad()
def frame_labels(model: LabelsViews, camera, classes: ClassTable) -> Tuple[PanopticFrameLabels, np.ndarray]:
    """(category id, 3D instance id) per pixel of one camera's view, and the confidence of each pixel's label."""
    prediction = model.infer(model.get_distributions_for_camera(camera))
    category_ids = torch.from_numpy(classes.category_ids)
    labels = labels_of_prediction(prediction, category_ids)
    confidence = prediction.confidence.float().cpu().clamp(0.0, 1.0).numpy()
    return labels, confidence


def encode_frame(
    labels: PanopticFrameLabels, confidence: np.ndarray, classes: ClassTable, top_id: int, table_classes: torch.Tensor
) -> PanopticFrame:
    """The format's encoding of a frame's labels (``prediction_to_frame``: things by 3D id, stuff ids above
    ``top_id``), each segment's score the mean confidence of its pixels. ``table_classes`` is the run's instance
    table (class per 3D id): see ``segment_instances`` for the instances it does not know."""
    frame = prediction_to_frame(segment_instances(labels, classes, top_id, table_classes), classes, top_id)
    segments = []
    for segment in frame.segments:
        mean = float(confidence[frame.ids == segment.id].mean())
        segments.append(replace(segment, score=min(max(mean, 0.0), 1.0)))
    return replace(frame, segments=segments)


def segment_instances(
    labels: PanopticFrameLabels, classes: ClassTable, top_id: int, table_classes: torch.Tensor
) -> PanopticFrameLabels:
    """The instance id each thing pixel is written with: its 3D instance id, except on instances the run's table
    does not know (KEEP_CLASS: never seen in the views the table was made from, e.g. a run stopped early). Those
    have no class of their own, so one may carry two thing classes, and a segment id has one class: each of their
    (instance, class) pairs is written as its own segment, id ``top_id + C + 1 + (instance - 1) * C + class index``
    (above the stuff ids, the same pair the same id in every frame)."""
    instance = labels.instance
    unknown = (instance > 0) & (table_classes.cpu()[instance] == KEEP_CLASS)
    if not bool(unknown.any()):
        return labels
    dense = torch.from_numpy(classes.dense_indices(labels.category.numpy()))
    pair = top_id + len(classes) + 1 + (instance - 1) * len(classes) + dense
    return PanopticFrameLabels(labels.category, torch.where(unknown, pair, instance))


def export_masks(
    model,
    frames: Sequence[SourceFrame],
    classes: ClassTable,
    meta: dict,
    out_dir: Path,
    downscale: int,
    provenance: Dict[str, object],
    track: Callable[[Iterable], Iterable] = lambda items: items,
) -> MaskExport:
    """Render, label and write every frame, then the class table, transforms.json and the report."""
    out_dir = Path(out_dir)
    top_id = max_instance_id(model)
    table_classes = model.instance_table.classes
    changes: List[FrameChanges] = []
    frame_instances: Dict[str, List[int]] = {}
    written: List[Tuple[dict, str, Tuple[int, int]]] = []
    scored: Optional[Tuple[List[PanopticFrameLabels], ...]] = ([], [], [])
    for source in track(frames):
        labels, confidence = frame_labels(model, source.camera, classes)
        if tuple(labels.category.shape[::-1]) != source.size:
            raise RuntimeError(f"{source.layers.image}: rendered {tuple(labels.category.shape[::-1])}, not {source.size}")
        encoded = encode_frame(labels, confidence, classes, top_id, table_classes)
        write_panoptic(out_dir / PANOPTIC.folder / f"{source.stem}.png", encoded)
        write_confidence(out_dir / CONFIDENCE.folder / f"{source.stem}.png", confidence)
        file_path = f"{IMAGES_FOLDER}/{source.layers.image.name}"
        write_image(source.layers.image, out_dir / file_path, source.size)
        written.append((source.entry, file_path, source.size))
        instances = torch.unique(labels.instance[labels.instance > 0]).tolist()
        frame_instances[source.stem] = [int(i) for i in instances]
        given = None
        if source.layers.panoptic is not None:
            given = fitted_labels(source.layers.panoptic, classes, source.size)
            changes.append(frame_changes(source.stem, labels, given))
        if scored is not None and given is not None and source.layers.gt_panoptic is not None:
            target = fitted_labels(source.layers.gt_panoptic, classes, source.size)
            for bucket, item in zip(scored, (labels, given, target)):
                bucket.append(_compact(item))
        else:
            scored = None  # scored only where every exported frame has an input mask and ground truth
    write_classes(out_dir / CLASSES_FILENAME, classes)
    transforms, dropped = exported_transforms(meta, written, downscale, provenance)
    (out_dir / "transforms.json").write_text(json.dumps(transforms, indent=2) + "\n", encoding="utf-8")
    quality = None
    if scored is not None and scored[0]:
        exported, given, targets = ([_full(item) for item in bucket] for bucket in scored)
        quality = LabelQuality(
            exported=scene_panoptic_quality(exported, targets, classes),
            given=scene_panoptic_quality(frames_with_unique_ids(given), targets, classes),
        )
    result = MaskExport(
        out_dir=out_dir,
        changes=changes,
        instances=sorted({i for ids in frame_instances.values() for i in ids}),
        split_lists_dropped=dropped,
        quality=quality,
        frame_instances=frame_instances,
    )
    write_report(result, provenance)
    return result


def write_image(source: Path, target: Path, size: Tuple[int, int]) -> None:
    """Copy the image, or write it at ``size`` (W, H), area-averaged, in the source's file format."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        if image.size == tuple(size):
            shutil.copyfile(source, target)
            return
        quality = {"quality": 95} if image.format == "JPEG" else {}
        image.resize(tuple(size), Image.Resampling.BOX).save(target, format=image.format, **quality)


def fitted_labels(path: Path, classes: ClassTable, size: Tuple[int, int]) -> PanopticFrameLabels:
    """A full-size panoptic file's labels (``labels_of``) at ``size`` (W, H), by nearest neighbour at pixel centres."""
    full = read_png_header(path, "panoptic mask").size
    labels = labels_of(path, classes, full)
    if tuple(size) == tuple(full):
        return labels
    rows = ((torch.arange(size[1]) + 0.5) * full[1] / size[1]).long()
    cols = ((torch.arange(size[0]) + 0.5) * full[0] / size[0]).long()
    return PanopticFrameLabels(labels.category[rows][:, cols], labels.instance[rows][:, cols])


def write_report(result: MaskExport, provenance: Dict[str, object]) -> None:
    """label_changes.json: the export's differences from the input masks, per frame and overall."""
    total = summarize(result.changes)
    payload: Dict[str, object] = {
        **provenance,
        "instances": result.instances,
        "overall": {**vars(total), "class_changed_fraction": total.class_changed_fraction},
        "frames": [{**vars(c), "instances": result.frame_instances.get(c.name, [])} for c in result.changes],
    }
    if result.quality is not None:
        payload["pq_scene"] = {
            "exported": result.quality.exported.as_dict(),
            "input": result.quality.given.as_dict(),
        }
    (result.out_dir / REPORT_FILENAME).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def _compact(labels: PanopticFrameLabels) -> PanopticFrameLabels:
    return PanopticFrameLabels(labels.category.to(torch.int32), labels.instance.to(torch.int32))


def _full(labels: PanopticFrameLabels) -> PanopticFrameLabels:
    return PanopticFrameLabels(labels.category.long(), labels.instance.long())
