"""Predictions as panoptic frames of the project's format (COCO panoptic PNG + segments_info).

Ids are scene-wide, so that a user can follow an object through ``pred/`` by its id:
a thing keeps its 3D instance id (1..N, N the run's largest: K without split slots), and
each stuff class gets the id ``N + 1 + dense class index`` (one segment per stuff class and
frame, as the format asks).
"""

from __future__ import annotations

import torch

from panoptic_nerfstudio.data.panoptic_format import ClassTable, PanopticFrame, SegmentInfo
from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticFrameLabels


def stuff_segment_id(dense_index: int, max_instance_id: int) -> int:
    """The scene-wide id of a stuff class's segment: above every 3D instance id."""
    return max_instance_id + 1 + dense_index


def prediction_to_frame(prediction: PanopticFrameLabels, classes: ClassTable, max_instance_id: int) -> PanopticFrame:
    """Encode one frame's labels (category id and 3D instance id per pixel) with scene-wide segment ids; stuff ids
    start above ``max_instance_id``, the largest 3D instance id of the run (``len(model.instance_classes) - 1``)."""
    category = _one_class_per_instance(prediction.category, prediction.instance, classes)
    prediction = PanopticFrameLabels(category, prediction.instance)
    ids = prediction.instance.clone()
    segments = []
    for cid in prediction.category.unique().tolist():
        category = classes.by_id(cid)
        on = prediction.category == cid
        if category.isthing:
            for iid in prediction.instance[on].unique().tolist():
                segments.append(SegmentInfo(int(iid), cid, True, 1.0))
        else:
            sid = stuff_segment_id(classes.index_of(cid), max_instance_id)
            ids[on] = sid
            segments.append(SegmentInfo(sid, cid, False, 1.0))
    return PanopticFrame(ids=ids.numpy(), segments=segments)


def _one_class_per_instance(category: torch.Tensor, instance: torch.Tensor, classes: ClassTable) -> torch.Tensor:
    """Categories with each 3D instance's thing pixels in the frame's majority thing class of that instance: an id is
    one segment. (The run's table already gives each instance it saw one class; one it never saw keeps its pixels'.)"""
    thing_ids = torch.from_numpy(classes.category_ids[classes.thing_mask])
    on_thing = torch.isin(category, thing_ids) & (instance > 0)
    category = category.clone()
    for iid in instance[on_thing].unique().tolist():
        mine = on_thing & (instance == iid)
        values, counts = category[mine].unique(return_counts=True)
        if len(values) > 1:
            category[mine] = values[counts.argmax()]
    return category
