"""Where scene edits (``inference/scene_edits.py``) enter a panoptic model's render: two hooks of the model.

- ``edited_nerfacto_pass`` replaces ``nerfacto_pass`` in ``PanopticLiftingModel.get_outputs``. Without edits it
  *is* ``nerfacto_pass`` (bit for bit). With edits, the heads are evaluated on every final sample of every ray
  (not only the few heaviest the segmentation outputs are rendered from), each sample is labelled by the rule
  and the run's table (``sample_membership``), and before the volume weights are computed the density of the
  removed samples (or, when isolating, of every sample outside the isolated objects) is set to zero and the
  colors of recolored instances are tinted. Every output (RGB, depth, accumulation, the class and slot
  distributions and so every label) is then rendered from the edited field. The proposal samplers still see
  the unedited density, so they may place samples on a removed object; those samples weigh nothing.
  Isolated objects are composited on the edits' background (unless the viewer overrides the background).
- ``edit_labelled_outputs`` follows the labelling in ``get_outputs_for_camera_ray_bundle``. After a removal or
  isolation the pixels are labelled again by ``model.infer`` (the refinement, the rule and the clean-up, as every
  render), choosing only among the classes, slots and parts the edits leave (``remaining_labels``): a rendered slot
  distribution is a mixture, and the samples left on a ray (stuff above all, whose slots no loss trains) leak some
  mass to every slot, a removed one included. When isolating, pixels the isolated objects do not cover (accumulation
  < 0.5) show the background in the color maps and carry no label (``instance_id`` 0, ``class_id`` -1,
  ``confidence`` 0).

The edits are a plain attribute of the model (never in a checkpoint), set by ``ns-panoptic render`` and the
viewer's buttons. They apply only while the model is not training, so the training loss never sees them.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Dict, Optional

import torch
from torch import Tensor

from nerfstudio.cameras.rays import RayBundle, RaySamples
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.model_components import renderers

from panoptic_nerfstudio.inference.sample_membership import sample_labels
from panoptic_nerfstudio.inference.scene_edits import SceneEdits, kept_samples, remaining_labels, tinted_colors
from panoptic_nerfstudio.models.nerfacto_pass import NerfactoPass, SampleEdit, nerfacto_pass

if TYPE_CHECKING:
    from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel

EDITS_ATTRIBUTE = "_scene_edits"
"""The model attribute holding its ``SceneEdits`` (a plain attribute: not a buffer, never saved)."""
COVERED = 0.5
"""When isolating, a pixel whose accumulation reaches this shows an isolated object; below it, the background."""
COLOR_MAPS = ("semantics_colormap", "instance_colormap", "panoptic")
"""Label images composited on the background when isolating."""
NO_CLASS = -1.0
"""``class_id`` of a pixel no isolated object covers (category ids are >= 0)."""


def scene_edits(model: "PanopticLiftingModel") -> SceneEdits:
    """The model's current edits (none by default)."""
    return getattr(model, EDITS_ATTRIBUTE, None) or SceneEdits()


def set_scene_edits(model: "PanopticLiftingModel", edits: Optional[SceneEdits]) -> None:
    """Make ``edits`` apply to every later render of ``model`` (None: no edits)."""
    setattr(model, EDITS_ATTRIBUTE, edits)


def _active_edits(model: "PanopticLiftingModel") -> Optional[SceneEdits]:
    edits = scene_edits(model)
    return edits if edits.active and not model.training else None


def sample_edit(model: "PanopticLiftingModel", edits: SceneEdits) -> SampleEdit:
    """The per-sample edit ``nerfacto_pass`` calls: label every sample, zero the density of the ones the edits
    take away, tint the recolored ones."""

    def edit(ray_samples: RaySamples, field_outputs: Dict[FieldHeadNames, Tensor], geo_features: Tensor) -> None:
        positions = ray_samples.frustums.get_positions()
        backbone = geo_features if model.config.heads.reads_backbone else None
        with torch.no_grad():
            semantic_logits, instance_logits = model.heads(positions, backbone)
            labels = sample_labels(semantic_logits, instance_logits, model.thing_mask, model.instance_table, positions)
        density = field_outputs[FieldHeadNames.DENSITY]
        keep = kept_samples(edits, labels)[..., None]
        field_outputs[FieldHeadNames.DENSITY] = torch.where(keep, density, torch.zeros_like(density))
        field_outputs[FieldHeadNames.RGB] = tinted_colors(edits, labels, field_outputs[FieldHeadNames.RGB])

    return edit


def _background(edits: SceneEdits, device: torch.device) -> Tensor:
    """The color behind isolated objects: the viewer's (when it overrides the renderers' background) or the edits'."""
    override = renderers.BACKGROUND_COLOR_OVERRIDE
    if isinstance(override, Tensor):
        return override.to(device)
    return torch.tensor(edits.background, dtype=torch.float32, device=device)


def edited_nerfacto_pass(model: "PanopticLiftingModel", ray_bundle: RayBundle) -> NerfactoPass:
    """``nerfacto_pass`` with the model's scene edits applied to its samples (exactly ``nerfacto_pass`` without)."""
    edits = _active_edits(model)
    if edits is None:
        return nerfacto_pass(model, ray_bundle)
    background = contextlib.nullcontext()
    if edits.isolating and renderers.BACKGROUND_COLOR_OVERRIDE is None:
        # nerfacto's default background is the last sample's color: the unedited field's, which would show through.
        background = renderers.background_color_override_context(_background(edits, ray_bundle.origins.device))
    with background:
        return nerfacto_pass(model, ray_bundle, edit_samples=sample_edit(model, edits))


def _keep(probs: Tensor, keep: Tensor) -> Tensor:
    """A distribution [..., N] restricted to the entries ``keep`` [N] and renormalised."""
    kept = probs * keep.to(probs.device, probs.dtype)
    return kept / kept.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def relabel_edited(model: "PanopticLiftingModel", edits: SceneEdits, outputs: Dict[str, Tensor]) -> None:
    """Label the pixels of an edited render among what the edits leave (``remaining_labels``), as ``model.infer``
    labels every render (the refinement, the rule and the clean-up alike)."""
    left = remaining_labels(edits, model.instance_table, len(model.classes), model.num_instance_columns)
    semantics, instances = _keep(outputs["semantics"], left.classes), _keep(outputs["instances"], left.slots)
    kept = dict(outputs, semantics=semantics, instances=instances)
    outputs.update(model.labelled_images(model.infer(kept, table=left.table)))


def edit_labelled_outputs(model: "PanopticLiftingModel", outputs: Dict[str, Tensor]) -> None:
    """After removing or isolating: pixels labelled among what is left; when isolating, the label images of the pixels
    no isolated object covers become background, unlabelled."""
    edits = _active_edits(model)
    if edits is None or not (edits.isolating or edits.remove_instances or edits.remove_classes):
        return
    relabel_edited(model, edits, outputs)
    if not edits.isolating:
        return
    accumulation = outputs["accumulation"].clamp(0.0, 1.0)
    background = _background(edits, accumulation.device)
    for name in COLOR_MAPS:
        if name in outputs:
            outputs[name] = outputs[name] * accumulation + background * (1.0 - accumulation)
    empty = accumulation < COVERED
    if "instance_id" in outputs:
        outputs["instance_id"] = outputs["instance_id"].masked_fill(empty, 0.0)
    if "class_id" in outputs:
        outputs["class_id"] = outputs["class_id"].masked_fill(empty, NO_CLASS)
    if "confidence" in outputs:
        outputs["confidence"] = outputs["confidence"].masked_fill(empty, 0.0)
