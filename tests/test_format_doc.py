"""Keeps docs/format.md honest: its worked example is rebuilt with the project's writer and read back.

The example's values are parsed from the page itself (the blocks after ``<!-- example:NAME -->`` markers), so
changing the format without updating the page, or the page without the format, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
from PIL import Image

from panoptic_nerfstudio.data.frame_decoding import decode_frame
from panoptic_nerfstudio.data.panoptic_format import (
    Category,
    ClassTable,
    PanopticFrame,
    SegmentInfo,
    ids_to_rgb,
    read_classes,
    read_confidence,
    read_panoptic,
    rgb_to_ids,
    write_classes,
    write_panoptic,
)
from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticFrameLabels
from panoptic_nerfstudio.evaluation.prediction_encoding import prediction_to_frame
from panoptic_nerfstudio.segmentation.panoptic_writer import write_frame
from panoptic_nerfstudio.segmentation.scene_frames import FrameTarget

DOC = Path(__file__).resolve().parents[1] / "docs" / "format.md"
STEM = "frame_00001"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _block(doc: str, name: str) -> str:
    """Body of the fenced block right after ``<!-- example:name -->``."""
    match = re.search(rf"<!-- example:{re.escape(name)} -->\s*```\w*\n(.*?)```", doc, re.DOTALL)
    assert match, f"docs/format.md has no fenced block after <!-- example:{name} -->"
    return match.group(1)


def _grid(doc: str, name: str, dtype=np.int64) -> np.ndarray:
    rows = [line.split() for line in _block(doc, name).strip().splitlines()]
    return np.array(rows, dtype=np.float64).astype(dtype)


def _table(doc: str, name: str) -> List[Dict[str, str]]:
    """Rows of the markdown table right after ``<!-- example:name -->``, as {header: cell}."""
    match = re.search(rf"<!-- example:{re.escape(name)} -->\s*\n((?:\|.*\n)+)", doc)
    assert match, f"docs/format.md has no table after <!-- example:{name} -->"
    lines = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in match.group(1).splitlines()]
    header, body = lines[0], lines[2:]  # lines[1] is the |---| separator
    return [dict(zip(header, row)) for row in body]


def _pixel(cell: str):
    row, col = (int(v) for v in re.fullmatch(r"\((\d+), (\d+)\)", cell).groups())
    return row, col


def _classes(doc: str) -> ClassTable:
    data = json.loads(_block(doc, "classes"))
    return ClassTable([Category(c["id"], c["name"], c["isthing"], tuple(c["color"])) for c in data["categories"]])


def _segments(doc: str, name: str) -> List[SegmentInfo]:
    data = json.loads(_block(doc, name))
    return [SegmentInfo(s["id"], s["category_id"], s["isthing"], s.get("score", 1.0)) for s in data["segments_info"]]


def _write_example(doc: str, scene: Path) -> None:
    """The worked example as a scene, written by the project's writers (as ``ns-panoptic segment`` does)."""
    ids = _grid(doc, "ids")
    write_classes(scene / "panoptic_classes.json", _classes(doc))
    target = FrameTarget(
        scene / "images" / f"{STEM}.png", scene / "panoptic" / f"{STEM}.png", scene / "confidence" / f"{STEM}.png"
    )
    write_frame(target, PanopticFrame(ids, _segments(doc, "segments_info")), _grid(doc, "confidence", np.float64))
    height, width = ids.shape
    target.image.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 128, dtype=np.uint8)).save(target.image)
    transforms = {
        "camera_model": "OPENCV",
        "fl_x": 4.0, "fl_y": 4.0, "cx": width / 2, "cy": height / 2, "w": width, "h": height,
        "frames": [{"file_path": f"images/{STEM}.png", "transform_matrix": np.eye(4).tolist()}],
    }
    (scene / "transforms.json").write_text(json.dumps(transforms))


def test_worked_example_reads_back_as_documented(doc, tmp_path):
    scene = tmp_path / "scene"
    _write_example(doc, scene)
    ids = _grid(doc, "ids")
    assert ids.shape == (3, 4), "the example is a 4 x 3 frame"

    # class table and segments_info: the files hold exactly the documented JSON, and read back to it
    assert json.loads((scene / "panoptic_classes.json").read_text()) == json.loads(_block(doc, "classes"))
    assert read_classes(scene / "panoptic_classes.json") == _classes(doc)
    assert json.loads((scene / "panoptic" / f"{STEM}.json").read_text()) == json.loads(_block(doc, "segments_info"))
    frame = read_panoptic(scene / "panoptic" / f"{STEM}.png")
    np.testing.assert_array_equal(frame.ids, ids)
    assert frame.segments == _segments(doc, "segments_info")

    # the bytes of the PNG, pixel by pixel as the table gives them
    with Image.open(scene / "panoptic" / f"{STEM}.png") as img:
        assert img.mode == "RGB" and img.size == (4, 3)
        rgb = np.asarray(img)
    np.testing.assert_array_equal(rgb_to_ids(rgb), ids)
    rows = _table(doc, "pixels")
    assert len(rows) >= 2
    for row in rows:
        r, c = _pixel(row["pixel (row, col)"])
        sid, red, green, blue = (int(row[k]) for k in ("segment id", "R", "G", "B"))
        assert ids[r, c] == sid
        assert tuple(int(v) for v in rgb[r, c]) == (red, green, blue)
        assert red + 256 * green + 256**2 * blue == sid
        assert tuple(int(v) for v in ids_to_rgb(np.array(sid))) == (red, green, blue)

    # confidence: the stored 16-bit integers, one pixel in detail, and the fallback to segment scores
    with Image.open(scene / "confidence" / f"{STEM}.png") as img:
        assert img.mode == "I;16"
        stored = np.asarray(img).astype(np.int64)
    np.testing.assert_array_equal(stored, _grid(doc, "confidence-stored"))
    confidence = read_confidence(scene / "confidence" / f"{STEM}.png")
    np.testing.assert_array_equal(confidence, (stored / 65535).astype(np.float32))
    written = _grid(doc, "confidence", np.float64)
    for row in _table(doc, "confidence-pixel"):
        r, c = _pixel(row["pixel (row, col)"])
        assert written[r, c] == float(row["confidence written"])
        assert float(row["confidence written"]) * 65535 == float(row["c · 65535"])
        assert stored[r, c] == int(row["stored 16-bit value"])
        assert f"{float(confidence[r, c]):.7f}" == row["read back (v / 65535, float32)"]

    classes = read_classes(scene / "panoptic_classes.json")
    without_confidence = decode_frame(scene / "panoptic" / f"{STEM}.png", classes, (4, 3))
    np.testing.assert_allclose(
        without_confidence.confidence.astype(np.float64), _grid(doc, "confidence-from-scores", np.float64), atol=1e-3
    )
    decoded = decode_frame(scene / "panoptic" / f"{STEM}.png", classes, (4, 3), scene / "confidence" / f"{STEM}.png")
    np.testing.assert_allclose(decoded.confidence.astype(np.float64), written, atol=1e-3)
    prose = re.search(r"into (\d+) segments, (\d+) of them things.*?and (\d+) void pixel", doc, re.S)
    segments, things, void = (int(v) for v in prose.groups())
    assert (len(decoded.segment_ids) - 1, decoded.num_things, int((decoded.segment_index == 0).sum())) == (
        segments,
        things,
        void,
    )


def test_worked_example_scene_validates(doc, tmp_path):
    scene = tmp_path / "scene"
    _write_example(doc, scene)
    report = validate_scene(scene)
    assert report.ok, report.problems
    assert report.confidence_frames == 1 and len(report.frames) == 1
    stats = report.frames[0]
    void_fraction = float(re.search(r"void fraction (\d\.\d+)", doc).group(1))
    assert (stats.segments, stats.things, round(stats.void_fraction, 3)) == (4, 2, void_fraction)


def test_prediction_example_matches_eval_encoding(doc, tmp_path):
    num_slots = int(re.search(r"K = (\d+), no split slot, so N = K \(wall", doc).group(1))
    labels = PanopticFrameLabels(
        torch.from_numpy(_grid(doc, "prediction-categories")), torch.from_numpy(_grid(doc, "prediction-instances"))
    )
    frame = prediction_to_frame(labels, _classes(doc), num_slots)
    path = tmp_path / "pred" / f"{STEM}.png"
    write_panoptic(path, frame)  # as ns-panoptic eval writes pred/<stem>.png
    read = read_panoptic(path)
    np.testing.assert_array_equal(read.ids, _grid(doc, "prediction-ids"))
    documented = json.loads(_block(doc, "prediction-segments_info"))["segments_info"]
    key = lambda s: s["id"]  # noqa: E731
    assert sorted(json.loads(path.with_suffix(".json").read_text())["segments_info"], key=key) == sorted(
        documented, key=key
    )
