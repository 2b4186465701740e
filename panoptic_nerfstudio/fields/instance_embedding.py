"""The contrastive instance head: a low-dimensional embedding per sample instead of a distribution over K slots.

``--pipeline.model.instance-head contrastive`` (the slot head stays the default). The
semantic head is the slot head's (``PanopticHeads``: same features, same MLP); the
instance side is an embedding of ``dim`` numbers on the unit sphere, computed from a
hash grid of its own (so the contrastive losses train only parameters nothing else uses),
volume rendered with the detached weights like every other segmentation output.

An embedding names no object by itself. After training, the embeddings of the thing
pixels of the training views are clustered (``inference/embedding_clusters.py``) and the
cluster centres are kept in this module (buffer ``centres``, saved in the checkpoint).
From then on an embedding becomes a distribution over the centres,
``softmax(-|e - c|^2 / temperature)``, which takes the slot distribution's place in the
one inference rule: the 3D instance id of a pixel is ``1 + its nearest centre``, the
same in every view and command. There is no K: the number of instances is the number of
clusters the scene has.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from nerfstudio.field_components.mlp import MLP
from nerfstudio.field_components.spatial_distortions import SpatialDistortion

from panoptic_nerfstudio.fields.panoptic_heads import PanopticHeads, PanopticHeadsConfig, own_grid, per_sample

InstanceHead = Literal["slots", "contrastive"]


@dataclass
class ContrastiveHeadConfig:
    """The contrastive instance head: embedding size, losses and the clustering after training."""

    dim: int = 8
    """Numbers per embedding (on the unit sphere). Contrastive Lift's public code uses 3 to 24."""
    temperature: float = 0.1
    """Temperature of the contrastive loss and of the distribution over cluster centres at render time."""
    contrastive_loss_mult: float = 0.1
    """Weight of the contrastive loss: each thing ray against the centroids of its frame's thing segments."""
    concentration_loss_mult: float = 0.1
    """Weight of the concentration loss: squared distance of each thing ray to its own segment's centroid."""
    slow_target_momentum: float = 0.0
    """Contrastive Lift's slow-fast target: above 0, the segment centroids the losses pull towards come from a slowly
    updated copy of the embedding MLP (after every step ``slow = m * slow + (1 - m) * trained``; the public code uses
    0.9), so a ray chases a target that does not move with its own last step. 0: the centroids of the trained head
    itself."""
    min_cluster_fraction: float = 0.002
    """HDBSCAN's smallest cluster, as a fraction of the clustered thing pixels (at least 8 pixels)."""
    max_cluster_points: int = 20000
    """Thing pixels clustered at most (drawn evenly from all those of the training views)."""
    cluster_per_class: bool = False
    """Cluster each thing class's pixels apart (by their rendered class); a pixel then takes the nearest centre of its
    own class, so no 3D instance spans two classes. Off: all thing pixels together, nearest centre of any class."""


class ContrastiveHeads(PanopticHeads):
    """The slot head's semantic head plus an embedding head on its own hash grid, and the cluster centres.

    Called like ``PanopticHeads`` it returns per-sample class logits and per-sample logits over the cluster
    centres (``-|e - c|^2 / temperature``), so per-sample labelling (scene edits) works unchanged."""

    def __init__(
        self,
        config: PanopticHeadsConfig,
        contrastive: ContrastiveHeadConfig,
        aabb: Tensor,
        num_classes: int,
        spatial_distortion: Optional[SpatialDistortion],
        backbone_dim: int = 0,
        implementation: Literal["tcnn", "torch"] = "torch",
    ) -> None:
        super().__init__(config, aabb, num_classes, 1, spatial_distortion, backbone_dim, implementation)
        del self.instance  # the slot MLP: replaced by the embedding
        self.contrastive = contrastive
        self.embedding_encoding = own_grid(config, implementation)
        self.embedding = MLP(
            self.embedding_encoding.get_out_dim(),
            config.num_layers,
            config.hidden_dim,
            out_dim=contrastive.dim,
            implementation=implementation,
        )
        self.register_buffer("centres", torch.zeros(0, contrastive.dim))
        self.register_buffer("centre_classes", torch.zeros(0, dtype=torch.long))
        self.slow_embedding: Optional[MLP] = None
        if contrastive.slow_target_momentum > 0:  # no gradient, not optimised: moved by update_slow_embedding
            self.slow_embedding = copy.deepcopy(self.embedding).requires_grad_(False)

    def semantic_and_embedding(self, positions: Tensor, backbone: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Per-sample class logits [..., samples, C] and unit embeddings [..., samples, D]."""
        semantic, embedding, _ = self.semantic_embedding_and_target(positions, backbone, with_target=False)
        return semantic, embedding

    def semantic_embedding_and_target(
        self, positions: Tensor, backbone: Optional[Tensor] = None, with_target: bool = True
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """``semantic_and_embedding`` plus the slow copy's unit embeddings of the same grid features (no gradient;
        None without a slow copy, or with ``with_target`` off): the training target of ``slow_target_momentum``."""
        semantic = self.semantic_logits(self.features(positions, backbone), backbone)
        features = self.embedding_features(positions)
        embedding = F.normalize(per_sample(self.embedding, features), dim=-1)
        if not with_target or self.slow_embedding is None:
            return semantic, embedding, None
        with torch.no_grad():
            target = F.normalize(per_sample(self.slow_embedding, features), dim=-1)
        return semantic, embedding, target

    @torch.no_grad()
    def update_slow_embedding(self) -> None:
        """One step of the slow copy towards the trained embedding MLP (an exponential moving average)."""
        if self.slow_embedding is None:
            return
        momentum = self.contrastive.slow_target_momentum
        for slow, trained in zip(self.slow_embedding.parameters(), self.embedding.parameters()):
            slow.mul_(momentum).add_(trained.detach(), alpha=1.0 - momentum)

    def embedding_features(self, positions: Tensor) -> Tensor:
        """The embedding grid's features at sample positions (mapped into the grid as the heads' own grid is)."""
        return self.grid_features(self.embedding_encoding, positions)

    def forward(self, positions: Tensor, backbone: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Per-sample class logits and logits over the cluster centres (one constant column before clustering)."""
        semantic, embedding = self.semantic_and_embedding(positions, backbone)
        return semantic, self.centre_logits(embedding, semantic)

    @property
    def num_instances(self) -> int:
        """Columns of the instance distribution: the clusters, or 1 before any clustering."""
        return max(1, len(self.centres))

    @property
    def summary(self) -> str:
        """The head in words, for reports."""
        return f"contrastive ({self.contrastive.dim}-D embeddings, {len(self.centres)} clusters)"

    def centre_logits(self, embedding: Tensor, semantics: Optional[Tensor] = None) -> Tensor:
        """[..., M] ``-|e - c|^2 / temperature`` of embeddings [..., D] to the M centres ([..., 1] zeros when none).
        Centres clustered per class (``centre_classes`` >= 0) are open only to embeddings whose class (argmax of
        ``semantics`` [..., C]) is theirs; one of a class without centres may take any."""
        if len(self.centres) == 0:
            return embedding.new_zeros(*embedding.shape[:-1], 1)
        centres = self.centres.to(embedding.dtype)
        squared = (embedding.square().sum(-1, keepdim=True) - 2 * embedding @ centres.T + centres.square().sum(-1))
        logits = -squared.clamp_min(0.0) / self.contrastive.temperature
        if semantics is None or not bool((self.centre_classes >= 0).any()):
            return logits
        allowed = self.centre_classes == semantics.argmax(dim=-1, keepdim=True)
        allowed |= ~allowed.any(dim=-1, keepdim=True)
        return logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)

    def centre_distribution(self, embedding: Tensor, semantics: Optional[Tensor] = None) -> Tensor:
        """[..., M] distribution over the centres of rendered embeddings [..., D] (of rendered class distributions
        ``semantics``, see ``centre_logits``): what the inference rule reads."""
        return torch.softmax(self.centre_logits(embedding, semantics), dim=-1)

    def set_centres(self, centres: Tensor, classes: Optional[Tensor] = None) -> None:
        """Keep ``centres`` [M, D] and their classes [M] (-1 each, or none: a centre of any class), saved in and
        loaded from checkpoints."""
        classes = torch.full((len(centres),), -1, dtype=torch.long) if classes is None else classes
        self.register_buffer("centres", centres.to(self.aabb.device, torch.float32))
        self.register_buffer("centre_classes", classes.to(self.aabb.device, torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # The number of clusters depends on the run: take the checkpoint's shape. A checkpoint from before centres
        # had classes holds centres of any class.
        if prefix + "centres" in state_dict:
            centres = state_dict[prefix + "centres"]
            self.register_buffer("centres", torch.empty_like(centres, device=self.aabb.device))
            state_dict.setdefault(prefix + "centre_classes", torch.full((len(centres),), -1, dtype=torch.long))
            self.register_buffer("centre_classes", torch.empty_like(state_dict[prefix + "centre_classes"],
                                                                    device=self.aabb.device))  # fmt: skip
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def render_embedding(embedding: Tensor, weights: Tensor, eps: float = 1e-6) -> Tensor:
    """Volume-render per-sample embeddings [..., samples, D] with weights [..., samples, 1], renormalised by the
    accumulated weight (as the bounded fields are): a ray's embedding is the weighted mean of its samples'."""
    return torch.sum(weights * embedding, dim=-2) / (torch.sum(weights, dim=-2) + eps)
