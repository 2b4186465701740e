"""The Panoptic Lifting model: nerfacto's radiance field plus bounded semantic and instance fields.

Color and geometry are exactly nerfacto's (field, proposal sampling, losses: see
``nerfacto_pass``). The segmentation heads read their own features and are rendered with
detached volume weights, so the segmentation losses train only the heads ("gradient
stopping"): noisy 2D masks cannot bend the geometry or the colors. Labels come from the
one inference rule (``inference/``) with the run's instance table, in every output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple, Type

import torch
from torch import Tensor
from torch.nn import Parameter

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.models.nerfacto import NerfactoModel, NerfactoModelConfig
from nerfstudio.utils import colormaps

from panoptic_nerfstudio.compat import OfflineLpips, allow_checkpoint_globals, use_bundled_ffmpeg, without_lpips
from panoptic_nerfstudio.data.panoptic_datamanager import MAX_THINGS_METADATA_KEY
from panoptic_nerfstudio.data.panoptic_dataparser import PANOPTIC_METADATA_KEY, PanopticSplit
from panoptic_nerfstudio.evaluation.semantic_metrics import confusion_matrix, mean_iou
from panoptic_nerfstudio.fields.fast_hash_encoding import accelerate_torch_hash_encodings
from panoptic_nerfstudio.fields.fast_scene_contraction import accelerate_scene_contractions
from panoptic_nerfstudio.fields.instance_embedding import (
    ContrastiveHeadConfig,
    ContrastiveHeads,
    InstanceHead,
    render_embedding,
)
from panoptic_nerfstudio.fields.panoptic_heads import PanopticHeads, PanopticHeadsConfig
from panoptic_nerfstudio.inference.embedding_clusters import calibrate_contrastive
from panoptic_nerfstudio.inference.edge_aware_refinement import EdgeAwareRefinementConfig, refined_semantics
from panoptic_nerfstudio.inference.instance_table import InputMasks, calibrate_from_dataset, instance_table_over_views
from panoptic_nerfstudio.inference.panoptic_rule import DROP_INSTANCE, InstanceTable, PanopticPrediction, infer_panoptic
from panoptic_nerfstudio.inference.small_segments import remove_small_segments
from panoptic_nerfstudio.model_components.camera_free_space import CameraFreeSpaceConfig, free_space_of
from panoptic_nerfstudio.model_components.instance_assignment import warn_if_too_few_slots
from panoptic_nerfstudio.model_components.render_collider import RenderNearFarCollider
from panoptic_nerfstudio.model_components.segmentation_renderers import (
    heaviest_samples,
    render_distribution,
    take_samples,
)
from panoptic_nerfstudio.models.panoptic_losses import panoptic_losses
from panoptic_nerfstudio.models.scene_editing import edit_labelled_outputs, edited_nerfacto_pass
from panoptic_nerfstudio.models.table_buffers import prepare_table_state, store_table, stored_table
from panoptic_nerfstudio.utils.distributed import calibrate_on_rank_zero
from panoptic_nerfstudio.utils.random_draws import built_with_draws_of
from panoptic_nerfstudio.viewer.panoptic_options import PanopticViewerOptions

@dataclass
class PanopticLiftingModelConfig(NerfactoModelConfig):
    """Nerfacto plus the Panoptic Lifting heads and losses. Loss weights are relative to RGB MSE."""

    _target: Type = field(default_factory=lambda: PanopticLiftingModel)
    instance_head: InstanceHead = "slots"
    """The instance head: K slots matched per image (the paper), or contrastive embeddings clustered into 3D
    instances after training (no limit on the number of objects; see ``contrastive``)."""
    num_instance_slots: int = 32
    """K, the number of 3D instance slots of the slot head; must exceed the number of thing objects in the scene."""
    contrastive: ContrastiveHeadConfig = field(default_factory=ContrastiveHeadConfig)
    """The contrastive instance head (``instance_head contrastive``): embedding size, losses, clustering."""
    heads: PanopticHeadsConfig = field(default_factory=PanopticHeadsConfig)
    """The semantic and instance heads (features, grid and MLP sizes, samples per ray)."""
    semantic_loss_mult: float = 0.1
    """Weight of the semantic cross-entropy to the 2D masks' classes."""
    semantic_loss_start_step: int = 0
    """Step from which the semantic loss is on."""
    instance_loss_mult: float = 0.1
    """Weight of the instance loss (per-image linear assignment of 2D segments to slots, then cross-entropy)."""
    instance_loss_start_step: int = 0
    """Step from which the instance loss is on (the paper waits for the geometry to form)."""
    consistency_loss_mult: float = 0.12
    """Weight of the segment consistency loss (rays of one 2D segment pulled to its dominant class and slot)."""
    consistency_loss_start_step: int = 0
    """Step from which the consistency loss is on (the paper waits for the slots to settle)."""
    bounded_fields: bool = True
    """Render per-sample probabilities (the paper); False renders logits (ablation)."""
    stop_segmentation_gradients: bool = True
    """Detach the volume weights the segmentation losses see (the paper); False is the ablation."""
    use_confidence: bool = True
    """Weight the semantic and instance losses by the 2D masks' per-pixel confidence."""
    instance_matching: Literal["linear_assignment", "naive"] = "linear_assignment"
    """How 2D thing segments meet slots: the paper's per-image assignment, or the 2D id itself (ablation)."""
    min_instance_area: float = 0.001
    """Instance table: each 3D instance takes its majority class, and one covering less than this fraction of the
    pixels, seen in fewer than 3 of the views, becomes its most likely stuff class (0: no table). The table is made
    over the training views (at 1/4 resolution) whenever a checkpoint is saved and stored in it; every command
    applies that table."""
    split_slots: bool = True
    """Instance table: split each slot into its spatially separate parts, each a 3D instance with its own class (two
    objects never seen in the same frame may share a slot). False: one 3D instance per slot (ablation)."""
    split_by_masks: bool = True
    """Instance table: also split a slot (or a contrastive cluster) where most training views' 2D masks put its pixels
    into two or more large segments (touching objects of one class that share a slot), and join instances of one class
    that the masks draw as one segment in most views that show both (one object over two slots). False: spatial parts
    only (ablation)."""
    opacity_loss_mult: float = 0.0
    """Weight of the opacity loss, (1 - accumulation)^2 per ray (0: off): every ray of a closed room ends on a surface
    (``model_components/opacity_loss.py``). Geometry, so it trains density. Off: at 0.01 it made a near-camera haze
    opaque and lost the crowded room's floor (README, "Quality on scenes the method was not tuned on")."""
    opacity_loss_start_step: int = 500
    """Step from which the opacity loss is on (after the proposal sampler's warm-up)."""
    camera_free_space: CameraFreeSpaceConfig = field(default_factory=CameraFreeSpaceConfig)
    """Free space around the training cameras: a loss on the density within reach of each camera, against floaters
    that held-out views between the cameras see (``model_components/camera_free_space.py``)."""
    render_near_plane: Optional[float] = None
    """Near plane when rendering outside training (viewer, ns-render, ns-eval, the instance table), in the
    dataparser's normalised units; None: the training ``near_plane``; 0: nerfstudio's (close cameras never clip).
    At 0 a held-out close-up of the crowded room sat in a floater and came out one cupboard, wall to wall; 0.075 and
    0.1 moved the suite's runs both ways (mean of 18 +0.1), so the default is the training one."""
    min_segment_area: float = 0.001
    """Per rendered image: connected pieces of one label covering less than this fraction of the image take the label
    of their nearest larger piece (speckle clean-up; 0: off). Full images only, not single rays (click, points)."""
    stuff_beyond_reach: bool = True
    """A thing pixel beyond its 3D instance's reach of its surface points takes its most likely stuff
    class (rule 6, ``inference/panoptic_rule.py``: floor between chair legs). False: it stays the thing (ablation)."""
    edge_aware_refinement: EdgeAwareRefinementConfig = field(default_factory=EdgeAwareRefinementConfig)
    """Per rendered image, before the rule: classes refined by the rendered colour and depth (dense-CRF steps)."""


class PanopticLiftingModel(NerfactoModel):
    """nerfacto's pass, the heads on its heaviest samples, the segmentation losses, and labelled outputs."""

    config: PanopticLiftingModelConfig

    def populate_modules(self) -> None:
        if self.config.predict_normals:
            raise ValueError("panoptic-lifting does not support predict_normals")
        allow_checkpoint_globals()  # before nerfstudio loads a checkpoint of this model (ns-eval/render/viewer)
        use_bundled_ffmpeg()  # ns-render's videos, where no system ffmpeg exists
        with without_lpips():
            super().populate_modules()
        near, render_near = self.config.near_plane, self.config.render_near_plane
        self.collider = RenderNearFarCollider(near, self.config.far_plane, near if render_near is None else render_near)
        self.lpips_metric = OfflineLpips()  # (nerfacto's own `lpips` stays None: see `without_lpips`)
        metadata = self.kwargs["metadata"]
        split = metadata.get(PANOPTIC_METADATA_KEY)
        if not isinstance(split, PanopticSplit):
            raise ValueError("panoptic-lifting needs the panoptic-data dataparser (no class table found)")
        self.classes = split.classes
        self.register_buffer("thing_mask", torch.from_numpy(self.classes.thing_mask), persistent=False)
        self.register_buffer("class_colors", torch.from_numpy(self.classes.colors), persistent=False)
        self.register_buffer("category_ids", torch.from_numpy(self.classes.category_ids), persistent=False)
        # The run's instance table, saved with the checkpoint: every tool that loads it labels alike.
        common = dict(
            aabb=self.scene_box.aabb,
            num_classes=len(self.classes),
            spatial_distortion=self.field.spatial_distortion,
            backbone_dim=self.field.geo_feat_dim,
            implementation=self.config.implementation,
        )
        def slot_heads() -> PanopticHeads:
            return self.config.heads.setup(num_slots=self.config.num_instance_slots, **common)

        if self.config.instance_head == "contrastive":  # trains the field a slot head's run trains (utils/random_draws)
            contrastive = self.config.contrastive
            self.heads: PanopticHeads = built_with_draws_of(
                lambda: ContrastiveHeads(self.config.heads, contrastive, **common), slot_heads
            )
        elif self.config.instance_head == "slots":
            self.heads = slot_heads()
            warn_if_too_few_slots(metadata.get(MAX_THINGS_METADATA_KEY), self.config.num_instance_slots)
        else:
            raise ValueError(f"unknown instance head {self.config.instance_head!r}; choose slots or contrastive")
        self.set_instance_table(InstanceTable.unknown(self.num_instance_columns))
        accelerate_torch_hash_encodings(self)
        accelerate_scene_contractions(self)
        self.train_step = 0
        self.warned_unassigned = False  # (once per run: panoptic_losses.slot_instance_loss)
        self.free_space = free_space_of(self.config.camera_free_space, self.num_train_data)  # (placed by callbacks)
        self._eval_confusion: Optional[Tensor] = None
        self.viewer_options = PanopticViewerOptions(self)

    @property
    def num_instance_columns(self) -> int:
        """Entries of the rendered instance distribution: K slots, or the contrastive head's clusters (1 before
        any clustering)."""
        if isinstance(self.heads, ContrastiveHeads):
            return self.heads.num_instances
        return self.config.num_instance_slots

    @property
    def instance_head_summary(self) -> str:
        """Which instance head the run uses, in words (``ns-panoptic eval`` prints and stores it)."""
        contrastive = isinstance(self.heads, ContrastiveHeads)
        return self.heads.summary if contrastive else f"slots (K={self.config.num_instance_slots})"

    @property
    def viewer_click(self):
        """Click-to-identify of the viewer (see ``viewer.click_to_identify``)."""
        return self.viewer_options.click

    def get_extra_state(self) -> Dict:
        """nerfacto's proposal-update counters and the free-space loss's near depths and draws, which the state dict
        leaves out: a run resumed without them would train differently from an uninterrupted one."""
        sampler = self.proposal_sampler
        state = {"proposal_step": sampler._step, "steps_since_update": sampler._steps_since_update}
        return {**state, "free_space": self.free_space.state() if self.free_space is not None else None}

    def set_extra_state(self, state: Dict) -> None:
        self.proposal_sampler._step = int(state["proposal_step"])
        self.proposal_sampler._steps_since_update = int(state["steps_since_update"])
        if self.free_space is not None and state.get("free_space") is not None:
            self.free_space.load_state(state["free_space"])

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        groups = super().get_param_groups()
        groups["panoptic_heads"] = [p for p in self.heads.parameters() if p.requires_grad]  # (not a slow copy)
        return groups

    def get_training_callbacks(self, training_callback_attributes: TrainingCallbackAttributes) -> List[TrainingCallback]:
        def set_step(step: int) -> None:
            self.train_step = step

        callbacks = super().get_training_callbacks(training_callback_attributes)
        callbacks.append(TrainingCallback([TrainingCallbackLocation.BEFORE_TRAIN_ITERATION], set_step))
        if isinstance(self.heads, ContrastiveHeads) and self.heads.slow_embedding is not None:
            heads = self.heads

            def update_slow_target(step: int) -> None:  # (nerfstudio's callbacks take the step)
                heads.update_slow_embedding()

            callbacks.append(TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION], update_slow_target))
        trainer, pipeline = training_callback_attributes.trainer, training_callback_attributes.pipeline
        if self.free_space is not None and pipeline is not None:
            self.free_space.place(pipeline.datamanager.train_dataset.cameras.to(self.device))  # type: ignore
        if trainer is not None and pipeline is not None and self.config.min_instance_area > 0:
            dataset = pipeline.datamanager.train_dataset  # type: ignore[attr-defined]

            def calibrate_before_save(step: int) -> None:
                last = trainer._start_step + trainer.config.max_num_iterations - 1
                if step == last or (step > 0 and step % trainer.config.steps_per_save == 0):
                    calibrate_on_rank_zero(self, lambda: calibrate_from_dataset(self, dataset))  # shared by rank 0

            callbacks.append(TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION], calibrate_before_save))
        return callbacks

    @torch.no_grad()
    def calibrate_instances(
        self, cameras: Cameras, *, masks: Optional[InputMasks], max_views: int = 48, downscale: int = 4
    ) -> int:
        """Make the run's instance table over up to ``max_views`` downscaled views; returns the dropped instances.
        ``masks`` (``input_masks(dataset)``) is required: None turns ``split_by_masks`` off, so it must be said."""
        was_training = self.training
        self.eval()
        cfg = self.config
        masks = masks if cfg.split_by_masks else None
        if isinstance(self.heads, ContrastiveHeads):  # clusters first, then the table over the same renders
            table = calibrate_contrastive(
                self, cameras, len(self.classes), cfg.min_instance_area, cfg.contrastive.min_cluster_fraction,
                cfg.contrastive.max_cluster_points, max_views=max_views, downscale=downscale,
                split_slots=cfg.split_slots, per_class=cfg.contrastive.cluster_per_class, masks=masks,
            )  # fmt: skip
        else:
            table = instance_table_over_views(
                self, cameras, cfg.num_instance_slots, len(self.classes), cfg.min_instance_area,
                max_views=max_views, downscale=downscale, split_slots=cfg.split_slots, masks=masks,
            )  # fmt: skip
        self.set_instance_table(table)
        self.train(was_training)
        return self.dropped_instances

    def set_instance_table(self, table: InstanceTable) -> None:
        """Keep ``table`` as buffers, so that it is saved in and loaded from checkpoints."""
        store_table(self, table, self.thing_mask.device)  # (the device property exists only once fully built)

    @property
    def instance_table(self) -> InstanceTable:
        """The run's instance table (see ``inference/``)."""
        return stored_table(self)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        prepare_table_state(self, state_dict, prefix, self.thing_mask.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def dropped_instances(self) -> int:
        """3D instances the run's instance table drops as too small."""
        return int((self.instance_classes == DROP_INSTANCE).sum())

    # ------------------------------------------------------------------ rendering

    def get_outputs(self, ray_bundle: RayBundle) -> Dict[str, Tensor | List]:
        nerfacto = edited_nerfacto_pass(self, ray_bundle)  # scene edits hook: nerfacto_pass itself when none are set
        outputs, weights = nerfacto.outputs, nerfacto.weights
        seg_weights = weights.detach() if self.config.stop_segmentation_gradients else weights
        backbone = nerfacto.geo_features if self.config.heads.reads_backbone else None
        if backbone is not None and self.config.stop_segmentation_gradients:
            backbone = backbone.detach()
        chosen = heaviest_samples(weights.detach(), self.config.heads.samples_per_ray)
        positions = take_samples(nerfacto.ray_samples.frustums.get_positions(), chosen)
        backbone = take_samples(backbone, chosen) if backbone is not None else None
        seg_weights = take_samples(seg_weights, chosen)
        bounded = self.config.bounded_fields
        if isinstance(self.heads, ContrastiveHeads):
            semantic_logits, embedding, target = self.heads.semantic_embedding_and_target(
                positions, backbone, with_target=self.training
            )
            outputs["embedding"] = render_embedding(embedding, seg_weights)
            if target is not None:  # the slow copy's embedding: the losses' target (slow_target_momentum)
                outputs["target_embedding"] = render_embedding(target, seg_weights.detach())
        else:
            semantic_logits, instance_logits = self.heads(positions, backbone)
            outputs["instances"] = render_distribution(instance_logits, seg_weights, bounded)
        outputs["semantics"] = render_distribution(semantic_logits, seg_weights, bounded)
        if isinstance(self.heads, ContrastiveHeads):
            outputs["instances"] = self.heads.centre_distribution(outputs["embedding"], outputs["semantics"])
        return outputs

    @torch.no_grad()
    def get_distributions_for_camera(self, camera: Cameras) -> Dict[str, Tensor]:
        """Full-image RGB, depth and the rendered class and slot distributions of one camera, without labels or
        color maps: what evaluation and the instance table read."""
        ray_bundle = camera.to(self.device).generate_rays(camera_indices=0, keep_shape=True)
        return self._distributions(ray_bundle)

    def _distributions(self, ray_bundle: RayBundle) -> Dict[str, Tensor]:
        outputs = super().get_outputs_for_camera_ray_bundle(ray_bundle)
        outputs["surface_points"] = ray_bundle.origins + ray_bundle.directions * outputs["depth"]
        return outputs

    @torch.no_grad()
    def get_outputs_for_camera_ray_bundle(self, camera_ray_bundle: RayBundle) -> Dict[str, Tensor]:
        outputs = self._distributions(camera_ray_bundle)
        outputs.update(self.labelled_images(self.infer(outputs)))
        edit_labelled_outputs(self, outputs)  # scene edits hook: isolated objects on their background
        return outputs

    def infer(self, outputs: Dict[str, Tensor], table: Optional[InstanceTable] = None) -> PanopticPrediction:
        """Labels of rendered distributions: the one inference rule with the run's instance table, or with ``table``
        (an edit's, ``relabel_edited``); on full images, the edge-aware refinement of the classes before the rule and
        the small-segment clean-up after it."""
        table, points = self.instance_table if table is None else table, outputs["surface_points"]
        semantics = refined_semantics(outputs, self.config.edge_aware_refinement)
        prediction = infer_panoptic(semantics, outputs["instances"], self.thing_mask, table, points,
                                    beyond_reach_is_stuff=self.config.stuff_beyond_reach)  # fmt: skip
        pixels = prediction.semantics.numel()
        return remove_small_segments(prediction, round(self.config.min_segment_area * pixels))

    def labelled_images(self, prediction: PanopticPrediction) -> Dict[str, Tensor]:
        """Viewer / ns-render images of a prediction: color maps, confidence and the id maps."""
        return self.viewer_options.labelled_images(prediction, self.class_colors, self.category_ids)

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
        losses.update(panoptic_losses(self, outputs, batch))  # (models/panoptic_losses.py)
        return losses

    def get_image_metrics_and_images(
        self, outputs: Dict[str, Tensor], batch: Dict[str, Tensor]
    ) -> Tuple[Dict[str, float], Dict[str, Tensor]]:
        """nerfacto's PSNR, SSIM (and LPIPS where its weights are cached), and the mIoU of the labels every other
        output shows (the inference rule with the run's table) against the 2D masks and the ground truth."""
        gt_rgb = self.renderer_rgb.blend_background(batch["image"].to(self.device))
        predicted_rgb = outputs["rgb"]
        gt = torch.moveaxis(gt_rgb, -1, 0)[None]
        pred = torch.moveaxis(predicted_rgb, -1, 0)[None]
        metrics = {"psnr": float(self.psnr(gt, pred).item()), "ssim": float(self.ssim(gt, pred))}  # type: ignore[arg-type]
        metrics.update(self.lpips_metric(gt, pred))
        semantics = self.infer(outputs).semantics
        num_classes = len(self.classes)
        if "semantics" in batch:
            metrics["miou_2d_labels"] = mean_iou(semantics, batch["semantics"][..., 0].to(self.device), num_classes)
        if "gt_semantics" in batch:
            target = batch["gt_semantics"][..., 0].to(self.device)
            metrics["miou"] = mean_iou(semantics, target, num_classes)
            if self._eval_confusion is not None:
                self._eval_confusion += confusion_matrix(semantics, target, num_classes).cpu()
        depth = colormaps.apply_depth_colormap(outputs["depth"], accumulation=outputs["accumulation"])
        images = {
            "img": torch.cat([gt_rgb, predicted_rgb], dim=1),
            "accumulation": colormaps.apply_colormap(outputs["accumulation"]),
            "depth": depth,
        }
        if "panoptic" in outputs:
            images["panoptic"] = outputs["panoptic"]
        return metrics, images

    def start_scene_confusion(self) -> None:
        """Start summing the class confusion of the evaluation images given to ``get_image_metrics_and_images``."""
        self._eval_confusion = torch.zeros(len(self.classes), len(self.classes), dtype=torch.long)

    def pop_scene_confusion(self) -> Optional[Tensor]:
        """The summed [C, C] confusion since ``start_scene_confusion`` (None if never started); stops summing."""
        confusion, self._eval_confusion = self._eval_confusion, None
        return confusion
