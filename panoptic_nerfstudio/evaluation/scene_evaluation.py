"""Evaluate a trained panoptic field on a split against ground truth, next to the 2D input masks.

Renders every frame of the split, labels it exactly as every other command does (the
model's inference rule with the run's instance table, see ``inference/``), and scores
predictions and the 2D masks of the same frames with the same metrics: PQ^scene
(things / stuff), mIoU from one confusion matrix over all frames, and PSNR on RGB. PQ^scene is
given twice: over every category that occurs, and by the authors' protocol (categories under
0.5% of the pixels left out, as in the published figures; ``evaluation/panoptic_quality.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Protocol

import numpy as np
import torch
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from panoptic_nerfstudio.data.frame_decoding import decode_frame
from panoptic_nerfstudio.data.panoptic_dataset import PanopticDataset
from panoptic_nerfstudio.data.panoptic_format import ClassTable
from panoptic_nerfstudio.evaluation.instance_errors import InstanceErrors, instance_errors
from panoptic_nerfstudio.evaluation.panoptic_quality import (
    AUTHORS_MIN_CATEGORY_SHARE,
    VOID_CATEGORY,
    PanopticFrameLabels,
    PanopticQualityResult,
    frames_with_unique_ids,
    scene_panoptic_quality,
)
from panoptic_nerfstudio.evaluation.semantic_metrics import confusion_matrix, iou_from_confusion
from panoptic_nerfstudio.evaluation.unmatched_segments import MatchReport, match_report
from panoptic_nerfstudio.inference.panoptic_rule import PanopticPrediction
from panoptic_nerfstudio.utils.progress import frames_progress


class LabelsViews(Protocol):
    """What evaluation needs of a trained model: rendered distributions, and the labels of the one rule."""

    dropped_instances: int

    def get_distributions_for_camera(self, camera: Cameras) -> Dict[str, Tensor]: ...

    def infer(self, outputs: Dict[str, Tensor]) -> PanopticPrediction: ...


@dataclass
class SceneEvaluation:
    frames: int
    lifted_pq: Optional[PanopticQualityResult]
    input_pq: Optional[PanopticQualityResult]
    lifted_miou: float
    input_miou: float
    psnr: float
    dropped_instances: int = 0
    """3D instances the run's instance table drops as too small (see ``resolve_instances``)."""
    instance_errors: Optional[InstanceErrors] = None
    """Ground-truth thing objects merged with another or split over several 3D instances (needs ground truth)."""
    predictions: List[PanopticFrameLabels] = field(default_factory=list, repr=False)
    lifted_pq_authors: Optional[PanopticQualityResult] = None
    """PQ^scene by the authors' protocol (categories under 0.5% of the pixels left out), for the lifted field."""
    input_pq_authors: Optional[PanopticQualityResult] = None
    """The same for the 2D input masks."""
    unmatched: Optional[MatchReport] = None
    """The thing objects and predicted thing segments PQ^scene leaves unmatched, each with its cause (needs ground
    truth)."""

    def metrics(self) -> Dict[str, float]:
        out: Dict[str, float] = {"frames": self.frames, "psnr": self.psnr, "dropped_instances": self.dropped_instances}
        if self.instance_errors is not None:
            errors = self.instance_errors
            out.update(objects=errors.objects, merges=errors.merged, splits=errors.split)
            if errors.merged_kept_apart is not None:
                out["merges_kept_apart_by_masks"] = errors.merged_kept_apart
        if self.unmatched is not None:
            out.update(self.unmatched.metrics())
        for prefix, pq, miou in (("lifted", self.lifted_pq, self.lifted_miou), ("input", self.input_pq, self.input_miou)):
            if pq is not None:
                out.update({f"{prefix}_{k}": v for k, v in pq.as_dict().items()})
            out[f"{prefix}_miou"] = miou
        for prefix, pq in (("lifted", self.lifted_pq_authors), ("input", self.input_pq_authors)):
            if pq is not None:
                out.update({f"{prefix}_{k}_authors": v for k, v in pq.as_dict().items() if k.startswith("pq")})
        return out

    def authors_dropped_categories(self, classes: ClassTable) -> Dict[str, List[str]]:
        """The category names the authors' protocol left out, for the lifted field and the 2D input."""
        return {
            prefix: [classes.by_id(cid).name for cid in pq.dropped_categories]
            for prefix, pq in (("lifted", self.lifted_pq_authors), ("input", self.input_pq_authors))
            if pq is not None
        }

    def per_category(self, classes: ClassTable) -> Dict[str, Dict[str, Dict[str, float]]]:
        """PQ, SQ and RQ of each category by name, for the lifted field and the 2D input."""
        out: Dict[str, Dict[str, Dict[str, float]]] = {}
        for prefix, pq in (("lifted", self.lifted_pq), ("input", self.input_pq)):
            if pq is not None:
                out[prefix] = {
                    classes.by_id(cid).name: {"pq": s.pq, "sq": s.sq, "rq": s.rq} for cid, s in pq.per_category.items()
                }
        return out


def labels_of(path, classes: ClassTable, size) -> PanopticFrameLabels:
    """(category id, instance id) per pixel of a panoptic file, fitted to the image size; void = VOID_CATEGORY."""
    decoded = decode_frame(path, classes, size)
    dense = decoded.pixel_classes()
    category = np.where(dense >= 0, classes.category_ids[np.clip(dense, 0, None)], VOID_CATEGORY)
    return PanopticFrameLabels(torch.from_numpy(category), torch.from_numpy(decoded.pixel_thing_ids()))


def labels_of_prediction(prediction: PanopticPrediction, category_ids: Tensor) -> PanopticFrameLabels:
    """(category id, 3D instance id) per pixel of a prediction of the rule; ``category_ids``: the class table's
    ``category_ids``, indexed by dense class."""
    return PanopticFrameLabels(category_ids[prediction.semantics.long().cpu()], prediction.instance.long().cpu())


@torch.no_grad()
def evaluate_scene(
    model: LabelsViews, dataset: PanopticDataset, on_frame: Optional[Callable[[int, Dict[str, object]], None]] = None
) -> SceneEvaluation:
    """Render and label the split with the run's instance table, then score; ``on_frame`` sees each frame's labels."""
    classes = dataset.classes
    category_ids = torch.from_numpy(classes.category_ids)
    predictions: List[PanopticFrameLabels] = []
    targets: List[PanopticFrameLabels] = []
    inputs: List[PanopticFrameLabels] = []
    psnrs: List[float] = []
    lifted_confusion = torch.zeros(len(classes), len(classes), dtype=torch.long)
    input_confusion = torch.zeros_like(lifted_confusion)

    def dense(labels: PanopticFrameLabels) -> torch.Tensor:
        return torch.from_numpy(classes.dense_indices(labels.category.numpy()))

    was_training = bool(getattr(model, "training", False))
    if was_training:  # training mode jitters the samples: renders would differ from call to call
        model.eval()  # type: ignore[attr-defined]
    with frames_progress(transient=True) as progress:
        for index in progress.track(range(len(dataset)), description="Rendering evaluation frames"):
            outputs = model.get_distributions_for_camera(dataset.cameras[index : index + 1])
            pred = model.infer(outputs)
            image = torch.from_numpy(dataset.get_numpy_image(index)[..., :3]).float() / 255.0
            psnrs.append(float(-10 * torch.log10(torch.mean((outputs["rgb"].cpu() - image) ** 2))))
            semantics = pred.semantics.long().cpu()
            prediction = labels_of_prediction(pred, category_ids)
            predictions.append(prediction)
            if on_frame is not None:
                on_frame(index, {"prediction": prediction})
            layers = dataset.panoptic.layers[index]
            if layers.gt_panoptic is None:
                continue
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

    if was_training:
        model.train()  # type: ignore[attr-defined]
    has_gt = len(targets) == len(predictions)
    unique_inputs = frames_with_unique_ids(inputs)

    def quality(frames: List[PanopticFrameLabels], min_share: float = 0.0) -> Optional[PanopticQualityResult]:
        return scene_panoptic_quality(frames, targets, classes, min_share) if has_gt else None

    return SceneEvaluation(
        frames=len(predictions),
        lifted_pq=quality(predictions),
        input_pq=quality(unique_inputs),
        lifted_miou=_miou(lifted_confusion) if has_gt else float("nan"),
        input_miou=_miou(input_confusion) if has_gt else float("nan"),
        psnr=float(np.mean(psnrs)),
        dropped_instances=model.dropped_instances,
        instance_errors=instance_errors(predictions, targets, classes, inputs=inputs) if has_gt else None,
        unmatched=match_report(predictions, targets, classes) if has_gt else None,
        predictions=predictions,
        lifted_pq_authors=quality(predictions, AUTHORS_MIN_CATEGORY_SHARE),
        input_pq_authors=quality(unique_inputs, AUTHORS_MIN_CATEGORY_SHARE),
    )


def _miou(confusion: torch.Tensor) -> float:
    iou = iou_from_confusion(confusion)
    return float(torch.nanmean(iou) * 100)
