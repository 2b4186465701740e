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
