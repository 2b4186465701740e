"""What the demo-scene writer puts on disk: the format contract, splits, determinism and refusals."""

import json
from collections import Counter, defaultdict
from typing import Dict

import numpy as np
import pytest
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import read_classes, read_confidence
from panoptic_nerfstudio.demo_scene import CLASSES, DemoSceneConfig, write_demo_scene
from tests.demo_scene.conftest import SMALL
from tests.demo_scene.scene_files import files, frames, stems

LAYERS = ("panoptic", "confidence", "gt_panoptic")


# ----------------------------------------------------------------------------- layout and format


def test_layout_sizes_and_frame_count(scene):
    meta = json.loads((scene / "transforms.json").read_text())
    assert (meta["w"], meta["h"]) == (48, 36) and meta["camera_model"] == "OPENCV"
    assert len(meta["frames"]) == 6
    assert [f["file_path"] for f in meta["frames"]] == [f"images/frame_{k:05d}.png" for k in range(6)]
    for stem in stems(scene):
        with Image.open(scene / "images" / f"{stem}.png") as img:
            assert img.size == (48, 36) and img.mode == "RGB"
        for folder in LAYERS:
            assert (scene / folder / f"{stem}.png").exists()
        assert read_confidence(scene / "confidence" / f"{stem}.png").shape == (36, 48)
    for folder in ("panoptic", "gt_panoptic"):
        assert all(frame.ids.shape == (36, 48) for frame in frames(scene, folder))


def test_held_out_frames_are_every_eval_every_th(scene):
    meta = json.loads((scene / "transforms.json").read_text())
    names = [f["file_path"] for f in meta["frames"]]
    assert meta["val_filenames"] == meta["test_filenames"] == [names[0], names[3]]
    assert meta["train_filenames"] == [names[i] for i in (1, 2, 4, 5)]


def test_class_table_is_sparse_with_stuff_and_things(scene):
    table = read_classes(scene / "panoptic_classes.json")
    assert table.categories == CLASSES.categories
    ids = [c.id for c in table.categories]
    assert ids != list(range(len(ids)))
    assert sum(c.isthing for c in table.categories) >= 3 and sum(not c.isthing for c in table.categories) >= 4


@pytest.mark.parametrize("folder", ["panoptic", "gt_panoptic"])
def test_segments_info_lists_exactly_the_ids_in_the_png(scene, folder):
    table = read_classes(scene / "panoptic_classes.json")
    for frame in frames(scene, folder):
        present = set(np.unique(frame.ids).tolist()) - {0}
        assert present == {s.id for s in frame.segments}
        for s in frame.segments:
            assert s.category_id in table and s.isthing == table.by_id(s.category_id).isthing
            assert 0.0 <= s.score <= 1.0


@pytest.mark.parametrize("folder", ["panoptic", "gt_panoptic"])
def test_at_most_one_segment_per_stuff_class(scene, folder):
    for frame in frames(scene, folder):
        stuff = Counter(s.category_id for s in frame.segments if not s.isthing)
        assert stuff and max(stuff.values()) == 1


# ----------------------------------------------------------------------------- determinism


def test_same_config_gives_identical_files_and_another_seed_differs(tmp_path, scene):
    again = tmp_path / "again"
    write_demo_scene(again, SMALL)
    assert files(again) == files(scene)

    other = tmp_path / "other"
    write_demo_scene(other, DemoSceneConfig(seed=4, width=48, height=36, frames=6, eval_every=3))
    first, second = files(scene), files(other)
    assert first.keys() == second.keys()
    for folder in ("images", "panoptic", "confidence"):
        assert any(first[k] != second[k] for k in first if k.startswith(folder + "/"))


def test_rewriting_a_demo_scene_replaces_it_and_other_directories_are_refused(tmp_path):
    out = tmp_path / "scene"
    write_demo_scene(out, DemoSceneConfig(width=16, height=12, frames=6, eval_every=3))
    write_demo_scene(out, DemoSceneConfig(width=16, height=12, frames=4, eval_every=2))
    assert len(list((out / "images").iterdir())) == 4 and len(list((out / "panoptic").glob("*.png"))) == 4

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_demo_scene(foreign, DemoSceneConfig(width=16, height=12, frames=4, eval_every=2))
    assert (foreign / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "bad", [dict(width=4), dict(frames=1), dict(eval_every=1), dict(noise=-0.5), dict(noise=float("nan"))]
)
def test_bad_configs_are_rejected(tmp_path, bad):
    with pytest.raises(ValueError):
        write_demo_scene(tmp_path / "x", DemoSceneConfig(**{**dict(width=16, height=12, frames=4), **bad}))


# ----------------------------------------------------------------------------- ground truth


def test_ground_truth_ids_are_consistent_across_frames_and_leave_no_void(scene):
    category_of: Dict[int, set] = defaultdict(set)
    for frame in frames(scene, "gt_panoptic"):
        assert (frame.ids != 0).all()
        for s in frame.segments:
            category_of[s.id].add(s.category_id)
            assert s.score == 1.0
    assert all(len(c) == 1 for c in category_of.values())
    things = [i for i, c in category_of.items() if CLASSES.by_id(next(iter(c))).isthing]
    assert len(things) >= 6  # many thing instances are seen even in six tiny views
    assert len({next(iter(category_of[i])) for i in things}) >= 3


# ----------------------------------------------------------------------------- nerfstudio


def test_nerfstudio_dataparser_loads_the_splits(scene):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    parser = NerfstudioDataParserConfig(data=scene).setup()
    counts = {split: len(parser.get_dataparser_outputs(split).image_filenames) for split in ("train", "val", "test")}
    assert counts == {"train": 4, "val": 2, "test": 2}
    outputs = parser.get_dataparser_outputs("train")
    assert int(outputs.cameras.width[0]) == 48 and int(outputs.cameras.height[0]) == 36
