"""``benchmarks/quality.py`` measures the code of the checkout it lies in, not whichever copy of the package is
installed: an editable install of another worktree once made a recalibration measure the old code."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tyro
from nerfstudio.engine.trainer import TrainerConfig

from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config
from tests.benchmark_scripts import REPO, benchmark_module


@pytest.fixture(scope="module")
def quality_benchmark():
    yield from benchmark_module("quality")


def test_runs_import_this_checkout(quality_benchmark, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    env = quality_benchmark.run_environment(threads=3)
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO), str(tmp_path)]
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    # A command run with it, from elsewhere, imports the package from this checkout.
    found = subprocess.run(
        [sys.executable, "-c", "import panoptic_nerfstudio; print(panoptic_nerfstudio.__file__)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(found).resolve() == REPO / "panoptic_nerfstudio" / "__init__.py"


def test_the_merges_column_shows_those_of_pairs_the_masks_keep_apart_when_counted(quality_benchmark):
    assert quality_benchmark.merges_cell({"merges": 8, "merges_kept_apart_by_masks": 4}) == "8 (4)"
    assert quality_benchmark.merges_cell({"merges": 8}) == "8"  # evaluated before it was counted


def test_the_unmatched_table_sums_each_cause_per_scene_and_leaves_out_runs_evaluated_before_it(quality_benchmark):
    runs = quality_benchmark.plan(["thin"], [0, 1], [42], ablations=False)
    counted = {"objects": 10, "missed_lost_to_stuff": 2, "missed_partly_labelled": 1, "missed_merged": 0,
               "missed_wrong_class": 1}  # fmt: skip
    table = quality_benchmark.unmatched_table([(runs[0], counted), (runs[1], {"objects": 13, "lifted_pq": 55.9})])
    rows = [[column._cells[i] for column in table.columns] for i in range(table.row_count)]
    assert rows == [["thin-seed0", "slots", "1", "10", "4", "2", "1", "0", "1"],
                    ["[bold]all", "", "1", "10", "4", "2", "1", "0", "1"]]  # fmt: skip


def test_noise_scales_the_suite_scenes_defects_and_names_them_apart(quality_benchmark):
    """``--noise 0`` trains the suite on masks equal to the ground truth: its scenes (and runs) must never be mistaken
    for, or reuse, the runs of the default noise, and the ablation rows keep the default scene."""
    runs = quality_benchmark.plan(["thin"], [1], [42, 0], ablations=True, noise=0.0)
    suite = [r for r in runs if r.variant == "full method"]
    assert [(r.scene, r.train_seed, r.noise) for r in suite] == [
        ("thin-seed1-noise0", 42, 0.0),
        ("thin-seed1-noise0", 0, 0.0),
    ]
    assert all(r.noise == 1.0 and "noise" not in r.name for r in runs if r.variant != "full method")
    assert [r.scene for r in quality_benchmark.plan(["thin"], [1], [42], ablations=False)] == ["thin-seed1"]


def test_the_authors_protocol_column_is_empty_for_runs_evaluated_before_it(quality_benchmark):
    assert quality_benchmark.authors_cell({"input_pq_authors": 47.84, "lifted_pq_authors": 62.25}) == "47.8, 62.2"
    assert quality_benchmark.authors_cell({"lifted_pq": 55.9}) == ""


def same_value(parsed, text: str) -> bool:
    try:
        return float(parsed) == float(text)
    except (TypeError, ValueError):
        return str(parsed) == text


def test_every_variant_and_head_flag_is_an_option_of_the_lite_preset(quality_benchmark):
    """A renamed model option (``keep-near-plane`` became ``render-near-plane``) must not leave a variant whose
    training run fails only after the suite has started: every flag parses as ns-train parses it (booleans take a
    value), and sets what it names."""
    parse_as_ns_train = tyro.conf.FlagConversionOff[TrainerConfig]
    for flags in [*quality_benchmark.ABLATIONS.values(), *quality_benchmark.HEADS.values()]:
        config = tyro.cli(parse_as_ns_train, default=panoptic_lifting_lite_config(), args=list(flags))
        for name, value in zip(flags[::2], flags[1::2]):
            *path, last = name.removeprefix("--").replace("-", "_").split(".")
            owner = config
            for part in path:
                owner = getattr(owner, part)
            assert same_value(getattr(owner, last), value), (name, value)


@pytest.fixture(scope="module")
def quality_goals():
    yield from benchmark_module("quality_goals")


def suite_metrics(pq: float, miou: float, input_miou: float, stuff: dict) -> dict:
    """A run's metrics as ``ns-panoptic eval`` writes them, with per-class PQ (lifted, input) of the stuff classes."""
    return {"lifted_pq": pq, "lifted_miou": miou, "input_miou": input_miou,
            "per_category": {"lifted": {name: {"pq": pair[0]} for name, pair in stuff.items()},
                             "input": {name: {"pq": pair[1]} for name, pair in stuff.items()}}}  # fmt: skip


def test_the_goals_table_names_the_runs_scenes_and_stuff_classes_that_miss_issue_17s_goals(quality_goals):
    stuff = ["wall", "floor", "baseboard"]
    runs = [
        quality_goals.GoalRun("thin-seed0", 42, 1.0, suite_metrics(81.0, 70.0, 55.0, {
            "wall": (90.0, 80.0), "floor": (70.0, 87.0), "baseboard": (0.0, float("nan"))}), stuff),
        quality_goals.GoalRun("thin-seed0", 0, 1.0, suite_metrics(76.0, 60.0, 55.0, {
            "wall": (90.0, 80.0), "floor": (79.0, 87.0)}), stuff),
        # masks less noisy than the default scene's: the +10 goal does not apply, the others do
        quality_goals.GoalRun("thin-seed1-noise0", 42, 0.0, suite_metrics(90.0, 80.0, 85.0, {
            "wall": (95.0, 96.0)}), stuff),
    ]  # fmt: skip
    assert quality_goals.goal_rows(runs) == [
        ["every run PQ^scene >= 80", "2 of 3 runs", "thin-seed0 / 0: 76.0"],
        ["mean >= 85", "no", "mean 82.3"],
        ["spread between training seeds <= 3", "0 of 1 scenes", "thin-seed0: 5.0"],  # a scene of one run has none
        ["lifted mIoU >= input mIoU", "2 of 3 runs", "thin-seed1-noise0 / 42: -5.0"],
        ["lifted mIoU >= input + 10 (default noise)", "1 of 2 runs", "thin-seed0 / 0: +5.0"],
        # 79 >= 0.9 x 87 keeps the floor; a class the held-out frames' input does not show (NaN) is left out
        ["stuff classes keep >= 0.9 x the input's PQ", "2 of 3 runs", "thin-seed0 / 42: floor 70/87"],
    ]
    assert quality_goals.goal_rows([]) == []
    # a run evaluated before per-class PQ was stored counts for the other goals, not for the stuff classes
    older = quality_goals.GoalRun("thin-seed1", 42, 1.0, {"lifted_pq": 85.0, "lifted_miou": 70.0, "input_miou": 50.0},
                                  stuff)  # fmt: skip
    rows = quality_goals.goal_rows([runs[0], older])
    assert rows[0] == ["every run PQ^scene >= 80", "2 of 2 runs", ""]
    assert rows[-1] == ["stuff classes keep >= 0.9 x the input's PQ", "0 of 1 runs", "thin-seed0 / 42: floor 70/87"]


def test_the_goals_read_each_scenes_stuff_classes_from_its_class_table(quality_benchmark, tmp_path):
    from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable, write_classes

    scene = tmp_path / "scenes" / "thin-seed0"
    scene.mkdir(parents=True)
    (scene / "transforms.json").write_text("{}")  # an existing scene: nothing is generated
    write_classes(scene / "panoptic_classes.json", ClassTable([Category(1, "chair", True, (1, 2, 3)),
                                                              Category(2, "floor", False, (4, 5, 6))]))  # fmt: skip
    runs = quality_benchmark.plan(["thin"], [0], [42], ablations=False)
    by_head = quality_benchmark.goal_runs([(runs[0], {"lifted_pq": 70.0})], tmp_path)
    assert list(by_head) == ["slots"]
    (goal_run,) = by_head["slots"]
    assert (goal_run.scene, goal_run.train_seed, goal_run.stuff) == ("thin-seed0", 42, ["floor"])
    assert quality_benchmark.goal_runs([(runs[0], {})], tmp_path, variant="no spatial split of slots") == {}
