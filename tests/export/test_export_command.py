"""``ns-panoptic export pointcloud|instances`` on a trained tiny model, and its errors."""

import json

import numpy as np
import pytest
import yaml

from nerfstudio.configs.method_configs import method_configs

from panoptic_nerfstudio.cli.export_command import POINT_CLOUD_PLY, ExportInstances, ExportPointCloud
from panoptic_nerfstudio.export.instance_export import INSTANCES_JSON
from panoptic_nerfstudio.export.labeled_ply import read_labeled_ply
from tests.console_scripts import run_tool

SAMPLING = ["--max-views", "3", "--num-rays", "3000", "--seed", "1"]


@pytest.mark.slow
def test_pointcloud_and_instances_of_a_trained_model(tiny_trained_config, tmp_path):
    run_tool(["ns-panoptic", "export", "pointcloud", "--load-config", tiny_trained_config,
              "--output-dir", tmp_path / "cloud", *SAMPLING])
    points, classes = read_labeled_ply(tmp_path / "cloud" / POINT_CLOUD_PLY)
    assert 0 < len(points) <= 3000 and classes.names  # the class table travels in the header
    assert set(np.unique(points.class_ids).tolist()) <= {c.id for c in classes.categories}
    thing_ids = [c.id for c in classes.categories if c.isthing]
    # the inference rule: a point has a 3D instance exactly where its class is a thing
    assert np.array_equal(points.instance_ids > 0, np.isin(points.class_ids, thing_ids))

    run_tool(["ns-panoptic", "export", "instances", "--load-config", tiny_trained_config,
              "--output-dir", tmp_path / "instances", "--min-points", "1", *SAMPLING])
    payload = json.loads((tmp_path / "instances" / INSTANCES_JSON).read_text())
    assert sorted(e["file"] for e in payload["instances"]) == sorted(p.name for p in (tmp_path / "instances").glob("*.ply"))
    for entry in payload["instances"]:
        own, _ = read_labeled_ply(tmp_path / "instances" / entry["file"])
        # the same views and rays: each instance file holds exactly that instance's points of the whole cloud
        assert entry["points"] == len(own) == int((points.instance_ids == entry["id"]).sum())
        np.testing.assert_allclose(entry["aabb"]["min"], own.positions.min(axis=0), rtol=1e-5)
    assert sum(e["points"] for e in payload["instances"]) == int((points.instance_ids > 0).sum())


def test_a_config_of_another_method_is_refused_naming_it(tmp_path, capsys):
    config = method_configs["nerfacto"]
    config_path = tmp_path / "config.yml"
    config_path.write_text(yaml.dump(config))
    assert ExportPointCloud(load_config=config_path, output_dir=tmp_path / "out").main() == 1
    message = capsys.readouterr().out
    assert str(config_path) in message.replace("\n", "") and "nerfacto" in message
    assert not (tmp_path / "out").exists()


def test_a_missing_config_is_named(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "config.yml"
    assert ExportInstances(load_config=missing, output_dir=tmp_path / "out").main() == 1
    assert "no such file" in capsys.readouterr().out
