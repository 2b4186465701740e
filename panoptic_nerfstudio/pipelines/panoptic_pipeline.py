"""nerfstudio's vanilla pipeline, with ``ns-eval``'s mIoU computed over the whole evaluation split, and each training
step's rendered colours handed back to the datamanager (its ray sampler's error map, ``data/pixel_error_map.py``).

nerfstudio averages per-image metrics. mIoU is not an average of images: a class absent
from one frame would weigh as much there as in a frame it fills. ``ns-eval`` therefore
reports ``miou`` from one confusion matrix summed over all evaluated frames, exactly as
``ns-panoptic eval`` does (the labels are the same: the inference rule with the run's table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Type

import torch

from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig

from panoptic_nerfstudio.compat import complete_config, single_tcnn_notice
from panoptic_nerfstudio.evaluation.semantic_metrics import iou_from_confusion


@dataclass
class PanopticPipelineConfig(VanillaPipelineConfig):
    """The vanilla pipeline with a panoptic datamanager and model."""

    _target: Type = field(default_factory=lambda: PanopticPipeline)


class PanopticPipeline(VanillaPipeline):
    def __init__(self, config: PanopticPipelineConfig, *args: Any, **kwargs: Any):
        complete_config(config)  # an older run's config.yml lacks the config fields added since
        # Every command builds its model here: without tinycudann, one notice instead of nerfstudio's per module.
        with single_tcnn_notice(config.model.implementation):
            super().__init__(config, *args, **kwargs)

    def get_train_loss_dict(self, step: int):
        model_outputs, loss_dict, metrics_dict = super().get_train_loss_dict(step)
        record = getattr(self.datamanager, "record_train_errors", None)  # (a user's own datamanager may lack it)
        if record is not None:
            record(model_outputs["rgb"])
        return model_outputs, loss_dict, metrics_dict

    def get_average_image_metrics(self, data_loader, image_prefix: str, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        model = self.model
        model.start_scene_confusion()
        try:
            metrics = super().get_average_image_metrics(data_loader, image_prefix, *args, **kwargs)
        finally:
            confusion = model.pop_scene_confusion()
        if confusion is not None and int(confusion.sum()) > 0:
            metrics["miou"] = float(torch.nanmean(iou_from_confusion(confusion)) * 100.0)
            metrics.pop("miou_std", None)  # a split-level figure has no spread over images
        return metrics
