"""The run folder the benchmarks train into: one ``ns-train panoptic-lifting-lite`` run, laid out the same way by
every benchmark that trains (``quality.py``, ``slot_trading.py``), so that their runs load with one path."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional


def training_arguments(scene: Path, run_dir: Path, seed: int, steps: Optional[int] = None) -> List[str]:
    """``ns-train``'s arguments (after the command's name) for a lite run of ``scene`` into ``run_dir`` with training
    seed ``seed`` (and ``steps`` instead of the preset's, if given); flags of a variant go after them."""
    arguments = ["panoptic-lifting-lite", "--data", str(scene), "--output-dir", str(run_dir),
                 "--experiment-name", "scene", "--timestamp", "run", "--viewer.quit-on-train-completion", "True",
                 "--machine.seed", str(seed)]  # fmt: skip
    return arguments + (["--max-num-iterations", str(steps)] if steps is not None else [])


def run_config(run_dir: Path) -> Path:
    """The ``config.yml`` of a run trained with ``training_arguments``."""
    return run_dir / "scene" / "panoptic-lifting-lite" / "run" / "config.yml"
