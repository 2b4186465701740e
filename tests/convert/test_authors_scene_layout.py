"""The authors' layout: conventions, class tables, frame selection, and a clear error for every missing part."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from nerfstudio.cameras.cameras import Cameras, CameraType

from panoptic_nerfstudio.convert.authors_classes import authors_class_table, class_set_for_channels
from panoptic_nerfstudio.convert.authors_scene_import import (
    AuthorsImportConfig,
    import_authors_scene,
    nerfstudio_intrinsics,
    opencv_to_opengl,
    plan_frames,
)
from panoptic_nerfstudio.convert.authors_scene_layout import (
    AuthorsSceneError,
    find_authors_scenes,
    frame_order,
    open_authors_scene,
    probability_channels,
)

PAPER_THINGS = {"bed", "chair", "sofa", "refrigerator", "television", "person", "toilet", "sink", "bag"}


# ----------------------------------------------------------------------------- conventions


def _random_pose(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = q, rng.normal(size=3)
    return pose


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")  # inside nerfstudio's Cameras
@pytest.mark.parametrize("downscale", [1, 2])
def test_nerfstudio_casts_the_rays_their_loader_casts(downscale):
    """Their ray through pixel (i, j): R @ [(i - cx) / fx, (j - cy) / fy, 1] in OpenCV axes. nerfstudio's, from
    the converted camera, through the same pixel centre must point the same way from the same origin."""
    rng = np.random.default_rng(3)
    width, height = 64, 48
    k = np.array([[70.0, 0.0, 31.2], [0.0, 72.0, 24.9], [0.0, 0.0, 1.0]])
    c2w = _random_pose(rng)
    fields = nerfstudio_intrinsics(k, (width, height), (width // downscale, height // downscale))
    camera = Cameras(
        camera_to_worlds=torch.tensor(opencv_to_opengl(c2w)[:3], dtype=torch.float32)[None],
        fx=fields["fl_x"],
        fy=fields["fl_y"],
        cx=fields["cx"],
        cy=fields["cy"],
        width=fields["w"],
        height=fields["h"],
        camera_type=CameraType.PERSPECTIVE,
    )
    rays = camera.generate_rays(camera_indices=0)  # [h, w] through pixel centres
    rows, cols = np.meshgrid(np.arange(fields["h"]), np.arange(fields["w"]), indexing="ij")
    # the centre of a downscaled pixel, in full-size pixel-centre coordinates (their loader's)
    i = (cols + 0.5) * downscale - 0.5
    j = (rows + 0.5) * downscale - 0.5
    local = np.stack([(i - k[0, 2]) / k[0, 0], (j - k[1, 2]) / k[1, 1], np.ones_like(i, dtype=float)], -1)
    theirs = local @ c2w[:3, :3].T
    theirs /= np.linalg.norm(theirs, axis=-1, keepdims=True)
    np.testing.assert_allclose(rays.directions.numpy(), theirs, atol=1e-5)
    np.testing.assert_allclose(rays.origins.numpy()[0, 0], c2w[:3, 3], atol=1e-5)


def test_opencv_to_opengl_keeps_position_and_flips_y_and_z():
    pose = _random_pose(np.random.default_rng(0))
    gl = opencv_to_opengl(pose)
    np.testing.assert_allclose(gl[:, 3], pose[:, 3])
    np.testing.assert_allclose(gl[:3, :3], pose[:3, :3] @ np.diag([1, -1, -1]))
    np.testing.assert_allclose(opencv_to_opengl(gl), pose)


def test_frames_sort_by_number_as_their_loader_sorts():
    assert sorted(["14", "7", "0", "140", "21"], key=frame_order) == ["0", "7", "14", "21", "140"]
    assert sorted(["0_0010", "0_0002"], key=frame_order) == ["0_0002", "0_0010"]
    assert sorted(["b", "3", "a"], key=frame_order) == ["3", "a", "b"]  # mixed names do not crash


# ----------------------------------------------------------------------------- class tables


def test_reduced_classes_are_the_benchmark_set():
    table = authors_class_table("reduced")
    assert len(table) == 21 and [c.id for c in table.categories] == list(range(1, 22))
    assert {c.name for c in table.categories if c.isthing} == PAPER_THINGS
    assert table.by_id(7).name == "table" and not table.by_id(7).isthing  # table is stuff in their set
    assert len({c.color for c in table.categories}) == 21


def test_extended_classes_share_the_first_twenty_and_end_with_otherprop():
    reduced, extended = authors_class_table("reduced"), authors_class_table("extended")
    assert len(extended) == 31
    assert extended.categories[:20] == reduced.categories[:20]
    assert extended.by_id(31).name == "otherprop" and extended.by_id(21).name == "bottle"
    assert len({c.color for c in extended.categories}) == 31


def test_class_set_follows_the_probability_channels(tmp_path):
    assert class_set_for_channels(22) == "reduced" and class_set_for_channels(32) == "extended"
    assert class_set_for_channels(21) is None
    np.savez_compressed(tmp_path / "p.npz", probability=np.zeros((3, 4, 32), np.float32), confidence=np.ones((3, 4)))
    assert probability_channels(tmp_path / "p.npz") == 32


# ----------------------------------------------------------------------------- frames and splits


def test_plan_frames_thins_train_and_held_out_in_proportion(authors_scene):
    splits = {"train": [str(7 * i) for i in (1, 2, 3, 5, 6, 7)], "test": ["0", "28"]}
    (authors_scene / "splits.json").write_text(json.dumps(splits))
    scene = open_authors_scene(authors_scene)
    plan = plan_frames(scene, None)
    assert plan.frames == ["0", "7", "14", "21", "28", "35", "42", "49"]
    assert plan.val == plan.test == ["0", "28"]  # no "val" in ScanNet-style splits: validate on test
    few = plan_frames(scene, 4)
    assert len(few.frames) == 4 and len(few.test) == 1 and len(few.train) == 3
    assert few.train[0] == "7" and few.train[-1] == "49"  # evenly spread over the sequence

    (authors_scene / "splits.json").write_text(json.dumps({"train": [7, 14], "val": [0]}))  # numbers, no test
    scene = open_authors_scene(authors_scene)
    plan = plan_frames(scene, None)
    assert plan.frames == ["0", "7", "14"] and plan.test == plan.val == ["0"]


# ----------------------------------------------------------------------------- errors name the missing part


def _convert(scene, tmp_path, **options):
    out = tmp_path / "out"
    with pytest.raises(AuthorsSceneError) as info:
        import_authors_scene(scene, out, AuthorsImportConfig(**options))
    assert not out.exists() and not list(tmp_path.glob(".*converting")), "nothing half-written"
    return info.value


def _first(scene, folder):
    return sorted((scene / folder).iterdir())[0]


@pytest.mark.parametrize(
    "part, problem",
    [
        ("intrinsic/intrinsic_color.txt", "missing camera intrinsics"),
        ("splits.json", "missing split file"),
        ("m2f_semantics", "missing folder"),
        ("m2f_probabilities", "missing folder"),
        ("rs_instance", "ground truth needs both"),
    ],
)
def test_missing_scene_part_is_named(authors_scene, tmp_path, part, problem):
    path = authors_scene / part
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    error = _convert(authors_scene, tmp_path)
    assert error.path == path and problem in str(error)


@pytest.mark.parametrize(
    "folder, problem",
    [
        ("pose", "missing camera pose"),
        ("m2f_instance", "missing Mask2Former instance mask"),
        ("rs_semantics", "missing ground-truth class mask"),
        ("m2f_probabilities", "missing probability"),
    ],
)
def test_missing_frame_file_is_named(authors_scene, tmp_path, folder, problem):
    victim = _first(authors_scene, folder)
    victim.unlink()
    error = _convert(authors_scene, tmp_path)
    assert error.path == victim and problem in str(error)


def test_splits_naming_an_unknown_frame(authors_scene, tmp_path):
    (authors_scene / "splits.json").write_text(json.dumps({"train": ["7", "999"], "test": ["0"]}))
    error = _convert(authors_scene, tmp_path)
    assert error.path.name == "splits.json" and "999" in str(error)


def test_notta_without_confidence_notta(authors_scene, tmp_path):
    npz = _first(authors_scene, "m2f_probabilities")
    data = dict(np.load(npz))
    del data["confidence_notta"]
    np.savez_compressed(npz, **data)
    error = _convert(authors_scene, tmp_path, confidence="notta")
    assert error.path == npz and "confidence_notta" in str(error) and "--confidence tta" in str(error)


def test_class_beyond_the_label_set(authors_scene, tmp_path):
    mask = _first(authors_scene, "m2f_semantics")
    labels = np.asarray(Image.open(mask)).copy()
    labels[0, 0] = 27
    Image.fromarray(labels).save(mask)
    error = _convert(authors_scene, tmp_path)
    assert error.path == mask and "class 27" in str(error) and "--class-set" in str(error)


def test_unknown_probability_channels_need_an_explicit_class_set(authors_scene, tmp_path):
    for npz in (authors_scene / "m2f_probabilities").iterdir():
        data = dict(np.load(npz))
        data["probability"] = data["probability"][..., :10]
        np.savez_compressed(npz, **data)
    error = _convert(authors_scene, tmp_path)
    assert "10 channels" in str(error) and "--class-set" in str(error)
    import_authors_scene(authors_scene, tmp_path / "explicit", AuthorsImportConfig(class_set="reduced"))


def test_non_finite_pose(authors_scene, tmp_path):
    pose = _first(authors_scene, "pose")
    pose.write_text("inf inf inf inf\n" * 3 + "0 0 0 1\n")  # ScanNet marks lost tracking this way
    error = _convert(authors_scene, tmp_path)
    assert error.path == pose and "non-finite" in str(error)


def test_intrinsics_for_another_image_size(authors_scene, tmp_path):
    path = authors_scene / "intrinsic" / "intrinsic_color.txt"
    path.write_text("1170.2 0 647.8 0\n0 1170.2 483.8 0\n0 0 1 0\n0 0 0 1\n")  # ScanNet's 1296x968 K
    error = _convert(authors_scene, tmp_path)
    assert error.path == path and "another image size" in str(error)


def test_unreadable_label_image(authors_scene, tmp_path):
    mask = _first(authors_scene, "rs_semantics")
    mask.write_bytes(b"not a png")
    error = _convert(authors_scene, tmp_path)
    assert error.path == mask and "unreadable ground-truth class mask" in str(error)


def test_folder_without_any_scene(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(AuthorsSceneError, match="not a Panoptic Lifting scene"):
        find_authors_scenes(tmp_path / "empty")


def test_scenes_are_found_below_a_data_folder(authors_scene_master, tmp_path):
    shutil.copytree(authors_scene_master.root, tmp_path / "data" / "scannet" / "scene0423_02")
    shutil.copytree(authors_scene_master.root, tmp_path / "data" / "replica" / "room_0")
    found = find_authors_scenes(tmp_path / "data")
    assert [p.relative_to(tmp_path / "data").as_posix() for p in found] == ["replica/room_0", "scannet/scene0423_02"]
    assert find_authors_scenes(found[0]) == [found[0]]
