"""``benchmarks/gpu.py`` (time to quality on a GPU): its command line, its refusal without CUDA, and a dry run on CPU
at tiny size. No GPU has run it here."""

import json

import pytest
import torch

from tests.benchmark_scripts import benchmark_module


@pytest.fixture(scope="module")
def gpu_benchmark():
    yield from benchmark_module("gpu")


def test_command_line(gpu_benchmark, tmp_path):
    plan = gpu_benchmark.parse([])
    assert (plan.method, plan.device, plan.steps, plan.every, plan.size, plan.rays) == (
        "panoptic-lifting", "cuda", 30000, 2000, "640x480", None
    )
    plan = gpu_benchmark.parse(["--scene", str(tmp_path), "--steps", "100", "--every", "10", "--rays", "2048"])
    assert (plan.scene, plan.steps, plan.every, plan.rays) == (tmp_path, 100, 10, 2048)
    dry = gpu_benchmark.parse(["--dry-run"])
    assert (dry.device, dry.size, dry.steps, dry.every, dry.rays) == ("cpu", "48x36", 6, 3, 256)
    with pytest.raises(SystemExit):
        gpu_benchmark.parse(["--every", "0"])
    config = gpu_benchmark.trainer_config(dry, tmp_path)
    assert config.machine.device_type == "cpu" and not config.mixed_precision
    assert config.pipeline.model.implementation == "torch" and config.max_num_iterations == 6
    assert config.pipeline.model.num_proposal_iterations == 2  # still the paper-sized model
    gpu = gpu_benchmark.trainer_config(plan, tmp_path)
    assert gpu.mixed_precision and gpu.machine.device_type == "cuda" and gpu.steps_per_eval_batch > plan.steps


def test_refuses_to_time_a_gpu_it_does_not_have(gpu_benchmark, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(SystemExit, match="No CUDA device"):
        gpu_benchmark.main(["--output-dir", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []  # refused before writing a scene


@pytest.mark.slow
def test_dry_run_scores_quality_against_time(gpu_benchmark, tmp_path):
    rows = gpu_benchmark.main(["--dry-run", "--method", "panoptic-lifting-lite", "--output-dir", str(tmp_path)])
    assert [r["step"] for r in rows] == [3, 6]
    assert 0 < rows[0]["seconds"] < rows[1]["seconds"]
    for row in rows:
        assert {"pq", "pq_things", "pq_stuff", "miou", "psnr"} <= set(row)  # the demo room has ground truth
        assert 0 <= row["pq"] <= 100 and row["psnr"] > 0
    (results,) = tmp_path.rglob(gpu_benchmark.RESULTS)
    assert json.loads(results.read_text())["rows"] == rows
