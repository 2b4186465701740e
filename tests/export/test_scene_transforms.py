"""The exported scene's transforms.json: the source's poses and camera, intrinsics scaled, split lists kept."""

import pytest

from panoptic_nerfstudio.export.scene_transforms import EXPORT_KEY, exported_transforms

POSE = [[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 0.0, 1.0]]


def source(per_frame_intrinsics=False):
    meta = {"camera_model": "OPENCV", "k1": 0.1, "applied_transform": [[1, 0, 0, 0]], "ply_file_path": "x.ply"}
    camera = {"fl_x": 100.0, "fl_y": 110.0, "cx": 80.0, "cy": 60.0, "w": 160, "h": 120}
    frames = []
    for n in range(3):
        frame = {"file_path": f"./images/frame_{n}.png", "transform_matrix": POSE, "mask_path": f"masks/{n}.png",
                 "panoptic_file_path": f"panoptic/frame_{n}.png"}
        frames.append({**frame, **camera} if per_frame_intrinsics else frame)
    meta["frames"] = frames
    if not per_frame_intrinsics:
        meta.update(camera)
    meta["train_filenames"] = ["images/frame_0.png", "images/frame_1.png"]
    meta["val_filenames"] = ["images/frame_2.png"]
    return meta


@pytest.mark.parametrize("per_frame", [False, True], ids=["scene-intrinsics", "frame-intrinsics"])
def test_intrinsics_are_divided_and_poses_kept(per_frame):
    meta = source(per_frame)
    written = [(f, f"images/frame_{n}.png", (80, 60)) for n, f in enumerate(meta["frames"])]
    out, dropped = exported_transforms(meta, written, 2, {"split": "all"})
    camera = out["frames"][0] if per_frame else out
    assert (camera["fl_x"], camera["fl_y"], camera["cx"], camera["cy"], camera["w"], camera["h"]) == (50, 55, 40, 30, 80, 60)
    assert out["k1"] == 0.1 and out["camera_model"] == "OPENCV" and out["applied_transform"] == [[1, 0, 0, 0]]
    assert [f["transform_matrix"] for f in out["frames"]] == [POSE] * 3
    assert "ply_file_path" not in out and all("mask_path" not in f and "panoptic_file_path" not in f for f in out["frames"])
    assert not dropped and out["train_filenames"] == ["images/frame_0.png", "images/frame_1.png"]
    assert out["val_filenames"] == ["images/frame_2.png"] and out[EXPORT_KEY] == {"split": "all"}
    assert meta["frames"][0]["file_path"] == "./images/frame_0.png"  # the source is left as it was


def test_split_lists_are_dropped_when_the_export_leaves_one_empty():
    meta = source()
    written = [(f, f"images/frame_{n}.png", (160, 120)) for n, f in enumerate(meta["frames"][:2])]
    out, dropped = exported_transforms(meta, written, 1, {})
    assert dropped and "train_filenames" not in out and "val_filenames" not in out
    assert [f["file_path"] for f in out["frames"]] == ["images/frame_0.png", "images/frame_1.png"]
    assert out["fl_x"] == 100.0 and out["w"] == 160
