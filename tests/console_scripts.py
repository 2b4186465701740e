"""Running the venv's console scripts (ns-train, ns-render, ns-panoptic...) from tests."""

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run_tool(args, timeout=600) -> subprocess.CompletedProcess:
    """Run a console script of this venv; a non-zero exit fails the test and shows the script's output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


EARLY_LOSSES = (
    "--pipeline.model.instance-loss-start-step", "200", "--pipeline.model.consistency-loss-start-step", "400",
)  # fmt: skip
"""Instance loss from step 200 and consistency loss from 400, for 1500-step runs (the preset's 500 / 1000 are for
4000 steps)."""


def train_lite(scene, out: Path, name: str, steps: int, *extra, timeout=600) -> Path:
    """``ns-train panoptic-lifting-lite`` on ``scene`` for ``steps`` steps, one checkpoint at the end, plus ``extra``
    arguments; returns the run's config.yml (under ``out/name/panoptic-lifting-lite/t``)."""
    run_tool(
        [
            "ns-train", "panoptic-lifting-lite", "--data", scene, "--output-dir", out,
            "--experiment-name", name, "--timestamp", "t", "--max-num-iterations", str(steps),
            "--steps-per-save", str(steps), "--viewer.quit-on-train-completion", "True", *extra,
        ],
        timeout=timeout,
    )  # fmt: skip
    config = out / name / "panoptic-lifting-lite" / "t" / "config.yml"
    assert config.exists()
    return config


ROOM_TIMEOUT = 2400
"""Seconds for a test that may be the first to need the trained room (``tests/conftest.py::room_trained_config``: its
setup trains it, 4-5 minutes on 2 idle cores, more than the suite's 900-second limit when the machine is busy)."""
