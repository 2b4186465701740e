"""instances export: one PLY per 3D instance, and an instances.json that agrees with the files."""

import json

import numpy as np

from panoptic_nerfstudio.export.instance_export import INSTANCES_JSON, instance_filename, write_instances
from panoptic_nerfstudio.export.labeled_ply import read_labeled_ply
from tests.export.labeled_cloud import CLASSES, cloud


def test_one_file_per_instance_named_by_majority_class_and_id(tmp_path):
    result = write_instances(tmp_path, cloud(), CLASSES, min_points=3)
    files = sorted(p.name for p in tmp_path.glob("*.ply"))
    assert files == ["chair_3.ply", "chair_5.ply", "dining-table_8.ply"]  # 8: 60 table + 4 chair points
    assert [r.id for r in result.skipped] == [9]  # 2 points < min_points


def test_instances_json_agrees_with_the_plys(tmp_path):
    write_instances(tmp_path, cloud(), CLASSES, min_points=3, extra_json={"frame": "test"})
    payload = json.loads((tmp_path / INSTANCES_JSON).read_text())
    assert payload["frame"] == "test" and [c["name"] for c in payload["classes"]] == CLASSES.names
    assert len(payload["instances"]) == len(list(tmp_path.glob("*.ply")))
    source = cloud()
    for entry in payload["instances"]:
        points, classes = read_labeled_ply(tmp_path / entry["file"])
        assert entry["points"] == len(points) == int((source.instance_ids == entry["id"]).sum())
        assert (points.instance_ids == entry["id"]).all()
        assert classes.by_id(entry["class_id"]).name == entry["class"]
        np.testing.assert_allclose(entry["aabb"]["min"], points.positions.min(axis=0), rtol=1e-6)
        np.testing.assert_allclose(entry["aabb"]["max"], points.positions.max(axis=0), rtol=1e-6)
    table = next(e for e in payload["instances"] if e["id"] == 8)
    assert table["class"] == "dining table" and table["class_id"] == 7 and table["points"] == 64
    assert payload["skipped"] == [
        {"id": 9, "class_id": 3, "class": "chair", "points": 2, "aabb": payload["skipped"][0]["aabb"]}
    ]
    assert not (tmp_path / "chair_9.ply").exists()


def test_stuff_only_cloud_writes_an_empty_instance_list(tmp_path):
    source = cloud()
    stuff = source.select(source.instance_ids == 0)
    result = write_instances(tmp_path, stuff, CLASSES)
    assert result.written == [] and json.loads((tmp_path / INSTANCES_JSON).read_text())["instances"] == []


def test_file_names_are_safe():
    assert instance_filename("dining table", 4) == "dining-table_4.ply"
    assert instance_filename("tv/monitor", 12) == "tv-monitor_12.ply"
    assert instance_filename("///", 1) == "class_1.ply"
