"""Predictions as panoptic frames of the project's format (COCO panoptic PNG + segments_info).

Ids are scene-wide, so that a user can follow an object through ``pred/`` by its id:
a thing keeps its 3D instance id (1..N, N the run's largest: K without split slots), and
each stuff class gets the id ``N + 1 + dense class index`` (one segment per stuff class and
frame, as the format asks).
"""

from __future__ import annotations

from panoptic_nerfstudio.data.panoptic_format import ClassTable, PanopticFrame, SegmentInfo
from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticFrameLabels


def stuff_segment_id(dense_index: int, max_instance_id: int) -> int:
    """The scene-wide id of a stuff class's segment: above every 3D instance id."""
    return max_instance_id + 1 + dense_index


def prediction_to_frame(prediction: PanopticFrameLabels, classes: ClassTable, max_instance_id: int) -> PanopticFrame:
    """Encode one frame's labels (category id and 3D instance id per pixel) with scene-wide segment ids; stuff ids
    start above ``max_instance_id``, the largest 3D instance id of the run (``len(model.instance_classes) - 1``)."""
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
