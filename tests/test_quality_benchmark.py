"""``benchmarks/quality.py`` measures the code of the checkout it lies in, not whichever copy of the package is
installed: an editable install of another worktree once made a recalibration measure the old code."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
