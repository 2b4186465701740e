"""``benchmarks/coverage.py``: held-out pixels counted per class from the scene's own files, and a trained run's
held-out views scored as ``ns-panoptic eval`` scores them before they are split by coverage."""

import json
import shutil

import numpy as np
import pytest

from panoptic_nerfstudio.data.panoptic_format import read_classes
from panoptic_nerfstudio.evaluation.scene_evaluation import labels_of
from tests.benchmark_scripts import benchmark_module


@pytest.fixture(scope="module")
def coverage_benchmark():
    yield from benchmark_module("coverage")


def test_every_held_out_pixel_of_a_class_is_counted_once(coverage_benchmark, tiny_scene_master):
    meta = json.loads((tiny_scene_master / "transforms.json").read_text())
    classes = read_classes(tiny_scene_master / "panoptic_classes.json")
    expected = {}
    for name in meta["val_filenames"]:
        gt = tiny_scene_master / "gt_panoptic" / (name.split("/")[-1].rsplit(".", 1)[0] + ".png")
        category = labels_of(gt, classes, (meta["w"], meta["h"])).category.numpy()
        for category_id, pixels in zip(*np.unique(category[category >= 0], return_counts=True)):
            label = classes.by_id(int(category_id)).name
            expected[label] = expected.get(label, 0) + int(pixels)
    coverage = coverage_benchmark.scene_coverage(tiny_scene_master)
    assert {label: len(views) for label, views in coverage.items()} == expected
    views = np.concatenate(list(coverage.values()))
    assert views.min() >= 0 and views.max() <= len(meta["train_filenames"])
    assert views.max() > 0  # the training views of a tour see much of what its held-out views show


def test_a_scene_that_is_not_a_demo_scene_is_named(coverage_benchmark, tiny_scene_master, tmp_path):
    scene = tmp_path / "scene"
    shutil.copytree(tiny_scene_master, scene)
    meta = json.loads((scene / "transforms.json").read_text())
    del meta["panoptic_demo_scene"]
    (scene / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(SystemExit, match=r"transforms.json: not a demo scene"):
        coverage_benchmark.scene_coverage(scene)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_run_scores_as_ns_panoptic_eval_before_the_split(coverage_benchmark, tiny_trained_config):
    from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
    from panoptic_nerfstudio.evaluation.scene_evaluation import evaluate_scene

    result = coverage_benchmark.run_coverage(tiny_trained_config)
    _, pipeline, model, _ = load_panoptic_run(tiny_trained_config, test_mode="test")
    evaluation = evaluate_scene(model, pipeline.datamanager.eval_dataset)
    assert result.pq["lifted", "all"] == pytest.approx(evaluation.lifted_pq.all.pq)
    assert result.pq["input", "all"] == pytest.approx(evaluation.input_pq.all.pq)
    assert sum(bucket.share for bucket in result.buckets.values()) == pytest.approx(1.0)
    for bucket in result.buckets.values():
        assert all(0.0 <= value <= 1.0 for value in (bucket.input_right, bucket.lifted_right, bucket.in_front))
        assert bucket.in_front + bucket.behind <= 1.0
