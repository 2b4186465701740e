"""The instance table of a trained run, resolved over a set of views: its 3D instances, their parts and classes.

One table per run is the truth: it is computed over the training views whenever a
checkpoint is saved, stored in the checkpoint, and applied by every command (viewer,
``ns-render``, ``ns-eval``, ``ns-panoptic eval``, export). A table made over other views
(say, the evaluation frames) could disagree with it, and the same frame would then be
labelled differently by two commands.

Making it: the views are rendered and labelled by the rule alone; every thing pixel with
a surface becomes a 3D point of its slot. Each slot is split into its spatially separate
parts (``instance_parts``), and further where the 2D input masks separate it (``mask_evidence``), each part a
3D instance; instances of one class that the masks draw as one object are joined (``mask_joins``); then each
instance takes the majority class of its surface (``class_areas``), or is dropped when it covers too little of the
views' pixels and shows in fewer than ``MIN_VIEWS`` of them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Protocol

import numpy as np
import torch
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.data.scene_box import SceneBox

from panoptic_nerfstudio.inference.instance_parts import points_per_part, split_slot, whole
from panoptic_nerfstudio.inference.mask_evidence import NO_SEGMENT, refine_parts
from panoptic_nerfstudio.inference.mask_joins import joined_by_masks
from panoptic_nerfstudio.inference.panoptic_rule import (
    POINTS_PER_PART,
    STUFF_INSTANCE,
    InstanceTable,
    infer_panoptic,
    resolve_instances,
    unlimited_reach,
)

REACH_FOOTPRINTS = 4.0
"""A sample is part of an instance up to this many median pixel footprints (about 20 cm in the demo rooms at the
calibration's quarter resolution) beyond the spacing of the instance's stored points: sides no view showed and the
surface's thickness stay inside, a floater in mid-air does not."""
MIN_VIEWS = 3
"""A 3D instance rendered in at least this many of the views is kept however small its area: the area rule is for
speckles and floaters that one view or two show. Measured on the 12 runs of the quality suite: the small slots seen in
one view were 1 to 3 points (junk, such as a pole's id on a wall), while the cupboards at the back of the crowded room
(14 to 19 points at the quarter resolution, in 10 views each, while the table still left out what lies beyond the
cameras' box; ``surface_box``) were dropped by area alone and came out wall."""
REACH_QUANTILE = 0.9
"""The spacing of an instance's stored points: this quantile of its points' distances to the nearest stored one. Not
the farthest few: an instance's points include the blur of its class onto the floor or wall around it and floaters
that read as it, and their gaps set a high quantile (on two suite runs the 99% quantile was 5 to 10 times the 90%
one for lamps, poles and chairs, and the points beyond the 90% quantile lay outside every input thing segment three
times as often as the rest: 21% against 6%, 44% against 15%), which let the reach take in the floor around a chair."""
MIN_ACCUMULATION = 0.5
"""A pixel has a surface (a rendered point of the scene) where its accumulation reaches this."""
SURFACE_QUANTILE = 0.01
"""``surface_box``: the extent of the views' surfaces per axis leaves out this share of their points on each side
(floaters and rays through gaps)."""
SURFACE_MARGIN = 0.1
"""``surface_box``: the extent of the views' surfaces is widened by this share of itself on each side (the outermost
surfaces, the walls, sit at the extent's edge)."""


class RendersDistributions(Protocol):
    """What the table needs of a model: full-image distributions, depth and surface points of one camera."""

    thing_mask: Tensor
    scene_box: SceneBox

    def get_distributions_for_camera(self, camera: Cameras) -> Dict[str, Tensor]: ...


@dataclass
class ViewSamples:
    """The labelled pixels of a set of views, flattened: what a table is resolved from."""

    slots: Tensor
    """[n] long slot of each thing pixel with a surface."""
    classes: Tensor
    """[n] long class of each of those pixels."""
    points: Tensor
    """[n, 3] their rendered surface points."""
    footprints: Tensor
    """[n] the width of each pixel at its surface (depth / focal length): the spacing of neighbouring points."""
    stuff_pixels: int
    """Pixels labelled stuff, and thing pixels whose surface lies beyond the views' surfaces (``surface_box``: depth
    of a ray into empty space, not of an object): they count in the total area, against which small instances are
    dropped."""
    views: Optional[Tensor] = None
    """[n] long the view of each thing pixel (None: not known; then no instance is kept for being seen in many)."""
    segments: Optional[Tensor] = None
    """[n] long the 2D input thing segment each pixel lies in, unique over the views (NO_SEGMENT: none)."""


def spread_views(count: int, max_views: int) -> List[int]:
    """At most ``max_views`` indices spread evenly over ``count`` views, first and last included."""
    return torch.linspace(0, count - 1, min(max_views, count)).round().long().unique().tolist()


def calibration_views(cameras: Cameras, max_views: int, downscale: float) -> Iterator[Cameras]:
    """The cameras a table is made from, in order: up to ``max_views`` spread over ``cameras``, each at 1/``downscale``
    of its resolution (every calibration renders these, so renders cached by one serve another)."""
    for view in spread_views(len(cameras), max_views):
        camera = copy.deepcopy(cameras[view : view + 1])
        if downscale != 1:
            camera.rescale_output_resolution(1.0 / downscale)
        yield camera


def inside_box(points: Tensor, aabb: Tensor) -> Tensor:
    """[...] bool: the points [..., 3] inside the box ``aabb`` [2, 3] (a ray into empty space has its depth far out)."""
    low, high = aabb.to(points.device)
    return ((points >= low) & (points <= high)).all(dim=-1)


def surface_box(points: Tensor, aabb: Tensor) -> Tensor:
    """[2, 3] the box a thing's surface points must lie in: the scene box ``aabb``, grown to the extent of the views'
    surfaces ``points`` [n, 3] (all classes; per axis from the SURFACE_QUANTILE to the 1 - SURFACE_QUANTILE quantile,
    widened by SURFACE_MARGIN of that extent on each side). nerfstudio's scene box is the box of the cameras: in a
    room filmed from inside, the walls and all that hangs on or stands against them lie beyond it (quality suite:
    93% of the crowded room's cupboard pixels, half of a `thin` room's picture frames), while a thing surface beyond
    every surface the views see is a ray into empty space."""
    aabb = aabb.float().cpu()
    if len(points) == 0:
        return aabb
    sample = points.float().cpu()[:: max(1, len(points) // 100_000)]  # torch.quantile takes at most 16M values
    low, high = torch.quantile(sample, torch.tensor([SURFACE_QUANTILE, 1 - SURFACE_QUANTILE]), dim=0)
    margin = SURFACE_MARGIN * (high - low)
    return torch.stack([torch.minimum(aabb[0], low - margin), torch.maximum(aabb[1], high + margin)])


def has_surface(outputs: Dict[str, Tensor], min_accumulation: float = MIN_ACCUMULATION) -> Tensor:
    """[...] bool: the pixels of a render that have a surface (accumulation ``min_accumulation`` or more)."""
    return outputs["accumulation"][..., 0] >= min_accumulation


def seen_surfaces(outputs: Dict[str, Tensor], min_accumulation: float = MIN_ACCUMULATION) -> Tensor:
    """[n, 3] the surface points of a render's pixels that have a surface, all classes: what ``surface_box``
    spans."""
    return outputs["surface_points"][has_surface(outputs, min_accumulation)].float().cpu()


InputMasks = Callable[[int], Tensor]
"""The 2D input of training view ``index``: [H, W] long thing segment index per pixel (negative: none)."""


def input_masks(dataset) -> InputMasks:
    """The 2D input of a panoptic dataset's views (``data.PanopticDataset``: the per-frame thing index of its store)."""
    return lambda index: dataset.store.frame_layers(index)["instance"][..., 0]


def calibrate_from_dataset(model, dataset) -> int:
    """Make ``model``'s instance table over a panoptic dataset's views with their 2D masks, as every checkpoint save
    does (``calibrate_instances`` requires the masks said; this says them); returns the dropped instances."""
    return model.calibrate_instances(dataset.cameras, masks=input_masks(dataset))


def input_segments(masks: InputMasks, index: int, height: int, width: int) -> Tensor:
    """View ``index``'s input thing segments at a render of ``height`` x ``width`` (nearest pixel centre)."""
    full = masks(index)
    rows = ((torch.arange(height) + 0.5) * full.shape[0] / height).long().clamp(max=full.shape[0] - 1)
    cols = ((torch.arange(width) + 0.5) * full.shape[1] / width).long().clamp(max=full.shape[1] - 1)
    return full[rows][:, cols]


@torch.no_grad()
def samples_over_views(
    model: RendersDistributions,
    cameras: Cameras,
    max_views: int,
    downscale: float,
    min_accumulation: float = MIN_ACCUMULATION,
    masks: Optional[InputMasks] = None,
) -> ViewSamples:
    """Render up to ``max_views`` views at 1/``downscale`` of their resolution and label them by the rule alone;
    with ``masks``, note the input segment of every thing pixel."""
    parts: Dict[str, List[Tensor]] = {"slots": [], "classes": [], "points": [], "footprints": [], "views": []}
    if masks is not None:
        parts.update(segments=[])
    stuff, surfaces = 0, []
    indices = spread_views(len(cameras), max_views)
    for order, camera in enumerate(calibration_views(cameras, max_views, downscale)):
        outputs = model.get_distributions_for_camera(camera)
        prediction = infer_panoptic(outputs["semantics"], outputs["instances"], model.thing_mask)
        surfaces.append(seen_surfaces(outputs, min_accumulation))
        thing = (prediction.instance != STUFF_INSTANCE) & has_surface(outputs, min_accumulation)
        stuff += int((prediction.instance == STUFF_INSTANCE).sum())
        parts["slots"].append((prediction.instance[thing] - 1).cpu())
        parts["classes"].append(prediction.semantics[thing].cpu())
        parts["points"].append(outputs["surface_points"][thing].float().cpu())
        focal = float(camera.fx.reshape(-1)[0])
        parts["footprints"].append((outputs["depth"][..., 0][thing] / focal).float().cpu())
        if masks is not None:
            segment = input_segments(masks, indices[order], *thing.shape).to(thing.device)
            segment = torch.where(segment >= 0, segment + order * (1 << 16), NO_SEGMENT)
            parts["segments"].append(segment[thing].cpu())
        parts["views"].append(torch.full((int(thing.sum()),), order, dtype=torch.long))
    # Thing pixels whose surface lies beyond the views' surfaces count as stuff (in the total area only).
    inside = inside_box(torch.cat(parts["points"]), surface_box(torch.cat(surfaces), model.scene_box.aabb))
    kept = {key: torch.cat(value)[inside] for key, value in parts.items()}
    return ViewSamples(**kept, stuff_pixels=stuff + int((~inside).sum()))


def resolve_table(
    samples: ViewSamples,
    num_slots: int,
    num_classes: int,
    min_area_fraction: float,
    gap: float = 10.0,
    split_slots: bool = True,
    split_by_masks: bool = True,
) -> InstanceTable:
    """The instance table of labelled samples. Points closer than ``gap`` times the median pixel footprint chain into
    one part; a part of a slot is an instance of its own when it covers at least ``min_area_fraction`` of all pixels
    (``split_slots`` False: one instance per slot); with the input segments in ``samples`` (and ``split_by_masks``),
    parts the masks separate consistently are split further (``mask_evidence``), and instances of one class they
    draw as one object are joined (``mask_joins``; the table's ``same_as``). A smaller group of another class
    than the part it would join is a part too (``split_slot``), and points farther than the gap from every part of
    their slot belong to none: they count as stuff here and store no points. Parts split off a slot are never
    dropped by area: each is an object the field labels apart; nor are instances seen in ``MIN_VIEWS`` views or
    more. At the calibration's quarter resolution a footprint is about 5 cm in the demo rooms, so parts must lie
    about half a metre apart: with 4 footprints, a poorly reconstructed corner of a sofa on the default scene came
    off as a separate instance (a false positive in PQ)."""
    total = len(samples.slots) + samples.stuff_pixels
    min_part = max(1, int(np.ceil(min_area_fraction * total)))
    footprint = float(samples.footprints.median()) if len(samples.footprints) else 0.0
    slots_of_ids = list(range(-1, num_slots))  # ids 0..K: stuff, then one per slot
    instance = samples.slots + 1
    stored_points, stored_ids, reach = [], [], {}
    points = samples.points.numpy()
    for slot in samples.slots.unique().tolist():
        mine = torch.nonzero(samples.slots == slot).squeeze(-1).numpy()
        splittable = split_slots and min_area_fraction > 0 and footprint > 0
        classes = samples.classes[mine].numpy() if splittable else None
        parts = split_slot(points[mine], gap * footprint, min_part, classes) if splittable else None
        if parts is None:
            parts = whole(len(mine))
        if splittable and split_by_masks and samples.segments is not None and samples.views is not None:
            views, segments = samples.views[mine].numpy(), samples.segments[mine].numpy()
            parts = refine_parts(parts, points[mine], views, segments, min_part)
        ids = [slot + 1] + [len(slots_of_ids) + n for n in range(parts.count - 1)]
        slots_of_ids += [slot] * (parts.count - 1)
        # NO_PART (-1) indexes the last entry: a point far from every part of its slot is stuff
        instance[mine] = torch.tensor(ids + [STUFF_INSTANCE])[torch.from_numpy(parts.part)]
        for part, chosen in enumerate(points_per_part(parts, POINTS_PER_PART, seed=slot)):
            kept = torch.from_numpy(points[mine[chosen]])
            stored_points.append(kept)
            stored_ids.append(torch.full((len(chosen),), ids[part], dtype=torch.long))
            all_points = torch.from_numpy(points[mine[parts.part == part]])
            reach[ids[part]] = REACH_FOOTPRINTS * footprint + float(spacing(all_points, kept))
    num_ids = len(slots_of_ids)
    counts = class_counts(instance, samples, num_ids, num_classes)
    areas = class_areas(instance, samples, num_ids, num_classes)
    reaches = unlimited_reach(num_ids)
    for instance_id, value in reach.items():
        reaches[instance_id] = value
    same_as = torch.arange(num_ids)
    if split_slots and split_by_masks and samples.segments is not None and samples.views is not None:
        majority = resolve_instances(counts, 0.0, votes=areas)  # each instance's class; < 0: stuff, the unseen
        views, segments = samples.views.numpy(), samples.segments.numpy()
        same_as = torch.from_numpy(joined_by_masks(instance.numpy(), majority.numpy(), views, segments, num_ids))
        instance = same_as[instance]
        counts = class_counts(instance, samples, num_ids, num_classes)
        areas = class_areas(instance, samples, num_ids, num_classes)
        # A joined instance reaches as far as its farthest-reaching member from its members' stored points.
        reaches = torch.zeros_like(reaches).scatter_reduce_(0, same_as, reaches, "amax")
    keep = torch.arange(num_ids) > num_slots
    if samples.views is not None:
        keep |= views_per_id(instance, samples.views, num_ids) >= MIN_VIEWS
    return InstanceTable(
        classes=resolve_instances(counts, min_area_fraction, keep=keep, votes=areas),
        slots=torch.tensor(slots_of_ids, dtype=torch.long),
        points=torch.cat(stored_points) if stored_points else torch.zeros(0, 3),
        point_ids=torch.cat(stored_ids) if stored_ids else torch.zeros(0, dtype=torch.long),
        reach=reaches,
        same_as=same_as,
    )


def class_counts(instance: Tensor, samples: ViewSamples, num_ids: int, num_classes: int) -> Tensor:
    """[num_ids, num_classes] pixels of each (instance, class); row 0 (stuff) holds the stuff pixels' count in its
    first column: stuff counts in the total area only."""
    counts = torch.bincount(instance * num_classes + samples.classes, minlength=num_ids * num_classes)
    counts = counts.reshape(num_ids, num_classes)
    counts[STUFF_INSTANCE, 0] += samples.stuff_pixels
    return counts


def class_areas(instance: Tensor, samples: ViewSamples, num_ids: int, num_classes: int) -> Tensor:
    """[num_ids, num_classes] the surface area each (instance, class) covers over the views: each pixel weighs its
    footprint squared. An instance's class is the majority of its surface, not of its pixels: a close-up shows a patch
    with many pixels and would outvote the far views of the whole object (one view where the input called a chair's
    side *sofa*, from about a third of the views' usual distance, gave that side of the chair the class sofa)."""
    weights = samples.footprints.double() ** 2
    areas = torch.bincount(instance * num_classes + samples.classes, weights=weights, minlength=num_ids * num_classes)
    return areas.reshape(num_ids, num_classes)


def views_per_id(instance: Tensor, views: Tensor, num_ids: int) -> Tensor:
    """[num_ids] in how many distinct views each instance id has a pixel."""
    seen = torch.zeros(num_ids, int(views.max()) + 1 if len(views) else 1, dtype=torch.bool)
    seen[instance, views] = True
    return seen.sum(dim=1)


def spacing(points: Tensor, kept: Tensor) -> Tensor:
    """How far the stored ``kept`` points leave the instance's ``points`` from them: the REACH_QUANTILE quantile of
    each point's distance to its nearest kept point (large objects keep sparse samples of their surface)."""
    nearest = torch.cat([torch.cdist(chunk, kept).min(dim=1).values for chunk in points.split(4096)])
    return torch.quantile(nearest.double(), REACH_QUANTILE)


def instance_table_over_views(
    model: RendersDistributions,
    cameras: Cameras,
    num_slots: int,
    num_classes: int,
    min_area_fraction: float,
    max_views: int = 48,
    downscale: float = 4,
    split_slots: bool = True,
    masks: Optional[InputMasks] = None,
) -> InstanceTable:
    """The run's instance table over a set of views (see the module's docstring); ``masks``: the views' 2D input,
    to split slots the masks separate."""
    samples = samples_over_views(model, cameras, max_views, downscale, masks=masks)
    return resolve_table(samples, num_slots, num_classes, min_area_fraction, split_slots=split_slots)
