"""The labeled PLY: labels and class names survive, and Open3D, trimesh and plyfile all read it."""

import numpy as np
import pytest
from plyfile import PlyData

from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError
from panoptic_nerfstudio.export.labeled_ply import read_labeled_ply, write_labeled_ply
from tests.export.labeled_cloud import CLASSES, cloud


@pytest.fixture(params=[True, False], ids=["binary", "ascii"])
def ply_path(request, tmp_path):
    path = tmp_path / "cloud.ply"
    write_labeled_ply(path, cloud(), CLASSES, extra_comments=["frame test"], binary=request.param)
    return path


def test_round_trip_keeps_points_labels_and_class_table(ply_path):
    points, classes = read_labeled_ply(ply_path)
    expected = cloud()
    np.testing.assert_array_equal(points.positions, expected.positions)
    np.testing.assert_array_equal(points.colors, expected.colors)
    np.testing.assert_array_equal(points.class_ids, expected.class_ids)
    np.testing.assert_array_equal(points.instance_ids, expected.instance_ids)
    np.testing.assert_allclose(points.confidence, expected.confidence, rtol=1e-6)
    assert classes.categories == CLASSES.categories  # names with spaces, thing flags and colors included


def test_plyfile_sees_label_properties_and_class_names_in_the_header(ply_path):
    ply = PlyData.read(str(ply_path))
    names = [p.name for p in ply["vertex"].properties]
    assert names[:6] == ["x", "y", "z", "red", "green", "blue"]
    assert {"class_id", "instance_id", "confidence"} <= set(names)
    assert ply["vertex"].count == len(cloud())
    header = "\n".join(ply.comments)
    assert all(f'"name": "{c.name}"' in header for c in CLASSES.categories) and "frame test" in header
    assert set(np.unique(ply["vertex"]["instance_id"]).tolist()) == {0, 3, 5, 8, 9}


def _open3d():
    """open3d comes with nerfstudio; its wheel needs the system's libusb-1.0 (.ci/run installs it)."""
    try:
        import open3d
    except ImportError as error:
        pytest.skip(f"open3d is installed but cannot load ({error}); apt-get install libusb-1.0-0")
    return open3d


def test_open3d_reads_it_as_a_colored_point_cloud(ply_path):
    o3d = _open3d()
    pcd = o3d.io.read_point_cloud(str(ply_path))
    expected = cloud()
    assert len(pcd.points) == len(expected)
    np.testing.assert_allclose(np.asarray(pcd.points), expected.positions, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pcd.colors), expected.colors / 255.0, atol=1e-6)


def test_trimesh_reads_it_as_a_colored_point_cloud_with_labels(ply_path):
    import trimesh
    loaded = trimesh.load(str(ply_path))
    expected = cloud()
    assert isinstance(loaded, trimesh.PointCloud)
    np.testing.assert_allclose(loaded.vertices, expected.positions, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(loaded.colors)[:, :3], expected.colors)
    raw = loaded.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_array_equal(raw["instance_id"].reshape(-1), expected.instance_ids)


def test_a_ply_without_labels_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "plain.ply"
    vertices = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    from plyfile import PlyElement

    PlyData([PlyElement.describe(vertices, "vertex")]).write(str(path))
    with pytest.raises(PanopticFormatError, match="plain.ply.*class_id"):
        read_labeled_ply(path)
    (tmp_path / "junk.ply").write_bytes(b"not a ply at all")
    with pytest.raises(PanopticFormatError, match="junk.ply"):
        read_labeled_ply(tmp_path / "junk.ply")
