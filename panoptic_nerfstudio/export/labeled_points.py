"""Labeled points from rendered depth: every kept pixel of a rendered view becomes one 3D point.

A pixel's point is ``origin + direction * depth`` (nerfstudio's median depth along the unit
ray, as ``ns-export pointcloud`` does); its color is the rendered RGB and its labels come from
the model's one inference rule (``infer_panoptic`` with the checkpoint's instance table), so a
point carries exactly the class and 3D instance id the viewer and ``ns-render`` show there.
Pixels that render mostly empty space (low accumulation) have no surface and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs

from panoptic_nerfstudio.inference.instance_table import has_surface
from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel


@dataclass
class LabeledPoints:
    """A point cloud whose points carry a semantic class and a 3D instance id."""

    positions: np.ndarray
    """[N, 3] float32."""
    colors: np.ndarray
    """[N, 3] uint8 rendered RGB."""
    class_ids: np.ndarray
    """[N] int32 category id of the scene's class table (panoptic_classes.json), not the dense index."""
    instance_ids: np.ndarray
    """[N] int32 3D instance id (slot + 1); 0 on stuff points."""
    confidence: np.ndarray
    """[N] float32 rendered probability of the label (times the slot's on things)."""

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def select(self, keep: np.ndarray) -> "LabeledPoints":
        """The points where ``keep`` (a boolean mask or an index array) selects them."""
        return LabeledPoints(
            self.positions[keep], self.colors[keep], self.class_ids[keep], self.instance_ids[keep], self.confidence[keep]
        )

    @staticmethod
    def concatenate(parts: Sequence["LabeledPoints"]) -> "LabeledPoints":
        if not parts:
            return LabeledPoints(
                np.zeros((0, 3), np.float32),
                np.zeros((0, 3), np.uint8),
                np.zeros(0, np.int32),
                np.zeros(0, np.int32),
                np.zeros(0, np.float32),
            )
        return LabeledPoints(*(np.concatenate([getattr(p, name) for p in parts]) for name in _FIELDS))


_FIELDS = ("positions", "colors", "class_ids", "instance_ids", "confidence")


@torch.no_grad()
def view_points(
    model: PanopticLiftingModel,
    camera: Cameras,
    min_accumulation: float = 0.5,
    max_rays: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
) -> LabeledPoints:
    """The labeled surface points of one rendered view (a single camera), from all of its pixels or from
    ``max_rays`` of them drawn at random (rendering cost is per ray, so this bounds the time per view)."""
    ray_bundle = camera.to(model.device).generate_rays(camera_indices=0, keep_shape=True).flatten()
    if max_rays is not None and max_rays < len(ray_bundle):
        chosen = torch.randperm(len(ray_bundle), generator=generator)[:max_rays].sort().values
        ray_bundle = ray_bundle[chosen.to(ray_bundle.origins.device)]
    ray_bundle = ray_bundle.reshape((len(ray_bundle), 1))  # the full-image renderer wants [H, W] rays
    outputs = model.get_outputs_for_camera_ray_bundle(ray_bundle)  # labeled by the model's inference rule
    positions = ray_bundle.origins + ray_bundle.directions * outputs["depth"]
    keep = has_surface(outputs, min_accumulation).cpu().numpy().reshape(-1)
    colors = (outputs["rgb"].clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    points = LabeledPoints(
        positions=positions.reshape(-1, 3).float().cpu().numpy(),
        colors=colors.reshape(-1, 3).cpu().numpy(),
        class_ids=outputs["class_id"].reshape(-1).round().to(torch.int32).cpu().numpy(),
        instance_ids=outputs["instance_id"].reshape(-1).round().to(torch.int32).cpu().numpy(),
        confidence=outputs["confidence"].reshape(-1).float().cpu().numpy(),
    )
    return points.select(keep)


def training_views(cameras: Cameras, downscale: float = 1.0, max_views: Optional[int] = None) -> Iterator[Cameras]:
    """The training cameras one at a time, their images downscaled by ``downscale``, at most ``max_views`` of them
    spread evenly over the sequence."""
    count = len(cameras)
    indices: List[int] = list(range(count))
    if max_views is not None and 0 < max_views < count:
        indices = sorted(set(np.linspace(0, count - 1, max_views).round().astype(int).tolist()))
    for index in indices:
        camera = cameras[index : index + 1]
        if downscale != 1.0:
            camera.rescale_output_resolution(1.0 / downscale)  # rebinds the slice's tensors: the dataset's stay
        yield camera


def crop(points: LabeledPoints, box: Optional[Tuple[Sequence[float], Sequence[float]]]) -> LabeledPoints:
    """The points inside an axis-aligned box (min corner, max corner); all of them without a box."""
    if box is None:
        return points
    low, high = np.asarray(box[0], np.float32), np.asarray(box[1], np.float32)
    return points.select(np.all((points.positions >= low) & (points.positions <= high), axis=1))


def to_dataset_frame(points: LabeledPoints, dataparser_outputs: DataparserOutputs) -> LabeledPoints:
    """Points moved from nerfstudio's normalized frame back to the frame of the dataset's transforms.json.

    The dataparser maps a dataset position p to ``scale * (R p + t)``; this is its inverse,
    the same inverse ``ns-export pointcloud --save-world-frame`` applies.
    """
    transform = dataparser_outputs.dataparser_transform.double().numpy()
    rotation, translation = transform[:3, :3], transform[:3, 3]
    normalized = points.positions.astype(np.float64) / float(dataparser_outputs.dataparser_scale)
    original = (normalized - translation) @ rotation  # R^T (p - t), row vectors
    return LabeledPoints(original.astype(np.float32), points.colors, points.class_ids, points.instance_ids, points.confidence)
