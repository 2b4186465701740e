import json

import numpy as np
import pytest
import torch

from panoptic_nerfstudio.data.frame_decoding import decode_frame
from panoptic_nerfstudio.data.panoptic_format import write_confidence, write_panoptic
from panoptic_nerfstudio.segmentation.backend import ModelPanoptic, ModelSegment
from panoptic_nerfstudio.segmentation.label_map import load_label_map
from panoptic_nerfstudio.segmentation.panoptic_fusion import fuse_panoptic, map_model_panoptic, panoptic_semantics

H, W = 4, 6
WALL, FLOOR, CHAIR, PERSON = 0, 1, 2, 3  # dense indices of the map below
VOID_CHANNEL = 4


@pytest.fixture
def label_map(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(
        json.dumps(
            {
                "categories": [
                    {"id": 7, "name": "wall", "isthing": False},
                    {"id": 8, "name": "floor", "isthing": False},
                    {"id": 3, "name": "chair", "isthing": True},
                    {"id": 4, "name": "person", "isthing": True},
                ],
                "mapping": {"wall-brick": "wall", "wall-other-merged": "wall", "floor-wood": "floor"},
                "unmapped": "void",
            }
        )
    )
    return load_label_map(path)


def distribution(labels: np.ndarray, confidence: float) -> torch.Tensor:
    """[5, H, W]: the label channel holds ``confidence``, the rest of the mass sits on another channel."""
    merged = torch.zeros(VOID_CHANNEL + 1, *labels.shape)
    for k in range(VOID_CHANNEL + 1):
        on = torch.from_numpy(labels == k)
        merged[k][on] = confidence
        merged[(k + 1) % (VOID_CHANNEL + 1)][on] = 1.0 - confidence
    return merged


def by_category(frame, category_id):
    return [s for s in frame.segments if s.category_id == category_id]


def test_stuff_segments_mapped_to_one_class_become_one_segment(label_map):
    ids = np.zeros((H, W), dtype=np.int64)
    ids[:, :3], ids[:, 3:] = 1, 2
    panoptic = ModelPanoptic(ids, [ModelSegment(1, "wall-brick", 0.6), ModelSegment(2, "wall-other-merged", 0.9)])
    frame, confidence = fuse_panoptic(panoptic, distribution(np.full((H, W), WALL), 0.8), label_map)
    assert len(frame.segments) == 1
    wall = frame.segments[0]
    assert (wall.category_id, wall.isthing) == (7, False)
    assert wall.score == pytest.approx(0.9)  # the best model score among the merged segments
    assert np.all(frame.ids == wall.id)
    np.testing.assert_allclose(confidence, 0.8)


def test_thing_pixels_keep_their_instance_only_where_the_classes_agree(label_map):
    ids = np.zeros((H, W), dtype=np.int64)
    ids[:, :2] = 5  # a chair
    ids[:, 2:4] = 6  # a person...
    ids[:, 4:] = 9  # ...and a second chair
    panoptic = ModelPanoptic(ids, [ModelSegment(5, "chair", 0.8), ModelSegment(6, "person", 0.7), ModelSegment(9, "chair", 0.4)])
    labels = np.full((H, W), CHAIR)
    labels[:2, 2:4] = PERSON  # the merged views agree with the person only on its top half
    frame, confidence = fuse_panoptic(panoptic, distribution(labels, 0.75), label_map)

    chairs, people = by_category(frame, 3), by_category(frame, 4)
    assert len(chairs) == 2 and len(people) == 1  # two chair instances stay apart
    assert sorted(s.score for s in chairs) == pytest.approx([0.4, 0.8])
    assert people[0].score == pytest.approx(0.7) and people[0].isthing
    first_chair = frame.ids[0, 0]
    assert np.all(frame.ids[:, :2] == first_chair) and np.all(frame.ids[:, 4:] == frame.ids[0, 4])
    assert first_chair != frame.ids[0, 4]
    assert np.all(frame.ids[:2, 2:4] == people[0].id)
    # bottom half of the person's segment is "chair" after merging: no chair instance there -> void
    assert np.all(frame.ids[2:, 2:4] == 0)
    assert np.all(confidence[2:, 2:4] == 0) and np.allclose(confidence[frame.ids != 0], 0.75)


def test_void_channel_and_uncovered_thing_pixels_are_void_but_stuff_fills_model_void(label_map):
    ids = np.zeros((H, W), dtype=np.int64)  # the model's panoptic output left everything void
    labels = np.full((H, W), FLOOR)
    labels[0] = VOID_CHANNEL
    labels[1] = CHAIR
    frame, confidence = fuse_panoptic(ModelPanoptic(ids, []), distribution(labels, 0.6), label_map)
    assert np.all(frame.ids[:2] == 0)
    assert [(s.category_id, s.isthing) for s in frame.segments] == [(8, False)]
    assert np.all(frame.ids[2:] == frame.segments[0].id)
    # no model segment for floor: the score is the mean confidence over the segment
    assert frame.segments[0].score == pytest.approx(0.6)
    assert np.all(confidence[:2] == 0)


def test_unmapped_model_segments_never_give_instances(label_map):
    ids = np.ones((H, W), dtype=np.int64)
    panoptic = ModelPanoptic(ids, [ModelSegment(1, "car", 0.99)])
    frame, _ = fuse_panoptic(panoptic, distribution(np.full((H, W), CHAIR), 0.9), label_map)
    assert frame.segments == [] and np.all(frame.ids == 0)


def test_model_panoptic_alone_maps_through_the_same_rule(label_map):
    ids = np.zeros((H, W), dtype=np.int64)
    ids[:2] = 1
    ids[2:, :3] = 2
    ids[2:, 3:] = 3
    panoptic = ModelPanoptic(ids, [ModelSegment(1, "wall-brick", 0.9), ModelSegment(2, "chair", 0.8), ModelSegment(3, "car")])
    semantics = panoptic_semantics(panoptic, label_map)
    assert semantics.shape == (VOID_CHANNEL + 1, H, W)
    torch.testing.assert_close(semantics.sum(0), torch.ones(H, W))
    frame, confidence = map_model_panoptic(panoptic, label_map)
    assert sorted((s.category_id, s.isthing, s.score) for s in frame.segments) == [(3, True, 0.8), (7, False, 0.9)]
    assert np.all(frame.ids[2:, 3:] == 0)  # car is unmapped -> void
    assert np.all(confidence[frame.ids != 0] == 1.0)


def test_fused_frames_satisfy_the_format(label_map, tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=(H, W))
    segments = [ModelSegment(1, "chair", 0.8), ModelSegment(2, "person", 0.7), ModelSegment(3, "wall-brick", 0.9),
                ModelSegment(4, "floor-wood", 0.5)]  # fmt: skip
    merged = torch.from_numpy(rng.dirichlet(np.ones(VOID_CHANNEL + 1), size=(H, W))).permute(2, 0, 1).float()
    frame, confidence = fuse_panoptic(ModelPanoptic(ids, segments), merged, label_map)
    write_panoptic(tmp_path / "f.png", frame)
    write_confidence(tmp_path / "c.png", confidence)
    decoded = decode_frame(tmp_path / "f.png", label_map.classes, (W, H), tmp_path / "c.png")
    assert decoded.segment_index.shape == (H, W)
    labelled = frame.ids != 0
    np.testing.assert_allclose(confidence[labelled], merged.max(0).values.numpy()[labelled], atol=1e-6)


def test_shape_mismatches_are_errors(label_map):
    with pytest.raises(ValueError, match="channels"):
        fuse_panoptic(ModelPanoptic(np.zeros((H, W), dtype=np.int64)), torch.zeros(3, H, W), label_map)
    with pytest.raises(ValueError, match="panoptic output"):
        fuse_panoptic(ModelPanoptic(np.zeros((H, W), dtype=np.int64)), torch.zeros(5, H, W + 1), label_map)
