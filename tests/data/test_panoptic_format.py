import json

import numpy as np
import pytest
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import (
    Category,
    ClassTable,
    PanopticFormatError,
    PanopticFrame,
    SegmentInfo,
    ids_to_rgb,
    read_classes,
    read_confidence,
    read_panoptic,
    rgb_to_ids,
    write_classes,
    write_confidence,
    write_panoptic,
)


def _frame(rng: np.random.Generator) -> PanopticFrame:
    ids = rng.choice(np.array([0, 7, 300, 70000, 16_000_000]), size=(9, 11))
    segments = [
        SegmentInfo(7, 3, True, 0.93),
        SegmentInfo(300, 0, False, 1.0),
        SegmentInfo(70000, 3, True, 0.25),
        SegmentInfo(16_000_000, 12, False, 0.5),
    ]
    return PanopticFrame(ids=ids, segments=segments)


def test_id_encoding_is_coco_panoptic():
    ids = np.array([[0, 1, 256, 65536 + 2 * 256 + 3]])
    rgb = ids_to_rgb(ids)
    assert rgb[0, 3].tolist() == [3, 2, 1]  # R + 256 G + 256^2 B
    assert np.array_equal(rgb_to_ids(rgb), ids)


def test_panoptic_round_trip_is_exact(tmp_path):
    frame = _frame(np.random.default_rng(0))
    write_panoptic(tmp_path / "a.png", frame)
    back = read_panoptic(tmp_path / "a.png")
    assert np.array_equal(back.ids, frame.ids)
    assert back.segments == frame.segments
    assert json.loads((tmp_path / "a.json").read_text())["segments_info"][0]["id"] == 7


def test_classes_round_trip_keeps_sparse_ids(tmp_path):
    table = ClassTable([Category(0, "wall", False, (1, 2, 3)), Category(17, "chair", True, (4, 5, 6))])
    write_classes(tmp_path / "c.json", table)
    back = read_classes(tmp_path / "c.json")
    assert back.categories == table.categories
    assert back.index_of(17) == 1 and back.thing_mask.tolist() == [False, True]


def test_confidence_round_trip_within_16_bit_quantisation(tmp_path):
    conf = np.random.default_rng(1).random((5, 6)).astype(np.float32)
    write_confidence(tmp_path / "c.png", conf)
    back = read_confidence(tmp_path / "c.png")
    assert back.dtype == np.float32
    assert np.abs(back - conf).max() <= 0.5 / 65535 + 1e-7
    write_confidence(tmp_path / "d.png", back)
    assert np.array_equal(read_confidence(tmp_path / "d.png"), back)  # exact from the second trip on


def test_id_without_segment_entry_names_file(tmp_path):
    frame = _frame(np.random.default_rng(0))
    frame.segments = frame.segments[1:]
    write_panoptic(tmp_path / "a.png", frame)
    with pytest.raises(PanopticFormatError, match=r"a\.png.*segment id\(s\) 7 .*no entry"):
        read_panoptic(tmp_path / "a.png")


@pytest.mark.parametrize(
    "payload, message",
    [
        ("{not json", "invalid JSON"),
        ('{"segments_info": [{"id": 1, "category_id": "x", "isthing": true}]}', "integer 'category_id'"),
        ('{"segments_info": [{"id": 1, "category_id": 1, "isthing": true, "score": NaN}]}', "non-finite"),
        ('{"segments_info": [{"id": 1, "category_id": 1, "isthing": true}, {"id": 1, "category_id": 1, "isthing": true}]}', "repeats"),
        ('{"segments": []}', "segments_info"),
    ],
)
def test_bad_segments_json_is_a_clear_error(tmp_path, payload, message):
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a.json").write_text(payload)
    with pytest.raises(PanopticFormatError, match=message) as err:
        read_panoptic(tmp_path / "a.png")
    assert "a.json" in str(err.value)


def test_wrong_mode_and_truncated_png_are_clear_errors(tmp_path):
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "gray.png")
    (tmp_path / "gray.json").write_text('{"segments_info": []}')
    with pytest.raises(PanopticFormatError, match="gray.png.*mode L"):
        read_panoptic(tmp_path / "gray.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 9).save(tmp_path / "cut.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "cut.png").read_bytes()[:60])
    (tmp_path / "cut.json").write_text('{"segments_info": []}')
    with pytest.raises(PanopticFormatError, match="cut.png.*unreadable"):
        read_panoptic(tmp_path / "cut.png")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(PanopticFormatError, match="nope.png: missing panoptic mask"):
        read_panoptic(tmp_path / "nope.png")
    with pytest.raises(PanopticFormatError, match="classes.json: missing file"):
        read_classes(tmp_path / "classes.json")
