"""Evaluate a trained panoptic field on a split against ground truth, next to the 2D input masks.

Renders every frame of the split, applies the model's one panoptic inference
rule (with its post-processing of 3D instances over the whole split), and scores predictions and the 2D masks of the same frames with the same
metrics: PQ^scene (things / stuff), mIoU from one confusion matrix over all
frames, and PSNR on RGB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from rich.progress import Progress

from panoptic_nerfstudio.data.frame_decoding import decode_frame
from panoptic_nerfstudio.data.panoptic_dataset import PanopticDataset
from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.evaluation.panoptic_quality import (
    VOID_CATEGORY,
    PanopticFrameLabels,
    PanopticQualityResult,
    frames_with_unique_ids,
    scene_panoptic_quality,
)
from panoptic_nerfstudio.evaluation.semantic_metrics import confusion_matrix, iou_from_confusion
from panoptic_nerfstudio.model.panoptic_inference import (
    PanopticPrediction,
    infer_panoptic,
    DROP_INSTANCE,
    apply_instance_classes,
    instance_class_counts,
    resolve_instances,
)


@dataclass
class SceneEvaluation:
    frames: int
    lifted_pq: Optional[PanopticQualityResult]
    input_pq: Optional[PanopticQualityResult]
    lifted_miou: float
    input_miou: float
    psnr: float
    dropped_instances: int = 0
    """3D instances dropped as too small over the evaluated frames (see ``resolve_instances``)."""
    predictions: List[PanopticFrameLabels] = field(default_factory=list, repr=False)

    def metrics(self) -> Dict[str, float]:
        out: Dict[str, float] = {"frames": self.frames, "psnr": self.psnr, "dropped_instances": self.dropped_instances}
        for prefix, pq, miou in (("lifted", self.lifted_pq, self.lifted_miou), ("input", self.input_pq, self.input_miou)):
            if pq is not None:
                out.update({f"{prefix}_{k}": v for k, v in pq.as_dict().items()})
            out[f"{prefix}_miou"] = miou
        return out

    def per_category(self, classes: ClassTable) -> Dict[str, Dict[str, Dict[str, float]]]:
        """PQ, SQ and RQ of each category by name, for the lifted field and the 2D input."""
        out: Dict[str, Dict[str, Dict[str, float]]] = {}
        for prefix, pq in (("lifted", self.lifted_pq), ("input", self.input_pq)):
            if pq is not None:
                out[prefix] = {
                    classes.by_id(cid).name: {"pq": s.pq, "sq": s.sq, "rq": s.rq} for cid, s in pq.per_category.items()
                }
        return out


def labels_of(path, classes: ClassTable, size, per_frame_offset: int = 0) -> PanopticFrameLabels:
    """(category id, instance id) per pixel of a panoptic file, fitted to the image size; void = VOID_CATEGORY."""
    decoded = decode_frame(path, classes, size)
    category_ids = torch.tensor([c.id for c in classes.categories] + [VOID_CATEGORY])
    dense = torch.from_numpy(decoded.classes.astype(np.int64))[torch.from_numpy(decoded.segment_index.astype(np.int64))]
    category = category_ids[dense]  # dense == -1 (void) picks the last entry
    thing_ids = torch.from_numpy(np.where(decoded.instances >= 0, decoded.segment_ids, 0))
    instance = thing_ids[torch.from_numpy(decoded.segment_index.astype(np.int64))]
    return PanopticFrameLabels(category, instance)


@torch.no_grad()
def evaluate_scene(
    model, dataset: PanopticDataset, on_frame: Optional[Callable[[int, Dict[str, object]], None]] = None
) -> SceneEvaluation:
    """Render the split, post-process the 3D instances over it, then score; ``on_frame`` sees the final labels."""
    classes = dataset.classes
    category_ids = torch.tensor([c.id for c in classes.categories])
    num_slots = model.config.num_instance_slots
    rendered: List[PanopticPrediction] = []
    psnrs: List[float] = []
    counts = torch.zeros(num_slots + 1, len(classes), dtype=torch.long)
    with Progress(transient=True) as progress:
        task = progress.add_task("Rendering evaluation frames", total=len(dataset))
        for index in range(len(dataset)):
            camera = dataset.cameras[index : index + 1].to(model.device)
            outputs = model.get_outputs_for_camera(camera)
            pred = infer_panoptic(outputs["semantics"], outputs["instances"], model.thing_mask)
            rendered.append(_compact(pred))
            counts += instance_class_counts(pred, num_slots, len(classes))
            image = torch.from_numpy(dataset.get_numpy_image(index)[..., :3]).float() / 255.0
            mse = torch.mean((outputs["rgb"].cpu() - image) ** 2)
            psnrs.append(float(-10 * torch.log10(mse)))
            progress.advance(task)

    instance_classes = resolve_instances(counts, model.config.min_instance_area)
    predictions: List[PanopticFrameLabels] = []
    targets: List[PanopticFrameLabels] = []
    inputs: List[PanopticFrameLabels] = []
    lifted_confusion = torch.zeros(len(classes), len(classes), dtype=torch.long)
    input_confusion = torch.zeros_like(lifted_confusion)
    dense_of = {c.id: i for i, c in enumerate(classes.categories)}
    lut = torch.full((max(dense_of) + 2,), -1, dtype=torch.long)
    for cid, i in dense_of.items():
        lut[cid] = i

    def dense(labels: PanopticFrameLabels) -> torch.Tensor:
        return torch.where(labels.category >= 0, lut[labels.category.clamp_min(0)], -1)

    for index, (pred, layers) in enumerate(zip(rendered, dataset.panoptic.layers)):
        pred = apply_instance_classes(pred, instance_classes)
        semantics = pred.semantics.long()
        prediction = PanopticFrameLabels(category_ids[semantics], pred.instance.long())
        predictions.append(prediction)
        if on_frame is not None:
            on_frame(index, {"prediction": prediction})
        if layers.gt_panoptic is not None:
            size = (semantics.shape[1], semantics.shape[0])
            target = labels_of(layers.gt_panoptic, classes, size)
            given = labels_of(layers.panoptic, classes, size)
            targets.append(target)
            inputs.append(given)
            lifted_confusion += confusion_matrix(semantics, dense(target), len(classes))
            # A void input pixel has no class: it is counted against the ground-truth class it missed.
            given_dense = dense(given)
            missed = torch.where(given_dense >= 0, given_dense, (dense(target) + 1) % len(classes))
            input_confusion += confusion_matrix(missed, dense(target), len(classes))

    has_gt = len(targets) == len(predictions)
    return SceneEvaluation(
        frames=len(predictions),
        lifted_pq=scene_panoptic_quality(predictions, targets, classes) if has_gt else None,
        input_pq=scene_panoptic_quality(frames_with_unique_ids(inputs), targets, classes) if has_gt else None,
        lifted_miou=_miou(lifted_confusion) if has_gt else float("nan"),
        input_miou=_miou(input_confusion) if has_gt else float("nan"),
        psnr=float(np.mean(psnrs)),
        dropped_instances=int((instance_classes == DROP_INSTANCE).sum()),
        predictions=predictions,
    )


def _compact(pred: PanopticPrediction) -> PanopticPrediction:
    """Labels kept for the whole split until the small instances are known: int32 ids, half-precision scores."""
    return PanopticPrediction(
        semantics=pred.semantics.int().cpu(),
        instance=pred.instance.int().cpu(),
        confidence=pred.confidence.half().cpu(),
        fallback=pred.fallback.int().cpu(),
        fallback_confidence=pred.fallback_confidence.half().cpu(),
    )


def _miou(confusion: torch.Tensor) -> float:
    iou = iou_from_confusion(confusion)
    return float(torch.nanmean(iou) * 100)
