"""The 3D instances of a contrastive run: clusters of the thing pixels' embeddings over the training views.

Made in the same calibration that makes the instance table, whenever a checkpoint is
saved (``calibrate_contrastive``):

1. the training views are rendered (the views and resolution ``instance_table`` uses)
   and labelled by the rule's semantic part; the rendered embeddings of the thing pixels
   that hit a surface within the views' surfaces (``surface_box``) are collected;
2. scikit-learn's HDBSCAN clusters them (at most ``max_points``, drawn evenly); each
   cluster's mean embedding is a centre, largest cluster first. A cluster must hold
   ``min_cluster_fraction`` of the points, so a few pixels of mixed embedding on the
   border of two objects found no instance of their own; HDBSCAN's noise points are
   simply left out of the means (at render time they take their nearest centre). With
   ``cluster_per_class`` each thing class's pixels are clustered apart, and a pixel
   takes the nearest centre of its own rendered class: no instance spans two classes;
3. the centres are stored in the head (and so in the checkpoint); every pixel's embedding
   becomes a distribution over them, and the instance table is made from the same
   renders with that distribution in the slot distribution's place: each cluster is
   split into its spatially separate parts (and, given the views' 2D input, where the
   masks separate it; instances the masks draw as one object are joined), takes its
   majority class, and is dropped when too small, exactly as a slot is.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Protocol, Tuple

import numpy as np
import torch
from sklearn.cluster import HDBSCAN
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.data.scene_box import SceneBox

from panoptic_nerfstudio.inference.instance_table import (
    MIN_ACCUMULATION,
    InputMasks,
    calibration_views,
    has_surface,
    inside_box,
    instance_table_over_views,
    seen_surfaces,
    surface_box,
)
from panoptic_nerfstudio.inference.panoptic_rule import InstanceTable

MIN_CLUSTER_POINTS = 8
"""The smallest cluster HDBSCAN may return, whatever the fraction."""
_KEPT = ("semantics", "embedding", "accumulation", "depth", "surface_points")


class EmbeddingHead(Protocol):
    """What clustering needs of the contrastive head."""

    def centre_distribution(self, embedding: Tensor, semantics: Optional[Tensor] = None) -> Tensor: ...

    def set_centres(self, centres: Tensor, classes: Optional[Tensor] = None) -> None: ...

    @property
    def num_instances(self) -> int: ...


class RendersEmbeddings(Protocol):
    """What clustering needs of a model: full-image distributions and embeddings of one camera, and its head."""

    thing_mask: Tensor
    scene_box: SceneBox
    heads: EmbeddingHead

    def get_distributions_for_camera(self, camera: Cameras) -> Dict[str, Tensor]: ...


def cluster_centres(
    embeddings: Tensor, min_cluster_fraction: float, max_points: int = 20000, seed: int = 0
) -> Tensor:
    """[M, D] cluster centres of embeddings [n, D], largest cluster first (none for no points; the mean of all of
    them when HDBSCAN finds no cluster)."""
    return class_centres(embeddings, None, min_cluster_fraction, max_points, seed)[0]


def class_centres(
    embeddings: Tensor, classes: Optional[Tensor], min_cluster_fraction: float, max_points: int = 20000, seed: int = 0
) -> Tuple[Tensor, Tensor]:
    """Cluster centres [M, D], largest cluster first, and the class of each [M]. ``classes`` None: all points
    together, centres of class -1 (any); else each class's points [n] apart, and the smallest cluster is still a
    fraction of all the points."""
    points = embeddings.detach().float().cpu().numpy()
    labels = None if classes is None else classes.detach().cpu().numpy()
    if len(points) == 0:
        return torch.zeros(0, embeddings.shape[-1]), torch.zeros(0, dtype=torch.long)
    if len(points) > max_points:
        drawn = np.random.default_rng(seed).choice(len(points), max_points, replace=False)
        points, labels = points[drawn], None if labels is None else labels[drawn]
    size = max(MIN_CLUSTER_POINTS, int(np.ceil(min_cluster_fraction * len(points))))
    groups = [(-1, points)] if labels is None else [(c, points[labels == c]) for c in np.unique(labels)]
    clusters = [(c, cluster) for c, group in groups for cluster in _hdbscan_clusters(group, size)]
    if not clusters:
        return torch.from_numpy(points.mean(axis=0, keepdims=True)), torch.full((1,), -1, dtype=torch.long)
    clusters.sort(key=lambda item: -len(item[1]))
    centres = torch.from_numpy(np.stack([cluster.mean(axis=0) for _, cluster in clusters]))
    return centres, torch.tensor([int(c) for c, _ in clusters], dtype=torch.long)


def _hdbscan_clusters(points: np.ndarray, size: int) -> List[np.ndarray]:
    """The points of each cluster HDBSCAN finds, clusters of at least ``size`` points (noise left out; none when there
    are fewer points than that, or than ``2 * MIN_CLUSTER_POINTS``)."""
    if len(points) < max(size, 2 * MIN_CLUSTER_POINTS):
        return []
    labels = HDBSCAN(min_cluster_size=size, allow_single_cluster=True, copy=True).fit_predict(points)
    return [points[labels == c] for c in np.unique(labels[labels >= 0])]


def thing_embeddings(
    outputs: Dict[str, Tensor], thing_mask: Tensor, aabb: Tensor, min_accumulation: float = MIN_ACCUMULATION
) -> Tuple[Tensor, Tensor]:
    """[n, D] rendered embeddings and [n] classes of one view's pixels whose class is a thing and whose surface lies
    in the box ``aabb`` (``surface_box`` of the views)."""
    classes = outputs["semantics"].argmax(dim=-1)
    thing = thing_mask.to(classes.device)[classes]
    keep = thing & inside_box(outputs["surface_points"], aabb) & has_surface(outputs, min_accumulation)
    return outputs["embedding"][keep], classes[keep]


class _Replay:
    """A model stand-in for ``instance_table_over_views``: the cached renders, in order, with the instance
    distribution over the new centres."""

    def __init__(self, model: RendersEmbeddings, renders: List[Dict[str, Tensor]]) -> None:
        self.thing_mask, self.scene_box, self.heads = model.thing_mask, model.scene_box, model.heads
        self._renders = iter(renders)

    def get_distributions_for_camera(self, camera: Cameras) -> Dict[str, Tensor]:
        outputs = dict(next(self._renders))
        outputs["instances"] = self.heads.centre_distribution(outputs["embedding"], outputs["semantics"])
        return outputs


@torch.no_grad()
def calibrate_contrastive(
    model: RendersEmbeddings,
    cameras: Cameras,
    num_classes: int,
    min_area_fraction: float,
    min_cluster_fraction: float,
    max_points: int = 20000,
    max_views: int = 48,
    downscale: float = 4,
    split_slots: bool = True,
    per_class: bool = False,
    masks: Optional[InputMasks] = None,
) -> InstanceTable:
    """Cluster the thing embeddings of the views into centres (``per_class``: each class's apart), set them in the
    head, and return the instance table of the same renders (see the module's docstring; ``masks``: the views' 2D
    input, to split and join clusters by it as slots are)."""
    renders = []
    for camera in calibration_views(cameras, max_views, downscale):  # those instance_table_over_views renders
        outputs = model.get_distributions_for_camera(camera)
        renders.append({key: outputs[key] for key in _KEPT})
    box = surface_box(torch.cat([seen_surfaces(r) for r in renders]), model.scene_box.aabb)  # the table's box too
    embeddings, classes = [], []
    for outputs in renders:
        embedding, label = thing_embeddings(outputs, model.thing_mask, box)
        embeddings.append(embedding.cpu())
        classes.append(label.cpu())
    labels = torch.cat(classes) if per_class else None
    model.heads.set_centres(*class_centres(torch.cat(embeddings), labels, min_cluster_fraction, max_points))
    replay = _Replay(model, renders)
    return instance_table_over_views(
        replay, cameras, model.heads.num_instances, num_classes, min_area_fraction,
        max_views=max_views, downscale=downscale, split_slots=split_slots, masks=masks,
    )  # fmt: skip
