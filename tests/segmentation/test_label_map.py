import json

import pytest
import torch

from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError
from panoptic_nerfstudio.segmentation.label_map import VOID, load_label_map, shipped_label_maps
from tests.segmentation.tiny_mask2former import COCO_NAMES


def index_of(label_map, name):
    return label_map.classes.names.index(name)


def test_shipped_maps():
    assert {"coco133", "indoor21"} <= set(shipped_label_maps())
    coco = load_label_map("coco133")
    assert len(coco.classes) == 133 and int(coco.classes.thing_mask.sum()) == 80
    assert len(set(COCO_NAMES)) == 133
    indoor = load_label_map("indoor21")
    things = {c.name for c in indoor.classes.categories if c.isthing}
    stuff = {c.name for c in indoor.classes.categories if not c.isthing}
    # The paper's benchmark classes (shared/PAPER.md): 9 things, 12 stuff, table and lamp are stuff.
    assert things == {"bed", "chair", "sofa", "refrigerator", "television", "person", "toilet", "sink", "bag"}
    assert stuff == {
        "wall", "floor", "cabinet", "table", "door", "window", "counter", "shelves", "curtain", "ceiling", "lamp",
        "otherprop",
    }  # fmt: skip


def test_coco133_is_the_identity_on_coco_classes():
    coco = load_label_map("coco133")
    assignment = coco.assign(COCO_NAMES)
    assert list(assignment.target) == list(range(133))
    assert assignment.unknown_sources == []


def test_indoor21_maps_renamed_merged_and_unnamed_classes():
    indoor = load_label_map("indoor21")
    assert indoor.target_of("couch") == index_of(indoor, "sofa")
    assert indoor.target_of("chair") == index_of(indoor, "chair")  # same spelling, no entry needed
    assert indoor.target_of("wall-brick") == indoor.target_of("wall-other-merged") == index_of(indoor, "wall")
    assert indoor.target_of("dining table") == index_of(indoor, "table")  # a COCO thing becomes the paper's stuff
    assert indoor.target_of("sky-other-merged") == index_of(indoor, "otherprop")  # unmapped -> the map's "other"
    assert indoor.with_unmapped("void").target_of("sky-other-merged") == VOID
    assert indoor.with_unmapped("void").target_of("couch") == index_of(indoor, "sofa")
    assert indoor.assign(COCO_NAMES).unknown_sources == []  # every mapping key is a COCO class


def test_projection_sums_probabilities_into_categories_and_a_void_channel():
    indoor = load_label_map("indoor21").with_unmapped("void")
    names = ["wall-brick", "wall-other-merged", "chair", "sky-other-merged"]
    assignment = indoor.assign(names)
    scores = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(4, 1, 1).expand(4, 2, 3)
    projected = assignment.project(scores, dim=0)
    assert projected.shape == (22, 2, 3)
    torch.testing.assert_close(projected[index_of(indoor, "wall")], torch.full((2, 3), 0.3))
    torch.testing.assert_close(projected[index_of(indoor, "chair")], torch.full((2, 3), 0.3))
    torch.testing.assert_close(projected[assignment.void_channel], torch.full((2, 3), 0.4))
    torch.testing.assert_close(projected.sum(0), scores.sum(0))
    batched = assignment.project(scores[None].expand(2, 4, 2, 3), dim=1)
    torch.testing.assert_close(batched[1], projected)
    with pytest.raises(ValueError):
        assignment.project(torch.zeros(5, 2, 2))


def write_map(path, **fields):
    payload = {
        "categories": [
            {"id": 3, "name": "Chair", "isthing": True},
            {"id": 7, "name": "wall", "isthing": False},
            {"id": 9, "name": "other", "isthing": False},
        ],
        "mapping": {"wall-brick": "wall", "mirror-stuff": None},
        "unmapped": "other",
    }
    payload.update(fields)
    path.write_text(json.dumps(payload))
    return path


def test_user_map_from_a_file(tmp_path):
    label_map = load_label_map(write_map(tmp_path / "mine.json"))
    names = ["chair ", "wall-brick", "mirror-stuff", "sky"]
    assert list(label_map.assign(names).target) == [0, 1, VOID, 2]  # names compare case/space-insensitively
    assert label_map.classes.by_id(9).name == "other"
    assert label_map.assign(["chair"]).unknown_sources == ["mirror-stuff", "wall-brick"]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"mapping": {"couch": "sofa"}}, "not a category name"),
        ({"mapping": ["couch"]}, '"mapping" must be an object'),
        ({"unmapped": "background"}, "expected 'void' or one of the map's categories"),
        ({"unmapped": 3}, '"unmapped" is 3'),
        ({"categories": []}, "no categories"),
    ],
)
def test_bad_map_files_name_the_file_and_the_problem(tmp_path, fields, message):
    path = write_map(tmp_path / "bad.json", **fields)
    with pytest.raises(PanopticFormatError, match=message) as err:
        load_label_map(path)
    assert err.value.path == path


def test_a_map_for_another_model_is_refused(tmp_path):
    label_map = load_label_map(write_map(tmp_path / "mine.json"))
    with pytest.raises(PanopticFormatError, match="names none of the model's 2 classes"):
        label_map.assign(["sky", "grass"])


def test_unknown_map_name_lists_the_shipped_ones(tmp_path):
    with pytest.raises(PanopticFormatError, match="coco133, indoor21"):
        load_label_map("indoor99")
    with pytest.raises(PanopticFormatError, match="--unmapped"):
        load_label_map("indoor21").with_unmapped("nothing")
