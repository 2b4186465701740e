"""Round trip: demo scene -> the authors' layout -> ``import_authors_scene`` -> the same scene in our format."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panoptic_nerfstudio.convert.authors_classes import authors_class_table
from panoptic_nerfstudio.convert.authors_labels import ground_truth_frame, machine_frame
from panoptic_nerfstudio.convert.authors_scene_import import IMPORT_MARKER, AuthorsImportConfig, import_authors_scene
from panoptic_nerfstudio.convert.authors_scene_layout import read_invalid
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.panoptic_format import PanopticFrame, read_classes, read_confidence, read_panoptic
from panoptic_nerfstudio.data.validation import validate_scene
from tests.convert.authors_layout import DEMO_TO_AUTHORS, INVALID_COLUMNS

CLASSES = authors_class_table("reduced")


def _categories(frame: PanopticFrame) -> np.ndarray:
    table = {0: 0, **{s.id: s.category_id for s in frame.segments}}
    return np.vectorize(table.__getitem__)(frame.ids)


def assert_same_segments(original: np.ndarray, converted: np.ndarray) -> None:
    """The two id maps split the pixels into the same segments (ids may differ), with void on the same pixels."""
    np.testing.assert_array_equal(original == 0, converted == 0)
    pairs = np.unique(np.stack([original.ravel(), converted.ravel()]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1])), "segments split or merged"


def _demo_frame(demo: Path, layer: str, stem: str) -> PanopticFrame:
    return read_panoptic(demo / layer / f"{stem}.png")


# ----------------------------------------------------------------------------- the converted scene


def test_converted_scene_is_valid(converted_master, authors_scene_master):
    report = validate_scene(converted_master)
    assert report.ok, report.problems
    frames = len(authors_scene_master.names)
    assert report.total_frames == frames and report.ground_truth_frames == frames and report.confidence_frames == frames
    assert read_classes(converted_master / "panoptic_classes.json").categories == CLASSES.categories
    assert json.loads((converted_master / "transforms.json").read_text())[IMPORT_MARKER]["confidence"] == "tta"


def test_cameras_and_splits_equal_the_demo_scene(converted_master, authors_scene_master, tiny_scene_master):
    ours = json.loads((converted_master / "transforms.json").read_text())
    demo = json.loads((tiny_scene_master / "transforms.json").read_text())
    for key in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
        assert ours[key] == pytest.approx(demo[key], abs=1e-9), key
    demo_poses = {Path(f["file_path"]).stem: np.array(f["transform_matrix"]) for f in demo["frames"]}
    assert len(ours["frames"]) == len(demo_poses)
    for frame in ours["frames"]:
        stem = authors_scene_master.demo_stems[Path(frame["file_path"]).stem]
        np.testing.assert_allclose(frame["transform_matrix"], demo_poses[stem], atol=1e-9)

    def stems(key, meta, rename=lambda s: s):
        return sorted(rename(Path(p).stem) for p in meta[key])

    for key in ("train_filenames", "val_filenames", "test_filenames"):
        assert stems(key, ours, authors_scene_master.demo_stems.__getitem__) == stems(key, demo), key


@pytest.mark.parametrize("split", ["train", "test"])
def test_nerfstudio_sees_the_same_cameras(converted_master, tiny_scene_master, split):
    """Through nerfstudio's own parser (orientation, centring and scaling included) the cameras agree."""
    converted = PanopticDataParserConfig(data=converted_master).setup().get_dataparser_outputs(split)
    original = PanopticDataParserConfig(data=tiny_scene_master).setup().get_dataparser_outputs(split)
    assert len(converted.image_filenames) == len(original.image_filenames) > 0
    for attr in ("fx", "fy", "cx", "cy", "width", "height"):
        np.testing.assert_allclose(getattr(converted.cameras, attr).numpy(), getattr(original.cameras, attr).numpy())
    # frames come in file-name order, which differs between the two scenes: pair them by camera position
    position = lambda c2w: tuple(np.round(c2w[:, 3].numpy(), 4))  # noqa: E731
    ours = sorted(converted.cameras.camera_to_worlds, key=position)
    theirs = sorted(original.cameras.camera_to_worlds, key=position)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_ground_truth_ids_equal_the_original_scene_wide(converted_master, authors_scene_master, tiny_scene_master):
    """One partition over all frames at once: an object keeps one id everywhere, and classes map one to one."""
    original, converted = [], []
    for name in authors_scene_master.names:
        stem = authors_scene_master.demo_stems[name]
        a = _demo_frame(tiny_scene_master, "gt_panoptic", stem)
        b = read_panoptic(converted_master / "gt_panoptic" / f"{name}.png")
        mapped = np.vectorize(lambda c: DEMO_TO_AUTHORS.get(c, 0))(_categories(a))
        np.testing.assert_array_equal(mapped, _categories(b))
        original.append(a.ids.ravel())
        converted.append(b.ids.ravel())
    assert_same_segments(np.concatenate(original), np.concatenate(converted))


def test_machine_masks_keep_their_segments_with_invalid_pixels_void(
    converted_master, authors_scene_master, tiny_scene_master
):
    assert authors_scene_master.invalid_frames
    for name in authors_scene_master.names:
        stem = authors_scene_master.demo_stems[name]
        a = _demo_frame(tiny_scene_master, "panoptic", stem)
        b = read_panoptic(converted_master / "panoptic" / f"{name}.png")
        invalid = np.zeros(a.ids.shape, dtype=bool)
        if name in authors_scene_master.invalid_frames:
            invalid = read_invalid(authors_scene_master.root / "invalid" / f"{name}.jpg")
            assert invalid.sum() == INVALID_COLUMNS * a.ids.shape[0] and invalid[:, :INVALID_COLUMNS].all()
        expected = np.where(invalid, 0, a.ids)
        assert_same_segments(expected, b.ids)
        mapped = np.vectorize(lambda c: DEMO_TO_AUTHORS.get(c, 0))(_categories(a))
        np.testing.assert_array_equal(np.where(invalid, 0, mapped), _categories(b))
        assert sorted(b.segment_table()) == list(range(1, len(b.segments) + 1)), "per-frame ids 1..n"
        stuff = [s.category_id for s in b.segments if not s.isthing]
        assert len(stuff) == len(set(stuff)), "one segment per stuff class"

        confidence = read_confidence(converted_master / "confidence" / f"{name}.png")
        demo_confidence = read_confidence(tiny_scene_master / "confidence" / f"{stem}.png")
        np.testing.assert_allclose(confidence, np.where(b.ids == 0, 0.0, demo_confidence), atol=1.5 / 65535)
        for segment in b.segments:
            assert segment.score == pytest.approx(confidence[b.ids == segment.id].mean(), abs=1e-4)


def test_images_are_copied_unchanged(converted_master, authors_scene_master):
    for name in authors_scene_master.names:
        assert (converted_master / "images" / f"{name}.jpg").read_bytes() == (
            authors_scene_master.root / "color" / f"{name}.jpg"
        ).read_bytes()


# ----------------------------------------------------------------------------- options


def test_notta_uses_the_confidence_and_masks_without_augmentation(authors_scene, authors_scene_master, tmp_path):
    name = authors_scene_master.names[2]
    for folder in ("semantics", "instance"):
        shutil.copytree(authors_scene / f"m2f_{folder}", authors_scene / f"m2f_notta_{folder}")
    semantics = np.asarray(Image.open(authors_scene / "m2f_notta_semantics" / f"{name}.png"))
    Image.fromarray(np.full_like(semantics, 1)).save(authors_scene / "m2f_notta_semantics" / f"{name}.png")  # all wall

    summary = import_authors_scene(authors_scene, tmp_path / "out", AuthorsImportConfig(confidence="notta"))
    assert summary.masks == "m2f_notta_semantics" and validate_scene(tmp_path / "out").ok
    frame = read_panoptic(tmp_path / "out" / "panoptic" / f"{name}.png")
    assert [s.category_id for s in frame.segments] == [1] and (frame.ids > 0).all()
    other = authors_scene_master.names[3]
    npz = np.load(authors_scene / "m2f_probabilities" / f"{other}.npz")
    converted = read_confidence(tmp_path / "out" / "confidence" / f"{other}.png")
    ids = read_panoptic(tmp_path / "out" / "panoptic" / f"{other}.png").ids
    np.testing.assert_allclose(converted, np.where(ids == 0, 0, npz["confidence_notta"]), atol=1.5 / 65535)
    assert not np.allclose(converted, np.where(ids == 0, 0, npz["confidence"]), atol=1e-3)


def test_downscale_scales_images_layers_and_intrinsics(authors_scene_master, converted_master, tmp_path):
    out = tmp_path / "half"
    summary = import_authors_scene(authors_scene_master.root, out, AuthorsImportConfig(downscale=2))
    full = json.loads((converted_master / "transforms.json").read_text())
    half = json.loads((out / "transforms.json").read_text())
    assert (half["w"], half["h"]) == (full["w"] // 2, full["h"] // 2) == (summary.width, summary.height)
    for key in ("fl_x", "fl_y", "cx", "cy"):
        assert half[key] == pytest.approx(full[key] / 2), key
    assert validate_scene(out).ok  # every layer has the image's size
    name = authors_scene_master.names[0]
    assert Image.open(out / "images" / f"{name}.png").size == (half["w"], half["h"])
    gt = read_panoptic(out / "gt_panoptic" / f"{name}.png")
    full_gt = read_panoptic(converted_master / "gt_panoptic" / f"{name}.png")
    assert {s.id for s in gt.segments} <= {s.id for s in full_gt.segments}  # same scene-wide ids, nearest resize


def test_max_frames_keeps_train_and_held_out_frames_evenly(authors_scene_master, tmp_path):
    summary = import_authors_scene(authors_scene_master.root, tmp_path / "few", AuthorsImportConfig(max_frames=4))
    meta = json.loads((tmp_path / "few" / "transforms.json").read_text())
    assert len(meta["frames"]) == summary.frames == 4
    assert summary.test_frames >= 1 and summary.train_frames >= 1
    kept = {f["file_path"] for f in meta["frames"]}
    assert set(meta["train_filenames"]) | set(meta["test_filenames"]) == kept
    assert validate_scene(tmp_path / "few").ok


def test_overwrite_replaces_an_earlier_conversion_only(authors_scene_master, tmp_path):
    out = tmp_path / "out"
    import_authors_scene(authors_scene_master.root, out, AuthorsImportConfig(max_frames=3))
    with pytest.raises(ValueError, match="--overwrite"):
        import_authors_scene(authors_scene_master.root, out)
    import_authors_scene(authors_scene_master.root, out, overwrite=True)
    assert len(json.loads((out / "transforms.json").read_text())["frames"]) == len(authors_scene_master.names)
    assert not list(tmp_path.glob(".*converting"))

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not written by ns-panoptic convert"):
        import_authors_scene(authors_scene_master.root, foreign, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


# ----------------------------------------------------------------------------- mask conversion by hand


def test_machine_frame_segments_by_hand():
    wall, chair, bed = 1, 5, 4
    semantics = np.array([[wall, wall, chair, chair], [wall, 0, chair, bed], [wall, wall, bed, bed]])
    instance = np.array([[3, 9, 7, 7], [0, 0, 8, 11], [0, 0, 11, 11]])  # stuff instance ids are meaningless
    valid = np.ones(semantics.shape, dtype=bool)
    valid[2, 3] = False
    confidence = np.linspace(0.1, 0.9, semantics.size).reshape(semantics.shape).astype(np.float32)
    frame, conf = machine_frame(semantics, instance, valid, confidence, CLASSES)
    table = frame.segment_table()
    # wall: one segment; chair 7 and chair 8: two; bed 11: one; void at class 0 and at the invalid pixel
    assert sorted((s.category_id, s.isthing) for s in frame.segments) == [(1, False), (4, True), (5, True), (5, True)]
    assert frame.ids[1, 1] == 0 and frame.ids[2, 3] == 0 and conf[1, 1] == 0 and conf[2, 3] == 0
    assert len({frame.ids[0, 0], frame.ids[0, 1], frame.ids[1, 0], frame.ids[2, 0], frame.ids[2, 1]}) == 1
    assert frame.ids[0, 2] == frame.ids[0, 3] != frame.ids[1, 2]
    bed_id = frame.ids[1, 3]
    assert frame.ids[2, 2] == bed_id and table[bed_id].score == pytest.approx(confidence[[1, 2], [3, 2]].mean())


def test_ground_truth_frame_ids_read_instance_and_class():
    wall, chair = 1, 5
    semantics = np.array([[wall, chair, chair, 0]])
    instance = np.array([[4, 2, 3, 0]])
    frame = ground_truth_frame(semantics, instance, CLASSES)
    assert frame.ids.tolist() == [[wall, 2 * 256 + chair, 3 * 256 + chair, 0]]
    assert {(s.id, s.category_id, s.isthing) for s in frame.segments} == {
        (wall, wall, False),
        (2 * 256 + chair, chair, True),
        (3 * 256 + chair, chair, True),
    }
