"""``benchmarks/inference_stages.py``: held-out pixels per class right after each inference step; its last step is
what ``ns-panoptic eval`` scores."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.benchmark_scripts import benchmark_module


@pytest.fixture(scope="module")
def stages_benchmark():
    yield from benchmark_module("inference_stages")


def test_right_pixels_are_counted_per_ground_truth_class_and_void_is_left_out(stages_benchmark):
    from panoptic_nerfstudio.evaluation.semantic_metrics import confusion_matrix

    truth = torch.tensor([[0, 0, 1, -1], [2, 2, 2, -1]])
    predicted = torch.tensor([[0, 1, 1, 0], [2, 0, 2, 2]])
    perfect = truth.clamp_min(0)  # (void pixels predicted as class 0: still not counted)
    confusions = {"first": confusion_matrix(predicted, truth, 4), "second": confusion_matrix(perfect, truth, 4)}
    counts = stages_benchmark.pixel_counts(confusions)
    # class 0: one of two right; class 1: its one pixel; class 2: two of three; the void pixels count for nothing
    assert counts["first"].tolist() == [1, 1, 2, 0]
    assert counts["second"].tolist() == counts["pixels"].tolist() == [2, 1, 3, 0]


def test_a_held_out_frame_without_ground_truth_is_named(stages_benchmark):
    dataset = SimpleNamespace(panoptic=SimpleNamespace(layers=[SimpleNamespace(gt_panoptic=None)]),
                              image_filenames=[Path("images/frame_00004.png")])  # fmt: skip
    with pytest.raises(SystemExit, match=r"run/config.yml: held-out frame images/frame_00004.png has no gt_panoptic"):
        stages_benchmark.ground_truth_file(dataset, 0, Path("run/config.yml"))


def test_a_class_the_run_does_not_have_is_named(stages_benchmark):
    names = ["wall", "floor", "pole"]
    assert stages_benchmark.chosen_classes(Path("run/config.yml"), names, ["pole"]) == ["pole"]
    assert stages_benchmark.chosen_classes(Path("run/config.yml"), names, None) == names
    with pytest.raises(SystemExit, match=r"run/config.yml: no class lamps, poles in this run \(its classes: wall, "):
        stages_benchmark.chosen_classes(Path("run/config.yml"), names, ["poles", "lamps", "wall"])


def test_the_unmatched_table_has_a_row_per_step_with_its_causes(stages_benchmark):
    from panoptic_nerfstudio.evaluation.unmatched_segments import LOST_TO_STUFF, MatchReport, UnmatchedSegment

    lost = UnmatchedSegment(9, 1, 900, LOST_TO_STUFF, 0.3)
    table = stages_benchmark.unmatched_table({"rule 6": MatchReport([lost], []), "clean-up": MatchReport([], [])})
    rows = [[column._cells[i] for column in table.columns] for i in range(table.row_count)]
    assert rows == [["rule 6", "1", "1", "0", "0", "0", "0"], ["clean-up", "0", "0", "0", "0", "0", "0"]]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_last_step_is_what_ns_panoptic_eval_scores(stages_benchmark, tiny_trained_config):
    from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
    from panoptic_nerfstudio.evaluation.scene_evaluation import evaluate_scene, labels_of

    results = stages_benchmark.run_stages(tiny_trained_config)
    names, shown, counts = results.names, results.shown, results.counts
    _, pipeline, model, _ = load_panoptic_run(tiny_trained_config, test_mode="test")
    dataset = pipeline.datamanager.eval_dataset
    classes = dataset.classes
    pixels, right = np.zeros(len(classes), dtype=np.int64), np.zeros(len(classes), dtype=np.int64)

    def score(index, frame):
        predicted = classes.dense_indices(frame["prediction"].category.numpy())
        height, width = predicted.shape
        truth = classes.dense_indices(labels_of(dataset.panoptic.layers[index].gt_panoptic, classes,
                                                (width, height)).category.numpy())  # fmt: skip
        pixels[:] += np.bincount(truth[truth >= 0], minlength=len(classes))
        right[:] += np.bincount(truth[(truth >= 0) & (predicted == truth)], minlength=len(classes))

    evaluation = evaluate_scene(model, dataset, on_frame=score)
    assert names == shown == classes.names
    assert counts["pixels"].tolist() == pixels.tolist()
    assert counts["clean-up"].tolist() == right.tolist()
    assert pixels.sum() > 0
    for stage in stages_benchmark.STAGES:
        assert bool((counts[stage] <= counts["pixels"]).all()), stage
    assert list(results.unmatched) == list(stages_benchmark.INSTANCE_STAGES)
    assert results.unmatched["clean-up"].counts() == evaluation.unmatched.counts()
