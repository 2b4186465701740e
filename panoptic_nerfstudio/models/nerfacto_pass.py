"""nerfacto's forward pass as one function, so that the panoptic model adds to it instead of copying it.

Mirrors ``NerfactoModel.get_outputs`` of nerfstudio 1.1.5 (``predict_normals`` aside, which the panoptic model
refuses), and also returns what the segmentation heads need from inside the pass: the final ray samples, their
volume weights and the geometry features. ``tests/models/test_nerfacto_pass.py`` checks that RGB, depth and
accumulation equal ``NerfactoModel.get_outputs`` exactly with the same weights; on a nerfstudio upgrade, compare
this body with the new ``get_outputs`` and let that test decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Union

import torch
from torch import Tensor

from nerfstudio.cameras.rays import RayBundle, RaySamples
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.model_components.losses import scale_gradients_by_distance_squared
from nerfstudio.models.nerfacto import NerfactoModel


@dataclass
class NerfactoPass:
    """nerfacto's outputs of a ray bundle, plus the per-sample values the segmentation heads read."""

    outputs: Dict[str, Union[Tensor, List]]
    """Exactly what ``NerfactoModel.get_outputs`` returns."""
    ray_samples: RaySamples
    """The final (nerf) samples of each ray."""
    weights: Tensor
    """[..., samples, 1] volume weights of those samples."""
    geo_features: Tensor
    """[..., samples, F] nerfacto's geometry features at those samples."""


SampleEdit = Callable[[RaySamples, Dict[FieldHeadNames, Tensor], Tensor], None]
"""Changes the field's per-sample outputs in place (density, RGB) given the samples and their geometry features."""


def nerfacto_pass(
    model: NerfactoModel, ray_bundle: RayBundle, edit_samples: Optional[SampleEdit] = None
) -> NerfactoPass:
    """Run nerfacto's forward pass of ``model`` on ``ray_bundle``.

    ``edit_samples`` (scene editing, ``models/scene_editing.py``; None: nerfacto exactly) may change the field's
    density and colors of the final samples before their volume weights are computed."""
    if model.training:
        model.camera_optimizer.apply_to_raybundle(ray_bundle)
    ray_samples, weights_list, ray_samples_list = model.proposal_sampler(ray_bundle, density_fns=model.density_fns)
    # nerfacto calls field.forward, which is get_density then get_outputs; split here to keep the features.
    density, geo_features = model.field.get_density(ray_samples)
    field_outputs = model.field.get_outputs(ray_samples, density_embedding=geo_features)
    field_outputs[FieldHeadNames.DENSITY] = density
    if edit_samples is not None:  # scene edits: before the weights, so removed samples weigh nothing
        edit_samples(ray_samples, field_outputs, geo_features)
    if model.config.use_gradient_scaling:
        field_outputs = scale_gradients_by_distance_squared(field_outputs, ray_samples)
    weights = ray_samples.get_weights(field_outputs[FieldHeadNames.DENSITY])
    weights_list.append(weights)
    ray_samples_list.append(ray_samples)

    rgb = model.renderer_rgb(rgb=field_outputs[FieldHeadNames.RGB], weights=weights)
    with torch.no_grad():
        depth = model.renderer_depth(weights=weights, ray_samples=ray_samples)
    outputs: Dict[str, Union[Tensor, List]] = {
        "rgb": rgb,
        "accumulation": model.renderer_accumulation(weights=weights),
        "depth": depth,
        "expected_depth": model.renderer_expected_depth(weights=weights, ray_samples=ray_samples),
    }
    if model.training:
        outputs["weights_list"] = weights_list
        outputs["ray_samples_list"] = ray_samples_list
    for i in range(model.config.num_proposal_iterations):
        outputs[f"prop_depth_{i}"] = model.renderer_depth(weights=weights_list[i], ray_samples=ray_samples_list[i])
    return NerfactoPass(outputs, ray_samples, weights, geo_features)
