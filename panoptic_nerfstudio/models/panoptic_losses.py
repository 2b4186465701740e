"""The Panoptic Lifting losses of one batch, added to nerfacto's: what the heads, and the free space, train on.

``PanopticLiftingModel.get_loss_dict`` is nerfacto's losses plus ``panoptic_losses(model, outputs, batch)``. Each
loss has a weight and a start step in the model's config:

- ``semantic_loss``: cross-entropy of the rendered classes to the 2D masks' classes (also in evaluation);
- ``opacity_loss`` and the free-space losses: geometry, so they train the density (training only);
- ``instance_loss``: the slot head's per-image linear assignment of 2D thing segments to slots, then
  cross-entropy (or the 2D id itself: the naive ablation), or the contrastive head's pull and push losses;
- ``consistency_loss``: the rays of one 2D segment pulled to the segment's dominant class (and, for the slot
  head, its dominant slot; the contrastive head's concentration loss is its consistency).

The semantic and instance losses are weighted by the masks' per-pixel confidence unless ``use_confidence`` is off.
The order of the entries is the order nerfstudio sums them in, so it stays as the model always had it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

import torch
from torch import Tensor

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.fields.instance_embedding import ContrastiveHeads
from panoptic_nerfstudio.model_components.contrastive_losses import contrastive_loss_dict
from panoptic_nerfstudio.model_components.instance_assignment import instance_loss
from panoptic_nerfstudio.model_components.opacity_loss import opacity_loss
from panoptic_nerfstudio.model_components.segmentation_losses import (
    consistency_loss,
    naive_instance_loss,
    semantic_loss,
)

if TYPE_CHECKING:
    from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel


def panoptic_losses(
    model: PanopticLiftingModel, outputs: Dict[str, Tensor], batch: Dict[str, Tensor]
) -> Dict[str, Tensor]:
    """The weighted losses of the model's config at the model's training step (only the semantic loss outside
    training)."""
    cfg, step = model.config, model.train_step
    losses: Dict[str, Tensor] = {}
    confidence = batch["confidence"] if cfg.use_confidence else torch.ones_like(batch["confidence"])
    if step >= cfg.semantic_loss_start_step:
        semantic = semantic_loss(outputs["semantics"], batch["semantics"], confidence)
        losses["semantic_loss"] = cfg.semantic_loss_mult * semantic
    if not model.training:
        return losses
    if cfg.opacity_loss_mult > 0 and step >= cfg.opacity_loss_start_step:
        losses["opacity_loss"] = cfg.opacity_loss_mult * opacity_loss(outputs["accumulation"])
    if model.free_space is not None:
        camera, density_fn = batch["indices"][:, 0], model.field.density_fn
        losses.update(model.free_space.step_losses(step, camera, outputs["depth"], density_fn))
    contrastive = isinstance(model.heads, ContrastiveHeads)
    if step >= cfg.instance_loss_start_step:
        if contrastive:
            target = outputs.get("target_embedding")
            losses.update(contrastive_loss_dict(outputs["embedding"], batch, confidence, cfg.contrastive, target))
        else:
            losses["instance_loss"] = cfg.instance_loss_mult * slot_instance_loss(model, outputs, batch, confidence)
    if step >= cfg.consistency_loss_start_step and cfg.consistency_loss_mult > 0:
        segment = batch["segment"]
        consistency = consistency_loss(outputs["semantics"], segment, batch["semantics"] >= 0)
        if not contrastive:  # (the contrastive head's concentration loss is its consistency)
            consistency = consistency + consistency_loss(outputs["instances"], segment, batch["instance"] >= 0)
        losses["consistency_loss"] = cfg.consistency_loss_mult * consistency
    return losses


def slot_instance_loss(
    model: PanopticLiftingModel, outputs: Dict[str, Tensor], batch: Dict[str, Tensor], confidence: Tensor
) -> Tensor:
    """The slot head's instance loss; warns once per run when a batch's thing segments outnumber the free slots."""
    probs = outputs["instances"]
    if model.config.instance_matching == "naive":
        return naive_instance_loss(probs, batch["instance"], confidence)
    frame = batch["indices"][:, 0]
    loss, assignment = instance_loss(probs, batch["segment"], frame, batch["instance"], confidence)
    if assignment.unassigned_segments and not model.warned_unassigned:
        model.warned_unassigned = True
        CONSOLE.print(
            f"[bold yellow]Warning: {assignment.unassigned_segments} thing segment(s) in a batch found no free "
            f"instance slot (K={probs.shape[-1]}); they are left out of the instance loss."
        )
    return loss
