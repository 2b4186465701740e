"""The Panoptic Lifting model: nerfacto's radiance field plus bounded semantic and instance fields.

Color and geometry are exactly nerfacto's (field, proposal sampling, losses). The
segmentation heads read their own features and are rendered with detached volume
weights, so the segmentation losses train only the heads ("gradient stopping"):
noisy 2D masks cannot bend the geometry or the colors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Tuple, Type

import torch
from torch import Tensor
from torch.nn import Parameter

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.model_components.losses import scale_gradients_by_distance_squared
from nerfstudio.models.nerfacto import NerfactoModel, NerfactoModelConfig
from nerfstudio.utils import colormaps
from nerfstudio.utils.rich_utils import CONSOLE
from nerfstudio.viewer.viewer_elements import ViewerCheckbox, ViewerDropdown

from panoptic_nerfstudio.compat import without_lpips
from panoptic_nerfstudio.data.panoptic_dataparser import PANOPTIC_METADATA_KEY, PanopticSplit
from panoptic_nerfstudio.evaluation.semantic_metrics import mean_iou
from panoptic_nerfstudio.model.fast_hash_encoding import accelerate_torch_hash_encodings
from panoptic_nerfstudio.model.instance_loss import instance_loss
from panoptic_nerfstudio.model.panoptic_colors import (
    InstanceColorScheme,
    instance_colormap,
    panoptic_colormap,
    semantic_colormap,
)
from panoptic_nerfstudio.model.panoptic_heads import (
    HeadFeatures,
    PanopticHeads,
    heaviest_samples,
    render_distribution,
    take_samples,
)
from panoptic_nerfstudio.model.panoptic_inference import (
    DROP_INSTANCE,
    KEEP_CLASS,
    infer_panoptic,
    instance_class_counts,
    resolve_instances,
)
from panoptic_nerfstudio.model.segmentation_losses import consistency_loss, semantic_loss, weighted_nll
from panoptic_nerfstudio.model.viewer_click import PanopticClickControl


@dataclass
class PanopticLiftingModelConfig(NerfactoModelConfig):
    """Nerfacto plus the Panoptic Lifting heads and losses. Loss weights are relative to RGB MSE."""

    _target: Type = field(default_factory=lambda: PanopticLiftingModel)
    num_instance_slots: int = 32
    """K, the number of 3D instance slots; must exceed the number of thing objects in the scene."""
    head_features: HeadFeatures = "own_grid"
    """Features of the segmentation heads: a hash grid of their own, or nerfacto's (detached)."""
    head_samples_per_ray: int = 0
    """Samples per ray the heads see: those of largest volume weight (0: all). Fewer is cheaper; the surface
    samples carry nearly all the weight."""
    head_num_levels: int = 8
    head_max_res: int = 256
    head_log2_hashmap_size: int = 16
    head_features_per_level: int = 2
    head_hidden_dim: int = 64
    head_num_layers: int = 2
    semantic_loss_mult: float = 0.1
    semantic_loss_start_step: int = 0
    instance_loss_mult: float = 0.1
    instance_loss_start_step: int = 0
    consistency_loss_mult: float = 0.12
    consistency_loss_start_step: int = 0
    bounded_fields: bool = True
    """Render per-sample probabilities (the paper); False renders logits (ablation)."""
    stop_segmentation_gradients: bool = True
    """Detach the volume weights the segmentation losses see (the paper); False is the ablation."""
    use_confidence: bool = True
    """Weight the semantic and instance losses by the 2D masks' per-pixel confidence."""
    instance_matching: Literal["linear_assignment", "naive"] = "linear_assignment"
    """How 2D thing segments meet slots: the paper's per-image assignment, or the 2D id itself (ablation)."""
    min_instance_area: float = 0.001
    """Post-processing over a set of views: each 3D instance takes its majority class, and one covering less than
    this fraction of the pixels becomes its most likely stuff class (0: none dropped). The views are the evaluated
    frames in ``ns-panoptic eval``, and the training views (at 1/4 resolution, whenever a checkpoint is saved) for
    the viewer, ``ns-render`` and ``ns-eval``."""


class PanopticLiftingModel(NerfactoModel):
    config: PanopticLiftingModelConfig

    def populate_modules(self) -> None:
        if self.config.predict_normals:
            raise ValueError("panoptic-lifting does not support predict_normals")
        with without_lpips():
            super().populate_modules()
        split = self.kwargs["metadata"].get(PANOPTIC_METADATA_KEY)
        if not isinstance(split, PanopticSplit):
            raise ValueError("panoptic-lifting needs the panoptic-data dataparser (no class table found)")
        self.classes = split.classes
        self.register_buffer("thing_mask", torch.from_numpy(self.classes.thing_mask), persistent=False)
        self.register_buffer("class_colors", torch.from_numpy(self.classes.colors), persistent=False)
        category_ids = torch.tensor([c.id for c in self.classes.categories], dtype=torch.long)
        self.register_buffer("category_ids", category_ids, persistent=False)
        # Saved with the checkpoint, so that every tool that loads it post-processes instances alike.
        instance_classes = torch.full((self.config.num_instance_slots + 1,), KEEP_CLASS, dtype=torch.long)
        self.register_buffer("instance_classes", instance_classes)
        self._warn_if_too_few_slots(split)

        self.heads = PanopticHeads(
            self.scene_box.aabb,
            num_classes=len(self.classes),
            num_slots=self.config.num_instance_slots,
            spatial_distortion=self.field.spatial_distortion,
            head_features=self.config.head_features,
            backbone_dim=self.field.geo_feat_dim,
            num_levels=self.config.head_num_levels,
            max_res=self.config.head_max_res,
            log2_hashmap_size=self.config.head_log2_hashmap_size,
            features_per_level=self.config.head_features_per_level,
            hidden_dim=self.config.head_hidden_dim,
            num_layers=self.config.head_num_layers,
            implementation=self.config.implementation,
        )
        accelerate_torch_hash_encodings(self)
        self.train_step = 0
        self._warned_unassigned = False
        self.viewer_show_stuff = ViewerCheckbox("Show stuff", True, hint="Color stuff classes in 'panoptic'")
        self.viewer_show_things = ViewerCheckbox("Show things", True, hint="Color thing instances in 'panoptic'")
        self.viewer_instance_colors: ViewerDropdown = ViewerDropdown(
            "Instance colors", "distinct", ["distinct", "class-tinted"], hint="Color scheme of 3D instances"
        )
        self.viewer_click = PanopticClickControl(self)  # the viewer shows elements held by the model itself:
        self.viewer_identify_on_click, self.viewer_under_cursor = self.viewer_click.toggle, self.viewer_click.report

    def _warn_if_too_few_slots(self, split: PanopticSplit) -> None:
        most = split.max_things_per_frame
        if most is not None and most > self.config.num_instance_slots:
            CONSOLE.print(
                f"[bold yellow]Warning: a training frame has {most} thing segments but the model has only "
                f"{self.config.num_instance_slots} instance slots; raise --pipeline.model.num-instance-slots."
            )

    def get_extra_state(self) -> Dict[str, int]:
        """nerfacto's proposal-update counters, which its state dict leaves out: a run resumed without them would
        update the proposal networks on other steps than an uninterrupted one (and so train differently)."""
        sampler = self.proposal_sampler
        return {"proposal_step": sampler._step, "steps_since_update": sampler._steps_since_update}

    def set_extra_state(self, state: Dict[str, int]) -> None:
        self.proposal_sampler._step = int(state["proposal_step"])
        self.proposal_sampler._steps_since_update = int(state["steps_since_update"])

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        groups = super().get_param_groups()
        groups["panoptic_heads"] = list(self.heads.parameters())
        return groups

    def get_training_callbacks(self, training_callback_attributes: TrainingCallbackAttributes) -> List[TrainingCallback]:
        def set_step(step: int) -> None:
            self.train_step = step

        callbacks = super().get_training_callbacks(training_callback_attributes)
        callbacks.append(TrainingCallback([TrainingCallbackLocation.BEFORE_TRAIN_ITERATION], set_step))
        trainer, pipeline = training_callback_attributes.trainer, training_callback_attributes.pipeline
        if trainer is not None and pipeline is not None and self.config.min_instance_area > 0:
            cameras = pipeline.datamanager.train_dataset.cameras  # type: ignore[attr-defined]

            def calibrate_before_save(step: int) -> None:
                last = trainer._start_step + trainer.config.max_num_iterations - 1
                if step == last or (step > 0 and step % trainer.config.steps_per_save == 0):
                    self.calibrate_instances(cameras)

            callbacks.append(TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION], calibrate_before_save))
        return callbacks

    @torch.no_grad()
    def calibrate_instances(self, cameras: Cameras, max_views: int = 48, downscale: int = 4) -> int:
        """Resolve each 3D instance's class (or drop it) over up to ``max_views`` downscaled views; returns drops."""
        was_training = self.training
        self.eval()
        views = torch.linspace(0, len(cameras) - 1, min(max_views, len(cameras))).round().long().unique()
        counts = torch.zeros(self.config.num_instance_slots + 1, len(self.classes), dtype=torch.long)
        for view in views.tolist():
            camera = copy.deepcopy(cameras[view : view + 1])
            camera.rescale_output_resolution(1.0 / downscale)
            ray_bundle = camera.to(self.device).generate_rays(camera_indices=0, keep_shape=True)
            outputs = super().get_outputs_for_camera_ray_bundle(ray_bundle)
            pred = infer_panoptic(outputs["semantics"], outputs["instances"], self.thing_mask)
            counts += instance_class_counts(pred, self.config.num_instance_slots, len(self.classes))
        self.instance_classes.copy_(resolve_instances(counts, self.config.min_instance_area))
        self.train(was_training)
        return int((self.instance_classes == DROP_INSTANCE).sum())

    # ------------------------------------------------------------------ rendering

    def get_outputs(self, ray_bundle: RayBundle) -> Dict[str, Tensor | List]:
        if self.training:
            self.camera_optimizer.apply_to_raybundle(ray_bundle)
        ray_samples, weights_list, ray_samples_list = self.proposal_sampler(ray_bundle, density_fns=self.density_fns)
        density, geo_features = self.field.get_density(ray_samples)
        field_outputs = self.field.get_outputs(ray_samples, density_embedding=geo_features)
        field_outputs[FieldHeadNames.DENSITY] = density
        if self.config.use_gradient_scaling:
            field_outputs = scale_gradients_by_distance_squared(field_outputs, ray_samples)
        weights = ray_samples.get_weights(field_outputs[FieldHeadNames.DENSITY])
        weights_list.append(weights)
        ray_samples_list.append(ray_samples)

        outputs: Dict[str, Tensor | List] = {
            "rgb": self.renderer_rgb(rgb=field_outputs[FieldHeadNames.RGB], weights=weights),
            "accumulation": self.renderer_accumulation(weights=weights),
            "expected_depth": self.renderer_expected_depth(weights=weights, ray_samples=ray_samples),
        }
        with torch.no_grad():
            outputs["depth"] = self.renderer_depth(weights=weights, ray_samples=ray_samples)
        if self.training:
            outputs["weights_list"] = weights_list
            outputs["ray_samples_list"] = ray_samples_list
        for i in range(self.config.num_proposal_iterations):
            outputs[f"prop_depth_{i}"] = self.renderer_depth(weights=weights_list[i], ray_samples=ray_samples_list[i])

        seg_weights = weights.detach() if self.config.stop_segmentation_gradients else weights
        backbone = geo_features if self.config.head_features == "backbone" else None
        if backbone is not None and self.config.stop_segmentation_gradients:
            backbone = backbone.detach()
        chosen = heaviest_samples(weights.detach(), self.config.head_samples_per_ray)
        positions = take_samples(ray_samples.frustums.get_positions(), chosen)
        semantic_logits, instance_logits = self.heads(
            positions, take_samples(backbone, chosen) if backbone is not None else None
        )
        seg_weights = take_samples(seg_weights, chosen)
        bounded = self.config.bounded_fields
        outputs["semantics"] = render_distribution(semantic_logits, seg_weights, bounded)
        outputs["instances"] = render_distribution(instance_logits, seg_weights, bounded)
        return outputs

    @torch.no_grad()
    def get_outputs_for_camera_ray_bundle(self, camera_ray_bundle: RayBundle) -> Dict[str, Tensor]:
        outputs = super().get_outputs_for_camera_ray_bundle(camera_ray_bundle)
        outputs.update(self.panoptic_images(outputs))
        return outputs

    def panoptic_images(self, outputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Viewer / ns-render images from full-image rendered distributions (one inference rule)."""
        pred = infer_panoptic(outputs["semantics"], outputs["instances"], self.thing_mask, self.instance_classes)
        scheme: InstanceColorScheme = self.viewer_instance_colors.value  # type: ignore[assignment]
        return {
            "semantics_colormap": semantic_colormap(pred.semantics, self.class_colors),
            "instance_colormap": instance_colormap(pred.instance, pred.semantics, self.class_colors, scheme),
            "panoptic": panoptic_colormap(
                pred.semantics,
                pred.instance,
                self.class_colors,
                scheme,
                show_stuff=bool(self.viewer_show_stuff.value),
                show_things=bool(self.viewer_show_things.value),
            ),
            "confidence": pred.confidence[..., None],
            # Id maps; `ns-render dataset --rendered-output-names raw-class_id raw-instance_id` saves them unchanged.
            "class_id": self.category_ids[pred.semantics][..., None].float(),
            "instance_id": pred.instance[..., None].float(),
        }

    # ------------------------------------------------------------------ losses and metrics

    def get_metrics_dict(self, outputs, batch) -> Dict[str, Tensor]:
        metrics = super().get_metrics_dict(outputs, batch)
        labels = batch["semantics"]
        valid = labels >= 0
        if bool(valid.any()):
            agree = outputs["semantics"].argmax(dim=-1)[valid] == labels[valid]
            metrics["semantic_accuracy"] = agree.float().mean()
        return metrics

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> Dict[str, Tensor]:
        losses = super().get_loss_dict(outputs, batch, metrics_dict)
        cfg = self.config
        step = self.train_step
        confidence = batch["confidence"] if cfg.use_confidence else torch.ones_like(batch["confidence"])
        if step >= cfg.semantic_loss_start_step:
            sem = semantic_loss(outputs["semantics"], batch["semantics"], confidence)
            losses["semantic_loss"] = cfg.semantic_loss_mult * sem
        if not self.training:
            return losses
        if step >= cfg.instance_loss_start_step:
            losses["instance_loss"] = cfg.instance_loss_mult * self._instance_loss(outputs, batch, confidence)
        if step >= cfg.consistency_loss_start_step and cfg.consistency_loss_mult > 0:
            segment = batch["segment"]
            consistency = consistency_loss(outputs["semantics"], segment, batch["semantics"] >= 0)
            consistency = consistency + consistency_loss(outputs["instances"], segment, batch["instance"] >= 0)
            losses["consistency_loss"] = cfg.consistency_loss_mult * consistency
        return losses

    def _instance_loss(self, outputs, batch, confidence: Tensor) -> Tensor:
        probs = outputs["instances"]
        if self.config.instance_matching == "naive":
            target = torch.where(batch["instance"] >= 0, batch["instance"] % probs.shape[-1], -1)
            return weighted_nll(probs, target, confidence)
        frame = batch["indices"][:, 0]
        loss, assignment = instance_loss(probs, batch["segment"], frame, batch["instance"], confidence)
        if assignment.unassigned_segments and not self._warned_unassigned:
            self._warned_unassigned = True
            CONSOLE.print(
                f"[bold yellow]Warning: {assignment.unassigned_segments} thing segment(s) in a batch found no free "
                f"instance slot (K={probs.shape[-1]}); they are left out of the instance loss."
            )
        return loss

    def get_image_metrics_and_images(
        self, outputs: Dict[str, Tensor], batch: Dict[str, Tensor]
    ) -> Tuple[Dict[str, float], Dict[str, Tensor]]:
        gt_rgb = self.renderer_rgb.blend_background(batch["image"].to(self.device))
        predicted_rgb = outputs["rgb"]
        gt = torch.moveaxis(gt_rgb, -1, 0)[None]
        pred = torch.moveaxis(predicted_rgb, -1, 0)[None]
        metrics = {"psnr": float(self.psnr(gt, pred).item()), "ssim": float(self.ssim(gt, pred))}  # type: ignore[arg-type]
        if "semantics" in batch:
            predicted = outputs["semantics"].argmax(dim=-1)
            metrics["miou_2d_labels"] = mean_iou(predicted, batch["semantics"][..., 0].to(self.device), len(self.classes))
        if "gt_semantics" in batch:
            predicted = outputs["semantics"].argmax(dim=-1)
            metrics["miou"] = mean_iou(predicted, batch["gt_semantics"][..., 0].to(self.device), len(self.classes))
        depth = colormaps.apply_depth_colormap(outputs["depth"], accumulation=outputs["accumulation"])
        images = {
            "img": torch.cat([gt_rgb, predicted_rgb], dim=1),
            "accumulation": colormaps.apply_colormap(outputs["accumulation"]),
            "depth": depth,
        }
        if "panoptic" in outputs:
            images["panoptic"] = outputs["panoptic"]
        return metrics, images

