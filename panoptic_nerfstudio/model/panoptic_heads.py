"""Semantic and instance heads: bounded (per-sample softmax) segmentation fields.

Each sample gets a class distribution and a distribution over K instance slots;
the renderer integrates these probabilities with the volume weights, so a ray's
output is itself a distribution (the paper's "bounded" fields: one sample cannot
outvote the others with a huge logit, which is what makes floaters harmless).

Feature sources, chosen by ``head_features``:
- ``own_grid``: a small hash grid of the heads' own (the default). The segmentation
  losses then train only parameters that nothing else uses.
- ``backbone``: nerfacto's geometry features, detached, plus nothing else. Cheaper
  (no extra grid lookup), but the features were shaped for color and density.
``benchmarks/speed.py`` and ``benchmarks/quality.py`` compare the two.
"""

from __future__ import annotations

from typing import Literal, Optional, Tuple

import torch
from torch import Tensor, nn

from nerfstudio.data.scene_box import SceneBox
from nerfstudio.field_components.encodings import HashEncoding
from nerfstudio.field_components.mlp import MLP
from nerfstudio.field_components.spatial_distortions import SpatialDistortion

HeadFeatures = Literal["own_grid", "backbone"]


class PanopticHeads(nn.Module):
    def __init__(
        self,
        aabb: Tensor,
        num_classes: int,
        num_slots: int,
        spatial_distortion: Optional[SpatialDistortion],
        head_features: HeadFeatures = "own_grid",
        backbone_dim: int = 0,
        num_levels: int = 8,
        max_res: int = 256,
        log2_hashmap_size: int = 16,
        features_per_level: int = 2,
        hidden_dim: int = 64,
        num_layers: int = 2,
        implementation: Literal["tcnn", "torch"] = "torch",
    ) -> None:
        super().__init__()
        self.register_buffer("aabb", aabb)
        self.spatial_distortion = spatial_distortion
        self.head_features = head_features
        if head_features == "own_grid":
            self.encoding: Optional[HashEncoding] = HashEncoding(
                num_levels=num_levels,
                min_res=16,
                max_res=max_res,
                log2_hashmap_size=log2_hashmap_size,
                features_per_level=features_per_level,
                implementation=implementation,
            )
            in_dim = self.encoding.get_out_dim()
        elif head_features == "backbone":
            self.encoding = None
            in_dim = backbone_dim
        else:
            raise ValueError(f"unknown head_features {head_features!r}")

        def head(out_dim: int) -> MLP:
            return MLP(in_dim, num_layers, hidden_dim, out_dim=out_dim, implementation=implementation)

        self.semantic = head(num_classes)
        self.instance = head(num_slots)

    def features(self, positions: Tensor, backbone: Optional[Tensor]) -> Tensor:
        if self.encoding is None:
            assert backbone is not None, "backbone features requested but not given"
            return backbone.detach()
        positions = positions.detach()
        if self.spatial_distortion is not None:
            positions = (self.spatial_distortion(positions) + 2.0) / 4.0
        else:
            positions = SceneBox.get_normalized_positions(positions, self.aabb)
        flat = positions.reshape(-1, 3).clamp(0.0, 1.0)
        return self.encoding(flat).reshape(*positions.shape[:-1], -1)

    def forward(self, positions: Tensor, backbone: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Per-sample logits [..., samples, C] and [..., samples, K] at sample positions [..., samples, 3]."""
        feats = self.features(positions, backbone)
        shape = feats.shape[:-1]
        flat = feats.reshape(-1, feats.shape[-1])
        semantic = self.semantic(flat).reshape(*shape, -1).float()
        instance = self.instance(flat).reshape(*shape, -1).float()
        return semantic, instance


def heaviest_samples(weights: Tensor, count: int) -> Tensor:
    """[..., count] indices of each ray's samples with the largest volume weights (all samples if count <= 0).

    The segmentation fields are rendered with these samples only: the heads cost in
    proportion to the samples they see, and the few samples near the surface carry
    nearly all of a ray's weight. Bounded rendering renormalises by the weight kept.
    """
    samples = weights.shape[-2]
    if count <= 0 or count >= samples:
        return torch.arange(samples, device=weights.device).expand(*weights.shape[:-2], samples)
    return weights[..., 0].topk(count, dim=-1).indices


def take_samples(values: Tensor, index: Tensor) -> Tensor:
    """Gather per-sample values [..., samples, D] at sample indices [..., k]."""
    return torch.gather(values, -2, index[..., None].expand(*index.shape, values.shape[-1]))


def render_distribution(logits: Tensor, weights: Tensor, bounded: bool = True, eps: float = 1e-6) -> Tensor:
    """Volume-render a per-sample categorical field into a per-ray distribution.

    Bounded (the paper): softmax per sample, then the weighted sum of
    probabilities, renormalised by the accumulated weight (a ray through empty
    space gets the uniform distribution instead of zeros). Unbounded (ablation):
    the weighted sum of logits, softmax afterwards.
    """
    if bounded:
        rendered = torch.sum(weights * torch.softmax(logits, dim=-1), dim=-2)
        accumulation = torch.sum(weights, dim=-2)
        return (rendered + eps / logits.shape[-1]) / (accumulation + eps)
    return torch.softmax(torch.sum(weights * logits, dim=-2), dim=-1)
