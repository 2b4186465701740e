"""detectron2's panoptic output, built in its exact structure, converted without detectron2 installed."""

import importlib.util

import numpy as np
import pytest
import torch

from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.segmentation.backend import BackendUnavailableError
from panoptic_nerfstudio.segmentation.detectron2_backend import (
    Detectron2Backend,
    Detectron2OutputError,
    panoptic_from_detectron2,
    require_detectron2,
)
from panoptic_nerfstudio.segmentation.label_map import load_label_map
from panoptic_nerfstudio.segmentation.panoptic_fusion import map_model_panoptic
from panoptic_nerfstudio.segmentation.panoptic_writer import prepare_class_table, write_frame
from panoptic_nerfstudio.segmentation.scene_frames import scene_frame_targets
from tests.segmentation.tiny_mask2former import COCO_NAMES

# Mask2Former numbers all 133 COCO classes in one contiguous space (its metadata's stuff_classes).
CHAIR, PERSON, WALL, FLOOR = (COCO_NAMES.index(n) for n in ("chair", "person", "wall-other-merged", "floor-wood"))


def mask2former_output(height: int, width: int):
    """What Mask2Former's panoptic_inference returns: an int32 id map and segments without scores."""
    panoptic_seg = torch.zeros((height, width), dtype=torch.int32)
    panoptic_seg[: height // 2] = 1
    panoptic_seg[height // 2 :, : width // 3] = 2
    panoptic_seg[height // 2 :, width // 3 : 2 * width // 3] = 3
    panoptic_seg[-1, -1] = 0
    segments_info = [
        {"id": 1, "isthing": False, "category_id": WALL},
        {"id": 2, "isthing": True, "category_id": CHAIR},
        {"id": 3, "isthing": True, "category_id": PERSON},
        {"id": 4, "isthing": False, "category_id": FLOOR},  # listed, but no pixel survived
    ]
    return panoptic_seg, segments_info


def test_mask2former_style_output_converts_with_names_and_no_scores():
    panoptic_seg, segments_info = mask2former_output(6, 9)
    converted = panoptic_from_detectron2(panoptic_seg, segments_info, class_names=COCO_NAMES)
    np.testing.assert_array_equal(converted.ids, panoptic_seg.numpy())
    assert converted.ids.dtype == np.int64
    assert [(s.id, s.class_name, s.score) for s in converted.segments] == [
        (1, "wall-other-merged", None),
        (2, "chair", None),
        (3, "person", None),
    ]


def test_panoptic_fpn_style_output_with_separate_thing_classes_scores_and_areas():
    thing_classes = ["person", "chair"]
    stuff_classes = ["things", "wall-other-merged", "floor-wood"]
    panoptic_seg = torch.tensor([[1, 1, 2, 2], [3, 3, 2, 2], [-1, 0, 4, 4]], dtype=torch.int32)
    segments_info = [
        {"id": 1, "isthing": True, "category_id": 1, "score": 0.91, "instance_id": 0},
        {"id": 2, "isthing": True, "category_id": 0, "score": 0.55, "instance_id": 3},
        {"id": 3, "isthing": False, "category_id": 1, "area": 2},
        {"id": 4, "isthing": False, "category_id": 2, "area": 2},
    ]
    converted = panoptic_from_detectron2(panoptic_seg, segments_info, stuff_classes, thing_class_names=thing_classes)
    assert [(s.class_name, s.score) for s in converted.segments] == [
        ("chair", pytest.approx(0.91)),
        ("person", pytest.approx(0.55)),
        ("wall-other-merged", None),
        ("floor-wood", None),
    ]
    assert converted.ids[2, 0] == 0  # -1 marks void in some heads


def test_converted_output_becomes_a_valid_scene(raw_scene):
    label_map = load_label_map("indoor21")
    scene_dir, targets = scene_frame_targets(raw_scene)
    prepare_class_table(scene_dir, label_map.classes, label_map.path, overwrite=False)
    for target in targets:
        height, width = 24, 32
        converted = panoptic_from_detectron2(*mask2former_output(height, width), class_names=COCO_NAMES)
        frame, confidence = map_model_panoptic(converted, label_map)
        write_frame(target, frame, confidence)
    report = validate_scene(raw_scene)
    assert report.ok, report.problems
    assert len(report.frames) == len(targets)
    names = {label_map.classes.by_id(s.category_id).name for s in frame.segments}
    assert names == {"wall", "chair", "person"}


@pytest.mark.parametrize(
    "segments_info, message",
    [
        ([{"id": 1, "isthing": False, "category_id": WALL}], r"segment id\(s\) \[2\] in panoptic_seg have no entry"),
        (
            [{"id": 1, "isthing": False, "category_id": 500}, {"id": 2, "isthing": True, "category_id": CHAIR}],
            "category_id 500, outside the model's 133 classes",
        ),
        (
            [{"id": 1, "isthing": 0, "category_id": WALL}, {"id": 2, "isthing": True, "category_id": CHAIR}],
            "needs a boolean 'isthing'",
        ),
        (
            [{"id": 1, "isthing": False, "category_id": WALL}, {"id": 1, "isthing": True, "category_id": CHAIR}],
            "repeats segment id 1",
        ),
        ([{"id": "1", "isthing": False, "category_id": WALL}], "needs an integer 'id'"),
        ([{"id": 0, "isthing": False, "category_id": WALL}], "0 is void"),
        (None, "segments_info is None"),
    ],
)
def test_broken_outputs_are_refused_with_the_reason(segments_info, message):
    panoptic_seg = torch.tensor([[1, 1], [2, 2]], dtype=torch.int32)
    with pytest.raises(Detectron2OutputError, match=message):
        panoptic_from_detectron2(panoptic_seg, segments_info, COCO_NAMES)


def test_non_integer_maps_are_refused():
    with pytest.raises(Detectron2OutputError, match="integer map"):
        panoptic_from_detectron2(torch.zeros(2, 2), [], COCO_NAMES)


@pytest.mark.skipif(importlib.util.find_spec("detectron2") is not None, reason="detectron2 is installed")
def test_missing_detectron2_says_how_to_install_it(tmp_path):
    with pytest.raises(BackendUnavailableError, match="pip install 'git\\+https://github.com/facebookresearch/detectron2"):
        require_detectron2()
    config = tmp_path / "m2f.yaml"
    config.write_text("MODEL: {}\n")
    with pytest.raises(BackendUnavailableError, match="--backend transformers"):
        Detectron2Backend(config, weights=None)


def test_missing_detectron2_config_is_named(tmp_path):
    with pytest.raises(BackendUnavailableError, match="no such detectron2 config"):
        Detectron2Backend(tmp_path / "nope.yaml", weights=None)
