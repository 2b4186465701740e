"""The paper-sized ``panoptic-lifting`` config trained for a few steps on CPU, as a new user would try it, and scored.

Its own code paths run: two proposal networks, the camera optimizer, the heads' full-size grid (16 levels of
2^19 entries), 4096-ray defaults overridden only in size. What a CPU needs is the README's list; mixed precision
is the one path a CPU cannot take (nerfstudio turns autocast off on CPU).
"""

import json

import pytest
import torch

from panoptic_nerfstudio.compat import allow_checkpoint_globals
from panoptic_nerfstudio.method_configs import panoptic_lifting_config
from tests.console_scripts import run_tool

pytestmark = pytest.mark.slow

CPU_OVERRIDES = [
    "--machine.device-type", "cpu",  # required: the config's default device is cuda
    "--mixed-precision", "False",  # nerfstudio disables autocast on CPU anyway; this skips its GradScaler warning
    "--pipeline.model.implementation", "torch",  # without tinycudann nerfstudio falls back to torch anyway
]  # fmt: skip


def test_paper_sized_config_trains_and_evaluates_on_cpu(tiny_scene_master, tmp_path):
    steps = 3
    run = run_tool(
        [
            "ns-train", "panoptic-lifting", "--data", tiny_scene_master, "--output-dir", tmp_path,
            "--experiment-name", "paper", "--timestamp", "t", "--max-num-iterations", steps,
            "--steps-per-save", steps, "--vis", "tensorboard", "--viewer.quit-on-train-completion", "True",
            "--pipeline.datamanager.train-num-rays-per-batch", "256", *CPU_OVERRIDES,
        ],
        timeout=900,
    )  # fmt: skip
    assert "slow implementation" not in run.stdout and "tinycudann" not in run.stdout
    run_dir = tmp_path / "paper" / "panoptic-lifting" / "t"
    allow_checkpoint_globals()
    (saved,) = (run_dir / "nerfstudio_models").glob("*.ckpt")  # once, at the last step (2)
    checkpoint = torch.load(saved, map_location="cpu")
    state = checkpoint["pipeline"]

    paper = panoptic_lifting_config().pipeline.model
    assert paper.num_proposal_iterations == 2 and len(paper.proposal_net_args_list) == 2
    for net in range(2):
        assert f"_model.proposal_networks.{net}.encoding.hash_table" in state
    assert "_model.proposal_networks.2.encoding.hash_table" not in state
    # the camera optimizer (SO3xR3) trained: its pose adjustments moved from zero
    assert paper.camera_optimizer.mode == "SO3xR3"
    assert float(state["_model.camera_optimizer.pose_adjustment"].abs().max()) > 0
    assert set(checkpoint["optimizers"]) == {"proposal_networks", "fields", "camera_opt", "panoptic_heads"}
    # the heads' grid at the paper's size
    heads = paper.heads
    assert (heads.num_levels, heads.log2_hashmap_size) == (16, 19)
    assert state["_model.heads.encoding.hash_table"].shape[0] == heads.num_levels * 2**heads.log2_hashmap_size
    floats = {k: v for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point()}
    assert not any(v.isnan().any() for v in floats.values())
    # every weight finite; the instance table's reach is +inf for instances it knows nothing of
    assert all(torch.isfinite(v).all() for k, v in floats.items() if k != "_model.instance_reach")

    config = run_dir / "config.yml"
    result = run_tool(["ns-panoptic", "eval", "--load-config", config, "--output-dir", tmp_path / "eval"])
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["frames"] > 0 and "PQ things" in result.stdout
    for key in ("lifted_pq", "lifted_miou", "psnr"):
        assert metrics[key] == metrics[key]  # a number, not NaN
    assert metrics["psnr"] > 5
