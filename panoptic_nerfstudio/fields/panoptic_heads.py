"""Semantic and instance heads: bounded (per-sample softmax) segmentation fields.

Each sample gets a class distribution and a distribution over K instance slots;
the renderer integrates these probabilities with the volume weights (see
``model_components.segmentation_renderers``), so a ray's output is itself a
distribution (the paper's "bounded" fields: one sample cannot outvote the others
with a huge logit, which is what makes floaters harmless).

Feature sources, chosen by ``features``:
- ``own_grid``: a small hash grid of the heads' own (the default). The segmentation
  losses then train only parameters that nothing else uses.
- ``backbone``: nerfacto's geometry features, detached, plus nothing else. Cheaper
  (no extra grid lookup), but the features were shaped for color and density.
``benchmarks/speed.py`` and ``benchmarks/quality.py`` compare the two.

``semantic_reads_backbone`` gives the class head both: its own grid and nerfacto's (detached) geometry features.
The slot head never reads the backbone: objects alike in appearance would share slots (README, "Head features").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Tuple, Type

import torch
from torch import Tensor, nn

from nerfstudio.configs.base_config import InstantiateConfig
from nerfstudio.data.scene_box import SceneBox
from nerfstudio.field_components.encodings import HashEncoding
from nerfstudio.field_components.mlp import MLP
from nerfstudio.field_components.spatial_distortions import SpatialDistortion

HeadFeatures = Literal["own_grid", "backbone"]


@dataclass
class PanopticHeadsConfig(InstantiateConfig):
    """The semantic and instance heads: their features and their size."""

    _target: Type = field(default_factory=lambda: PanopticHeads)
    features: HeadFeatures = "own_grid"
    """Features of the segmentation heads: a hash grid of their own, or nerfacto's geometry features (detached)."""
    samples_per_ray: int = 0
    """Samples per ray the heads see: those of largest volume weight (0: all). Fewer is cheaper; the surface
    samples carry nearly all the weight."""
    num_levels: int = 8
    """Levels of the heads' own hash grid."""
    max_res: int = 256
    """Finest resolution of the heads' own hash grid (the coarsest is 16)."""
    log2_hashmap_size: int = 16
    """log2 of the entries per level of the heads' own hash grid."""
    features_per_level: int = 2
    """Features per level of the heads' own hash grid."""
    hidden_dim: int = 64
    """Width of the hidden layers of each head's MLP."""
    num_layers: int = 2
    """Layers of each head's MLP."""
    semantic_reads_backbone: bool = False
    """The class head also reads nerfacto's geometry features (detached) beside the heads' own grid. That backbone
    is trained by every ray's colour at a finer resolution, so it resolves thin structures the heads' grid blurs into
    what surrounds them (regression room: the pole kept 64% of its pixels instead of 0%), but its features follow
    appearance: on one run of the crowded room (with the head grid up to resolution 1024 as well) the floor's IoU fell
    from 69% to 34%, labelled wall. Off until a suite of runs says otherwise (README, "Quality on scenes the method
    was not tuned on"). Only with ``own_grid``."""

    @property
    def reads_backbone(self) -> bool:
        """Whether the heads need nerfacto's geometry features."""
        return self.features == "backbone" or self.semantic_reads_backbone


def own_grid(config: PanopticHeadsConfig, implementation: Literal["tcnn", "torch"]) -> HashEncoding:
    """A hash grid of the heads' size (``config``), coarsest resolution 16."""
    return HashEncoding(
        num_levels=config.num_levels,
        min_res=16,
        max_res=config.max_res,
        log2_hashmap_size=config.log2_hashmap_size,
        features_per_level=config.features_per_level,
        implementation=implementation,
    )


def per_sample(mlp: MLP, feats: Tensor) -> Tensor:
    """``mlp`` applied to every sample's features [..., F]: float32 outputs [..., out]."""
    return mlp(feats.reshape(-1, feats.shape[-1])).reshape(*feats.shape[:-1], -1).float()


class PanopticHeads(nn.Module):
    """A class head (C logits) and a slot head (K logits) on shared per-sample features."""

    def __init__(
        self,
        config: PanopticHeadsConfig,
        aabb: Tensor,
        num_classes: int,
        num_slots: int,
        spatial_distortion: Optional[SpatialDistortion],
        backbone_dim: int = 0,
        implementation: Literal["tcnn", "torch"] = "torch",
    ) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("aabb", aabb)
        self.spatial_distortion = spatial_distortion
        if config.features == "own_grid":
            self.encoding: Optional[HashEncoding] = own_grid(config, implementation)
            in_dim = self.encoding.get_out_dim()
        elif config.features == "backbone":
            self.encoding = None
            in_dim = backbone_dim
        else:
            raise ValueError(f"unknown head features {config.features!r}")
        if config.semantic_reads_backbone and config.features != "own_grid":
            raise ValueError("semantic_reads_backbone adds the backbone to the heads' own grid: use features own_grid")

        def head(in_dim: int, out_dim: int) -> MLP:
            return MLP(in_dim, config.num_layers, config.hidden_dim, out_dim=out_dim, implementation=implementation)

        self.semantic = head(in_dim + (backbone_dim if config.semantic_reads_backbone else 0), num_classes)
        self.instance = head(in_dim, num_slots)

    def features(self, positions: Tensor, backbone: Optional[Tensor]) -> Tensor:
        if self.encoding is None:
            assert backbone is not None, "backbone features requested but not given"
            return backbone.detach()
        return self.grid_features(self.encoding, positions)

    def grid_features(self, grid: HashEncoding, positions: Tensor) -> Tensor:
        """``grid``'s features at sample positions [..., 3], mapped into [0, 1]^3 as nerfacto maps its own (the
        scene contraction, or the scene box); positions are detached: no segmentation loss moves geometry."""
        positions = positions.detach()
        if self.spatial_distortion is not None:
            positions = (self.spatial_distortion(positions) + 2.0) / 4.0
        else:
            positions = SceneBox.get_normalized_positions(positions, self.aabb)
        flat = positions.reshape(-1, 3).clamp(0.0, 1.0)
        return grid(flat).reshape(*positions.shape[:-1], -1)

    def semantic_logits(self, feats: Tensor, backbone: Optional[Tensor]) -> Tensor:
        """Per-sample class logits from the heads' features [..., F] (plus the detached backbone's, if configured)."""
        if self.config.semantic_reads_backbone:
            assert backbone is not None, "the class head reads the backbone's features, but none were given"
            feats = torch.cat([feats, backbone.detach().to(feats.dtype)], dim=-1)
        return per_sample(self.semantic, feats)

    def forward(self, positions: Tensor, backbone: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Per-sample logits [..., samples, C] and [..., samples, K] at sample positions [..., samples, 3]."""
        feats = self.features(positions, backbone)
        return self.semantic_logits(feats, backbone), per_sample(self.instance, feats)
