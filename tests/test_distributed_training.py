"""``ns-train panoptic-lifting-lite --machine.num-devices 2 --machine.device-type cpu``: two gloo processes train,
evaluate, save and resume; every rank draws its own rays, DDP keeps the ranks' models identical, the instance
table is made once and shared, and ``ns-render`` loads the checkpoint.

nerfstudio 1.1.5 cannot start CPU processes itself (it asserts CUDA), so the run goes through
``tests/distributed_launcher.py``: nerfstudio's own command line, launch and trainer, minus those two CUDA spots.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.console_scripts import run_tool
from tests.distributed_launcher import RECORD_ENV

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STEPS = 40
INSTANCE_START, CONSISTENCY_START = 10, 25
# Each loss falls while it trains alone with the ones before it: [start, start + 5) against the 5 steps before the
# next loss starts (a newly started loss moves the others for a while; see test_short_training for long runs).
FALLS = {"rgb_loss": (0, STEPS), "semantic_loss": (0, CONSISTENCY_START),
         "instance_loss": (INSTANCE_START, CONSISTENCY_START), "consistency_loss": (CONSISTENCY_START, STEPS)}


def train_on_two_ranks(scene: Path, out: Path, record: Path, *extra) -> subprocess.CompletedProcess:
    record.mkdir(parents=True)
    args = [
        "panoptic-lifting-lite", "--data", scene, "--output-dir", out, "--experiment-name", "ddp",
        "--machine.num-devices", "2", "--machine.device-type", "cpu",
        "--pipeline.datamanager.train-num-rays-per-batch", "256", "--viewer.quit-on-train-completion", "True",
        "--steps-per-eval-batch", "10", "--steps-per-eval-image", "20",  # evaluation steps mid-run: no hang after
        "--pipeline.model.instance-loss-start-step", INSTANCE_START,
        "--pipeline.model.consistency-loss-start-step", CONSISTENCY_START,
        "--pipeline.model.camera-free-space.start-step", "0",  # its density draws too go through DDP's gradients
        *extra,
    ]  # fmt: skip
    env = {**os.environ, RECORD_ENV: str(record), "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.distributed_launcher", *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,  # a hang fails here
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def load_ranks(record: Path):
    return [torch.load(record / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.fixture(scope="module")
def ddp_run(tiny_scene_master, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    train_on_two_ranks(
        tiny_scene_master, out, out / "record", "--timestamp", "t", "--max-num-iterations", STEPS,
        "--steps-per-save", "20",
    )  # fmt: skip
    return out / "ddp" / "panoptic-lifting-lite" / "t", load_ranks(out / "record")


def mean(values):
    return sum(values) / len(values)


def test_each_rank_draws_its_own_rays_and_its_losses_fall(ddp_run):
    _, ranks = ddp_run
    assert all(len(r["rays"]) == len(r["losses"]) == STEPS for r in ranks)
    for step in range(STEPS):
        zero, one = (r["rays"][step] for r in ranks)
        assert not set(zero[:, 0].tolist()) & set(one[:, 0].tolist()), f"step {step}: the ranks shared a frame"
        assert not set(map(tuple, zero.tolist())) & set(map(tuple, one.tolist()))
    for rank in ranks:
        losses = rank["losses"]
        for key, (start, end) in FALLS.items():
            early = mean([s[key] for s in losses[start : start + 5]])
            late = mean([s[key] for s in losses[end - 5 : end]])
            assert late < 0.9 * early, f"rank {rank['rank']}: {key} {early:.4f} -> {late:.4f}"
        # the per-rank instance assignment and loss from its start step, the consistency loss from its own
        assert "instance_loss" not in losses[INSTANCE_START - 1] and "instance_loss" in losses[INSTANCE_START]
        assert "consistency_loss" not in losses[CONSISTENCY_START - 1]
        assert "consistency_loss" in losses[CONSISTENCY_START]
        assert all(torch.isfinite(torch.tensor(list(s.values()))).all() for s in losses)
        assert all("camera_free_space_loss" in s for s in losses)
    assert ranks[0]["losses"][0]["rgb_loss"] != ranks[1]["losses"][0]["rgb_loss"]  # different rays, own losses


def test_ddp_keeps_the_ranks_identical_and_the_table_is_made_once(ddp_run):
    _, (zero, one) = ddp_run
    # the ranks start from different seeds and see different rays: only averaged gradients keep them equal
    assert zero["parameters"].keys() == one["parameters"].keys()
    for name, value in zero["parameters"].items():
        assert torch.equal(value, one["parameters"][name]), name
    assert len(zero["calibrations"]) == 2 and len(one["calibrations"]) == 0  # at the save (step 20) and the end
    # after each calibration (and at the end) rank 1 holds rank 0's table. After 40 steps on this scene no pixel
    # renders as a thing yet, so the table still has the initial size; tests/utils/test_distributed.py shares
    # tables of other sizes between two gloo processes
    assert len(zero["tables"]) == len(one["tables"]) == 2
    for mine, theirs in zip(zero["tables"] + [zero["table"]], one["tables"] + [one["table"]]):
        for name, value in mine.items():
            assert torch.equal(value, theirs[name]), name


def test_checkpoint_loads_in_ns_render(ddp_run, tmp_path):
    run_dir, _ = ddp_run
    # nerfstudio saves on rank 0 only and keeps the latest checkpoint
    assert [p.name for p in (run_dir / "nerfstudio_models").iterdir()] == [f"step-{STEPS - 1:09d}.ckpt"]
    run_tool(["ns-render", "dataset", "--load-config", run_dir / "config.yml", "--output-path", tmp_path / "frames",
              "--rendered-output-names", "rgb", "panoptic", "--split", "test"])  # fmt: skip
    written = list((tmp_path / "frames").rglob("*.png")) + list((tmp_path / "frames").rglob("*.jpg"))
    assert any("panoptic" in str(p) for p in written) and any("rgb" in str(p) for p in written)


def test_resume_on_two_ranks(ddp_run, tiny_scene_master, tmp_path):
    run_dir, _ = ddp_run
    more = 3
    train_on_two_ranks(
        tiny_scene_master, tmp_path, tmp_path / "record", "--timestamp", "resumed", "--max-num-iterations", more,
        "--load-dir", run_dir / "nerfstudio_models",
    )  # fmt: skip
    zero, one = load_ranks(tmp_path / "record")
    assert len(zero["losses"]) == len(one["losses"]) == more
    for step in range(more):
        assert not set(zero["rays"][step][:, 0].tolist()) & set(one["rays"][step][:, 0].tolist())
    for name, value in zero["parameters"].items():
        assert torch.equal(value, one["parameters"][name]), name
    saved = tmp_path / "ddp" / "panoptic-lifting-lite" / "resumed" / "nerfstudio_models"
    assert [p.name for p in saved.iterdir()] == [f"step-{STEPS + more - 1:09d}.ckpt"]  # continued from step 40
