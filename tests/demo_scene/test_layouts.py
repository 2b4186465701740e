"""The benchmark layouts: valid scenes, deterministic, and really showing what each one is for."""

import json
from typing import get_args

import numpy as np
import pytest

from panoptic_nerfstudio.data.panoptic_format import read_classes
from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.demo_scene import (
    BASEBOARD,
    BIN,
    CEILING,
    CHAIR,
    CLASSES,
    CUPBOARD,
    EXTENDED_CLASSES,
    FRAME,
    LAYOUTS,
    POLE,
    SOFA,
    DemoSceneConfig,
    LayoutName,
    build_scene,
    write_demo_scene,
)
from panoptic_nerfstudio.demo_scene.classes import STUFF_GT_ID_STRIDE
from tests.demo_scene.conftest import BENCHMARK_LAYOUTS, QUARTER
from tests.demo_scene.scene_files import files, frames


def test_the_cli_choices_are_the_layouts():
    assert set(get_args(LayoutName)) == set(LAYOUTS) >= {"default", *BENCHMARK_LAYOUTS}


@pytest.mark.parametrize("layout", BENCHMARK_LAYOUTS)
def test_each_layout_is_a_valid_scene_with_its_class_table(layout_scenes, layout):
    scene = layout_scenes[layout]
    report = validate_scene(scene)
    assert report.ok, report.problems
    assert report.total_frames == report.ground_truth_frames == report.confidence_frames == QUARTER["frames"]
    assert read_classes(scene / "panoptic_classes.json").categories == EXTENDED_CLASSES.categories
    assert json.loads((scene / "transforms.json").read_text())["panoptic_demo_scene"]["layout"] == layout


def test_the_extended_class_table_only_adds_to_the_default_one():
    assert EXTENDED_CLASSES.categories[: len(CLASSES)] == CLASSES.categories
    assert LAYOUTS["default"].classes is CLASSES


@pytest.mark.parametrize("layout", BENCHMARK_LAYOUTS)
def test_a_layout_is_deterministic_for_a_seed_and_the_seed_changes_it(tmp_path, layout):
    config = dict(layout=layout, width=32, height=24, frames=5, eval_every=2)
    write_demo_scene(tmp_path / "a", DemoSceneConfig(seed=5, **config))
    write_demo_scene(tmp_path / "b", DemoSceneConfig(seed=5, **config))
    write_demo_scene(tmp_path / "c", DemoSceneConfig(seed=6, **config))
    first, second, other = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert first == second
    for folder in ("images", "panoptic", "gt_panoptic"):
        assert any(first[k] != other[k] for k in first if k.startswith(folder + "/"))


@pytest.mark.parametrize("layout", BENCHMARK_LAYOUTS)
def test_ground_truth_ids_are_one_per_object_across_frames(layout_scenes, layout):
    expected = {obj.gt_id: obj.category_id for obj in build_scene(QUARTER["seed"], layout)}
    seen = set()
    for gt in frames(layout_scenes[layout], "gt_panoptic"):
        assert (gt.ids != 0).all()
        for s in gt.segments:
            assert expected[s.id] == s.category_id and s.score == 1.0
            seen.add(s.id)
    things = {i for i in seen if i % STUFF_GT_ID_STRIDE}
    assert len(things) >= 10


@pytest.mark.parametrize("layout", BENCHMARK_LAYOUTS)
def test_the_simulated_network_damages_the_new_layouts_too(tmp_path, layout):
    summary = write_demo_scene(tmp_path / layout, DemoSceneConfig(layout=layout, width=64, height=48, frames=12))
    assert summary.missed_segments > 0 and summary.confused_segments > 0 and summary.stuff_patches > 0
    assert 0.0 < summary.mask_void_fraction < 0.1 and 0.7 < summary.mask_class_accuracy < 0.97
    if layout == "crowded":
        assert summary.merged_segments > 0


# ----------------------------------------------------------------------------- crowded


def _touching_instance_pairs(ids: np.ndarray) -> set:
    """(id, id) of horizontally or vertically adjacent pixels of two instances of one thing class."""
    pairs = set()
    for a, b in ((ids[:, :-1], ids[:, 1:]), (ids[:-1], ids[1:])):
        same_class = (a // STUFF_GT_ID_STRIDE == b // STUFF_GT_ID_STRIDE) & (a != b) & (a % STUFF_GT_ID_STRIDE > 0)
        pairs.update(zip(a[same_class].tolist(), b[same_class].tolist()))
    return pairs


@pytest.mark.parametrize("category", [CHAIR, CUPBOARD, BIN, SOFA])
def test_crowded_has_touching_instances_of_one_class(layout_scenes, category):
    touching = set()
    for gt in frames(layout_scenes["crowded"], "gt_panoptic"):
        touching |= {p for p in _touching_instance_pairs(gt.ids) if p[0] // STUFF_GT_ID_STRIDE == category}
    assert touching, f"no two instances of category {category} touch in any frame"
    rows = [obj for obj in build_scene(0, "crowded") if obj.category_id == category]
    assert len(rows) >= {CHAIR: 4, CUPBOARD: 3, BIN: 4, SOFA: 2}[category]


# ----------------------------------------------------------------------------- thin


def _min_median_width(ids: np.ndarray, instance: int, min_rows: int) -> float:
    """Median pixels per image row of an instance, if it spans at least ``min_rows`` rows (else inf)."""
    per_row = (ids == instance).sum(axis=1)
    per_row = per_row[per_row > 0]
    return float(np.median(per_row)) if per_row.size >= min_rows else float("inf")


def test_thin_has_thin_things_a_few_pixels_wide(layout_scenes):
    height = QUARTER["height"]
    widths = {}
    for gt in frames(layout_scenes["thin"], "gt_panoptic"):
        for s in gt.segments:
            if s.isthing:
                widths[s.id] = min(widths.get(s.id, np.inf), _min_median_width(gt.ids, s.id, height // 2))
    thin = {i for i, w in widths.items() if w <= 3}
    assert {i // STUFF_GT_ID_STRIDE for i in thin} >= {POLE}


def test_thin_has_a_ceiling_strip_and_baseboards(layout_scenes):
    gts = frames(layout_scenes["thin"], "gt_panoptic")
    ceiling_id, baseboard_id = CEILING * STUFF_GT_ID_STRIDE, BASEBOARD * STUFF_GT_ID_STRIDE
    with_ceiling_on_top = [gt for gt in gts if (gt.ids[0] == ceiling_id).any()]
    assert len(with_ceiling_on_top) >= len(gts) // 3
    column_heights = [
        np.median(heights[heights > 0])
        for gt in gts
        if (heights := (gt.ids == baseboard_id).sum(axis=0)).any() and (heights > 0).sum() >= 10
    ]
    assert column_heights and min(column_heights) <= 3  # a band a few pixels tall


def test_thin_has_two_far_apart_frames_never_seen_together(layout_scenes):
    objects = {obj.gt_id: obj for obj in build_scene(QUARTER["seed"], "thin") if obj.category_id == FRAME}
    first, second = (FRAME * STUFF_GT_ID_STRIDE + k for k in (1, 2))
    centres = [np.mean(objects[i].bounds(), axis=0) for i in (first, second)]
    assert np.linalg.norm(centres[0] - centres[1]) > 2.5

    shown = [{s.id for s in gt.segments} for gt in frames(layout_scenes["thin"], "gt_panoptic")]
    assert sum(first in ids for ids in shown) >= 3 and sum(second in ids for ids in shown) >= 3
    assert not any(first in ids and second in ids for ids in shown)
