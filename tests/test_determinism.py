"""Reproducibility on CPU: the same seed gives the same demo scene files and the same trained weights, bit for bit.

(``tests/test_resume.py`` checks the same through ``ns-train``: two runs log identical losses and save identical
checkpoints, and a resumed run continues the uninterrupted one.)
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene
from tests.training_steps import lite_pipeline, train_steps

CONFIG = "DemoSceneConfig(seed=5, width=40, height=30, frames=5, eval_every=4)"
"""Evaluated here (DemoSceneConfig is imported for it) and in the child process."""


def _files(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_scene_is_identical_in_another_process(tmp_path):
    """Another interpreter with another hash seed writes the very same bytes (no dict/set order, no clock)."""
    here = tmp_path / "here"
    write_demo_scene(here, eval(CONFIG))
    there = tmp_path / "there"
    code = (
        "from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene; "
        f"write_demo_scene({str(there)!r}, {CONFIG})"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = _files(here), _files(there)
    assert len(first) > 5 * 3 and first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def _train(scene: Path, steps: int) -> Tuple[List[Dict[str, float]], Dict[str, torch.Tensor]]:
    torch.manual_seed(3)
    pipeline = lite_pipeline(scene, rays_per_batch=256)
    history = [{key: float(value) for key, value in losses.items()} for losses in train_steps(pipeline, steps)]
    weights = {key: value.clone() for key, value in pipeline.state_dict().items() if isinstance(value, torch.Tensor)}
    return history, weights


def test_short_training_is_bit_for_bit_reproducible(tiny_scene_master):
    losses_a, weights_a = _train(tiny_scene_master, steps=4)
    losses_b, weights_b = _train(tiny_scene_master, steps=4)
    assert losses_a == losses_b  # exact float equality, every term of every step
    assert losses_a[0] != losses_a[-1]  # it did train
    assert weights_a.keys() == weights_b.keys() and len(weights_a) > 10
    assert [key for key in weights_a if not torch.equal(weights_a[key], weights_b[key])] == []
