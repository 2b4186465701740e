"""Re-make trained runs' instance tables (and contrastive clusters) with the current code, in their checkpoints.

The instance table is made after training, from renders of the training views, whenever a checkpoint is saved; it
never feeds back into training. A change to inference (how views are rendered, how slots are split, how embeddings
are clustered) therefore needs no new training to be measured: recalibrate the existing runs, then evaluate them
again (``python benchmarks/quality.py --recalibrate`` does both for its runs). The network weights are left as
they are; the table's buffers, and the contrastive head's cluster centres, of the latest checkpoint are replaced.

    python benchmarks/recalibrate.py benchmarks/quality-runs/runs/*/scene/*/run/config.yml
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.inference.instance_table import calibrate_from_dataset

CALIBRATED = ("instance_", "heads.centre")
"""State entries calibration writes: the instance table's buffers and the contrastive head's centres and their
classes (``heads.centres``, ``heads.centre_classes``)."""


def recalibrate(config: Path) -> str:
    """Recalibrate one run in its latest checkpoint; returns a line saying what it now holds."""
    _, pipeline, model, checkpoint = load_panoptic_run(config, test_mode="test")
    dataset = pipeline.datamanager.train_dataset
    calibrate_from_dataset(model, dataset)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    for key, value in model.state_dict().items():
        if key.startswith(CALIBRATED):
            state["pipeline"]["_model." + key] = value.cpu()
    torch.save(state, checkpoint)
    return f"{checkpoint}: {len(model.instance_classes) - 1} 3D instances, {model.dropped_instances} dropped"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", type=Path, nargs="+", help="config.yml of trained panoptic-lifting runs")
    args = parser.parse_args()
    console = Console(width=160)
    for config in args.configs:
        console.print(recalibrate(config))


if __name__ == "__main__":
    main()
